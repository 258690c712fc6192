"""The `geostp plot` job as a function: a map (gridded) or a frame grid (video, traffic) of one forecast, or a
GIF over its lead times."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from geostp.data.resolve import SAMPLE, SAMPLE_LABEL, resolve_data
from geostp.errors import GeostpError
from geostp.kinds import kind_of


def truth_for(forecast: xr.Dataset, truth: str | None = None) -> xr.Dataset | None:
    """The truth store: `truth` if given, else the forecast's data source when it can be opened (else None)."""
    if truth:
        return resolve_data(truth).store
    source = str(forecast.attrs.get("data_source", ""))
    try:
        if source == SAMPLE_LABEL or source.startswith(SAMPLE):
            return resolve_data(SAMPLE).store
        if source:
            return resolve_data(source).store
    except GeostpError:
        return None
    return None


def plot(forecast: xr.Dataset, out_stem: str | Path, *, var: str | None = None, lead: str | None = None,
         init: str | None = None, truth: xr.Dataset | None = None, animate: bool = False,
         projection: str = "robinson", out: str | Path | None = None, graticule: bool = False,
         members: bool = False) -> tuple[str, Path]:
    """Draw `forecast` (forecast | truth | error panels when `truth` is given); returns (kind, path) with kind
    "frames", "animation", "members" (postage stamps of an ensemble's members) or "map". Default file names start
    with `out_stem` (the forecast's path without .zarr)."""
    stem = Path(out_stem)
    if members:
        return "members", _plot_members(forecast, stem, var, lead, init, truth, projection, out)
    if kind_of(forecast).plotter == "frames":
        from geostp.plots.frames import plot_frames
        from geostp.plots.maps import select_init

        png = Path(out) if out else stem.with_name(f"{stem.name}-frames.png")
        return "frames", plot_frames(forecast, truth, png, init_index=select_init(forecast, init), channel=var)
    from geostp.plots.maps import animate_map, plot_map, select_lead

    var = var or str(next(iter(forecast.data_vars)))
    if animate:
        gif = Path(out) if out else stem.with_name(f"{stem.name}-{var}.gif")
        return "animation", animate_map(forecast, var, gif, init=init, truth_store=truth, projection=projection,
                                        lead=lead, graticule=graticule)  # up to --lead (default: all)
    lead_v = forecast["lead_time"].values[select_lead(forecast, lead)]
    label = f"{lead_v / np.timedelta64(1, 'h'):g}h" if forecast["lead_time"].dtype.kind == "m" else str(lead_v)
    png = Path(out) if out else stem.with_name(f"{stem.name}-{var}-{label}.png")
    return "map", plot_map(forecast, var, png, lead=lead, init=init, truth_store=truth, projection=projection,
                           graticule=graticule)


def _plot_members(forecast: xr.Dataset, stem: Path, var: str | None, lead: str | None, init: str | None,
                  truth: xr.Dataset | None, projection: str, out: str | Path | None) -> Path:
    from geostp.plots.ensemble import plot_members
    from geostp.plots.maps import select_init, select_lead, truth_field

    var = var or str(next(iter(forecast.data_vars)))
    li, ii = select_lead(forecast, lead), select_init(forecast, init)
    lead_v = forecast["lead_time"].values[li]
    label = f"{lead_v / np.timedelta64(1, 'h'):g}h" if forecast["lead_time"].dtype.kind == "m" else str(lead_v)
    png = Path(out) if out else stem.with_name(f"{stem.name}-{var}-{label}-members.png")
    valid = forecast["valid_time"].values[ii, li]
    return plot_members(forecast, var, png, li, ii, truth_field(truth, var, valid), projection)


def plot_path(path: str | Path, truth: str | None = None, **kw: object) -> tuple[str, Path]:
    """`plot` for a forecast store path and a truth name (default: the forecast's own data source)."""
    from geostp.forecast.output import open_forecast

    fc = open_forecast(path)
    path = Path(path)
    return plot(fc, path.with_name(path.name.removesuffix(".zarr")), truth=truth_for(fc, truth), **kw)


def plot_skill_dir(eval_dir: str | Path, var: str | None = None, lead: str | None = None, model: str | None = None,
                   out: str | Path | None = None) -> list[tuple[str, Path]]:
    """Skill maps (RMSE, bias) and zonal spectra from an evaluation directory of `geostp evaluate`."""
    from geostp.errors import DataError
    from geostp.plots.skill import plot_skill_maps, plot_spectra

    eval_dir = Path(eval_dir)
    maps_nc, spectra_nc = eval_dir / "skill_maps.nc", eval_dir / "spectra.nc"
    if not maps_nc.is_file() or not spectra_nc.is_file():
        raise DataError(f"{eval_dir} has no skill_maps.nc/spectra.nc: run `geostp evaluate FORECAST --truth STORE "
                        f"--out {eval_dir}` on a lat/lon forecast first")
    maps, spectra = xr.load_dataset(maps_nc), xr.load_dataset(spectra_nc)
    var = var or str(maps["variable"].values[0])
    base = Path(out) if out else eval_dir / f"skill_maps-{var}.png"
    return [("skill maps", plot_skill_maps(maps, base, model=model, variable=var, lead=lead)),
            ("spectra", plot_spectra(spectra, base.with_name(f"spectra-{var}.png"), variable=var))]
