"""G's prediction and the masked L1 on the masks' bounding boxes (pastenet.models.boxes): the same
values and gradients as the whole-image path, and the training step that uses them."""

from __future__ import annotations

import math

import pytest
import torch

from pastenet.config import preset
from pastenet.errors import ConfigError
from pastenet.losses import masked_l1, masked_l1_boxes
from pastenet.models import Generator, integer_stride, mask_boxes, predict, predict_in_boxes

pytestmark = pytest.mark.usefixtures("torch_one_thread")


def _rotated_masks(batch: int, size: int, seed: int) -> torch.Tensor:
    """Random rotated rectangles, the last sample empty, one touching the top-left corner."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32), indexing="ij")
    masks = torch.zeros(batch, 1, size, size)
    for b in range(batch - 1):
        cy, cx, turn, r1, r2 = torch.rand(5, generator=g).tolist()
        if b == 0:
            cy, cx = 0.05, 0.02
        th = turn * math.pi
        u = (yy - cy * size) * math.cos(th) + (xx - cx * size) * math.sin(th)
        v = -(yy - cy * size) * math.sin(th) + (xx - cx * size) * math.cos(th)
        masks[b, 0] = ((u.abs() < (0.1 + r1 / 2) * size / 2) & (v.abs() < (0.1 + r2 / 2) * size / 2)).float()
    return masks


def _model(name: str, **changes) -> Generator:
    torch.manual_seed(0)
    G = Generator(preset(name, **changes))
    with torch.no_grad():
        for p in G.parameters():  # the colour map's last layer starts at zero: make every output move
            p.normal_(0.0, 0.05)
    return G


def test_mask_boxes_are_the_tight_bounding_boxes():
    m = torch.zeros(4, 1, 20, 30)
    m[0, 0, 3:7, 5:12] = 1
    m[1, 0, 0, 29] = 1  # one pixel in a corner
    m[2, 0, 19, :] = 1  # the last row
    assert mask_boxes(m) == [(3, 7, 5, 12), (0, 1, 29, 30), (19, 20, 0, 30), (0, 1, 0, 1)]
    with pytest.raises(ConfigError, match=r"\[B, 1, H, W\]"):
        mask_boxes(m[:, 0])


def test_integer_stride():
    assert integer_stride(preset("colormap"), 256, 256) == 4
    assert integer_stride(preset("colormap"), 256, 128) == 4
    assert integer_stride(preset("tiny"), 64, 96) == 1
    assert integer_stride(preset("colormap"), 100, 100) is None  # G runs at 24x24
    assert integer_stride(preset("colormap"), 256, 96) == 4  # G at 64x24
    assert integer_stride(preset("colormap"), 256, 120) is None  # G at 64x32: strides 4 and 3.75


@pytest.mark.parametrize(
    ("name", "changes", "size"),
    [("colormap", {"prior": "poisson"}, 256), ("colormap", {}, 96), ("tiny", {}, 64)],
    ids=["zoo-256-prior", "colormap-96", "residual-64"],
)
def test_boxes_hold_what_predict_computes_with_the_same_loss_and_gradients(name, changes, size):
    G = _model(name, **changes)
    g = torch.Generator().manual_seed(1)
    comp = torch.rand(5, 3, size, size, generator=g) * 2 - 1
    truth = torch.rand(5, 3, size, size, generator=g) * 2 - 1
    mask = _rotated_masks(5, size, seed=2)
    prior = comp.flip(-1) if G.config.prior == "poisson" else None

    noise_images = [torch.randn(s, generator=torch.Generator().manual_seed(3)) for s in G.noise_shapes(5, size, size)]
    G.zero_grad()
    whole = predict(G, comp, mask, prior=prior, noise=noise_images)
    loss = masked_l1(whole, truth, mask, border_weight=2.0, border_px=4)
    loss.backward()
    expected_grads = [p.grad.clone() for p in G.parameters()]

    G.zero_grad()
    boxes, parts = predict_in_boxes(G, comp, mask, prior=prior, noise=noise_images)
    assert boxes == mask_boxes(mask) and boxes[-1] == (0, 1, 0, 1) and boxes[0][0] == 0 and boxes[0][2] == 0
    for i, ((y0, y1, x0, x1), part) in enumerate(zip(boxes, parts, strict=True)):
        torch.testing.assert_close(part, whole[i : i + 1, :, y0:y1, x0:x1], rtol=0, atol=1e-6)
    loss_boxes = masked_l1_boxes(parts, truth, mask, boxes, border_weight=2.0, border_px=4)
    loss_boxes.backward()
    torch.testing.assert_close(loss_boxes, loss, rtol=1e-6, atol=0)
    for got, want in zip((p.grad for p in G.parameters()), expected_grads, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-7)


def test_bad_inputs_fail_with_config_errors():
    G = _model("colormap")
    comp, mask = torch.zeros(2, 3, 100, 100), torch.ones(2, 1, 100, 100)
    with pytest.raises(ConfigError, match="integer multiple"):
        predict_in_boxes(G, comp, mask)
    mask = torch.zeros(2, 1, 64, 64)
    mask[:, :, 8:20, 8:30] = 1
    boxes, parts = predict_in_boxes(G, torch.zeros(2, 3, 64, 64), mask)
    truth = torch.zeros(2, 3, 64, 64)
    with pytest.raises(ConfigError, match="2 parts and 1 boxes"):
        masked_l1_boxes(parts, truth, mask, boxes[:1])
    with pytest.raises(ConfigError, match="part 1 has shape"):
        masked_l1_boxes([parts[0], parts[1][..., 1:]], truth, mask, boxes)


def test_the_reconstruction_step_on_boxes_updates_g_as_the_whole_image_step(monkeypatch):
    """α = 0 with the masked L1: the step takes the boxes' path (by default), with the whole-image path's update."""
    import pastenet.train.step as step_module
    from pastenet.models import Discriminator
    from pastenet.train.distributed import World
    from pastenet.train.networks import gan_step_kwargs
    from pastenet.train.options import TrainOptions

    size = 64
    g = torch.Generator().manual_seed(4)
    I = torch.rand(3, 3, size, size, generator=g) * 2 - 1
    M = _rotated_masks(3, size, seed=5)
    comp = torch.where(M > 0, (I * 0.6 + 0.2).clamp(-1, 1), I)
    batch = {"I": I, "composite": comp, "M": M, "X": torch.cat([comp, M], 1)}
    options = TrainOptions(data="-", preset="colormap", alpha=0.0, recon="mask", border_weight=2.0, ema_kimg=1.0, batch=3)
    calls = []
    real_predict_in_boxes = step_module.predict_in_boxes
    monkeypatch.setattr(step_module, "predict_in_boxes", lambda *a, **k: calls.append(1) or real_predict_in_boxes(*a, **k))

    def run(boxes: bool):
        G = _model("colormap", resolution=size)
        config = G.config
        G_ema = _model("colormap", resolution=size)
        kwargs = gan_step_kwargs(options, World())
        step = step_module.GanStep(G, Discriminator(config), config, torch.device("cpu"), World(), G_ema=G_ema, boxes=boxes, **kwargs)
        terms = [step(batch, s) for s in range(3)]
        return terms, list(G.parameters()), list(G_ema.parameters())

    terms_b, params_b, ema_b = run(True)
    assert len(calls) == 3
    terms_w, params_w, ema_w = run(False)
    assert len(calls) == 3  # the whole-image path did not call it
    for tb, tw in zip(terms_b, terms_w, strict=True):
        assert set(tb) == set(tw) == {"loss_g", "l1"}
        torch.testing.assert_close(tb["l1"], tw["l1"], rtol=1e-5, atol=0)
        assert tb["loss_g"] is tb["l1"] or torch.equal(tb["loss_g"], tb["l1"])
    for a, b in zip(params_b + ema_b, params_w + ema_w, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
    assert not torch.equal(params_b[-1], _model("colormap", resolution=size).to_rgb.bias)  # G did move


def test_the_step_keeps_the_whole_image_where_boxes_do_not_apply():
    from pastenet.models import Discriminator
    from pastenet.train.distributed import World
    from pastenet.train.networks import gan_step_kwargs
    from pastenet.train.options import TrainOptions
    from pastenet.train.step import GanStep

    config = preset("colormap", resolution=64, local_window=32, d_channels=(8, 16, 32, 64), d_local_channels=(8, 16, 32))

    def boxes(**changes):
        options = TrainOptions(data="-", preset="colormap", **changes)
        return GanStep(Generator(config), Discriminator(config), config, torch.device("cpu"), World(), **gan_step_kwargs(options, World())).boxes

    assert boxes(alpha=0.0, recon="mask")
    assert not boxes(alpha=1e-4, recon="mask")  # D needs the whole Y
    assert not boxes(alpha=0.0, recon="image")  # eq. 6 sees every pixel
