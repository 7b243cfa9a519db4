"""Small precomputed grids shipped with the simulator, and the scripts that build them."""
