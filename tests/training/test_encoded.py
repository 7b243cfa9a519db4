"""The frozen encoders' outputs are computed once per run and shared by alignment and fine-tuning."""

from __future__ import annotations

import torch

from data.schema import PROPERTY_NAMES
from data.storage import SurveyStore
from desa_core.model import DesaModel
from training.config import load_config
from training.metrics import MetricLog
from training.run import train
from training.stages import StageContext, align
from training.tensors import load_survey_tensors


def test_a_run_encodes_its_stars_once_for_alignment_and_finetuning(
    synthetic_store: SurveyStore, monkeypatch
) -> None:
    calls = []
    original = align.encode_all

    def counted(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(align, "encode_all", counted)
    summary = train(load_config("tiny"), synthetic_store, progress=False)
    assert [r.name for r in summary.stages][-2:] == ["align", "finetune"]
    assert len(calls) == 1


def test_the_cache_follows_the_encoder_weights(synthetic_store: SurveyStore, tmp_path) -> None:
    model = DesaModel(load_config("tiny").model_config())
    data = load_survey_tensors(synthetic_store, PROPERTY_NAMES)
    ctx = StageContext(tmp_path, 0, MetricLog(tmp_path / "m.jsonl"), progress=False)
    first = ctx.encoded(model, data)
    assert ctx.encoded(model, data) is first  # same weights, same tensors: reused
    model.load_state_dict(model.state_dict())  # rewritten in place, the same values: still reused
    assert ctx.encoded(model, data) is first
    expected = align.encode_all(model, data, batch_size=len(data.lc), progress=False)  # one batch
    torch.testing.assert_close(first, expected, atol=1e-5, rtol=1e-5)
    with torch.no_grad():
        model.spectrum_encoder.head.bias.add_(1.0)
    second = ctx.encoded(model, data)
    assert second is not first
    torch.testing.assert_close(second[1], first[1] + 1.0, atol=1e-5, rtol=1e-5)  # the head's bias moved
    torch.testing.assert_close(second[0], first[0])
