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

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from .config import PAPER_DRIFT_GAMMA, PAPER_GP_LAMBDA
from .errors import ConfigError

__all__ = ["reconstruction_l1", "masked_l1", "masked_l1_boxes", "border_band", "gradient_penalty", "discriminator_loss", "generator_loss", "RECONSTRUCTIONS"]

#: ``recon`` choices: the paper's eq. 6 over the whole image, or L1 per pixel of the mask.
RECONSTRUCTIONS = ("image", "mask")


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
    gp_lambda: float = PAPER_GP_LAMBDA,
    drift_gamma: float = PAPER_DRIFT_GAMMA,
) -> tuple[Tensor, dict[str, Tensor]]:
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
    terms = dict(zip(("d_real", "d_fake", "gp", "drift", "total"), values.unbind(), strict=True))
    terms["wasserstein"] = terms["d_real"] - terms["d_fake"]
    return total, terms


def border_band(mask: Tensor, width: int) -> Tensor:
    """``[B, 1, H, W]`` in {0, 1}: mask pixels within ``width`` px (chessboard distance) of its border.

    The mask minus its erosion by a ``(2·width + 1)``-square; pixels outside the image count as
    outside the mask.
    """
    if width < 1:
        return torch.zeros_like(mask)
    outside = F.pad(1.0 - mask, (width,) * 4, value=1.0)
    # The square's maximum as a maximum along rows then along columns (exact; ~10x faster on a
    # CPU than F.max_pool2d with a (2·width + 1)-square window, which dominated the zoo's step).
    h, w = mask.shape[-2:]
    rows = outside[..., :h, :]
    for i in range(1, 2 * width + 1):
        rows = torch.maximum(rows, outside[..., i : i + h, :])
    near_outside = rows[..., :w]
    for i in range(1, 2 * width + 1):
        near_outside = torch.maximum(near_outside, rows[..., i : i + w])
    return mask * near_outside


def masked_l1(y: Tensor, target: Tensor, mask: Tensor, *, border_weight: float = 0.0, border_px: int = 4) -> Tensor:
    """L1 per masked pixel (beyond the paper): each sample's error over its own mask area.

    ``sum(w·M·|Y − I|) / (3 · sum(w·M))`` per sample, averaged over the batch, with the weight
    ``w = 1 + border_weight`` within ``border_px`` of the mask's border (:func:`border_band`) and 1
    elsewhere. Unlike eq. 6 (a mean over the whole image, of which pixels outside the mask are
    exactly zero), small pastes weigh as much as large ones, and the seam can weigh more.
    """
    w = _loss_weights(mask, border_weight, border_px)
    err = (w * (y.float() - target.float()).abs()).sum(dim=(1, 2, 3))
    area = 3.0 * w.sum(dim=(1, 2, 3)).clamp_min(1.0)
    return (err / area).mean()


def _loss_weights(mask: Tensor, border_weight: float, border_px: int) -> Tensor:
    """``w = M + border_weight · border_band(M, border_px)``: :func:`masked_l1`'s per-pixel weights."""
    m = mask.float()
    return m + float(border_weight) * border_band(m, int(border_px)) if border_weight else m


def masked_l1_boxes(
    parts: Sequence[Tensor],
    target: Tensor,
    mask: Tensor,
    boxes: Sequence[tuple[int, int, int, int]],
    *,
    border_weight: float = 0.0,
    border_px: int = 4,
) -> Tensor:
    """:func:`masked_l1` of a result given only on each mask's bounding box.

    Every pixel of a mask lies in its box, so this is the same loss (and gradient) as
    :func:`masked_l1` of the whole result, up to the order of the sums. The weights are computed
    on the boxes too: outside a box the mask is 0, as :func:`border_band` takes pixels outside the
    image to be, so the band of a box's mask is the box's part of the whole mask's band.

    Parameters
    ----------
    parts : sequence of Tensor
        ``parts[i]``: ``[1, 3, y1 − y0, x1 − x0]``, the result on sample ``i``'s box
        (:func:`pastenet.models.boxes.predict_in_boxes`).
    target : Tensor
        ``[B, 3, H, W]``.
    mask : Tensor
        ``[B, 1, H, W]``.
    boxes : sequence of (int, int, int, int)
        ``(y0, y1, x0, x1)`` per sample, ends exclusive; each must hold its sample's mask.
    border_weight, border_px : float, int
        As for :func:`masked_l1`.

    Returns
    -------
    Tensor
        Scalar.
    """
    if len(parts) != mask.shape[0] or len(boxes) != mask.shape[0]:
        raise ConfigError(f"{len(parts)} parts and {len(boxes)} boxes for a batch of {mask.shape[0]}")
    errs, areas = [], []
    for i, (part, (y0, y1, x0, x1)) in enumerate(zip(parts, boxes, strict=True)):
        region = (slice(i, i + 1), slice(None), slice(y0, y1), slice(x0, x1))
        if tuple(part.shape[-2:]) != (y1 - y0, x1 - x0):
            raise ConfigError(f"part {i} has shape {tuple(part.shape)}, its box {(y0, y1, x0, x1)}")
        w = _loss_weights(mask[region], border_weight, border_px)
        errs.append((w * (part.float() - target[region].float()).abs()).sum())
        areas.append(w.sum())
    return (torch.stack(errs) / (3.0 * torch.stack(areas).clamp_min(1.0))).mean()


def generator_loss(
    y: Tensor,
    target: Tensor,
    d_fake: Tensor | None,
    *,
    alpha: float = 1e-4,
    mask: Tensor | None = None,
    recon: str = "image",
    border_weight: float = 0.0,
    border_px: int = 4,
) -> tuple[Tensor, dict[str, Tensor]]:
    """G's objective ``L_rec(Y) + α (-E[D(Y)])``.

    Parameters
    ----------
    y : Tensor
        ``[B, 3, H, W]`` copy-paste result ``Y``.
    target : Tensor
        ``[B, 3, H, W]`` genuine image ``I``.
    d_fake : Tensor or None
        ``[B]`` scores ``D(Y)`` (not detached: G is trained through them); ``None``: no
        adversarial term (α = 0, D not run).
    alpha : float
        α.
    mask : Tensor, optional
        ``[B, 1, H, W]``; needed by ``recon="mask"``.
    recon : {"image", "mask"}
        ``"image"``: eq. 6 (:func:`reconstruction_l1`); ``"mask"``: :func:`masked_l1`.
    border_weight, border_px : float, int
        Extra weight of the ``border_px`` band inside the mask's border (``recon="mask"``).

    Returns
    -------
    total : Tensor
        Scalar to back-propagate.
    terms : dict of str to Tensor
        ``l1``, ``adversarial`` (``-E[D(Y)]``) and ``total``.
    """
    if recon == "mask":
        if mask is None:
            raise ConfigError("recon='mask' needs the mask")
        l1 = masked_l1(y, target, mask, border_weight=border_weight, border_px=border_px)
    elif recon == "image":
        l1 = reconstruction_l1(y.float(), target.float())
    else:
        raise ConfigError(f"recon must be one of {', '.join(RECONSTRUCTIONS)}, got {recon!r}")
    adversarial = -d_fake.float().mean() if d_fake is not None else torch.zeros((), device=y.device)
    total = l1 + alpha * adversarial
    values = torch.stack([l1, adversarial, total]).detach()
    return total, dict(zip(("l1", "adversarial", "total"), values.unbind(), strict=True))
