"""Training DESA on a survey store, embedding and evaluating it, and the ``desa`` command."""
