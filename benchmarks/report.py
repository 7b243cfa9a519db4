"""Render ``benchmarks/results/*.json`` as the markdown table ``benchmarks/RESULTS.md``.

Every figure carries its baseline and the ratio where one applies; goals are checked; missed goals
are listed with the measured figure and what limits it (from the breakdowns the benchmarks record).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from benchmarks.common import OTHER_JOBS_CORES, kept_soak_section
from benchmarks.report_aggregates import _aggregates
from benchmarks.report_format import GiB, Report, _s, _x
from benchmarks.report_umap import _umap
from data.storage import atomic_write_text

ORDER = ("selection", "browser", "memory", "aggregates", "embed", "pipeline", "ingest", "umap")


def _load(results_dir: Path, name: str) -> dict[str, Any] | None:
    path = results_dir / f"{name}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _selection(rep: Report, rec: dict[str, Any]) -> None:
    sizes = rec["result"]["sizes"]
    lines = [
        "### 1. Selection latency, server side (mask update + re-render of the 3 linked views)\n",
        "Median of the repeats (p95 in brackets); each update is checked to redraw all three views. "
        "Stock = `hv.link_selections` over the same three rasterized views and the same box/lasso.\n",
        "| rows | ours box | stock box | ratio | ours lasso | stock lasso | ratio | ours: mask alone | "
        "ours: 3 images alone | first select ours / stock (JIT) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for e in sizes:
        o, st = e["ours"], e["stock"]
        lines.append(
            f"| {e['n_rows']:,} | {_s(o['box']['median_s'])} ({_s(o['box']['p95_s'])}) | "
            f"{_s(st['box']['median_s'])} ({_s(st['box']['p95_s'])}) | {_x(e['ratio_box'])} | "
            f"{_s(o['lasso']['median_s'])} | {_s(st['lasso']['median_s'])} | {_x(e['ratio_lasso'])} | "
            f"{_s(o['box_mask_only']['median_s'], 4)} | "
            f"{_s(o.get('box_images_only', {}).get('median_s'), 4)} | {_s(o['box']['first_s'], 2)} / "
            f"{_s(st['box']['first_s'], 2)} |"
        )
    rep.sections.append("\n".join(lines) + "\n")
    for e in sizes:
        goal = e.get("goal")
        if not goal:
            continue
        o = e["ours"]["box"]["median_s"]
        text = f"≤ {goal['max_median_s']} s" + (
            f", ≥ ×{goal['min_ratio']:.0f}" if "min_ratio" in goal else ""
        )
        rep.goal(
            f"selection, box, {e['n_rows']:,} rows",
            _s(o),
            _s(e["stock"]["box"]["median_s"]),
            _x(e["ratio_box"]),
            text,
            goal["met"],
        )
        if not goal["met"]:
            rep.miss(
                f"Selection at {e['n_rows']:,} rows: ours {o:.3f} s median, {_x(e['ratio_box'])} against "
                f"stock (goal {text}). {_selection_breakdown(e)}"
            )
    if not any(e["n_rows"] == 10_000_000 for e in sizes):
        rep.goal("selection, box, 10,000,000 rows", "not run (bench-full only)", "", "", "≤ 1 s", None)


def _selection_breakdown(entry: dict[str, Any]) -> str:
    """Where our box update's time goes, from the parts the benchmark timed on their own."""
    ours = entry["ours"]
    total = ours["box"]["median_s"]
    mask = ours["box_mask_only"]["median_s"]
    images = ours.get("box_images_only", {}).get("median_s")
    if images is None:
        return f"The mask itself takes {mask * 1000:.1f} ms."
    rest = max(total - mask - images, 0.0)
    return (
        f"Of it, the mask takes {mask * 1000:.1f} ms, the three selected-layer images (copying the "
        f"selected rows, datashader aggregation, shading, spreading) {images * 1000:.1f} ms, and the "
        f"rest ({rest * 1000:.1f} ms) is the state update and the writes into the Bokeh documents; "
        "all of it runs in one thread, one view after another."
    )


def _browser(rep: Report, rec: dict[str, Any]) -> None:
    r = rec["result"]
    goals = r["goals_s"]
    card = r["star_card"]
    if "click_to_card_s" in card:
        card_text = f"{_s(card['click_to_card_s'])} ({card['via']})"
    else:
        card_text = card.get("note", "–")
    lines = [
        f"### 2. Browser side (Playwright + Chromium, {r['n_rows']:,} rows, `panel serve`)\n",
        "| figure | median | p95 | goal |",
        "|---|---|---|---|",
        f"| server start (process to first HTTP answer) | {_s(r['server_start_s'], 1)} | | |",
        f"| page ready, first session (catalogue load, JIT) | {_s(r['page_ready_first_s'], 2)} | | |",
        f"| page ready, later sessions | {_s(r['page_ready_warm']['median_s'], 2)} | "
        f"{_s(r['page_ready_warm']['p95_s'], 2)} | ≤ {goals['page_ready_warm']} s |",
        f"| drag end → count text updated | {_s(r['drag_to_count']['median_s'])} | "
        f"{_s(r['drag_to_count']['p95_s'])} | |",
        f"| drag end → all 3 views updated | {_s(r['drag_to_all_views']['median_s'])} | "
        f"{_s(r['drag_to_all_views']['p95_s'])} | ≤ {goals['drag_to_all_views']} s |",
        f"| first drag (JIT) → all views | {_s(r['drag_first']['all_views_s'])} | | |",
        f'| click → star card ("KIC <id>") | {card_text} | | ≤ {goals["click_to_star_card"]} s |',
    ]
    views = [[round(t, 2) for t in d["views_s"]] for d in r["drags"]]
    lines.append(
        f"\nPer drag, seconds from pointer-up to each view's update (UMAP, CMD, HRD): {views}; "
        f"the in-page poll that reads the canvases costs {r['drags'][0]['poll_ms_mean']:.0f} ms a frame. "
        "Stars selected per drag: "
        f"{[d['selected'] for d in r['drags']]}. The synthetic survey has no light-curve or spectrum "
        "files, so the star card shows the catalogue values with a note for the missing data: the "
        "click figure leaves out reading those files."
    )
    rep.sections.append("\n".join(lines) + "\n")
    met = r["goal_met"]
    rep.goal(
        "page ready (warm server)",
        _s(r["page_ready_warm"]["median_s"], 2),
        "",
        "",
        "≤ 5 s",
        met["page_ready_warm"],
    )
    rep.goal(
        "drag end → all views updated",
        _s(r["drag_to_all_views"]["median_s"]),
        "",
        "",
        "≤ 0.5 s",
        met["drag_to_all_views"],
    )
    rep.goal("click → star card", card_text, "", "", "≤ 0.3 s", met["click_to_star_card"])
    if met["page_ready_warm"] is False:
        rep.miss(
            f"Page ready {r['page_ready_warm']['median_s']:.1f} s (goal 5 s): every new session re-runs "
            "`app.py` and builds and renders all panels server-side (three datashaded views, the table, "
            "the star card and templates) before the document is sent."
        )
    if met["drag_to_all_views"] is False:
        rep.miss(
            f"Drag → all views {r['drag_to_all_views']['median_s']:.2f} s (goal 0.5 s): the count updates "
            f"in {r['drag_to_count']['median_s']:.2f} s, the views arrive one after another {views[0]} "
            "as the server writes each view's selected image in turn (section 1), then the images "
            "travel and are drawn."
        )
    if met["click_to_star_card"] is False:
        rep.miss(
            f"Click → star card {card_text} (goal 0.3 s): the tap travels to the server, which finds the "
            "nearest star (pixel-cell lookup built at page load), replaces the card's texts and figure data "
            "in place (here with no light-curve or spectrum array to read) and sends them back."
        )
    elif met["click_to_star_card"] is None:
        rep.miss(f"Click → star card not measured: {card_text}.")


def _memory(rep: Report, rec: dict[str, Any], browser: dict[str, Any] | None) -> None:
    lines = [
        "### 3. Memory (server process RSS)\n",
        "| rows | catalogue table | RSS after load | after views rendered | after a selection | peak RSS |",
        "|---|---|---|---|---|---|",
    ]
    for e in rec["result"]["sizes"]:
        rss = e["rss_bytes"]
        lines.append(
            f"| {e['n_rows']:,} | {e['catalog_bytes'] / GiB:.2f} GiB | "
            f"{rss['catalog_loaded'] / GiB:.2f} GiB | "
            f"{rss['views_rendered'] / GiB:.2f} GiB | {rss['after_selection'] / GiB:.2f} GiB | "
            f"{e['peak_rss_bytes'] / GiB:.2f} GiB |"
        )
        if "goal" in e:
            peak = e["peak_rss_bytes"] / GiB
            rep.goal(
                f"server RSS, {e['n_rows']:,} rows", f"{peak:.2f} GiB", "", "", "≤ 2 GiB", e["goal"]["met"]
            )
            if not e["goal"]["met"]:
                rep.miss(
                    f"Peak RSS {peak:.2f} GiB at {e['n_rows']:,} rows (goal 2 GiB): the catalogue table "
                    f"is {e['catalog_bytes'] / GiB:.2f} GiB; the rest is the libraries and rendering."
                )
        else:
            rep.goal(
                f"server RSS, {e['n_rows']:,} rows",
                f"{e['peak_rss_bytes'] / GiB:.2f} GiB peak, {rss['after_selection'] / GiB:.2f} GiB "
                "after a selection",
                "",
                "",
                "reported (no goal)",
                None,
            )
    for e in rec["result"]["sizes"]:
        if "procs" in e:  # as `desa serve --num-procs N`: N processes on the same survey at once
            p = e["procs"]
            lines.append(
                f"\n{p['n']} processes at once, {e['n_rows']:,} rows: peak RSS "
                + ", ".join(f"{b / GiB:.2f}" for b in p["peak_rss_bytes"])
                + f" GiB; together {p['total_rss_bytes'] / GiB:.2f} GiB RSS, "
                f"{p['total_pss_bytes'] / GiB:.2f} GiB PSS (the memory-mapped columns counted once), "
                f"{p['total_anon_bytes'] / GiB:.2f} GiB anonymous."
            )
    if browser and browser.get("status") == "ok":
        b = browser["result"]
        lines.append(
            f"\n`panel serve` process in the browser run ({b['n_rows']:,} rows): idle "
            f"{b['server_rss_idle_bytes'] / GiB:.2f} GiB, after the first page "
            f"{b['server_rss_after_first_page_bytes'] / GiB:.2f} GiB, after "
            f"{1 + b['page_ready_warm']['n']} sessions and "
            f"the drags {b['server_rss_after_drags_bytes'] / GiB:.2f} GiB."
        )
    rep.sections.append("\n".join(lines) + "\n")


def _efficiency(entries: list[dict[str, Any]]) -> list[float | None]:
    """(stars/s with N workers) / (N x stars/s with 1 worker) for each entry; None without a 1."""
    one = next((m["stars_per_s"] for m in entries if m["workers"] == 1), None)
    return [m["stars_per_s"] / (m["workers"] * one) if one else None for m in entries]


def _eff(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def _scaling_goal(rep: Report, stage: str, entries: list[dict[str, Any]], n_stars: int) -> None:
    """A summary row per worker count above 1: stars/s, the 1-worker rate, speed-up and efficiency."""
    one = next((m for m in entries if m["workers"] == 1), None)
    for m, eff in zip(entries, _efficiency(entries), strict=True):
        if m["workers"] == 1 or one is None:
            continue
        rep.goal(
            f"{stage} with {m['workers']} Dask workers ({n_stars:,} stars), stars/s; efficiency {eff:.2f}",
            f"{m['stars_per_s']:.0f}",
            f"{one['stars_per_s']:.0f} (1 worker)",
            _x(m["stars_per_s"] / one["stars_per_s"]),
            "reported",
            None,
        )


def _embed_scaling(rep: Report, sc: dict[str, Any]) -> list[str]:
    """The table of ``embed_survey`` with each count of Dask workers (bench_embed.bench_scaling)."""
    entries = sc["workers"]
    lines = [
        f"\nDask engine (`data/engine.py`), `embed_survey` of {sc['n_stars']:,} synthetic stars in "
        f"{sc['tasks']} tasks of {sc['task_rows']:,} (`{sc['preset']}`, {sc['fusion']} fusion, "
        "random-init weights); stars/s over the engine's map of the tasks (`EmbedSummary.model_seconds`: "
        "inference and, with N > 1, each worker's import of torch and load of the model; without "
        f"the cluster's start-up), wall time of the whole call (with the UMAP layout of ≤ {sc['max_fit']:,} "
        "fitted stars and the writes); efficiency = stars/s with N / (N × stars/s with 1)"
        f"{'; on a GPU embed_survey runs one worker' if sc.get('cuda') else ''}:\n",
        "| workers | stars/s | model s | wall s | efficiency | vectors as with the first |",
        "|---|---|---|---|---|---|",
    ]
    for m, eff in zip(entries, _efficiency(entries), strict=True):
        lines.append(
            f"| {m['workers']} | {m['stars_per_s']:.0f} | {m['model_s']:.1f} | {m['wall_s']:.1f} | "
            f"{_eff(eff)} | {'same' if m['same_vectors_as_first'] else '**differ**'} |"
        )
    _scaling_goal(rep, "embed", entries, sc["n_stars"])
    if not all(m["same_vectors_as_first"] for m in entries):
        rep.miss("embed_survey wrote different vectors with different Dask worker counts.")
    return lines


def _embed(rep: Report, rec: dict[str, Any]) -> None:
    r = rec["result"]
    lines = [
        "### 4a. Embedding throughput (`benchmarks/bench_embed.py`, CPU, random-init weights)\n",
        "| preset | stars/s | batch | stars | light-curve enc. (paper) | spectrum enc. (paper) | "
        "DualFormer (paper) | heads | total |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name in ("tiny", "demo", "paper"):
        if name not in r:
            lines.append(f"| {name} | not run | | | | | | | |")
            continue
        p = r[name]
        par, paper = p["parameters"], p["paper_parameters"]
        label = f"{name} (`{p['preset']}`, {p.get('fusion', 'paper')} fusion)" if name == "demo" else name
        lines.append(
            f"| {label} | {p['stars_per_s']:.1f} | {p['batch_size']} | {p['n_stars']} | "
            f"{par['lightcurve_encoder'] / 1e6:.2f} M ({paper['lightcurve_encoder'] / 1e6:.1f} M) | "
            f"{par['spectrum_encoder'] / 1e6:.1f} M ({paper['spectrum_encoder'] / 1e6:.0f} M) | "
            f"{par['dualformer'] / 1e6:.2f} M ({paper['dualformer'] / 1e6:.1f} M) | "
            f"{par['heads'] / 1e6:.2f} M | {par['total'] / 1e6:.2f} M |"
        )
    if r.get("scaling"):
        lines += _embed_scaling(rep, r["scaling"])
    key = "demo" if "demo" in r else "tiny"
    if key not in r:
        rep.sections.append("\n".join(lines) + "\n")
        return
    t = r[key]
    name = f"`{t['preset']}` ({t.get('fusion', 'paper')} fusion{', the demo model' if key == 'demo' else ''})"
    comp = t["components_s_per_batch"]
    lines.append(
        f"\n{name}, one batch of {comp['batch_size']}: light-curve encoder "
        f"{comp['lightcurve_encoder']:.3f} s, "
        f"spectrum encoder {comp['spectrum_encoder']:.3f} s, DualFormer + projection + heads "
        f"{comp['dualformer_projection_heads']:.3f} s ({t['torch_threads']} torch threads)."
    )
    if "baseline" in t:
        lines.append(
            f"\n{name}, {t.get('workers', 1)} batches of {t['batch_size']} side by side, one thread each: "
            f"{t['stars_per_s']:.0f} stars/s ({t.get('stars_per_cpu_s', float('nan')):.0f} stars per "
            f"CPU-second); baseline in the same run, {t['baseline']['label']}: "
            f"{t['baseline_stars_per_s']:.0f} stars/s ({_x(t['ratio_to_baseline'])})."
        )
    rep.sections.append("\n".join(lines) + "\n")
    rate = t["stars_per_s"]
    base = (
        (f"{t['baseline_stars_per_s']:.0f} (OpenMP split)", _x(t["ratio_to_baseline"]))
        if "baseline" in t
        else ("", "")
    )
    rep.goal(f"embedding, {name}, stars/s", f"{rate:.0f}", *base, "≥ 1,000/s", r.get("goal_met"))
    if not r.get("goal_met"):
        slowest = max(("lightcurve_encoder", "spectrum_encoder", "dualformer_projection_heads"), key=comp.get)
        rep.miss(
            f"{name} embeds {rate:.0f} stars/s (goal 1,000/s on 2 cores): compute-bound in the forward "
            f"pass; the largest share per batch is `{slowest}` ({comp[slowest]:.3f} s of "
            f"{sum(comp[k] for k in comp if k != 'batch_size'):.3f} s for {comp['batch_size']} stars)."
        )


def _pipeline(rep: Report, rec: dict[str, Any]) -> None:
    r = rec["result"]
    sim, big, ing, short, demo = (
        r["simulation"],
        r["simulation_20k"],
        r["ingest"],
        r["train_short"],
        r["demo_training"],
    )
    lines = [
        "### 4b. Pipeline\n",
        "| figure | value |",
        "|---|---|",
        f"| simulation, {sim['n_stars']} stars ({sim['workers']} workers) | {sim['stars_per_s']:.1f} stars/s "
        f"({sim['seconds']:.1f} s) |",
        f"| simulation, 20,000 stars | {big['seconds'] / 60:.1f} min ({big['label']}) |",
        f"| ingest, {ing['n_stars']} stars | {ing['stars_per_s']:.1f} stars/s ({ing['seconds']:.1f} s) |",
        f"| short training run: `{short['config']}` config, {short['steps_per_stage']} steps per stage, "
        f"{short['n_stars']:,} stars, {short.get('processes', 1)} process(es) | {short['wall_s']:.1f} s |",
    ]
    for stage, s in short["stages"].items():
        lines.append(
            f"| training, {stage} | {s['steps_per_s_training']:.2f} steps/s "
            f"({s['step_s'] * 1000:.0f} ms a step; a validation pass {s['validation_s']:.2f} s; "
            f"{s['steps_per_s_with_validation']:.2f} steps/s with validation over {s['steps']} steps) |"
        )
    lines.append(f"| wall time to the demo model ({demo.get('label')}) | {demo['seconds'] / 60:.1f} min |")
    if "estimate_from_short_run" in demo:
        est = demo["estimate_from_short_run"]
        lines.append(f"| … estimated from the short run | {est['seconds'] / 60:.1f} min |")
    big = r.get("training_20k")
    if big:
        if "ingest_20k" in r:
            lines.append(f"| ingest, 20,000 stars | {r['ingest_20k']['seconds'] / 60:.1f} min (measured) |")
        lines.append(
            f"| `demo` config trained on 20,000 stars ({big['label']}) | {big['seconds'] / 60:.1f} min |"
        )
        if "estimate_from_short_run" in big:
            est = big["estimate_from_short_run"]["seconds"]
            lines.append(f"| … estimated from the short run | {est / 60:.1f} min |")
        rep.goal(
            f"`demo` training, 20,000 stars ({big['label'].split(' (')[0]})",
            f"{big['seconds'] / 60:.1f} min",
            "",
            "",
            f"≤ {r['goal_training_20k_s'] / 60:.0f} min on 2 idle cores",
            r["goal_training_20k_met"],
        )
        if not r["goal_training_20k_met"]:
            rep.miss(
                f"`demo` config on 20,000 stars: {big['seconds'] / 60:.1f} min ({big['label']}); the step "
                "times above set it (the budget is in optimiser steps, so survey size enters through "
                "validation passes and data loading only)."
            )
    rep.sections.append("\n".join(lines) + "\n")


def _ingest(rep: Report, rec: dict[str, Any]) -> None:
    r = rec["result"]
    lines = [
        "### 4c. Ingest at scale\n",
        "Streaming ingest (`data/ingest.py`): peak RSS of the ingest process and of its largest worker, "
        "stars/s over the whole call; the in-memory ingest it replaced, in the same run, at the smaller "
        "size.\n",
        "| stars | survey on disk | stars/s | peak RSS | largest worker "
        "| in-memory ingest: stars/s, peak RSS |",
        "|---|---|---|---|---|---|",
    ]
    for e in r["sizes"]:
        s, old = e["streaming"], e.get("in_memory")
        base = f"{old['stars_per_s']:.0f}, {old['peak_rss_gib']:.2f} GiB" if old else "–"
        lines.append(
            f"| {e['n_stars']:,} | {e['survey_bytes'] / 2**30:.1f} GiB | {s['stars_per_s']:.0f} | "
            f"{s['peak_rss_gib']:.2f} GiB | {s['largest_worker_peak_rss_bytes'] / 2**30:.2f} GiB | {base} |"
        )
    for e in r["sizes"]:
        if e.get("scaling"):
            lines += [
                f"\nDask engine (`data/engine.py`), {e['n_stars']:,} stars; 1 worker runs in-process, "
                "N on a local cluster whose start-up is inside the time; efficiency = stars/s with N / "
                "(N × stars/s with 1):\n",
                "| workers | stars/s | peak RSS | largest worker | efficiency |",
                "|---|---|---|---|---|",
            ]
            lines += [
                f"| {m['workers']} | {m['stars_per_s']:.0f} | {m['peak_rss_gib']:.2f} GiB "
                f"| {m['largest_worker_peak_rss_bytes'] / 2**30:.2f} GiB | {_eff(eff)} |"
                for m, eff in zip(e["scaling"], _efficiency(e["scaling"]), strict=True)
            ]
            _scaling_goal(rep, "ingest", e["scaling"], e["n_stars"])
    proj = r.get("projection_1e6")
    if proj:
        lines.append(
            f"\n10^6 stars, {proj['label']}: peak RSS {proj['peak_rss_gib']:.2f} GiB "
            f"({proj['rss_bytes_per_star']:.0f} bytes per star), {proj['hours']:.1f} h.\n"
        )
        met = proj["peak_rss_gib"] <= r["goal_gib_1e6"]
        rep.goal(
            "ingest peak RSS, 10^6 stars (projected)",
            f"{proj['peak_rss_gib']:.2f} GiB",
            "",
            "",
            f"≤ {r['goal_gib_1e6']:.0f} GiB",
            met,
        )
        if not met:
            rep.miss(f"ingest of 10^6 stars projected at {proj['peak_rss_gib']:.2f} GiB peak RSS.")
    rep.sections.append("\n".join(lines) + "\n")


def _other_jobs_line(
    run: dict[str, Any], records: dict[str, Any], cores: int, busiest: float, load_start: list[float] | None
) -> str:
    """Whether other jobs ran beside the benchmarks: measured (CPU outside the run), else from the load.

    The load average alone over-reports: the benchmarks' own servers and browsers keep it at
    several on 2 cores. Runs recorded before the measurement existed fall back to it.
    """
    measured = run.get("other_jobs")
    if measured is not None:
        busy = {
            n: r["other_jobs"]["other_cores"]
            for n, r in records.items()
            if r and r.get("other_jobs") and r["other_jobs"]["other_cores"] > OTHER_JOBS_CORES
        }
        if measured["other_cores"] <= OTHER_JOBS_CORES and not busy:
            return (
                f"No other jobs: the machine spent {measured['other_cpu_s']} CPU-s "
                f"({measured['other_cores']} cores) outside the benchmarks' own processes.\n"
            )
        during = ", ".join(f"{n} {c} cores" for n, c in busy.items()) or "spread over the run"
        return (
            f"**Other jobs were running** on this {cores}-core machine: {measured['other_cpu_s']} CPU-s "
            f"({measured['other_cores']} cores on average) outside the benchmarks' own processes "
            f"({during}): absolute times are pessimistic; the ratios compare paths measured in the "
            "same process minutes apart.\n"
        )
    if busiest > 0.5 * cores or (load_start and load_start[0] > 0.5 * cores):
        return (
            f"**Other jobs may have been running** on this {cores}-core machine (1-min load up to "
            f"{max(busiest, load_start[0] if load_start else 0):.1f}; not measured in this run): absolute "
            "times may be pessimistic; the ratios compare paths measured in the same process minutes apart.\n"
        )
    return ""


def render(results_dir: Path, names: list[str] | None = None) -> str:
    run = _load(results_dir, "run") or {}
    names = names or list(ORDER)
    records = {n: _load(results_dir, n) for n in ORDER}
    rep = Report()
    renderers = {
        "selection": _selection,
        "browser": _browser,
        "aggregates": _aggregates,
        "embed": _embed,
        "pipeline": _pipeline,
        "ingest": _ingest,
        "umap": _umap,
    }
    for name in ORDER:
        rec = records[name]
        if name not in names or rep.failed(name, rec):
            continue
        if name == "memory":
            _memory(rep, rec, records.get("browser"))
        else:
            renderers[name](rep, rec)
    hw, ver = run.get("hardware", {}), run.get("versions", {})
    loads = [run.get("hardware", {}).get("load_average_1_5_15"), run.get("load_average_end")]
    per_bench = [
        f"{n} {r['load_average_start'][0]:.1f}→{r['load_average_end'][0]:.1f}"
        for n, r in records.items()
        if r and "load_average_start" in r and "load_average_end" in r
    ]
    cores = hw.get("cores") or 1
    busiest = max(
        [r["load_average_end"][0] for r in records.values() if r and "load_average_end" in r] or [0]
    )
    header = [
        "# Benchmark results\n",
        f"Profile `{run.get('profile', '?')}` (`{run.get('command', '')}`), started "
        f"{run.get('started_utc', '?')}, "
        f"{run.get('seconds', 0) / 60:.1f} min in all. Reproduce: `make bench` (≤ 15 min on 2 cores) or "
        "`make bench-full` (largest sizes). Raw figures: `benchmarks/results/*.json` "
        "(written by the run, not committed).\n",
        f"**Hardware**: {hw.get('cpu_model', '?')}, {hw.get('cores', '?')} cores, "
        f"{hw.get('ram_gib', '?')} GiB RAM, "
        f"{hw.get('os', '?')}. **Load average** (1/5/15 min) at start {loads[0]}, at end {loads[1]}; "
        f"1-min load before→after each benchmark: {', '.join(per_bench)}.\n",
    ]
    header.append(_other_jobs_line(run, records, cores, busiest, loads[0]))
    header.append("**Versions**: " + ", ".join(f"{k} {v}" for k, v in ver.items()) + ".\n")
    summary = [
        "## Goals\n",
        "| figure | measured | baseline (same run) | ratio | goal | met |",
        "|---|---|---|---|---|---|",
        *rep.summary,
        "",
    ]
    missed = ["## Missed goals and what limits them\n", *(rep.missed or ["None."]), ""]
    return "\n".join([*header, *summary, *missed, "## Details\n", *rep.sections])


def write_report(results_dir: Path, out: Path, names: list[str] | None = None) -> Path:
    text = render(results_dir, names)
    # ``make soak``'s section is not made from these results: the rewritten file keeps it.
    soak = kept_soak_section(out.read_text(encoding="utf-8")) if out.is_file() else None
    atomic_write_text(out, text if soak is None else text.rstrip("\n") + "\n\n" + soak)
    return out
