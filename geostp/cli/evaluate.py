"""`geostp evaluate`: score forecasts against a truth store next to persistence and climatology."""

from __future__ import annotations

import click


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("forecasts", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False))
@click.option("--truth", required=True, metavar="STORE",
              help="geostp store holding the truth at the forecasts' valid times (and the train split for the climatology).")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Directory for scores.csv, scores.nc, the skill plot and the scorecard (default: eval-<first forecast name>).")
@click.option("--metric", "metrics", multiple=True, metavar="NAME",
              help="Metrics, repeatable (weather: rmse, acc, bias, mae; video/traffic: mse, mae, ssim, psnr). Default: all.")
@click.option("--reference", default="persistence", show_default=True,
              help="Model (or baseline) the cross-model scorecard compares against.")
@click.option("--n-boot", type=click.IntRange(min=10), default=1000, show_default=True,
              help="Bootstrap resamples of the init times for the confidence intervals.")
@click.option("--block-length", type=click.IntRange(min=1), default=None,
              help="Consecutive init times resampled together (default: ceil(n^(1/3))).")
def evaluate(forecasts: tuple[str, ...], truth: str, out: str | None, metrics: tuple[str, ...], reference: str,
             n_boot: int, block_length: int | None) -> None:
    """Score FORECAST Zarr stores per variable and lead time.

    Weather (WeatherBench2 definitions): latitude-weighted RMSE (root after the mean over init times),
    ACC against a climatology fitted on the truth store's train split (mean + 3 annual harmonics per
    time of day and grid point), bias and MAE. Video and traffic (OpenSTL conventions): MSE and MAE as
    per-frame sums over (channel, y, x) averaged over frames, SSIM (scikit-image, 7x7 uniform window,
    data range 2 for [0, 1] data as OpenSTL) and PSNR (mean of per-frame values). Persistence and
    climatology are scored on the same init times; intervals come from a block bootstrap over init
    times. With several forecasts, only their common init times are scored and a scorecard of percent
    changes against --reference is written.

    \b
    Examples:
      geostp evaluate runs/quick-vip_mixer-t850-*/forecasts/*.zarr --truth sample
      geostp evaluate fc_vip.zarr fc_simvp.zarr --truth wb5.625.zarr --out eval/ --metric rmse --metric acc
    """
    from pathlib import Path

    import numpy as np

    from geostp.errors import DataError
    from geostp.evaluation.scorecard import (
        BootstrapConfig, format_table, per_time_scores, relative_scorecard, scored_inits, summarize, write_scores)
    from geostp.forecast.output import open_forecast
    from geostp.forecast.workflow import resolve_data
    from geostp.plots.curves import plot_skill

    src = resolve_data(truth)
    opened = {}
    for path in forecasts:
        fc = open_forecast(path)
        name = fc.attrs.get("model", Path(path).stem)
        if name in opened:
            name = f"{name}:{Path(path).stem}"
        opened[name] = fc
    common = None
    for name, fc in opened.items():
        ok, dropped = scored_inits(fc, src.store)
        if len(dropped):
            click.echo(f"{name}: {len(dropped)} of {fc.sizes['init_time']} init times have valid times outside the "
                       "truth store and are not scored", err=True)
        common = ok if common is None else np.intersect1d(common, ok)
    if common is None or len(common) == 0:
        raise DataError("the forecasts share no init time that the truth store can verify")
    pt = per_time_scores(opened, src.store, np.sort(common), metrics=list(metrics) or None, progress=True)
    cfg = BootstrapConfig(n_boot=n_boot, block_length=block_length)
    scores = summarize(pt, cfg)
    first = next(iter(opened.values()))
    for v in scores["variable"].values:
        if str(v) in first.data_vars:
            scores.attrs[f"units_{v}"] = first[str(v)].attrs.get("units", "")
    card = relative_scorecard(pt, reference, cfg) if len(scores["model"]) > 1 else None
    out_dir = Path(out) if out else Path(f"eval-{Path(forecasts[0]).name.removesuffix('.zarr')}")
    paths = write_scores(scores, out_dir, scorecard=card)
    main_metric = "rmse" if "rmse" in scores["metric"].values else str(scores["metric"].values[0])
    paths["png"] = plot_skill(scores, out_dir / f"{main_metric}_vs_lead.png", metric=main_metric)
    for metric in scores["metric"].values:
        click.echo(format_table(scores, str(metric)))
    if card is not None:
        click.echo(_scorecard_text(card, main_metric))
    for kind, p in paths.items():
        click.echo(f"{kind}: {p}")


def _scorecard_text(card, metric: str) -> str:
    """Percent change against the reference per lead; '*' where the 95% interval excludes 0."""
    import numpy as np

    lines = [f"scorecard: {metric.upper()} change vs {card.attrs['reference']} in % (* = significant at 95%)"]
    for var in card["variable"].values:
        sub = card.sel(variable=var, metric=metric)
        models = [str(m) for m in sub["model"].values if str(m) != card.attrs["reference"]]
        lines.append(f"{var}:{'lead':>6} " + "".join(f"{m:>16}" for m in models))
        for li, lead in enumerate(sub["lead_time"].values):
            label = f"{lead / np.timedelta64(1, 'h'):g}h" if isinstance(lead, np.timedelta64) else f"{lead}f"
            cells = []
            for m in models:
                s = sub.sel(model=m)
                v, lo, hi = (float(s[k].values[li]) for k in ("relative_change_percent", "ci_low", "ci_high"))
                star = "*" if lo > 0 or hi < 0 else " "
                cells.append(f"{v:+.1f}{star}".rjust(16))
            lines.append(f"{'':{len(str(var)) + 1}}{label:>6} " + "".join(cells))
    return "\n".join(lines)
