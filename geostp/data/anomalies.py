"""Anomalies: frames minus the train-split climatology of their calendar month, for runs on calendar-step stores.

With `data.anomalies: true` (the default of quick runs on monthly, seasonal and yearly stores) a model sees and
predicts x - clim(group of x's time), in normalised units: the windows subtract the climatology of each frame's
calendar month (the forecast inputs likewise), and the forecast adds the climatology of each *valid* time's month
back. A forecast of zero anomaly is then the climatology itself, so long leads relax to it instead of having to
learn the seasonal cycle from a few years of data. The climatology is the scorecard's
(`geostp.evaluation.baselines.compute_climatology` of the train split: the mean per calendar month on monthly and
seasonal stores, the train-period mean on yearly ones) and is stored with the run (`anomalies.safetensors`).
Times are grouped through `geostp.timeaxis`, so months are calendar-correct in every CF calendar.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from geostp import timeaxis
from geostp.errors import ConfigError, DataError, StoreError
from geostp.registry import Registry

FILE_NAME = "anomalies.safetensors"

#: What a climatology groups times by (`compute_climatology`'s `group_by` attribute) -> the group key of each time.
GROUP_KEYS: Registry[Callable[[np.ndarray], np.ndarray]] = Registry("climatology grouping")
GROUP_KEYS.register("month")(lambda t: timeaxis.fields(t)["month"].astype(np.int64))
GROUP_KEYS.register("time_of_day")(
    lambda t: (timeaxis.ordinal_us(t) // 10**6) % 86400 if timeaxis.is_datetime(t) else np.zeros(np.shape(t), np.int64))


@dataclass(frozen=True)
class Anomalies:
    """A climatology per group (calendar month) and channel on the grid: physical (`clim`) and normalised (`norm`)."""

    group_by: str
    keys: np.ndarray  # (G,) int64, ascending: the group keys (calendar months 1-12, or seconds since midnight)
    clim: np.ndarray  # (G, C, H, W) float32, physical units (NaN at masked cells)
    norm: np.ndarray  # (G, C, H, W) float32, normalised with the run's statistics (0 at masked cells)

    @classmethod
    def from_climatology(cls, clim: Any, variables: Sequence[str], normalizer: Any) -> Anomalies:
        """From a `compute_climatology` Dataset without harmonics (calendar-step stores), normalised by `normalizer`."""
        if int(clim.attrs.get("harmonics", 0)) or clim.sizes.get("coef", 1) != 1:
            raise ConfigError("data.anomalies needs a climatology without annual harmonics: a store with calendar "
                              "steps (month, 3month, year); sub-monthly stores train on plain normalised values")
        table = np.stack([clim[v].isel(coef=0).values if "coef" in clim[v].dims else clim[v].values
                          for v in variables], axis=1).astype(np.float32)  # (G, C, H, W)
        norm = np.nan_to_num(normalizer.normalize(table), nan=0.0).astype(np.float32)
        return cls(str(clim.attrs.get("group_by", "month")), np.asarray(clim["time_of_day"].values, np.int64),
                   table, norm)

    def group_index(self, times: Any) -> np.ndarray:
        """Index into the table of each time (same shape as `times`); DataError for a group the climatology lacks."""
        want = np.asarray(GROUP_KEYS.get(self.group_by)(np.asarray(times)), np.int64)
        pos = np.clip(np.searchsorted(self.keys, want), 0, len(self.keys) - 1)
        bad = self.keys[pos] != want
        if bad.any():
            raise DataError(f"the run's climatology has no {self.group_by} {sorted(set(want[bad].tolist()))[:5]} "
                            f"(its train split had {self.keys.tolist()}): train on a split covering every "
                            "calendar month, or set data.anomalies: false")
        return pos

    def subtract(self, frames: np.ndarray, index: np.ndarray) -> None:
        """frames (..., C, H, W), normalised, minus the normalised climatology of group `index` (frames.shape[:-3]),
        in place, one frame at a time (no block-sized temporary)."""
        flat = frames.reshape(-1, *frames.shape[-3:])
        for f, g in zip(flat, np.ravel(index)):
            np.subtract(f, self.norm[g], out=f)

    def restore(self, anomalies: np.ndarray, index: np.ndarray, scale: np.ndarray) -> np.ndarray:
        """Physical values of normalised anomalies (..., C, H, W): anomaly * scale + clim[index] (float32;
        a zero anomaly gives the climatology bit for bit)."""
        sc = np.asarray(scale, np.float32)[:, None, None]
        return (anomalies.astype(np.float32) * sc + self.clim[index]).astype(np.float32)

    # ----------------------------------------------------------------------------- stored with the run
    def save(self, path: str | Path) -> None:
        """Write to `path` (safetensors, atomically)."""
        from safetensors.numpy import save

        from geostp.io import atomic_write_bytes

        atomic_write_bytes(path, save({"keys": self.keys, "clim": self.clim, "norm": self.norm},
                                      metadata={"group_by": self.group_by}))

    @classmethod
    def load(cls, path: str | Path) -> Anomalies:
        """Read what `save` wrote."""
        from safetensors import safe_open

        try:
            with safe_open(str(path), "np") as fh:
                meta = fh.metadata() or {}
                arrays = {k: fh.get_tensor(k) for k in ("keys", "clim", "norm")}
        except Exception as exc:  # noqa: BLE001 - a torn or foreign file: one line naming it
            raise StoreError(f"{path} is unreadable ({type(exc).__name__}): retrain the run") from None
        return cls(meta.get("group_by", "month"), arrays["keys"], arrays["clim"], arrays["norm"])


def read_run_anomalies(run_dir: str | Path) -> Anomalies | None:
    """The anomaly climatology stored with a run, or None for a run trained on plain normalised values."""
    path = Path(run_dir) / FILE_NAME
    return Anomalies.load(path) if path.is_file() else None
