"""Shared helpers for gridded NetCDF/Zarr sources: standard grid names and order, level selection, and
per-file checks that grids and time steps agree (with both sides shown when they do not)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from geostp.catalogs.base import infer_step, step_str
from geostp.errors import DataError

GRID_NAMES = (("lat", "lon"), ("latitude", "longitude"), ("y", "x"))


def grid_kind(obj: xr.Dataset | xr.DataArray, where: str) -> tuple[str, str, str]:
    """(kind, row dim, col dim) of a source: latlon for lat/lon or latitude/longitude, image for y/x."""
    for row, col in GRID_NAMES:
        if row in obj.dims and col in obj.dims:
            return ("image" if row == "y" else "latlon"), row, col
    raise DataError(
        f"{where} has dims {tuple(obj.dims)}: expected a grid named lat/lon, latitude/longitude or y/x"
    )


def standardize(da: xr.DataArray, where: str) -> xr.DataArray:
    """Rename the grid to lat/lon (or keep y/x), make latitude ascending, order dims (time, row, col).

    Lazy throughout: reversing latitude is an index flip, never a load.
    """
    if "time" not in da.dims:
        raise DataError(f"{where} has no `time` dimension (dims {tuple(da.dims)})")
    kind, row, col = grid_kind(da, where)
    if kind == "latlon":
        da = da.rename({row: "lat", col: "lon"}) if row != "lat" else da
        row, col = "lat", "lon"
        lat = da["lat"].values
        if len(lat) > 1 and lat[0] > lat[-1]:
            da = da.isel(lat=slice(None, None, -1))
    extra = [d for d in da.dims if d not in ("time", row, col)]
    if extra:
        raise DataError(f"{where} still has dims {extra} after level selection; expected (time, {row}, {col})")
    return da.transpose("time", row, col)


def select_level(da: xr.DataArray, level: int | None, where: str) -> xr.DataArray:
    """Pick pressure level `level` (hPa) from a `level` dim or check a scalar `level` coord; drop it."""
    if level is None:
        if "level" in da.dims:
            raise DataError(f"{where} has a `level` dim {da['level'].values.tolist()}: name one level, e.g. NAME@500")
        return da.drop_vars("level", errors="ignore")
    if "level" not in da.coords:
        raise DataError(f"{where} has no `level` coordinate, so level {level} hPa cannot be selected")
    levels = np.atleast_1d(da["level"].values)
    if level not in levels.astype(float):
        raise DataError(f"{where} has levels {levels.tolist()}, not {level} hPa")
    if "level" in da.dims:
        da = da.sel(level=level)
    return da.drop_vars("level")


def describe_grid(da: xr.DataArray) -> str:
    """One line: shape and coordinate ranges of the grid."""
    row, col = da.dims[-2], da.dims[-1]
    r, c = da[row].values, da[col].values
    if np.issubdtype(r.dtype, np.number) and len(r) and len(c):
        return f"{len(r)}x{len(c)} ({row} {r[0]:g}..{r[-1]:g}, {col} {c[0]:g}..{c[-1]:g})"
    return f"{len(r)}x{len(c)}"


def same_grid(a: xr.DataArray, b: xr.DataArray) -> bool:
    """True when two standardised fields share grid dims and coordinates."""
    if a.dims[-2:] != b.dims[-2:]:
        return False
    return all(
        a.sizes[d] == b.sizes[d] and np.allclose(a[d].values, b[d].values, atol=1e-6) for d in a.dims[-2:]
    )


def time_chunk(da: xr.DataArray, target_bytes: int = 2**25) -> int:
    """Frames per dask chunk for reading (~32 MiB), whatever the resolution."""
    frame = int(np.prod([da.sizes[d] for d in da.dims if d != "time"])) * da.dtype.itemsize
    return max(1, target_bytes // max(frame, 1))


def open_series(
    files: Sequence[Path], name: str, level: int | None, label: str, open_kwargs: dict | None = None
) -> tuple[xr.DataArray, pd.Timedelta]:
    """Open variable `name` from each file lazily, check grids and steps agree, and join along time.

    Every file is checked against the first: a different grid or time step raises with both shown.
    Returns the standardised field (time, lat, lon) and its time step.
    """
    parts: list[tuple[Path, xr.DataArray]] = []
    ref: tuple[Path, xr.DataArray] | None = None
    ref_step: tuple[Path, pd.Timedelta] | None = None
    for f in files:
        try:  # opened lazily without dask; chunked after the level is picked (never a whole-file chunk)
            ds = xr.open_dataset(f, **(open_kwargs or {}))
        except Exception as exc:  # noqa: BLE001 - any unreadable file is reported with its path
            raise DataError(f"cannot open {f} ({type(exc).__name__}: {exc})") from None
        if name not in ds.data_vars:
            raise DataError(f"{f} has no variable {name!r} (needed for {label}); it has: {', '.join(map(str, ds.data_vars))}")
        da = standardize(select_level(ds[name], level, f"{f}"), f"{f}")
        da = da.chunk({"time": time_chunk(da)})
        if ref is None:
            ref = (f, da)
        elif not same_grid(ref[1], da):
            raise DataError(
                f"grids disagree for {label}:\n  {ref[0]}: {describe_grid(ref[1])}\n  {f}: {describe_grid(da)}"
            )
        if da.sizes["time"] > 1:
            st = infer_step(da["time"].values, str(f))
            if ref_step is None:
                ref_step = (f, st)
            elif st != ref_step[1]:
                raise DataError(
                    f"time steps disagree for {label}:\n  {ref_step[0]}: {step_str(ref_step[1])}\n  {f}: {step_str(st)}"
                )
        parts.append((f, da))
    if not parts:
        raise DataError(f"no files for {label}")
    parts.sort(key=lambda p: p[1]["time"].values[0])
    for (fa, a), (fb, b) in zip(parts, parts[1:]):
        if a["time"].values[-1] >= b["time"].values[0]:
            raise DataError(
                f"files overlap in time for {label}:\n  {fa}: {a['time'].values[0]} .. {a['time'].values[-1]}\n"
                f"  {fb}: {b['time'].values[0]} .. {b['time'].values[-1]}"
            )
    da = xr.concat([p[1] for p in parts], dim="time", coords="minimal", compat="override", join="override")
    if ref_step is None:
        raise DataError(f"{label}: every file holds a single time step, so the time step is unknown")
    return da, ref_step[1]
