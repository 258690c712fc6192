"""Optimizer, learning-rate schedule and the stage plan (which steps train which parameters).

One optimizer over all parameters for the whole run; a multi-stage model trains its stages in
consecutive step ranges, each with its own warm-up/decay (the schedule restarts per stage) and with the
gradients of the other stages' parameters dropped. One optimizer and one scheduler keep resume simple.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from geostp.errors import ConfigError
from geostp.models.base import TrainingStage
from geostp.registry import Registry
from geostp.training.config import OptimConfig, ScheduleConfig

OPTIMIZERS: Registry = Registry("optimizer")
OPTIMIZERS.add("adam", lambda p, c, **k: torch.optim.Adam(p, lr=c.lr, betas=c.betas, eps=c.eps, weight_decay=c.weight_decay, **k))
OPTIMIZERS.add("adamw", lambda p, c, **k: torch.optim.AdamW(p, lr=c.lr, betas=c.betas, eps=c.eps, weight_decay=c.weight_decay, **k))
OPTIMIZERS.add("sgd", lambda p, c, **k: torch.optim.SGD(p, lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay, **k))


def build_optimizer(model: nn.Module, cfg: OptimConfig, kernel: dict[str, bool] | None = None) -> torch.optim.Optimizer:
    """The configured torch optimizer over every trainable parameter of `model`; `kernel` picks its
    implementation (`fused=True`, `foreach=True`; see geostp.training.speed.optimizer_options)."""
    return OPTIMIZERS.get(cfg.name)([p for p in model.parameters() if p.requires_grad], cfg, **(kernel or {}))


@dataclass(frozen=True)
class PlannedStage:
    """A stage with its optimizer-step range [start, end) and the model stages whose losses it sums."""

    name: str
    start: int
    end: int
    parts: tuple[TrainingStage, ...]

    @property
    def trainable(self) -> tuple[str, ...]:
        """Parameter-name prefixes trained here (empty = all)."""
        if any(not p.trainable for p in self.parts):
            return ()
        return tuple(pre for p in self.parts for pre in p.trainable)


def plan_stages(stages: list[TrainingStage], total_steps: int, mode: str) -> list[PlannedStage]:
    """Split `total_steps` between the model's stages by their fractions (sequential) or train them jointly."""
    if not stages:
        raise ConfigError("the model declares no training stages")
    if mode == "joint" or len(stages) == 1:
        return [PlannedStage("+".join(s.name for s in stages), 0, total_steps, tuple(stages))]
    total_frac = sum(s.fraction for s in stages)
    out, start = [], 0
    for i, s in enumerate(stages):
        end = total_steps if i == len(stages) - 1 else start + round(total_steps * s.fraction / total_frac)
        out.append(PlannedStage(s.name, start, end, (s,)))
        start = end
    return out


def lr_factor(cfg: ScheduleConfig, step: int, n: int) -> float:
    """Multiplier of the peak lr at `step` of a stage of `n` optimizer steps."""
    if n <= 0:
        return 1.0
    w = min(cfg.warmup_steps, n)
    if cfg.name != "onecycle" and step < w:
        return (step + 1) / w
    if cfg.name == "constant":
        return 1.0
    if cfg.name == "cosine":
        t = (step - w) / max(1, n - w)
        return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))
    # one-cycle (as torch.optim.lr_scheduler.OneCycleLR, cosine annealing): lr/div -> lr -> lr/div/final_div
    initial, final = 1 / cfg.div_factor, 1 / cfg.div_factor / cfg.final_div_factor
    up = float(cfg.pct_start * n) - 1
    if step <= up:
        lo, hi, t = initial, 1.0, step / up if up > 0 else 1.0
    else:
        lo, hi, t = 1.0, final, (step - up) / max(1e-9, (n - 1) - up)
    return hi + (lo - hi) / 2 * (1 + math.cos(math.pi * min(t, 1.0)))


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: ScheduleConfig,
                    stages: list[PlannedStage]) -> torch.optim.lr_scheduler.LambdaLR:
    """A LambdaLR over optimizer steps whose schedule restarts at the start of every stage."""

    def factor(step: int) -> float:
        for st in stages:
            if st.start <= step < st.end:
                return lr_factor(cfg, step - st.start, st.end - st.start)
        last = stages[-1]
        return lr_factor(cfg, last.end - last.start - 1, last.end - last.start)

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def drop_frozen_grads(model: nn.Module, trainable: tuple[str, ...]) -> None:
    """Set to None the gradients of parameters this stage does not train (the optimizer then skips them)."""
    if not trainable:
        return
    for name, p in model.named_parameters():
        if not name.startswith(trainable):
            p.grad = None
