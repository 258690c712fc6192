"""Build a registered model whose input/output shapes come from the data signature."""

from __future__ import annotations

from typing import Any

from torch import nn

from geostp.errors import ConfigError
from geostp.config import to_dict
from geostp.models import create, model_config
from geostp.training.config import ModelSection
from geostp.training.data import DataSignature


def model_shapes(signature: DataSignature) -> dict[str, object]:
    """The `in_shape` (T_in, C, H, W) and `t_out` a model needs for this data."""
    h, w = (len(v) for v in signature.grid.values())
    return {"in_shape": (signature.t_in, len(signature.variables), h, w), "t_out": signature.t_out}


def resolved_model_config(section: ModelSection, signature: DataSignature) -> dict[str, object]:
    """Every hyper-parameter of the model a run builds (preset + overrides + data shapes), as plain data.

    Saved with the run so that it keeps loading when a preset's values change later.
    """
    from geostp.models.registry import model_entry
    from geostp.models.wrappers import split_options

    overrides, wrappers = split_options(model_entry(section.name).config_cls, section.overrides)
    return {**to_dict(model_config(section.name, section.preset, **{**overrides, **model_shapes(signature)})),
            **wrappers}


def build_model(section: ModelSection, signature: DataSignature) -> nn.Module:
    """`create(name, preset, **overrides)` with the shapes set by the data (a conflicting override is refused)."""
    shapes = model_shapes(signature)
    for key, value in shapes.items():
        given = section.overrides.get(key)
        if given is None:
            continue
        if (tuple(given) if isinstance(given, (list, tuple)) else given) != value:
            raise ConfigError(f"model.overrides.{key} = {given} disagrees with the data ({key} = {value}); "
                              "remove it: shapes are taken from data.t_in/t_out, variables and the grid")
    return create(section.name, section.preset, **{**section.overrides, **shapes})


def fit_to_store(model: nn.Module, data: Any) -> None:
    """Let a model that is a function of the data (the climatology) fit itself on the run's store."""
    if not hasattr(model, "fit_store"):
        return
    from geostp.data.store import open_store

    model.fit_store(open_store(data.store, check_chunks=False), data.signature.variables, data.stats)
