"""Every trainable parameter learns; seeded runs are bit-identical; beta-NLL keeps hard stars."""

from __future__ import annotations

import torch

from desa_core.alignment import dual_projection_loss
from desa_core.config import DesaConfig
from desa_core.losses import gaussian_nll
from desa_core.model import DesaModel
from tests.core.conftest import model_inputs as _batch


def _every_objective(model: DesaModel, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """Sum of the four stages' objectives, so one backward pass reaches every module."""
    lc, lc_mask, spec, spec_mask = batch
    b = len(lc)
    gen = torch.Generator().manual_seed(1)
    lc_terms = model.lightcurve_pretrainer(
        model.lightcurve_encoder,
        lc,
        lc_mask,
        torch.randn(b, 1),
        torch.ones(b, 1, dtype=torch.bool),
        generator=gen,
    )
    spec_terms = model.spectrum_pretrainer(
        model.spectrum_encoder,
        spec,
        spec_mask,
        torch.randn(b, 3),
        torch.ones(b, 3, dtype=torch.bool),
        generator=gen,
    )
    out = model(*batch)
    align = dual_projection_loss(out.e_s, out.e_l, model.projection)
    p = out.heads.mean.shape[1]
    heads = gaussian_nll(
        out.heads.mean, out.heads.log_var, torch.randn(b, p), torch.ones(b, p, dtype=torch.bool)
    )
    binary = out.heads.binary_logit.sigmoid().mean()
    return lc_terms["loss"] + spec_terms["loss"] + align["loss"] + heads + binary


def test_gradients_reach_every_trainable_parameter() -> None:
    torch.manual_seed(0)
    model = DesaModel(DesaConfig.tiny()).train()
    _every_objective(model, _batch()).backward()
    missing = [
        name
        for name, p in model.named_parameters()
        if p.requires_grad and (p.grad is None or not torch.isfinite(p.grad).all() or p.grad.abs().sum() == 0)
    ]
    assert missing == []


def test_seeded_models_and_outputs_are_bit_identical() -> None:
    outs = []
    for _ in range(2):
        torch.manual_seed(123)
        model = DesaModel(DesaConfig.tiny()).eval()
        with torch.no_grad():
            outs.append(model(*_batch(seed=7)))
    assert torch.equal(outs[0].embedding, outs[1].embedding)
    assert torch.equal(outs[0].heads.mean, outs[1].heads.mean)
    torch.manual_seed(124)
    other = DesaModel(DesaConfig.tiny()).eval()
    with torch.no_grad():
        assert not torch.equal(other(*_batch(seed=7)).embedding, outs[0].embedding)


def test_beta_nll_keeps_learning_a_badly_fit_star() -> None:
    # One star far off with a large predicted variance: plain NLL barely moves its mean,
    # beta-NLL moves it with a gradient that is larger by the variance to the power beta.
    target = torch.tensor([[0.0], [5.0]])
    valid = torch.ones(2, 1, dtype=torch.bool)
    log_var = torch.tensor([[0.0], [4.0]])
    grads = {}
    for beta in (0.0, 0.5):
        mean = torch.zeros(2, 1, requires_grad=True)
        gaussian_nll(mean, log_var, target, valid, beta=beta).backward()
        grads[beta] = mean.grad[1, 0].abs().item()
    assert grads[0.5] > 5 * grads[0.0]
