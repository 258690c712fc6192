"""SimVP / SimVPv2 specifics: reference-code structure, T_out recursion, padding, counts and FLOPs."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from geostp.errors import ConfigError
from geostp.models import create
from geostp.models.flops import count_params, forward_gflops
from geostp.models.layers.common import pad_to_multiple
from geostp.models.layers.simvp_blocks import GSTABlock, GroupConvNormAct


def meta(name: str, preset: str, **overrides) -> nn.Module:
    with torch.device("meta"):
        return create(name, preset, **overrides)


def test_parameter_breakdown_matches_openstl_mmnist():
    """Per-part counts of OpenSTL's SimVP_Model instantiated with the mmnist configs."""
    v2 = meta("simvpv2", "mmnist")
    assert count_params(v2.enc) == 111_936
    assert count_params(v2.dec) == 369_857
    assert count_params(v2.hid) == 46_287_872
    assert count_params(meta("simvp", "mmnist").hid) == 57_464_320


@pytest.mark.parametrize(("name", "preset", "params", "gflops"), [
    ("simvpv2", "mmnist", 46_769_665, 16.53), ("simvp", "mmnist", 57_946_113, 19.43),
    ("simvpv2", "taxibj", 9_961_058, 2.61), ("simvpv2", "weatherbench", 12_758_305, 7.01),
    ("simvp", "weatherbench", 14_666_017, 8.03), ("simvp", "kth", 12_152_385, 2 * 62.84),
    ("simvpv2", "kth", 15_632_961, 2 * 76.78),
])
def test_counts_and_flops_match_the_reference_code(name, preset, params, gflops):
    """Exact parameter counts; FLOPs within 1 % of fvcore's (which also counts norms). KTH runs 2 passes."""
    model = meta(name, preset)
    assert count_params(model) == params
    assert forward_gflops(model, model.config.in_shape) == pytest.approx(gflops, rel=0.01)


def test_gsta_block_structure():
    block = GSTABlock(32)
    attn = block.attn
    assert (attn.conv_dw.kernel_size, attn.conv_dw.groups) == ((5, 5), 32)
    assert (attn.conv_dil.kernel_size, attn.conv_dil.dilation, attn.conv_dil.padding) == ((7, 7), (3, 3), (9, 9))
    assert attn.conv_fg.out_channels == 64
    assert block.mlp.fc1.out_channels == 8 * 32 and block.mlp.dwconv.groups == 8 * 32
    assert torch.all(block.layer_scale_1 == 0.01) and torch.all(block.layer_scale_2 == 0.01)
    assert isinstance(block.norm1, nn.BatchNorm2d)


def test_gsta_gate_is_sigmoid_g_times_f_without_the_input():
    """Trap 1: output = x + proj_2(sigmoid(g)·f); there is no multiplication by the gate's input."""
    attn = GSTABlock(4).attn.eval()
    x = torch.randn(2, 4, 12, 12)
    u = attn.act(attn.proj_1(x))
    f, g = attn.conv_fg(attn.conv_dil(attn.conv_dw(u))).split(4, dim=1)
    assert torch.allclose(attn(x), x + attn.proj_2(torch.sigmoid(g) * f), atol=1e-6)


def test_drop_path_schedule_starts_at_0_01_even_when_zero():
    rates = [b[0].drop_path.p if isinstance(b, nn.Sequential) else b.drop_path.p
             for b in create("simvpv2", "tiny", n_t=4, drop_path=0.0).hid.blocks]
    assert rates == pytest.approx([0.01, 0.01 * 2 / 3, 0.01 / 3, 0.0])
    rates = [b[0].drop_path.p if isinstance(b, nn.Sequential) else b.drop_path.p
             for b in create("simvpv2", "tiny", n_t=3, drop_path=0.1).hid.blocks]
    assert rates == pytest.approx([0.01, 0.055, 0.1])


def test_incepu_groups_fall_back_to_one():
    assert GroupConvNormAct(16, 32, 3, groups=8).conv.groups == 8
    odd = GroupConvNormAct(12, 32, 3, groups=8)
    assert odd.conv.groups == 1 and odd.norm.num_groups == 1


@pytest.mark.parametrize("name", ["simvp", "simvpv2"])
def test_encoder_resolution_and_skip(name):
    """N_S 4 halves twice (64 → 16); the skip is the first layer's full-resolution output."""
    model = create(name, "tiny", in_shape=(2, 1, 64, 64), n_s=4).eval()
    z, skip = model.enc(torch.randn(2, 1, 64, 64))
    assert z.shape == (2, 8, 16, 16) and skip.shape == (2, 8, 64, 64)
    assert [layer.conv.stride for layer in model.enc.layers] == [(1, 1), (2, 2), (1, 1), (2, 2)]
    assert [isinstance(layer.conv, nn.Sequential) for layer in model.dec.layers] == [True, False, True, False]


@pytest.mark.parametrize("t_out", [1, 2, 3, 7])
def test_t_out_recursion_follows_openstl(t_out):
    """T_out > T_in: full passes on the previous output, then the first T_out % T_in frames of one more."""
    model = create("simvpv2", "tiny", in_shape=(3, 2, 16, 16), t_out=t_out).eval()
    x = torch.randn(2, 3, 2, 16, 16)
    with torch.no_grad():
        passes, cur = [], x
        for _ in range(-(-t_out // 3)):
            cur = model.step(cur)
            passes.append(cur)
        expected = torch.cat(passes, dim=1)[:, :t_out]
        assert torch.allclose(model(x), expected, atol=1e-6)


@pytest.mark.parametrize("name", ["simvp", "simvpv2"])
def test_residual_passes_feed_states_not_increments_to_the_next_pass(name):
    """`residual=True`: each pass adds its own last input frame, and the next pass consumes that state (the
    generic Residual wrapper would add the frame once after the chain, feeding increments forward)."""
    torch.manual_seed(0)
    plain = create(name, "tiny", in_shape=(3, 2, 16, 16), t_out=7).eval()
    resid = create(name, "tiny", in_shape=(3, 2, 16, 16), t_out=7, residual=True).eval()
    assert type(resid) is type(plain)  # the model's own option, not the wrapper
    resid.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 2, 16, 16)
    with torch.no_grad():
        passes, cur = [], x
        for _ in range(3):
            cur = plain.step(cur) + cur[:, -1:]
            passes.append(cur)
        assert torch.allclose(resid(x), torch.cat(passes, dim=1)[:, :7], atol=1e-5)
        assert not torch.allclose(resid(x), plain(x) + x[:, -1:], atol=1e-3)


def test_gradients_flow_through_every_recursive_pass():
    model = create("simvp", "tiny", in_shape=(3, 1, 16, 16), t_out=7)
    x = torch.randn(1, 3, 1, 16, 16, requires_grad=True)
    model(x)[:, -1].sum().backward()  # the last frame comes from the third pass
    assert x.grad is not None and x.grad.abs().sum() > 0


@pytest.mark.parametrize("name", ["simvp", "simvpv2"])
def test_grids_are_padded_to_the_multiple_and_cropped(name):
    model = create(name, "tiny", in_shape=(2, 1, 15, 18), t_out=2, n_s=4).eval()  # needs multiples of 4
    x = torch.randn(1, 2, 1, 15, 18)
    with torch.no_grad():
        out = model(x)
        padded, _ = pad_to_multiple(x, 4)
        assert padded.shape[-2:] == (16, 20)
        assert torch.allclose(out, model.step(padded)[..., :15, :18], atol=1e-6)
    assert out.shape == (1, model.config.t_out, 1, 15, 18)


@pytest.mark.parametrize(("override", "word"), [({"n_s": 3}, "n_s"), ({"n_t": 1}, "n_t"), ({"hid_s": 7}, "hid_s"),
                                                ({"spatio_kernel_enc": 4}, "spatio_kernel_enc")])
def test_bad_hyper_parameters_are_config_errors(override, word):
    with pytest.raises(ConfigError, match=word):
        create("simvpv2", "tiny", **override)
