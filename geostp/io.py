"""Atomic, locked writes of files and directories (Zarr stores, run dirs), one-line write errors, leftovers, provenance."""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import functools
import os
import shutil
import sys
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import geostp
from geostp.errors import GeostpError, TargetExistsError, WriteError


TMP_MARK, OLD_MARK = ".tmp-", ".old-"
_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR}


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def _free_space(path: Path) -> int | None:
    for p in (path, *path.parents):
        try:
            return shutil.disk_usage(p).free
        except OSError:
            continue
    return None


def _os_error_of(exc: BaseException) -> OSError | None:
    """The write OSError behind `exc`: itself, an explicit cause, or the first error a shutil.Error collected."""
    seen = 0
    while exc is not None and seen < 8:
        if isinstance(exc, shutil.Error) and exc.args and isinstance(exc.args[0], list) and exc.args[0]:
            why = str(exc.args[0][0][-1])
            for code in (errno.ENOSPC, errno.EACCES, errno.EROFS, errno.EDQUOT):
                if os.strerror(code) in why:
                    return OSError(code, os.strerror(code), str(exc.args[0][0][1]))
            return OSError(errno.EIO, why, str(exc.args[0][0][1]))
        if isinstance(exc, OSError) and exc.errno in _WRITE_ERRNOS:
            return exc
        exc = exc.__cause__
        seen += 1
    return None


def write_error(target: Path, exc: BaseException, size_hint: int | None = None, what: str = "") -> WriteError | None:
    """A one-line WriteError for an OSError met while writing `target` (None if `exc` is not one)."""
    err = _os_error_of(exc)
    if err is None:
        return None
    label = f"{what} {target}".strip()
    where = err.filename or target
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        free = _free_space(Path(target).parent)
        need = f"; it needs about {_size(size_hint)}" if size_hint else ""
        left = f" ({_size(free)} free now)" if free is not None else ""
        return WriteError(f"cannot write {label}: no space left on the device of {Path(target).parent}{left}{need}; "
                          f"free some space or choose another --out (any previous {target.name} is untouched)")
    if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return WriteError(f"cannot write {label}: permission denied at {where} ({err.strerror}); choose a writable "
                          f"--out or fix the permissions (any previous {target.name} is untouched)")
    return WriteError(f"cannot write {label}: {err.strerror} at {where}; check that the parent of {target} is a "
                      "directory you can write (any previous output is untouched)")


@contextlib.contextmanager
def write_errors(target: str | Path, size_hint: int | None = None, what: str = "") -> Iterator[None]:
    """Turn full-disk, permission and missing-parent errors raised in the block into one-line WriteErrors."""
    try:
        yield
    except GeostpError:
        raise
    except (OSError, shutil.Error) as exc:
        err = write_error(Path(target), exc, size_hint, what)
        if err is None:
            raise
        raise err from None


def ensure_parent(target: str | Path) -> None:
    """Create the parent directories of `target`, or say in one line why they cannot be."""
    target = Path(target)
    for p in (target.parent, *target.parent.parents):
        if p.exists():
            if not p.is_dir():
                raise WriteError(f"cannot write {target}: {p} exists and is not a directory; choose another --out")
            break
    with write_errors(target):
        target.parent.mkdir(parents=True, exist_ok=True)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            path.unlink()


def temp_siblings(target: str | Path) -> list[Path]:
    """Temporary outputs of `target` (``.<name>.tmp-*``, ``.<name>.old-*``) left beside it."""
    target = Path(target)
    if not target.parent.is_dir():
        return []
    return sorted(p for p in target.parent.glob(f".{target.name}.*") if TMP_MARK in p.name or OLD_MARK in p.name)


@contextlib.contextmanager
def atomic_dir(target: str | Path, overwrite: bool = False, *, wait: bool = False, size_hint: int | None = None,
               what: str = "") -> Iterator[Path]:
    """Yield a temporary sibling directory; on success it replaces `target`, on error it is removed.

    The block runs under `target`'s lock (geostp.locks). "Exists and not `overwrite`" is checked on entry and
    again when the result is moved into place; the old `target` survives until the new one is complete (moved
    aside, the new one renamed in, the old one deleted). Full-disk and permission errors become one-line
    WriteErrors; temporary outputs that dead writers left beside `target` are removed after a success.
    """
    from geostp.locks import target_lock

    target = Path(target)
    with target_lock(target, wait=wait):
        if target.exists() and not overwrite:
            raise TargetExistsError(f"{target} exists; pass --overwrite to replace it (it is kept until the new one "
                                    "is complete)")
        tmp = target.with_name(f".{target.name}{TMP_MARK}{uuid.uuid4().hex[:8]}")
        try:
            with write_errors(target, size_hint, what):
                yield tmp
                if target.exists() and not overwrite:  # the re-check at the moment of moving into place
                    raise TargetExistsError(
                        f"{target} appeared while this output was written (another writer not using geostp's lock?); "
                        "the new output is discarded and the existing one kept: pass --overwrite to replace it")
                old = None
                if target.exists():
                    old = target.with_name(f".{target.name}{OLD_MARK}{uuid.uuid4().hex[:8]}")
                    os.replace(target, old)
                os.replace(tmp, target)
        except BaseException:
            _remove(tmp)
            raise
        # under the lock every other temporary sibling belongs to a writer that is gone: the next write cleans up
        for left in temp_siblings(target):
            _remove(left)


def compute(obj: object) -> object:
    """`dask.compute(obj)` on a thread pool that has stopped when this returns, even on error, so a failed
    write's temporary output can be removed without a writer thread still adding to it (a distributed
    client, when one is active, is used as is)."""
    import dask
    from dask.base import get_scheduler

    if get_scheduler() is not None:
        return dask.compute(obj)[0]
    pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 1)
    try:
        return dask.compute(obj, scheduler="threads", pool=pool)[0]
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def atomic_write_bytes(target: str | Path, data: bytes) -> None:
    """Write `data` to `target` via a temporary file, fsync and rename (never a truncated file)."""
    target = Path(target)
    ensure_parent(target)
    tmp = target.with_name(f".{target.name}{TMP_MARK}{uuid.uuid4().hex[:8]}")
    try:
        with write_errors(target, len(data)):
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
    return {"python": sys.version.split()[0], **dict(_installed_versions(tuple(packages)))}


@functools.lru_cache(maxsize=8)
def _installed_versions(packages: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """Looked up once per process: reading package metadata costs ~20 ms a call and every forecast block asks."""
    from importlib import metadata

    out = []
    for name in packages:
        try:
            out.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            continue
    return tuple(out)


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


def _target_of(temp: Path) -> Path | None:
    """The output a temporary name belongs to: ``.<name>.tmp-*`` / ``.<name>.old-*`` -> <name>; a run's
    ``state/.tmp-step-*`` -> the run directory."""
    name = temp.name
    if name.endswith((".lock", ".lock.break")):  # lock files (also those of temporary outputs) are judged by holder
        return None
    if name.startswith(".tmp-step-") and temp.parent.name == "state":
        return temp.parent.parent
    for mark in (TMP_MARK, OLD_MARK):
        if name.startswith(".") and mark in name:
            return temp.with_name(name[1:name.rindex(mark)])
    return None


def is_leftover(temp: Path) -> bool:
    """True when no running writer owns `temp`: its target is not locked by a live process, or the temp is older
    than that writer (a live writer's own temp is never a leftover)."""
    from geostp.locks import lock_status

    target = _target_of(temp)
    if target is None:
        return False
    holder, alive = lock_status(target)
    if not alive:
        return True
    try:
        return holder is not None and temp.stat().st_mtime < holder.started - 1.0
    except OSError:
        return False


def _is_zarr(path: Path) -> bool:
    """A Zarr group of format 2 (.zgroup) or 3 (zarr.json)."""
    return (path / ".zgroup").exists() or (path / "zarr.json").exists()


def find_leftovers(path: str | Path, depth: int = 4) -> list[Path]:
    """Temporary outputs of dead writers (and stale lock files) at, next to or under `path`; Zarr stores are
    not descended into."""
    from geostp.locks import lock_path, lock_status

    path = Path(path)
    found: set[Path] = set()
    if not path.is_dir() or _is_zarr(path) or (path / "signature.json").exists():
        found.update(t for t in temp_siblings(path) if is_leftover(t))
        state = path / "state"
        if state.is_dir():
            found.update(t for t in state.glob(".tmp-step-*") if is_leftover(t))
        lock = lock_path(path)
        if lock.exists() and not lock_status(path)[1]:
            found.add(lock)
        return sorted(found)

    def walk(d: Path, level: int) -> None:
        try:
            entries = list(d.iterdir())
        except OSError:
            return
        for e in entries:
            if _target_of(e) is not None and is_leftover(e):
                found.add(e)
            elif e.name.startswith(".") and e.name.endswith(".lock") and not lock_status(e.with_name(e.name[1:-5]))[1]:
                found.add(e)
            elif e.is_dir() and not e.is_symlink() and level < depth and not _is_zarr(e):
                walk(e, level + 1)

    walk(path, 0)
    return sorted(found)


def remove_leftovers(paths: list[Path]) -> int:
    """Remove leftover temporary outputs; returns the bytes freed."""
    freed = 0
    for p in paths:
        freed += dir_size(p)
        _remove(p)
    return freed


def dir_size(path: Path) -> int:
    """Bytes of a file or of every file under a directory."""
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def describe_leftovers(paths: list[Path]) -> str:
    """One line per leftover with its size, plus how to remove them."""
    lines = [f"  {p}  ({_size(dir_size(p))})" for p in paths]
    return "\n".join(lines)
