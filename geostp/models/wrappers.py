"""Wrappers any registered model can take (graphcast style: the core model never sees them).

* `Residual`: the model predicts the change from the last input frame; the wrapper adds it back.
* `GridPad`: pads the grid to what the model's strides divide (73 x 144, 18 x 432, 37 x 49, ...) and crops
  the output back; with `periodic_lon` the padding along W (longitude) wraps around the globe and a halo of
  `lon_halo` columns is added on both sides, so convolutions and attention near the date line see the
  other side of it (exact for receptive fields up to the halo; the inner model still pads its own edges).

* `Stochastic`: a latent-noise ensemble member (`crps_members=M`): a noise field z ~ N(0, 1) per
  sample, mapped to the input channels by a learned 1x1 convolution and added to every input frame; trained
  with the almost-fair CRPS over M draws per sample (`train.objective: crps`), so the spread is learned.

`create(name, preset, residual=True, pad_to_stride=True, periodic_lon=True, lon_halo=None, crps_members=8, **overrides)`
builds them (`geostp.models.registry`): an option the model's own config has (ViP-Mixer's `residual`) is
passed to the model instead of wrapping it. A wrapper has the outer `config` (the data's in_shape), checks
its input there, and maps training stages and custom losses onto the inner model.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from geostp.models.base import Forecaster, LossOutput, TrainingStage

WRAPPER_OPTIONS = ("residual", "pad_to_stride", "periodic_lon", "lon_halo", "crps_members")


def split_options(config_cls: type, options: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(model overrides, wrapper options): wrapper keys the model's config does not itself have go to wrappers."""
    import dataclasses

    fields = {f.name for f in dataclasses.fields(config_cls)}
    model = {k: v for k, v in options.items() if k in fields or k not in WRAPPER_OPTIONS}
    wrap = {k: v for k, v in options.items() if k not in fields and k in WRAPPER_OPTIONS and v not in (None, False)}
    return model, wrap


class Wrapper(Forecaster):
    """Base of the wrappers: holds `inner`, keeps the outer config, maps stages and custom losses."""

    def __init__(self, inner: nn.Module, in_shape: tuple[int, int, int, int] | None = None) -> None:
        super().__init__()
        self.inner = inner
        self.config = copy.copy(inner.config)  # the inner model's settings, at the data's shape
        if in_shape is not None:
            self.config.in_shape = tuple(in_shape)
        self.model_name = getattr(inner, "model_name", type(inner).__name__)

    def training_stages(self) -> list[TrainingStage]:
        """The inner model's stages, with parameter prefixes moved under `inner.`."""
        return [TrainingStage(s.name, tuple(f"inner.{p}" for p in s.trainable), s.fraction)
                for s in self.inner.training_stages()]

    def _default_loss(self) -> bool:
        """Whether the inner model (through any wrappers) uses the base MSE on its forecast."""
        inner = self.inner
        while isinstance(inner, Wrapper):
            inner = inner.inner
        return type(inner).training_loss is Forecaster.training_loss

    def to_inner(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs and targets as the inner model sees them (for models with their own training loss)."""
        raise NotImplementedError

    def training_loss(self, x: torch.Tensor, y: torch.Tensor, stage: str = "main") -> LossOutput:
        """MSE of the wrapped forecast, or the inner model's own loss on inputs/targets mapped inside."""
        if self._default_loss():
            return super().training_loss(x, y, stage)
        self.check_input(x)
        return self.inner.training_loss(*self.to_inner(x, y), stage)


class Residual(Wrapper):
    """The inner model predicts increments from the last input frame: y = inner(x) + x[:, -1:]."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        return self.inner(x) + x[:, -1:]

    def to_inner(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return x, y - x[:, -1:]


class GridPad(Wrapper):
    """Pads (H, W) by `pads` = (top, bottom, left, right) before the inner model and crops after.

    Rows are padded by replication (no wrap across the poles); columns wrap around when `periodic`.
    """

    def __init__(self, inner: nn.Module, in_shape: tuple[int, int, int, int], pads: tuple[int, int, int, int],
                 periodic: bool) -> None:
        super().__init__(inner, in_shape)
        self.pads, self.periodic = tuple(int(p) for p in pads), bool(periodic)

    def pad(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, C, H, W) -> (B, T, C, H + top + bottom, W + left + right)."""
        top, bottom, left, right = self.pads
        b, t = x.shape[:2]
        z = x.reshape(b * t, *x.shape[2:])
        if self.periodic and (left or right):
            w = z.shape[-1]
            idx = torch.arange(-left, w + right, device=z.device) % w  # any halo, also wider than the grid
            z = z.index_select(-1, idx)
            left = right = 0
        if top or bottom or left or right:
            z = F.pad(z, (left, right, top, bottom), mode="replicate")
        return z.reshape(b, t, *z.shape[1:])

    def crop(self, y: torch.Tensor) -> torch.Tensor:
        """Undo `pad` on the inner model's output."""
        top, _, left, _ = self.pads
        _, _, h, w = self.config.in_shape
        return y[..., top:top + h, left:left + w]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        return self.crop(self.inner(self.pad(x)))

    def to_inner(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.pad(x), self.pad(y)


def afcrps(members: torch.Tensor, truth: torch.Tensor, alpha: float = 0.95) -> torch.Tensor:
    """Almost-fair CRPS (Lang et al. 2024, AIFS-CRPS) of members (B, M, ...) against truth (B, ...), mean over
    elements: mean_i |x_i - y| - (1 - eps) sum_{i != j} |x_i - x_j| / (2 M (M - 1)), eps = (1 - alpha) / M.
    alpha = 1 is the fair CRPS; alpha < 1 keeps a little of the standard CRPS so members never collapse."""
    m = members.shape[1]
    if m < 2:
        raise ValueError(f"the CRPS loss needs at least 2 members, got {m}")
    skill = (members - truth[:, None]).abs().mean(1)
    srt = members.sort(dim=1).values  # sum_{i,j}|x_i - x_j| = 2 sum_k (2k - m - 1) x_(k) on sorted members
    k = torch.arange(1, m + 1, device=members.device, dtype=members.dtype).view(1, m, *([1] * (members.dim() - 2)))
    pairs = 2 * ((2 * k - m - 1) * srt).sum(1)
    eps = (1 - alpha) / m
    return (skill - (1 - eps) * pairs / (2 * m * (m - 1))).mean()


class Stochastic(Wrapper):
    """Adds learned noise to the inputs: x + proj(z), z ~ N(0, 1) of `noise_channels` per sample, the same at
    every input frame. Each call is one draw (one ensemble member); training scores `members` draws per sample
    with the almost-fair CRPS. The noise comes from torch's generator: seed it for repeatable members."""

    def __init__(self, inner: nn.Module, in_shape: tuple[int, int, int, int], members: int, noise_channels: int = 4,
                 alpha: float = 0.95) -> None:
        super().__init__(inner, in_shape)
        from geostp.errors import ConfigError

        if members < 2:
            raise ConfigError(f"crps_members must be >= 2 (members drawn per sample in training), got {members}")
        if len(inner.training_stages()) > 1:
            raise ConfigError(f"{self.model_name} trains in stages with its own losses; the CRPS objective needs a "
                              "model trained in one stage on its forecast (any other registered model)")
        if getattr(inner, "uses_valid_times", False):
            raise ConfigError(f"{self.model_name} does not read its inputs (a function of the valid time): input "
                              "noise cannot make it an ensemble")
        self.members, self.noise_channels, self.alpha = int(members), int(noise_channels), float(alpha)
        channels = self.config.in_shape[1]
        self.proj = nn.Conv2d(self.noise_channels, channels, 1)
        nn.init.normal_(self.proj.weight, std=0.1)  # non-zero: identical members would give the spread no gradient
        nn.init.zeros_(self.proj.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        b, _, _, h, w = x.shape
        z = torch.randn(b, self.noise_channels, h, w, device=x.device, dtype=x.dtype)
        return self.inner(x + self.proj(z)[:, None])

    def training_stages(self) -> list[TrainingStage]:
        return [TrainingStage(s.name, (*s.trainable, "proj.") if s.trainable else (), s.fraction)
                for s in super().training_stages()]

    def training_loss(self, x: torch.Tensor, y: torch.Tensor, stage: str = "main") -> LossOutput:
        """Almost-fair CRPS of `members` draws per sample, plus the ensemble mean's MSE as a logged term. The members
        are scored as they forecast (a model's own training loss, e.g. ConvLSTM's scheduled sampling, is not used)."""
        pred = self(x.repeat_interleave(self.members, 0))
        members = pred.view(x.shape[0], self.members, *pred.shape[1:])
        loss = afcrps(members, y, self.alpha)
        return LossOutput(loss, {"crps": loss.detach(), "ens_mean_mse": F.mse_loss(members.mean(1), y).detach()})


def grid_pads(h: int, w: int, multiple: int, periodic: bool, halo: int | None) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) that make H and W multiples of `multiple` (W around a halo if periodic).

    Rows: the extra rows split evenly (top gets the smaller half). Columns: with `periodic`, a halo of
    `halo` columns (default ceil(W / 8)) on each side, widened so that the total is a multiple.
    """
    m = max(1, int(multiple))
    extra_h = (-h) % m
    top, bottom = extra_h // 2, extra_h - extra_h // 2
    if periodic:
        base = math.ceil(w / 8) if halo is None else int(halo)
        total = 2 * base + (-(w + 2 * base)) % m
        left, right = total // 2, total - total // 2
    else:
        left, right = 0, (-w) % m
    return top, bottom, left, right


def grid_multiple(config_cls: type, values: Mapping[str, Any]) -> int:
    """The grid multiple a model config needs (`config.grid_multiple()`), read without validating the shapes."""
    import dataclasses

    cfg = config_cls.__new__(config_cls)  # the unpadded shape may not validate: that is why we pad
    for f in dataclasses.fields(config_cls):
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        setattr(cfg, f.name, values.get(f.name, default))
    return int(cfg.grid_multiple()) if hasattr(cfg, "grid_multiple") else 1


def wrap(build: Callable[[dict[str, Any]], nn.Module], config_cls: type, values: Mapping[str, Any],
         options: Mapping[str, Any]) -> nn.Module:
    """The model `build(overrides)` inside the wrappers `options` asks for; `values` = preset + overrides."""
    from geostp.errors import ConfigError

    unknown = sorted(set(options) - set(WRAPPER_OPTIONS))
    if unknown:
        raise ConfigError(f"unknown wrapper option(s) {', '.join(unknown)}; valid: {', '.join(WRAPPER_OPTIONS)}")
    overrides = {k: v for k, v in values.items()}
    t, c, h, w = tuple(values.get("in_shape", config_cls.__dataclass_fields__["in_shape"].default))
    periodic = bool(options.get("periodic_lon"))
    if options.get("pad_to_stride") or periodic:
        halo = options.get("lon_halo")
        if halo is not None and int(halo) < 0:
            raise ConfigError(f"lon_halo must be >= 0 columns, got {halo}")
        multiple = grid_multiple(config_cls, values) if options.get("pad_to_stride") else 1
        pads = grid_pads(h, w, multiple, periodic, halo)
        inner = build({**overrides, "in_shape": (t, c, h + pads[0] + pads[1], w + pads[2] + pads[3])})
        model: nn.Module = GridPad(inner, (t, c, h, w), pads, periodic)
    else:
        model = build(overrides)
    if options.get("residual"):
        model = Residual(model, (t, c, h, w))
    if options.get("crps_members"):
        model = Stochastic(model, (t, c, h, w), int(options["crps_members"]))
    return model
