"""CF-1.10 conventions shared by every geostp output (stores, forecasts, scores): attribute values NetCDF
can hold, coordinate attributes without fill values, scalar vertical coordinates, `Conventions`/`history`.

Every writer passes its dataset through `cf_dataset` before writing, so `xr.open_zarr(x).to_netcdf(...)`
works with the netcdf4 and h5netcdf engines and compliance-checker's `cf:1.10` test finds no errors.
"""

from __future__ import annotations

import datetime as _dt
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

CONVENTIONS = "CF-1.10"
TRUE, FALSE = np.int8(1), np.int8(0)  # NetCDF has no boolean attribute type: flags are int8 0/1

# CF attributes of the coordinates geostp writes (axis letters are what cf-xarray and the checker look for)
COORD_ATTRS: dict[str, dict[str, str]] = {
    "lat": {"units": "degrees_north", "standard_name": "latitude", "long_name": "latitude", "axis": "Y"},
    "lon": {"units": "degrees_east", "standard_name": "longitude", "long_name": "longitude", "axis": "X"},
    "y": {"long_name": "pixel row", "units": "1"},
    "x": {"long_name": "pixel column", "units": "1"},
    "split": {"long_name": "data split of each time (train, valid or test)"},
    "segment": {"long_name": "gap-free segment of consecutive time steps in one split", "units": "1"},
    "sequence": {"long_name": "video sequence (clip) of each frame", "units": "1"},
    "init_time": {"standard_name": "forecast_reference_time", "long_name": "initialisation time (last input frame)"},
    "lead_time": {"standard_name": "forecast_period", "long_name": "lead time after init_time"},
    "valid_time": {"standard_name": "time", "long_name": "valid time = init_time + lead_time"},
    "channel": {"long_name": "variable of each channel"},
    "member": {"standard_name": "realization", "long_name": "ensemble member"},
}
TIME_ATTRS = {"standard_name": "time", "long_name": "time", "axis": "T"}

# vertical position of a variable: attribute name on the variable -> the scalar coordinate it becomes
VERTICAL = {
    "pressure_level": ("plev{}", {"units": "hPa", "standard_name": "air_pressure", "long_name": "pressure",
                                  "positive": "down", "axis": "Z"}),
    "height_above_ground": ("height{}m", {"units": "m", "standard_name": "height", "long_name": "height above ground",
                                          "positive": "up", "axis": "Z"}),
}


def netcdf_attr(value: Any) -> Any:
    """`value` as a NetCDF attribute: bools become int8 0/1, None an empty string, mappings JSON text."""
    if isinstance(value, (bool, np.bool_)):
        return TRUE if value else FALSE
    if value is None:
        return ""
    if isinstance(value, Mapping):
        return json.dumps(dict(value), default=str)
    if isinstance(value, (list, tuple)):
        items = [netcdf_attr(v) for v in value]
        return [str(v) for v in items] if any(isinstance(v, str) for v in items) else items
    if isinstance(value, Path):
        return str(value)
    return value


def netcdf_attrs(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of `attrs` whose values NetCDF can hold."""
    return {k: netcdf_attr(v) for k, v in attrs.items()}


def history_line(what: str = "") -> str:
    """One `history` entry: UTC time, geostp version, the command line (CF 2.6.2 style)."""
    import geostp

    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    cmd = " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])
    return f"{now}: {cmd} (geostp {geostp.__version__}{': ' + what if what else ''})"


def add_history(attrs: Mapping[str, Any], what: str = "") -> str:
    """`attrs['history']` with one more line appended (newest last)."""
    old = str(attrs.get("history", "") or "")
    return f"{old}\n{history_line(what)}" if old else history_line(what)


def vertical_coords(ds: xr.Dataset) -> xr.Dataset:
    """Turn each variable's `pressure_level` (hPa) / `height_above_ground` (m) attribute into a scalar CF
    vertical coordinate named in that variable's `coordinates`, so t850 sits at 850 hPa and t2m at 2 m.
    Variables read from a geostp file keep the vertical coordinate their `coordinates` named."""
    ds = ds.copy()
    for name in list(ds.data_vars):
        listed = _listed_vertical(ds, name)
        if listed:
            ds[name].attrs["_vertical"] = listed
        for attr, (fmt, cattrs) in VERTICAL.items():
            if attr not in ds[name].attrs:
                continue
            value = float(ds[name].attrs.pop(attr))
            coord = fmt.format(f"{value:g}".replace(".", "p").replace("-", "m"))
            ds = ds.assign_coords({coord: ((), np.float32(value), dict(cattrs))})
            ds[name].attrs["_vertical"] = coord
    return ds


def variable_coordinates(ds: xr.Dataset, name: str) -> list[str]:
    """The non-dimension coordinates that belong to data variable `name`: those on its dims, plus its
    own scalar vertical coordinate (xarray would otherwise attach every scalar coordinate to every variable)."""
    var = ds[name]
    own = var.attrs.get("_vertical") or _listed_vertical(ds, name)
    out = []
    for c in ds.coords:
        if c in ds.dims:
            continue
        if ds[c].ndim == 0:
            if c == own:
                out.append(c)
        elif set(ds[c].dims) <= set(var.dims):
            out.append(c)
    return out


def _listed_vertical(ds: xr.Dataset, name: str) -> str | None:
    """The scalar vertical coordinate a variable read back from a file names in its `coordinates`."""
    for c in str(ds[name].encoding.get("coordinates", "")).split():
        if c in ds.coords and ds[c].ndim == 0 and ds[c].attrs.get("axis") == "Z":
            return c
    return None


def vertical_of(ds: xr.Dataset, name: str) -> xr.DataArray | None:
    """The scalar vertical coordinate of data variable `name`, or None."""
    own = ds[name].attrs.get("_vertical") or _listed_vertical(ds, name)
    return ds[own] if own in ds.coords else None


def cf_dataset(ds: xr.Dataset, what: str = "") -> xr.Dataset:
    """`ds` ready to write: CF coordinate attributes, no fill values on coordinates, NetCDF attribute types,
    per-variable `coordinates`, `Conventions` and one more `history` line."""
    ds = ds.copy()
    owned = {c for v in ds.data_vars for c in variable_coordinates(ds, v)}
    orphans = [c for c in ds.coords if ds[c].ndim == 0 and ds[c].attrs.get("axis") == "Z" and c not in owned]
    ds = ds.drop_vars(orphans)  # e.g. plev500 after selecting t850 alone
    for name, attrs in COORD_ATTRS.items():
        if name in ds.coords:
            ds[name].attrs.update({k: v for k, v in attrs.items() if k not in ds[name].attrs or k == "axis"})
    if "time" in ds.coords and np.issubdtype(ds["time"].dtype, np.datetime64):
        ds["time"].attrs.update(TIME_ATTRS)
    for name in list(ds.data_vars):
        coords = variable_coordinates(ds, name)
        ds[name].attrs.pop("_vertical", None)
        ds[name].attrs.pop("coordinates", None)
        ds[name].encoding["coordinates"] = " ".join(coords)
        if not coords:
            ds[name].encoding.pop("coordinates")
    for name in ds.variables:
        ds[name].attrs = netcdf_attrs(ds[name].attrs)
        if name in ds.coords:
            ds[name].encoding["_FillValue"] = None  # CF 2.5.1: coordinates have no missing values
            ds[name].attrs.pop("_FillValue", None)
    ds.attrs = netcdf_attrs({**ds.attrs, "Conventions": CONVENTIONS, "history": add_history(ds.attrs, what)})
    return ds
