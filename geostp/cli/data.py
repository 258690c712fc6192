"""`geostp data ...`: build analysis-ready stores (prepare, sample) and inspect them (info)."""

from __future__ import annotations

import click


@click.group()
def data() -> None:
    """Build analysis-ready Zarr stores and inspect them."""


@data.command()
@click.option("--out", type=click.Path(), default=None,
              help="Where to write the store (default: the sample cached in the user's cache dir).")
@click.option("--overwrite", is_flag=True, help="Rebuild even if the store exists (the old one is kept until done).")
def sample(out: str | None, overwrite: bool) -> None:
    """Build the embedded synthetic WeatherBench-like sample (t850, z500, t2m at 5.625 deg, 6-hourly) and summarise it.

    \b
    Example:
      geostp data sample
      geostp data sample --out sample.zarr --overwrite
    """
    from geostp.data.sample import build_sample
    from geostp.data.summary import summarize_store

    path = build_sample(out=out, overwrite=overwrite)
    click.echo(summarize_store(path))
