"""The `geostp evaluate` job as functions: score opened forecasts against a truth source, then write the tables,
the skill plot and (for several models) the scorecard."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from geostp.data.resolve import DataSource, resolve_data
from geostp.errors import DataError

Echo = Callable[[str], Any]


@dataclass
class EvaluationResult:
    """Scores (model, variable, metric, region, lead_time), the optional scorecard, and where they were written."""

    scores: xr.Dataset
    scorecard: xr.Dataset | None
    main_metric: str
    paths: dict[str, Path] = field(default_factory=dict)


def open_forecasts(paths: Sequence[str | Path]) -> dict[str, xr.Dataset]:
    """Forecast stores by model name (the store name is appended when two hold the same model)."""
    from geostp.forecast.output import open_forecast

    opened: dict[str, xr.Dataset] = {}
    for path in paths:
        fc = open_forecast(path)
        name = fc.attrs.get("model", Path(path).stem)
        if name in opened:
            name = f"{name}:{Path(path).stem}"
        opened[name] = fc
    return opened


def common_inits(forecasts: Mapping[str, xr.Dataset], truth: xr.Dataset, echo: Echo = print) -> np.ndarray:
    """Init times every forecast has and the truth can verify (those it cannot are reported through `echo`)."""
    from geostp.evaluation.scorecard import scored_inits

    common = None
    for name, fc in forecasts.items():
        ok, dropped = scored_inits(fc, truth)
        if len(dropped):
            echo(f"{name}: {len(dropped)} of {fc.sizes['init_time']} init times have valid times outside the "
                 "truth store and are not scored")
        common = ok if common is None else np.intersect1d(common, ok)
    if common is None or len(common) == 0:
        raise DataError("the forecasts share no init time that the truth store can verify")
    return np.sort(common)


def evaluate(forecasts: Mapping[str, xr.Dataset], truth: DataSource, out_dir: str | Path, *,
             metrics: Sequence[str] | None = None, reference: str = "persistence", n_boot: int = 1000,
             block_length: int | None = None, regions: Sequence[str] | None = None, convention: str = "wb2",
             progress: bool = True, echo: Echo = print) -> EvaluationResult:
    """Score `forecasts` against `truth` next to persistence and climatology; write CSV, NetCDF, plot, scorecard.

    `regions`: names or box:LAT0,LAT1,LON0,LON1 (None: global, tropics, both extratropics); `convention`:
    "wb2" or "openstl" (see docs/evaluation.md)."""
    from geostp.evaluation.scorecard import BootstrapConfig, per_time_scores, relative_scorecard, summarize, write_scores
    from geostp.plots.curves import plot_skill

    inits = common_inits(forecasts, truth.store, echo)
    pt = per_time_scores(dict(forecasts), truth.store, inits, metrics=list(metrics) if metrics else None,
                         progress=progress, regions=regions, convention=convention)
    cfg = BootstrapConfig(n_boot=n_boot, block_length=block_length)
    scores = summarize(pt, cfg)
    first = next(iter(forecasts.values()))
    for v in scores["variable"].values:
        if str(v) in first.data_vars:
            scores.attrs[f"units_{v}"] = first[str(v)].attrs.get("units", "")
    card = relative_scorecard(pt, reference, cfg) if len(scores["model"]) > 1 else None
    out_dir = Path(out_dir)
    paths = write_scores(scores, out_dir, scorecard=card)
    if scores.attrs.get("family") == "weather":  # per-grid-point skill maps and zonal spectra (geostp plot --skill)
        from geostp.evaluation.diagnostics import spatial_diagnostics
        from geostp.evaluation.scorecard import write_dataset

        maps, spectra = spatial_diagnostics(dict(forecasts), truth.store, inits)
        paths["skill_maps"] = write_dataset(maps, out_dir / "skill_maps.nc")
        paths["spectra"] = write_dataset(spectra, out_dir / "spectra.nc")
        from geostp.evaluation.ensemble_report import ensemble_diagnostics

        ens = ensemble_diagnostics(dict(forecasts), truth.store, inits)
        if ens is not None:  # rank histograms and Brier scores of forecasts with members
            paths["ensemble"] = write_dataset(ens, out_dir / "ensemble.nc")
            from geostp.plots.ensemble import plot_ensemble_scores, plot_rank_histogram

            paths["ensemble_png"] = plot_ensemble_scores(scores, out_dir / "crps_vs_lead.png")
            for v in ens["variable"].values:
                paths[f"rank_histogram_{v}"] = plot_rank_histogram(ens, out_dir / f"rank_histogram-{v}.png", variable=str(v))
    main_metric = next((m for m in ("rmse", "mse") if m in scores["metric"].values), str(scores["metric"].values[0]))
    paths["png"] = plot_skill(scores, out_dir / f"{main_metric}_vs_lead.png", metric=main_metric)
    return EvaluationResult(scores, card, main_metric, paths)


def evaluate_paths(paths: Sequence[str | Path], truth: str, out: str | Path | None = None,
                   **kw: Any) -> EvaluationResult:
    """`evaluate` for forecast store paths and a truth name (`sample`, a store path or a URL)."""
    out_dir = Path(out) if out else Path(f"eval-{Path(paths[0]).name.removesuffix('.zarr')}")
    return evaluate(open_forecasts(paths), resolve_data(truth), out_dir, **kw)


def report_lines(result: EvaluationResult) -> list[str]:
    """What the CLI prints: a table per metric, the scorecard, and the files written."""
    from geostp.evaluation.ensemble_report import crps_spread_lines
    from geostp.evaluation.scorecard import format_table

    lines = [format_table(result.scores, str(metric)) for metric in result.scores["metric"].values]
    lines += crps_spread_lines(result.scores)
    if result.scorecard is not None:
        lines.append(scorecard_text(result.scorecard, result.main_metric))
    lines += [f"{kind}: {p}" for kind, p in result.paths.items()]
    if "skill_maps" in result.paths:
        lines.append(f"draw skill maps and spectra: geostp plot {result.paths['skill_maps'].parent} --skill")
    return lines


def scorecard_text(card: xr.Dataset, metric: str) -> str:
    """Percent change against the reference per lead; '*' where the 95% interval excludes 0."""
    lines = [f"scorecard: {metric.upper()} change vs {card.attrs['reference']} in % (* = significant at 95%)"]
    for var, region in ((v, r) for v in card["variable"].values for r in card["region"].values):
        sub = card.sel(variable=var, metric=metric, region=region)
        models = [str(m) for m in sub["model"].values if str(m) != card.attrs["reference"]]
        width = max([16] + [len(m) + 2 for m in models])  # long names (probabilistic_climatology) stay apart
        lines.append(f"{var} ({region}):{'lead':>6} " + "".join(f"{m:>{width}}" for m in models))
        for li, lead in enumerate(sub["lead_time"].values):
            label = f"{lead / np.timedelta64(1, 'h'):g}h" if isinstance(lead, np.timedelta64) else f"{lead}f"
            cells = []
            for m in models:
                s = sub.sel(model=m)
                v, lo, hi = (float(s[k].values[li]) for k in ("relative_change_percent", "ci_low", "ci_high"))
                star = "*" if lo > 0 or hi < 0 else " "
                cells.append(f"{v:+.1f}{star}".rjust(width))
            lines.append(f"{'':{len(str(var)) + len(str(region)) + 4}}{label:>6} " + "".join(cells))
    return "\n".join(lines)
