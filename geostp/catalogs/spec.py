"""Typed dataset-catalog specs (`catalogs/<family>.yaml`) and their loader.

A catalog says where a dataset family's files live and how they are laid out, which user-facing short
names (``t850``, ``inflow``, ``frames``) map to which names/levels inside the files, the native time
step, the standard splits, default window lengths and the normalisation kind.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from geostp.config import from_dict
from geostp.errors import ConfigError, UnknownNameError

CATALOG_DIR = Path(__file__).resolve().parent.parent / "_catalogs"


@dataclass
class VariableSpec:
    """One user-facing variable: where it is in the source files and its CF attributes."""

    name: str = ""  # name inside the files (NetCDF/Zarr variable, HDF5 dataset, file stem)
    source: list[str] = field(default_factory=list)  # folders/groups holding it, tried in order
    level: int | None = None  # pressure level (hPa) to select, if the source has a `level` dim
    channel: int | None = None  # index along a channel axis (TaxiBJ: 0 inflow, 1 outflow)
    units: str = ""
    long_name: str = ""
    standard_name: str = ""


@dataclass
class LevelFamily:
    """A pressure-level field that expands to one variable per level: ``z`` -> ``z50 ... z1000``."""

    name: str
    source: list[str] = field(default_factory=list)  # folder(s) of the full-level files
    extracts: list[int] = field(default_factory=list)  # levels that also exist as `<folder>_<level>` extracts
    units: str = ""
    long_name: str = ""
    standard_name: str = ""


@dataclass
class CatalogSpec:
    """A dataset family as published: layout, variables, time step, splits, windows, normalisation."""

    name: str
    title: str
    reader: str  # name of the registered reader (see geostp.catalogs.registry)
    grid: Literal["latlon", "image"]
    time_kind: Literal["datetime", "frames"]
    time_step: str  # native step of the files: "1h", "6h", "30min"; "1" for frames
    default_t_in: int
    default_t_out: int
    normalization: Literal["zscore", "minmax", "minmax_shared", "fixed"]
    description: str = ""
    references: list[str] = field(default_factory=list)
    layout: str = ""  # the published file layout, shown in errors when files are missing
    default_step: str | None = None  # store step when --step is not given (WeatherBench v1: 6h)
    variables: dict[str, VariableSpec] = field(default_factory=dict)
    pressure_levels: list[int] = field(default_factory=list)
    level_variables: dict[str, LevelFamily] = field(default_factory=dict)
    static: dict[str, VariableSpec] = field(default_factory=dict)  # time-invariant fields (stored, not channels)
    default_variables: list[str] = field(default_factory=list)  # used when --vars is not given
    splits: dict[str, str] = field(default_factory=dict)  # standard splits: name -> "YYYY" or "YYYY-YYYY"
    fixed_norm: dict[str, tuple[float, float]] = field(default_factory=dict)  # name -> (offset, scale)
    options: dict[str, Any] = field(default_factory=dict)  # reader-specific, validated by the reader

    def __post_init__(self) -> None:
        for short, fam in self.level_variables.items():
            for lev in [*self.pressure_levels, *fam.extracts]:
                if f"{short}{lev}" in self.variables:
                    raise ConfigError(f"catalog {self.name}: {short}{lev} is defined twice (variables and level_variables)")
            bad = sorted(set(fam.extracts) - set(self.pressure_levels))
            if bad:
                raise ConfigError(f"catalog {self.name}: extracts {bad} of {short!r} are not in pressure_levels")
        for v in self.default_variables:
            if v not in self.all_variables():
                raise ConfigError(f"catalog {self.name}: default variable {v!r} is not defined")

    def all_variables(self) -> dict[str, VariableSpec]:
        """Every short name this catalog knows: explicit variables plus expanded level families."""
        out = dict(self.variables)
        for short, fam in self.level_variables.items():
            for lev in self.pressure_levels:
                extract = [f"{s}_{lev}" for s in fam.source] if lev in fam.extracts else []
                out[f"{short}{lev}"] = VariableSpec(
                    name=fam.name, source=[*extract, *fam.source], level=lev, units=fam.units,
                    long_name=f"{fam.long_name} at {lev} hPa" if fam.long_name else "",
                    standard_name=fam.standard_name,
                )
        return out

    def variable(self, short: str) -> VariableSpec:
        """The spec of one short name, or an UnknownNameError listing the known ones."""
        known = {**self.all_variables(), **self.static}
        if short not in known:
            raise UnknownNameError("variable", short, known, where=f"catalog {self.name}")
        return known[short]

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (for provenance)."""
        return dataclasses.asdict(self)


def catalog_path(name: str) -> Path:
    """Path of the packaged YAML file of catalog `name`."""
    return CATALOG_DIR / f"{name}.yaml"


def list_catalogs() -> list[str]:
    """Names of the packaged catalogs and of those `geostp.catalogs` plug-ins bring."""
    from geostp.catalogs.registry import plugin_spec_files

    return sorted({p.stem for p in CATALOG_DIR.glob("*.yaml")} | set(plugin_spec_files()))


def load_catalog(name_or_path: str | Path) -> CatalogSpec:
    """Load and validate a catalog by name (packaged) or from a YAML path."""
    p = Path(name_or_path)
    if p.suffix not in (".yaml", ".yml"):
        p = catalog_path(str(name_or_path))
        if not p.is_file():
            from geostp.catalogs.registry import plugin_spec_files

            p = plugin_spec_files().get(str(name_or_path), p)
        if not p.is_file():
            raise UnknownNameError("catalog", str(name_or_path), list_catalogs())
    if not p.is_file():
        raise ConfigError(f"catalog file {p} does not exist")
    data = yaml.safe_load(p.read_text()) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: expected a YAML mapping at the top level")
    data.setdefault("name", p.stem)
    return from_dict(CatalogSpec, data, where=p.name)
