"""report.md of ``desa evaluate``: budgets, the frozen table, the fine-tuned table, binary detection.

Reads only the figures dictionary that ``training.evaluate.evaluate_survey`` writes to report.json,
so a report can be re-rendered from its JSON. The frozen and the fine-tuned tables are separate
sections with their own protocol lines, and no method appears in the wrong one.
"""

from __future__ import annotations

from training.binary_metrics import render_binary_markdown

METHOD_LABELS = {
    "desa": "**DESA** fine-tuned (the run's model)",
    "desa_aligned": "**DESA** aligned only (no fine-tuning)",
    "lightcurve_only": "light-curve encoder only",
    "spectrum_only": "spectrum encoder only",
    "concat": "concatenated encoders",
    "clip": "CLIP-style contrastive alignment",
}
BUDGET_LABELS = {
    "pretrain_lightcurve": "pretraining: light-curve encoder",
    "pretrain_spectrum": "pretraining: spectrum encoder",
    "align": "DESA alignment",
    "finetune": "DESA fine-tuning",
    "clip": "CLIP baseline",
    "align_seeds": "DESA alignment, more training seeds",
    "clip_seeds": "CLIP baseline, more training seeds",
}
#: Nominal coverage of the heads' intervals (median ± 1 σ).
NOMINAL_COVERAGE = 0.6827


def _fmt(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.3f}"


def _pm(entry: dict | None) -> str:
    """``mean ± std`` of a probe summary, or n/a."""
    return "n/a" if entry is None else f"{entry['mean']:.3f} ± {entry['std']:.3f}"


def _label(name: str) -> str:
    return METHOD_LABELS.get(name, f"variant: {name}")


def _binary_header(labels: tuple[str, ...]) -> str:
    return "".join(f" `{n}` AUC | `{n}` AP |" for n in labels)


def _budgets(f: dict) -> list[str]:
    budgets = f.get("budgets") or {}
    if not budgets:
        return []
    lines = [
        "",
        "## Training budgets (optimiser steps)",
        "",
        "Budget: the stage config's `max_steps`, else `epochs` × batches of the training split; "
        "taken: the last step in the metrics log (early stopping may end a stage sooner).",
        "",
        "| stage | trains | batch | lr | budget (steps) | taken (steps) |",
        "|---|---|---|---|---|---|",
    ]
    for key, b in budgets.items():
        name = BUDGET_LABELS.get(key) or f"fine-tuning: {_label(key.removeprefix('finetune_'))}"
        steps = b.get("steps")  # a list for a stage trained once per training seed
        taken = ", ".join(map(str, steps)) if isinstance(steps, list) else str(steps)
        taken = "n/a" if steps is None else taken
        lines.append(
            f"| {name} | {b['trains']} | {b['batch_size']} | {b['lr']:g} | {b['budget_steps']} | {taken} |"
        )
    return lines


def _frozen(f: dict) -> list[str]:
    frozen, oracle = f.get("frozen") or {}, f.get("oracle") or {}
    if not frozen:
        return ["", "## (a) Frozen embeddings", "", "No checkpoint given: no frozen embedding to probe."]
    det = f.get("binary_label", "is_binary")
    labels = tuple(dict.fromkeys((det, "is_binary")))
    first = next(iter(frozen.values()))
    convention = first["few_shot_r2_cmd"].get("convention", "")
    pct = f"{f['fraction'] * 100:g} %"
    lines = [
        "",
        "## (a) Frozen embeddings: the same probes on the same test stars",
        "",
        f"No method here was trained on a label. Mean ± std over {f['seeds']} seeds{_train_note(f)}. "
        "R²: linear probe "
        f"fitted on {pct} of the training stars (seed: which {pct}); CMD = ((BP-RP)0, M_G,0), "
        f"{convention}; HR = (Teff, log L). Binary AUC/AP: logistic probe; age and Prot: linear "
        "probe on log10 of the label (RMSE in Gyr; median |P/P_true − 1| over periods with ≥ 2 "
        "cycles in the light curve); each fitted on a bootstrap resample of the training split "
        "(seed: which resample). Sync/young: kNN purity (k = 10) among the test stars of the two "
        "populations, in the standardised embedding (seed: a random 80 % of them) and in a UMAP of "
        "the method's embedding fitted on all test stars (seed: UMAP's random_state).",
        "",
        f"| method | dim | R² CMD | R² HR |{_binary_header(labels)} age RMSE (Gyr) | Prot rel. error "
        "| sync/young purity | sync/young purity (UMAP) |",
        "|---|---|---|---|" + "---|---|" * len(labels) + "---|---|---|---|",
    ]
    for name, m in frozen.items():
        s = m.get("sync_vs_young", {})
        binary = "".join(f" {_pm(m.get(f'{n}_auc'))} | {_pm(m.get(f'{n}_ap'))} |" for n in labels)
        lines.append(
            f"| {_label(name)} | {m['dim']} | {_pm(m['few_shot_r2_cmd'])} | {_pm(m['few_shot_r2_hr'])} |"
            f"{binary} {_pm(m.get('age_rmse_gyr'))} | {_pm(m.get('prot_median_rel_error'))} | "
            f"{_pm(s.get('knn_purity'))} | {_pm(s.get('knn_purity_umap'))} |"
        )
    if oracle:
        b = f.get("binary_detection") or {}
        binary = "".join(
            f" {_fmt(b.get(n, {}).get('oracle_auc'))} | {_fmt(b.get(n, {}).get('oracle_ap'))} |"
            for n in labels
        )
        lines.append(
            f"| **ORACLE** (see below) | – | {_pm(oracle.get('few_shot_r2_cmd'))} | "
            f"{_pm(oracle.get('few_shot_r2_hr'))} |{binary} {_pm(oracle.get('age_rmse_gyr'))} | – | "
            f"{_pm(oracle.get('sync_vs_young_knn_purity'))} | "
            f"{_pm(oracle.get('sync_vs_young_knn_purity_umap'))} |"
        )
        lines += [
            "",
            "**ORACLE** rows are ceilings, not competitors: they use the true quantities one light "
            "curve and one spectrum carry (Teff, log g, [Fe/H], Li EW, Hα, composite light, ΔRV, "
            "Prot, spot amplitude, eclipse depth, ellipsoidal amplitude), seen through their noise "
            "(`data.simulate.binarity.observable_features`). R²: gradient boosting on the same "
            f"{pct} of training stars, per seed; age: gradient boosting on log10 age over the whole "
            "training split (also the ceiling of the fine-tuned heads' age), per seed; binary: "
            "gradient boosting on the training split "
            "(one seed, as in the binary section); sync/young: the kNN purity in the standardised "
            "space of those quantities, same subsamples, and in a UMAP of them fitted on every test star "
            "(seed: UMAP's random_state). Boosting is not a linear probe and a plain "
            "distance weighs every quantity alike, so an embedding can exceed the purity ORACLE.",
        ]
    return lines + _seed_table(frozen, labels)


def _train_note(f: dict) -> str:
    seeds = f.get("train_seeds") or []
    if len(seeds) < 2:
        return ""
    return (
        f"; DESA aligned and CLIP, trained here without labels, were trained with {len(seeds)} seeds "
        f"({', '.join(map(str, seeds))}; DESA's first is the run's own `aligned.pt`, the others retrain "
        "its DualFormer + W on the same frozen encoder outputs with the run's alignment settings): their "
        "mean ± std is over every (training seed, probe seed) pair, and the table after this one gives "
        "each training seed's mean"
    )


def _seed_table(frozen: dict, labels: tuple[str, ...]) -> list[str]:
    """Per training seed, the mean over probe seeds, for every method trained with several seeds."""
    trained = {k: m for k, m in frozen.items() if "train_seed_means" in (m.get("few_shot_r2_cmd") or {})}
    if not trained:
        return []

    def means(entry: dict | None) -> list[str]:
        return [f"{v:.3f}" for v in entry["train_seed_means"]] if entry else []

    lines = [
        "",
        "Each training seed (mean over the probe seeds); the spread between these rows is what a "
        "training seed alone moves:",
        "",
        "| method | training seed | R² CMD | R² HR |"
        + "".join(f" `{n}` AUC | `{n}` AP |" for n in labels)
        + " age RMSE (Gyr) | sync/young purity | sync/young purity (UMAP) |",
        "|---|---|---|---|" + "---|---|" * len(labels) + "---|---|---|",
    ]
    for name, m in trained.items():
        s = m.get("sync_vs_young") or {}
        columns = [
            means(m["few_shot_r2_cmd"]),
            means(m["few_shot_r2_hr"]),
            *(means(m.get(f"{n}_{kind}")) for n in labels for kind in ("auc", "ap")),
            means(m.get("age_rmse_gyr")),
            means(s.get("knn_purity")),
            means(s.get("knn_purity_umap")),
        ]
        for i, seed in enumerate(m["train_seeds"]):
            cells = " | ".join(c[i] if i < len(c) else "n/a" for c in columns)
            lines.append(f"| {_label(name)} | {seed} | {cells} |")
    return lines


def _finetuned(f: dict) -> list[str]:
    rows = f.get("finetuned") or {}
    det = f.get("binary_label", "is_binary")
    labels = tuple(dict.fromkeys((det, "is_binary")))
    lines = [
        "",
        "## (b) Fine-tuned: the same heads, labels and step budget",
        "",
        "DESA: the run's fine-tuned model, scored from its head predictions in the catalogue. "
        "Baselines: DESA's `PropertyHeads` behind a trainable adapter (an MLP with about as many "
        "parameters as DESA's DualFormer + W, which DESA's fine-tuning trains), the same training "
        "labels, loss, optimiser steps, batch size, lr, early stopping and validation calibration; "
        "one run each. Every row is scored from its heads: R² of the predicted CMD and HR "
        "coordinates, AUC/AP of `binary_prob` (trained on "
        f"`{det}`), age RMSE (Gyr), median Prot error (periods with ≥ 2 cycles), and the range "
        f"over properties of the 68 % interval coverage (nominal {NOMINAL_COVERAGE:.2f}).",
        "",
        f"| method | trainable params | steps | R² CMD | R² HR |{_binary_header(labels)} age RMSE (Gyr) "
        "| Prot rel. error | 68 % coverage |",
        "|---|---|---|---|---|" + "---|---|" * len(labels) + "---|---|---|",
    ]
    for name, m in rows.items():
        cov = list((m.get("interval_coverage") or {}).values())
        coverage = f"{min(cov):.2f}–{max(cov):.2f}" if cov else "n/a"
        params = m.get("trainable_params")
        binary = "".join(f" {_fmt(m.get(f'{n}_auc'))} | {_fmt(m.get(f'{n}_ap'))} |" for n in labels)
        lines.append(
            f"| {_label(name)} | {'n/a' if params is None else f'{params:,}'} | {m.get('steps') or 'n/a'} | "
            f"{_fmt(m.get('r2_cmd'))} | {_fmt(m.get('r2_hr'))} |{binary} {_fmt(m.get('age_rmse_gyr'))} | "
            f"{_fmt(m.get('prot_median_rel_error'))} | {coverage} |"
        )
    paper = f.get("paper") or {}
    if paper:
        binary = f" {paper['binary_auc']:.2f} | {paper['binary_ap']:.2f} |" + " – | – |" * (len(labels) - 1)
        lines.append(
            f"| paper (real data; label leakage, SCIENCE.md §2) | – | – | {paper['few_shot_r2']:.2f} | "
            f"{paper['few_shot_r2']:.2f} |{binary} {paper['age_rmse_gyr']:.2f} | – | – |"
        )
    age_ceiling = (f.get("oracle") or {}).get("age_rmse_gyr")
    if age_ceiling:
        lines += [
            "",
            f"**ORACLE** age RMSE: {_pm(age_ceiling)} Gyr (gradient boosting on the true observable "
            "quantities with their noise, fitted on the whole training split): no head can be "
            "expected below it.",
        ]
    desa = rows.get("desa", {})
    if "prot_n_unmeasurable" in desa:
        lines += [
            "",
            f"{desa['prot_n_unmeasurable']} test periods longer than half the light curve are not scored.",
        ]
    coverage = {name: m.get("interval_coverage") or {} for name, m in rows.items()}
    props = list(dict.fromkeys(p for c in coverage.values() for p in c))
    if props:
        lines += [
            "",
            f"Interval coverage per property (nominal {NOMINAL_COVERAGE:.2f}):",
            "",
            "| method | " + " | ".join(props) + " |",
            "|---|" + "---|" * len(props),
        ]
        lines += [
            f"| {_label(name)} | " + " | ".join(_cov(c.get(p)) for p in props) + " |"
            for name, c in coverage.items()
        ]
    return lines


#: The (c) table's cases and the columns compared across them.
_MODALITY_CASES = {
    "both": "both modalities",
    "lightcurve_only": "light curve only (spectrum missing)",
    "spectrum_only": "spectrum only (light curve missing)",
}


def _loss(value: float | None, both: float | None) -> str:
    """A figure with its change against both modalities, e.g. ``0.712 (−0.201)``."""
    if value is None:
        return "n/a"
    if both is None:
        return f"{value:.3f}"
    return f"{value:.3f} ({value - both:+.3f})"


def _missing_modality(f: dict) -> list[str]:
    cases = f.get("missing_modality") or {}
    if not cases:
        return []
    det = f.get("binary_label", "is_binary")
    both = cases.get("both", {})
    columns = (
        ("R² CMD", "r2_cmd"),
        ("R² HR", "r2_hr"),
        (f"`{det}` AUC", f"{det}_auc"),
        ("age RMSE (Gyr)", "age_rmse_gyr"),
        ("Prot rel. error", "prot_median_rel_error"),
    )
    lines = [
        "",
        "## (c) One modality missing: what each task loses",
        "",
        "The run's fine-tuned model on the same test stars, scored from its heads as in (b), with one "
        "modality hidden exactly as ingest stores it for a star observed in the other one only "
        "(fill values under an all-False mask: the model's missing-modality path). In brackets: "
        "the change against both modalities. The model was never trained with a modality missing.",
        "",
        "| inputs | " + " | ".join(name for name, _ in columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    for case, label in _MODALITY_CASES.items():
        m = cases.get(case)
        if m is None:
            continue
        cells = [
            _fmt(m.get(key)) if case == "both" else _loss(m.get(key), both.get(key)) for _, key in columns
        ]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


def _cov(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.2f}"


def _clip(f: dict) -> list[str]:
    c = f.get("clip_training")
    if not c:
        return []
    return [
        "",
        f"CLIP baseline: {c['steps']} optimiser steps of {c['budget_steps']} (the alignment stage's), "
        f"batch {c['batch_size']}, lr {c['lr']:g}, best validation epoch kept; validation retrieval "
        f"within batches {_fmt(c['val_retrieval'])} against chance {_fmt(c['chance'])} "
        f"(DESA's aligned e_s → e_l: {_fmt(c.get('desa_aligned_val_retrieval'))}).",
    ]


def render_markdown(f: dict) -> str:
    """The report as markdown: budgets, (a) frozen, (b) fine-tuned, binary detection, figures."""
    lines = [
        f"# DESA evaluation ({f['n_test']} test stars, {f['n_train']} training stars)",
        "",
        "Simulated survey; the paper's figures are on real data with label leakage (SCIENCE.md §2) "
        "and are not directly comparable.",
    ]
    lines += _budgets(f) + _frozen(f) + _clip(f) + _finetuned(f) + _missing_modality(f)
    if f.get("binary_detection"):
        lines += render_binary_markdown(f["binary_detection"])
    if f.get("figures"):
        lines += ["", "## Figures", ""] + [f"- `{name}`" for name in f["figures"]]
    if f.get("seconds"):
        parts = ", ".join(f"{name} {s:.0f} s" for name, s in f["seconds"].items())
        lines += ["", f"Wall time of the main parts: {parts}."]
    return "\n".join(lines) + "\n"
