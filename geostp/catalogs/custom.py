"""Reader for the user's own CF-style data: NetCDF files (a file, a glob or a folder) or a Zarr store with a
time axis and a lat/lon, latitude/longitude or y/x grid. Variables are given as `NAME`, `SHORT=NAME` or
`SHORT=NAME@LEVEL` (e.g. `z500=z@500`)."""

from __future__ import annotations

import glob
import re
from pathlib import Path


from geostp.catalogs.base import CatalogReader, PrepareRequest, Source, common_times, infer_step, step_str
from geostp.catalogs.gridded import describe_grid, open_series, same_grid, select_level, standardize
from geostp.catalogs.registry import register_catalog
from geostp.catalogs.weatherbench2 import open_zarr_any
from geostp.errors import ConfigError, DataError

VAR_PATTERN = re.compile(r"^(?:(?P<short>[A-Za-z_][\w.-]*)=)?(?P<name>[^@=]+)(?:@(?P<level>-?\d+))?$")


def parse_var(text: str) -> tuple[str, str, int | None]:
    """`t2m` -> (t2m, t2m, None); `z500=z@500` -> (z500, z, 500)."""
    m = VAR_PATTERN.match(text.strip())
    if not m:
        raise ConfigError(f"--var {text!r}: expected NAME, SHORT=NAME or SHORT=NAME@LEVEL (e.g. z500=z@500)")
    name, level = m["name"], m["level"]
    return m["short"] or (f"{name}{level}" if level else name), name, int(level) if level else None


def _is_zarr(location: str) -> bool:
    return location.rstrip("/").endswith(".zarr") or (
        Path(location).is_dir() and any((Path(location) / m).exists() for m in (".zgroup", ".zmetadata", "zarr.json"))
    )


@register_catalog("custom")
class CustomReader(CatalogReader):
    """Any CF-style NetCDF/Zarr source; the user names the variables and the splits."""

    def open(self, req: PrepareRequest) -> Source:
        if not req.root:
            raise ConfigError(f"catalog custom needs --path:\n{self.spec.layout}")
        if not req.variables:
            raise ConfigError("catalog custom needs at least one --var NAME (or SHORT=NAME@LEVEL)")
        wanted = [parse_var(v) for v in req.variables]
        shorts = [w[0] for w in wanted]
        if len(set(shorts)) != len(shorts):
            raise ConfigError(f"--var names a variable twice: {' '.join(shorts)}")
        if req.splits is None and not self.spec.splits:
            raise ConfigError(
                "catalog custom has no standard splits: pass --splits, e.g. --splits train=2000-2015,valid=2016,test=2017"
            )
        location = str(req.root)
        fields, files = {}, []
        steps = {}
        if _is_zarr(location):
            store = open_zarr_any(location)
            for short, name, level in wanted:
                if name not in store.data_vars:
                    raise DataError(f"{location} has no variable {name!r}; it has: {', '.join(sorted(map(str, store.data_vars)))}")
                da = standardize(select_level(store[name], level, f"{location}:{name}"), f"{location}:{name}", store)
                fields[short] = da.rename(short)
                steps[short] = infer_step(da["time"].values, location)
            files = [location]
        else:
            nc = self._netcdf_files(location)
            files = [str(f) for f in nc]
            for short, name, level in wanted:
                da, steps[short] = open_series(nc, name, level, short)
                fields[short] = da.rename(short)
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
        for short, da in fields.items():  # keep the source's CF attributes
            fields[short] = da.assign_attrs({k: v for k, v in da.attrs.items() if k in ("units", "long_name", "standard_name")})
        ds, notes = common_times(fields)
        return Source(ds=ds, time_step=step_str(steps[first]), files=files, notes=notes)

    @staticmethod
    def _netcdf_files(location: str) -> list[Path]:
        p = Path(location).expanduser()
        if p.is_dir():
            files = sorted(p.glob("*.nc"))
        elif any(c in location for c in "*?["):
            files = sorted(Path(f) for f in glob.glob(str(p)))
        else:
            files = [p] if p.is_file() else []
        if not files:
            raise DataError(
                f"--path {location}: no NetCDF files found (a file, a glob such as 'data/*.nc', a folder of .nc "
                "files, or a .zarr store)"
            )
        return files
