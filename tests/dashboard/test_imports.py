"""`import dashboard` is light: no plotting stack until a module that needs it is imported."""

from __future__ import annotations

import subprocess
import sys


def test_importing_the_package_loads_no_plotting_library() -> None:
    heavy = "('panel', 'holoviews', 'bokeh', 'datashader')"
    code = f"import sys, dashboard; print(sorted(m for m in {heavy} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
