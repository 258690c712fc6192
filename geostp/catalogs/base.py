"""Catalog readers: the interface (`CatalogReader`), what prepare asks for and what a reader hands back.

A reader turns a dataset family's published files into a lazy xarray Dataset of short-named fields on
``(time, lat, lon)`` or ``(time, y, x)``; `geostp.data.prepare` does the rest (steps, splits, NaNs,
statistics, writing) the same way for every family.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import xarray as xr

from geostp import timeaxis
from geostp.catalogs.spec import CatalogSpec
from geostp.config import from_dict
from geostp.errors import ConfigError, DataError
from geostp.timeaxis import Step


@dataclass
class NoOptions:
    """Options of a reader that has none."""


@dataclass
class PrepareRequest:
    """What the user asked `geostp data prepare` for (None = the catalog's default)."""

    root: str | None = None
    variables: list[str] | None = None
    splits: dict[str, tuple[int, int]] | None = None  # name -> inclusive (first year, last year)
    step: str | None = None
    resolution: str | None = None
    levels: list[float] | None = None  # vertical levels to expand each variable with a level axis into


@dataclass
class Source:
    """A reader's lazy result: fields in physical units plus where they came from.

    `ds` holds one data variable per short name on (time, <grid>) with CF attrs, coord `time` and
    optionally `split` (fixed-protocol families) and `sequence` (video clips); `time_step` is the step
    of `ds.time` ("1h", "30min", or "1" for frames).
    """

    ds: xr.Dataset
    time_step: str
    files: list[str]
    attrs: dict[str, Any] = field(default_factory=dict)
    static: xr.Dataset | None = None  # extra data variables stored alongside (e.g. Moving MNIST digits)
    split_rule: dict[str, str] = field(default_factory=dict)  # description of fixed-protocol splits
    notes: list[str] = field(default_factory=list)  # things the user should know (printed, kept in provenance)


class CatalogReader:
    """Base class of a dataset family's reader; subclasses register with `@register_catalog(name)`."""

    Options: ClassVar[type] = NoOptions
    #: a plug-in reader's own catalog YAML (packaged readers have theirs in geostp/_catalogs/)
    spec_file: ClassVar[str | Path | None] = None
    #: PrepareRequest fields (besides root) this reader understands; others given by the user are an error.
    accepts: ClassVar[frozenset[str]] = frozenset({"variables", "splits", "step"})

    def __init__(self, spec: CatalogSpec) -> None:
        self.spec = spec
        self.options = from_dict(self.Options, spec.options, where=f"catalog {spec.name}: options")

    def check_request(self, req: PrepareRequest) -> None:
        """Refuse options that do not apply to this family (rather than silently ignoring them)."""
        for f in dataclasses.fields(req):
            if f.name != "root" and getattr(req, f.name) is not None and f.name not in self.accepts:
                flag = "--vars" if f.name == "variables" else f"--{f.name}"
                raise ConfigError(
                    f"{flag} does not apply to catalog {self.spec.name!r} (its protocol fixes it); "
                    f"options it takes: {', '.join(sorted('--vars' if a == 'variables' else '--' + a for a in self.accepts)) or 'none'}"
                )

    def root(self, req: PrepareRequest) -> Path:
        """The local root folder, checked to exist."""
        if not req.root:
            raise ConfigError(f"catalog {self.spec.name!r} needs --root PATH: the folder laid out as\n{self.spec.layout}")
        root = Path(req.root).expanduser()
        if not root.exists():
            raise DataError(f"--root {root} does not exist; catalog {self.spec.name!r} expects:\n{self.spec.layout}")
        return root

    def variables(self, req: PrepareRequest) -> list[str]:
        """Requested short names (default: the catalog's), each checked to be known."""
        names = list(req.variables or self.spec.default_variables)
        if not names:
            raise ConfigError(f"catalog {self.spec.name!r} needs --vars NAME [NAME ...]")
        for n in names:
            self.spec.variable(n)
        if len(set(names)) != len(names):
            raise ConfigError(f"--vars lists a variable twice: {' '.join(names)}")
        return names

    def open(self, req: PrepareRequest) -> Source:
        """Open the published files lazily as a `Source` (never loading the archive)."""
        raise NotImplementedError


def infer_step(time: np.ndarray, where: str) -> Step:
    """The regular step of a time axis (duration, calendar month/year or frames): `geostp.timeaxis`."""
    return timeaxis.infer_step(time, where)


def step_str(step: Step | pd.Timedelta | str) -> str:
    """The canonical label of a step: 6h, 30min, 1d, 1month, 1year."""
    return timeaxis.parse_step(step).label


def cf_attrs(spec_var: Any) -> dict[str, Any]:
    """CF attributes of a VariableSpec (empty ones left out); a pressure level becomes `pressure_level`, which
    the store writer turns into a scalar vertical coordinate (geostp.cf.vertical_coords)."""
    out: dict[str, Any] = {k: v for k in ("units", "long_name", "standard_name") if (v := getattr(spec_var, k))}
    if getattr(spec_var, "level", None) is not None:
        out["pressure_level"] = spec_var.level
    return out


def common_times(fields: dict[str, xr.DataArray]) -> tuple[xr.Dataset, list[str]]:
    """Join fields on the times they all have; a note says how many times one variable alone had."""
    aligned = xr.align(*fields.values(), join="inner")
    ds = xr.Dataset({name: da for name, da in zip(fields, aligned)})
    notes = [
        f"{name}: {da.sizes['time'] - ds.sizes['time']} time steps not available for every variable were dropped"
        for name, da in fields.items()
        if da.sizes["time"] != ds.sizes["time"]
    ]
    return ds, notes
