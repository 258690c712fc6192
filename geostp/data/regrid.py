"""Put a source on another lat/lon grid at prepare time: WeatherBench's equiangular grids or another store's.

Regridding is xarray-regrid's (conservative: area-weighted cell overlaps on the sphere; bilinear: its linear
interpolation), lazy over dask time chunks; it pads a global source across the dateline itself. geostp only
builds the target, checks that the source covers it, and records what was done.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import xarray as xr

from geostp.grid import is_periodic_lon, lon_step
from geostp.errors import ConfigError, DataError, missing_extra

#: WeatherBench v1 resolutions (degrees); grid rule of its regrid.py: lat = -90 + d/2 ... 90 - d/2, lon = 0 ... 360 - d
WB_RESOLUTIONS = ("5.625", "2.8125", "1.40625")


def _conservative(ds: xr.Dataset, target: xr.Dataset) -> xr.Dataset:
    return ds.regrid.conservative(target, latitude_coord="lat", time_dim="time", skipna=True)


def _bilinear(ds: xr.Dataset, target: xr.Dataset) -> xr.Dataset:
    return ds.regrid.linear(target, time_dim="time")


METHODS: dict[str, Callable[[xr.Dataset, xr.Dataset], xr.Dataset]] = {
    "conservative": _conservative, "bilinear": _bilinear,
}


@dataclass
class RegridRequest:
    """What `--grid`/`--grid-like`/`--regrid` asked for."""

    grid: str | None = None  # a WeatherBench resolution: 5.625, 2.8125, 1.40625
    grid_like: str | None = None  # a geostp store whose lat/lon to take
    method: str = "conservative"

    def wanted(self) -> bool:
        return bool(self.grid or self.grid_like)


def equiangular_grid(res: str) -> xr.Dataset:
    """WeatherBench's grid at `res` degrees: cell centres, latitude ascending without poles, longitude from 0."""
    if res not in WB_RESOLUTIONS:
        raise ConfigError(f"--grid {res}: WeatherBench grids are {', '.join(WB_RESOLUTIONS)} (degrees)")
    d = float(res)  # 5.625, 2.8125, 1.40625 are exact binary fractions: the labels below are exact
    nlat, nlon = int(round(180 / d)), int(round(360 / d))
    return _grid(-90 + d / 2 + d * np.arange(nlat), d * np.arange(nlon))


def _grid(lat: np.ndarray, lon: np.ndarray) -> xr.Dataset:
    return xr.Dataset(coords={
        "lat": ("lat", np.asarray(lat, np.float64), {"units": "degrees_north", "standard_name": "latitude"}),
        "lon": ("lon", np.asarray(lon, np.float64), {"units": "degrees_east", "standard_name": "longitude"}),
    })


def target_grid(req: RegridRequest) -> tuple[xr.Dataset, str]:
    """(target grid, its description for provenance)."""
    if req.grid and req.grid_like:
        raise ConfigError("give either --grid or --grid-like, not both")
    if req.grid:
        return equiangular_grid(req.grid), f"{req.grid} deg equiangular (WeatherBench)"
    from geostp.data.store import open_store

    store = open_store(req.grid_like, check_chunks=False)
    if store.attrs.get("grid_kind") != "latlon":
        raise ConfigError(f"--grid-like {req.grid_like}: that store is not on a lat/lon grid")
    return _grid(store["lat"].values, store["lon"].values), f"grid of {req.grid_like}"


def _extent(c: np.ndarray) -> tuple[float, float]:
    """Outer cell edges of an ascending axis of cell centres."""
    half = lon_step(c) / 2 if len(c) > 1 else 0.0
    return float(c[0] - half), float(c[-1] + half)


def check_covers(src: xr.Dataset, target: xr.Dataset, method: str) -> None:
    """The source must cover every target cell (conservative: the cell; bilinear: its centre)."""
    slat, slon = src["lat"].values, src["lon"].values
    tlat, tlon = target["lat"].values, target["lon"].values
    if method == "conservative":
        (s0, s1), (t0, t1) = _extent(slat), _extent(tlat)
        s0, s1, t0, t1 = max(s0, -90.0), min(s1, 90.0), max(t0, -90.0), min(t1, 90.0)
    else:
        s0, s1, t0, t1 = slat[0], slat[-1], tlat[0], tlat[-1]
    tol = 1e-6
    problems = []
    if t0 < s0 - tol or t1 > s1 + tol:
        problems.append(f"latitude {t0:g}..{t1:g} (source {s0:g}..{s1:g})")
    if not is_periodic_lon(slon):
        (a0, a1) = _extent(slon) if method == "conservative" else (slon[0], slon[-1])
        (b0, b1) = _extent(tlon) if method == "conservative" else (tlon[0], tlon[-1])
        inside = any(b0 >= a0 + k - tol and b1 <= a1 + k + tol for k in (-360.0, 0.0, 360.0))
        if not inside:
            problems.append(f"longitude {b0:g}..{b1:g} (source {a0:g}..{a1:g}, a regional grid)")
    if problems:
        raise DataError(
            f"the regrid target is not covered by the source: {'; '.join(problems)}; {method} regridding would "
            "leave target cells without data. Choose a target inside the source (--grid-like a store of that "
            "region) or a source that covers the target"
        )


def regrid(ds: xr.Dataset, req: RegridRequest) -> tuple[xr.Dataset, dict[str, str]]:
    """`ds` (time, lat, lon) on the requested grid, lazily, and the provenance entry saying how."""
    if req.method not in METHODS:
        raise ConfigError(f"--regrid {req.method!r}: choose one of {', '.join(METHODS)}")
    if importlib.util.find_spec("xarray_regrid") is None:
        raise missing_extra("xarray-regrid", "regrid")
    import xarray_regrid  # noqa: F401  (registers the .regrid accessor)

    if not {"lat", "lon"} <= set(ds.dims):
        raise ConfigError("--grid/--grid-like need a lat/lon source; this one is an image (y/x) grid")
    target, desc = target_grid(req)
    check_covers(ds, target, req.method)
    attrs = {v: ds[v].attrs for v in ds.data_vars}
    dtypes = {v: ds[v].dtype for v in ds.data_vars}
    fields = [v for v in ds.data_vars if {"lat", "lon"} <= set(ds[v].dims)]
    out = METHODS[req.method](ds[fields], target)
    out = out.assign_coords(lat=target["lat"], lon=target["lon"]).transpose("time", "lat", "lon")
    for v in fields:
        out[v] = out[v].astype(dtypes[v]).assign_attrs(attrs[v])
    out = out.assign_coords({c: ds[c] for c in ds.coords if c not in ("lat", "lon") and c not in out.coords})
    prov = {
        "method": req.method, "target": desc,
        "source_grid": f"{ds.sizes['lat']}x{ds.sizes['lon']} (lat {ds['lat'].values[0]:g}..{ds['lat'].values[-1]:g}, "
                       f"lon {ds['lon'].values[0]:g}..{ds['lon'].values[-1]:g})",
        "target_grid": f"{target.sizes['lat']}x{target.sizes['lon']}",
        "library": f"xarray-regrid {importlib.metadata.version('xarray-regrid')}",
    }
    return out, prov
