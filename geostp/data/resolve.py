"""Resolve what a user names as data: `sample` (the embedded sample, built on first use), a store path, a URL.

The one place that knows these spellings; training (`data.store`), forecast (`--data`), evaluate
(`--truth`) and plot (`--truth`) all come through here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import xarray as xr

from geostp.errors import StoreError

SAMPLE = "sample"  # the name of the embedded synthetic sample
SAMPLE_LABEL = "sample (geostp.data.sample, synthetic)"


def is_url(name: str) -> bool:
    """Whether `name` is a URL (gs://, s3://, https://, ...) rather than a local path."""
    return "://" in str(name)


def resolve_store(name: str | Path) -> Path | str:
    """A store from a name: an existing path, a URL (s3://, gs://, ...: opened where it lives), `sample`
    (built and cached on first use), or a catalog name whose store the user must prepare first (the error
    says how)."""
    from geostp.storage import is_url as remote

    if remote(name):
        return str(name)
    path = Path(name).expanduser()
    if path.exists():
        return path
    if str(name) == SAMPLE:
        from geostp.data.sample import build_sample

        return Path(build_sample())
    from geostp.catalogs import list_catalogs

    known = list_catalogs()
    if str(name) in known:
        raise StoreError(
            f"data.store {name!r} names a catalog, not a store: prepare it first "
            f"(`geostp data prepare {name} --root RAW_DIR --out STORE.zarr`) and pass the store path "
            f"(--set data.store=STORE.zarr)"
        )
    raise StoreError(f"no store at {name}; prepare it first, e.g. `geostp data prepare CATALOG --root RAW_DIR "
                     f"--out {name}` (catalogs: {', '.join(known)}), or use `{SAMPLE}`")


@dataclass
class DataSource:
    """An opened store and how the user named it."""

    path: str
    store: xr.Dataset
    label: str
    is_sample: bool


def resolve_data(data: str | None) -> DataSource:
    """Open the data a user named: None or `sample` (the embedded sample), a store path, or a URL."""
    from geostp.data.store import open_store

    if data is None or data == SAMPLE:
        path = str(resolve_store(SAMPLE))
        return DataSource(path, open_store(path, check_chunks=False), SAMPLE_LABEL, True)
    if is_url(data):
        return DataSource(data, open_store(data, check_chunks=False), data, False)
    path = str(resolve_store(data))
    store = open_store(path, check_chunks=False)
    return DataSource(path, store, path, store.attrs.get("catalog") == SAMPLE)
