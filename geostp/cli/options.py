"""Options shared by several subcommands: where stores live (--storage-options) and how they are written (--zarr-format)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click


def _set_options(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    from geostp.storage import set_storage_options

    set_storage_options(value)


def storage_options_option(f: Callable[..., Any]) -> Callable[..., Any]:
    """`--storage-options JSON`: fsspec options for s3:// / gs:// / ... URLs (default: the standard environment)."""
    return click.option(
        "--storage-options", metavar="JSON", default=None, expose_value=False, callback=_set_options,
        help="fsspec options for URL stores, a JSON object, e.g. '{\"endpoint_url\": \"http://127.0.0.1:9000\"}' "
             "or '{\"anon\": true}'. Default: the standard environment (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, "
             "AWS_SECRET_ACCESS_KEY, GOOGLE_APPLICATION_CREDENTIALS, ...).")(f)


def zarr_format_option(f: Callable[..., Any]) -> Callable[..., Any]:
    """`--zarr-format 2|3` of the written store."""
    return click.option(
        "--zarr-format", type=click.Choice(["2", "3"]), default=None, callback=lambda c, p, v: int(v) if v else None,
        help="Zarr format of the written output: 3 (default; a store is sharded, one shard per contiguous block of "
             "time, the lazy loader's read block) or 2 (for readers that know only Zarr v2, e.g. zarr-python 2).")(f)
