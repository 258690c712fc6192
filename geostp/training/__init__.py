"""Training: `train(config, out=..., overrides=[...]) -> run dir`, and `load_run` for the commands that follow.

Names load on first use (PEP 562), so the torch-free parts (`geostp.training.config`, `.contract`) can be
imported by plotting and evaluation without pulling in torch and accelerate.
"""

from __future__ import annotations

import importlib
from typing import Any

_NAMES = {"RunInfo": "checkpoint", "load_run": "checkpoint", "TrainConfig": "config", "load_config": "config",
          "train": "loop", "RunContract": "contract", "DataSignature": "contract"}

__all__ = sorted(_NAMES)


def __getattr__(name: str) -> Any:
    if name in _NAMES:
        return getattr(importlib.import_module(f"geostp.training.{_NAMES[name]}"), name)
    raise AttributeError(f"module 'geostp.training' has no attribute {name!r}")
