"""`geostp data check PATH... [--var NAME]`: what geostp sees in any file, glob or Zarr store, before anything
is written: variables, units, grid and its axes, calendar and step, levels, the NaN pattern (a static mask
or missing values), what prepare would do, and the exact prepare command to run.

It reads through the same code as `geostp data prepare custom` (CF axis finding, level selection, the time
axis), so what it reports is what prepare will do; problems prepare would stop on are reported as such.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import xarray as xr

from geostp import timeaxis
from geostp.errors import DataError, GeostpError


@dataclass
class VariableReport:
    """What geostp sees in one variable (lines to print) and the prepare arguments it suggests."""

    name: str
    lines: list[str] = field(default_factory=list)
    usable: bool = False
    levels: list[float] = field(default_factory=list)
    years: tuple[int, int] | None = None
    needs_fill: bool = False


def is_geostp_store(path: str) -> bool:
    """Whether `path` is a geostp store (a Zarr group with geostp_format = geostp-store, complete or not)."""
    import json

    p = Path(path)
    try:
        if (p / ".zattrs").is_file():  # Zarr format 2
            attrs = json.loads((p / ".zattrs").read_text())
        elif (p / "zarr.json").is_file():  # Zarr format 3: the group's attributes are inside its zarr.json
            attrs = json.loads((p / "zarr.json").read_text()).get("attributes") or {}
        else:
            return False
        return attrs.get("geostp_format") == "geostp-store"
    except (OSError, ValueError, AttributeError):
        return False


def _sources(paths: Sequence[str]) -> tuple[list[Path], str | None]:
    """NetCDF/GRIB files of the paths (globs and folders expanded), or one Zarr store."""
    from geostp.catalogs.custom import CustomReader, _is_zarr

    if len(paths) == 1 and _is_zarr(paths[0]):
        if "://" not in paths[0] and not Path(paths[0]).expanduser().exists():
            raise DataError(f"{paths[0]}: no such Zarr store; give an existing store, NetCDF/GRIB file, glob or folder")
        return [], paths[0]
    files: list[Path] = []
    for p in paths:
        files += CustomReader._source_files(p)
    return sorted(set(files)), None


def _candidates(ds: xr.Dataset) -> list[str]:
    """Data variables with at least two dimensions (bounds, grid-mapping and scalar variables are not data)."""
    return [str(v) for v, da in ds.data_vars.items() if da.ndim >= 2 and "bnds" not in v and not str(v).endswith("_bounds")
            and not any(str(d).startswith(("bnds", "nv", "bounds")) for d in da.dims)]


def _nan_pattern(da: xr.DataArray) -> tuple[str, bool]:
    """Describe NaNs: none, a static mask (NaN at every time), or values that come and go (prepare stops)."""
    isnan = da.isnull()
    per_cell = isnan.sum("time").values
    n_time = da.sizes["time"]
    if not per_cell.any():
        return "no NaN values", False
    always = per_cell == n_time
    sometimes = (per_cell > 0) & ~always
    n_cells = per_cell.size
    parts = []
    if always.any():
        parts.append(f"{int(always.sum())} of {n_cells} cells ({100 * always.mean():.1f}%) are NaN at every time: "
                     "a static mask (land/ocean); prepare stores it, losses and metrics ignore it")
    if sometimes.any():
        ti = int(np.argmax(np.asarray(isnan.where(sometimes, False).any([d for d in da.dims if d != "time"]))))
        t = timeaxis.format_time(da["time"].values[ti])
        parts.append(f"{int(sometimes.sum())} cells are NaN at some times only (first at time={t}): missing values; "
                     "prepare stops unless --fill VALUE|mean|nearest")
    return "; ".join(parts), bool(sometimes.any())


def check_variable(files: list[Path], store: str | None, name: str) -> VariableReport:
    """Open one variable as prepare would and describe it."""
    from geostp.catalogs.cfaxes import find_axes
    from geostp.catalogs.gridded import (available_levels, has_level_axis, level_label, open_file, open_series,
                                         select_level, standardize)
    from geostp.grid import is_periodic_lon

    rep = VariableReport(name)
    try:
        raw_ds = xr.open_zarr(store) if store else open_file(files[0], name, None)
        raw = raw_ds[name]
        axes = find_axes(raw, name, raw_ds)
        rep.lines.append(f"dims {tuple(map(str, raw.dims))}: time={axes.time}, lat={axes.row}, lon={axes.col}"
                         + (f", level={axes.level}" if axes.level is not None else "") + f" ({axes.kind} grid)")
        units = raw.attrs.get("units", "")
        rep.lines.append(f"units: {units or '(none)'}; long_name: {raw.attrs.get('long_name', '')}")
        level = None
        if has_level_axis(raw):
            rep.levels = available_levels(raw)
            level = rep.levels[0]
            rep.lines.append(f"levels: {' '.join(level_label(v) for v in rep.levels)} (choose with --levels; "
                             f"checked below at {level_label(level)})")
        if store:
            da = standardize(select_level(raw, level, name), name, raw_ds)
            step = timeaxis.infer_step(da["time"].values, store)
        else:
            da, step = open_series(files, name, level, name)
        t = da["time"].values
        gaps = int((~timeaxis.one_step(t, step)).sum())
        cal = timeaxis.calendar_of(t)
        rep.lines.append(f"time: {len(t)} steps {timeaxis.format_time(t[0])} .. {timeaxis.format_time(t[-1])}, "
                         f"calendar {cal}, step {step.label} ({step.kind}), "
                         + (f"{gaps} gap(s) (windows never cross them)" if gaps else "no gaps"))
        years = timeaxis.years(t)
        rep.years = (int(years[0]), int(years[-1]))
        if axes.kind == "latlon":
            lat, lon = da["lat"].values, da["lon"].values
            src_lat, src_lon = raw[axes.row].values, raw[axes.col].values
            periodic = is_periodic_lon(lon)
            flip = " (descending: flipped to ascending)" if src_lat[0] > src_lat[-1] else ""
            moved = (f" -> {lon[0]:g}..{lon[-1]:g}" if not np.allclose([src_lon[0], src_lon[-1]], [lon[0], lon[-1]])
                     else "")
            rep.lines.append(f"grid: {len(lat)} x {len(lon)}, lat {src_lat[0]:g}..{src_lat[-1]:g}{flip}, "
                             f"lon {src_lon[0]:g}..{src_lon[-1]:g}{moved} "
                             f"({'global: wraps in longitude' if periodic else 'regional: never wrapped'})")
        else:
            rep.lines.append(f"grid: {da.sizes['y']} x {da.sizes['x']} pixels (image)")
        nan_text, rep.needs_fill = _nan_pattern(da)
        rep.lines.append(f"NaN pattern: {nan_text}")
        rep.usable = True
    except GeostpError as exc:
        rep.lines.append(f"prepare would stop: {exc}")
    except (KeyError, ValueError, OSError) as exc:
        rep.lines.append(f"cannot read it: {type(exc).__name__}: {exc}")
    return rep


def suggested_splits(first: int, last: int) -> str:
    """Years split about 70/15/15 (train/valid/test), at least one year each when there are 3 or more."""
    n = last - first + 1
    if n < 3:
        return f"train={first}" + (f",test={last}" if n == 2 else "")
    n_test = max(1, round(0.15 * n))
    n_valid = max(1, round(0.15 * n))
    a, b = first + n - n_test - n_valid, first + n - n_test

    def span(x: int, y: int) -> str:
        return str(x) if x == y else f"{x}-{y}"
    return f"train={span(first, a - 1)},valid={span(a, b - 1)},test={span(b, last)}"


def check(paths: Sequence[str], variables: Sequence[str] | None = None) -> list[str]:
    """Report lines for `geostp data check` (never writes anything)."""
    files, store = _sources(paths)
    where = store or (str(files[0]) if len(files) == 1 else f"{len(files)} files ({files[0]} .. {files[-1]})")
    lines = [f"source: {where}"]
    if store:
        names = list(variables or _candidates(xr.open_zarr(store)))
    else:
        from geostp.catalogs.gridded import open_file

        first = open_file(files[0], variables[0] if variables else "", None)
        names = list(variables or _candidates(first))
        skipped = sorted(set(map(str, first.data_vars)) - set(names))
        if skipped and not variables:
            lines.append(f"not data (bounds, grid mapping, scalars): {', '.join(skipped)}")
    reports = [check_variable(files, store, n) for n in names]
    for rep in reports:
        lines.append(f"variable {rep.name}:")
        lines += [f"  {x}" for x in rep.lines]
    usable = [r for r in reports if r.usable]
    if not usable:
        lines.append("nothing prepare can use: see the reasons above")
        return lines
    first_y = max(r.years[0] for r in usable if r.years)
    last_y = min(r.years[1] for r in usable if r.years)
    path_arg = store or (paths[0] if len(paths) == 1 else str(Path(paths[0]).parent / "*.nc"))
    cmd = ["geostp", "data", "prepare", "custom", "--path", path_arg]
    for r in usable:
        cmd += ["--var", r.name]
    levels = sorted({lv for r in usable for lv in r.levels})
    if levels:
        cmd += ["--levels", *(f"{v:g}" for v in levels)]
    cmd += ["--splits", suggested_splits(first_y, last_y)]
    if any(r.needs_fill for r in usable):
        cmd += ["--fill", "nearest"]
    cmd += ["--out", f"{Path(path_arg.rstrip('/')).stem.replace('*', 'data')}.zarr"]
    lines.append("prepare would: find the axes above, flip latitude to ascending, normalise longitude, keep the "
                 "calendar, label splits by year, store static masks, compute train-split statistics")
    lines.append("run: " + " ".join(shlex.quote(c) for c in cmd))
    return lines
