"""Validation per lead time, streamed over batches and summed across processes.

The per-field scores come from `geostp.evaluation.metrics` (the same definitions `geostp evaluate`
uses): latitude-weighted RMSE in physical units for lat/lon data (WB2: square root after the mean over
init times), OpenSTL's per-frame-sum MSE/MAE, SSIM and PSNR on the model's [0, 1] scale for images.
Here they are only accumulated as sums and counts, so N processes give the same numbers as one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import xarray as xr

from geostp.errors import ConfigError
from geostp.evaluation import metrics as M
from geostp.kinds import kind_of
from geostp.training.data import DataSignature


@dataclass(frozen=True)
class ValMetric:
    """A per-(init, lead[, variable]) score, and whether its mean over inits is square-rooted (RMSE)."""

    per_time: Callable[[xr.DataArray, xr.DataArray], xr.DataArray]
    sqrt: bool = False


WEATHER_METRICS = {
    "rmse": ValMetric(M.squared_error_per_time, sqrt=True),
    "mae": ValMetric(M.abs_error_per_time),
    "bias": ValMetric(M.error_per_time),
}
FRAME_METRICS = {
    "mse": ValMetric(M.frame_squared_error),
    "mae": ValMetric(M.frame_abs_error),
    "ssim": ValMetric(M.ssim_per_time),
    "psnr": ValMetric(M.psnr_per_time),
}
TABLES = {"weather": WEATHER_METRICS, "frames": FRAME_METRICS}  # by the data kind's metric family (geostp.kinds)


def metric_table(signature: DataSignature, names: list[str] | None) -> dict[str, ValMetric]:
    """The validation metrics for this data kind (defaults if `names` is None), unknown names refused."""
    kind = kind_of(signature)
    table = TABLES[kind.family]
    names = list(kind.val_metrics) if names is None else names
    bad = [n for n in names if n not in table]
    if bad:
        raise ConfigError(f"eval.metrics: {bad} not available for {signature.grid_kind} data; "
                          f"valid: {', '.join(table)}")
    return {n: table[n] for n in names}


class LeadScores:
    """Running sums of per-lead scores; `sums()` is one tensor to all-reduce, `result()` the metrics."""

    def __init__(self, signature: DataSignature, names: list[str] | None, denormalize: Callable) -> None:
        self.sig, self.table, self.denormalize = signature, metric_table(signature, names), denormalize
        self.kind = kind_of(signature)
        self.totals: dict[str, np.ndarray] = {}
        self.count = 0
        self.sq_norm = 0.0  # sum of squared normalised errors (val/loss = their mean)
        self.n_norm = 0
        self.weights = None
        if "lat" in self.kind.grid_dims:
            self.weights = M.lat_weights(xr.DataArray(np.asarray(signature.grid["lat"]), dims=("lat",), name="lat"))

    def _arrays(self, pred: torch.Tensor, truth: torch.Tensor) -> tuple[xr.DataArray, xr.DataArray]:
        if self.kind.physical_units:  # physical units, one score per variable
            p, t = (self.denormalize(a.float().cpu()).numpy() for a in (pred, truth))
            dims = ("init_time", "lead_time", "variable", "lat", "lon")
            coords = {"lat": self.sig.grid["lat"], "lon": self.sig.grid["lon"]}
        else:  # the model's [0, 1] scale, as OpenSTL scores video and traffic
            p, t = pred.float().cpu().numpy(), truth.float().cpu().numpy()
            dims, coords = ("init_time", "lead_time", "channel", "y", "x"), {}
        return xr.DataArray(p, dims=dims, coords=coords), xr.DataArray(t, dims=dims, coords=coords)

    def update(self, pred: torch.Tensor, truth: torch.Tensor) -> None:
        """Add a batch (B, T_out, C, H, W) of normalised predictions and targets."""
        self.sq_norm += float(((pred.float() - truth.float()) ** 2).sum())
        self.n_norm += truth.numel()
        f, o = self._arrays(pred, truth)
        for name, metric in self.table.items():
            kw = {"weights": self.weights} if self.weights is not None else {}
            per_time = metric.per_time(f, o, **kw).sum("init_time").values
            self.totals[name] = self.totals.get(name, 0.0) + per_time
        self.count += pred.shape[0]

    def sums(self) -> torch.Tensor:
        """All running sums flattened into one float64 tensor (order fixed by the metric table)."""
        width = self.sig.t_out * (len(self.sig.variables) if self.kind.per_variable else 1)
        parts = [np.asarray(self.totals.get(n, np.zeros(width)), dtype=np.float64).ravel() for n in self.table]
        return torch.from_numpy(np.concatenate([[self.count, self.sq_norm, self.n_norm], *parts]))

    def result(self, sums: torch.Tensor, prefix: str = "val") -> dict[str, float]:
        """Metric values from (reduced) `sums`: `{prefix}/loss` and `{prefix}/{metric}[/{var}]/{lead}`."""
        s = sums.double().numpy()
        count, sq, n = s[0], s[1], s[2]
        out = {f"{prefix}/loss": float(sq / n) if n else float("nan")}
        leads = self.sig.lead_labels()
        per_var = self.kind.per_variable
        width = len(leads) * (len(self.sig.variables) if per_var else 1)
        pos = 3
        for name, metric in self.table.items():
            vals = s[pos:pos + width] / max(count, 1)
            pos += width
            vals = np.sqrt(vals) if metric.sqrt else vals
            if per_var:
                grid = vals.reshape(len(leads), len(self.sig.variables))
                for j, v in enumerate(self.sig.variables):
                    out.update({f"{prefix}/{name}/{v}/{lead}": float(grid[i, j]) for i, lead in enumerate(leads)})
            else:
                out.update({f"{prefix}/{name}/{lead}": float(vals[i]) for i, lead in enumerate(leads)})
        return out


def persistence(x: torch.Tensor, t_out: int) -> torch.Tensor:
    """The last input frame repeated T_out times: the baseline every model must beat."""
    return x[:, -1:].expand(-1, t_out, *x.shape[2:])
