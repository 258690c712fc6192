"""Missing dates (a month, a day, an hour absent from the files): skip them, or fill them lazily.

`skip` (the default) leaves the time axis as it is: windows never span a missing date, because the store's
segments break at every step that is not exactly one step (`geostp.timeaxis.one_step`). `interpolate` and
`nearest` insert the missing dates, computed from the neighbouring dates in step counts (a single missing
month is the mean of the months either side). What was missing and how it was treated goes to provenance.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import xarray as xr

from geostp import timeaxis
from geostp.errors import ConfigError, DataError

#: the largest share of the filled series that may be invented before prepare refuses
MAX_FILLED_SHARE = 0.1
#: skipped dates listed in provenance (all are counted; a gappy half-hourly record can miss thousands)
MAX_LISTED = 100


def _weights_interpolate(k: np.ndarray, have: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(previous index, next index, weight of next) in `have` for each missing step number `k`."""
    nxt = np.searchsorted(have, k)
    prev = nxt - 1
    w = (k - have[prev]) / (have[nxt] - have[prev])
    return prev, nxt, w


def _weights_nearest(k: np.ndarray, have: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    prev, nxt, w = _weights_interpolate(k, have)
    return prev, nxt, (w > 0.5).astype(np.float64)  # ties go to the earlier date


POLICIES: dict[str, Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]] | None] = {
    "skip": None, "interpolate": _weights_interpolate, "nearest": _weights_nearest,
}


def missing_steps(time: np.ndarray, step: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(indices of the times on the regular grid, their step numbers counted from the first time, the step
    numbers absent between the first and the last). Times off the grid are left alone (they break segments)."""
    pos, amount = timeaxis.step_position(time, step)
    rel = np.asarray(pos, dtype=np.int64) - int(pos[0])
    idx = np.flatnonzero(rel % amount == 0)
    k = rel[idx] // amount
    return idx, k, np.setdiff1d(np.arange(int(k[-1]) + 1), k)


def fill_missing_dates(ds: xr.Dataset, step: str, policy: str) -> tuple[xr.Dataset, dict]:
    """`ds` with its missing dates skipped (unchanged) or filled; and the provenance entry."""
    if policy not in POLICIES:
        raise ConfigError(f"--missing {policy!r}: choose one of {', '.join(POLICIES)}")
    time = ds["time"].values
    if timeaxis.parse_step(step).kind == "frames" or len(time) < 2:
        return ds, {"policy": policy, "count": 0, "missing": []}
    idx, k, absent = missing_steps(time, step)
    t0 = time[0]
    dates = timeaxis.add_steps(np.array([t0] * len(absent), dtype=time.dtype), step, absent) if len(absent) else time[:0]
    fill = POLICIES[policy]
    listed = dates if fill is not None else dates[:MAX_LISTED]  # every filled date; the first skipped ones
    entry = {"policy": policy, "count": int(len(absent)), "missing": [timeaxis.format_time(t) for t in listed]}
    if fill is None or not len(absent):
        return ds, entry
    if len(absent) > MAX_FILLED_SHARE * (len(k) + len(absent)):
        raise DataError(
            f"--missing {policy} would invent {len(absent)} of {len(k) + len(absent)} time steps (first missing "
            f"{entry['missing'][0]}); that is more than {MAX_FILLED_SHARE:.0%}: use --missing skip (windows then "
            "never span a missing date) or give the missing files"
        )
    prev, nxt, w = fill(absent, k)
    ia, ib = idx[prev], idx[nxt]
    wt = xr.DataArray(w, dims="time")
    fields = [v for v in ds.data_vars if "time" in ds[v].dims]
    a = ds[fields].isel(time=ia).drop_vars("time")
    b = ds[fields].isel(time=ib).drop_vars("time")
    new = (a * (1 - wt) + b * wt).assign_coords(time=("time", dates))
    for v in fields:
        new[v] = new[v].astype(ds[v].dtype).assign_attrs(ds[v].attrs)
    out = xr.concat([ds[fields], new], dim="time").sortby("time")
    out = out.merge(ds.drop_vars(fields).drop_dims("time", errors="ignore"))
    out.attrs = ds.attrs
    return out, entry
