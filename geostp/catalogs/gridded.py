"""Shared helpers for gridded NetCDF/Zarr/GRIB sources: axes found by CF metadata, put in the standard names
and order, level selection, and per-file checks that grids and time steps agree (with both sides shown when they do not)."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from pathlib import Path

import numpy as np
import xarray as xr

from geostp.catalogs.base import infer_step, step_str
from geostp.catalogs.cfaxes import PRESSURE_UNITS, Axes, coord_role, find_axes
from geostp.catalogs.grib import is_grib, open_grib
from geostp.grid import normalize_lon
from geostp.errors import DataError
from geostp.timeaxis import Step, calendar_of


def _time_axis(da: xr.DataArray, axes: Axes, where: str) -> xr.DataArray:
    """Make the valid time one dim called `time`: swap in cfgrib's `valid_time`, join `step` into it,
    or expand a single-time file's scalar time coordinate."""
    steps = [d for d in da.dims if d in da.coords and coord_role(da[d]) == "forecast_period"]
    t = axes.time
    if t is not None and coord_role(da[t]) == "forecast_reference_time":
        valid = [c for c, v in da.coords.items() if c != t and v.dims == (t,) and coord_role(v) == "time"]
        if steps and da.sizes[steps[0]] > 1:  # forecasts: every (init, step) pair is one valid time
            s = steps[0]
            vt = (da[t] + da[s]).transpose(t, s).values.ravel()
            da = da.stack(_vt=(t, s)).drop_vars(["_vt", t, s], errors="ignore").reset_coords(drop=True)
            da = da.assign_coords(_vt=("_vt", vt)).sortby("_vt")
            if len(np.unique(vt)) != len(vt):
                raise DataError(f"{where}: several (time, step) pairs give the same valid time; select one step")
            return da.rename({"_vt": "time"})
        if valid:
            da = da.swap_dims({t: valid[0]})
            t = valid[0]
    for s in steps:
        if s in da.dims and da.sizes[s] == 1:
            da = da.squeeze(s)
    if t is None:
        scalars = [c for c, v in da.coords.items() if v.ndim == 0 and coord_role(v) == "time"]
        scalars += [c for c, v in da.coords.items() if v.ndim == 0 and coord_role(v) == "forecast_reference_time"]
        if not scalars:
            desc = ", ".join(f"{d}" for d in da.dims)
            raise DataError(
                f"{where} has no time axis (dims {desc}): geostp needs dates along a dimension, found by CF "
                "metadata (units '<unit> since <date>', standard_name time or axis T); give files whose time "
                "coordinate carries such units, or one file per date with a scalar time coordinate"
            )
        t = scalars[0]
        da = da.expand_dims(t)
    da = da.reset_coords(drop=True)
    return da.rename({t: "time"}) if t != "time" else da


def _level_dim(da: xr.DataArray) -> Hashable | None:
    dims = [d for d in da.dims if d in da.coords and coord_role(da[d]) == "level"]
    return dims[0] if dims else None


def _level_coord(da: xr.DataArray) -> Hashable | None:
    """The vertical coordinate: a level dim, or a scalar level coordinate (an extract file)."""
    dim = _level_dim(da)
    if dim is not None:
        return dim
    scalars = [c for c, v in da.coords.items() if v.ndim == 0 and coord_role(v) == "level"]
    return scalars[0] if scalars else None


def _in_hpa(coord: xr.DataArray) -> np.ndarray:
    """Level values in hPa for pressure coordinates (Pa, hPa, mbar), as they are otherwise (model levels)."""
    factor = PRESSURE_UNITS.get(str(coord.attrs.get("units", "")).strip().lower(), 1.0)
    return np.atleast_1d(coord.values).astype(np.float64) * factor


def level_is_pressure(da: xr.DataArray) -> bool:
    """True when the variable's vertical axis is a pressure axis (hPa, Pa, mbar)."""
    c = _level_coord(da)
    return c is not None and str(da[c].attrs.get("units", "")).strip().lower() in PRESSURE_UNITS


def level_label(value: float) -> str:
    """850.0 -> '850'; 0.5 -> '0.5' (used in channel names such as t850)."""
    return f"{value:g}"


def has_level_axis(da: xr.DataArray) -> bool:
    """True when the variable has a vertical dimension (a scalar height such as t2m's 2 m is not one)."""
    return _level_dim(da) is not None


def available_levels(da: xr.DataArray) -> list[float]:
    """The variable's levels (hPa for pressure levels; level numbers otherwise); empty without a level axis."""
    c = _level_coord(da)
    return [] if c is None else _in_hpa(da[c]).tolist()


def select_level(da: xr.DataArray, level: float | None, where: str) -> xr.DataArray:
    """Pick level `level` (hPa for pressure axes in hPa/Pa/mbar; the number for model levels) from the
    vertical axis found by CF metadata, or check a scalar level coordinate; the level coordinate is dropped."""
    c = _level_coord(da)
    if level is None:
        if c is not None and c in da.dims and da.sizes[c] > 1:
            levels = " ".join(level_label(v) for v in available_levels(da))
            raise DataError(
                f"{where} has a vertical axis {c!r} with levels {levels}: choose with --levels (e.g. --levels "
                f"{levels.split()[0]}) or NAME@LEVEL"
            )
        return da.squeeze(c, drop=True) if c is not None and c in da.dims else da.drop_vars(c) if c is not None else da
    if c is None:
        raise DataError(f"{where} has no vertical (level) axis, so level {level_label(level)} cannot be selected; "
                        "leave out --levels / @LEVEL for this variable")
    values = _in_hpa(da[c])
    hit = np.flatnonzero(np.isclose(values, float(level), rtol=0, atol=1e-6))
    if not len(hit):
        raise DataError(
            f"{where} has no level {level_label(level)}: its levels are {' '.join(level_label(v) for v in values)}"
            + (" hPa" if str(da[c].attrs.get("units", "")).lower() in PRESSURE_UNITS else "")
        )
    if c in da.dims:
        da = da.isel({c: int(hit[0])})
    return da.drop_vars(c)


def grid_kind(obj: xr.DataArray, where: str) -> tuple[str, Hashable, Hashable]:
    """(kind, row dim, col dim) of a source from CF metadata: latlon, or image for y/x pixels."""
    axes = find_axes(obj, where)
    return axes.kind, axes.row, axes.col


def unpack_dtype(da: xr.DataArray) -> xr.DataArray:
    """Integer-packed values (scale_factor/add_offset on int8/int16 in the file) as float32, not the float64
    xarray decodes them to: 16 bits of packed precision fit float32's 24-bit mantissa, at half the store size."""
    enc = da.encoding
    packed = "scale_factor" in enc or "add_offset" in enc
    src = np.dtype(enc.get("dtype", da.dtype))
    if packed and np.issubdtype(src, np.integer) and src.itemsize <= 2 and da.dtype == np.float64:
        return da.astype(np.float32)
    return da


def standardize(da: xr.DataArray, where: str, ds: xr.Dataset | None = None) -> xr.DataArray:
    """Axes found by CF metadata renamed to (time, lat, lon) (or y/x), latitude ascending, longitude
    normalised (`geostp.grid`), auxiliary coordinates dropped; integer-packed values become float32
    (`unpack_dtype`). Lazy: flips and rolls are index picks."""
    da = unpack_dtype(da)
    axes = find_axes(da, where, ds)
    da = _time_axis(da, axes, where)
    row, col = axes.row, axes.col
    if axes.kind == "latlon":
        da = da.rename({k: v for k, v in {row: "lat", col: "lon"}.items() if k != v})
        row, col = "lat", "lon"
        lat = np.asarray(da["lat"].values, dtype=np.float64)
        if len(lat) > 1 and lat[0] > lat[-1]:
            da = da.isel(lat=slice(None, None, -1))
        order, labels, _ = normalize_lon(da["lon"].values, where)
        if not np.array_equal(order, np.arange(da.sizes["lon"])):
            da = da.isel(lon=order)
        da = da.assign_coords(
            lat=("lat", np.asarray(da["lat"].values, dtype=np.float64),
                 {"units": "degrees_north", "standard_name": "latitude", "long_name": "latitude"}),
            lon=("lon", labels, {"units": "degrees_east", "standard_name": "longitude", "long_name": "longitude"}),
        )
    extra = [d for d in da.dims if d not in ("time", row, col)]
    for d in [d for d in extra if da.sizes[d] == 1]:  # e.g. a one-member ensemble axis
        da = da.squeeze(d, drop=True)
    extra = [d for d in da.dims if d not in ("time", row, col)]
    if extra:
        what = ", ".join(
            f"{d!r} ({da.sizes[d]}, {da[d].attrs.get('standard_name') or da[d].attrs.get('long_name') or 'no attributes'})"
            if d in da.coords else f"{d!r} ({da.sizes[d]})" for d in extra
        )
        raise DataError(
            f"{where} has dims {what} besides time, latitude and longitude: geostp prepares one field per channel "
            "(vertical levels with --levels); select one member/category first (e.g. xarray .sel) and prepare that"
        )
    return da.transpose("time", row, col)


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


def open_file(path: Path, name: str, level: float | None = None) -> xr.Dataset:
    """Open one NetCDF or GRIB file lazily (GRIB: the cfgrib hypercube holding `name`)."""
    if is_grib(path):
        return open_grib(path, name, levels=level is not None)
    try:  # opened lazily without dask; chunked after the level is picked (never a whole-file chunk)
        return xr.open_dataset(path)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is reported with its path
        raise DataError(f"cannot open {path} ({type(exc).__name__}: {exc})") from None


def open_series(
    files: Sequence[Path], name: str, level: float | None, label: str
) -> tuple[xr.DataArray, Step]:
    """Open variable `name` from each file lazily, check grids and steps agree, and join along time.

    Every file is checked against the first: a different grid or time step raises with both shown.
    Returns the standardised field (time, lat, lon) and its time step.
    """
    parts: list[tuple[Path, xr.DataArray]] = []
    ref: tuple[Path, xr.DataArray] | None = None
    ref_step: tuple[Path, Step] | None = None
    ref_cal: tuple[Path, str] | None = None
    for f in files:
        ds = open_file(f, name, level)
        if name not in ds.data_vars:
            raise DataError(f"{f} has no variable {name!r} (needed for {label}); it has: {', '.join(map(str, ds.data_vars))}")
        da = standardize(select_level(ds[name], level, f"{f}"), f"{f}", ds)
        da = da.chunk({"time": time_chunk(da)})
        cal = calendar_of(da["time"].values)
        if ref_cal is None:
            ref_cal = (f, cal)
        elif cal != ref_cal[1]:
            raise DataError(
                f"files have different calendars for {label}:\n  {ref_cal[0]}: {ref_cal[1]}\n  {f}: {cal}\n"
                "convert them to one calendar first (e.g. xarray's Dataset.convert_calendar, or `cdo setcalendar`)"
            )
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
    if ref_step is None:  # one date per file (e.g. a GRIB or NetCDF file per day): the step is across files
        if da.sizes["time"] < 2:
            raise DataError(f"{label}: the files hold a single time step, so the time step is unknown")
        return da, infer_step(da["time"].values, label)
    return da, ref_step[1]
