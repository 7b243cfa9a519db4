"""Per-step metrics appended to a JSONL log in the run folder."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any


class MetricLog:
    """Append one JSON object per record; numbers are floats, NaN becomes null."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, **record: Any) -> None:
        clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()}
        clean["time"] = round(time.time(), 3)
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(clean) + "\n")
