"""Reference forecasts every model must beat: persistence and climatology (ConvLSTM lives in convlstm.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from geostp.errors import ConfigError, ShapeError
from geostp.models.base import BaseConfig, Forecaster, check_shapes
from geostp.models.registry import register_model

# Shapes of the dataset presets every model has, plus `tiny` for unit tests.
VIDEO_PRESETS = {
    "mmnist": {"in_shape": (10, 1, 64, 64), "t_out": 10},
    "taxibj": {"in_shape": (4, 2, 32, 32), "t_out": 4},
    "weatherbench": {"in_shape": (12, 1, 32, 64), "t_out": 12},
    "kth": {"in_shape": (10, 1, 128, 128), "t_out": 20},
    "tiny": {"in_shape": (3, 2, 16, 16), "t_out": 4},
}


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
    """`harmonics`: annual harmonics of the fit per time of day (as the scorecard's climatology)."""

    harmonics: int = 3

    def __post_init__(self) -> None:
        check_shapes(self)
        if self.harmonics < 0:
            raise ConfigError(f"climatology: harmonics must be >= 0, got {self.harmonics}")


GROUP_KINDS = ("time_of_day", "month")  # what the climatology's group index of a valid time is


class Climatology(Forecaster):
    """Forecasts the train-split climatology of the store at each valid time, per grid point and season.

    `fit_store` fits it exactly as the scorecard's climatology (`geostp.evaluation.baselines`): per time of
    day (or calendar month) and grid point, mean + annual harmonics, stored in normalised units as buffers
    `table` (C, G, K, H, W) and `group_key` (G,). The forecast job calls `forecast_at(x, valid_times)`;
    a plain `forward(x)` (training validation, no times) gives the annual-mean climatology per grid point.
    Unfitted, the table is zeros: the train mean of z-scored data.
    """

    uses_valid_times = True

    def __init__(self, cfg: ClimatologyConfig) -> None:
        super().__init__()
        self.config = cfg
        _, c, h, w = cfg.in_shape
        self.register_buffer("table", torch.zeros(c, 1, 1, h, w))
        self.register_buffer("group_key", torch.zeros(1, dtype=torch.int64))
        self.register_buffer("group_kind", torch.zeros((), dtype=torch.int64))

    # ------------------------------------------------------------------ fitting
    def fit_store(self, store: Any, variables: Sequence[str], stats: Mapping[str, Mapping[str, float]]) -> None:
        """Fit on the store's train split (the scorecard's fit), normalised with `stats` (norm_offset/scale)."""
        from geostp.evaluation.baselines import compute_climatology

        clim = compute_climatology(store, list(variables), harmonics=self.config.harmonics)
        self.set_table(clim, variables, stats)

    def set_table(self, clim: Any, variables: Sequence[str], stats: Mapping[str, Mapping[str, float]]) -> None:
        """Take a climatology Dataset of `compute_climatology`'s layout (group dim, optional `coef`, grid)."""
        import numpy as np

        group_dim = next((d for d in GROUP_KINDS if d in clim.dims), None)
        if group_dim is None:
            raise ShapeError(f"climatology dims {tuple(clim.dims)} have no group dim among {GROUP_KINDS}")
        tables = []
        for v in variables:
            da = clim[v]
            if "coef" not in da.dims:
                da = da.expand_dims(coef=[0])
            grid = [d for d in da.dims if d not in (group_dim, "coef")]
            arr = da.transpose(group_dim, "coef", *grid).values.astype(np.float64)
            off, scale = float(stats[v]["norm_offset"]), float(stats[v]["norm_scale"])
            arr = arr / scale
            arr[:, 0] -= off / scale  # design column 0 is the constant 1: only it carries the offset
            tables.append(arr)
        table = torch.as_tensor(np.stack(tables), dtype=torch.float32)
        if tuple(table.shape[-2:]) != tuple(self.table.shape[-2:]) or table.shape[0] != self.table.shape[0]:
            raise ShapeError(f"climatology of shape {tuple(table.shape)} does not fit the model's (C, H, W) "
                             f"{tuple(self.table.shape[:1] + self.table.shape[-2:])}")
        self.table = table.to(self.table.device)
        self.group_key = torch.tensor(np.asarray(clim[group_dim].values, dtype=np.int64))
        self.group_kind = torch.tensor(GROUP_KINDS.index(group_dim), dtype=torch.int64)

    def set_climatology(self, field: torch.Tensor) -> None:
        """Use a fixed `field` ((C,), (C, H, W) or broadcastable) for every valid time, in normalised units."""
        c, h, w = self.table.shape[0], self.table.shape[-2], self.table.shape[-1]
        field = torch.as_tensor(field, dtype=torch.float32)
        if field.ndim == 1:  # one value per channel
            field = field[:, None, None]
        try:
            field = field.expand(c, h, w)
        except RuntimeError:
            raise ShapeError(
                f"climatology of shape {tuple(field.shape)} does not fit (C, H, W) = {(c, h, w)}; "
                "pass (C,) per-channel values or a (C, H, W) field on the model's grid"
            ) from None
        self.table = field[:, None, None].clone()
        self.group_key = torch.zeros(1, dtype=torch.int64)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:  # noqa: ANN001
        # The table's shape (groups, coefficients) is set by the fit, not by the config: take the saved one.
        for name in ("table", "group_key"):
            if prefix + name in state_dict:
                setattr(self, name, torch.empty_like(state_dict[prefix + name]))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    # --------------------------------------------------------------- forecasting
    def forecast_at(self, x: torch.Tensor, valid_times: Any) -> torch.Tensor:
        """The climatology at `valid_times` (array (B, N) of datetime64 or frame counters): (B, N, C, H, W)."""
        import numpy as np

        from geostp.evaluation.baselines import group_keys, harmonic_design

        self.check_input(x)
        times = np.asarray(valid_times)
        if times.ndim != 2 or times.shape[0] != x.shape[0]:
            raise ShapeError(f"valid_times must be (B, N) with B = {x.shape[0]}, got shape {times.shape}")
        keys = self.group_key.cpu().numpy()
        n_coef = self.table.shape[2]
        if len(keys) == 1:  # one group (a fixed field or a store without times of day): valid at any time
            pos = np.zeros(times.shape, np.int64)
        else:
            want = group_keys(times, GROUP_KINDS[int(self.group_kind)])
            pos = np.clip(np.searchsorted(keys, want), 0, len(keys) - 1)
            if (keys[pos] != want).any():
                raise ShapeError(f"the climatology has no group for {GROUP_KINDS[int(self.group_kind)]} "
                                 f"{sorted(set(np.ravel(want[keys[pos] != want]).tolist()))[:5]}; it has {keys.tolist()}")
        design = harmonic_design(times, (n_coef - 1) // 2) if n_coef > 1 else np.ones((*times.shape, 1))
        d = torch.as_tensor(design, dtype=self.table.dtype, device=self.table.device)  # (B, N, K)
        coefs = self.table[:, torch.as_tensor(pos, device=self.table.device)]  # (C, B, N, K, H, W)
        return torch.einsum("bnk,cbnkhw->bnchw", d, coefs).to(x.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        b = x.shape[0]
        mean = self.table[:, :, 0].mean(1)  # annual mean, averaged over the groups: (C, H, W)
        return mean.to(x.dtype)[None, None].expand(b, self.config.t_out, -1, -1, -1).clone()


@register_model("climatology", ClimatologyConfig, presets=VIDEO_PRESETS)
def climatology(cfg: ClimatologyConfig) -> Climatology:
    return Climatology(cfg)
