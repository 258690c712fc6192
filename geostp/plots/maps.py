"""Cartopy maps of a forecast: forecast | truth | error panels with offline coastlines, and GIFs over leads.

Coastlines come from the Natural Earth 110m file shipped in ``geostp/resources/cartopy`` (public domain;
see its README). The plotting functions point cartopy at it only while they draw (`offline_cartopy`),
so importing geostp never changes cartopy's configuration and nothing is ever downloaded.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from geostp.errors import ConfigError, DataError, GeostpError, UnknownNameError, missing_extra
from geostp import timeaxis

SEQUENTIAL = {"t850": "RdYlBu_r", "t2m": "RdYlBu_r", "z500": "viridis"}


class CartopyMissing(GeostpError, ImportError):
    """cartopy (geostp's `maps` extra) is not installed: a clean CLI error, and an ImportError callers can skip."""


def coastline_dir() -> Path:
    """Directory laid out as cartopy's `pre_existing_data_dir` holding the shipped coastline."""
    return Path(str(resources.files("geostp") / "resources" / "cartopy"))


@contextlib.contextmanager
def offline_cartopy() -> Iterator[Any]:
    """Point cartopy at geostp's shipped Natural Earth data for the duration of one drawing."""
    try:
        import cartopy
    except ImportError:
        raise CartopyMissing(str(missing_extra("cartopy", "maps"))) from None
    old = cartopy.config.get("pre_existing_data_dir")
    cartopy.config["pre_existing_data_dir"] = str(coastline_dir())
    try:
        yield cartopy
    finally:
        cartopy.config["pre_existing_data_dir"] = old


def _fmt_time(t: Any) -> str:
    if not timeaxis.is_datetime(np.asarray([t])):
        return str(t)
    return timeaxis.format_time(t)[:16].replace("T", " ") + " UTC"


def _lead_label(forecast: xr.Dataset, index: int) -> str:
    lead = forecast["lead_time"]
    return "+" + timeaxis.coord_labels(lead.values, dict(lead.attrs))[index]


def select_lead(forecast: xr.Dataset, lead: str | None) -> int:
    """Index of a lead such as '72h', '3d', '6month' or '10f'; default the last lead."""
    leads = forecast["lead_time"]
    if lead is None:
        return len(leads) - 1
    try:
        return timeaxis.lead_index(leads.values, dict(leads.attrs), lead)
    except ConfigError as exc:
        raise DataError(str(exc)) from None


def select_init(forecast: xr.Dataset, init: str | None) -> int:
    """Index of an init time (default the first); errors list the range."""
    inits = forecast["init_time"].values
    if init is None:
        return 0
    want = timeaxis.parse_time(init, inits)
    hits = np.flatnonzero(inits == want)
    if len(hits) == 0:
        raise DataError(f"init {init} is not in the forecast; it has {len(inits)} init times "
                        f"{_fmt_time(inits[0])} .. {_fmt_time(inits[-1])}")
    return int(hits[0])


def _projection(name: str, central_longitude: float) -> Any:
    import cartopy.crs as ccrs

    table = {"robinson": ccrs.Robinson, "platecarree": ccrs.PlateCarree}
    if name not in table:
        raise UnknownNameError("projection", name, table)
    return table[name](central_longitude=central_longitude)


def _cyclic(field: xr.DataArray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Add the wrap-around column so a global field has no seam at the last longitude (regional grids are
    drawn as they are). Hand-written rather than cartopy's add_cyclic_point, whose equal-spacing check
    refuses float32 labels such as 0.8333333."""
    from geostp.grid import is_periodic_lon, lon_step

    lon, data = field["lon"].values.astype(np.float64), field.values
    if not is_periodic_lon(lon):
        return data, lon, field["lat"].values
    return np.concatenate([data, data[..., :1]], axis=-1), np.append(lon, lon[-1] + lon_step(lon)), field["lat"].values


def frame_limits(forecast: xr.Dataset, var: str, init_index: int, lead_indices: Any,
                 truth_store: xr.Dataset | None = None) -> tuple[float, float, float]:
    """(vmin, vmax, error limit) over every frame of an animation: forecast and truth share one scale per
    variable, the error one symmetric scale, so colours mean the same value in every frame."""
    fields = forecast[var].isel(init_time=init_index, lead_time=list(lead_indices)).load().values
    lo, hi, err = float(np.nanmin(fields)), float(np.nanmax(fields)), 0.0
    for k, li in enumerate(lead_indices):
        truth = truth_field(truth_store, var, forecast["valid_time"].values[init_index, li])
        if truth is not None:
            lo, hi = min(lo, float(np.nanmin(truth.values))), max(hi, float(np.nanmax(truth.values)))
            err = max(err, float(np.nanmax(np.abs(fields[k] - truth.values))))
    return lo, hi, err or 1.0


def _title(text: str, width_in: float, fontsize: float) -> str:
    """`text` wrapped to the figure width (about 0.55 em per character), so titles are never cut off."""
    import textwrap

    return "\n".join(textwrap.wrap(text, max(20, int(width_in * 72 / (0.55 * fontsize)))))


def map_figure(forecast: xr.Dataset, var: str, lead_index: int, init_index: int = 0,
               truth: xr.DataArray | None = None, projection: str = "robinson",
               limits: tuple[float, float, float] | None = None, graticule: bool = False) -> Any:
    """Figure with panels forecast | truth | forecast - truth (truth panels only when `truth` is given).

    `limits` = (vmin, vmax, error limit) fixes the colour scales (animations); default: this frame's range.
    `graticule` draws labelled latitude/longitude lines.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import cartopy.crs as ccrs
    import matplotlib.pyplot as plt

    if var not in forecast.data_vars:
        raise UnknownNameError("variable", var, forecast.data_vars, where="the forecast")
    field = forecast[var].isel(init_time=init_index, lead_time=lead_index).load()
    field = field.drop_vars([c for c in field.coords if c not in ("lat", "lon")])
    init_t = forecast["init_time"].values[init_index]
    valid = forecast["valid_time"].values[init_index, lead_index]
    units = forecast[var].attrs.get("units", "")
    name = forecast[var].attrs.get("long_name", var)
    panels = [(f"forecast ({forecast.attrs.get('model', 'model')})", field)]
    if truth is not None:
        panels += [("truth", truth), ("forecast − truth", field - truth.values)]
    from geostp.grid import is_periodic_lon

    regional = not is_periodic_lon(field["lon"].values)
    if regional:  # a regional grid is drawn on its own extent, never wrapped
        projection = "platecarree"
    central = float(np.mean([field["lon"].values.min(), field["lon"].values.max()])) if projection == "platecarree" else 0.0
    proj = _projection(projection, central)
    width = max(5.2 * len(panels), 6.5)
    fig = plt.figure(figsize=(width, 4.3), layout="constrained")
    if limits is None:
        values = [field.values] + ([truth.values] if truth is not None else [])
        vmin = float(np.nanmin([np.nanmin(v) for v in values]))
        vmax = float(np.nanmax([np.nanmax(v) for v in values]))
        err_lim = float(np.nanmax(np.abs(field.values - truth.values))) if truth is not None else 1.0
    else:
        vmin, vmax, err_lim = limits
    for k, (title, data) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), k + 1, projection=proj)
        arr, lon, lat = _cyclic(data)
        if k == 2:
            mesh = ax.pcolormesh(lon, lat, arr, transform=ccrs.PlateCarree(), cmap="RdBu_r", vmin=-(err_lim or 1.0),
                                 vmax=err_lim or 1.0, shading="nearest")
        else:
            mesh = ax.pcolormesh(lon, lat, arr, transform=ccrs.PlateCarree(), cmap=SEQUENTIAL.get(var, "viridis"),
                                 vmin=vmin, vmax=vmax, shading="nearest")
        ax.coastlines(resolution="110m", linewidth=0.6, color="black")
        if regional:
            lo, la = field["lon"].values, field["lat"].values
            ax.set_extent([float(lo.min()), float(lo.max()), float(la.min()), float(la.max())], crs=ccrs.PlateCarree())
        elif projection == "robinson":
            ax.set_global()
        # masked cells (land in SST) are NaN: drawn transparent, the map's background shows through
        if graticule:  # labelled lines; drawn from the grid alone, nothing to download
            gl = ax.gridlines(draw_labels=True, linewidth=0.3, color="gray", alpha=0.6, x_inline=False, y_inline=False)
            gl.top_labels = gl.right_labels = False
            gl.xlabel_style = gl.ylabel_style = {"size": 6}
        ax.set_title(title, fontsize=10)
        cb = fig.colorbar(mesh, ax=ax, orientation="horizontal", shrink=0.8, pad=0.04)
        u = f" [{units}]" if units else ""
        cb.set_label(f"{var} error (forecast − truth){u}" if k == 2 else f"{var}{u}")
    head = f"{name} ({var}) valid {_fmt_time(valid)}, init {_fmt_time(init_t)} {_lead_label(forecast, lead_index)}"
    fig.suptitle(_title(head, width, 11), fontsize=11)
    return fig


def truth_field(truth_store: xr.Dataset | None, var: str, valid: Any) -> xr.DataArray | None:
    """The truth at one valid time, or None when the store lacks that time or variable."""
    if truth_store is None or var not in truth_store.data_vars:
        return None
    times = pd.Index(truth_store["time"].values)
    pos = times.get_indexer([valid])[0]
    if pos < 0:
        return None
    return truth_store[var].isel(time=pos).drop_vars([c for c in ("time", "split", "segment") if c in truth_store.coords]).load()


def plot_map(forecast: xr.Dataset, var: str, out: str | Path, lead: str | None = None, init: str | None = None,
             truth_store: xr.Dataset | None = None, projection: str = "robinson", dpi: int = 110,
             graticule: bool = False) -> Path:
    """Draw forecast | truth | error for one init and lead to a PNG (offline coastlines); returns its path."""
    import matplotlib.pyplot as plt

    from geostp.io import atomic_write_bytes

    li, ii = select_lead(forecast, lead), select_init(forecast, init)
    valid = forecast["valid_time"].values[ii, li]
    truth = truth_field(truth_store, var, valid)
    with offline_cartopy():
        fig = map_figure(forecast, var, li, ii, truth, projection, graticule=graticule)
        buf = _savefig_bytes(fig, "png", dpi)
        plt.close(fig)
    atomic_write_bytes(out, buf)
    return Path(out)


def _savefig_bytes(fig: Any, fmt: str, dpi: int) -> bytes:
    import io

    bio = io.BytesIO()
    fig.savefig(bio, format=fmt, dpi=dpi)
    return bio.getvalue()


def animate_map(forecast: xr.Dataset, var: str, out: str | Path, init: str | None = None,
                truth_store: xr.Dataset | None = None, projection: str = "robinson", fps: float = 2.0,
                dpi: int = 80, lead: str | None = None, graticule: bool = False, progress: bool = True) -> Path:
    """GIF over the lead times of one init up to `lead` (default: all), each frame forecast | truth | error, with
    colour scales fixed over all frames (`frame_limits`)."""
    import io

    import matplotlib.pyplot as plt
    from PIL import Image
    from tqdm import tqdm

    from geostp.io import atomic_write_bytes

    ii = select_init(forecast, init)
    leads = range(select_lead(forecast, lead) + 1)
    limits = frame_limits(forecast, var, ii, leads, truth_store)
    images = []
    with offline_cartopy():
        for li in tqdm(leads, desc=f"rendering {Path(out).name}", unit="frame", disable=not progress, leave=False):
            truth = truth_field(truth_store, var, forecast["valid_time"].values[ii, li])
            fig = map_figure(forecast, var, li, ii, truth, projection, limits=limits, graticule=graticule)
            images.append(Image.open(io.BytesIO(_savefig_bytes(fig, "png", dpi))).convert("RGB"))
            plt.close(fig)
    bio = io.BytesIO()
    images[0].save(bio, format="GIF", save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0)
    atomic_write_bytes(out, bio.getvalue())
    return Path(out)
