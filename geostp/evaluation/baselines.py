"""Reference forecasts on the forecast's own init times: persistence, climatology, and the truth they share.

The climatology is computed from the **train split** of the truth store: per time of day and grid point,
a least-squares fit of the mean plus the first 3 annual harmonics (a smoothed day-of-year x hour
climatology; WB2 smooths 30 years with a 61-day window instead, which needs many more years than a
train split usually has). Stores without datetimes (video) or with under a year of train data get the
plain train mean per time of day and grid point. Monthly stores (calendar steps shorter than a year) get
the train mean per calendar month; yearly stores the train-period mean. Any CF calendar (cftime) works:
the annual phase uses the calendar's own year length. Nothing is written to the store.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import xarray as xr

from geostp import timeaxis
from geostp.errors import DataError, GeostpError

TROPICAL_YEAR_DAYS = 365.2422
DEFAULT_HARMONICS = 3
_EPOCH_US = 946684800 * 10**6  # 2000-01-01T00:00 in microseconds since 1970 (same in every calendar's count)


YEAR_DAYS = {"360_day": 360.0, "noleap": 365.0, "all_leap": 366.0, "julian": 365.25}


def _is_datetime(values: np.ndarray) -> bool:
    return timeaxis.is_datetime(values)


def _time_of_day(times: np.ndarray) -> np.ndarray:
    """Seconds since midnight (datetimes, any calendar) or zeros (frame counters)."""
    times = np.asarray(times)
    if not _is_datetime(times):
        return np.zeros(len(np.ravel(times)), np.int64).reshape(np.shape(times))
    return (timeaxis.ordinal_us(times) // 10**6) % 86400


def _group_key(times: np.ndarray, by: str) -> np.ndarray:
    """What the climatology is grouped by: seconds since midnight, or the calendar month (1-12)."""
    if by == "month":
        return timeaxis.fields(times)["month"]
    return _time_of_day(times)


def _design(times: np.ndarray, harmonics: int) -> np.ndarray:
    """Design matrix (..., 1 + 2K): 1, cos(k phase), sin(k phase) with phase = 2 pi t / year (the tropical
    year, or the calendar's own year for 360_day, noleap, all_leap and julian)."""
    times = np.asarray(times)
    cols = [np.ones(times.shape)]
    if harmonics:
        days = (timeaxis.ordinal_us(times) - _EPOCH_US) / 86400e6
        phase = 2 * np.pi * days / YEAR_DAYS.get(timeaxis.calendar_of(times), TROPICAL_YEAR_DAYS)
        for k in range(1, harmonics + 1):
            cols += [np.cos(k * phase), np.sin(k * phase)]
    return np.stack(cols, axis=-1)


def harmonic_design(times: np.ndarray, harmonics: int) -> np.ndarray:
    """Design matrix (..., 1 + 2K) of the climatology fit at `times`: 1, cos(k phase), sin(k phase)."""
    return _design(times, harmonics)


def group_keys(times: np.ndarray, kind: str = "time_of_day") -> np.ndarray:
    """The climatology group of each time: seconds since midnight ("time_of_day") or calendar month 1-12 ("month")."""
    if kind == "time_of_day":
        return _time_of_day(times)
    if kind == "month" and _is_datetime(times):
        t = np.asarray(times, dtype="datetime64[M]")
        return (t.astype(np.int64) % 12 + 1).astype(np.int64)
    raise DataError(f"unknown climatology group kind {kind!r} for times of dtype {np.asarray(times).dtype}")


def compute_climatology(truth: xr.Dataset, variables: Sequence[str], split: str = "train",
                        harmonics: int = DEFAULT_HARMONICS) -> xr.Dataset:
    """Climatology coefficients from one split of a store: per variable (time_of_day, coef, <grid>).

    Evaluate it at any times with `climatology_at`. Dask-friendly: one pass of X^T Y per time of day.
    """
    import dask

    if "split" not in truth.coords:
        raise DataError("the truth store has no `split` coordinate; the climatology is fitted on its train split")
    sel = np.flatnonzero(truth["split"].values == split)
    if len(sel) == 0:
        raise DataError(f"the truth store has no {split!r} split to compute a climatology from")
    part = truth.isel(time=sel)
    times = part["time"].values
    span_days = 0.0
    if _is_datetime(times):
        span_days = float(timeaxis.ordinal_us(times[-1:])[0] - timeaxis.ordinal_us(times[:1])[0]) / 86400e6
    step = _store_step(truth)
    by = "month" if step is not None and step.kind == "calendar" and step.months < 12 else "time_of_day"
    k = harmonics if span_days >= 365 and (step is None or step.kind != "calendar") else 0
    tod = _group_key(times, by)
    groups = np.unique(tod)
    x_all = _design(times, k)
    lazy = {}
    for v in variables:
        da = part[v].astype("float64")
        per_group = []
        for g in groups:
            idx = np.flatnonzero(tod == g)
            x = x_all[idx]
            xtx_inv = np.linalg.pinv(x.T @ x)
            xg = xr.DataArray(x, dims=("time", "coef"))
            xty = xr.dot(xg, da.isel(time=idx).drop_vars([c for c in da.coords if "time" in da[c].dims]), dim="time")
            per_group.append(xr.dot(xr.DataArray(xtx_inv, dims=("coef_out", "coef")), xty, dim="coef")
                             .rename(coef_out="coef"))
        lazy[v] = xr.concat(per_group, dim="time_of_day")
    (computed,) = dask.compute(lazy)
    out = xr.Dataset({v: computed[v].astype(np.float32) for v in variables})
    out = out.assign_coords(time_of_day=("time_of_day", groups), coef=("coef", np.arange(1 + 2 * k)))
    out["time_of_day"].attrs["units"] = "month" if by == "month" else "s"
    method = (f"train-split least-squares fit per time of day and grid point of the mean + {k} annual harmonics"
              if k else "train-split mean per calendar month and grid point" if by == "month"
              else "train-split mean per time of day and grid point")
    out.attrs.update({"climatology_method": method, "climatology_split": split, "harmonics": k, "group_by": by,
                      "climatology_period": f"{_fmt(times[0])} .. {_fmt(times[-1])}"})
    for v in variables:
        out[v].attrs = {a: truth[v].attrs[a] for a in ("units", "long_name", "standard_name") if a in truth[v].attrs}
    return out


def _store_step(truth: xr.Dataset) -> timeaxis.Step | None:
    try:
        return timeaxis.parse_step(truth.attrs.get("time_step", ""))
    except GeostpError:
        return None


def _fmt(t: object) -> str:
    return timeaxis.format_time(t)


def climatology_at(clim: xr.Dataset, times: np.ndarray | xr.DataArray) -> xr.Dataset:
    """The climatology evaluated at `times` (any shape; a DataArray keeps its dims and coords)."""
    da_times = times if isinstance(times, xr.DataArray) else xr.DataArray(np.asarray(times), dims=("time",))
    values = da_times.values
    by = clim.attrs.get("group_by", "time_of_day")
    tod = _group_key(values, by)
    groups = clim["time_of_day"].values
    pos = np.searchsorted(groups, tod)
    pos = np.clip(pos, 0, len(groups) - 1)
    bad = groups[pos] != tod
    if bad.any() and by == "month":
        raise DataError(f"the climatology has no values for calendar month(s) {sorted(set(np.ravel(tod[bad]).tolist()))} "
                        f"(the train split has months {groups.tolist()}): give a train split covering every month")
    if bad.any():
        missing = sorted({int(s) for s in np.ravel(tod[bad])})
        raise DataError(
            f"the climatology has no values for time(s) of day {[f'{s // 3600:02d}:{s % 3600 // 60:02d}' for s in missing]} "
            f"(the train split has {[f'{s // 3600:02d}:{s % 3600 // 60:02d}' for s in groups]})"
        )
    k = int(clim.attrs.get("harmonics", 0))
    # Evaluate once per distinct time (valid times repeat across inits), group by time of day, then scatter.
    flat = np.ravel(values)
    uniq, inverse = np.unique(flat, return_inverse=True)
    upos = np.ravel(pos)[np.unique(inverse, return_index=True)[1]]
    design = _design(uniq, k) if k else np.ones((len(uniq), 1))
    out = xr.Dataset()
    for v in clim.data_vars:
        coefs = clim[v].values  # (time_of_day, coef, *grid)
        grid_shape = coefs.shape[2:]
        table = np.empty((len(uniq), int(np.prod(grid_shape))), np.float32)
        for g in np.unique(upos):
            sel = upos == g
            table[sel] = design[sel] @ coefs[g].reshape(coefs.shape[1], -1)
        arr = table[inverse].reshape(*np.shape(values), *grid_shape)
        grid_dims = clim[v].dims[2:]
        out[v] = xr.DataArray(arr, dims=(*da_times.dims, *grid_dims), attrs=dict(clim[v].attrs))
    out = out.assign_coords({d: clim[d] for d in clim.dims if d not in ("time_of_day", "coef") and d in clim.coords})
    return out.assign_coords({c: da_times[c] for c in da_times.coords})


def truth_positions(truth_time: np.ndarray, times: np.ndarray, what: str = "valid times") -> np.ndarray:
    """Indices of `times` in the truth's time axis; a DataError names the missing ones and the truth range."""
    index = pd.Index(truth_time)
    pos = index.get_indexer(np.ravel(times))
    if (pos < 0).any():
        missing = np.ravel(times)[pos < 0]
        raise DataError(
            f"the truth store lacks {len(np.unique(missing))} of the forecast's {what} (first missing {_fmt(missing[0])}); "
            f"it covers {_fmt(truth_time[0])} .. {_fmt(truth_time[-1])}: give a truth store that covers the forecast "
            "or forecast init times inside it"
        )
    return pos.reshape(np.shape(times))


def truth_at(truth: xr.Dataset, variables: Sequence[str], times: xr.DataArray, what: str = "valid times") -> xr.Dataset:
    """Truth fields at `times` (e.g. valid_time(init_time, lead_time)), loaded into memory."""
    pos = truth_positions(truth["time"].values, times.values, what)
    uniq, inverse = np.unique(pos, return_inverse=True)
    out = xr.Dataset()
    for v in variables:
        block = truth[v].isel(time=uniq).values
        arr = block[inverse.reshape(pos.shape)]
        grid = [d for d in truth[v].dims if d != "time"]
        out[v] = xr.DataArray(arr, dims=(*times.dims, *grid), attrs=dict(truth[v].attrs))
    grid_coords = {d: truth[d] for v in variables for d in truth[v].dims if d != "time" and d in truth.coords}
    return out.assign_coords(grid_coords).assign_coords({c: times[c] for c in times.coords})


def persistence_forecast(truth: xr.Dataset, variables: Sequence[str], init_time: xr.DataArray,
                         lead_time: xr.DataArray) -> xr.Dataset:
    """Persistence: the truth at the init time, repeated for every lead (WB2's definition)."""
    at_init = truth_at(truth, variables, init_time, what="init times")
    return at_init.expand_dims(lead_time=lead_time.values, axis=1).assign_coords(lead_time=lead_time)
