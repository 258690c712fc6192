"""`geostp clean [PATH]`: remove temporary outputs that killed or failed writers left behind."""

from __future__ import annotations

import click


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--dry-run", is_flag=True, help="List what would be removed, remove nothing.")
def clean(paths: tuple[str, ...], dry_run: bool) -> None:
    """Remove leftover temporary outputs (.NAME.tmp-*, .NAME.old-*, state/.tmp-step-*, stale .NAME.lock) of
    writers that are gone. A store, forecast or run given as PATH is cleaned beside it; a folder is searched
    (4 levels, not inside Zarr stores). Default: the geostp cache and the current folder. Outputs of running
    writers are left alone.

    \b
    Examples:
      geostp clean
      geostp clean wb.zarr
      geostp clean runs/ --dry-run
    """
    from pathlib import Path

    from geostp.cache import cache_dir
    from geostp.io import _size, describe_leftovers, find_leftovers, remove_leftovers

    roots = [Path(p) for p in paths] or [cache_dir(), Path(".")]
    found = sorted({p for root in roots for p in find_leftovers(root)})
    if not found:
        click.echo("nothing to clean: no leftover temporary outputs in " + ", ".join(str(r) for r in roots))
        return
    click.echo(("would remove" if dry_run else "removing") + f" {len(found)} leftover(s):")
    click.echo(describe_leftovers(found))
    if not dry_run:
        click.echo(f"freed {_size(remove_leftovers(found))}")
