"""Model wrappers (geostp.models.wrappers): residual increments, pad-and-crop to the model's strides, periodic
longitude padding; built by `create(..., residual=True, pad_to_stride=True, periodic_lon=True)`."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from geostp.errors import ConfigError, ShapeError
from geostp.models import create, list_models
from geostp.models.base import BaseConfig, Forecaster
from geostp.models.wrappers import GridPad, Residual, grid_pads

ODD = (3, 2, 13, 22)  # a grid no tiny preset's strides divide (like 73 x 144 or 37 x 49 at full size)


@pytest.mark.parametrize("name", list_models())
def test_every_model_takes_an_odd_global_grid_when_padded(name):
    torch.manual_seed(0)
    model = create(name, "tiny", in_shape=ODD, pad_to_stride=True, periodic_lon=True).eval()
    assert model.config.in_shape == ODD and model.model_name == name
    x = torch.randn(2, *ODD)
    with torch.no_grad():
        y = model(x)
    assert y.shape == (2, model.config.t_out, *ODD[1:]) and torch.isfinite(y).all()
    with pytest.raises(ShapeError):  # the input check is the outer one: the data's grid
        model(torch.randn(2, 3, 2, 16, 24))


@pytest.mark.parametrize("name", ["swinlstm", "s_hr_vqvae"])
def test_models_that_refuse_a_grid_take_it_with_pad_to_stride(name):
    with pytest.raises(ShapeError, match="pad_to_stride=True"):
        create(name, "tiny", in_shape=ODD)(torch.zeros(1, *ODD))
    model = create(name, "tiny", in_shape=ODD, pad_to_stride=True)
    inner_shape = model.inner.config.in_shape
    m = model.inner.config.grid_multiple()
    assert inner_shape[2] % m == 0 and inner_shape[3] % m == 0 and inner_shape[2] - 13 < m and inner_shape[3] - 22 < m


def test_grid_pads():
    assert grid_pads(73, 144, 4, periodic=False, halo=None) == (1, 2, 0, 0)
    assert grid_pads(32, 64, 4, periodic=True, halo=None) == (0, 0, 8, 8)  # halo ceil(64 / 8) = 8 each side
    top, bottom, left, right = grid_pads(37, 49, 8, periodic=True, halo=3)
    assert (37 + top + bottom) % 8 == 0 and (49 + left + right) % 8 == 0 and min(left, right) >= 3


@dataclass
class ConvConfig(BaseConfig):
    """Shapes only."""


class Conv3x3(Forecaster):
    """One zero-padded 3 x 3 convolution per frame: T_out = T_in."""

    def __init__(self, cfg: ConvConfig) -> None:
        super().__init__()
        self.config = cfg
        self.conv = nn.Conv2d(cfg.in_shape[1], cfg.in_shape[1], 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        b, t = x.shape[:2]
        return self.conv(x.flatten(0, 1)).unflatten(0, (b, t))


def test_periodic_lon_makes_a_zero_padded_conv_wrap_around_the_globe():
    torch.manual_seed(0)
    h, w = 6, 10
    inner = Conv3x3(ConvConfig(in_shape=(2, 1, h, w + 2), t_out=2))
    model = GridPad(inner, (2, 1, h, w), pads=(0, 0, 1, 1), periodic=True)
    x = torch.randn(1, 2, 1, h, w)
    with torch.no_grad():
        got = model(x)
        # by hand: circular along W, zeros along H (the inner conv's own padding), same weights
        z = F.pad(x.flatten(0, 1), (1, 1, 0, 0), mode="circular")
        want = F.conv2d(z, inner.conv.weight, inner.conv.bias, padding=(1, 0)).unflatten(0, (1, 2))
    torch.testing.assert_close(got, want)
    padded = model.pad(x)
    assert torch.equal(padded[..., 0], x[..., -1]) and torch.equal(padded[..., -1], x[..., 0])


def test_residual_adds_the_last_input_frame_and_trains_custom_losses_on_increments():
    torch.manual_seed(0)
    inner = Conv3x3(ConvConfig(in_shape=(2, 1, 4, 4), t_out=2))
    model = Residual(inner)
    x, y = torch.randn(3, 2, 1, 4, 4), torch.randn(3, 2, 1, 4, 4)
    with torch.no_grad():
        torch.testing.assert_close(model(x), inner(x) + x[:, -1:])
    xi, yi = model.to_inner(x, y)
    assert torch.equal(xi, x) and torch.equal(yi, y - x[:, -1:])
    # a model with its own loss (stages) gets increments as targets and its stages under `inner.`
    vq = create("s_hr_vqvae", "tiny", residual=True)
    assert isinstance(vq, Residual)
    assert all(p.startswith("inner.") for s in vq.training_stages() for p in s.trainable)


def test_a_native_option_is_passed_to_the_model_not_wrapped():
    model = create("vip_mixer", "tiny", residual=True)
    assert not isinstance(model, Residual) and model.config.residual is True


def test_bad_wrapper_options_are_config_errors():
    with pytest.raises(ConfigError, match="lon_halo must be >= 0"):
        create("simvp", "tiny", periodic_lon=True, lon_halo=-1)
    with pytest.raises(ConfigError, match=r"unknown override\(s\) residul"):
        create("simvp", "tiny", residul=True)
