"""`geostp export`: any geostp output (data store, forecast, scores) as one chunked, compressed NetCDF-4 file."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import numpy as np
import xarray as xr

from geostp.cf import cf_dataset
from geostp.errors import StoreError

ENGINES = ("netcdf4", "h5netcdf")


def open_output(source: str | Path) -> xr.Dataset:
    """Open a geostp data store (or `sample`), forecast Zarr or scores NetCDF, checked like any consumer would."""
    from geostp.forecast.output import FORMAT as FORECAST, open_forecast

    spath = str(source)
    if spath == "sample" or (not Path(spath).exists() and "://" not in spath):
        from geostp.data.resolve import resolve_store

        if spath != "sample":
            raise StoreError(f"no store, forecast or scores file at {spath}; give the path of one "
                             "(e.g. a forecast Zarr printed by `geostp forecast`, or `sample`)")
        spath = str(resolve_store(spath))
    if spath.endswith(".nc"):
        return xr.open_dataset(spath)
    from geostp.data.store import _quiet_v3, zarr_format_of

    try:
        with _quiet_v3():
            attrs = xr.open_zarr(spath, consolidated=True, zarr_format=zarr_format_of(spath)).attrs
    except Exception as exc:  # noqa: BLE001 - any failure to open means unusable
        raise StoreError(f"{spath} is not a Zarr store or NetCDF file geostp can read ({type(exc).__name__}: {exc})") from None
    if attrs.get("geostp_format") == FORECAST:
        return open_forecast(spath)
    from geostp.data.store import open_store

    return open_store(spath)


def netcdf_encoding(ds: xr.Dataset, complevel: int, engine: str) -> dict[str, dict]:
    """Compressed, chunked encoding of every numeric data variable (chunks: the source's, capped at 16 MB)."""
    enc: dict[str, dict] = {}
    for name, var in ds.data_vars.items():
        if var.dtype.kind not in "fiu" or var.ndim == 0:
            continue
        if var.chunks:
            chunks = [c[0] for c in var.chunks]
        else:
            chunks = list(var.shape)
        while np.prod(chunks) * var.dtype.itemsize > 16 << 20 and max(chunks) > 1:
            k = int(np.argmax(chunks))
            chunks[k] = max(1, chunks[k] // 2)
        comp = {"zlib": True, "complevel": complevel} if engine == "netcdf4" else {"compression": "gzip",
                                                                                 "compression_opts": complevel}
        enc[name] = {**comp, "shuffle": True, "chunksizes": tuple(int(c) for c in chunks)}
    return enc


def export_netcdf(source: str | Path, out: str | Path, *, engine: str = "netcdf4", complevel: int = 4,
                  overwrite: bool = False, variables: list[str] | None = None) -> Path:
    """Write `source` to NetCDF-4 `out` through a temporary sibling file renamed into place when complete."""
    if engine not in ENGINES:
        raise StoreError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    out = Path(out)
    if out.exists() and not overwrite:
        raise StoreError(f"{out} exists; pass --overwrite to replace it (it is kept until the new file is complete)")
    ds = open_output(source)
    if variables:
        missing = [v for v in variables if v not in ds.data_vars]
        if missing:
            raise StoreError(f"{source} has no variable {', '.join(missing)}; it has: {', '.join(map(str, ds.data_vars))}")
        ds = ds[variables]
    for name in ds.variables:
        ds[name].encoding = {k: v for k, v in ds[name].encoding.items() if k in ("units", "calendar", "dtype")}
    ds = cf_dataset(ds, what=f"exported to NetCDF from {source}")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        ds.to_netcdf(tmp, engine=engine, encoding=netcdf_encoding(ds, complevel, engine))
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out
