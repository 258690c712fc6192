"""Score forecasts against a truth store next to persistence and climatology: per-lead tables with
bootstrap confidence intervals over init times, CSV/NetCDF output and a cross-model scorecard.

Flow: `per_time_scores` reads the forecast in blocks of init times (memory-bounded), builds the
truth, persistence and climatology for the same init and valid times, and computes every metric's
per-time values; `summarize` averages them over init times (RMSE: root after the mean) and bootstraps
the init times (circular block bootstrap, so that the correlation of neighbouring inits widens the
interval as it should); `relative_scorecard` does the same for paired differences against a reference.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from geostp import timeaxis
from geostp.errors import DataError
from geostp.registry import Registry
from geostp.evaluation import ensemble as _ensemble  # noqa: F401  (registers crps and spread)
from geostp.evaluation import metrics as M
from geostp.evaluation.ensemble import MEMBER_DIM
from geostp.evaluation.bootstrap import BootstrapConfig, resample_means
from geostp.evaluation.baselines import climatology_at, compute_climatology, persistence_forecast, truth_at
from geostp.evaluation.climatology_ensemble import NAME as PROB_CLIMATOLOGY
from geostp.evaluation.climatology_ensemble import climatology_ensemble
from geostp.evaluation.regions import DEFAULT_REGIONS, region_masks
from geostp.data.masks import variable_mask
from geostp.kinds import FRAMES_VAR, kind_of

BASELINES = ("persistence", "climatology")
TIME = "init_time"


def frame_scaling(truth: xr.Dataset, variables: Sequence[str]) -> tuple[xr.DataArray, xr.DataArray, float, str]:
    """(offset, scale, data_range, note) for video/traffic metrics, which OpenSTL computes on the [0, 1] scale.

    Stores normalised by min-max or a fixed range (TaxiBJ, Moving MNIST) are mapped with their own
    train statistics to [0, 1]: x' = (x - norm_offset) / norm_scale, peak 1. Other stores are scored in
    their units shifted by the train minimum (so errors keep their units) with the train max - min as peak.
    """
    kinds = {truth[v].attrs.get("norm_kind") for v in variables}
    chan = pd.Index(list(variables), name="channel")
    if kinds <= {"minmax", "minmax_shared", "fixed"}:
        off = xr.DataArray([float(truth[v].attrs["norm_offset"]) for v in variables], coords={"channel": chan})
        sc = xr.DataArray([float(truth[v].attrs["norm_scale"]) for v in variables], coords={"channel": chan})
        return off, sc, 1.0, "frames scored on the [0, 1] scale of the store's min-max/fixed normalisation"
    lo = min(float(truth[v].attrs.get("stats_min", 0.0)) for v in variables)
    hi = max(float(truth[v].attrs.get("stats_max", 1.0)) for v in variables)
    # Shift by the train minimum so that [min, max] maps to [0, max - min]: clipping to (0, data_range) and
    # SSIM's luminance term (not shift-invariant) then see the data as OpenSTL's [0, 1] frames, scaled.
    off = xr.DataArray(np.full(len(variables), lo), coords={"channel": chan})
    one = xr.DataArray(np.ones(len(variables)), coords={"channel": chan})
    return off, one, hi - lo, (f"frames scored in the store's units minus the train minimum {lo:g}, "
                               f"peak = train max - min = {hi - lo:g}")


def _family(forecast: xr.Dataset) -> str:
    """The metric family of a forecast's data kind (geostp.kinds): "weather" or "frames"."""
    return kind_of(forecast).family


def forecast_variables(forecast: xr.Dataset) -> list[str]:
    """Store variables a forecast covers (data vars, or the channels of `frames`)."""
    if _family(forecast) == "frames":
        return [str(c) for c in forecast["channel"].values]
    return [str(v) for v in forecast.data_vars]


def scored_inits(forecast: xr.Dataset, truth: xr.Dataset) -> tuple[np.ndarray, np.ndarray]:
    """Init times whose valid times and init time are all in the truth, and those that are not."""
    truth_times = pd.Index(truth["time"].values)
    valid_ok = truth_times.get_indexer(forecast["valid_time"].values.ravel()).reshape(forecast["valid_time"].shape) >= 0
    init_ok = truth_times.get_indexer(forecast["init_time"].values) >= 0
    ok = valid_ok.all(axis=1) & init_ok
    inits = forecast["init_time"].values
    if not ok.any():
        vt = forecast["valid_time"].values
        raise DataError(
            f"the truth store has none of the forecast's valid times: the forecast needs {_fmt(vt.min())} .. "
            f"{_fmt(vt.max())}, the truth covers {_fmt(truth['time'].values[0])} .. {_fmt(truth['time'].values[-1])} "
            "(check --truth is the store the forecast was made from, or one covering its period)"
        )
    return inits[ok], inits[~ok]


def _fmt(t: object) -> str:
    return timeaxis.format_time(t)


def _as_frames(ds: xr.Dataset, variables: Sequence[str]) -> xr.DataArray:
    """Stack per-variable (…, y, x) fields into one (…, channel, y, x) array."""
    arr = xr.concat([ds[v] for v in variables], dim=pd.Index(list(variables), name="channel"))
    return arr.transpose(*[d for d in arr.dims if d not in ("channel", "y", "x")], "channel", "y", "x")


MODEL_SUFFIX = "-model"


def distinct_names(forecasts: Mapping[str, xr.Dataset], baselines: Sequence[str] = BASELINES) -> dict[str, xr.Dataset]:
    """Forecasts keyed so that none takes a baseline's row: a forecast named `climatology` (the registry's
    climatology model) becomes `climatology-model`, next to the scorecard's own climatology."""
    out: dict[str, xr.Dataset] = {}
    for name, fc in forecasts.items():
        label = f"{name}{MODEL_SUFFIX}" if name in baselines else name
        while label in out or label in baselines:
            label += "'"
        out[label] = fc
    return out


@dataclass(frozen=True)
class Convention:
    """How weather scores are defined: which metrics, latitude-weighted or plain grid means, pooled leads."""

    name: str
    metrics: Registry[M.Metric]
    lat_weighted: bool
    pooled: bool  # also report each score pooled over all leads (one mean, one root)
    description: str


CONVENTIONS: Registry[Convention] = Registry("convention")
CONVENTIONS.add("wb2", Convention("wb2", M.WEATHER_METRICS, True, False,
                                  "WeatherBench2: area-weighted means, RMSE = sqrt of the time-mean MSE per lead"))
CONVENTIONS.add("openstl", Convention("openstl", M.OPENSTL_WEATHER_METRICS, False, True,
                                      "OpenSTL WeatherBench: unweighted grid means, MSE/MAE/RMSE per lead and "
                                      "pooled over all leads with one square root"))
FRAMES_NOTE = "OpenSTL frame metrics: per-frame sums over (channel, y, x), mean over frames"
FRAME_REGION = "frame"
POOLED_LEAD = "all"  # the one "region" of video/traffic scores: the whole frame


def metric_registry(family: str, convention: str = "wb2") -> Registry[M.Metric]:
    """The metrics of a family (frames) or weather convention."""
    return M.FRAME_METRICS if family == "frames" else CONVENTIONS.get(convention).metrics


def _registry_of(per_time: xr.DataArray) -> Registry[M.Metric]:
    family = per_time.attrs.get("family", "weather")
    return metric_registry(family, per_time.attrs.get("convention", "wb2") if family != "frames" else "wb2")


def _region_weights(first: xr.Dataset, regions: Sequence[str] | None, conv: Convention) -> dict[str, xr.DataArray]:
    """Per-region (lat, lon) weights: area weights (WB2) or ones (OpenSTL), times each region's mask."""
    lat, lon = first["lat"].values, first["lon"].values
    base = M.lat_weights(first["lat"]) if conv.lat_weighted else xr.DataArray(np.ones(len(lat)), dims=("lat",),
                                                                                  coords={"lat": lat})
    out = {}
    masks = region_masks(DEFAULT_REGIONS, lat, lon, strict=False) if regions is None else region_masks(regions, lat, lon)
    for name, mask in masks.items():
        w = (base * mask).transpose("lat", "lon")
        out[name] = w.assign_coords(lat=first["lat"].values, lon=first["lon"].values)
    return out


def candidate_blocks(forecasts: Mapping[str, xr.Dataset], truth: xr.Dataset, inits: np.ndarray,
                     variables: Sequence[str], n_leads: int, baselines: Sequence[str] = BASELINES,
                     climatology: xr.Dataset | None = None, block: int = 256, members: int = 0
                     ) -> Iterator[tuple[int, np.ndarray, dict[str, xr.Dataset], xr.Dataset, xr.Dataset | None]]:
    """Blocks of init times in memory: (offset, inits, {model or baseline: forecast}, truth, climatology),
    forecasts and baselines on the same init and valid times; `members`: those of the probabilistic climatology."""
    for b0 in range(0, len(inits), block):
        sel = inits[b0:b0 + block]
        fcs = {k: v.sel(init_time=sel).isel(lead_time=slice(0, n_leads)).load() for k, v in forecasts.items()}
        ref = fcs[next(iter(fcs))]
        vt = ref["valid_time"]
        obs = truth_at(truth, variables, vt)
        cands: dict[str, xr.Dataset] = dict(fcs)
        if "persistence" in baselines:
            cands["persistence"] = persistence_forecast(truth, variables, ref["init_time"], ref["lead_time"]).assign_coords(valid_time=vt)
        clim_here = climatology_at(climatology, vt) if climatology is not None else None
        if "climatology" in baselines:
            cands["climatology"] = clim_here
        if PROB_CLIMATOLOGY in baselines:
            cands[PROB_CLIMATOLOGY] = climatology_ensemble(truth, variables, vt, members)
        yield b0, sel, cands, obs, clim_here


def per_time_scores(forecasts: Mapping[str, xr.Dataset], truth: xr.Dataset, inits: np.ndarray,
                    metrics: Sequence[str] | None = None, baselines: Sequence[str] = BASELINES,
                    climatology: xr.Dataset | None = None, block: int = 256, progress: bool = False,
                    regions: Sequence[str] | None = None, convention: str = "wb2") -> xr.DataArray:
    """Per-time metric values, dims (model, variable, metric, region, init_time, lead_time), for every forecast
    and baseline on the same `inits`; truth, persistence and climatology come from the truth store.

    Weather: `regions` (names or box:LAT0,LAT1,LON0,LON1, see geostp.evaluation.regions; None = the default
    four, less those without a grid point) and `convention`
    ("wb2" or "openstl"); video/traffic forecasts have one region, the whole frame.
    """
    from tqdm.auto import tqdm

    forecasts = distinct_names(forecasts, baselines)
    first = next(iter(forecasts.values()))
    family = _family(first)
    conv = CONVENTIONS.get(convention)
    registry = metric_registry(family, convention)
    members = max([fc.sizes[MEMBER_DIM] for fc in forecasts.values() if MEMBER_DIM in fc.dims], default=0)
    if members > 1 and "climatology" in baselines and family == "weather" and timeaxis.is_datetime(truth["time"].values):
        baselines = (*baselines, PROB_CLIMATOLOGY)  # ensembles are also scored next to the probabilistic climatology
    names = list(metrics or [n for n in registry.names() if members or not registry.get(n).ensemble])
    metric_objs = [registry.get(n) for n in names]
    variables = forecast_variables(first)
    for name, fc in forecasts.items():
        if forecast_variables(fc) != variables or _family(fc) != family:
            raise DataError(f"forecast {name} has variables {forecast_variables(fc)}, the first has {variables}; "
                            "score forecasts of the same variables together")
    leads = first["lead_time"].values
    for name, fc in forecasts.items():
        if not np.array_equal(fc["lead_time"].values[: len(leads)], leads):
            raise DataError(f"forecast {name} has lead times {fc['lead_time'].values}, the first has {leads}")
    need_clim = "climatology" in baselines or any(m.needs_climatology for m in metric_objs)
    if need_clim and climatology is None:
        climatology = compute_climatology(truth, variables)
    scale_note = ""
    if family == "frames":
        f_off, f_scale, data_range, scale_note = frame_scaling(truth, variables)
        weights: dict[str, xr.DataArray | None] = {FRAME_REGION: None}
    else:
        data_range = 1.0
        weights = dict(_region_weights(first, None if regions is None else list(dict.fromkeys(regions)), conv))
    region_names = list(weights)
    models = [*forecasts, *baselines]
    out = np.full((len(models), len(variables), len(names), len(region_names), len(inits), len(leads)), np.nan)
    masks = {v: (variable_mask(truth, v) if family != "frames" else None) for v in variables}  # static masks
    mask = None
    bar = tqdm(total=len(inits), desc="scoring", unit="init", disable=not progress, leave=False)
    for b0, sel, cands, obs, clim_here in candidate_blocks(forecasts, truth, inits, variables, len(leads), baselines,
                                                           climatology, block, members):
        for mi, model in enumerate(models):
            cand = cands[model]
            for vi, var in enumerate(variables):
                if family == "frames":
                    if vi:  # frame metrics score all channels together; one "variable" row
                        continue
                    f = (cand[FRAMES_VAR].sel(channel=variables) if "channel" in cand.dims else _as_frames(cand, variables))
                    o = _as_frames(obs, variables)
                    c = _as_frames(clim_here, variables) if clim_here is not None else None
                    f, o = (f - f_off) / f_scale, (o - f_off) / f_scale
                    c = (c - f_off) / f_scale if c is not None else None
                else:
                    f, o = cand[var], obs[var]
                    c = clim_here[var] if clim_here is not None else None
                    mask = masks[var]
                f, o = _strip(f), _strip(o)
                c = _strip(c) if c is not None else None
                f_mean = f.mean(MEMBER_DIM) if MEMBER_DIM in f.dims else f  # an ensemble's deterministic scores
                for ki, metric in enumerate(metric_objs):
                    for ri, w in enumerate(weights.values()):
                        vals = metric.per_time(f if metric.ensemble else f_mean, o, climatology=c,
                                               data_range=data_range, weights=_masked(w, mask))
                        out[mi, vi, ki, ri, b0:b0 + len(sel)] = vals.transpose("init_time", "lead_time").values
        bar.update(len(sel))
    bar.close()
    var_labels = ["+".join(variables)] if family == "frames" else variables
    if family == "frames":
        out = out[:, :1]
    da = xr.DataArray(out, dims=("model", "variable", "metric", "region", "init_time", "lead_time"),
                      coords={"model": models, "variable": var_labels, "metric": names, "region": region_names,
                              "init_time": inits,
                              "lead_time": xr.Variable("lead_time", leads, attrs=_lead_attrs(first))}, name="per_time")
    da.attrs.update({"family": family, "data_range": data_range, "frame_scale": scale_note,
                     "convention": "frames" if family == "frames" else conv.name,
                     "convention_description": FRAMES_NOTE if family == "frames" else conv.description,
                     "pooled": int(family != "frames" and conv.pooled),
                     "climatology_method": climatology.attrs.get("climatology_method", "") if climatology is not None else ""})
    return da


def _masked(weights: xr.DataArray | None, mask: xr.DataArray | None) -> xr.DataArray | None:
    """Region/latitude weights with a variable's static mask (land in SST) set to 0: metrics ignore those cells."""
    if mask is None or weights is None:
        return weights
    return weights * (~mask.astype(bool)).astype(np.float64)


def _lead_attrs(forecast: xr.Dataset) -> dict[str, str]:
    """The lead_time attrs that say what its values count (geostp_step, and units for months/years/frames)."""
    return {k: v for k, v in forecast["lead_time"].attrs.items() if k in ("geostp_step", "units")}


def _strip(da: xr.DataArray) -> xr.DataArray:
    """Keep only the dimension coordinates, so that alignment compares labels and not bookkeeping coords."""
    return da.reset_coords(drop=True)


def _finalize(mean: np.ndarray, metric_names: Sequence[str], registry: Registry[M.Metric], axis: int = -2) -> np.ndarray:
    """Apply each metric's finalisation (sqrt for RMSE) along the metric axis (`axis`, counted from the end).

    A widened bootstrap resample of a mean square can fall below 0 when few blocks are independent (13 monthly
    inits in blocks of 5: a t quantile with 1 degree of freedom, 6.5x the normal one); a mean square is never
    negative, so such a resample counts as 0 instead of turning the whole interval into NaN.
    """
    out = np.moveaxis(mean.copy(), axis, -1)
    for k, name in enumerate(metric_names):
        if registry.get(name).root:
            out[..., k] = np.sqrt(np.maximum(out[..., k], 0.0))  # NaN stays NaN
    return np.moveaxis(out, -1, axis)


def _series(per_time: xr.DataArray) -> tuple[np.ndarray, list[str]]:
    """Per-time values with init_time last: (model, variable, metric, lead_time, init_time), and the dims before it."""
    dims = [d for d in per_time.dims if d != TIME]
    return per_time.transpose(*dims, TIME).values, dims


def _bootstrap_note(cfg: BootstrapConfig, lengths: np.ndarray) -> str:
    how = (f"block length {cfg.block_length} (fixed)" if cfg.block_length else
           f"Politis-White block length per score and lead, {int(lengths.min())}-{int(lengths.max())} init times")
    return (f"circular block bootstrap over init times, {cfg.n_boot} resamples, {how}, spread bias-corrected "
            f"and t-widened, {cfg.level:.0%} interval")


def _interval(vals: np.ndarray, registry: Registry[M.Metric], names: list[str], mk: int,
              cfg: BootstrapConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(score, ci_low, ci_high, block length) of per-time series with init time on the last axis."""
    mean = _finalize(vals.mean(axis=-1), names, registry, mk)
    boot, lengths = resample_means(vals, cfg)  # NaNs propagate, as they should
    boot = _finalize(boot, names, registry, mk)
    a = (1 - cfg.level) / 2
    lo, hi = np.quantile(boot, [a, 1 - a], axis=0)
    return mean, lo, hi, lengths


def summarize(per_time: xr.DataArray, cfg: BootstrapConfig = BootstrapConfig()) -> xr.Dataset:
    """Scores per (model, variable, metric, region, lead) with a bootstrap interval over init times; the
    block length used for each is in `block_length`. Conventions that pool leads (OpenSTL) also get
    `pooled_*` values: per-time values averaged over leads first, then over init times (one root)."""
    vals, dims = _series(per_time)
    registry = _registry_of(per_time)
    names = [str(m) for m in per_time["metric"].values]
    mk = dims.index("metric") - len(dims)  # metric axis counted from the end (lead_time is last)
    mean, lo, hi, lengths = _interval(vals, registry, names, mk, cfg)
    coords = {d: per_time[d] for d in dims}
    ds = xr.Dataset({"value": (dims, mean), "ci_low": (dims, lo), "ci_high": (dims, hi),
                     "block_length": (dims, lengths)}, coords=coords)
    if per_time.attrs.get("pooled"):
        li = dims.index("lead_time")
        pdims = [d for d in dims if d != "lead_time"]
        pmean, plo, phi, plen = _interval(vals.mean(axis=li), registry, names, pdims.index("metric") - len(pdims), cfg)
        for key, arr in (("value", pmean), ("ci_low", plo), ("ci_high", phi), ("block_length", plen)):
            ds[f"pooled_{key}"] = (pdims, arr)
    ds["n_init"] = vals.shape[-1]
    ds.attrs.update({**per_time.attrs, "bootstrap": _bootstrap_note(cfg, lengths),
                     "init_time_first": _fmt(per_time[TIME].values[0]),
                     "init_time_last": _fmt(per_time[TIME].values[-1])})
    return ds


def relative_scorecard(per_time: xr.DataArray, reference: str, cfg: BootstrapConfig = BootstrapConfig()) -> xr.Dataset:
    """Percent change of each model's score against `reference` with paired bootstrap intervals
    (negative is better for errors, positive for ACC/SSIM/PSNR); an interval excluding 0 is significant."""
    if reference not in per_time["model"].values:
        raise DataError(f"reference {reference!r} is not among the scored models {list(per_time['model'].values)}")
    vals, dims = _series(per_time)
    registry = _registry_of(per_time)
    metric_names = [str(m) for m in per_time["metric"].values]
    mk = dims.index("metric") - len(dims)
    r = list(per_time["model"].values).index(reference)
    ref = np.broadcast_to(vals[r : r + 1], vals.shape)
    mean = _finalize(vals.mean(axis=-1), metric_names, registry, mk)
    # model and reference resampled together (same blocks, same widening), block length from their difference
    pair = np.stack([vals, ref])
    boot, lengths = resample_means(pair, cfg, design=np.stack([vals - ref, vals - ref]))
    boot = _finalize(boot, metric_names, registry, mk)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = 100 * (mean - mean[r : r + 1]) / np.abs(mean[r : r + 1])
        rel_boot = 100 * (boot[:, 0] - boot[:, 1]) / np.abs(boot[:, 1])
    a = (1 - cfg.level) / 2
    lo, hi = np.quantile(rel_boot, [a, 1 - a], axis=0)
    coords = {d: per_time[d] for d in dims}
    ds = xr.Dataset({"relative_change_percent": (dims, rel), "ci_low": (dims, lo), "ci_high": (dims, hi),
                     "block_length": (dims, lengths[0])}, coords=coords)
    ds.attrs.update({"reference": reference, "definition": "100 * (score - reference score) / |reference score|"})
    return ds


def _lead_labels(lead: xr.DataArray) -> dict[object, str]:
    """lead_time value -> its label (`geostp.timeaxis`: 6h, 1month, 10f), keyed as pandas shows the values."""
    return dict(zip(pd.Index(lead.values), timeaxis.coord_labels(lead.values, dict(lead.attrs))))


def to_frame(scores: xr.Dataset) -> pd.DataFrame:
    """Long table: model, variable, metric, region, lead, value, ci_low, ci_high, block_length, n_init; pooled
    scores (OpenSTL convention) have lead "all"."""
    cols = [c for c in ("value", "ci_low", "ci_high", "block_length") if c in scores]
    df = scores[cols].to_dataframe().reset_index()
    df["lead"] = df["lead_time"].map(_lead_labels(scores["lead_time"]))
    if "pooled_value" in scores:
        pooled = scores[[f"pooled_{c}" for c in cols]].to_dataframe().reset_index()
        pooled = pooled.rename(columns={f"pooled_{c}": c for c in cols}).assign(lead=POOLED_LEAD)
        df = pd.concat([df, pooled], ignore_index=True)
    df["n_init"] = int(scores["n_init"])
    keys = [k for k in ("model", "variable", "metric", "region") if k in df.columns]
    return df[[*keys, "lead", *cols, "n_init"]]


def format_table(scores: xr.Dataset, metric: str = "rmse", variable: str | None = None,
                 region: str | None = None) -> str:
    """One text table per variable and region: rows = leads (and "all" when pooled), columns = models,
    cells 'value [lo, hi]'."""
    lines = []
    variables = [variable] if variable else [str(v) for v in scores["variable"].values]
    regions = [region] if region else ([str(r) for r in scores["region"].values] if "region" in scores.dims else [None])
    for var in variables:
        for reg in regions:
            sub = scores.sel(variable=var, metric=metric)
            if reg is not None:
                sub = sub.sel(region=reg)
            models = [str(m) for m in sub["model"].values]
            units = scores.attrs.get(f"units_{var}", "")
            title = f"{metric.upper()} of {var}" + (f" [{units}]" if units and metric not in ("acc", "ssim", "psnr") else "")
            where = f", region {reg}" if reg not in (None, FRAME_REGION) else ""
            conv = scores.attrs.get("convention", "")
            conv = f", {conv} convention" if conv and conv != "frames" else ""
            lines.append(f"{title}{where}{conv}, {int(scores['n_init'])} init times ({scores.attrs.get('bootstrap', '')})")
            rows = []
            blocks = []
            labels = timeaxis.coord_labels(sub["lead_time"].values, dict(sub["lead_time"].attrs))
            for li, lead in enumerate(labels):
                rows.append((lead, [_cell(sub.isel(lead_time=li), m, "") for m in models]))
                blocks.append(f"{lead}:{int(sub['block_length'].isel(lead_time=li).max())}"
                              if "block_length" in sub else "")
            if "pooled_value" in sub:
                rows.append((POOLED_LEAD, [_cell(sub, m, "pooled_") for m in models]))
            width = max([len(m) for m in models] + [len(c) for _, cells in rows for c in cells]) + 2
            lines.append(f"{'lead':>6} " + "".join(f"{m:>{width}}" for m in models))
            lines += [f"{lead:>6} " + "".join(c.rjust(width) for c in cells) for lead, cells in rows]
            if any(blocks):
                lines.append("block length (init times, max over models): " + " ".join(b for b in blocks if b))
            lines.append("")
    return "\n".join(lines)


def _cell(sub: xr.Dataset, model: str, prefix: str) -> str:
    s = sub.sel(model=model)
    v, lo, hi = (float(s[f"{prefix}{k}"].values) for k in ("value", "ci_low", "ci_high"))
    return f"{_num(v)} [{_num(lo)}, {_num(hi)}]"


def _num(v: float) -> str:
    if not np.isfinite(v):
        return str(v)
    return f"{v:.4g}" if abs(v) < 1e4 else f"{v:.0f}"


def write_scores(scores: xr.Dataset, out_dir: str | Path, stem: str = "scores",
                 scorecard: xr.Dataset | None = None) -> dict[str, Path]:
    """Write `<stem>.csv` and `<stem>.nc` (and the relative scorecard) under `out_dir`, atomically."""
    from geostp.io import atomic_write_bytes, atomic_write_text

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"csv": out_dir / f"{stem}.csv", "netcdf": out_dir / f"{stem}.nc"}
    atomic_write_text(paths["csv"], to_frame(scores).to_csv(index=False))
    atomic_write_bytes(paths["netcdf"], _netcdf_bytes(scores))
    if scorecard is not None:
        paths["scorecard_csv"] = out_dir / f"{stem}_scorecard.csv"
        df = scorecard.to_dataframe().reset_index()
        df["lead"] = df["lead_time"].map(_lead_labels(scorecard["lead_time"]))
        atomic_write_text(paths["scorecard_csv"], df.drop(columns=["lead_time"]).to_csv(index=False))
        paths["scorecard_netcdf"] = out_dir / f"{stem}_scorecard.nc"
        atomic_write_bytes(paths["scorecard_netcdf"], _netcdf_bytes(scorecard))
    return paths


LONG_NAMES = {
    "value": "score (mean over init times; RMSE is the root of the mean squared error)",
    "ci_low": "lower end of the bootstrap confidence interval of the score",
    "ci_high": "upper end of the bootstrap confidence interval of the score",
    "n_init": "number of init times scored",
    "relative_change_percent": "change of the score against the reference model",
    "model": "forecasting model or baseline",
    "variable": "forecast variable",
    "metric": "metric name",
    "region": "verification region (geostp.evaluation.regions)",
    "block_length": "init times per bootstrap block (Politis-White rule unless fixed)",
    "energy": "zonal energy spectrum (WeatherBench2 definition), mean over init times",
    "wavelength": "zonal wavelength",
    "rmse": "root mean squared error at the grid point over init times",
    "bias": "mean error (forecast minus truth) at the grid point over init times",
}


def write_dataset(ds: xr.Dataset, path: str | Path) -> Path:
    """Write a dataset as NetCDF atomically (model/variable/metric/region labels as strings)."""
    from geostp.io import atomic_write_bytes

    atomic_write_bytes(path, _netcdf_bytes(ds))
    return Path(path)


def _netcdf_bytes(ds: xr.Dataset) -> bytes:
    import tempfile

    from geostp.cf import cf_dataset

    ds = ds.copy()
    for c in ("model", "variable", "metric", "region"):
        if c in ds.coords:
            ds[c] = ds[c].astype(str)
    for name in ds.variables:  # CF: every variable says what it is (new ones get their name spelled out)
        if name != "lead_time":
            ds[name].attrs.setdefault("long_name", LONG_NAMES.get(str(name), str(name).replace("_", " ")))
    if "relative_change_percent" in ds:
        ds["relative_change_percent"].attrs.setdefault("units", "percent")
    ds = cf_dataset(ds, what="scores written by geostp evaluate")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.nc"
        ds.to_netcdf(path, engine="h5netcdf")
        return path.read_bytes()
