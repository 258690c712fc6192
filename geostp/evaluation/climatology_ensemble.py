"""The probabilistic climatology baseline of ensemble scores: members drawn from the train split's own years at
the same time of year and time of day as each valid time (as WeatherBench2's probabilistic climatology, whose
members are the same date in each climatological year; here widened to neighbouring days when the train split
has fewer years than the ensemble has members).

Members of valid time v: the `m` train-split times with v's time of day that are nearest to v in day of year
(circular, a 365-day year; 29 February counts as 1 March), never from v's own year. Ties at the same distance are spread over the
years in a low-discrepancy order (year index times the golden ratio, mod 1), so 8 members out of 37 years
are 8 years from across the record, not the first 8.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from geostp import timeaxis
from geostp.errors import DataError
from geostp.evaluation.baselines import _time_of_day
from geostp.evaluation.ensemble import MEMBER_DIM

NAME = "probabilistic_climatology"
_MONTH_START = np.concatenate([[0], np.cumsum([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])[:-1]])
_GOLDEN = (np.sqrt(5.0) - 1) / 2


def day_of_year(times: np.ndarray) -> np.ndarray:
    """Day of a 365-day year (0..364) from each time's month and day, in any calendar (29 Feb -> 1 Mar)."""
    f = timeaxis.fields(times)
    return np.minimum(_MONTH_START[f["month"] - 1] + f["day"] - 1, 364)


def member_times(train_times: np.ndarray, valid_times: np.ndarray, members: int) -> np.ndarray:
    """Indices into `train_times` (U, members) of the members of each of the U `valid_times`."""
    tod_t, tod_v = _time_of_day(train_times), _time_of_day(valid_times)
    doy_t, doy_v = day_of_year(train_times), day_of_year(valid_times)
    years, years_v = timeaxis.fields(train_times)["year"], timeaxis.fields(valid_times)["year"]
    tie = ((years - years.min()) * _GOLDEN) % 1.0 * 0.5  # < 0.5 day: orders ties only
    out = np.empty((len(valid_times), members), np.int64)
    for tod in np.unique(tod_v):
        cand = np.flatnonzero(tod_t == tod)
        rows = np.flatnonzero(tod_v == tod)
        d = np.abs(doy_v[rows, None] - doy_t[None, cand])
        d = np.minimum(d, 365 - d) + tie[None, cand]
        d[years_v[rows, None] == years[None, cand]] = np.inf  # never the verified year itself (train-split scores)
        if (np.isfinite(d).sum(axis=1) < members).any():
            raise DataError(f"the train split has fewer than {members} times at the time of day "
                            f"{int(tod) // 3600:02d}:{int(tod) % 3600 // 60:02d} outside the verified year, too few "
                            "for the probabilistic climatology's members: give a longer train split")
        out[rows] = cand[np.argsort(d, axis=1, kind="stable")[:, :members]]
    return out


def climatology_ensemble(truth: xr.Dataset, variables: Sequence[str], valid_time: xr.DataArray, members: int,
                         split: str = "train") -> xr.Dataset:
    """The probabilistic climatology at `valid_time` (any dims, e.g. init_time x lead_time): per variable
    (*valid_time.dims, member, <grid>), each member a `split` time of the truth (see the module docstring)."""
    if members < 2:
        raise DataError(f"the probabilistic climatology needs at least 2 members, got {members}")
    if "split" not in truth.coords or not timeaxis.is_datetime(truth["time"].values):
        raise DataError("the probabilistic climatology needs a dated truth store with a `split` coordinate")
    in_split = np.flatnonzero(truth["split"].values == split)
    if len(in_split) == 0:
        raise DataError(f"the truth store has no {split!r} split to draw the probabilistic climatology from")
    flat = np.ravel(valid_time.values)
    uniq, inverse = np.unique(flat, return_inverse=True)
    picks = in_split[member_times(truth["time"].values[in_split], uniq, members)]  # (U, m) store positions
    rows, where = np.unique(picks, return_inverse=True)
    out = xr.Dataset()
    for v in variables:
        grid = [d for d in truth[v].dims if d != "time"]
        fields = truth[v].isel(time=rows).values[where.reshape(picks.shape)]  # (U, m, *grid)
        arr = fields[inverse].reshape(*valid_time.shape, members, *fields.shape[2:])
        out[v] = xr.DataArray(arr, dims=(*valid_time.dims, MEMBER_DIM, *grid), attrs=dict(truth[v].attrs))
    grid_coords = {d: truth[d] for v in variables for d in truth[v].dims if d != "time" and d in truth.coords}
    out = out.assign_coords(grid_coords).assign_coords({c: valid_time[c] for c in valid_time.coords})
    out.attrs["climatology_method"] = (f"{members} {split}-split times nearest in day of year at the valid time's "
                                       "time of day (geostp.evaluation.climatology_ensemble)")
    return out

