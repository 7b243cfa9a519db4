"""Linked Panel dashboard of the DESA catalogue: ``panel serve dashboard/app.py``.

Imports nothing heavy: ``from dashboard.app import build_app`` gives the page for a notebook.
"""
