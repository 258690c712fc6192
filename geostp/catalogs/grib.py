"""GRIB files (ERA5 as delivered, editions 1 and 2) through cfgrib: one hypercube per level type, found by the
variable asked for. cfgrib's index files go to geostp's cache folder (keyed by the file's absolute path), never
next to the data (read-only archives); where the cache cannot be written, no index is kept."""

from __future__ import annotations

import hashlib
import importlib.util
import warnings
from pathlib import Path

import xarray as xr

from geostp.catalogs.cfaxes import coord_role
from geostp.errors import DataError, missing_extra

GRIB_SUFFIXES = (".grib", ".grb", ".grib1", ".grib2", ".grb1", ".grb2")


def is_grib(path: str | Path) -> bool:
    """True for the usual GRIB file name endings."""
    return str(path).lower().endswith(GRIB_SUFFIXES)


def index_path(path: str | Path) -> str:
    """cfgrib `indexpath` template in geostp's cache folder ('' = no index where that is not writable)."""
    from geostp.cache import cache_dir

    folder = cache_dir() / "cfgrib-index"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return ""
    key = hashlib.sha1(str(Path(path).resolve()).encode()).hexdigest()[:16]
    return str(folder / f"{key}.{{short_hash}}.idx")


def _has_levels(ds: xr.Dataset, name: str) -> bool:
    return any(d in ds.coords and coord_role(ds[d]) == "level" for d in ds[name].dims)


def open_grib(path: str | Path, name: str, levels: bool | None = None) -> xr.Dataset:
    """The cfgrib hypercube of `path` holding variable `name` (cfgrib's short names: t, z, t2m, msl).

    Where `name` is in several hypercubes (e.g. t on pressure levels and on model levels), `levels` says
    which: True prefers one with a vertical axis, False one without; otherwise the first.
    """
    if importlib.util.find_spec("cfgrib") is None:
        raise missing_extra("cfgrib", "grib")
    import cfgrib

    try:
        with warnings.catch_warnings():  # cfgrib's own xr.merge call warns about a future xarray default
            warnings.simplefilter("ignore", FutureWarning)
            cubes = cfgrib.open_datasets(str(path), backend_kwargs={"indexpath": index_path(path)})
    except Exception as exc:  # noqa: BLE001 - any unreadable file is reported with its path
        raise DataError(f"cannot read GRIB file {path} ({type(exc).__name__}: {exc})") from None
    hits = [c for c in cubes if name in c.data_vars]
    if not hits:
        have = sorted({str(v) for c in cubes for v in c.data_vars})
        raise DataError(f"{path} has no GRIB variable {name!r}; it has: {', '.join(have) or 'no decodable messages'}")
    if levels is not None and len(hits) > 1:
        hits = [c for c in hits if _has_levels(c, name) == levels] or hits
    return hits[0]
