"""Atomic writes of files and directories (Zarr stores, run dirs) and provenance records."""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import shutil
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import geostp


@contextlib.contextmanager
def atomic_dir(target: str | Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling directory; on success it replaces `target`, on error it is removed.

    The old `target` survives until the new one is complete: it is moved aside, the new one renamed
    in, then the old one deleted.
    """
    target = Path(target)
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target} exists; pass --overwrite to replace it (it is kept until the new one is complete)")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
        os.replace(target, old)
    os.replace(tmp, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink()


def atomic_write_bytes(target: str | Path, data: bytes) -> None:
    """Write `data` to `target` via a temporary file, fsync and rename (never a truncated file)."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write_text(target: str | Path, text: str) -> None:
    """Text version of `atomic_write_bytes`."""
    atomic_write_bytes(target, text.encode())


def provenance(**extra: object) -> dict[str, object]:
    """What made an output: geostp version, command line, time; plus `extra` entries."""
    return {
        "geostp_version": geostp.__version__,
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        **extra,
    }
