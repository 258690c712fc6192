"""Data kinds: gridded lat/lon fields (weather) versus images (video, traffic), decided in this one place.

A `DataKind` owns what differs between them: the grid dims, the forecast layout (a variable per field, or
one `frames` variable with a channel dim), the default validation and scoring metrics and the scale they
are computed on, the default init hours, and the plotter. Everything else asks `kind_of(...)`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from geostp.registry import Registry

FRAMES_VAR = "frames"  # the one data variable of an image forecast (channels labelled by variable)


@dataclass(frozen=True)
class DataKind:
    """What a data kind decides."""

    name: str  # the store's `grid_kind` attribute
    grid_dims: tuple[str, str]
    per_variable: bool  # forecast layout: one data variable per field (else FRAMES_VAR with a channel dim)
    family: str  # metric family of geostp.evaluation.metrics: "weather" or "frames"
    val_metrics: tuple[str, ...]  # default validation metrics during training
    score_metrics: tuple[str, ...] | None  # default metrics of the forecast job's scores (None: all of the family)
    physical_units: bool  # validation scores in physical units (True) or on the model's normalised scale
    init_hours: tuple[int, ...] | None  # default init hours on sub-daily data (None: every step)
    plotter: str  # "map" (geostp.plots.maps) or "frames" (geostp.plots.frames)


KINDS: Registry[DataKind] = Registry("data kind")
LATLON = DataKind("latlon", ("lat", "lon"), per_variable=True, family="weather", val_metrics=("rmse",),
                  score_metrics=("rmse", "acc"), physical_units=True, init_hours=(0, 12), plotter="map")
IMAGE = DataKind("image", ("y", "x"), per_variable=False, family="frames", val_metrics=("mse", "mae", "ssim", "psnr"),
                 score_metrics=None, physical_units=False, init_hours=None, plotter="frames")
KINDS.add(LATLON.name, LATLON)
KINDS.add(IMAGE.name, IMAGE)


def get_kind(name: str) -> DataKind:
    """The kind registered as `name` ("latlon", "image")."""
    return KINDS.get(name)


def kind_for_dims(dims: Any) -> DataKind:
    """The kind whose grid dims are all in `dims` (lat/lon first), else image."""
    dims = set(dims)
    for name in KINDS.names()[::-1]:  # "latlon" before "image"
        if set(KINDS.get(name).grid_dims) <= dims:
            return KINDS.get(name)
    return IMAGE


def kind_of(obj: Any) -> DataKind:
    """The kind of a store (its `grid_kind` attribute), a forecast dataset (its dims), a grid mapping
    ({"lat": ..., "lon": ...}) or anything with a `grid_kind` attribute (a DataSignature, a Predictor)."""
    attrs = getattr(obj, "attrs", None)
    if isinstance(attrs, Mapping) and "grid_kind" in attrs and hasattr(obj, "dims"):
        return get_kind(str(attrs["grid_kind"]))
    if hasattr(obj, "dims") and hasattr(obj, "data_vars"):
        return kind_for_dims(obj.dims)
    if isinstance(obj, Mapping):
        return kind_for_dims(obj.keys())
    return get_kind(str(obj.grid_kind))
