"""The forecast Zarr store: writes labelled blocks (geostp.forecast.labels) atomically, appends init times safely.

It only writes: the blocks arrive with their coordinates and attributes. Chunks hold whole init times,
so appending never rewrites earlier chunks. Zarr format 2 (or 3 with `zarr_format=3`) with consolidated
metadata, like geostp's data stores; a local path or an fsspec URL (written in place on object storage,
completion flag last).
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from geostp import storage
from geostp.cf import cf_dataset
from geostp.data.store import _quiet_v3, check_zarr_format, mark_complete, zarr_format_of
from geostp.errors import StoreError, TargetExistsError
from geostp.forecast.labels import FORMAT, FRAMES_VAR  # noqa: F401  (FRAMES_VAR: where callers import it from)
from geostp.io import atomic_dir
from geostp.locks import target_lock

def init_chunk_size(ds: xr.Dataset, target_bytes: int = 8 << 20) -> int:
    """Init times per chunk: chunks of about `target_bytes` (few files: small files are slow to write and delete)."""
    per_init = sum(ds[v].dtype.itemsize * int(np.prod([ds.sizes[d] for d in ds[v].dims if d != "init_time"]))
                   for v in ds.data_vars)
    return int(max(1, min(1024, target_bytes // max(per_init, 1))))


TIME_UNITS = "seconds since 1970-01-01 00:00:00"  # fixed, fine enough for any init time appended later


def _encoding(ds: xr.Dataset, chunk: int) -> dict[str, dict[str, Any]]:
    """Chunks of whole init times; datetimes along init_time in fixed units. xarray would pick the units from
    the first block (e.g. 'days since' for midnight inits) and, appending 06 UTC inits later, write them as
    hours under those day units without an error: wrong init times."""
    enc = {}
    for name in ds.variables:
        var = ds[name]
        if "init_time" in var.dims:
            enc[name] = {"chunks": tuple(chunk if d == "init_time" else var.sizes[d] for d in var.dims)}
            if np.issubdtype(var.dtype, np.datetime64):
                enc[name].update(units=TIME_UNITS, dtype="int64")
    return enc


def open_forecast(path: str | Path) -> xr.Dataset:
    """Open a forecast store (local or URL), refusing half-written or foreign ones with the reason."""
    path = path if storage.is_url(path) else storage.local_path(path)
    if not storage.exists(path):
        raise StoreError(f"no forecast at {path}; make one with `geostp forecast ... --out {path}`")
    fmt = zarr_format_of(path)
    try:
        with storage.translate(str(path)):
            ds = xr.open_zarr(storage.zarr_store(path), consolidated=True, zarr_format=fmt)
    except StoreError:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure to open means unusable
        raise StoreError(f"{path} is not a readable forecast store ({type(exc).__name__}: {exc})") from None
    if ds.attrs.get("geostp_format") != FORMAT:
        raise StoreError(f"{path} is a Zarr store but not a geostp forecast (no geostp_format={FORMAT!r})")
    if not ds.attrs.get("geostp_complete"):
        raise StoreError(f"{path} is half-written (no completion flag); write it again with --overwrite")
    return ds


def _check_appendable(old: xr.Dataset, new: xr.Dataset, path: Path) -> None:
    """Appending needs the same variables, leads, grid and model state; show both sides otherwise."""
    problems = []
    if sorted(old.data_vars) != sorted(new.data_vars):
        problems.append(f"variables {sorted(old.data_vars)} vs {sorted(new.data_vars)}")
    for c in ("lead_time", "lat", "lon", "y", "x", "channel"):
        if (c in old.coords) != (c in new.coords) or (c in old.coords and not np.array_equal(old[c].values, new[c].values)):
            a = old[c].values if c in old.coords else "absent"
            b = new[c].values if c in new.coords else "absent"
            problems.append(f"{c} {a} vs {b}")
    for a in ("model", "config_hash", "weights_hash", "frame_step"):
        if old.attrs.get(a) != new.attrs.get(a):
            problems.append(f"{a} {old.attrs.get(a)!r} vs {new.attrs.get(a)!r}")
    if problems:
        raise StoreError(f"cannot append to {path}: it differs from the new forecast in " + "; ".join(problems)
                         + " (existing vs new); write to another --out or pass --overwrite")


def write_forecast(blocks: Iterable[xr.Dataset], out: str | Path, *, overwrite: bool = False,
                   append: bool = False, chunk: int | None = None, wait: bool = False,
                   zarr_format: int | None = None) -> dict[str, int]:
    """Write forecast blocks (in-memory datasets along init_time) to a Zarr store built aside, then moved in.

    An existing store is refused unless `overwrite` (replaced once the new one is complete) or `append`
    (new init times are added to a copy whose earlier values stay bit for bit; init times already
    present are skipped). Chunks hold `chunk` init times (default ~8 MB). The whole write holds `out`'s
    lock (`wait`: queue behind another writer). Returns {"written": n, "skipped": m}. On object storage (no
    atomic rename, no lock files) the store is written in place by a single writer, and an append first
    clears the completion flag, so an interrupted append leaves it refused, never mixed.
    """
    out = out if storage.is_url(out) else storage.local_path(out)
    if overwrite and append:
        raise StoreError("choose one of --overwrite and --append")
    with target_lock(out, wait=wait):
        return _write_forecast(blocks, out, overwrite, append, chunk, zarr_format)


def _write_forecast(blocks: Iterable[xr.Dataset], out: str | Path, overwrite: bool, append: bool,
                    chunk: int | None, zarr_format: int | None) -> dict[str, int]:
    """`write_forecast` under the lock."""
    remote = storage.is_url(out)
    exists = storage.exists(out)
    if exists and not (overwrite or append):
        raise TargetExistsError(f"{out} exists; pass --append to add init times to it or --overwrite to replace it "
                         "(the old store is kept until the new one is complete)")
    old = open_forecast(out) if exists and append else None
    have = set(old["init_time"].values.tolist()) if old is not None else set()
    counts = {"written": 0, "skipped": 0}
    fmt = zarr_format_of(out) if old is not None else check_zarr_format(zarr_format)
    if old is not None and remote:
        target = contextlib.nullcontext(str(out))
        _set_complete(out, fmt, False)  # in place: a crash mid-append must not leave a store that looks whole
    elif remote:
        target = storage.remote_target(str(out), overwrite=exists)
    else:
        target = atomic_dir(out, overwrite=exists, what="forecast")
    with target as tmp:
        state = {"n": 0, "chunk": chunk, "format": fmt}
        if old is not None:
            if not remote:
                shutil.copytree(out, tmp)
            state["n"] = old.sizes["init_time"]
            state["chunk"] = old[next(iter(old.data_vars))].encoding.get("chunks", (1,))[0]
        buffer: list[xr.Dataset] = []
        buffered = 0
        for block in blocks:
            if old is not None:
                _check_appendable(old, block, out)
            keep = np.array([t not in have for t in block["init_time"].values.tolist()], dtype=bool)
            counts["skipped"] += int((~keep).sum())
            if not keep.any():
                continue
            block = block.isel(init_time=np.flatnonzero(keep)).load()
            have.update(block["init_time"].values.tolist())
            buffer.append(block)
            buffered += block.sizes["init_time"]
            if state["chunk"] is None:
                state["chunk"] = init_chunk_size(block)
            room = state["chunk"] - state["n"] % state["chunk"]  # rows that complete the current chunk
            if buffered >= room:
                buffered = _flush(buffer, tmp, state, room)
        if buffer:
            _flush(buffer, tmp, state, None)
        if state["n"] == 0:
            raise StoreError("no forecast was produced (no init times)")
        counts["written"] = state["n"] - (old.sizes["init_time"] if old is not None else 0)
        mark_complete(tmp, fmt)
    return counts


def _set_complete(path: str | Path, zarr_format: int, value: bool) -> None:
    """Set or clear the completion flag of a store and re-consolidate its metadata."""
    import zarr

    from geostp.data.store import open_group

    open_group(path, mode="r+", zarr_format=zarr_format).attrs["geostp_complete"] = int(value)
    with storage.translate(str(path)), _quiet_v3():
        zarr.consolidate_metadata(storage.zarr_store(path, read_only=False), zarr_format=zarr_format)


def _flush(buffer: list[xr.Dataset], tmp: Path, state: dict[str, Any], room: int | None) -> int:
    """Write whole chunks from the buffer (all of it if `room` is None); keep the remainder buffered."""
    ds = xr.concat(buffer, dim="init_time") if len(buffer) > 1 else buffer[0]
    total = ds.sizes["init_time"]
    chunk = state["chunk"]
    if room is None:
        n_write = total
    else:  # the rows that fill the current chunk, then as many whole chunks as there are
        n_write = room + (total - room) // chunk * chunk
    head, tail = ds.isel(init_time=slice(0, n_write)), ds.isel(init_time=slice(n_write, None))
    for name in head.variables:
        head[name].encoding = {}
        if state["format"] == 3 and head[name].dtype.kind == "U":  # v3: variable-length UTF-8 (specified)
            head[name] = head[name].astype(object)
    head = cf_dataset(head, what="forecast written")  # after the reset: it sets encodings (no coordinate fill values)
    fmt, target = state["format"], storage.zarr_store(tmp, read_only=False)
    with storage.translate(str(tmp)), _quiet_v3():
        if state["n"] == 0:
            head.attrs.pop("geostp_complete", None)
            head.to_zarr(target, mode="w", zarr_format=fmt, consolidated=True, encoding=_encoding(head, chunk))
        else:
            static = [v for v in head.variables if "init_time" not in head[v].dims]
            head.drop_vars(static).to_zarr(target, mode="a", append_dim="init_time", zarr_format=fmt, consolidated=True)
    state["n"] += n_write
    buffer.clear()
    if tail.sizes["init_time"]:
        buffer.append(tail)
    return tail.sizes["init_time"]
