"""`geostp plot`: a map (or frame grid) of one forecast, or a GIF over its lead times."""

from __future__ import annotations

import click


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("forecast", type=click.Path(file_okay=False))  # checked by open_forecast (one clear line)
@click.option("--var", default=None, metavar="NAME",
              help="Variable to map (default: the first). For video/traffic forecasts: the channel to show.")
@click.option("--lead", default=None, metavar="DURATION", help="Lead time to map, e.g. 72h or 3d (default: the last).")
@click.option("--init", default=None, metavar="TIME", help="Init time, e.g. 2018-03-01T00 (default: the first).")
@click.option("--truth", default=None, metavar="STORE",
              help="Store with the truth for the truth and error panels (default: the forecast's data source "
                   "when it is the sample or a local store; without truth only the forecast is drawn).")
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Output PNG (GIF with --animate); default: next to the forecast.")
@click.option("--animate", is_flag=True,
              help="Write a GIF over the lead times of the init, up to --lead (default: all), instead of one PNG; "
                   "colour scales are fixed over all frames.")
@click.option("--graticule", is_flag=True, help="Draw labelled latitude/longitude lines.")
@click.option("--projection", type=click.Choice(["robinson", "platecarree"]), default="robinson", show_default=True,
              help="Map projection.")
@click.option("--skill", is_flag=True,
              help="FORECAST is an evaluation directory of `geostp evaluate`: draw its per-grid-point RMSE and bias "
                   "maps (--model, --var, --lead) and zonal energy spectra.")
@click.option("--model", default=None, metavar="NAME", help="With --skill: the model whose maps to draw (default: the first).")
@click.option("--members", is_flag=True,
              help="FORECAST has a `member` dim (geostp forecast --members N): draw postage stamps, one map per "
                   "member (up to 16) and the truth, of one --init and --lead. Evaluating an ensemble also writes "
                   "crps_vs_lead.png and rank_histogram-VAR.png.")
def plot(forecast: str, var: str | None, lead: str | None, init: str | None, truth: str | None, out: str | None,
         animate: bool, graticule: bool, projection: str, skill: bool, model: str | None, members: bool) -> None:
    """Draw forecast | truth | forecast - truth maps of FORECAST (a Zarr from `geostp forecast`).

    Coastlines come from the Natural Earth 110m file shipped with geostp: nothing is downloaded.
    Video and traffic forecasts get a frame grid instead (rows input | truth | prediction).

    \b
    Examples:
      geostp plot fc.zarr --var t850 --lead 72h
      geostp plot fc.zarr --var t850 --init 2018-03-01T00 --animate --out t850.gif
      geostp plot fc.zarr --var t850 --lead 24h --animate --graticule
      geostp plot eval-fc/ --skill --var t850 --lead 72h
      geostp plot ens.zarr --members --var t850 --lead 72h
    """
    from geostp.workflows.plot import plot_path

    if skill:
        from geostp.workflows.plot import plot_skill_dir

        for kind, path in plot_skill_dir(forecast, var=var, lead=lead, model=model, out=out):
            click.echo(f"{kind}: {path}")
        return
    kind, path = plot_path(forecast, truth=truth, var=var, lead=lead, init=init, animate=animate, projection=projection,
                           out=out, graticule=graticule, members=members)
    click.echo(f"{kind}: {path}")
