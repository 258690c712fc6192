"""`geostp export`: a store, forecast or scores file as one chunked, compressed NetCDF-4 file."""

from __future__ import annotations

import click


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("source", metavar="STORE")
@click.argument("out", type=click.Path(dir_okay=False), metavar="OUT.nc")
@click.option("--var", "variables", multiple=True, metavar="NAME", help="Export only these variables (repeatable).")
@click.option("--engine", type=click.Choice(["netcdf4", "h5netcdf"]), default="netcdf4", show_default=True,
              help="Library that writes the file.")
@click.option("--complevel", type=click.IntRange(0, 9), default=4, show_default=True,
              help="zlib compression level (0: none).")
@click.option("--overwrite", is_flag=True, help="Replace an existing OUT.nc (kept until the new file is complete).")
def export(source: str, out: str, variables: tuple[str, ...], engine: str, complevel: int, overwrite: bool) -> None:
    """Write STORE (a data store or `sample`, a forecast Zarr, or a scores.nc) as CF-1.10 NetCDF-4 to OUT.nc.

    Variables are chunked like the source and compressed; the file is written aside and moved into place
    when complete.

    \b
    Examples:
      geostp export sample sample.nc --var t850
      geostp export fc.zarr fc.nc --complevel 6
    """
    from geostp.workflows.export import export_netcdf

    path = export_netcdf(source, out, engine=engine, complevel=complevel, overwrite=overwrite,
                         variables=list(variables) or None)
    click.echo(f"netcdf: {path}")
