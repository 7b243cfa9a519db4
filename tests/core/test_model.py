"""Shapes on the tiny preset, attention against a hand computation, DualFormer attention maps."""

from __future__ import annotations

import math

import torch

from desa_core.config import DesaConfig
from desa_core.layers import Attention
from desa_core.model import DesaModel
from tests.core.conftest import model_inputs


def test_tiny_forward_shapes() -> None:
    torch.manual_seed(0)
    model = DesaModel(DesaConfig.tiny()).eval()
    out = model(*model_inputs(3))
    d = model.config.fused_dim
    p = len(model.config.heads.properties)
    assert out.embedding.shape == (3, d)
    assert out.p_s.shape == out.p_l.shape == (3, d)
    assert out.heads.mean.shape == out.heads.log_var.shape == (3, p)
    assert out.heads.binary_logit.shape == (3,)
    assert torch.isfinite(out.embedding).all()


def test_fully_masked_light_curve_stays_finite() -> None:
    torch.manual_seed(0)
    model = DesaModel(DesaConfig.tiny()).eval()
    lc, lc_mask, spec, spec_mask = model_inputs(3)
    lc_mask[0] = False
    assert torch.isfinite(model(lc, lc_mask, spec, spec_mask).embedding).all()


def test_attention_matches_hand_computation() -> None:
    torch.manual_seed(0)
    attn = Attention(16, 2, rotary=False).eval()
    x, ctx = torch.randn(2, 5, 16), torch.randn(2, 7, 16)
    q = attn.q(x).view(2, 5, 2, 8).transpose(1, 2)
    k, v = (t.view(2, 7, 2, 8).transpose(1, 2) for t in attn.kv(ctx).chunk(2, dim=-1))
    weights = torch.softmax(q @ k.transpose(-1, -2) / 8**0.5, dim=-1)
    expected = attn.out((weights @ v).transpose(1, 2).reshape(2, 5, 16))
    torch.testing.assert_close(attn(x, ctx), expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(attn.weights(x, ctx), weights)


def test_dualformer_returns_attention_only_when_asked() -> None:
    torch.manual_seed(0)
    model = DesaModel(DesaConfig.tiny()).eval()
    cfg = model.config
    s, l = torch.randn(2, cfg.spectrum.embed_dim), torch.randn(2, cfg.lightcurve.embed_dim)  # noqa: E741
    assert model.dualformer(s, l).attention is None
    att = model.dualformer(s, l, return_attention=True).attention
    heads = cfg.dualformer.heads
    assert att["spectrum_to_lightcurve"].shape == (
        2,
        heads,
        cfg.spectrum.embed_dim,
        cfg.lightcurve.embed_dim,
    )
    assert att["lightcurve_to_spectrum"].shape == (
        2,
        heads,
        cfg.lightcurve.embed_dim,
        cfg.spectrum.embed_dim,
    )
    torch.testing.assert_close(
        att["spectrum_to_lightcurve"].sum(-1), torch.ones(2, heads, cfg.spectrum.embed_dim)
    )


def test_config_round_trip_and_unknown_key() -> None:
    cfg = DesaConfig.paper()
    assert DesaConfig.from_dict(cfg.to_dict()) == cfg
    raw = cfg.to_dict()
    raw["spectrum"]["widht"] = 3
    try:
        DesaConfig.from_dict(raw)
    except ValueError as exc:
        assert "widht" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("unknown key accepted")


def test_calibration_gives_68_percent_intervals_for_heavy_tailed_errors() -> None:
    """±1 σ holds 68 % of fresh stars after calibration, though the errors are far from Gaussian."""
    from desa_core.config import HeadsConfig
    from desa_core.heads import HeadOutput, PropertyHeads

    heads = PropertyHeads(HeadsConfig(properties=("teff_k", "logg", "feh")), in_features=4)  # linear
    p = len(heads.properties)
    gen = torch.Generator().manual_seed(0)

    def sample(n: int) -> tuple[HeadOutput, torch.Tensor]:
        # Student's t with 2 degrees of freedom: most errors small, a few very large (binaries).
        errors = torch.randn(n, p, generator=gen) / torch.sqrt(torch.rand(n, p, generator=gen) + 1e-3)
        out = HeadOutput(torch.zeros(n, p), torch.full((n, p), 2 * math.log(0.5)), torch.zeros(n))
        return out, errors  # targets in standardised units: target_mean 0, target_std 1

    out, targets = sample(4000)
    targets[:100, 0] = float("nan")  # unlabelled validation stars are left out
    scale = heads.calibrate(out, targets)
    fresh, truth = sample(20000)
    sigma = 0.5 * scale  # the predicted sigma (0.5) times the calibration
    coverage = ((truth - fresh.mean).abs() <= sigma).float().mean(dim=0)
    assert torch.all((coverage > 0.66) & (coverage < 0.70)), coverage
