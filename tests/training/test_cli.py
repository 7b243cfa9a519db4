"""The `desa` command: help for every subcommand, one-line errors, and the whole slice end to end."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from training.cli import build_parser, main, serve_command

SUBCOMMANDS = (
    "simulate",
    "ingest",
    "train",
    "embed",
    "ship-weights",
    "evaluate",
    "ablate",
    "export",
    "serve",
)


def test_every_subcommand_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    for name in SUBCOMMANDS:
        with pytest.raises(SystemExit) as exit_info:
            main([name, "--help"])
        assert exit_info.value.code == 0
        assert "usage: desa " + name in capsys.readouterr().out


def test_errors_are_one_line_and_non_zero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["train", "--survey-dir", str(tmp_path / "nowhere"), "--config", "no_such_config"])
    err = capsys.readouterr().err.strip()
    assert code == 1
    assert err.startswith("desa: error:") and "no_such_config" in err and "\n" not in err
    code = main(["embed", "--survey-dir", str(tmp_path / "nowhere"), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 1 and "model.pt" in err and "Traceback" not in err


def test_serve_refuses_public_address_without_auth() -> None:
    args = build_parser().parse_args(["serve", "--address", "0.0.0.0"])
    with pytest.raises(PermissionError, match="authentication"):
        serve_command(args)
    args = build_parser().parse_args(["serve", "--address", "0.0.0.0", "--allow-anonymous"])
    assert "0.0.0.0" in serve_command(args)


@pytest.mark.slow
def test_simulate_ingest_train_embed_evaluate_export(tmp_path: Path) -> None:
    survey = ["--survey-dir", str(tmp_path / "s"), "--quiet"]
    assert main(["simulate", "--n-stars", "80", "--seed", "3", *survey]) == 0
    assert main(["ingest", *survey]) == 0
    assert main(["train", "--config", "tiny", *survey]) == 0
    assert main(["embed", "--run", "tiny", *survey]) == 0
    assert main(["evaluate", "--run", "tiny", *survey]) == 0
    reports = sorted((tmp_path / "s" / "reports").glob("*/report.json"))
    figures = json.loads(reports[-1].read_text())
    r2 = figures["frozen"]["desa_aligned"]["few_shot_r2_cmd"]["mean"]
    assert math.isfinite(r2) and r2 <= 1.0 and "desa" not in figures["frozen"]
    out = tmp_path / "picks.xml"
    assert (
        main(
            [
                "export",
                "--query",
                "binary_prob >= 0",
                "--format",
                "votable",
                "--out",
                str(out),
                *survey,
            ]
        )
        == 0
    )
    from astropy.table import Table

    table = Table.read(out)
    assert len(table) > 0 and str(table["phot_g_mean_mag"].unit) == "mag"
    assert table["gaia_source_id"].dtype.kind == "i"
    from astropy.io.votable import parse

    infos = {info.name: info.value for info in parse(out).resources[0].infos}
    assert len(infos["checkpoint_sha256"]) == 64 and infos["selection"] == "binary_prob >= 0"


def test_export_refuses_to_overwrite_without_overwrite(
    synthetic_store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "picks.csv"
    out.write_text("my notes")
    args = ["export", "--survey-dir", str(synthetic_store.root), "--format", "csv", "--out", str(out)]
    assert main([*args, "--query", "row < 5"]) == 1
    err = capsys.readouterr().err
    assert f"{out}: exists; pass --overwrite to replace it" in err and out.read_text() == "my notes"
    assert main([*args, "--query", "row < 5", "--overwrite"]) == 0
    assert out.read_text().count("\n") > 5 and "my notes" not in out.read_text()
    fresh = tmp_path / "new.csv"
    assert main([*args[:-1], str(fresh), "--query", "row < 5"]) == 0 and fresh.is_file()
