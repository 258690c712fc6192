"""STLight-specific behaviour: the 1/3-2/3 skip, shuffle-reassemble once after the blocks, hybrid init,
patch encoder geometry, grids that need padding, and the exact STLight-L parameter count."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from geostp.errors import ConfigError
from geostp.models import create


def small(**overrides) -> nn.Module:
    torch.manual_seed(0)
    return create("stlight", "tiny", **overrides).eval()


def test_skip_adds_the_input_of_block_depth_third_before_block_two_thirds():
    model = small(depth=6)
    assert (model.skip_from, model.skip_to) == (2, 4)
    assert (create("stlight", "tiny", depth=16).skip_from, create("stlight", "tiny", depth=16).skip_to) == (5, 10)
    inputs, outputs = {}, {}

    def record(i):
        def hook(module, args, out):
            inputs[i], outputs[i] = args[0], out

        return hook

    for i, block in enumerate(model.blocks):
        block.register_forward_hook(record(i))
    model(torch.randn(2, *model.config.in_shape))
    for i in range(1, 6):
        expected = outputs[i - 1] + inputs[2] if i == 4 else outputs[i - 1]
        assert torch.allclose(inputs[i], expected, atol=1e-6), f"input of block {i}"
    assert not torch.allclose(inputs[4], outputs[3]), "the skip must change block 4's input"


def test_shuffle_and_reassemble_run_once_after_the_blocks():
    model = small()
    last = {}

    def hook(module, args, out):
        last["z"] = out

    model.blocks[-1].register_forward_hook(hook)
    x = torch.randn(2, *model.config.in_shape)
    y = model(x)
    t_out, (_, c, h, w) = model.config.t_out, model.config.in_shape
    d, p = model.config.dim, model.config.patch
    assert model.reassemble.in_channels == d // p**2 and model.reassemble.out_channels == t_out * c
    expected = model.reassemble(nn.functional.pixel_shuffle(last["z"], p)).reshape(2, t_out, c, h, w)
    assert torch.equal(y, expected)


def test_block_is_residual_depthwise_then_pointwise_without_residual():
    block = small().blocks[0]
    z = torch.randn(2, 32, 8, 8)
    assert torch.allclose(block(z), block.pointwise(z + block.spatial(z)), atol=1e-6)
    dw, dwd = block.spatial[0], block.spatial[1]
    assert (dw.groups, dw.kernel_size, dwd.groups, dwd.kernel_size, dwd.dilation) == (32, (3, 3), 32, (7, 7), (3, 3))
    assert isinstance(block.spatial[2], nn.GELU) and isinstance(block.spatial[3], nn.BatchNorm2d)  # GELU then BN


def test_hybrid_init_kaiming_normal_fan_out_except_reassemble():
    model = small(dim=256, depth=1)
    for conv in (model.encoder[0], model.blocks[0].pointwise[0], model.blocks[0].spatial[1]):
        fan_out = conv.out_channels * math.prod(conv.kernel_size)  # PyTorch fan_out ignores groups
        assert conv.weight.std().item() == pytest.approx(math.sqrt(2.0 / fan_out), rel=0.1)
        assert torch.count_nonzero(conv.bias) == 0
    head = model.reassemble  # PyTorch default: Kaiming-uniform weights and uniform non-zero biases
    bound = 1 / math.sqrt(head.in_channels)
    assert head.weight.abs().max() <= bound and torch.count_nonzero(head.bias) > 0


@pytest.mark.parametrize(("patch", "overlap", "kernel", "padding"), [(2, 0, 2, 0), (2, 2, 4, 1), (4, 3, 12, 4)])
def test_patch_encoder_geometry_keeps_h_over_p(patch, overlap, kernel, padding):
    model = small(patch=patch, overlap=overlap, dim=16 * patch**2 // 4, in_shape=(3, 2, 32, 64))
    conv = model.encoder[0]
    assert (conv.kernel_size, conv.stride, conv.padding) == ((kernel,) * 2, (patch,) * 2, (padding,) * 2)
    assert conv.in_channels == 3 * 2  # T_in · C folded into channels
    assert model.encoder(torch.randn(1, 6, 32, 64)).shape[-2:] == (32 // patch, 64 // patch)


def test_bad_configs_are_config_errors():
    with pytest.raises(ConfigError, match="divisible by patch"):
        create("stlight", "tiny", dim=30)
    with pytest.raises(ConfigError, match="overlap"):
        create("stlight", "tiny", patch=1, overlap=2, dim=32)  # kernel 2, no padding: H -> H-1
    with pytest.raises(ConfigError, match="odd"):
        create("stlight", "tiny", k2=6)


@pytest.mark.parametrize(("shape", "patch"), [((3, 2, 32, 64), 2), ((2, 1, 64, 64), 4), ((3, 2, 17, 23), 4)])
def test_grids_including_ones_padded_to_the_patch(shape, patch):
    model = small(in_shape=shape, t_out=5, patch=patch, dim=16 * patch**2 // 4 * 2)
    y = model(torch.randn(2, *shape))
    assert y.shape == (2, 5, *shape[1:]) and torch.isfinite(y).all()


def test_one_pass_for_any_t_out_and_output_frames_depend_on_all_input_frames():
    model = small(in_shape=(2, 1, 16, 16), t_out=7)
    x = torch.randn(1, 2, 1, 16, 16, requires_grad=True)
    model(x)[:, -1].sum().backward()  # the 7th frame from 2 inputs in a single pass
    assert (x.grad[0, 0].abs().sum() > 0) and (x.grad[0, 1].abs().sum() > 0)


def test_stlight_l_parameter_count_is_exact():
    with torch.device("meta"):
        model = create("stlight", "mmnist")
    assert sum(p.numel() for p in model.parameters()) == 32_879_710  # the paper's code listing, computed
