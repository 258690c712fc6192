"""Model registry: `create(name, preset, **overrides)` builds a model from its typed config and presets."""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from geostp.config import coerce, from_dict
from geostp.errors import ConfigError, UnknownNameError
from geostp.registry import Registry


@dataclass(frozen=True)
class ModelEntry:
    """A registered model: builder, config class, presets and published parameter counts."""

    name: str
    build: Callable[[Any], nn.Module]
    config_cls: type
    presets: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    published_params: Mapping[str, float] = field(default_factory=dict)  # preset -> parameter count
    published_source: Mapping[str, str] = field(default_factory=dict)  # preset -> where the count comes from


MODELS: Registry[ModelEntry] = Registry("model", group="geostp.models", builtins=("geostp.models.zoo",))


def register_model(
    name: str,
    config: type,
    presets: Mapping[str, Mapping[str, Any]] | None = None,
    published_params: Mapping[str, float] | None = None,
    published_source: Mapping[str, str] | None = None,
) -> Callable[[Callable[[Any], nn.Module]], Callable[[Any], nn.Module]]:
    """Decorator registering a builder `fn(config) -> nn.Module` with its config dataclass and presets."""

    def deco(fn: Callable[[Any], nn.Module]) -> Callable[[Any], nn.Module]:
        MODELS.add(name, ModelEntry(name, fn, config, dict(presets or {}), dict(published_params or {}),
                                    dict(published_source or {})))
        return fn

    return deco


def _load_all() -> None:
    """Import the model modules (built-ins and `geostp.models` plug-ins) so their decorators register them."""
    MODELS.load()


def model_entry(name: str) -> ModelEntry:
    """The registry entry of model `name` (builder, config class, presets)."""
    _load_all()
    return MODELS.get(name)


def list_models() -> list[str]:
    """Names of all registered models."""
    _load_all()
    return MODELS.names()


def list_presets(name: str) -> list[str]:
    """Preset names of one model."""
    _load_all()
    return sorted(MODELS.get(name).presets)


def model_config(name: str, preset: str | None = None, **overrides: Any) -> Any:
    """The validated config a `create` call would use (preset values, then non-None overrides)."""
    _load_all()
    entry = MODELS.get(name)
    values: dict[str, Any] = {}
    if preset is not None:
        if preset not in entry.presets:
            raise UnknownNameError(f"preset of {name}", preset, entry.presets)
        values.update(entry.presets[preset])
    values.update({k: v for k, v in overrides.items() if v is not None})
    valid = {f.name for f in dataclasses.fields(entry.config_cls)}
    bad = sorted(set(values) - valid)
    if bad:
        raise ConfigError(f"{name}: unknown override(s) {', '.join(bad)}; valid keys: {', '.join(sorted(valid))}")
    return from_dict(entry.config_cls, values, where=name)


def check_overrides(name: str, preset: str | None, overrides: Mapping[str, Any], where: str = "model.overrides") -> None:
    """Refuse an unknown model, preset or override key, or an override of the wrong type, naming the valid ones.

    Checks each value against its config field only (not cross-field rules, which need the data's shapes).
    """
    _load_all()
    entry = MODELS.get(name)
    if preset is not None and preset not in entry.presets:
        raise UnknownNameError(f"preset of {name}", preset, entry.presets)
    from geostp.models.wrappers import WRAPPER_OPTIONS

    fields = {f.name: f for f in dataclasses.fields(entry.config_cls)}
    bad = sorted(set(overrides) - set(fields) - set(WRAPPER_OPTIONS))
    if bad:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(bad)} for {name}; valid keys: {', '.join(sorted(fields))}"
                          f" (and the wrapper options {', '.join(WRAPPER_OPTIONS)})")
    hints = typing.get_type_hints(entry.config_cls)
    wrapper_types = {"residual": bool, "pad_to_stride": bool, "periodic_lon": bool, "lon_halo": int | None,
                     "crps_members": int | None}
    for key, value in overrides.items():
        if value is not None:
            coerce(hints[key] if key in hints else wrapper_types[key], value, f"{where}.{key}")


def create(name: str, preset: str | None = None, **overrides: Any) -> nn.Module:
    """Build model `name` with a dataset preset's published hyper-parameters and any overrides.

    Wrapper options (`residual`, `pad_to_stride`, `periodic_lon`, `lon_halo`, `crps_members`; see geostp.models.wrappers)
    wrap the model unless its own config has a field of that name, which then takes the value.
    """
    from geostp.models.wrappers import split_options, wrap

    _load_all()
    entry = MODELS.get(name)
    model_overrides, options = split_options(entry.config_cls, overrides)
    if not options:
        return _build(name, preset, model_overrides)
    values = dict(entry.presets.get(preset, {})) if preset is not None else {}
    values.update({k: v for k, v in model_overrides.items() if v is not None})
    model = wrap(lambda o: _build(name, preset, o), entry.config_cls, values, options)
    model.model_name = name
    return model


def core_model(model: nn.Module) -> nn.Module:
    """The registered model inside the wrappers `create` put around it (the model itself when unwrapped)."""
    from geostp.models.wrappers import Wrapper

    while isinstance(model, Wrapper):
        model = model.inner
    return model


def _build(name: str, preset: str | None, overrides: dict[str, Any]) -> nn.Module:
    cfg = model_config(name, preset, **overrides)
    model = MODELS.get(name).build(cfg)
    model.config = cfg
    model.model_name = name
    return model
