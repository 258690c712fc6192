"""TaxiBJ reader: the yearly `BJ1x_M32x32_T30_InOut.h5` files (ST-ResNet release), cleaned as ST-ResNet does.

Each file has `data` (n_slots, 2, 32, 32) and `date` byte strings `YYYYMMDDSS` (slot SS = 01..48, starting
at (SS-1) x 30 min). Incomplete days are removed by ST-ResNet's rule, negatives clipped to 0, and by
default the last 28 days are the test split (ST-ResNet's len_test = 48 x 28), the rest train.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from geostp.catalogs.base import CatalogReader, PrepareRequest, Source, cf_attrs
from geostp.catalogs.registry import register_catalog
from geostp.errors import DataError


@dataclass
class TaxiBJOptions:
    """File names, slots per day and the length of the test period."""

    files: list[str] = field(default_factory=list)
    slots_per_day: int = 48
    test_days: int = 28


def complete_day_mask(slots: list[str], per_day: int = 48) -> np.ndarray:
    """ST-ResNet's `remove_incomplete_days`: keep a date when its slot 01 is followed, `per_day - 1`
    entries later, by slot `per_day`; the walk then jumps a whole day (the later entry's date is not
    re-checked, exactly as in the reference)."""
    complete, i, n = set(), 0, len(slots)
    while i < n:
        if int(slots[i][8:]) != 1:
            i += 1
        elif i + per_day - 1 < n and int(slots[i + per_day - 1][8:]) == per_day:
            complete.add(slots[i][:8])
            i += per_day
        else:
            i += 1
    return np.array([s[:8] in complete for s in slots], bool)


def slot_times(slots: list[str], per_day: int = 48) -> np.ndarray:
    """`YYYYMMDDSS` -> datetime64 of the slot start: date + (SS - 1) x (24 h / per_day)."""
    days = pd.to_datetime([s[:8] for s in slots], format="%Y%m%d")
    minutes = (np.array([int(s[8:]) for s in slots]) - 1) * (24 * 60 // per_day)
    return (days + pd.to_timedelta(minutes, unit="min")).values.astype("datetime64[ns]")


@register_catalog("taxibj")
class TaxiBJReader(CatalogReader):
    """Reads the TaxiBJ flow files into inflow/outflow on (time, y, x), 30-minute steps."""

    Options = TaxiBJOptions

    def open(self, req: PrepareRequest) -> Source:
        root = self.root(req)
        names = self.variables(req)
        present = [root / f for f in self.options.files if (root / f).is_file()]
        missing = [f for f in self.options.files if not (root / f).is_file()]
        if not present:
            found = sorted(p.name for p in root.glob("*.h5"))
            raise DataError(
                f"no TaxiBJ flow files in {root}: expected {', '.join(self.options.files)}; "
                f".h5 files there: {', '.join(found) or '(none)'}"
            )
        notes = [f"{len(missing)} of the {len(self.options.files)} TaxiBJ files are missing from {root}: {', '.join(missing)}"] if missing else []
        parts, n_dropped = [], 0
        for f in present:
            ds = self._open_h5(f)
            slots = [s.decode() if isinstance(s, bytes) else str(s) for s in ds["date"].values]
            keep = complete_day_mask(slots, self.options.slots_per_day)
            n_dropped += int((~keep).sum())
            times = slot_times([s for s, k in zip(slots, keep) if k], self.options.slots_per_day)
            flow = ds["data"].isel({ds["data"].dims[0]: np.flatnonzero(keep)})
            flow = flow.rename(dict(zip(flow.dims, ("time", "channel", "y", "x")))).assign_coords(time=times)
            flow = flow.chunk({"time": 1024})
            parts.append((f, flow))
        parts.sort(key=lambda p: p[1]["time"].values[0])
        flow = xr.concat([p[1] for p in parts], dim="time")
        t = flow["time"].values
        if (np.diff(t) <= np.timedelta64(0)).any():
            k = int(np.argmax(np.diff(t) <= np.timedelta64(0)))
            raise DataError(f"TaxiBJ slots repeat or go backwards at {t[k]} -> {t[k + 1]} (files {[str(p[0].name) for p in parts]})")
        fields = {}
        for short in names:
            var = self.spec.variable(short)
            # ST-ResNet clips negative counts to 0
            fields[short] = flow.isel(channel=var.channel).clip(min=0).drop_vars("channel", errors="ignore").assign_attrs(cf_attrs(var))
        out = xr.Dataset(fields).assign_coords(y=np.arange(flow.sizes["y"]), x=np.arange(flow.sizes["x"]))
        notes.append(f"removed {n_dropped} slots of incomplete days (ST-ResNet rule)")
        split_rule = {}
        if req.splits is None:
            days = out["time"].values.astype("datetime64[D]")
            last = np.unique(days)[-self.options.test_days :]
            split = np.where(np.isin(days, last), "test", "train")
            out = out.assign_coords(split=("time", split))
            split_rule = {
                "train": f"all complete days before the last {self.options.test_days}",
                "test": f"the last {self.options.test_days} complete days ({last[0]} .. {last[-1]}), as ST-ResNet",
            }
        return Source(ds=out, time_step="30min", files=[str(p[0]) for p in parts], split_rule=split_rule, notes=notes)

    @staticmethod
    def _open_h5(path: Path) -> xr.Dataset:
        """Open a flow file lazily (plain HDF5 without dimension scales, hence phony dims)."""
        try:
            ds = xr.open_dataset(path, engine="h5netcdf", phony_dims="sort")  # lazy; chunked after cleaning
        except Exception as exc:  # noqa: BLE001 - report any unreadable file with its path
            raise DataError(f"cannot read {path} as HDF5 ({type(exc).__name__}: {exc})") from None
        for key in ("data", "date"):
            if key not in ds.variables:
                raise DataError(f"{path} has no `{key}` dataset; it has: {', '.join(map(str, ds.variables))}")
        if ds["data"].ndim != 4 or ds["data"].shape[1] < 2:
            raise DataError(f"{path}: `data` has shape {ds['data'].shape}, expected (n_slots, 2, 32, 32)")
        if ds["date"].shape[0] != ds["data"].shape[0]:
            raise DataError(f"{path}: `date` has {ds['date'].shape[0]} entries but `data` has {ds['data'].shape[0]} slots")
        return ds
