"""`geostp data ...`: build analysis-ready stores (prepare, sample), list catalogs and inspect stores (info)."""

from __future__ import annotations

import click

from geostp.cli.options import storage_options_option, zarr_format_option


@click.group()
def data() -> None:
    """Build analysis-ready Zarr stores and inspect them.

    \b
    Examples:
      geostp data catalogs
      geostp data prepare weatherbench --root /data/WeatherBench --vars z500 t850 t2m --out wb.zarr
      geostp data prepare taxibj --root /data/TaxiBJ --out taxibj.zarr
      geostp data info wb.zarr
    """


@data.command()
@click.option("--out", type=click.Path(), default=None,
              help="Where to write the store (default: the sample cached in the user's cache dir).")
@click.option("--overwrite", is_flag=True, help="Rebuild even if the store exists (the old one is kept until done).")
@click.option("--wait", is_flag=True, help="If another process is writing --out, wait for it instead of stopping.")
def sample(out: str | None, overwrite: bool, wait: bool) -> None:
    """Build the embedded synthetic WeatherBench-like sample (t850, z500, t2m at 5.625 deg, 6-hourly) and summarise it.

    \b
    Example:
      geostp data sample
      geostp data sample --out sample.zarr --overwrite
    """
    from geostp.data.sample import build_sample
    from geostp.data.summary import summarize_store

    path = build_sample(out=out, overwrite=overwrite, wait=wait)
    click.echo(summarize_store(path))


class _ManyValued(click.Command):
    """Lets `--levels 850 500` take every value up to the next option (a click option takes one value)."""

    greedy = ("--levels",)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        out, i = [], 0
        while i < len(args):
            out.append(args[i])
            if args[i] in self.greedy:
                j = i + 1
                while j < len(args) and not args[j].startswith("-"):
                    j += 1
                out.append(",".join(args[i + 1:j]))
                i = j
            else:
                i += 1
        return super().parse_args(ctx, out)


def _levels(text: str | None) -> list[float] | None:
    if not text:
        return None
    try:
        return [float(v) for v in text.replace(",", " ").split()]
    except ValueError:
        raise click.BadParameter(f"{text!r}: expected level numbers, e.g. --levels 850 500", param_hint="--levels") from None


@data.command(cls=_ManyValued, context_settings={"max_content_width": 110})
@click.argument("catalog")
@click.argument("more_vars", nargs=-1, metavar="[VARS]...")
@click.option("--root", "--path", "root", metavar="PATH",
              help="Where the published files are: a folder (weatherbench, taxibj, mmnist, kth), a Zarr store or "
                   "gs:// / s3:// URL (weatherbench2, needs the `cloud` extra), or a NetCDF file, glob, folder or "
                   "Zarr store (custom). Example: --root /data/WeatherBench")
@click.option("--vars", "--var", "variables", multiple=True, metavar="NAMES",
              help="Short names of the variables, space- or comma-separated: --vars z500 t850 t2m. Default: the "
                   "catalog's own (weatherbench: z500 t850 t2m; taxibj: inflow outflow). For custom: NAME, "
                   "SHORT=NAME or SHORT=NAME@LEVEL, e.g. --var t2m --var z500=z@500.")
@click.option("--out", required=True, metavar="STORE",
              help="The Zarr store to write: a path or an fsspec URL, e.g. --out wb_5.625.zarr or "
                   "--out s3://bucket/wb.zarr (URLs need the `cloud` extra; credentials: see --storage-options).")
@click.option("--splits", default=None, metavar="SPEC",
              help="Calendar splits by year, each a year or an inclusive range: "
                   "--splits train=1979-2015,valid=2016,test=2017-2018 (the WeatherBench default). Times in no "
                   "split are left out. Not for mmnist/kth (fixed by protocol); for taxibj it replaces the "
                   "default test = last 28 days.")
@click.option("--step", default=None, metavar="DURATION",
              help="Time step of the store, a multiple of the files' step; keeps times on multiples of it since "
                   "midnight. Default: 6h for weatherbench (hourly files), else the files' own. Example: --step 12h")
@click.option("--resolution", default=None, type=click.Choice(["5.625", "2.8125", "1.40625"]),
              help="WeatherBench v1 resolution folder (<root>/<res>deg); default 5.625. Example: --resolution 2.8125")
@click.option("--levels", default=None, metavar="LEVEL...",
              help="custom: vertical levels to take from every variable that has a level axis (pressure levels in "
                   "hPa, or model level numbers); each becomes a channel named like WeatherBench: --var t --levels "
                   "850 500 gives t850 and t500.")
@click.option("--grid", default=None, type=click.Choice(["5.625", "2.8125", "1.40625"]),
              help="Regrid to a WeatherBench equiangular grid (degrees; lat -90+d/2..90-d/2, lon 0..360-d) while "
                   "preparing; needs the `regrid` extra. Example: --grid 5.625")
@click.option("--grid-like", default=None, metavar="STORE", type=click.Path(),
              help="Regrid to the lat/lon grid of an existing geostp store, so two sources meet on one grid.")
@click.option("--regrid", "regrid_method", default="conservative", type=click.Choice(["conservative", "bilinear"]),
              help="Regridding method for --grid/--grid-like (xarray-regrid): conservative (default, keeps area "
                   "means) or bilinear.")
@click.option("--missing", default="skip", type=click.Choice(["skip", "interpolate", "nearest"]),
              help="Dates absent from the files (a missing month): skip (default: windows never span them), or fill "
                   "them from the dates either side, linearly in steps (interpolate) or with the nearest (nearest, "
                   "ties to the earlier). What was missing is recorded in the store's provenance.")
@click.option("--fill", default=None, metavar="VALUE|mean|nearest",
              help="What to do with NaNs in the source (by default prepare stops and says where they are): a "
                   "number (--fill 0), mean (the variable's train-split mean) or nearest (the nearest valid "
                   "time step, e.g. for the NaN first hours of WeatherBench tp).")
@click.option("--overwrite", is_flag=True,
              help="Replace an existing store; the old one is kept until the new one is complete.")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="Run on a dask distributed scheduler, e.g. --scheduler tcp://10.0.0.5:8786 "
                   "(needs the `distributed` extra). Default: local threads.")
@click.option("--progress/--no-progress", default=True, help="Show progress bars (default: on).")
@click.option("--wait", is_flag=True, help="If another process is writing --out, wait for it instead of stopping.")
@zarr_format_option
@click.option("--shard-mb", type=click.FloatRange(min=0, min_open=True), default=None, metavar="MB",
              help="Zarr v3: one shard holds the frames of a loader block of this many MB (float32, all variables; "
                   "default 16, the lazy loader's default block). Larger: fewer objects on object storage, larger "
                   "loader blocks (memory: pool_blocks x block).")
@storage_options_option
def prepare(catalog, more_vars, root, variables, out, splits, step, resolution, levels, grid, grid_like, regrid_method,
            missing, fill, overwrite, scheduler, progress, wait, zarr_format, shard_mb) -> None:
    """Turn a dataset's published files into one analysis-ready Zarr store, then summarise it.

    CATALOG is one of the packaged catalogs (weatherbench, weatherbench2, taxibj, mmnist, kth, custom; see
    `geostp data catalogs`) or the path of a catalog YAML. The store holds the fields under their short
    names with CF attributes, lat/lon ascending (or y/x), split labels, gap-free segments, train-split
    normalisation statistics and provenance; it opens with xarray.open_zarr.

    \b
    Examples:
      geostp data prepare weatherbench --root /data/WeatherBench --vars z500 t850 t2m --out wb.zarr
      geostp data prepare weatherbench --root /data/WeatherBench --resolution 2.8125 --vars t850 \\
          --step 6h --splits train=1979-2015,valid=2016,test=2017-2018 --out wb_t850.zarr --overwrite
      geostp data prepare weatherbench2 --out wb2.zarr --vars z500 t850 \\
          --root gs://weatherbench2/datasets/era5/1959-2023_01_10-6h-64x32_equiangular_conservative.zarr
      geostp data prepare taxibj --root /data/TaxiBJ --out taxibj.zarr
      geostp data prepare mmnist --root /data/moving_mnist --out mmnist.zarr
      geostp data prepare kth --root /data/kth --out kth.zarr
      geostp data prepare custom --path 'era5/*.nc' --var t2m --var z500=z@500 \\
          --splits train=2000-2015,test=2016 --out mine.zarr
      geostp data prepare custom --path era5_pl.grib --var t --levels 850 500 \\
          --splits train=2000-2015,test=2016 --out t_levels.zarr
      geostp data prepare custom --path 'era5_0.25/*.nc' --var t2m --grid 5.625 \\
          --splits train=2000-2015,test=2016 --out t2m_5.625.zarr
    """
    from geostp.data.prepare import prepare as run
    from geostp.data.summary import summarize_store

    names = [n for item in (*variables, *more_vars) for n in item.replace(",", " ").split()] or None
    path = run(catalog, out, root=root, variables=names, splits=splits, step=step, resolution=resolution,
               levels=_levels(levels), grid=grid, grid_like=grid_like, regrid_method=regrid_method, missing=missing,
               fill=fill, overwrite=overwrite, scheduler=scheduler, progress=progress,
               echo=lambda m: click.echo(m, err=True), wait=wait, zarr_format=zarr_format, shard_mb=shard_mb)
    click.echo(summarize_store(path))


@data.command()
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@click.option("--var", "variables", multiple=True, metavar="NAME", help="Variable(s) to check (default: every data variable).")
def check(paths: tuple[str, ...], variables: tuple[str, ...]) -> None:
    """Say what geostp sees in any NetCDF/GRIB file, glob or Zarr store, before anything is written: variables,
    units, grid and its axes, calendar and step, levels, the NaN pattern (a static mask or missing values),
    what prepare would do, and the exact prepare command to run. Given one geostp store, verify it in full
    instead: completion flag, every chunk on disk, each array's sha256 against the digests recorded when it
    was written, leftover temporary outputs beside it (exit 2 on a problem).

    \b
    Examples:
      geostp data check air.mon.mean.nc
      geostp data check 'sst/*.nc' --var sst
      geostp data check wb.zarr
    """
    from geostp.data.check import check as run_check, is_geostp_store

    if len(paths) == 1 and not variables and is_geostp_store(paths[0]):
        _verify_store(paths[0])
        return
    click.echo("\n".join(run_check(list(paths), list(variables) or None)))


def _verify_store(store: str) -> None:
    """`geostp data check STORE` on a geostp store: its integrity in full."""
    from geostp.data.store import open_store, verify_digests
    from geostp.data.summary import leftover_lines

    ds = open_store(store)
    verify_digests(store, ds, full=True)
    recorded = "sha256 of every array matches its record" if ds.attrs.get("geostp_digests") else \
        "complete (written before digests were recorded: chunks checked, no sha256)"
    click.echo(f"{store}: ok, {recorded}")
    for line in leftover_lines(store):
        click.echo(line)


@data.command()
@click.argument("store")
@storage_options_option
def info(store: str) -> None:
    """Summarise a store: variables with units and statistics, grid, time range and step, splits with counts
    and dates, segments, chunking and provenance. The store is checked (a half-written or corrupt one is refused).
    STORE is a store path, a URL, or `sample` (the embedded sample, built on first use).

    \b
    Examples:
      geostp data info sample
      geostp data info wb.zarr
    """
    from geostp.data.summary import summarize_store

    if store == "sample":  # the same name `--data`, `--truth` and data.store accept
        from geostp.data.resolve import resolve_store

        store = str(resolve_store(store))
    click.echo(summarize_store(store))


@data.command()
def catalogs() -> None:
    """List the packaged dataset catalogs, their variables, splits and default windows.

    \b
    Example:
      geostp data catalogs
    """
    from geostp.catalogs.spec import list_catalogs, load_catalog
    from geostp.errors import GeostpError

    for name in list_catalogs():
        try:
            spec = load_catalog(name)
        except GeostpError:  # a catalog with its own schema (e.g. the embedded sample)
            click.echo(f"{name}\n")
            continue
        names = list(spec.all_variables())
        shown = ", ".join(names[:14]) + (f", ... ({len(names)} in all)" if len(names) > 14 else "")
        splits = ", ".join(f"{k}={v}" for k, v in spec.splits.items()) or "fixed by protocol / --splits"
        click.echo(f"{name}: {spec.title}\n  variables: {shown or 'given with --var'}\n  splits: {splits}; "
                   f"windows {spec.default_t_in} -> {spec.default_t_out}; step {spec.default_step or spec.time_step or 'from the files'}; "
                   f"normalisation {spec.normalization}\n")
