"""Dataset catalogs: typed specs of each family's published layout and the readers that open them."""

from geostp.catalogs.spec import CatalogSpec, list_catalogs, load_catalog

__all__ = ["CatalogSpec", "list_catalogs", "load_catalog"]
