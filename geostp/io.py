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


# Packages whose versions can change what geostp writes (read from package metadata: nothing is imported).
DEPENDENCIES = ("numpy", "pandas", "xarray", "zarr", "numcodecs", "dask", "netCDF4", "h5netcdf", "cftime",
                "scipy", "torch", "accelerate", "safetensors")
FULL_HASH_LIMIT = 1 << 30  # bytes; larger source files get a head+tail digest (hashing 100s of GB is not provenance)
_EDGE = 16 << 20


def dependency_versions(packages: tuple[str, ...] = DEPENDENCIES) -> dict[str, str]:
    """Installed versions of `packages` (absent ones are left out), plus Python's."""
    from importlib import metadata

    out = {"python": sys.version.split()[0]}
    for name in packages:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def file_checksum(path: str | Path) -> dict[str, object]:
    """{"sha256", "bytes"} of a local file; files over FULL_HASH_LIMIT get the digest of their size, first and
    last 16 MiB ("sha256_head_tail"); directories and URLs are recorded by name only."""
    import hashlib

    p = Path(path)
    if "://" in str(path) or not p.is_file():
        return {"kind": "url" if "://" in str(path) else ("directory" if p.is_dir() else "missing")}
    size = p.stat().st_size
    h = hashlib.sha256()
    with open(p, "rb") as fh:
        if size <= FULL_HASH_LIMIT:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
            return {"sha256": h.hexdigest(), "bytes": size}
        h.update(str(size).encode())
        h.update(fh.read(_EDGE))
        fh.seek(size - _EDGE)
        h.update(fh.read(_EDGE))
    return {"sha256_head_tail": h.hexdigest(), "bytes": size}


def provenance(source_files: list[str] | tuple[str, ...] = (), **extra: object) -> dict[str, object]:
    """What made an output: geostp version, command line, time, dependency versions, and the checksum of
    each source file (`source_files`); plus `extra` entries."""
    out: dict[str, object] = {
        "geostp_version": geostp.__version__,
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "dependencies": dependency_versions(),
    }
    if source_files:
        out["source_files"] = [str(f) for f in source_files]
        out["source_checksums"] = {str(f): file_checksum(f) for f in source_files}
    return {**out, **extra}
