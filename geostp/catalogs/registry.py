"""Registry of catalog readers: `@register_catalog("taxibj")` on a reader class, `get_reader(spec)` to use one."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from geostp.catalogs.base import CatalogReader
from geostp.catalogs.spec import CatalogSpec
from geostp.registry import Registry

# One module per dataset family; importing one registers its reader (like geostp/models/zoo.py).
FAMILY_MODULES = (
    "geostp.catalogs.weatherbench",
    "geostp.catalogs.weatherbench2",
    "geostp.catalogs.taxibj",
    "geostp.catalogs.mmnist",
    "geostp.catalogs.kth",
    "geostp.catalogs.custom",
)  # the sample's reader registers from the data layer (geostp.data.sample_reader)
CATALOG_READERS: Registry[type[CatalogReader]] = Registry("catalog reader", group="geostp.catalogs",
                                                          builtins=FAMILY_MODULES)


def register_catalog(name: str) -> Callable[[type[CatalogReader]], type[CatalogReader]]:
    """Class decorator registering a reader under `name` (the `reader:` key of a catalog YAML)."""
    return CATALOG_READERS.register(name)


def load_families() -> None:
    """Import every family module and `geostp.catalogs` plug-in so its reader is registered."""
    CATALOG_READERS.load()


def plugin_spec_files() -> dict[str, Path]:
    """Catalog YAMLs that plug-in readers bring (`spec_file`), by catalog name (the file's stem)."""
    load_families()
    files = (CATALOG_READERS.get(n).spec_file for n in CATALOG_READERS.names())
    return {Path(f).stem: Path(f) for f in files if f}


def get_reader(spec: CatalogSpec) -> CatalogReader:
    """The reader of a catalog spec, with its options validated."""
    load_families()
    return CATALOG_READERS.get(spec.reader)(spec)
