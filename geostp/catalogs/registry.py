"""Registry of catalog readers: `@register_catalog("taxibj")` on a reader class, `get_reader(spec)` to use one."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from geostp.catalogs.base import CatalogReader
from geostp.catalogs.spec import CatalogSpec
from geostp.registry import Registry

CATALOG_READERS: Registry[type[CatalogReader]] = Registry("catalog reader")

# One module per dataset family; importing one registers its reader (like geostp/models/zoo.py).
FAMILY_MODULES = (
    "geostp.catalogs.weatherbench",
    "geostp.catalogs.weatherbench2",
    "geostp.catalogs.taxibj",
    "geostp.catalogs.mmnist",
    "geostp.catalogs.kth",
    "geostp.catalogs.custom",
    "geostp.catalogs.sample",
)


def register_catalog(name: str) -> Callable[[type[CatalogReader]], type[CatalogReader]]:
    """Class decorator registering a reader under `name` (the `reader:` key of a catalog YAML)."""
    return CATALOG_READERS.register(name)


def load_families() -> None:
    """Import every family module so its reader is registered."""
    for module in FAMILY_MODULES:
        importlib.import_module(module)


def get_reader(spec: CatalogSpec) -> CatalogReader:
    """The reader of a catalog spec, with its options validated."""
    load_families()
    return CATALOG_READERS.get(spec.reader)(spec)
