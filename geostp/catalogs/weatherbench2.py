"""WeatherBench 2 reader: one ERA5 Zarr store (local or gs:// / s3:// via fsspec), long CF names, a
`level` dim, and (time, [level,] longitude, latitude) order in the regridded stores."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import xarray as xr

from geostp.catalogs.base import CatalogReader, PrepareRequest, Source, cf_attrs, infer_step, step_str
from geostp.catalogs.gridded import select_level, standardize
from geostp.catalogs.registry import register_catalog
from geostp.errors import ConfigError, DataError, missing_extra

# URL scheme -> the fsspec implementation package it needs (all in the `cloud` extra)
FSSPEC_PACKAGES = {"gs": "gcsfs", "gcs": "gcsfs", "s3": "s3fs"}


@dataclass
class WeatherBench2Options:
    """Default fsspec storage options per URL scheme (public buckets are read anonymously)."""

    storage_options: dict[str, dict[str, Any]] = field(default_factory=dict)


def open_zarr_any(location: str, storage_options: dict[str, dict[str, Any]] | None = None) -> xr.Dataset:
    """Open a Zarr store lazily from a local path or an fsspec URL, with clear errors for what is missing."""
    if "://" in location:
        scheme = location.split("://", 1)[0]
        if importlib.util.find_spec("fsspec") is None:
            raise missing_extra("fsspec", "cloud")
        pkg = FSSPEC_PACKAGES.get(scheme)
        if pkg and importlib.util.find_spec(pkg) is None:
            raise missing_extra(pkg, "cloud")
        kwargs = {"storage_options": (storage_options or {}).get(scheme, {})}
    else:
        path = Path(location).expanduser()
        if not path.exists():
            raise DataError(f"no Zarr store at {path}")
        if not any((path / m).exists() for m in (".zgroup", ".zmetadata", "zarr.json")):
            raise DataError(f"{path} is not a Zarr store (no .zgroup, .zmetadata or zarr.json inside)")
        location, kwargs = str(path), {}
    try:
        return xr.open_zarr(location, chunks={}, **kwargs)
    except Exception as exc:  # noqa: BLE001 - report any failure to open with the location
        raise DataError(f"cannot open the Zarr store {location} ({type(exc).__name__}: {exc})") from None


@register_catalog("weatherbench2")
class WeatherBench2Reader(CatalogReader):
    """Reads a WeatherBench 2 ERA5 Zarr store into (time, lat, lon) fields with short names."""

    Options = WeatherBench2Options

    def open(self, req: PrepareRequest) -> Source:
        if not req.root:
            raise ConfigError(f"catalog weatherbench2 needs --root STORE (a path or gs:// URL):\n{self.spec.layout}")
        store = open_zarr_any(req.root, self.options.storage_options)
        fields = {}
        for short in self.variables(req):
            var = self.spec.variable(short)
            if var.name not in store.data_vars:
                raise DataError(
                    f"variable {short!r} needs {var.name!r}, which {req.root} does not have; "
                    f"it has: {', '.join(sorted(map(str, store.data_vars)))}"
                )
            where = f"{req.root}:{var.name}"
            da = standardize(select_level(store[var.name], var.level, where), where)
            fields[short] = da.rename(short).assign_attrs(cf_attrs(var))
        ds = xr.Dataset(fields)
        step = infer_step(ds["time"].values, str(req.root))
        return Source(ds=ds, time_step=step_str(step), files=[str(req.root)])
