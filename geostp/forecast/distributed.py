"""Forecasts over several processes (`accelerate launch --num_processes N -m geostp forecast ...`): the init
times are split into contiguous shares, each process predicts its share and writes it into its own region
of one Zarr. Rank 0 creates the store's template first (coordinates, empty arrays), all ranks write their
regions, and rank 0 sets the completion flag (and renames a local store into place) only when every rank
reported success, so a failed or killed rank never leaves a store that looks whole.

Shares start on multiples of the Zarr chunk (no two processes write one chunk) and of --batch-size (the
model sees the same batches as in one process, so the result is bitwise equal to a one-process forecast).
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import shutil
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from geostp import storage
from geostp.data.store import _quiet_v3, check_zarr_format, mark_complete, zarr_format_of
from geostp.errors import GeostpError, PeerLostError, StoreError
from geostp.forecast.output import _check_appendable, _encoding, _set_complete, init_chunk_size, open_forecast
from geostp.io import atomic_dir


@dataclass
class ProcessGroup:
    """This process's place among the launched forecast processes (torch.distributed over gloo)."""

    rank: int
    world: int
    local_rank: int

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's `obj` on every rank."""
        import torch.distributed as dist

        box = [obj]
        with peer_lost(self):
            dist.broadcast_object_list(box, src=0)
        return box[0]

    def all_ok(self, ok: bool) -> bool:
        """A barrier that also tells whether every rank succeeded so far."""
        import torch
        import torch.distributed as dist

        flag = torch.tensor([1 if ok else 0], dtype=torch.int32)
        with peer_lost(self):
            dist.all_reduce(flag, op=dist.ReduceOp.MIN)
        return bool(flag.item())


def process_group() -> ProcessGroup | None:
    """The process group of a launch with WORLD_SIZE > 1 (joined once), or None for a single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return None
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("gloo")  # barriers and small objects only: gloo works on CPU and GPU machines
    group = ProcessGroup(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))
    _stop_on_sigterm(group)
    return group


_STOPPING = threading.Event()  # this process is already stopping because a peer was lost: later SIGTERMs wait
_AGAIN = ("The output was not marked complete (a local --out is untouched: it is built aside and moved in only "
          "when complete); run the same command again (--append keeps the init times of an earlier complete store)")


def _stop_on_sigterm(group: ProcessGroup) -> None:
    """When one process dies, the launcher (torchrun) sends SIGTERM to the others: make that a clean stop, so the
    temporary output is removed and one line says why (Python's default would end the process on the spot)."""
    if threading.current_thread() is not threading.main_thread():
        return

    def handler(signum: int, frame: Any) -> None:
        if _STOPPING.is_set():  # cleaning up after the first one: let it finish
            return
        _STOPPING.set()
        raise PeerLostError(f"forecast process {group.rank} of {group.world} was stopped by the launcher (SIGTERM): "
                            f"another forecast process died or the launch was cancelled. {_AGAIN}")

    signal.signal(signal.SIGTERM, handler)


@contextlib.contextmanager
def peer_lost(group: ProcessGroup) -> Iterator[None]:
    """A collective that fails because another forecast process died becomes one clear error."""
    try:
        yield
    except RuntimeError as exc:
        _STOPPING.set()
        raise PeerLostError(
            f"forecast process {group.rank} of {group.world} lost contact with another process "
            f"({_first_words(exc)}): one of them died, so this one stopped too. {_AGAIN}") from None


def _first_words(exc: BaseException) -> str:
    """The gist of a torch.distributed error: its first line without the source location, cut at 100 characters."""
    line = re.sub(r"^\[[^\]]*\]\s*", "", (str(exc).splitlines() or [type(exc).__name__])[0])
    return line.split(". ", 1)[0][:100]


def shares(n: int, world: int, unit: int, offset: int = 0) -> list[slice]:
    """Contiguous slices of range(n) for `world` processes, cut only where offset + i is a multiple of `unit`."""
    first = (-offset) % unit  # the first cut point: where offset + i reaches a multiple of unit
    cuts = [0, *range(first if first else unit, n, unit)] if n else [0]
    cuts = sorted(set(c for c in cuts if c < n)) + [n]
    pieces = len(cuts) - 1
    out = []
    for r in range(world):
        a, b = cuts[pieces * r // world], cuts[pieces * (r + 1) // world]
        out.append(slice(a, b))
    return out


def write_distributed(group: ProcessGroup, make_template: Callable[[np.ndarray], xr.Dataset],
                      predict: Callable[[np.ndarray], Iterator[xr.Dataset]], inits: np.ndarray, out: str | Path, *,
                      overwrite: bool, append: bool, batch_size: int, zarr_format: int | None = None,
                      chunk: int | None = None) -> dict[str, int]:
    """Write the forecast of `inits` to `out` from every rank of `group`; returns {"written", "skipped"}.

    `make_template(inits)` gives the lazy (dask) dataset of those init times, `predict(inits)` yields its
    computed blocks. Same refusal rules as `write_forecast` (exists without --overwrite/--append, appending
    a different forecast).
    """
    remote = storage.is_url(out)
    out = out if remote else storage.local_path(out)
    if overwrite and append:
        raise StoreError("choose one of --overwrite and --append")
    exists = storage.exists(out)
    if exists and not (overwrite or append):
        raise StoreError(f"{out} exists; pass --append to add init times to it or --overwrite to replace it "
                         "(the old store is kept until the new one is complete)")
    old = open_forecast(out) if exists and append else None
    n_old = old.sizes["init_time"] if old is not None else 0
    have = set(old["init_time"].values.tolist()) if old is not None else set()
    new = inits[np.array([t not in have for t in inits.tolist()], dtype=bool)] if have else inits
    skipped = len(inits) - len(new)
    if len(new) == 0:
        if old is None:
            raise StoreError("no forecast was produced (no init times)")
        group.all_ok(True)
        return {"written": 0, "skipped": skipped}
    template = make_template(new)
    if old is not None:
        _check_appendable(old, template, out)
        chunk = old[next(iter(old.data_vars))].encoding.get("chunks", (1,))[0]
        fmt = zarr_format_of(out)
    else:
        chunk = chunk or init_chunk_size(template)
        fmt = check_zarr_format(zarr_format)
    mine = shares(len(new), group.world, math.lcm(int(chunk), int(batch_size)) if n_old == 0 else int(chunk),
                  offset=n_old)[group.rank]
    ok = group.all_ok(True)  # every rank has read the old store before rank 0 starts changing things

    # rank 0 makes the template (coords and empty arrays) in the place every rank then writes into
    with _target(group, out, remote, exists, old is not None) as tmp:
        err: BaseException | None = None
        try:
            if group.rank == 0:
                _write_template(template, tmp, fmt, chunk, append=old is not None, copy_from=out if old is not None and not remote else None)
        except BaseException as exc:  # noqa: BLE001 - reported to every rank, re-raised below
            err = exc
        ok = group.all_ok(err is None)
        if ok:
            try:
                _write_share(predict, new, mine, n_old, tmp, chunk, fmt)
            except BaseException as exc:  # noqa: BLE001
                err = exc
            ok = group.all_ok(err is None)
        if err is not None:
            raise err
        if not ok:
            raise GeostpError("another forecast process failed (its error is above); the output was not marked "
                              "complete: fix the cause and run the command again")
        if group.rank == 0:
            mark_complete(tmp, fmt)
    group.all_ok(True)  # rank 0 has moved the store into place: every rank may open it
    return {"written": len(new), "skipped": skipped}


@contextlib.contextmanager
def _target(group: ProcessGroup, out: str | Path, remote: bool, exists: bool, appending: bool) -> Iterator[str | Path]:
    """Where every rank writes: a local temporary sibling (rank 0 renames it in), or the URL itself."""
    if remote:
        if group.rank == 0 and exists and not appending:
            storage.remove(out)  # object storage: the old store cannot be kept until the new one is complete
        if group.rank == 0 and appending:
            _set_complete(out, zarr_format_of(out), False)
        yield str(out)
        return
    if group.rank != 0:
        tmp = group.broadcast(None)
        yield Path(tmp)
        return
    with atomic_dir(out, overwrite=exists) as tmp:
        group.broadcast(str(tmp))
        yield tmp


def _write_template(template: xr.Dataset, tmp: str | Path, fmt: int, chunk: int, append: bool,
                    copy_from: Path | None) -> None:
    """Coordinates and empty (unwritten) data arrays of the new init times: a new store, or appended."""
    if copy_from is not None:
        shutil.copytree(copy_from, tmp)
    from geostp.cf import cf_dataset

    template = template.copy()
    for name in template.variables:
        template[name].encoding = {}
        if fmt == 3 and template[name].dtype.kind == "U":
            template[name] = template[name].astype(object)
    template = cf_dataset(template, what="forecast written")  # as write_forecast: the same attributes and encodings
    target = storage.zarr_store(tmp, read_only=False)
    with storage.translate(str(tmp)), _quiet_v3():
        if append:
            static = [v for v in template.variables if "init_time" not in template[v].dims]
            template.drop_vars(static).to_zarr(target, mode="a", append_dim="init_time", zarr_format=fmt,
                                               consolidated=True, compute=False)
        else:
            template.attrs.pop("geostp_complete", None)
            template.to_zarr(target, mode="w", zarr_format=fmt, consolidated=True, compute=False,
                             encoding=_encoding(template, chunk))


def _write_share(predict: Callable[[np.ndarray], Iterator[xr.Dataset]], new: np.ndarray, mine: slice, n_old: int,
                 tmp: str | Path, chunk: int, fmt: int) -> None:
    """Predict this rank's init times and write them into their region, a whole chunk at a time."""
    if mine.stop <= mine.start:
        return
    target = storage.zarr_store(tmp, read_only=False)
    buffer: list[xr.Dataset] = []
    start = n_old + mine.start  # absolute position of the first buffered init time
    filled = 0

    def flush() -> None:
        nonlocal start, filled
        ds = xr.concat(buffer, dim="init_time") if len(buffer) > 1 else buffer[0]
        data = ds[list(ds.data_vars)].drop_vars([c for c in ds.coords])
        for name in data.variables:
            data[name].encoding = {}
        with storage.translate(str(tmp)), _quiet_v3():
            data.to_zarr(target, region={"init_time": slice(start, start + filled)}, zarr_format=fmt,
                         consolidated=False)
        start, filled = start + filled, 0
        buffer.clear()

    for block in predict(new[mine]):
        buffer.append(block.load())
        filled += block.sizes["init_time"]
        if (start + filled) % chunk == 0:
            flush()
    if buffer:
        flush()
