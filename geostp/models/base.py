"""What every forecaster shares: the tensor contract, the training-loss hook and training stages.

Models map x: (B, T_in, C, H, W) -> (B, T_out, C, H, W). The training loop never special-cases a
model: it asks `model.training_stages()` what to train in which order and calls
`model.training_loss(x, y, stage)` for the loss (and extra terms) of each step.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from geostp.errors import ConfigError, ShapeError


@dataclass(frozen=True)
class TrainingStage:
    """One stage of training: its name, which parameters it trains (prefixes; empty = all), its share of steps."""

    name: str = "main"
    trainable: tuple[str, ...] = ()
    fraction: float = 1.0


@dataclass
class BaseConfig:
    """Fields every model config has: input shape (T_in, C, H, W) and the number of output frames."""

    in_shape: tuple[int, int, int, int] = (10, 1, 64, 64)
    t_out: int = 10

    def grid_multiple(self) -> int:
        """What H and W must be multiples of (1: any grid; models that pad inside say 1)."""
        return 1


def check_shapes(cfg: BaseConfig) -> None:
    """Raise ConfigError unless in_shape is (T_in, C, H, W) with every entry positive and t_out too: the one
    check of a config's shapes (a tensor's shape is checked by `Forecaster.check_input`)."""
    if len(cfg.in_shape) != 4 or any(v < 1 for v in cfg.in_shape) or cfg.t_out < 1:
        raise ConfigError(
            f"{type(cfg).__name__}: in_shape (T_in, C, H, W) = {tuple(cfg.in_shape)} and t_out = {cfg.t_out} "
            "must all be positive"
        )


@dataclass
class LossOutput:
    """A training loss and the named terms to log (floats or 0-d tensors)."""

    loss: torch.Tensor
    terms: dict[str, torch.Tensor] = field(default_factory=dict)


class Forecaster(nn.Module):
    """Base class: input checks, default MSE loss, single-stage training."""

    config: BaseConfig

    def check_input(self, x: torch.Tensor) -> None:
        """Raise ShapeError unless x is (B, T_in, C, H, W) as configured."""
        t_in, c, h, w = self.config.in_shape
        if x.ndim != 5:
            raise ShapeError(f"{type(self).__name__} expects x of shape (B, T_in, C, H, W), got {tuple(x.shape)}")
        if tuple(x.shape[1:]) != (t_in, c, h, w):
            raise ShapeError(
                f"{type(self).__name__} was built for (T_in, C, H, W) = {(t_in, c, h, w)}, got {tuple(x.shape[1:])}; "
                "build it with in_shape=... matching the data"
            )

    def training_stages(self) -> list[TrainingStage]:
        """Stages the training loop runs in order (default: one stage training every parameter)."""
        return [TrainingStage()]

    def training_loss(self, x: torch.Tensor, y: torch.Tensor, stage: str = "main") -> LossOutput:
        """Loss of one batch in `stage`; override to add terms (commitment, codebook, ...)."""
        pred = self(x)
        loss = F.mse_loss(pred, y)
        return LossOutput(loss, {"mse": loss.detach()})


def stage_parameters(model: nn.Module, stage: TrainingStage) -> list[nn.Parameter]:
    """Parameters a stage trains: those whose names start with one of `stage.trainable` (all if empty)."""
    if not stage.trainable:
        return [p for p in model.parameters() if p.requires_grad]
    return [p for n, p in model.named_parameters() if n.startswith(stage.trainable)]
