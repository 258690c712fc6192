"""Ensemble diagnostics written by `geostp evaluate` next to the scores: rank histograms per variable and lead,
and fair Brier scores of exceeding train-climatology quantiles (per grid point, as WeatherBench2 defines
its probabilistic thresholds), for every forecast with a `member` dimension."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import xarray as xr

from geostp.evaluation.ensemble import MEMBER_DIM, brier_fair_per_time, rank_histogram
from geostp.evaluation.metrics import lat_weights
from geostp.errors import DataError

QUANTILES = (0.1, 0.9)
MAX_TRAIN_TIMES = 4000  # evenly spaced train times the quantiles are taken from (bounds memory on long records)


def climatology_thresholds(truth: xr.Dataset, variables: Sequence[str], quantiles: Sequence[float] = QUANTILES,
                           split: str = "train", max_times: int = MAX_TRAIN_TIMES) -> xr.Dataset:
    """Per variable (quantile, lat, lon): the `quantiles` of the `split` at each grid point over all its times
    (at most `max_times` of them, evenly spaced)."""
    if "split" not in truth.coords:
        raise DataError("the truth store has no `split` coordinate; Brier thresholds come from its train split")
    sel = np.flatnonzero(truth["split"].values == split)
    if len(sel) == 0:
        raise DataError(f"the truth store has no {split!r} split to take Brier thresholds from")
    sel = sel[np.unique(np.linspace(0, len(sel) - 1, min(len(sel), max_times)).round().astype(int))]
    out = xr.Dataset()
    for v in variables:
        da = truth[v].isel(time=sel).load().astype("float64")
        out[v] = da.quantile(list(quantiles), dim="time").reset_coords(drop=True)
    out.attrs.update({"threshold_method": f"per grid point {', '.join(f'{q:g}' for q in quantiles)} quantiles of "
                      f"{len(sel)} evenly spaced {split}-split times"})
    return out


def ensemble_diagnostics(forecasts: Mapping[str, xr.Dataset], truth: xr.Dataset, inits: np.ndarray,
                         thresholds: xr.Dataset | None = None, block: int = 256) -> xr.Dataset | None:
    """`rank_histogram` (model, variable, lead_time, rank) and `brier` (model, variable, quantile, lead_time),
    the latitude-weighted fair Brier score of value > threshold averaged over `inits`; None without ensembles."""
    from geostp.evaluation.scorecard import candidate_blocks, forecast_variables

    ens = {k: v for k, v in forecasts.items() if MEMBER_DIM in v.dims and v.sizes[MEMBER_DIM] >= 2}
    if not ens or "lat" not in next(iter(ens.values())).dims:
        return None
    first = next(iter(ens.values()))
    variables = forecast_variables(first)
    leads = first["lead_time"].values
    if thresholds is None:
        thresholds = climatology_thresholds(truth, variables)
    weights = lat_weights(first["lat"])
    ranks: dict[tuple[str, str], xr.DataArray] = {}
    brier: dict[tuple[str, str], xr.DataArray] = {}
    count = 0
    for _, sel, cands, obs, _ in candidate_blocks(ens, truth, inits, variables, len(leads), baselines=(),
                                                  block=block):
        count += len(sel)
        for var in variables:
            o = obs[var].reset_coords(drop=True)
            thr = thresholds[var].assign_coords(lat=o["lat"].values, lon=o["lon"].values)
            for model in ens:
                f = cands[model][var].reset_coords(drop=True)
                # every block has the same number of values per lead, so frequencies average by block size
                ranks[(model, var)] = ranks.get((model, var), 0) + len(sel) * rank_histogram(f, o)
                b = brier_fair_per_time(f, o, thr, weights).sum("init_time")
                brier[(model, var)] = brier.get((model, var), 0) + b

    def stack(table: dict) -> xr.DataArray:
        rows = [xr.concat([table[(m, v)] for v in variables], dim="variable") for m in ens]
        return xr.concat(rows, dim="model", join="outer").assign_coords(model=list(ens), variable=variables)

    out = xr.Dataset({"rank_histogram": stack(ranks) / count, "brier": stack(brier) / count})
    out["threshold"] = thresholds.to_dataarray("variable").astype(np.float32)
    out = out.assign_coords(lead_time=leads)
    out["rank_histogram"].attrs["definition"] = ("relative frequency of the truth's rank among the members over "
                                                 "init times and grid points (ties broken at random)")
    out["brier"].attrs["definition"] = ("latitude-weighted fair Brier score (Ferro 2014) of value > threshold, "
                                        "mean over init times")
    out.attrs.update({"n_init": count, "threshold_method": thresholds.attrs.get("threshold_method", "")})
    return out


def crps_spread_lines(scores: xr.Dataset, region: str = "global") -> list[str]:
    """CRPS, ensemble spread and spread-skill ratio (spread / rmse of the ensemble mean) per lead, per ensemble."""
    metrics = set(str(m) for m in scores["metric"].values)
    if not {"crps", "spread", "rmse"} <= metrics:
        return []
    reg = region if region in scores["region"].values else str(scores["region"].values[0])
    lines = []
    for var in scores["variable"].values:
        sub = scores["value"].sel(variable=var, region=reg)
        for model in sub["model"].values:
            spread = sub.sel(model=model, metric="spread").values
            if not np.nanmax(spread) > 0:  # deterministic baselines: spread 0
                continue
            lines.append(f"ensemble {model} {var} ({reg}):{'lead':>8}{'crps':>12}{'spread':>12}{'rmse':>12}"
                         f"{'spread/rmse':>13}")
            for li, lead in enumerate(sub["lead_time"].values):
                label = f"{lead / np.timedelta64(1, 'h'):g}h" if isinstance(lead, np.timedelta64) else f"{lead}f"
                c, s, r = (float(sub.sel(model=model, metric=k).values[li]) for k in ("crps", "spread", "rmse"))
                lines.append(f"{'':{len(f'ensemble {model} {var} ({reg}):')}}{label:>8}{c:12.4g}{s:12.4g}{r:12.4g}"
                             f"{s / r:13.3f}")
    return lines
