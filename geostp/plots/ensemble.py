"""Ensemble plots: CRPS and spread-skill ratio against lead, rank histograms (from `geostp evaluate`'s scores and
ensemble.nc) and postage stamps of a forecast's members (one map per member, offline cartopy coastlines)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from geostp.errors import DataError
from geostp.plots.curves import STYLE, _lead_axis
from geostp.plots.skill import _label, _pick, _save

MAX_LEAD_PANELS = 4


def _agg() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def ensemble_scores_figure(scores: xr.Dataset, region: str = "global") -> Any:
    """Per variable: CRPS against lead for every model (a baseline's CRPS is its MAE) and the spread-skill ratio
    spread / ensemble-mean RMSE of every ensemble (spread > 0), with the reliable value 1 marked."""
    plt = _agg()
    if not {"crps", "spread", "rmse"} <= {str(m) for m in scores["metric"].values}:
        raise DataError("the scores have no crps/spread: evaluate a forecast made with --members N (N >= 2)")
    if "region" in scores.dims:
        scores = scores.sel(region=region if region in scores["region"].values else scores["region"].values[0])
    variables = [str(v) for v in scores["variable"].values]
    x, xlabel = _lead_axis(scores["lead_time"])
    fig, axes = plt.subplots(2, len(variables), figsize=(4.6 * len(variables), 6.4), squeeze=False,
                             layout="constrained")
    for k, var in enumerate(variables):
        sub = scores["value"].sel(variable=var)
        ax_c, ax_r = axes[0, k], axes[1, k]
        for model in [str(m) for m in sub["model"].values]:
            ax_c.plot(x, sub.sel(model=model, metric="crps"), marker="o", markersize=3, label=model,
                      **STYLE.get(model, {}))
            spread = sub.sel(model=model, metric="spread").values
            if np.nanmax(spread) > 0:
                ax_r.plot(x, spread / sub.sel(model=model, metric="rmse").values, marker="o", markersize=3,
                          label=model)
        units = scores.attrs.get(f"units_{var}", "")
        ax_c.set_title(f"CRPS of {var}")
        ax_c.set_ylabel("CRPS" + (f" [{units}]" if units else ""))
        ax_r.axhline(1.0, color="0.4", linestyle="--", linewidth=0.8)
        ax_r.set_title(f"spread-skill ratio of {var}")
        ax_r.set_ylabel("spread / RMSE of the mean")
        for ax in (ax_c, ax_r):
            ax.set_xlabel(xlabel)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
    return fig


def rank_histogram_figure(ens: xr.Dataset, model: str | None = None, variable: str | None = None) -> Any:
    """Bars of the rank histogram of one model and variable, a panel per lead (at most 4: first, last and two
    between), with the flat frequency 1 / (m + 1) of a reliable ensemble."""
    plt = _agg()
    model, variable = _pick(ens, "model", model), _pick(ens, "variable", variable)
    hist = ens["rank_histogram"].sel(model=model, variable=variable).dropna("rank", how="all")
    n = hist.sizes["lead_time"]
    picks = sorted(set(np.linspace(0, n - 1, min(n, MAX_LEAD_PANELS)).round().astype(int)))
    fig, axes = plt.subplots(1, len(picks), figsize=(3.2 * len(picks), 3.0), squeeze=False, layout="constrained")
    for ax, li in zip(axes[0], picks):
        h = hist.isel(lead_time=li)
        ax.bar(h["rank"].values, h.values, color="tab:blue", width=0.8)
        ax.axhline(1.0 / h.sizes["rank"], color="0.3", linestyle="--", linewidth=0.8)
        ax.set_title(f"{variable}, lead {_label(hist['lead_time'].values[li])}", fontsize=10)
        ax.set_xlabel("rank of the truth among the members")
    axes[0, 0].set_ylabel("relative frequency")
    fig.suptitle(f"rank histogram of {model}", fontsize=11)
    return fig


def members_figure(forecast: xr.Dataset, var: str, lead_index: int, init_index: int = 0,
                   truth: xr.DataArray | None = None, projection: str = "robinson", max_members: int = 16) -> Any:
    """Postage stamps: one map per member (the first `max_members`) of one init and lead, and the truth when
    given, on one colour scale (draw and save inside `geostp.plots.maps.offline_cartopy`)."""
    plt = _agg()
    import cartopy.crs as ccrs

    from geostp.plots.maps import SEQUENTIAL, _cyclic, _fmt_time, _lead_label, _projection

    if "member" not in forecast.dims:
        raise DataError("the forecast has no `member` dimension: make one with geostp forecast --members N")
    if var not in forecast.data_vars:
        raise DataError(f"variable {var!r} is not in the forecast; it has {', '.join(map(str, forecast.data_vars))}")
    fields = forecast[var].isel(init_time=init_index, lead_time=lead_index, member=slice(0, max_members)).load()
    fields = fields.drop_vars([c for c in fields.coords if c not in ("member", "lat", "lon")])
    panels = [(f"member {int(m)}", fields.sel(member=m)) for m in fields["member"].values]
    if truth is not None:
        panels.append(("truth", truth))
    vmin = float(min(np.nanmin(p.values) for _, p in panels))
    vmax = float(max(np.nanmax(p.values) for _, p in panels))
    cols = int(np.ceil(np.sqrt(len(panels))))
    rows = int(np.ceil(len(panels) / cols))
    proj = _projection(projection, 0.0)
    fig = plt.figure(figsize=(3.2 * cols, 2.1 * rows + 0.9), layout="constrained")
    mesh = None
    for k, (title, data) in enumerate(panels):
        ax = fig.add_subplot(rows, cols, k + 1, projection=proj)
        arr, lon, lat = _cyclic(data)
        mesh = ax.pcolormesh(lon, lat, arr, transform=ccrs.PlateCarree(), cmap=SEQUENTIAL.get(var, "viridis"),
                             vmin=vmin, vmax=vmax, shading="nearest")
        ax.coastlines(resolution="110m", linewidth=0.4, color="black")
        if projection == "robinson":
            ax.set_global()
        ax.set_title(title, fontsize=9)
    units = forecast[var].attrs.get("units", "")
    fig.colorbar(mesh, ax=fig.axes, orientation="horizontal", shrink=0.6, label=f"{var}" + (f" [{units}]" if units else ""))
    init_t = forecast["init_time"].values[init_index]
    fig.suptitle(f"{forecast.attrs.get('model', 'model')} {var}: members at init {_fmt_time(init_t)} "
                 f"{_lead_label(forecast, lead_index)}", fontsize=10)
    return fig


def plot_ensemble_scores(scores: xr.Dataset, out: str | Path) -> Path:
    """Write `ensemble_scores_figure` to a PNG."""
    return _save(ensemble_scores_figure(scores), out)


def plot_rank_histogram(ens: xr.Dataset, out: str | Path, model: str | None = None,
                        variable: str | None = None) -> Path:
    """Write `rank_histogram_figure` to a PNG."""
    return _save(rank_histogram_figure(ens, model, variable), out)


def plot_members(forecast: xr.Dataset, var: str, out: str | Path, lead_index: int, init_index: int = 0,
                 truth: xr.DataArray | None = None, projection: str = "robinson") -> Path:
    """Write `members_figure` to a PNG."""
    from geostp.plots.maps import offline_cartopy

    with offline_cartopy():  # coastlines are read when the figure is drawn, i.e. saved
        return _save(members_figure(forecast, var, lead_index, init_index, truth, projection), out)
