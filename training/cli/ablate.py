"""``desa ablate``: retrain the fusion variants on a run's encoders and probe each."""

from __future__ import annotations

import argparse

from training.cli.common import add_run_arguments, checkpoint, store

NAME = "ablate"
HELP = "retrain the fusion variants on a run's encoders and probe each"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The run or checkpoint, each variant's step budgets, the variants and the seed."""
    add_run_arguments(parser)
    parser.add_argument(
        "--align-steps", type=int, default=800, help="alignment steps per variant (default 800)"
    )
    parser.add_argument(
        "--finetune-steps", type=int, default=0, help="fine-tuning steps per variant (default 0)"
    )
    parser.add_argument("--batch-size", type=int, default=0, help="batch size (default: the run's own)")
    parser.add_argument("--info-weight", type=float, default=0.5, help="InfoNCE weight of the (d) variants")
    parser.add_argument(
        "--variants",
        default=None,
        help="comma-separated subset of: paper, tokens, residual, wide, info, preserve_noinfo, preserve",
    )
    parser.add_argument(
        "--extra-fraction",
        type=float,
        action="append",
        default=[],
        help="also report R² with this fraction of training labels (repeatable), e.g. 1.0",
    )
    parser.add_argument(
        "--measured-indices",
        action="store_true",
        help="give every variant and baseline two line indices measured on each spectrum "
        "(Li 6708 EW, CCF width) as extra spectrum features",
    )
    parser.add_argument(
        "--wide", type=int, default=64, help="width of the wide / preserve variants (default 64)"
    )
    parser.add_argument("--seeds", type=int, default=5, help="probe seeds (default 5)")
    parser.add_argument("--seed", type=int, default=0, help="initialisation and batch-order seed")


def run(args: argparse.Namespace) -> None:
    """Run the ablation on one store generation; print its report and where it was written."""
    from training.ablation import AblationConfig, run_ablation

    config = AblationConfig(
        align_steps=args.align_steps,
        finetune_steps=args.finetune_steps,
        batch_size=args.batch_size,
        info_weight=args.info_weight,
        variants=tuple(v for v in (args.variants or "").split(",") if v),
        extra_fractions=tuple(args.extra_fraction),
        seeds=args.seeds,
        wide=args.wide,
        measured_indices=args.measured_indices,
    )
    survey = store(args).snapshot()  # one store generation, whatever desa ingest/embed do meanwhile
    report = run_ablation(survey, checkpoint(args), config, seed=args.seed, progress=not args.quiet)
    print(report.markdown)
    print(f"ablation written to {report.folder}")
