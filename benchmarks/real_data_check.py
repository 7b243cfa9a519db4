"""The real-data check (``training.real_data``): real light curves, the shipped demo model, Santos Prot.

    python -m benchmarks.real_data_check --out docs/real-data

Prints the table that ``docs/real-data.md`` quotes and writes ``real_data.json``/``real_data.md``
into ``--out``. With ``star-privateer`` installed (``pip install 'desa[report]'``) it adds that
package's KEPSEISMIC series and the Santos et al. periods.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main(argv: list[str] | None = None) -> None:
    from training.real_data import render, run_check

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/real-data"))
    args = parser.parse_args(argv)
    result = run_check(args.out)
    print(render(result))
    print(json.dumps({k: v for k, v in result.items() if k != "stars"}, indent=2))


if __name__ == "__main__":
    main()
