"""Score forecasts against a truth store next to persistence and climatology: per-lead tables with
bootstrap confidence intervals over init times, CSV/NetCDF output and a cross-model scorecard.

Flow: `per_time_scores` reads the forecast in blocks of init times (memory-bounded), builds the
truth, persistence and climatology for the same init and valid times, and computes every metric's
per-time values; `summarize` averages them over init times (RMSE: root after the mean) and bootstraps
the init times (circular block bootstrap, so that the correlation of neighbouring inits widens the
interval as it should); `relative_scorecard` does the same for paired differences against a reference.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from geostp.errors import DataError
from geostp.evaluation import metrics as M
from geostp.evaluation.baselines import climatology_at, compute_climatology, persistence_forecast, truth_at
from geostp.forecast.output import FRAMES_VAR

BASELINES = ("persistence", "climatology")


@dataclass(frozen=True)
class BootstrapConfig:
    """Bootstrap over init times: resamples, interval level, block length (None: ceil(n ** (1/3))), seed."""

    n_boot: int = 1000
    level: float = 0.95
    block_length: int | None = None
    seed: int = 0


def frame_scaling(truth: xr.Dataset, variables: Sequence[str]) -> tuple[xr.DataArray, xr.DataArray, float, str]:
    """(offset, scale, data_range, note) for video/traffic metrics, which OpenSTL computes on the [0, 1] scale.

    Stores normalised by min-max or a fixed range (TaxiBJ, Moving MNIST) are mapped with their own
    train statistics to [0, 1]: x' = (x - norm_offset) / norm_scale, peak 1. Other stores are scored in
    their units with the train max - min as peak.
    """
    kinds = {truth[v].attrs.get("norm_kind") for v in variables}
    chan = pd.Index(list(variables), name="channel")
    if kinds <= {"minmax", "fixed"}:
        off = xr.DataArray([float(truth[v].attrs["norm_offset"]) for v in variables], coords={"channel": chan})
        sc = xr.DataArray([float(truth[v].attrs["norm_scale"]) for v in variables], coords={"channel": chan})
        return off, sc, 1.0, "frames scored on the [0, 1] scale of the store's min-max/fixed normalisation"
    lo = min(float(truth[v].attrs.get("stats_min", 0.0)) for v in variables)
    hi = max(float(truth[v].attrs.get("stats_max", 1.0)) for v in variables)
    zero, one = xr.DataArray(np.zeros(len(variables)), coords={"channel": chan}), xr.DataArray(np.ones(len(variables)), coords={"channel": chan})
    return zero, one, hi - lo, f"frames scored in the store's units, peak = train max - min = {hi - lo:g}"


def _family(forecast: xr.Dataset) -> str:
    return "frames" if FRAMES_VAR in forecast.data_vars and "channel" in forecast.dims else "weather"


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
    return str(pd.Timestamp(t)) if isinstance(t, np.datetime64) else str(t)


def _as_frames(ds: xr.Dataset, variables: Sequence[str]) -> xr.DataArray:
    """Stack per-variable (…, y, x) fields into one (…, channel, y, x) array."""
    arr = xr.concat([ds[v] for v in variables], dim=pd.Index(list(variables), name="channel"))
    return arr.transpose(*[d for d in arr.dims if d not in ("channel", "y", "x")], "channel", "y", "x")


def per_time_scores(forecasts: Mapping[str, xr.Dataset], truth: xr.Dataset, inits: np.ndarray,
                    metrics: Sequence[str] | None = None, baselines: Sequence[str] = BASELINES,
                    climatology: xr.Dataset | None = None, block: int = 256, progress: bool = False) -> xr.DataArray:
    """Per-time metric values, dims (model, variable, metric, init_time, lead_time), for every forecast and
    baseline on the same `inits`; truth, persistence and climatology come from the truth store."""
    from tqdm.auto import tqdm

    first = next(iter(forecasts.values()))
    family = _family(first)
    registry = M.FRAME_METRICS if family == "frames" else M.WEATHER_METRICS
    names = list(metrics or registry.names())
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
    else:
        data_range = 1.0
    models = [*forecasts, *[b for b in baselines if b not in forecasts]]
    out = np.full((len(models), len(variables), len(names), len(inits), len(leads)), np.nan)
    bar = tqdm(total=len(inits), desc="scoring", unit="init", disable=not progress, leave=False)
    for b0 in range(0, len(inits), block):
        sel = inits[b0:b0 + block]
        fcs = {k: v.sel(init_time=sel).isel(lead_time=slice(0, len(leads))).load() for k, v in forecasts.items()}
        ref = fcs[next(iter(fcs))]
        vt = ref["valid_time"]
        obs = truth_at(truth, variables, vt)
        cands: dict[str, xr.Dataset] = {}
        for k, fc in fcs.items():
            cands[k] = fc
        if "persistence" in baselines and "persistence" not in cands:
            cands["persistence"] = persistence_forecast(truth, variables, ref["init_time"], ref["lead_time"]).assign_coords(valid_time=vt)
        clim_here = climatology_at(climatology, vt) if climatology is not None else None
        if "climatology" in baselines and "climatology" not in cands:
            cands["climatology"] = clim_here
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
                f, o = _strip(f), _strip(o)
                c = _strip(c) if c is not None else None
                for ki, metric in enumerate(metric_objs):
                    vals = metric.per_time(f, o, climatology=c, data_range=data_range)
                    out[mi, vi, ki, b0:b0 + len(sel)] = vals.transpose("init_time", "lead_time").values
        bar.update(len(sel))
    bar.close()
    var_labels = ["+".join(variables)] if family == "frames" else variables
    if family == "frames":
        out = out[:, :1]
    da = xr.DataArray(out, dims=("model", "variable", "metric", "init_time", "lead_time"),
                      coords={"model": models, "variable": var_labels, "metric": names, "init_time": inits,
                              "lead_time": leads}, name="per_time")
    da.attrs.update({"family": family, "data_range": data_range, "frame_scale": scale_note,
                     "climatology_method": climatology.attrs.get("climatology_method", "") if climatology is not None else ""})
    return da


def _strip(da: xr.DataArray) -> xr.DataArray:
    """Keep only the dimension coordinates, so that alignment compares labels and not bookkeeping coords."""
    return da.reset_coords(drop=True)


def _block_counts(n: int, cfg: BootstrapConfig) -> np.ndarray:
    """(n_boot, n) counts of how often each init is drawn by a circular block bootstrap."""
    rng = np.random.default_rng(cfg.seed)
    length = cfg.block_length or max(1, int(np.ceil(n ** (1 / 3))))
    length = min(length, n)
    n_blocks = int(np.ceil(n / length))
    starts = rng.integers(0, n, size=(cfg.n_boot, n_blocks))
    idx = (starts[:, :, None] + np.arange(length)[None, None, :]).reshape(cfg.n_boot, -1)[:, :n] % n
    counts = np.zeros((cfg.n_boot, n))
    np.add.at(counts, (np.repeat(np.arange(cfg.n_boot), n), idx.ravel()), 1)
    return counts


def _finalize(mean: np.ndarray, metric_names: Sequence[str], family: str) -> np.ndarray:
    """Apply each metric's finalisation (sqrt for RMSE) along the metric axis (-2 of (..., metric, lead))."""
    registry = M.FRAME_METRICS if family == "frames" else M.WEATHER_METRICS
    out = mean.copy()
    for k, name in enumerate(metric_names):
        if registry.get(name).root:
            out[..., k, :] = np.sqrt(out[..., k, :])
    return out


def summarize(per_time: xr.DataArray, cfg: BootstrapConfig = BootstrapConfig()) -> xr.Dataset:
    """Scores per (model, variable, metric, lead) with a bootstrap interval over init times."""
    vals = per_time.transpose("model", "variable", "metric", "init_time", "lead_time").values
    n = vals.shape[3]
    family = per_time.attrs.get("family", "weather")
    metric_names = [str(m) for m in per_time["metric"].values]
    mean = _finalize(vals.mean(axis=3), metric_names, family)
    counts = _block_counts(n, cfg) / n  # (B, n)
    boot = np.einsum("bn,mvknl->bmvkl", counts, vals)  # NaNs propagate, as they should
    boot = _finalize(boot, metric_names, family)
    a = (1 - cfg.level) / 2
    lo, hi = np.quantile(boot, [a, 1 - a], axis=0)
    coords = {d: per_time[d] for d in ("model", "variable", "metric", "lead_time")}
    dims = ("model", "variable", "metric", "lead_time")
    ds = xr.Dataset({"value": (dims, mean), "ci_low": (dims, lo), "ci_high": (dims, hi)}, coords=coords)
    ds["n_init"] = n
    ds.attrs.update({**per_time.attrs, "bootstrap": f"circular block bootstrap over init times, {cfg.n_boot} resamples, "
                     f"block length {cfg.block_length or max(1, int(np.ceil(n ** (1 / 3))))}, {cfg.level:.0%} interval",
                     "init_time_first": _fmt(per_time["init_time"].values[0]),
                     "init_time_last": _fmt(per_time["init_time"].values[-1])})
    return ds


def relative_scorecard(per_time: xr.DataArray, reference: str, cfg: BootstrapConfig = BootstrapConfig()) -> xr.Dataset:
    """Percent change of each model's score against `reference` with paired bootstrap intervals
    (negative is better for errors, positive for ACC/SSIM/PSNR); an interval excluding 0 is significant."""
    if reference not in per_time["model"].values:
        raise DataError(f"reference {reference!r} is not among the scored models {list(per_time['model'].values)}")
    vals = per_time.transpose("model", "variable", "metric", "init_time", "lead_time").values
    n = vals.shape[3]
    family = per_time.attrs.get("family", "weather")
    metric_names = [str(m) for m in per_time["metric"].values]
    r = list(per_time["model"].values).index(reference)
    mean = _finalize(vals.mean(axis=3), metric_names, family)
    counts = _block_counts(n, cfg) / n
    boot = _finalize(np.einsum("bn,mvknl->bmvkl", counts, vals), metric_names, family)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = 100 * (mean - mean[r : r + 1]) / np.abs(mean[r : r + 1])
        rel_boot = 100 * (boot - boot[:, r : r + 1]) / np.abs(boot[:, r : r + 1])
    a = (1 - cfg.level) / 2
    lo, hi = np.quantile(rel_boot, [a, 1 - a], axis=0)
    dims = ("model", "variable", "metric", "lead_time")
    coords = {d: per_time[d] for d in dims}
    ds = xr.Dataset({"relative_change_percent": (dims, rel), "ci_low": (dims, lo), "ci_high": (dims, hi)}, coords=coords)
    ds.attrs.update({"reference": reference, "definition": "100 * (score - reference score) / |reference score|"})
    return ds


def _lead_label(lead: object) -> str:
    if isinstance(lead, np.timedelta64):
        hours = lead / np.timedelta64(1, "h")
        return f"{hours:g}h"
    return f"{lead}f"


def to_frame(scores: xr.Dataset) -> pd.DataFrame:
    """Long table: model, variable, metric, lead, value, ci_low, ci_high, n_init."""
    df = scores[["value", "ci_low", "ci_high"]].to_dataframe().reset_index()
    df["lead"] = df["lead_time"].map(lambda v: _lead_label(np.timedelta64(v) if isinstance(v, pd.Timedelta) else v))
    df["n_init"] = int(scores["n_init"])
    return df[["model", "variable", "metric", "lead", "value", "ci_low", "ci_high", "n_init"]]


def format_table(scores: xr.Dataset, metric: str = "rmse", variable: str | None = None) -> str:
    """One text table per variable: rows = leads, columns = models, cells 'value [lo, hi]'."""
    lines = []
    variables = [variable] if variable else [str(v) for v in scores["variable"].values]
    for var in variables:
        sub = scores.sel(variable=var, metric=metric)
        models = [str(m) for m in sub["model"].values]
        units = scores.attrs.get(f"units_{var}", "")
        title = f"{metric.upper()} of {var}" + (f" [{units}]" if units and metric not in ("acc", "ssim", "psnr") else "")
        lines.append(f"{title}, {int(scores['n_init'])} init times ({scores.attrs.get('bootstrap', '')})")
        rows = []
        for li, lead in enumerate(sub["lead_time"].values):
            cells = []
            for m in models:
                v = sub["value"].sel(model=m).values[li]
                lo, hi = sub["ci_low"].sel(model=m).values[li], sub["ci_high"].sel(model=m).values[li]
                cells.append(f"{_num(v)} [{_num(lo)}, {_num(hi)}]")
            rows.append((_lead_label(lead), cells))
        width = max([len(m) for m in models] + [len(c) for _, cells in rows for c in cells]) + 2
        lines.append(f"{'lead':>6} " + "".join(f"{m:>{width}}" for m in models))
        lines += [f"{lead:>6} " + "".join(c.rjust(width) for c in cells) for lead, cells in rows]
        lines.append("")
    return "\n".join(lines)


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
        df["lead"] = df["lead_time"].map(lambda v: _lead_label(np.timedelta64(v) if isinstance(v, pd.Timedelta) else v))
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
}


def _netcdf_bytes(ds: xr.Dataset) -> bytes:
    import tempfile

    from geostp.cf import cf_dataset

    ds = ds.copy()
    for c in ("model", "variable", "metric"):
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
