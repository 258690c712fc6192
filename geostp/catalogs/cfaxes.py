"""Find a gridded variable's axes from CF metadata (standard_name, units, axis, positive), not from names.

`lat`, `latitude`, `y` or `FNOCY` with units degrees_north are all latitude; `TIME`, `valid_time` or `t`
holding dates are time (cfgrib's `time` = forecast_reference_time gives way to its `valid_time`);
`level`, `pressure_level`, `isobaricInhPa`, `plev` are the vertical axis. Names are only a fallback for
coordinates without attributes. Curvilinear (2-D latitude/longitude) and rotated or projected grids are
refused with what is supported.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

import numpy as np
import xarray as xr

from geostp.errors import DataError

LAT_UNITS = {"degrees_north", "degree_north", "degree_n", "degrees_n", "degreen", "degreesn"}
LON_UNITS = {"degrees_east", "degree_east", "degree_e", "degrees_e", "degreee", "degreese"}
PRESSURE_UNITS = {"hpa": 1.0, "mbar": 1.0, "millibar": 1.0, "millibars": 1.0, "mb": 1.0, "pa": 0.01, "kpa": 10.0}
LEVEL_STANDARD_NAMES = {
    "air_pressure", "model_level_number", "atmosphere_hybrid_sigma_pressure_coordinate",
    "atmosphere_sigma_coordinate", "atmosphere_hybrid_height_coordinate", "altitude", "height", "depth",
}
UNSUPPORTED_STANDARD_NAMES = {
    "grid_latitude": "a rotated-pole grid", "grid_longitude": "a rotated-pole grid",
    "projection_x_coordinate": "a projected grid", "projection_y_coordinate": "a projected grid",
}
NAME_FALLBACK = {
    "lat": "lat", "latitude": "lat", "lon": "lon", "longitude": "lon", "time": "time", "valid_time": "time",
    "level": "level", "pressure_level": "level", "isobaricinhpa": "level", "plev": "level", "lev": "level",
}
SUPPORTED = (
    "geostp reads regular latitude-longitude grids (1-D latitude and longitude axes, CF units degrees_north/"
    "degrees_east) and y/x image grids; regrid the data to a regular lat/lon grid first (e.g. `cdo remapcon` "
    "or xESMF)"
)


def _units(coord: xr.DataArray) -> str:
    return str(coord.attrs.get("units", coord.encoding.get("units", ""))).strip()


def _is_time_values(coord: xr.DataArray) -> bool:
    if np.issubdtype(coord.dtype, np.datetime64):
        return True
    if coord.dtype == object and coord.size:
        first = coord.values.flat[0]
        return type(first).__module__.startswith("cftime")
    return False


def coord_role(coord: xr.DataArray) -> str | None:
    """lat, lon, time, forecast_reference_time, level, or None, from CF attributes (names only as fallback)."""
    sn = str(coord.attrs.get("standard_name", "")).lower()
    units = _units(coord).lower()
    axis = str(coord.attrs.get("axis", "")).upper()
    if sn in UNSUPPORTED_STANDARD_NAMES:
        return "unsupported"
    if sn == "latitude" or units in LAT_UNITS or (axis == "Y" and units.startswith("degree")):
        return "lat"
    if sn == "longitude" or units in LON_UNITS or (axis == "X" and units.startswith("degree")):
        return "lon"
    if sn == "forecast_reference_time":
        return "forecast_reference_time"
    if sn == "forecast_period":
        return "forecast_period"
    if sn == "time" or axis == "T" or " since " in units or _is_time_values(coord):
        return "time"
    if (sn in LEVEL_STANDARD_NAMES or axis == "Z" or units in PRESSURE_UNITS
            or str(coord.attrs.get("positive", "")).lower() in ("up", "down")):
        return "level"
    return NAME_FALLBACK.get(str(coord.name).lower())


@dataclass(frozen=True)
class Axes:
    """Dimension names of a variable's axes (None where absent); kind latlon or image (y/x pixels)."""

    time: Hashable | None
    row: Hashable
    col: Hashable
    level: Hashable | None
    kind: str


def _dim_roles(da: xr.DataArray) -> dict[Hashable, str | None]:
    return {d: coord_role(da[d]) if d in da.coords else None for d in da.dims}


def check_regular(da: xr.DataArray, where: str, ds: xr.Dataset | None = None) -> None:
    """Refuse curvilinear, rotated and projected grids with what geostp supports."""
    for name, c in da.coords.items():
        role = coord_role(c)
        if role in ("lat", "lon") and c.ndim >= 2:
            raise DataError(f"{where} is on a curvilinear grid (2-D {role} coordinate {name!r} {c.dims}): {SUPPORTED}")
        if role == "unsupported":
            kind = UNSUPPORTED_STANDARD_NAMES[str(c.attrs['standard_name']).lower()]
            raise DataError(f"{where} is on {kind} (coordinate {name!r} is {c.attrs['standard_name']}): {SUPPORTED}")
    gm = da.attrs.get("grid_mapping")
    if ds is not None and gm and str(gm).split(":")[0] in ds.variables:
        gname = str(ds[str(gm).split(":")[0]].attrs.get("grid_mapping_name", ""))
        if gname and gname != "latitude_longitude":
            raise DataError(f"{where} is on a {gname} grid (grid_mapping {gm!r}): {SUPPORTED}")


def find_axes(da: xr.DataArray, where: str, ds: xr.Dataset | None = None) -> Axes:
    """The variable's time, latitude (row), longitude (col) and level dims, found from CF metadata."""
    check_regular(da, where, ds)
    roles = _dim_roles(da)

    def one(role: str) -> Hashable | None:
        dims = [d for d, r in roles.items() if r == role]
        if len(dims) > 1:
            raise DataError(f"{where}: dims {dims} all look like {role} axes; expected one")
        return dims[0] if dims else None

    lat, lon = one("lat"), one("lon")
    time = one("time") or one("forecast_reference_time")
    level = one("level")
    if lat is not None and lon is not None:
        return Axes(time, lat, lon, level, "latlon")
    if "y" in da.dims and "x" in da.dims and lat is None and lon is None:
        return Axes(time, "y", "x", level, "image")
    desc = ", ".join(f"{d} ({_units(da[d]) or 'no units'})" if d in da.coords else f"{d} (no coordinate)" for d in da.dims)
    raise DataError(
        f"{where} has no latitude/longitude axes: dims {desc}. geostp finds them by CF metadata "
        "(units degrees_north/degrees_east, standard_name latitude/longitude, or names lat/lon) or takes "
        "y/x as an image grid; add the units attributes to the coordinates"
    )
