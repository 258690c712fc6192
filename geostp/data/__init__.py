"""Data layer: analysis-ready Zarr stores and lazily loaded tensor windows.

Names load on first use (PEP 562): opening a store or resolving a name does not import torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_NAMES = {"open_store": "store", "write_store": "store", "open_windows": "windows"}

__all__ = sorted(_NAMES)


def __getattr__(name: str) -> Any:
    if name in _NAMES:
        return getattr(importlib.import_module(f"geostp.data.{_NAMES[name]}"), name)
    raise AttributeError(f"module 'geostp.data' has no attribute {name!r}")
