"""The two fusions: the paper's unchanged, and ``preserve`` keeping what the encoders know.

The paper's DualFormer is pinned to numbers recorded before the ``preserve`` flags existed; the
``preserve`` fusion must tell features apart, start from a lossless linear map of the encoder
outputs, train and round-trip through a checkpoint.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from desa_core.alignment import dual_projection_loss, info_nce
from desa_core.checkpoint import load_checkpoint, save_checkpoint
from desa_core.config import DesaConfig, DualFormerConfig
from desa_core.dualformer import DualFormer
from desa_core.layers import Attention
from desa_core.model import DesaModel
from desa_core.serving import DesaService

E = 64  # the tiny encoders' embedding dimension


def _pooled(n: int, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Random stand-ins for pooled spectrum and light-curve encoder outputs, (n, E) each."""
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, E, generator=gen), torch.randn(n, E, generator=gen)


def _model(fusion: str) -> DesaModel:
    torch.manual_seed(0)
    return DesaModel(DesaConfig.tiny(fusion)).eval()


def test_paper_fusion_matches_numbers_recorded_before_the_flags() -> None:
    torch.manual_seed(0)
    fusion = DualFormer(DualFormerConfig()).eval()
    s, l = _pooled(4)  # noqa: E741
    with torch.no_grad():
        out = fusion(s, l)
    expected_s = [-0.06349532306194305, -0.5199390649795532, -1.07905912399292, -0.6311010122299194]
    expected_l = [-2.378302574157715, -0.7625637054443359, -1.014113426208496, -0.5811452269554138]
    torch.testing.assert_close(out.e_s[0, :4], torch.tensor(expected_s), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out.e_l[1, :4], torch.tensor(expected_l), atol=1e-5, rtol=1e-5)
    model = _model("paper")
    with torch.no_grad():
        fused = model.fuse(l, s)
    # Recorded on main before the fusion flags (with the LAMOST-grid spectrum encoder, whose
    # construction draws from the same seed before the DualFormer's).
    expected = [0.10699370503425598, 2.0592315196990967, 0.46707701683044434, 2.0714383125305176]
    torch.testing.assert_close(fused.embedding[0, :4], torch.tensor(expected), atol=1e-5, rtol=1e-5)
    assert fused.embedding.shape == (4, model.config.embedding_dim) == (4, 32)


def test_config_without_fusion_fields_loads_as_paper(tmp_path: Path) -> None:
    raw = DesaConfig.tiny().to_dict()
    for key in ("fusion", "feature_tokens", "attention_pool", "residual", "concat_embedding", "rotary"):
        del raw["dualformer"][key]
    old = DesaConfig.from_dict(raw)
    assert old.dualformer == DualFormerConfig() and old.dualformer.fusion == "paper"
    assert not any((old.dualformer.residual, old.dualformer.feature_tokens))
    preserve = DesaConfig.tiny("preserve")
    assert DesaConfig.from_dict(preserve.to_dict()) == preserve
    assert DualFormerConfig(fusion="preserve", residual=False).residual is False
    with pytest.raises(ValueError, match="fusion"):
        DualFormerConfig(fusion="fancy")


def _rotated(module: torch.nn.Module) -> list[bool]:
    """Whether each attention inside ``module`` rotates queries and keys by position."""
    return [m.rotary is not None for m in module.modules() if isinstance(m, Attention)]


def test_preserve_attends_without_rotary_positions_and_older_checkpoints_keep_theirs() -> None:
    tiny = DesaConfig.tiny("preserve").dualformer
    assert (tiny.depth, tiny.rotary) == (1, False), "the demo's fusion: one block, no rotation"
    assert DesaConfig.tiny().dualformer.rotary and DualFormerConfig(fusion="preserve", rotary=True).rotary
    rotated = _rotated(DualFormer(tiny, spectrum_dim=E, lightcurve_dim=E).blocks)
    assert rotated and not any(rotated)
    assert all(_rotated(DualFormer(DualFormerConfig()).blocks)), "the paper's fusion rotates"
    # A preserve checkpoint written before the field existed: two blocks, rotated.
    raw = DesaConfig.tiny("preserve").to_dict()
    raw["dualformer"]["depth"] = 2
    del raw["dualformer"]["rotary"]
    old = DesaConfig.from_dict(raw)
    assert (old.dualformer.fusion, old.dualformer.depth, old.dualformer.rotary) == ("preserve", 2, True)
    assert all(_rotated(DesaModel(old).dualformer.blocks))
    assert DesaConfig.from_dict(old.to_dict()) == old


def _permutation_sensitivity(fusion: DualFormer, s: torch.Tensor, l: torch.Tensor) -> float:  # noqa: E741
    """Change of e_s when the spectrum features are permuted, over its change for another star."""
    perm = torch.randperm(E, generator=torch.Generator().manual_seed(3))
    other = torch.roll(torch.arange(len(s)), 1)
    with torch.no_grad():
        base = fusion(s, l).e_s
        permuted, another = fusion(s[:, perm], l).e_s, fusion(s[other], l[other]).e_s
    change = lambda x: ((x - base).norm(dim=1) / base.norm(dim=1)).mean().item()  # noqa: E731
    return change(permuted) / change(another)


def test_feature_identity_makes_the_fusion_see_feature_order() -> None:
    s, l = _pooled(64)  # noqa: E741
    ratio = {}
    for name, config in {
        "paper": DualFormerConfig(),
        "feature_tokens": DualFormerConfig(feature_tokens=True, attention_pool=True),
        "preserve": DualFormerConfig(width=64, fusion="preserve"),
    }.items():
        torch.manual_seed(0)
        fusion = DualFormer(config, spectrum_dim=E, lightcurve_dim=E).eval()
        ratio[name] = _permutation_sensitivity(fusion, s, l)
    # At init the paper's fusion moves about 1 % as far for a permutation as for another star.
    assert ratio["paper"] < 0.05, ratio
    assert ratio["feature_tokens"] > 0.15, ratio  # through the attention branch alone
    assert ratio["preserve"] > 0.5, ratio  # a permuted star is as different as another star


def _linear_r2(x: torch.Tensor, y: torch.Tensor, n_fit: int) -> float:
    """Held-out R² (pooled over targets) of a least-squares linear read-out of y from x."""
    ones = torch.ones(len(x), 1, dtype=torch.float64)
    x1 = torch.cat((x.double(), ones), dim=1)
    y = y.double()
    coef = torch.linalg.lstsq(x1[:n_fit], y[:n_fit]).solution
    resid = y[n_fit:] - x1[n_fit:] @ coef
    centred = y[n_fit:] - y[n_fit:].mean(dim=0)
    return 1.0 - (resid.pow(2).sum() / centred.pow(2).sum()).item()


def test_preserve_embedding_keeps_the_encoder_outputs_at_init() -> None:
    s, l = _pooled(1200)  # noqa: E741
    target = torch.cat((s, l), dim=1)  # (N, 2E): everything the encoders know
    r2 = {}
    for fusion in ("paper", "preserve"):
        model = _model(fusion)
        with torch.no_grad():
            embedding = model.fuse(l, s).embedding
        r2[fusion] = _linear_r2(embedding, target, n_fit=900)
    assert r2["preserve"] > 0.99, r2
    assert r2["paper"] < 0.5, r2


@pytest.mark.parametrize("fusion", ["paper", "preserve"])
def test_both_fusions_train_a_few_steps(fusion: str) -> None:
    model = _model(fusion).train()
    s, l = _pooled(96)  # noqa: E741
    model.dualformer.fit_input_scaling(s, l)
    params = [*model.dualformer.parameters(), model.projection]
    before = [p.detach().clone() for p in params]
    optimiser = torch.optim.AdamW(params, lr=1e-3)
    for step in range(5):
        rows = torch.arange(step * 16, step * 16 + 32) % 96
        fused = model.dualformer(s[rows], l[rows])
        terms = dual_projection_loss(fused.e_s, fused.e_l, model.projection, info_weight=0.5)
        assert all(torch.isfinite(v) for v in terms.values()), terms
        optimiser.zero_grad()
        terms["loss"].backward()
        optimiser.step()
    changed = [not torch.equal(b, p) for b, p in zip(before, params, strict=True)]
    assert all(changed), "every fusion parameter must receive a gradient"
    out = model.eval().fuse(l, s)
    assert torch.isfinite(out.embedding).all() and torch.isfinite(out.heads.mean).all()


@pytest.mark.parametrize("fusion", ["paper", "preserve"])
def test_both_fusions_round_trip_a_checkpoint(tmp_path: Path, fusion: str) -> None:
    model = _model(fusion)
    s, l = _pooled(32)  # noqa: E741
    model.dualformer.fit_input_scaling(3 * s + 1, l - 2)  # buffers that must travel too
    path = save_checkpoint(tmp_path / f"{fusion}.pt", model)
    loaded, _ = load_checkpoint(path)
    assert loaded.config == model.config
    with torch.no_grad():
        a, b = model.fuse(l, s), loaded.fuse(l, s)
    torch.testing.assert_close(a.embedding, b.embedding)
    torch.testing.assert_close(a.heads.mean, b.heads.mean)


def test_info_nce_prefers_matching_rows() -> None:
    a, _ = _pooled(32)
    noisy = a + 0.1 * torch.randn(a.shape, generator=torch.Generator().manual_seed(2))
    shuffled = noisy[torch.randperm(32, generator=torch.Generator().manual_seed(4))]
    assert info_nce(a, noisy).item() < 0.1 < info_nce(a, shuffled).item()


@pytest.mark.parametrize(("fusion", "dim"), [("paper", 32), ("preserve", 128)])
def test_serving_embeds_with_both_fusions(tmp_path: Path, fusion: str, dim: int) -> None:
    model = _model(fusion)
    cfg = model.config
    assert cfg.embedding_dim == dim and model.heads.body[0].normalized_shape == (2 * cfg.fused_dim,)
    service = DesaService.load(save_checkpoint(tmp_path / "m.pt", model), device="cpu")
    rng = np.random.default_rng(0)
    n = 5
    lc = rng.normal(size=(n, cfg.lightcurve.channels, cfg.lightcurve.length)).astype(np.float32)
    spec = (1 + 0.1 * rng.normal(size=(n, cfg.spectrum.length))).astype(np.float32)
    masks = np.ones((n, cfg.lightcurve.length), bool), np.ones((n, cfg.spectrum.length), bool)
    vectors, table = service.embed_and_predict(lc, masks[0], spec, masks[1], progress=False)
    assert vectors.shape == (n, dim) and np.isfinite(vectors).all()
    assert table["binary_prob"].between(0, 1).all()
