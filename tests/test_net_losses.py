"""pastenet.losses: WGAN-GP, L1 reconstruction and drift, against hand computations."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from pastenet.config import ModelConfig  # noqa: E402
from pastenet.errors import ConfigError  # noqa: E402
from pastenet.losses import (  # noqa: E402
    discriminator_loss,
    generator_loss,
    gradient_penalty,
    reconstruction_l1,
)
from pastenet.models import Discriminator, local_window_origin  # noqa: E402


def tiny_d_config() -> ModelConfig:
    return ModelConfig(
        resolution=16,
        channels=(4, 8),
        dilations=(1,),
        d_channels=(4, 8),
        d_local_channels=(4,),
        d_features=4,
        local_window=8,
    )


def pair(shape=(3, 2, 4, 5), seed=0):
    g = torch.Generator().manual_seed(seed)
    real, fake = torch.randn(shape, generator=g), torch.randn(shape, generator=g)
    eps = torch.rand(shape[0], generator=g)
    return real, fake, eps


def test_reconstruction_l1_hand_numbers():
    y = torch.tensor([[[[1.0, -2.0], [0.5, 0.0]]]])
    t = torch.tensor([[[[0.0, 1.0], [0.5, -1.0]]]])
    assert reconstruction_l1(y, t).item() == pytest.approx((1 + 3 + 0 + 1) / 4)
    with pytest.raises(ConfigError):
        reconstruction_l1(y, t[..., :1])


def test_gradient_penalty_of_a_linear_critic():
    real, fake, eps = pair()
    w = torch.full(real.shape[1:], 3.0 / math.sqrt(real[0].numel()))  # ||w|| = 3
    critic = lambda x: (x * w).sum(dim=(1, 2, 3))  # noqa: E731
    assert gradient_penalty(critic, real, fake, eps).item() == pytest.approx((3.0 - 1.0) ** 2, rel=1e-5)


def test_gradient_penalty_of_a_quadratic_critic():
    real, fake, eps = pair()
    a = torch.tensor(0.7, requires_grad=True)
    critic = lambda x: a * x.square().sum(dim=(1, 2, 3))  # noqa: E731  gradient 2 a x
    penalty = gradient_penalty(critic, real, fake, eps)
    e = eps.reshape(-1, 1, 1, 1)
    mixed = e * real + (1 - e) * fake
    norms = mixed.flatten(1).norm(dim=1)  # ||x̂|| per sample
    expected = ((2 * 0.7 * norms - 1) ** 2).mean()
    assert penalty.item() == pytest.approx(expected.item(), rel=1e-5)
    # d/da mean (2a|x̂| - 1)^2 = mean 2 (2a|x̂| - 1) 2|x̂|: the double backward reaches the parameter.
    penalty.backward()
    assert a.grad.item() == pytest.approx((4 * (2 * 0.7 * norms - 1) * norms).mean().item(), rel=1e-5)


def test_gradient_penalty_endpoints_and_detached_fake():
    real, fake, _ = pair()
    fake.requires_grad_(True)
    critic = lambda x: 0.5 * x.square().sum(dim=(1, 2, 3))  # noqa: E731  gradient x
    at_real = gradient_penalty(critic, real, fake, torch.ones(3))
    at_fake = gradient_penalty(critic, real, fake, torch.zeros(3))
    assert at_real.item() == pytest.approx(((real.flatten(1).norm(dim=1) - 1) ** 2).mean().item(), rel=1e-5)
    assert at_fake.item() == pytest.approx(((fake.detach().flatten(1).norm(dim=1) - 1) ** 2).mean().item(), rel=1e-5)
    at_fake.backward()
    assert fake.grad is None  # the penalty trains the critic only


def test_gradient_penalty_reaches_the_discriminator_parameters():
    torch.manual_seed(0)
    config = tiny_d_config()
    d = Discriminator(config)
    real, fake = torch.rand(2, 3, 16, 16) * 2 - 1, torch.rand(2, 3, 16, 16) * 2 - 1
    composite, mask = fake.clone(), torch.zeros(2, 1, 16, 16)
    mask[:, :, 4:9, 2:7] = 1
    origin = local_window_origin(mask, config.window)
    critic = lambda x: d(x, composite, mask, origin)  # noqa: E731
    penalty = gradient_penalty(critic, real, fake, torch.tensor([0.25, 0.8]))
    assert penalty.dtype == torch.float32 and penalty.ndim == 0
    penalty.backward()
    weights = (d.global_convs[0], d.local_convs[0], d.global_dense, d.local_dense, d.head)
    for p in (m.weight for m in weights):
        assert p.grad is not None and p.grad.abs().sum() > 0


def test_gradient_penalty_is_float32_under_autocast():
    torch.manual_seed(0)
    config = tiny_d_config()
    d = Discriminator(config)
    real, fake = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16)
    mask = torch.zeros(2, 1, 16, 16)
    critic = lambda x: d(x, fake, mask)  # noqa: E731
    eps = torch.tensor([0.3, 0.6])
    plain = gradient_penalty(critic, real, fake, eps)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = gradient_penalty(critic, real.bfloat16(), fake.bfloat16(), eps)
        assert d(real, fake, mask).dtype == torch.bfloat16  # autocast is really on out here
    assert mixed.dtype == torch.float32
    expected = gradient_penalty(critic, real.bfloat16().float(), fake.bfloat16().float(), eps)
    assert torch.equal(mixed, expected)
    assert plain.item() == pytest.approx(mixed.item(), rel=0.05)


def test_gradient_penalty_rejects_bad_shapes():
    real, fake, eps = pair()
    critic = lambda x: x.sum(dim=(1, 2, 3))  # noqa: E731
    with pytest.raises(ConfigError, match="epsilon"):
        gradient_penalty(critic, real, fake, eps[:2])
    with pytest.raises(ConfigError):
        gradient_penalty(critic, real, fake[:, :1], eps)


def test_discriminator_loss_hand_numbers():
    d_real = torch.tensor([1.0, 3.0], requires_grad=True)
    d_fake = torch.tensor([0.0, -2.0], requires_grad=True)
    total, terms = discriminator_loss(d_real, d_fake, torch.tensor(0.5))
    # E[D(Y)] - E[D(I)] + 10 * 0.5 + 1e-3 * E[D(I)^2] = -1 - 2 + 5 + 1e-3 * 5
    assert total.item() == pytest.approx(2.005)
    expected = {"d_real": 2.0, "d_fake": -1.0, "wasserstein": 3.0, "gp": 0.5, "drift": 5.0, "total": 2.005}
    assert terms == pytest.approx(expected)
    assert all(isinstance(v, torch.Tensor) and v.ndim == 0 and not v.requires_grad for v in terms.values())
    total.backward()
    assert torch.allclose(d_real.grad, torch.tensor([-0.5 + 1e-3 * 1.0, -0.5 + 1e-3 * 3.0]))
    assert torch.allclose(d_fake.grad, torch.tensor([0.5, 0.5]))
    total, _ = discriminator_loss(d_real, d_fake, torch.tensor(0.5), gp_lambda=1.0, drift_gamma=0.0)
    assert total.item() == pytest.approx(-3 + 0.5)


def test_generator_loss_hand_numbers():
    y = torch.tensor([[[[1.0, 2.0]]]], requires_grad=True)
    target = torch.tensor([[[[0.0, 4.0]]]])
    d_fake = torch.tensor([2.0, 4.0], requires_grad=True)
    total, terms = generator_loss(y, target, d_fake)
    assert total.item() == pytest.approx(1.5 - 1e-4 * 3.0)
    assert terms == pytest.approx({"l1": 1.5, "adversarial": -3.0, "total": 1.5 - 3e-4})
    total.backward()
    assert torch.allclose(y.grad, torch.tensor([[[[0.5, -0.5]]]]))
    assert torch.allclose(d_fake.grad, torch.tensor([-0.5e-4, -0.5e-4]))
    total, terms = generator_loss(y, target, d_fake, alpha=1.0)
    assert terms["total"] == pytest.approx(-1.5)
