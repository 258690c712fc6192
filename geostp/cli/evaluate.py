"""`geostp evaluate`: score forecasts against a truth store next to persistence and climatology."""

from __future__ import annotations

import click

from geostp.cli.options import storage_options_option


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("forecasts", nargs=-1, required=True)  # paths or URLs, checked by open_forecast
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
@click.option("--region", "regions", multiple=True, metavar="NAME",
              help="Region, repeatable: global, tropics, extratropics_nh, extratropics_sh, extratropics, arctic, "
                   "antarctic, europe, north_america, north_atlantic, north_pacific, east_asia, ausnz (WeatherBench2's "
                   "boxes) or box:LAT0,LAT1,LON0,LON1. Default: global, tropics and both extratropics.")
@click.option("--convention", type=click.Choice(["wb2", "openstl"]), default="wb2", show_default=True,
              help="Weather score definitions: wb2 (area-weighted RMSE/ACC/bias/MAE per lead) or openstl "
                   "(unweighted MSE/MAE/RMSE per lead and pooled over all leads, as OpenSTL's WeatherBench tables).")
@click.option("--block-length", type=click.IntRange(min=1), default=None,
              help="Consecutive init times resampled together (default: chosen per score and lead by the Politis-White rule).")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="Compute the scores on a dask distributed scheduler, e.g. --scheduler tcp://10.0.0.5:8786 (needs "
                   "the `distributed` extra; the forecasts and truth must be readable from the workers). Default: local threads.")
@storage_options_option
def evaluate(forecasts: tuple[str, ...], truth: str, out: str | None, metrics: tuple[str, ...], reference: str,
             n_boot: int, regions: tuple[str, ...], convention: str, block_length: int | None, scheduler: str | None) -> None:
    """Score FORECAST Zarr stores per variable and lead time.

    Weather (WeatherBench2 definitions): latitude-weighted RMSE (root after the mean over init times),
    ACC against a climatology fitted on the truth store's train split (mean + 3 annual harmonics per
    time of day and grid point), bias and MAE. Video and traffic (OpenSTL conventions): MSE and MAE as
    per-frame sums over (channel, y, x) averaged over frames, SSIM (scikit-image, 7x7 uniform window,
    data range 2 for [0, 1] data as OpenSTL) and PSNR (mean of per-frame values). Persistence and
    climatology are scored on the same init times; intervals come from a block bootstrap over init
    times. With several forecasts, only their common init times are scored and a scorecard of percent
    changes against --reference is written. FORECAST is a Zarr written by `geostp forecast` (its path is
    printed; `--out fc.zarr` chooses it).

    \b
    Examples:
      geostp evaluate fc.zarr --truth sample
      geostp evaluate fc_vip.zarr fc_simvp.zarr --truth wb5.625.zarr --out eval/ --metric rmse --metric acc
    """
    from geostp.data.prepare import dask_client
    from geostp.workflows.evaluate import evaluate_paths, report_lines

    with dask_client(scheduler):  # None: local threads
        result = evaluate_paths(forecasts, truth, out, metrics=list(metrics) or None, reference=reference,
                                n_boot=n_boot, block_length=block_length, regions=list(regions) or None,
                                convention=convention, progress=scheduler is None,
                                echo=lambda line: click.echo(line, err=True))
    click.echo("\n".join(report_lines(result)))
