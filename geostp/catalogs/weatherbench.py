"""WeatherBench v1 reader: per-variable folders of yearly NetCDF files at 5.625/2.8125/1.40625 degrees.

Files are globbed per folder (`<folder>/*.nc`) and joined by their time coordinates, as the WeatherBench
notebooks do, rather than trusting file names; full pressure-level files are (time, level, lat, lon)
and the 5.625-degree extracts (`geopotential_500`, `temperature_850`) carry a scalar `level`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import xarray as xr

from geostp.catalogs.base import CatalogReader, PrepareRequest, Source, cf_attrs, common_times, step_str
from geostp.catalogs.gridded import describe_grid, open_series, same_grid
from geostp.catalogs.registry import register_catalog
from geostp.errors import DataError, UnknownNameError


@dataclass
class WeatherBenchOptions:
    """Resolution folders `<res>deg` and their (nlat, nlon) grids."""

    resolution: str = "5.625"
    resolutions: dict[str, tuple[int, int]] = field(default_factory=dict)


@register_catalog("weatherbench")
class WeatherBenchReader(CatalogReader):
    """Reads WeatherBench v1 variable folders into (time, lat, lon) fields with short names."""

    Options = WeatherBenchOptions
    accepts = frozenset({"variables", "splits", "step", "resolution"})

    def base_dir(self, root: Path, res: str) -> Path:
        """`<root>/<res>deg` if present, else `root` itself when it holds variable folders."""
        if res not in self.options.resolutions:
            raise UnknownNameError("resolution", res, self.options.resolutions, where="WeatherBench v1")
        for cand in (root / f"{res}deg", root):
            if cand.is_dir() and any(cand.glob("*/*.nc")):
                return cand
        raise DataError(
            f"no WeatherBench NetCDF files under {root} or {root / f'{res}deg'} "
            f"(looked for <folder>/*.nc); expected:\n{self.spec.layout}"
        )

    def open(self, req: PrepareRequest) -> Source:
        root = self.root(req)
        res = req.resolution or self.options.resolution
        base = self.base_dir(root, res)
        names = self.variables(req)
        static = [n for n in names if n in self.spec.static]
        names = [n for n in names if n not in self.spec.static]
        if not names:
            raise DataError(f"{', '.join(static)} do not vary in time: add at least one field, e.g. --vars z500 {' '.join(static)}")
        fields, files, step = {}, [], None
        ref: tuple[str, xr.DataArray] | None = None
        for short in names:
            var = self.spec.variable(short)
            folders = [base / s for s in var.source]
            found = [d for d in folders if d.is_dir() and any(d.glob("*.nc"))]
            if not found:
                have = sorted(p.name for p in base.iterdir() if p.is_dir())
                raise DataError(
                    f"variable {short!r} needs NetCDF files in one of: {', '.join(str(d) for d in folders)} "
                    f"(files <folder>_<year>_{res}deg.nc); folders present in {base}: {', '.join(have) or '(none)'}"
                )
            folder = found[0]
            nc = sorted(folder.glob("*.nc"))
            # level extracts carry a scalar `level`; full folders need the level picked from the `level` dim
            da, st = open_series(nc, var.name, var.level, f"{short} ({folder.name})")
            if ref is None:
                ref = (short, da)
                want = tuple(self.options.resolutions[res])
                if (da.sizes["lat"], da.sizes["lon"]) != want:
                    raise DataError(
                        f"{folder} has a {describe_grid(da)} grid but resolution {res} deg is {want[0]}x{want[1]}; "
                        "pass the matching --resolution"
                    )
            elif not same_grid(ref[1], da):
                raise DataError(
                    f"grids disagree between variables:\n  {ref[0]}: {describe_grid(ref[1])}\n  {short}: {describe_grid(da)}"
                )
            if step is not None and st != step[1]:
                raise DataError(
                    f"time steps disagree between variables:\n  {step[0]}: {step_str(step[1])}\n  {short}: {step_str(st)}"
                )
            step = step or (short, st)
            fields[short] = da.rename(short).assign_attrs(cf_attrs(var))
            files += [str(f) for f in nc]
        ds, notes = common_times(fields)
        consts = self._static(base, static, ref[1], files) if static else None
        return Source(ds=ds, time_step=step_str(step[1]), files=files, attrs={"resolution_deg": res}, notes=notes,
                      static=consts)

    def _static(self, base: Path, names: list[str], ref: xr.DataArray, files: list[str]) -> xr.Dataset:
        """Time-invariant fields from the `constants` folder on the fields' grid (lat ascending)."""
        out = {}
        for short in names:
            var = self.spec.static[short]
            nc = sorted(f for s in var.source for f in (base / s).glob("*.nc"))
            if not nc:
                raise DataError(f"{short!r} needs {', '.join(str(base / s) + '/*.nc' for s in var.source)}, which is missing")
            ds = xr.open_dataset(nc[0])
            if var.name not in ds.data_vars:
                raise DataError(f"{nc[0]} has no variable {var.name!r}; it has: {', '.join(map(str, ds.data_vars))}")
            da = ds[var.name].squeeze(drop=True).sortby("lat").transpose("lat", "lon")
            if da.shape != (ref.sizes["lat"], ref.sizes["lon"]) or not (
                np.allclose(da["lat"], ref["lat"]) and np.allclose(da["lon"], ref["lon"])
            ):
                raise DataError(f"grids disagree:\n  fields: {describe_grid(ref)}\n  {nc[0]}: {describe_grid(da)}")
            out[short] = da.reset_coords(drop=True).assign_coords(lat=ref["lat"], lon=ref["lon"]).assign_attrs(cf_attrs(var)).chunk()
            files.append(str(nc[0]))
        return xr.Dataset(out)
