"""Losses of paper section 3.3: WGAN-GP (eq. 5), L1 reconstruction (eq. 6), logit drift.

Eq. 7, ``L = L_rec + α L_WGAN-GP + γ E[D(I)²]``, is one expression for a two-player game; it is
split into the objective each player minimises, with the terms the other player cannot change
left out:

- D minimises ``E[D(Y)] - E[D(I)] + λ E[(‖∇D(I_u)‖₂ - 1)²] + γ E[D(I)²]``
  (:func:`discriminator_loss`);
- G minimises ``L_rec + α (-E[D(Y)])`` (:func:`generator_loss`).

The drift weight γ is taken relative to the Wasserstein term, as in ProGAN (the paper's [19],
where the term and ``1e-3`` come from); scaling D's whole objective by α, as a literal reading of
eq. 7 would, makes no difference with Adam except that the drift would weigh γ/α = 10 times the
Wasserstein term. Defaults: α = 1e-4, λ = 10, γ = 1e-3.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from .errors import ConfigError

__all__ = ["reconstruction_l1", "gradient_penalty", "discriminator_loss", "generator_loss"]


def reconstruction_l1(y: Tensor, target: Tensor) -> Tensor:
    """Eq. 6: mean absolute error over all pixels and channels (and the batch).

    Parameters
    ----------
    y, target : Tensor
        Same shape, e.g. ``[B, 3, H, W]``: the copy-paste result ``Y`` and the genuine image ``I``.

    Returns
    -------
    Tensor
        Scalar.
    """
    if y.shape != target.shape:
        raise ConfigError(f"reconstruction loss of shapes {tuple(y.shape)} and {tuple(target.shape)}")
    return (y - target).abs().mean()


def gradient_penalty(critic: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor, epsilon: Tensor) -> Tensor:
    """WGAN-GP penalty ``E[(‖∇ critic(x̂)‖₂ - 1)²]`` at ``x̂ = ε real + (1 - ε) fake`` (eq. 5).

    The norm is per sample over all of C, H, W. ``fake`` is detached (the penalty trains the
    critic only). The gradient is taken with ``create_graph=True`` so the penalty can be
    back-propagated into the critic's parameters.

    The critic runs with autocast disabled on float32 inputs, so the penalty's gradient is
    computed in float32 even when this is called inside an autocast region (a half-precision
    input gradient overflows or underflows easily, and the penalty is sensitive to it).

    Parameters
    ----------
    critic : callable
        ``image [B, C, H, W] -> scores [B]``; e.g. ``lambda x: D(x, composite, mask, origin)``.
    real, fake : Tensor
        ``[B, C, H, W]``.
    epsilon : Tensor
        ``[B]`` uniform in [0, 1], drawn by the caller (from a seeded ``torch.Generator``).

    Returns
    -------
    Tensor
        Scalar float32 penalty.
    """
    if real.shape != fake.shape or real.ndim < 2:
        raise ConfigError(f"gradient penalty of shapes {tuple(real.shape)} and {tuple(fake.shape)}")
    if tuple(epsilon.shape) != (real.shape[0],):
        raise ConfigError(f"epsilon must have shape [{real.shape[0]}], got {tuple(epsilon.shape)}")
    eps = epsilon.float().reshape(-1, *([1] * (real.ndim - 1)))
    mixed = (eps * real.detach().float() + (1 - eps) * fake.detach().float()).requires_grad_(True)
    with torch.autocast(device_type=mixed.device.type, enabled=False):
        scores = critic(mixed).float()
        (grad,) = torch.autograd.grad(scores.sum(), mixed, create_graph=True)
        norm = torch.linalg.vector_norm(grad.flatten(1), dim=1)
        return (norm - 1).square().mean()


def discriminator_loss(
    d_real: Tensor,
    d_fake: Tensor,
    penalty: Tensor,
    *,
    gp_lambda: float = 10.0,
    drift_gamma: float = 1e-3,
) -> tuple[Tensor, dict[str, float]]:
    """D's objective ``E[D(Y)] - E[D(I)] + λ GP + γ E[D(I)²]``.

    Parameters
    ----------
    d_real, d_fake : Tensor
        ``[B]`` scores of the genuine images ``I`` and the results ``Y`` (detached from G).
    penalty : Tensor
        Scalar from :func:`gradient_penalty`.
    gp_lambda : float
        λ.
    drift_gamma : float
        γ.

    Returns
    -------
    total : Tensor
        Scalar to back-propagate.
    terms : dict of str to Tensor
        ``d_real``, ``d_fake`` (mean scores), ``wasserstein`` (``E[D(I)] - E[D(Y)]``, the critic's
        estimate of the distance), ``gp``, ``drift`` (``E[D(I)²]``) and ``total``.
    """
    real_mean, fake_mean = d_real.float().mean(), d_fake.float().mean()
    drift = d_real.float().square().mean()
    total = fake_mean - real_mean + gp_lambda * penalty.float() + drift_gamma * drift
    values = torch.stack([real_mean, fake_mean, penalty.float(), drift, total]).detach()
    terms = dict(zip(("d_real", "d_fake", "gp", "drift", "total"), values.unbind()))
    terms["wasserstein"] = terms["d_real"] - terms["d_fake"]
    return total, terms


def generator_loss(
    y: Tensor, target: Tensor, d_fake: Tensor, *, alpha: float = 1e-4
) -> tuple[Tensor, dict[str, float]]:
    """G's objective ``L_rec(Y) + α (-E[D(Y)])``.

    Parameters
    ----------
    y : Tensor
        ``[B, 3, H, W]`` copy-paste result ``Y``.
    target : Tensor
        ``[B, 3, H, W]`` genuine image ``I``.
    d_fake : Tensor
        ``[B]`` scores ``D(Y)`` (not detached: G is trained through them).
    alpha : float
        α.

    Returns
    -------
    total : Tensor
        Scalar to back-propagate.
    terms : dict of str to Tensor
        ``l1``, ``adversarial`` (``-E[D(Y)]``) and ``total``.
    """
    l1 = reconstruction_l1(y.float(), target.float())
    adversarial = -d_fake.float().mean()
    total = l1 + alpha * adversarial
    values = torch.stack([l1, adversarial, total]).detach()
    return total, dict(zip(("l1", "adversarial", "total"), values.unbind()))
