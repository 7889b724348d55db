"""One training step of the copy-paste GAN, shared by the loop and the speed benchmark."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..losses import discriminator_loss, generator_loss, gradient_penalty, masked_l1_boxes
from ..models import integer_stride, local_window_origin, network_size, predict, predict_in_boxes
from .distributed import World, average_gradients

__all__ = ["GanStep", "LearningRateSchedule", "step_seed", "ema_beta"]


def step_seed(seed: int, step: int, purpose: int = 0) -> int:
    """The seed of step ``step``'s noise generator: a pure function of (seed, step, purpose)."""
    state = np.random.SeedSequence(int(seed), spawn_key=(int(step), int(purpose))).generate_state(2, np.uint64)
    return int(state[0] & np.uint64(0x7FFF_FFFF_FFFF_FFFF))


def ema_beta(ema_kimg: float, samples_per_step: int) -> float | None:
    """The moving average's weight per step: ``0.5 ** (samples per step / (ema_kimg · 1000))``.

    Parameters
    ----------
    ema_kimg : float
        Half-life of the average in thousands of samples; 0: no average.
    samples_per_step : int
        Samples of one step over all processes (batch × processes).

    Returns
    -------
    float or None
        ``β`` of ``G_ema ← β·G_ema + (1 − β)·G``; None when ``ema_kimg`` is 0.
    """
    if not float(ema_kimg) > 0:
        return None
    return 0.5 ** (samples_per_step / (float(ema_kimg) * 1000.0))


@dataclass(frozen=True)
class LearningRateSchedule:
    """The learning rates' factor at each step: constant, then a half-cosine ramp down to 0.

    Beyond the paper (whose rates are constant): the last ``round(rampdown · steps)`` steps of a
    run of ``steps`` scale both rates by ``(1 + cos(π·t)) / 2``, ``t`` going from 0 at the ramp's
    first step to 1 at ``steps``. A pure function of the step, so a resume needs no saved state,
    and a resume that lengthens a run before its ramp has begun equals a fresh run of the new
    length.

    Parameters
    ----------
    steps : int
        The run's length.
    rampdown : float
        Fraction of ``steps`` at the end over which the rates fall; 0: constant rates.
    """

    steps: int
    rampdown: float = 0.0

    @property
    def start(self) -> int:
        """The first step of the ramp (``steps`` when there is none)."""
        return self.steps - int(round(self.rampdown * self.steps))

    def __call__(self, step: int) -> float:
        """The factor on the learning rates for (0-based) step ``step``; 1 before the ramp."""
        start = self.start
        if step < start:
            return 1.0
        t = min(1.0, (step - start) / (self.steps - start))
        return 0.5 * (1.0 + math.cos(math.pi * t))


class GanStep:
    """The networks, their optimisers and the update rule of one step.

    Every setting is an explicit argument (StyleGAN2-ADA's ``training_loop`` style): the caller
    builds them, from :class:`~pastenet.train.options.TrainOptions` in the trainer
    (:func:`pastenet.train.networks.gan_step_kwargs`).

    Parameters
    ----------
    G, D : nn.Module
        Generator and discriminator (already on ``device``).
    config : ModelConfig
    device : torch.device
    world : World
    lr_g, lr_d : float
        Adam learning rates of G and D.
    lr_schedule : callable, optional
        ``lr_schedule(step)``: the factor on both rates at step ``step``
        (:class:`LearningRateSchedule`); None: constant rates.
    betas : tuple of float
        Adam's (β1, β2), for both.
    alpha : float
        Weight of the adversarial term in G's objective (eq. 7); 0: a pure reconstruction model,
        D is neither run nor updated.
    gp_lambda : float
        Gradient penalty weight λ (eq. 5).
    drift_gamma : float
        Weight γ of ``E[D(I)²]`` (eq. 7).
    recon : {"image", "mask"}
        Reconstruction loss (:func:`pastenet.losses.generator_loss`).
    border_weight : float
        Extra L1 weight within ``border_px`` inside the mask's border (``recon="mask"``).
    border_px : int
    seed : int
        Seed of the GAN's noise: step ``s`` draws from :func:`step_seed` ``(seed, s)``.
    amp : bool
        bf16 autocast for the networks' forward passes (CUDA).
    compiled_G : callable, optional
        ``torch.compile(G)`` to run instead of ``G`` (D stays eager: the gradient penalty needs
        double backward).
    G_ema : nn.Module, optional
        The moving average of G's weights, updated after every G step with weight ``ema_beta``.
    ema_beta : float, optional
        :func:`ema_beta`; required with ``G_ema`` (without it, unused).
    boxes : bool
        With ``alpha = 0`` and ``recon = "mask"``, compute ``Y`` and the loss only on the masks'
        bounding boxes (:func:`pastenet.models.predict_in_boxes`; the same loss and update up to
        float rounding, a faster step) whenever the input's size is an integer multiple of G's
        working size. False: always the whole image (the speed benchmark's reference).
    """

    def __init__(
        self, G, D, config, device: torch.device, world: World, *, lr_g: float, lr_d: float, betas: tuple[float, float],
        alpha: float, gp_lambda: float, drift_gamma: float, recon: str, border_weight: float, border_px: int, seed: int,
        amp: bool = False, compiled_G: Callable | None = None, G_ema: torch.nn.Module | None = None, ema_beta: float | None = None,
        lr_schedule: Callable[[int], float] | None = None, boxes: bool = True,
    ) -> None:  # fmt: skip
        if G_ema is not None and ema_beta is None:
            raise ValueError("G_ema needs ema_beta, its weight per step")
        self.G, self.D, self.config, self.G_ema, self.ema_beta = G, D, config, G_ema, ema_beta
        self.device, self.world, self.seed = device, world, int(seed)
        self.G_run = compiled_G if compiled_G is not None else G  # a compiled module has no truth value
        beta1, beta2 = betas
        self.opt_g = torch.optim.Adam(G.parameters(), lr=lr_g, betas=(beta1, beta2))
        self.opt_d = torch.optim.Adam(D.parameters(), lr=lr_d, betas=(beta1, beta2))
        self.lr_g, self.lr_d, self.lr_schedule = float(lr_g), float(lr_d), lr_schedule
        self.gp_lambda, self.drift_gamma = gp_lambda, drift_gamma
        self.alpha = alpha
        self.recon_kwargs: dict[str, Any] = {"recon": recon, "border_weight": border_weight, "border_px": border_px}  # generator_loss's settings
        #: α = 0 (beyond the paper): a pure reconstruction model; D is neither run nor updated.
        self.adversarial = float(alpha) > 0
        self.boxes = bool(boxes) and not self.adversarial and recon == "mask"
        self.autocast: Callable[[], Any] = (lambda: torch.autocast(device_type="cuda", dtype=torch.bfloat16)) if amp else nullcontext

    def __call__(self, batch: Mapping[str, torch.Tensor], step: int) -> dict[str, torch.Tensor]:
        """Update D then G on ``batch`` (this process's share of global step ``step``).

        Returns the loss terms as detached 0-d tensors (no device sync). With α = 0 only G is
        updated, on the reconstruction loss.
        """
        G, D, dev = self.G, self.D, self.device
        self._set_learning_rates(step)
        I, comp, M, X = batch["I"], batch["composite"], batch["M"], batch["X"]
        truth = batch.get("truth", I)  # the reconstruction's target (D's real images stay I)
        B, W, r = X.shape[0], self.world.size, self.world.rank
        mine = slice(r * B, (r + 1) * B)
        gen = torch.Generator(device=dev).manual_seed(step_seed(self.seed, step))
        hs, ws = network_size(self.config, X.shape[-2], X.shape[-1])
        noise = [torch.randn(shape, generator=gen, device=dev)[mine] for shape in G.noise_shapes(B * W, hs, ws)]
        eps = torch.rand(B * W, generator=gen, device=dev)[mine]

        if self.boxes and integer_stride(self.config, *X.shape[-2:]):
            # only the masks' boxes reach this loss: Y there alone (the same values; see boxes.py)
            with self.autocast():
                boxes, parts = predict_in_boxes(G, comp, M, noise=noise, run=self.G_run, prior=batch.get("prior"))
            loss = masked_l1_boxes(parts, truth, M, boxes, border_weight=self.recon_kwargs["border_weight"], border_px=self.recon_kwargs["border_px"])
            return self._reconstruction_update(loss)
        with self.autocast():
            Y = predict(G, comp, M, noise=noise, run=self.G_run, prior=batch.get("prior"))
        if not self.adversarial:
            loss, _ = generator_loss(Y, truth, None, alpha=0.0, mask=M, **self.recon_kwargs)
            return self._reconstruction_update(loss)
        origin = local_window_origin(M, self.config.window)

        # D: E[D(Y)] - E[D(I)] + λ·GP + γ·E[D(I)²]
        D.requires_grad_(True)
        self.opt_d.zero_grad(set_to_none=True)
        Y_fixed = Y.detach()
        with self.autocast():
            d_real = D(I, comp, M, origin).float()
            d_fake = D(Y_fixed, comp, M, origin).float()
        penalty = gradient_penalty(lambda img: D(img, comp, M, origin).float(), I, Y_fixed, eps)
        loss_d, terms_d = discriminator_loss(d_real, d_fake, penalty, gp_lambda=self.gp_lambda, drift_gamma=self.drift_gamma)
        loss_d.backward()
        average_gradients(D, self.world)
        self.opt_d.step()

        # G: L1(Y, I) - α·E[D(Y)], against the updated D
        D.requires_grad_(False)
        self.opt_g.zero_grad(set_to_none=True)
        with self.autocast():
            d_fake_g = D(Y, comp, M, origin).float()
        loss_g, terms_g = generator_loss(Y, truth, d_fake_g, alpha=self.alpha, mask=M, **self.recon_kwargs)
        loss_g.backward()
        average_gradients(G, self.world)
        self.opt_g.step()
        self._update_ema()
        D.requires_grad_(True)
        terms = {f"D.{k}": v for k, v in terms_d.items() if k != "total"}
        terms.update({f"G.{k}": v for k, v in terms_g.items() if k not in ("total", "l1")})
        terms["loss_d"], terms["loss_g"], terms["l1"] = terms_d["total"], terms_g["total"], terms_g["l1"]
        return terms

    def _reconstruction_update(self, loss: torch.Tensor) -> dict[str, torch.Tensor]:
        """G's update on the reconstruction loss alone (α = 0); its terms ``loss_g`` = ``l1``."""
        self.opt_g.zero_grad(set_to_none=True)
        loss.backward()
        average_gradients(self.G, self.world)
        self.opt_g.step()
        self._update_ema()
        value = loss.detach()
        return {"loss_g": value, "l1": value}

    def _set_learning_rates(self, step: int) -> None:
        """Both optimisers' rates for ``step``: the base rates times the schedule's factor."""
        if self.lr_schedule is None:
            return
        factor = float(self.lr_schedule(step))
        for opt, base in ((self.opt_g, self.lr_g), (self.opt_d, self.lr_d)):
            for group in opt.param_groups:
                group["lr"] = base * factor

    @torch.no_grad()
    def _update_ema(self) -> None:
        """``G_ema ← β·G_ema + (1 − β)·G`` with ``β = ema_beta`` (:func:`ema_beta`)."""
        if self.G_ema is None or self.ema_beta is None:
            return
        beta = self.ema_beta
        for p_ema, p in zip(self.G_ema.parameters(), self.G.parameters(), strict=True):
            p_ema.lerp_(p.detach(), 1.0 - beta)
        for b_ema, b in zip(self.G_ema.buffers(), self.G.buffers(), strict=True):
            b_ema.copy_(b)

    def state_dict(self) -> dict[str, Any]:
        """The optimisers' states (``opt_G``, ``opt_D``), for a checkpoint."""
        return {"opt_G": self.opt_g.state_dict(), "opt_D": self.opt_d.state_dict()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore the optimisers from :meth:`state_dict`'s keys."""
        self.opt_g.load_state_dict(state["opt_G"])
        self.opt_d.load_state_dict(state["opt_D"])
