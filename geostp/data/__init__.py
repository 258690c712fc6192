"""Data layer: analysis-ready Zarr stores and lazily loaded tensor windows."""

from geostp.data.store import open_store, write_store
from geostp.data.windows import open_windows

__all__ = ["open_store", "open_windows", "write_store"]
