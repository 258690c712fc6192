"""Reference forecasts every model must beat: persistence and climatology (ConvLSTM lives in convlstm.py)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from geostp.errors import ConfigError, ShapeError
from geostp.models.base import BaseConfig, Forecaster
from geostp.models.registry import register_model

# Shapes of the dataset presets every model has, plus `tiny` for unit tests.
VIDEO_PRESETS = {
    "mmnist": {"in_shape": (10, 1, 64, 64), "t_out": 10},
    "taxibj": {"in_shape": (4, 2, 32, 32), "t_out": 4},
    "weatherbench": {"in_shape": (12, 1, 32, 64), "t_out": 12},
    "kth": {"in_shape": (10, 1, 128, 128), "t_out": 20},
    "tiny": {"in_shape": (3, 2, 16, 16), "t_out": 4},
}


def check_shapes(cfg: BaseConfig) -> None:
    """Raise ConfigError unless every entry of in_shape and t_out is positive."""
    if len(cfg.in_shape) != 4 or any(v < 1 for v in cfg.in_shape) or cfg.t_out < 1:
        raise ConfigError(
            f"{type(cfg).__name__}: in_shape (T_in, C, H, W) = {tuple(cfg.in_shape)} and t_out = {cfg.t_out} "
            "must all be positive"
        )


@dataclass
class PersistenceConfig(BaseConfig):
    """Persistence has no hyper-parameters beyond the shapes."""

    def __post_init__(self) -> None:
        check_shapes(self)


class Persistence(Forecaster):
    """Repeats the last input frame T_out times."""

    def __init__(self, cfg: PersistenceConfig) -> None:
        super().__init__()
        self.config = cfg

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        return x[:, -1:].expand(-1, self.config.t_out, -1, -1, -1).clone()


@register_model("persistence", PersistenceConfig, presets=VIDEO_PRESETS)
def persistence(cfg: PersistenceConfig) -> Persistence:
    return Persistence(cfg)


@dataclass
class ClimatologyConfig(BaseConfig):
    """Climatology has no hyper-parameters beyond the shapes."""

    def __post_init__(self) -> None:
        check_shapes(self)


class Climatology(Forecaster):
    """Predicts a fixed field: the per-channel train mean in normalised space (zeros for z-scored data),
    or a (C, H, W) climatology set with `set_climatology` (e.g. the store's, by the training loop)."""

    def __init__(self, cfg: ClimatologyConfig) -> None:
        super().__init__()
        self.config = cfg
        _, c, h, w = cfg.in_shape
        self.register_buffer("climatology", torch.zeros(c, h, w))

    def set_climatology(self, field: torch.Tensor) -> None:
        """Use `field` ((C,), (C, H, W) or anything broadcastable to it) as the forecast, in normalised units."""
        field = torch.as_tensor(field, dtype=self.climatology.dtype)
        if field.ndim == 1:  # one value per channel
            field = field[:, None, None]
        try:
            field = field.expand_as(self.climatology)
        except RuntimeError:
            raise ShapeError(
                f"climatology of shape {tuple(field.shape)} does not fit (C, H, W) = {tuple(self.climatology.shape)}; "
                "pass (C,) per-channel values or a (C, H, W) field on the model's grid"
            ) from None
        self.climatology.copy_(field)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        b = x.shape[0]
        return self.climatology.to(x.dtype)[None, None].expand(b, self.config.t_out, -1, -1, -1).clone()


@register_model("climatology", ClimatologyConfig, presets=VIDEO_PRESETS)
def climatology(cfg: ClimatologyConfig) -> Climatology:
    return Climatology(cfg)
