"""The RESULTS.md section of ``bench_aggregates``: base layers from aggregates against the points."""

from __future__ import annotations

from typing import Any

from benchmarks.report_format import GiB, Report

ZOOMS = (("1", "full range"), ("0.25", "a quarter"), ("0.03125", "a 32nd"))


def _aggregates(rep: Report, rec: dict[str, Any]) -> None:
    lines = [
        "### 3b. Base layers from multi-resolution aggregates (`dashboard/aggregates.py`)\n",
        "One serving process per row, fresh, one session: peak RSS, a box selection, and the time to "
        "draw each base layer (300 × 250 px) at the full range, zoomed to a quarter of each axis "
        "(the finest level) and to a 32nd (beyond it: the points on both paths); with the "
        "aggregates, and without (threshold raised). Sizes above 10^7 are a slim survey (the "
        "plotted columns only).\n",
        "| rows | path | peak RSS (anonymous, mapped files at the end) | box (first, warm) | "
        + " | ".join(f"base layers, {z[1]} (sum of 4)" for z in ZOOMS)
        + " |",
        "|---|---|---|---|---|---|---|",
    ]
    for e in rec["result"]["sizes"]:
        for mode in ("aggregates", "points"):
            r = e[mode]
            sums = [sum(t[z] for t in r["render_s"].values()) for z, _ in ZOOMS]
            anon, mapped = (r["smaps_bytes"][k] / GiB for k in ("anon", "file"))
            lines.append(
                f"| {e['n_rows']:,}{' (slim)' if e['slim'] else ''} | {mode} | "
                f"{r['peak_rss_bytes'] / GiB:.2f} GiB ({anon:.2f}, {mapped:.2f}) | "
                f"{r['box_first_s']:.2f} s, {r['box_selection_s']:.2f} s | "
                + " | ".join(f"{s:.2f} s" for s in sums)
                + " |"
            )
        aggr = e["disk_bytes"]["dashboard_aggregates"]
        lines.append(
            f"\n{e['n_rows']:,} rows: `prepare_catalog` (column files, aggregates) {e['prepare_s']:.0f} s; "
            f"aggregates {aggr / 2**20:.0f} MiB on disk ({aggr / e['n_rows']:.1f} bytes a star), "
            f"column files {e['disk_bytes']['dashboard_columns'] / GiB:.2f} GiB.\n"
        )
        rep.goal(
            f"server peak RSS with aggregates, {e['n_rows']:,} rows",
            f"{e['aggregates']['peak_rss_bytes'] / GiB:.2f} GiB",
            f"{e['points']['peak_rss_bytes'] / GiB:.2f} GiB (points)",
            "",
            "reported (no goal)",
            None,
        )
    rep.sections.append("\n".join(lines) + "\n")
