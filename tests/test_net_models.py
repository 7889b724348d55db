"""pastenet.models: generator, discriminator and their layers, on tiny configs (CPU, fast)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

from pastenet.config import ModelConfig, preset  # noqa: E402
from pastenet.errors import ConfigError  # noqa: E402
from pastenet.models import (  # noqa: E402
    Discriminator,
    Generator,
    NoiseAdd,
    PixelNorm,
    compose,
    local_window_origin,
)
from pastenet.models.discriminator import crop_windows  # noqa: E402
from pastenet.models.generator import receptive_radius  # noqa: E402


def small_config(**changes) -> ModelConfig:
    """Two levels, narrow: a 32 px G/D that runs in milliseconds."""
    values = dict(
        resolution=32,
        channels=(4, 8, 8),
        dilations=(1, 2),
        d_channels=(4, 8, 8),
        d_local_channels=(4, 8),
        d_features=8,
        local_window=16,
    )
    values.update(changes)
    return ModelConfig(**values)


def batch(config: ModelConfig, b: int = 2, h: int | None = None, w: int | None = None, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    h = h or config.resolution
    w = w or config.resolution
    image = torch.rand(b, 3, h, w, generator=g) * 2 - 1
    composite = image.clone()
    mask = torch.zeros(b, 1, h, w)
    mask[:, :, h // 4 : h // 2, w // 4 : w // 2 + 3] = 1
    composite = composite + mask * 0.3 * torch.randn(b, 3, 1, 1, generator=g)
    return image, composite, mask


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# ----------------------------------------------------------------------------------------- sizes


def test_paper_generator_has_25_5_million_parameters():
    with torch.device("meta"):  # built without allocating or initialising weights
        g = Generator(preset("paper-512"))
    assert n_params(g) == pytest.approx(25.5e6, rel=0.01)
    assert n_params(g) == 25_471_555


def test_preset_sizes_build_on_meta():
    for name in ("paper-512", "small-256", "tiny"):
        with torch.device("meta"):
            g, d = Generator(preset(name)), Discriminator(preset(name))
        assert n_params(g) > 0 and n_params(d) > 0


@pytest.mark.parametrize("size", [(32, 32), (24, 40), (8, 16)])
def test_generator_output_shape(size):
    config = preset("tiny", resolution=32)
    g = Generator(config)
    x = torch.randn(2, 4, *size)
    assert g(x).shape == (2, 3, *size)


def test_generator_rejects_bad_inputs():
    g = Generator(preset("tiny", resolution=32))
    with pytest.raises(ConfigError, match="4, H, W"):
        g(torch.zeros(1, 3, 32, 32))
    with pytest.raises(ConfigError, match="multiples of 8"):
        g(torch.zeros(1, 4, 32, 30))
    with pytest.raises(ConfigError, match="4, H, W"):
        g(torch.zeros(4, 32, 32))
    with pytest.raises(ConfigError, match="noise"):
        g(torch.zeros(1, 4, 32, 32), noise=[torch.zeros(1, 1, 8, 8)])


def test_compose_keeps_pixels_outside_the_mask():
    config = small_config()
    image, composite, mask = batch(config)
    g = Generator(config)
    residual = g(torch.cat([composite, mask], 1)) * 100
    y = compose(residual, composite, mask)
    outside = mask.expand_as(y) == 0
    assert torch.equal(y[outside], composite[outside])
    assert torch.equal(composite[outside], image[outside])
    inside = ~outside
    assert torch.allclose(y[inside], (composite + residual)[inside])


# ----------------------------------------------------------------------------------------- layers


def test_pixel_norm_matches_hand_formula():
    x = torch.randn(2, 5, 3, 4, dtype=torch.float64)
    y = PixelNorm(1e-8)(x)
    for b in range(2):
        for i in range(3):
            for j in range(4):
                v = x[b, :, i, j]
                expected = v / torch.sqrt((v * v).sum() / 5 + 1e-8)
                assert torch.allclose(y[b, :, i, j], expected, rtol=1e-12, atol=0)
    assert torch.allclose(y.square().mean(1), torch.ones(2, 3, 4, dtype=torch.float64))
    assert torch.equal(PixelNorm(1.0)(torch.zeros(1, 3, 2, 2)), torch.zeros(1, 3, 2, 2))


def test_pixel_norm_keeps_half_precision_finite():
    x = torch.full((1, 4, 2, 2), 1e-5, dtype=torch.float16)
    y = PixelNorm(1e-8)(x)
    assert y.dtype == torch.float16 and torch.isfinite(y).all()


def test_noise_add_broadcasts_one_image_with_per_channel_weights():
    layer = NoiseAdd(3)
    assert torch.equal(layer.weight, torch.zeros(3))
    x, noise = torch.randn(2, 3, 4, 5), torch.randn(2, 1, 4, 5)
    assert torch.equal(layer(x, noise), x)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([1.0, -2.0, 0.5]))
    expected = x + torch.tensor([1.0, -2.0, 0.5]).reshape(1, 3, 1, 1) * noise
    assert torch.allclose(layer(x, noise), expected)


def test_no_batch_or_instance_norm_anywhere():
    config = preset("tiny")
    norms = (nn.BatchNorm2d, nn.InstanceNorm2d, nn.GroupNorm, nn.LayerNorm, nn.LocalResponseNorm)
    for model in (Generator(config), Discriminator(config)):
        for module in model.modules():
            assert not isinstance(module, norms), module
            assert "Norm" not in type(module).__name__ or isinstance(module, PixelNorm)
    assert not any(isinstance(m, PixelNorm) for m in Discriminator(config).modules())


# ----------------------------------------------------------------------------------------- noise


def _nonzero_noise_weights(g: Generator) -> None:
    with torch.no_grad():
        for m in g.modules():
            if isinstance(m, NoiseAdd):
                m.weight.fill_(1.0)


def test_noise_is_a_function_of_the_torch_generator():
    config = small_config()
    g = Generator(config)
    x = torch.randn(2, 4, 32, 32)
    seeded = lambda s: torch.Generator().manual_seed(s)  # noqa: E731
    # NoiseAdd starts at zero weight: the noise has no effect yet.
    assert torch.equal(g(x, generator=seeded(1)), g(x, generator=seeded(2)))
    _nonzero_noise_weights(g)
    a, b, c = g(x, generator=seeded(1)), g(x, generator=seeded(1)), g(x, generator=seeded(2))
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)


def test_explicit_noise_equals_drawn_noise():
    config = small_config()
    g = Generator(config)
    _nonzero_noise_weights(g)
    x = torch.randn(2, 4, 32, 48)
    shapes = g.noise_shapes(2, 32, 48)
    assert shapes == [(2, 1, 16, 24), (2, 1, 32, 48)]
    assert len(shapes) == sum(isinstance(m, NoiseAdd) for m in g.modules())
    rng = torch.Generator().manual_seed(7)
    noise = [torch.randn(s, generator=rng) for s in shapes]
    assert torch.equal(g(x, noise=noise), g(x, generator=torch.Generator().manual_seed(7)))


def test_generator_without_noise_layers():
    g = Generator(small_config(noise=False))
    assert g.noise_shapes(2, 32, 32) == []
    assert not any(isinstance(m, NoiseAdd) for m in g.modules())
    x = torch.randn(1, 4, 32, 32)
    assert torch.equal(g(x), g(x, noise=[]))


# ----------------------------------------------------------------------------------------- receptive field


@pytest.mark.parametrize(
    "config",
    [
        small_config(),  # two levels
        small_config(channels=(3, 4, 4, 4), dilations=(2, 1), d_channels=(4,), d_local_channels=(4,)),  # three
    ],
    ids=["2-levels", "3-levels"],
)
def test_receptive_radius_is_exact(config):
    torch.manual_seed(0)
    g = Generator(config).double()
    r = g.receptive_radius
    assert r == receptive_radius(config)
    m = config.size_multiple
    side = (2 * r + 3 * m + m - 1) // m * m + 2 * m
    x = torch.rand(1, 4, side, side, dtype=torch.float64)
    noise = [torch.randn(s, dtype=torch.float64) for s in g.noise_shapes(1, side, side)]
    with torch.no_grad():
        base = g(x, noise=noise)
        reach = []
        c = side // 2 - side // 2 % m
        for phase in range(m):  # the field depends on the position modulo m
            x2 = x.clone()
            x2[0, :, c + phase, c + phase] += 5.0
            changed = (g(x2, noise=noise) - base).abs().amax(dim=(0, 1)) > 1e-9
            ys, xs = torch.nonzero(changed, as_tuple=True)
            reach.append(int(torch.maximum((ys - c - phase).abs(), (xs - c - phase).abs()).max()))
    assert max(reach) == r  # a pixel at distance r matters somewhere
    assert all(v <= r for v in reach)  # none farther does


def test_receptive_radius_of_presets():
    assert receptive_radius(preset("paper-512")) == 668
    assert receptive_radius(preset("small-256")) == 668
    assert receptive_radius(preset("tiny")) == 220


# ----------------------------------------------------------------------------------------- discriminator


def test_local_window_origin_hand_cases():
    def origin(mask, window=8):
        return local_window_origin(mask, window).tolist()

    m = torch.zeros(5, 1, 16, 16)
    m[0, 0, 6:10, 6:10] = 1  # centred box: window centred on it
    m[1, 0, 0, 0] = 1  # top-left corner: clamped to 0
    m[2, 0, 15, 15] = 1  # bottom-right corner: clamped to 16 - 8
    m[3, 0, 2:4, 9:14] = 1  # rows clamped, columns centred on 11.5
    assert origin(m) == [[4, 4], [0, 0], [8, 8], [0, 7], [4, 4]]  # the last one is empty: centre
    wide = torch.zeros(1, 16, 32)  # non-square and [B, H, W]
    wide[0, 2:4, 20:28] = 1
    assert origin(wide) == [[0, 20]]
    assert origin(torch.ones(1, 1, 16, 16), window=16) == [[0, 0]]
    assert local_window_origin(m, 8).dtype == torch.long
    with pytest.raises(ConfigError):
        local_window_origin(m, 17)
    with pytest.raises(ConfigError):
        local_window_origin(torch.zeros(1, 2, 16, 16), 8)


def test_crop_equals_slicing():
    x = torch.randn(3, 7, 20, 24)
    origin = torch.tensor([[0, 0], [12, 16], [5, 3]])
    crops = crop_windows(x, origin, 8)
    for b, (t, l) in enumerate(origin.tolist()):
        assert torch.equal(crops[b], x[b, :, t : t + 8, l : l + 8])
    assert torch.equal(crop_windows(x.contiguous(memory_format=torch.channels_last), origin, 8), crops)


def test_discriminator_uses_the_cropped_window():
    config = small_config()
    d = Discriminator(config)
    image, composite, mask = batch(config, b=3)
    origin = torch.tensor([[0, 0], [16, 16], [3, 9]])
    scores = d(image, composite, mask, origin)
    assert scores.shape == (3,)
    x = torch.cat([image, composite, mask], 1)
    local = torch.stack([x[b, :, t : t + 16, l : l + 16] for b, (t, l) in enumerate(origin.tolist())])
    g = d.global_dense(d.global_convs(x).flatten(1))
    loc = d.local_dense(d.local_convs(local).flatten(1))
    expected = d.head(d.act(torch.cat([g, loc], 1)))[:, 0]
    assert torch.allclose(scores, expected, atol=1e-6)
    assert torch.equal(d(image, composite, mask), d(image, composite, mask, local_window_origin(mask, 16)))


def test_discriminator_gradient_reaches_both_branches_and_the_image():
    config = small_config()
    d = Discriminator(config)
    image, composite, mask = batch(config)
    image.requires_grad_(True)
    d(image, composite, mask).sum().backward()
    for p in (d.global_convs[0].weight, d.local_convs[0].weight, d.global_dense.weight, d.local_dense.weight):
        assert p.grad is not None and p.grad.abs().sum() > 0
    assert image.grad.abs().sum() > 0


def test_discriminator_channels_last_matches():
    config = small_config()
    d = Discriminator(config)
    image, composite, mask = batch(config)
    cl = lambda t: t.contiguous(memory_format=torch.channels_last)  # noqa: E731
    expected = d(image, composite, mask)
    d_cl = d.to(memory_format=torch.channels_last)
    assert torch.allclose(d_cl(cl(image), cl(composite), cl(mask)), expected, atol=1e-5)


def test_discriminator_rejects_bad_inputs():
    config = small_config()
    d = Discriminator(config)
    image, composite, mask = batch(config)
    with pytest.raises(ConfigError, match="resolution"):
        d(image[:, :, :16, :16], composite[:, :, :16, :16], mask[:, :, :16, :16])
    with pytest.raises(ConfigError):
        d(image, composite, mask[:, :, :, :16])
    with pytest.raises(ConfigError):
        d(image, composite[:1], mask)
    with pytest.raises(ConfigError, match="origin"):
        d(image, composite, mask, torch.zeros(2, 3, dtype=torch.long))


# ----------------------------------------------------------------------------------------- learning


def test_generator_learns_with_l1():
    torch.manual_seed(0)
    config = small_config()
    g = Generator(config)
    image, composite, mask = batch(config, b=2, h=16, w=16)
    x = torch.cat([composite, mask], 1)
    noise = [torch.zeros(s) for s in g.noise_shapes(2, 16, 16)]
    opt = torch.optim.Adam(g.parameters(), lr=2e-3, betas=(0.0, 0.9))
    losses = []
    for _ in range(30):
        loss = (compose(g(x, noise=noise), composite, mask) - image).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_generator_channels_last_matches():
    config = small_config()
    g = Generator(config)
    x = torch.randn(1, 4, 16, 24)
    noise = [torch.randn(s) for s in g.noise_shapes(1, 16, 24)]
    expected = g(x, noise=noise)
    g_cl = g.to(memory_format=torch.channels_last)
    got = g_cl(x.contiguous(memory_format=torch.channels_last), noise=noise)
    assert torch.allclose(got, expected, atol=1e-5)
