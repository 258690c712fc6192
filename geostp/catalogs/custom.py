"""Reader for the user's own CF-style data: NetCDF or GRIB files (a file, a glob or a folder) or a Zarr store
whose axes are found by CF metadata (`geostp.catalogs.cfaxes`). Variables are given as `NAME`, `SHORT=NAME`
or `SHORT=NAME@LEVEL` (e.g. `z500=z@500`); `--levels 850 500` expands a variable with a vertical axis into
one channel per level (t850, t500)."""

from __future__ import annotations

import glob
import re
from pathlib import Path

import xarray as xr

from geostp.catalogs.base import CatalogReader, PrepareRequest, Source, common_times, infer_step, step_str
from geostp.catalogs.grib import is_grib
from geostp.catalogs.gridded import (
    describe_grid, has_level_axis, level_is_pressure, level_label, open_file, open_series, same_grid, select_level,
    standardize,
)
from geostp.catalogs.registry import register_catalog
from geostp.catalogs.weatherbench2 import open_zarr_any
from geostp.errors import ConfigError, DataError

VAR_PATTERN = re.compile(r"^(?:(?P<short>[A-Za-z_][\w.-]*)=)?(?P<name>[^@=]+)(?:@(?P<level>-?\d+(?:\.\d+)?))?$")


def parse_var(text: str) -> tuple[str, str, float | None]:
    """`t2m` -> (t2m, t2m, None); `z500=z@500` -> (z500, z, 500.0)."""
    m = VAR_PATTERN.match(text.strip())
    if not m:
        raise ConfigError(f"--var {text!r}: expected NAME, SHORT=NAME or SHORT=NAME@LEVEL (e.g. z500=z@500)")
    name, level = m["name"], m["level"]
    return m["short"] or (f"{name}{level}" if level else name), name, float(level) if level else None


def _is_zarr(location: str) -> bool:
    return location.rstrip("/").endswith(".zarr") or (
        Path(location).is_dir() and any((Path(location) / m).exists() for m in (".zgroup", ".zmetadata", "zarr.json"))
    )


@register_catalog("custom")
class CustomReader(CatalogReader):
    """Any CF-style NetCDF/GRIB/Zarr source; the user names the variables and the splits."""

    accepts = frozenset({"variables", "splits", "step", "levels"})

    def open(self, req: PrepareRequest) -> Source:
        if not req.root:
            raise ConfigError(f"catalog custom needs --path:\n{self.spec.layout}")
        if not req.variables:
            raise ConfigError("catalog custom needs at least one --var NAME (or SHORT=NAME@LEVEL)")
        if req.splits is None and not self.spec.splits:
            raise ConfigError(
                "catalog custom has no standard splits: pass --splits, e.g. --splits train=2000-2015,valid=2016,test=2017"
            )
        location = str(req.root)
        store = open_zarr_any(location) if _is_zarr(location) else None
        nc = [] if store is not None else self._source_files(location)
        files = [location] if store is not None else [str(f) for f in nc]

        def probe(name: str) -> xr.DataArray:
            ds = store if store is not None else open_file(nc[0], name, 1.0)
            if name not in ds.data_vars:
                where = location if store is not None else nc[0]
                raise DataError(f"{where} has no variable {name!r}; it has: {', '.join(sorted(map(str, ds.data_vars)))}")
            return ds[name]

        channels = self._channels([parse_var(v) for v in req.variables], req.levels, probe)
        fields, steps = {}, {}
        for short, name, level in channels:
            if store is not None:
                where = f"{location}:{name}"
                da = standardize(select_level(probe(name), level, where), where, store)
                steps[short] = infer_step(da["time"].values, location)
            else:
                da, steps[short] = open_series(nc, name, level, short)
            fields[short] = da.rename(short)
        shorts = list(fields)
        first = shorts[0]
        for short in shorts[1:]:
            if not same_grid(fields[first], fields[short]):
                raise DataError(
                    f"grids disagree between variables:\n  {first}: {describe_grid(fields[first])}\n"
                    f"  {short}: {describe_grid(fields[short])}"
                )
            if steps[short] != steps[first]:
                raise DataError(
                    f"time steps disagree between variables:\n  {first}: {step_str(steps[first])}\n"
                    f"  {short}: {step_str(steps[short])}"
                )
        for (short, name, level) in channels:  # keep the source's CF attributes
            da = fields[short]
            attrs = {k: v for k, v in da.attrs.items() if k in ("units", "long_name", "standard_name")}
            if level is not None:
                attrs["long_name"] = f"{attrs.get('long_name', name)} at {level_label(level)}{self._level_units[name]}"
                if self._level_units[name] == " hPa":  # becomes a scalar CF vertical coordinate (geostp.cf)
                    attrs["pressure_level"] = float(level)
            fields[short] = da.assign_attrs(attrs)
        ds, notes = common_times(fields)
        return Source(ds=ds, time_step=step_str(steps[first]), files=files, notes=notes)

    def _channels(
        self, wanted: list[tuple[str, str, float | None]], levels: list[float] | None, probe
    ) -> list[tuple[str, str, float | None]]:
        """One (channel, name, level) per output field: `--var t --levels 850 500` -> t850, t500."""
        self._level_units: dict[str, str] = {}
        out = []
        for short, name, level in wanted:
            da = probe(name)
            self._level_units[name] = " hPa" if level_is_pressure(da) else ""
            if level is None and levels and has_level_axis(da):
                out += [(f"{short}{level_label(lev)}", name, lev) for lev in levels]
            else:
                out.append((short, name, level))
        if levels and all(lev is None for _, _, lev in out):
            raise ConfigError(
                f"--levels {' '.join(level_label(v) for v in levels)}: none of the variables "
                f"({', '.join(w[1] for w in wanted)}) has a vertical axis; leave out --levels"
            )
        names = [c[0] for c in out]
        if len(set(names)) != len(names):
            raise ConfigError(f"--var names a variable twice: {' '.join(names)}")
        return out

    @staticmethod
    def _source_files(location: str) -> list[Path]:
        p = Path(location).expanduser()
        if p.is_dir():
            files = sorted(f for f in p.iterdir() if f.suffix.lower() in (".nc", ".nc4") or is_grib(f))
        elif any(c in location for c in "*?["):
            files = sorted(Path(f) for f in glob.glob(str(p)))
        else:
            files = [p] if p.is_file() else []
        if not files:
            raise DataError(
                f"--path {location}: no NetCDF or GRIB files found (a file, a glob such as 'data/*.nc', a folder "
                "of .nc/.grib files, or a .zarr store)"
            )
        return files
