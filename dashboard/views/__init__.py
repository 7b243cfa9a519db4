"""One ``pn.viewable.Viewer`` per panel; each holds the shared state and loads no data."""
