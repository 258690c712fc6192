"""`geostp plot`: a map (or frame grid) of one forecast, or a GIF over its lead times."""

from __future__ import annotations

import click


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("forecast", type=click.Path(exists=True, file_okay=False))
@click.option("--var", default=None, metavar="NAME",
              help="Variable to map (default: the first). For video/traffic forecasts: the channel to show.")
@click.option("--lead", default=None, metavar="DURATION", help="Lead time to map, e.g. 72h or 3d (default: the last).")
@click.option("--init", default=None, metavar="TIME", help="Init time, e.g. 2018-03-01T00 (default: the first).")
@click.option("--truth", default=None, metavar="STORE",
              help="Store with the truth for the truth and error panels (default: the forecast's data source "
                   "when it is the sample or a local store; without truth only the forecast is drawn).")
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Output PNG (GIF with --animate); default: next to the forecast.")
@click.option("--animate", is_flag=True, help="Write a GIF over all lead times of the init instead of one PNG.")
@click.option("--projection", type=click.Choice(["robinson", "platecarree"]), default="robinson", show_default=True,
              help="Map projection.")
def plot(forecast: str, var: str | None, lead: str | None, init: str | None, truth: str | None, out: str | None,
         animate: bool, projection: str) -> None:
    """Draw forecast | truth | forecast - truth maps of FORECAST (a Zarr from `geostp forecast`).

    Coastlines come from the Natural Earth 110m file shipped with geostp: nothing is downloaded.
    Video and traffic forecasts get a frame grid instead (rows input | truth | prediction).

    \b
    Examples:
      geostp plot fc.zarr --var t850 --lead 72h
      geostp plot fc.zarr --var t850 --init 2018-03-01T00 --animate --out t850.gif
    """
    from pathlib import Path

    import numpy as np

    from geostp.forecast.output import open_forecast

    fc = open_forecast(forecast)
    truth_store = _truth(fc, truth)
    stem = Path(forecast).name.removesuffix(".zarr")
    if "lat" not in fc.dims:
        from geostp.plots.frames import plot_frames
        from geostp.plots.maps import select_init

        png = Path(out) if out else Path(forecast).parent / f"{stem}-frames.png"
        path = plot_frames(fc, truth_store, png, init_index=select_init(fc, init), channel=var)
        click.echo(f"frames: {path}")
        return
    from geostp.plots.maps import animate_map, plot_map, select_lead

    var = var or str(next(iter(fc.data_vars)))
    if animate:
        gif = Path(out) if out else Path(forecast).parent / f"{stem}-{var}.gif"
        click.echo(f"animation: {animate_map(fc, var, gif, init=init, truth_store=truth_store, projection=projection)}")
        return
    li = select_lead(fc, lead)
    lead_v = fc["lead_time"].values[li]
    label = f"{lead_v / np.timedelta64(1, 'h'):g}h" if fc["lead_time"].dtype.kind == "m" else str(lead_v)
    png = Path(out) if out else Path(forecast).parent / f"{stem}-{var}-{label}.png"
    click.echo(f"map: {plot_map(fc, var, png, lead=lead, init=init, truth_store=truth_store, projection=projection)}")


def _truth(fc, truth: str | None):
    """The truth store: --truth, else the forecast's data source when it can be opened."""
    from geostp.errors import GeostpError
    from geostp.forecast.workflow import resolve_data

    if truth:
        return resolve_data(truth).store
    source = str(fc.attrs.get("data_source", ""))
    try:
        if source.startswith("sample"):
            return resolve_data("sample").store
        if source:
            return resolve_data(source).store
    except GeostpError:
        return None
    return None
