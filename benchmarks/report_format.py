"""Formatting shared by the RESULTS.md renderers: seconds, ratios, goal flags and the report parts."""

from __future__ import annotations

from typing import Any

GiB = 2**30


def _s(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f} s"


def _x(value: float | None) -> str:
    return "–" if value is None else f"×{value:.1f}"


def _met(flag: bool | None) -> str:
    return {True: "yes", False: "**no**", None: "n/a"}[flag]


class Report:
    """Collects the summary rows, the detail sections and the missed goals while rendering."""

    def __init__(self) -> None:
        self.summary: list[str] = []
        self.sections: list[str] = []
        self.missed: list[str] = []

    def goal(
        self, figure: str, measured: str, baseline: str, ratio: str, goal: str, met: bool | None
    ) -> None:
        self.summary.append(f"| {figure} | {measured} | {baseline} | {ratio} | {goal} | {_met(met)} |")

    def miss(self, text: str) -> None:
        self.missed.append(f"- {text}")

    def failed(self, name: str, record: dict[str, Any] | None) -> bool:
        if record is None:
            self.sections.append(f"### {name}\n\nNot run in this profile (no results/{name}.json).\n")
            return True
        if record.get("status") != "ok":
            self.sections.append(f"### {name}\n\n**Failed**: `{record.get('error', '?')}`\n")
            self.miss(
                f"{name}: the benchmark failed (`{record.get('error', '?')}`), so its goals are unchecked."
            )
            return True
        return False
