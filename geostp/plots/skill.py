"""Skill maps (per-grid-point RMSE and bias) and zonal energy spectra written by `geostp evaluate`."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import xarray as xr

from geostp.errors import DataError


def _save(fig, out: str | Path, dpi: int = 110) -> Path:
    import matplotlib.pyplot as plt

    from geostp.io import atomic_write_bytes

    bio = io.BytesIO()
    fig.savefig(bio, format="png", dpi=dpi)
    plt.close(fig)
    atomic_write_bytes(out, bio.getvalue())
    return Path(out)


def _pick(ds: xr.Dataset, dim: str, value: str | None) -> str:
    names = [str(v) for v in ds[dim].values]
    if value is None:
        return names[0]
    if value not in names:
        raise DataError(f"{dim} {value!r} is not in the evaluation; it has {', '.join(names)}")
    return value


def _lead_index(ds: xr.Dataset, lead: str | None) -> int:
    leads = ds["lead_time"].values
    if lead is None:
        return len(leads) - 1
    import pandas as pd

    want = pd.Timedelta(lead).to_timedelta64() if np.issubdtype(leads.dtype, np.timedelta64) else int(lead)
    hits = np.flatnonzero(leads == want)
    if not len(hits):
        raise DataError(f"lead {lead} is not among the evaluated leads")
    return int(hits[0])


def _label(lead: object) -> str:
    return f"{lead / np.timedelta64(1, 'h'):g}h" if isinstance(lead, np.timedelta64) else str(lead)


def plot_skill_maps(maps: xr.Dataset, out: str | Path, model: str | None = None, variable: str | None = None,
                    lead: str | None = None) -> Path:
    """RMSE and bias maps of one model, variable and lead (default: the first model and variable, last lead)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    model, variable = _pick(maps, "model", model), _pick(maps, "variable", variable)
    li = _lead_index(maps, lead)
    sub = maps.sel(model=model, variable=variable).isel(lead_time=li)
    units = maps.attrs.get(f"units_{variable}", "")
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.4), layout="constrained")
    lon, lat = sub["lon"].values, sub["lat"].values
    bmax = float(np.nanmax(np.abs(sub["bias"].values))) or 1.0
    for ax, name, cmap, lim in ((axes[0], "rmse", "viridis", (0, None)), (axes[1], "bias", "RdBu_r", (-bmax, bmax))):
        im = ax.pcolormesh(lon, lat, sub[name].values, cmap=cmap, vmin=lim[0], vmax=lim[1], shading="nearest")
        ax.set_title(f"{name.upper()} of {variable}, {model}, lead {_label(maps['lead_time'].values[li])}")
        ax.set_xlabel("longitude [deg E]")
        ax.set_ylabel("latitude [deg N]")
        fig.colorbar(im, ax=ax, label=units)
    return _save(fig, out)


def plot_spectra(spectra: xr.Dataset, out: str | Path, variable: str | None = None,
                 lat_band: tuple[float, float] = (30.0, 60.0)) -> Path:
    """Zonal energy spectra (mean over lat_band in both hemispheres) against wavelength, one panel per lead
    (at most 4: first, last and two between), a line per model and the truth."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from geostp.evaluation.diagnostics import TRUTH, band_mean

    from geostp.errors import ShapeError

    variable = _pick(spectra, "variable", variable)
    try:
        band = band_mean(spectra.sel(variable=variable), *lat_band)
    except ShapeError:  # a coarse grid without rows in the band: all latitudes
        lat_band = (0.0, 90.0)
        band = band_mean(spectra.sel(variable=variable), *lat_band)
    n = band.sizes["lead_time"]
    picks = sorted(set(np.linspace(0, n - 1, min(n, 4)).round().astype(int).tolist()))
    fig, axes = plt.subplots(1, len(picks), figsize=(4.2 * len(picks), 3.4), squeeze=False, layout="constrained")
    wl = band["wavelength_km"].values
    keep = np.isfinite(wl)
    for ax, li in zip(axes[0], picks):
        for model in [str(m) for m in band["model"].values]:
            style = {"color": "k", "linewidth": 2} if model == TRUTH else {}
            ax.loglog(wl[keep], band.sel(model=model).isel(lead_time=li).values[keep], label=model, **style)
        ax.invert_xaxis()
        ax.set_title(f"{variable}, lead {_label(band['lead_time'].values[li])}")
        ax.set_xlabel("zonal wavelength [km]")
        ax.set_ylabel(f"energy [{spectra.attrs.get(f'units_{variable}', '')}]")
        ax.grid(alpha=0.3, which="both")
    axes[0][0].legend(fontsize=8)
    fig.suptitle(f"zonal energy spectra, mean over {lat_band[0]:g}-{lat_band[1]:g} deg N and S")
    return _save(fig, out)
