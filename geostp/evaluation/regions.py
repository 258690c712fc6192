"""Verification regions as latitude/longitude boxes: WeatherBench2's predefined ones and `box:LAT0,LAT1,LON0,LON1`.

A region is a mask on the grid (1 inside, 0 outside, bounds inclusive as WB2's coordinate slices); scores
average over it with the area weights times the mask. Boxes and names follow WeatherBench2's
`scripts/evaluate.py` (google-research/weatherbench2), with underscores instead of hyphens.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import xarray as xr

from geostp.errors import DataError, UnknownNameError
from geostp.registry import Registry


@dataclass(frozen=True)
class Region:
    """Union of latitude ranges x union of longitude ranges (degrees east in [0, 360), bounds inclusive)."""

    name: str
    lat: tuple[tuple[float, float], ...] = ((-90.0, 90.0),)
    lon: tuple[tuple[float, float], ...] = ((0.0, 360.0),)
    description: str = ""

    def mask(self, lat: np.ndarray | xr.DataArray, lon: np.ndarray | xr.DataArray) -> xr.DataArray:
        """(lat, lon) mask of 1.0 inside the region, 0.0 outside."""
        la = np.asarray(lat, dtype=np.float64)
        lo = np.mod(np.asarray(lon, dtype=np.float64), 360.0)
        in_lat = np.zeros(la.shape, bool)
        for a, b in self.lat:
            in_lat |= (la >= a) & (la <= b)
        in_lon = np.zeros(lo.shape, bool)
        for a, b in self.lon:
            in_lon |= (lo >= a) & (lo <= b)
        m = (in_lat[:, None] & in_lon[None, :]).astype(np.float64)
        return xr.DataArray(m, dims=("lat", "lon"), coords={"lat": la, "lon": np.asarray(lon, dtype=np.float64)},
                            name=f"region_{self.name}")


REGIONS: Registry[Region] = Registry("region")
for _r in (
    Region("global", description="whole globe"),
    Region("tropics", lat=((-20.0, 20.0),), description="|lat| <= 20"),
    Region("extratropics_nh", lat=((20.0, 90.0),), description="lat >= 20 (WB2 northern-hemisphere)"),
    Region("extratropics_sh", lat=((-90.0, -20.0),), description="lat <= -20 (WB2 southern-hemisphere)"),
    Region("extratropics", lat=((-90.0, -20.0), (20.0, 90.0)), description="|lat| >= 20"),
    Region("arctic", lat=((60.0, 90.0),), description="lat >= 60"),
    Region("antarctic", lat=((-90.0, -60.0),), description="lat <= -60"),
    Region("europe", lat=((35.0, 75.0),), lon=((347.5, 360.0), (0.0, 42.5)), description="35-75N, 12.5W-42.5E"),
    Region("north_america", lat=((25.0, 60.0),), lon=((240.0, 285.0),), description="25-60N, 120W-75W"),
    Region("north_atlantic", lat=((25.0, 65.0),), lon=((290.0, 350.0),), description="25-65N, 70W-10W"),
    Region("north_pacific", lat=((25.0, 60.0),), lon=((145.0, 230.0),), description="25-60N, 145E-130W"),
    Region("east_asia", lat=((25.0, 60.0),), lon=((102.5, 150.0),), description="25-60N, 102.5E-150E"),
    Region("ausnz", lat=((-45.0, -12.5),), lon=((120.0, 175.0),), description="45S-12.5S, 120E-175E"),
):
    REGIONS.add(_r.name, _r)

DEFAULT_REGIONS = ("global", "tropics", "extratropics_nh", "extratropics_sh")
BOX_PREFIX = "box:"


def parse_region(spec: str) -> Region:
    """A registered name or `box:LAT0,LAT1,LON0,LON1` (longitudes in -180..360; LON0 > LON1 wraps past 0)."""
    if not spec.startswith(BOX_PREFIX):
        try:
            return REGIONS.get(spec)
        except UnknownNameError:
            raise UnknownNameError("region", spec, [*REGIONS.names(), "box:LAT0,LAT1,LON0,LON1"]) from None
    try:
        lat0, lat1, lon0, lon1 = (float(v) for v in spec[len(BOX_PREFIX):].split(","))
    except ValueError:
        raise DataError(f"region {spec!r}: write a box as box:LAT0,LAT1,LON0,LON1, e.g. box:30,60,-10,40") from None
    if not (-90 <= lat0 < lat1 <= 90):
        raise DataError(f"region {spec!r}: latitudes must satisfy -90 <= LAT0 < LAT1 <= 90")
    a, b = lon0 % 360.0, lon1 % 360.0
    if lon1 - lon0 >= 360:
        lons = ((0.0, 360.0),)
    elif a <= b:
        lons = ((a, b),)
    else:  # crosses the 0 meridian
        lons = ((a, 360.0), (0.0, b))
    return Region(spec, lat=((lat0, lat1),), lon=lons, description=f"box {lat0:g}..{lat1:g}N, {lon0:g}..{lon1:g}E")


def region_masks(specs: Sequence[str], lat: np.ndarray, lon: np.ndarray, strict: bool = True) -> dict[str, xr.DataArray]:
    """Masks of the named regions on a grid; a region with no grid point is an error that names it
    (or, with strict=False, is left out)."""
    out = {}
    for spec in specs:
        region = parse_region(spec)
        m = region.mask(lat, lon)
        if not m.values.any():
            if not strict:
                continue
            raise DataError(f"region {spec!r} ({region.description}) holds no point of the grid "
                            f"(lat {float(np.min(lat)):g}..{float(np.max(lat)):g}, lon {float(np.min(lon)):g}..{float(np.max(lon)):g})")
        out[spec] = m
    return out
