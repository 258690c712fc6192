"""ViP-Mixer-specific behaviour: mixer order, each mixer mixing exactly the axes it claims, longitude
periodicity, chained passes for T_out != T_in, grids needing padding, and the CPU-sized presets."""

from __future__ import annotations

import pytest
import torch

from geostp.errors import ConfigError, ShapeError
from geostp.models import create


def model_(**overrides):
    torch.manual_seed(0)
    return create("vip_mixer", "tiny", **overrides).eval()


def latent(model, seed: int = 0) -> torch.Tensor:
    """A random latent in the blocks' token layout (B, T, h, w, C')."""
    t_in = model.config.in_shape[0]
    return torch.randn(2, t_in, 8, 10, model.config.hid_s, generator=torch.Generator().manual_seed(seed))


def changed_by_poke(mixer, z: torch.Tensor, where: tuple[int, int, int, int]) -> torch.Tensor:
    """Boolean (T, h, w, C') map of the outputs of sample 0 that move when z[0, where] is changed."""
    poked = z.clone()
    poked[(0, *where)] += 1.0
    with torch.no_grad():
        diff = (mixer(poked, torch.nn.Identity()) - mixer(z, torch.nn.Identity()))[0]
    return diff.abs() > 1e-7


@pytest.fixture
def block():
    torch.manual_seed(0)
    b = create("vip_mixer", "tiny", layer_scale=1.0).blocks[0].eval()  # big γ: effects far above float noise
    return b


def test_block_runs_space_channel_then_space_time_then_time_channel(block):
    order = []
    for name in ("sc", "st", "tc"):
        getattr(block, name).register_forward_pre_hook(lambda m, a, name=name: order.append(name))
    block(latent(model_()))
    assert order == ["sc", "st", "tc"]


def test_space_channel_mixer_stays_within_the_frame(block):
    z = latent(model_())
    hit = changed_by_poke(block.sc, z, (1, 4, 5, 3))  # frame 1, row 4, col 5, channel 3
    assert hit[1].any() and not hit[0].any() and not hit[2].any(), "SC must not mix time"
    assert hit[1].sum(dim=(0, 1)).bool().all(), "SC mixes channels"
    assert hit[1, :, :, 0].sum() > 1, "SC mixes space"


def test_space_time_mixer_stays_within_the_channel(block):
    z = latent(model_())
    hit = changed_by_poke(block.st, z, (1, 4, 5, 3))
    assert hit[..., 3].any() and not hit[..., :3].any() and not hit[..., 4:].any(), "ST must not mix channels"
    assert hit[0, ..., 3].any() and hit[2, ..., 3].any(), "ST mixes time (3x3x3 twice: frames t-2..t+2)"
    assert hit[1, ..., 3].sum() > 1, "ST mixes space"


def test_time_channel_mixer_stays_at_the_location_and_is_shared_across_locations(block):
    z = latent(model_())
    hit = changed_by_poke(block.tc, z, (1, 4, 5, 3))
    assert hit[:, 4, 5].all(), "TC mixes every time step and channel of the location"
    hit[:, 4, 5] = False
    assert not hit.any(), "TC must not mix locations"
    perm = torch.randperm(8 * 10, generator=torch.Generator().manual_seed(1))
    flat = z.reshape(2, 3, 80, -1)
    with torch.no_grad():
        out = block.tc(z, torch.nn.Identity()).reshape(2, 3, 80, -1)
        out_perm = block.tc(flat[:, :, perm].reshape(z.shape), torch.nn.Identity()).reshape(2, 3, 80, -1)
    assert torch.allclose(out_perm, out[:, :, perm], atol=1e-6), "one MLP shared by all locations"
    assert block.tc.mlp[0].in_features == 3 * 8  # T_in · C'


def test_a_whole_block_mixes_time_channels_and_space(block):
    z = latent(model_())
    poked = z.clone()
    poked[0, 0, 0, 0, 0] += 1.0
    with torch.no_grad():
        hit = ((block(poked) - block(z))[0].abs() > 1e-7)
    assert hit[2, 7, 9, 7], "frame 0 / corner / channel 0 reaches the last frame, far corner, last channel"


def test_periodic_w_makes_the_model_equivariant_to_longitude_shifts():
    shape = (3, 1, 16, 32)
    x = torch.randn(1, *shape)
    shift = 4  # a multiple of the encoder's 2**(n_s//2) = 2
    periodic = model_(in_shape=shape, periodic_w=True)
    with torch.no_grad():
        rolled = periodic(torch.roll(x, shift, dims=-1))
        assert torch.allclose(rolled, torch.roll(periodic(x), shift, dims=-1), atol=1e-5)
        flat = model_(in_shape=shape, periodic_w=False)
        assert not torch.allclose(flat(torch.roll(x, shift, dims=-1)), torch.roll(flat(x), shift, dims=-1), atol=1e-3)


def test_periodic_w_refuses_a_width_that_needs_padding():
    with pytest.raises(ShapeError, match="multiple of 4"):
        create("vip_mixer", "tiny", in_shape=(3, 1, 16, 30), n_s=4, periodic_w=True)


@pytest.mark.parametrize("shape", [(3, 2, 32, 64), (2, 1, 17, 23), (3, 1, 64, 32)])
def test_grids_including_ones_padded_and_cropped(shape):
    model = model_(in_shape=shape, t_out=shape[0])
    y = model(torch.randn(2, *shape))
    assert y.shape == (2, *shape) and torch.isfinite(y).all()


def test_t_out_longer_than_t_in_chains_passes_and_shorter_keeps_the_first_frames():
    model = model_(t_out=7)  # T_in 3: three passes, the last one cut to 1 frame
    x = torch.randn(2, *model.config.in_shape)
    with torch.no_grad():
        one = model.step(x)
        two = model.step(one)
        three = model.step(two)
        assert torch.allclose(model(x), torch.cat([one, two, three[:, :1]], dim=1), atol=1e-6)
        short = model_(t_out=2)
        assert torch.allclose(short(x), short.step(x)[:, :2], atol=1e-6)


def test_bad_configs_are_config_errors():
    with pytest.raises(ConfigError, match="odd"):
        create("vip_mixer", "tiny", dw_kernel=4)
    with pytest.raises(ConfigError, match="drop_path"):
        create("vip_mixer", "tiny", drop_path=1.0)
    with pytest.raises(ConfigError, match="t_out"):
        create("vip_mixer", "tiny", t_out=0)


def test_drop_path_grows_linearly_over_the_blocks():
    rates = [b.drop.p for b in create("vip_mixer", "taxibj", hid_s=8, in_shape=(4, 2, 16, 16)).blocks]
    assert rates == pytest.approx([0.1 * i / 7 for i in range(8)])


def test_small_preset_is_the_weatherbench_shape_and_cpu_sized():
    torch.manual_seed(0)
    small = create("vip_mixer", "small").eval()
    assert small.config.in_shape == (12, 1, 32, 64) and small.config.t_out == 12 and small.config.periodic_w
    assert sum(p.numel() for p in small.parameters()) < 400_000
    with torch.no_grad():
        assert small(torch.randn(1, 12, 1, 32, 64)).shape == (1, 12, 1, 32, 64)


def test_time_channel_mixer_holds_most_parameters_as_estimated():
    with torch.device("meta"):
        model = create("vip_mixer", "weatherbench")
    d = 12 * 32
    tc = sum(p.numel() for n, p in model.named_parameters() if ".tc." in n)
    assert tc == 8 * (2 * d + (d * 4 * d + 4 * d) + (4 * d * d + d) + d)  # LN, two Linears, γ per block


def test_residual_pass_adds_the_last_input_frame():
    """`residual=True` predicts increments: same weights, output = plain output + last input frame per pass."""
    import torch

    from geostp.models import create

    torch.manual_seed(0)
    plain = create("vip_mixer", "tiny", t_out=3).eval()
    resid = create("vip_mixer", "tiny", t_out=3, residual=True).eval()
    resid.load_state_dict(plain.state_dict())
    x = torch.randn(2, *plain.config.in_shape)
    with torch.no_grad():
        expected = plain.step(x) + x[:, -1:]
        assert torch.allclose(resid(x), expected[:, :3], atol=1e-6)
        assert not torch.allclose(plain(x), resid(x))


def test_shared_simvp_encoder_decoder_and_weights_saved_before_the_sharing_still_load():
    """ViP-Mixer uses SimVP's SpatialEncoder/Decoder (geostp.models.layers) with periodic convolutions; runs
    saved when it had its own copy (up-sampling conv at `decoder.layers.i.conv`) load unchanged."""
    import torch

    from geostp.models import create
    from geostp.models.layers.periodic import WrapWConv2d
    from geostp.models.layers.simvp_blocks import SpatialDecoder, SpatialEncoder

    torch.manual_seed(0)
    model = create("vip_mixer", "tiny", periodic_w=True).eval()
    assert isinstance(model.encoder, SpatialEncoder) and isinstance(model.decoder, SpatialDecoder)
    assert isinstance(model.encoder.layers[0].conv2d, WrapWConv2d)
    old = {k.replace(".conv.0.", ".conv."): v for k, v in model.state_dict().items()}
    assert any(".conv.0." in k for k in model.state_dict()) and not any(".conv.0." in k for k in old)
    torch.manual_seed(1)
    other = create("vip_mixer", "tiny", periodic_w=True).eval()
    other.load_state_dict(old)
    x = torch.randn(1, *model.config.in_shape)
    with torch.no_grad():
        assert torch.equal(other(x), model(x))
