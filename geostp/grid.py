"""Longitude conventions of lat/lon grids: one labelling for every source, and whether a grid is global.

Convention: longitudes ascend; a global grid (its cells cover 360°) is labelled in [0, 360) starting at the
cell nearest 0°E; a regional grid keeps its own order, labelled in [0, 360) when that keeps it ascending
(e.g. 170°E..170°W -> 170..190) and in [-180, 180) when it crosses the Greenwich meridian (20°W..40°E).
Only labels that move by ±360 change (rounded to 1e-9 degrees, so -179.9 becomes 180.1, not
180.09999999999999); every other label is the source's value bit for bit.
"""

from __future__ import annotations

import numpy as np

from geostp.errors import DataError

#: store attribute: True when the longitude axis is global (periodic), False for regional grids
PERIODIC_ATTR = "periodic_lon"


def lon_step(lon: np.ndarray) -> float:
    """The median spacing of an ascending longitude axis (nan for one column)."""
    return float(np.median(np.diff(lon))) if len(lon) > 1 else float("nan")


def is_periodic_lon(lon: np.ndarray) -> bool:
    """True when equally spaced longitudes cover the full circle: n * step == 360 (to 1e-4 of a step: float32
    labels such as OSTIA's 0.8333333 carry ~3e-5 degrees of rounding)."""
    lon = np.asarray(lon, dtype=np.float64)
    if len(lon) < 2:
        return False
    d = np.diff(lon)
    step = float(np.median(d))
    if step <= 0 or np.abs(d - step).max() > 1e-4 * step:
        return False
    return abs(len(lon) * step - 360.0) <= 1e-4 * step


def _shift(lon: np.ndarray, low: float) -> np.ndarray:
    """Labels moved by whole turns into [low, low + 360); moved values rounded to 1e-9 degrees (so the
    float noise of ±360 goes), the others returned bit for bit."""
    turns = np.floor((lon - low) / 360.0)
    out = lon.copy()
    moved = turns != 0
    out[moved] = np.round(lon[moved] - 360.0 * turns[moved], 9)
    return out


def _unwrap(lon: np.ndarray, where: str) -> tuple[np.ndarray, np.ndarray]:
    """(order, ascending values) of a longitude axis that increases or decreases modulo 360 (170, 180, -170)."""
    order = np.arange(len(lon))
    if len(lon) < 2:
        return order, lon
    d = np.diff(lon)
    up, down = np.mod(d, 360.0), np.mod(-d, 360.0)
    if np.all((up > 0) & (up < 180)):
        steps = up
    elif np.all((down > 0) & (down < 180)):
        order, lon, steps = order[::-1], lon[::-1], down[::-1]
    else:
        raise DataError(f"{where}: longitude is not monotonic ({lon[:4].tolist()} ...): geostp reads regular grids")
    wraps = np.concatenate([[0.0], np.cumsum(np.round((lon[0] + np.cumsum(steps) - lon[1:]) / 360.0))])
    return order, lon + 360.0 * wraps


def normalize_lon(lon: np.ndarray, where: str) -> tuple[np.ndarray, np.ndarray, bool]:
    """(order, labels, periodic): index the source columns by `order` to get ascending `labels`.

    A duplicated cyclic column (0 and 360 both present) is dropped from `order`.
    """
    lon = np.asarray(lon, dtype=np.float64)
    if lon.ndim != 1 or not np.all(np.isfinite(lon)):
        raise DataError(f"{where}: longitude must be a 1-D axis of finite values")
    order, lon = _unwrap(lon, where)
    if len(lon) > 2 and abs((lon[-1] - lon[0]) - 360.0) <= 1e-6 * max(lon_step(lon), 1e-9):
        order, lon = order[:-1], lon[:-1]  # cyclic point repeated at both ends
    periodic = is_periodic_lon(lon)
    if periodic:
        labels = _shift(lon, 0.0)
        perm = np.argsort(labels, kind="stable")
        return order[perm], labels[perm], True
    for low in (0.0, -180.0):
        labels = _shift(lon, low)
        if np.all(np.diff(labels) > 0):
            return order, labels, False
    return order, lon, False  # wider than either half-open circle allows: the unwrapped values
