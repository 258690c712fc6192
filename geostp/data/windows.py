"""(input, target) tensor windows over a geostp store, as a torch Dataset read block by block.

The windows of a split are grouped into blocks: contiguous runs of store chunks along time (lazy) or
gap-free runs of the frames the split needs (in memory). A block is read whole with zarr (no dask:
DataLoader workers must not fight a dask thread pool), normalised once, and kept in a small LRU cache;
windows are then plain copies out of it into reused batch buffers. Paired with `ChunkBatchSampler`
(via `ds.loader(...)`), each block is read about once per epoch and memory stays bounded by the pool.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import xarray as xr
from torch.utils.data import Dataset

from geostp.data.anomalies import Anomalies
from geostp.data.buffers import BufferPool
from geostp.data.chunks import ChunkReader
from geostp.data.masks import store_masks
from geostp.data.normalize import Normalizer
from geostp.data.store import GRID_DIMS, open_group, open_store, select_variables
from geostp.errors import ConfigError, DataError, UnknownNameError
from geostp.registry import Registry
from geostp.timeaxis import parse_step

DEFAULT_BLOCK_MB = 16.0
DEFAULT_POOL_BLOCKS = 8
_PIECE = 32  # frames normalised at a time (a few hundred KB: stays in cache across the three passes)


def _step_in_frames(ds: xr.Dataset, step: int | str | None) -> int:
    """Frame step as a count of store time steps (`"6h"` on an hourly store -> 6, `"6month"` on a monthly
    one -> 6; an integer counts store steps)."""
    if step is None:
        return 1
    if isinstance(step, (int, np.integer)):
        if step < 1:
            raise DataError(f"step must be >= 1 store time step, got {step}")
        return int(step)
    try:
        want = parse_step(step)
    except ConfigError as exc:
        raise DataError(str(exc)) from None
    return want.frames_of(parse_step(ds.attrs["time_step"]))


def window_starts(segment: np.ndarray, span: int, stride: int = 1) -> np.ndarray:
    """Start indices s of windows s, s+step, ..., s+span-1 that stay inside one segment.

    With `stride` k, only every k-th start counted from the beginning of each segment is kept.
    """
    seg = np.asarray(segment)
    n = len(seg)
    if n < span:
        return np.zeros(0, np.int64)
    s = np.arange(n - span + 1)
    ok = seg[s] == seg[s + span - 1]
    if stride > 1:
        first = np.flatnonzero(np.concatenate([[True], seg[1:] != seg[:-1]]))  # segment starts
        seg_start = first[np.searchsorted(first, s, side="right") - 1]
        ok &= (s - seg_start) % stride == 0
    return s[ok].astype(np.int64)


def _block_layout(starts: np.ndarray, span: int, frames_per_block: int | None) -> np.ndarray:
    """Block id of each (ascending) window start: chunk-aligned runs, or gap-free runs if None."""
    if frames_per_block is None:
        new = np.concatenate([[True], starts[1:] >= starts[:-1] + span])
        return np.cumsum(new) - 1
    _, block_of = np.unique(starts // frames_per_block, return_inverse=True)
    return block_of.astype(np.int64)


class WindowDataset(Dataset):
    """Windows `x, y = ds[i]`: x (T_in, C, H, W), y (T_out, C, H, W), float32, normalised.

    Batches: `ds.get_batch(indices)` -> (x, y) of shape (B, T, C, H, W); `ds.loader(batch_size)` gives
    shuffled, chunk-aware batches for training. `ds.init_times[i]` is the time of window i's last input.
    """

    def __init__(
        self,
        store: str | Path,
        split: str,
        t_in: int,
        t_out: int,
        step: int | str | None = None,
        stride: int = 1,
        in_memory: bool = False,
        variables: Sequence[str] | None = None,
        block_mb: float = DEFAULT_BLOCK_MB,
        pool_blocks: int = DEFAULT_POOL_BLOCKS,
        anomalies: Anomalies | None = None,
    ) -> None:
        self.store = str(store)
        ds = open_store(store)
        # coords straight from zarr: through xarray they are dask arrays of many small chunks (slow)
        group = open_group(self.store)
        split_of, seg = group["split"][:], group["segment"][:]
        present = set(np.unique(split_of).tolist())
        splits = [s for s in ("train", "valid", "test") if s in present] + sorted(present - {"train", "valid", "test"})
        if split not in splits:
            raise UnknownNameError("split", split, splits, where=self.store)
        self.split = split
        self.variables = select_variables(ds, variables)
        self.t_in, self.t_out = int(t_in), int(t_out)
        if self.t_in < 1 or self.t_out < 1:
            raise DataError(f"t_in and t_out must be >= 1, got {t_in}, {t_out}")
        if int(stride) < 1:
            raise DataError(f"stride must be >= 1, got {stride}")
        self.frame_step = _step_in_frames(ds, step)
        self.stride = int(stride)
        self.span = (self.t_in + self.t_out - 1) * self.frame_step + 1
        in_split = np.flatnonzero(split_of == split)
        starts_local = window_starts(seg[in_split], self.span, self.stride)
        if len(starts_local) == 0:
            lengths = np.unique(seg[in_split], return_counts=True)[1] if len(in_split) else np.zeros(1, int)
            raise DataError(
                f"split {split!r} of {self.store} has no window of {self.t_in}+{self.t_out} frames at step "
                f"{self.frame_step} (span {self.span} time steps): its longest gap-free run is "
                f"{int(lengths.max())} time steps; use shorter windows or a smaller step"
            )
        self.starts = in_split[starts_local]
        self.starts.setflags(write=False)
        self._time = ds["time"].values
        self.init_times = self._time[self.starts + (self.t_in - 1) * self.frame_step]
        self.init_times.setflags(write=False)  # indexing hands out copies; the array itself stays fixed
        self.time_step = str(ds.attrs["time_step"])
        self.stats = {
            v: {k: ds[v].attrs[k] for k in ds[v].attrs if k.startswith(("norm_", "stats_"))} for v in self.variables
        }
        self.normalizer = Normalizer.from_stats(self.stats, self.variables)
        self.grid_dims = GRID_DIMS[ds.attrs["grid_kind"]]
        self.shape = tuple(ds.sizes[d] for d in self.grid_dims)
        self.frame_shape = (len(self.variables), *self.shape)
        # static mask (C, H, W), True = masked: NaN in the store, 0 (the normalised mean) in every window
        self.mask = store_masks(ds, self.variables)
        if self.mask is not None:
            self.mask.setflags(write=False)
        # anomaly runs (geostp.data.anomalies): every frame minus the climatology of its calendar month
        self.anomalies = anomalies
        self._group = anomalies.group_index(self._time) if anomalies is not None else None
        enc = ds[self.variables[0]].encoding  # blocks align with v3 shards (one object each), else with chunks
        self.time_chunk = int((enc.get("shards") or enc.get("chunks") or (len(self._time),))[0])
        read_chunk = int((enc.get("chunks") or (self.time_chunk,))[0])  # what a lone window reads (v3: inner chunk)
        self.in_memory = bool(in_memory)
        self.epoch = 0  # store windows are the same every epoch; kept for the WindowSource protocol

        # blocks: lazy ones are whole multiples of the time chunk (~block_mb each, at least one span)
        if self.in_memory:
            frames_per_block = None
        else:
            frame_bytes = 4 * int(np.prod(self.frame_shape))
            by_size = round(block_mb * 2**20 / (frame_bytes * self.time_chunk))
            chunks = max(1, by_size, -(-self.span // self.time_chunk))
            frames_per_block = chunks * self.time_chunk
        self.block_of = _block_layout(self.starts, self.span, frames_per_block)
        self.block_of.setflags(write=False)
        self.n_blocks = int(self.block_of[-1]) + 1
        first = np.flatnonzero(np.concatenate([[True], np.diff(self.block_of) != 0]))
        self.block_lo = self.starts[first]
        self.block_hi = np.append(self.starts[first[1:] - 1], self.starts[-1]) + self.span
        self.pool_blocks = self.n_blocks if self.in_memory else max(1, int(pool_blocks))
        self.block_reads = 0  # blocks read from the store so far (tests and benchmarks watch it)
        self.block_buffers = 0  # block-sized buffers allocated (bounded by pool + 1)
        # scattered access (a plain random sampler) reads lone windows directly and reads a block whole
        # once the windows asked of it would have cost as much as the block (chunks touched)
        block_chunks = int(self.block_hi[0] - self.block_lo[0]) / read_chunk + 1
        window_chunks = (self.span - 1) / read_chunk + 1
        self._load_after = max(2, int(np.ceil(block_chunks / window_chunks)))

        self._arrays: list | None = None
        self._readers: list[ChunkReader | None] = []
        self._direct = True  # read local chunk files directly (False: always through zarr; for tests)
        self._pid = -1
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._free: list[np.ndarray] = []
        self._misses: dict[int, int] = {}
        self._buffers = BufferPool((self.t_in, *self.frame_shape), (self.t_out, *self.frame_shape))
        if self.in_memory:
            for b in range(self.n_blocks):
                self._adopt(b, self._read_block(b, np.empty(self._block_shape(b), np.float32)))

    # ---------------------------------------------------------------- reading
    def _open(self) -> list:
        """zarr arrays of the variables, opened once per process (each DataLoader worker opens its own)."""
        if self._arrays is None or self._pid != os.getpid():
            group = open_group(self.store)
            self._arrays = [group[v] for v in self.variables]
            self._readers = [ChunkReader.for_array(a, self.store, v) if self._direct else None
                             for a, v in zip(self._arrays, self.variables)]
            self._pid = os.getpid()
        return self._arrays

    def _block_shape(self, b: int) -> tuple[int, ...]:
        return (int(self.block_hi[b] - self.block_lo[b]), *self.frame_shape)

    def _normalize_into(self, raw: np.ndarray, c: int, out: np.ndarray) -> None:
        """out = normalised raw for channel c (geostp.data.normalize), without temporaries."""
        self.normalizer.normalize_into(raw, c, out)

    def _read_block(self, b: int, out: np.ndarray) -> np.ndarray:
        """Read block b's frames of every variable from the store into `out`, normalised.

        """
        lo, hi = int(self.block_lo[b]), int(self.block_hi[b])
        for c, (arr, reader) in enumerate(zip(self._open(), self._readers)):
            dest = out[:, c]
            if reader is None:  # through zarr (remote stores, unusual layouts)
                self._normalize_into(arr[lo:hi], c, dest)
                continue
            for a, z, decoded in reader.chunks(lo, hi):  # normalise each decoded chunk into the block
                for i in range(0, z - a, _PIECE):  # cache-sized pieces: three passes over hot memory
                    self._normalize_into(decoded[i : i + _PIECE], c, dest[a - lo + i : min(z, a + i + _PIECE) - lo])
        if self._group is not None:
            self.anomalies.subtract(out, self._group[lo:hi])
        if self.mask is not None:
            out[:, self.mask] = 0.0
        return out

    def _spare_block(self, b: int) -> np.ndarray:
        """An unused buffer for block b: an evicted block's, or a new one the size of the longest block."""
        if self._free:
            base = self._free.pop()
        else:
            base = np.empty((int((self.block_hi - self.block_lo).max()), *self.frame_shape), np.float32)
            self.block_buffers += 1
        return base[: self._block_shape(b)[0]]

    def _make_room(self) -> None:
        """Evict least recently used blocks until one more fits the cache (pool + 1 blocks)."""
        while len(self._cache) > self.pool_blocks:
            _, old = self._cache.popitem(last=False)
            self._free.append(old.base if old.base is not None else old)

    def _adopt(self, b: int, block: np.ndarray) -> np.ndarray:
        """Put a block just read into the cache."""
        self._make_room()
        self._cache[b] = block
        self._misses.pop(b, None)
        self.block_reads += 1
        return block

    def _block(self, b: int) -> np.ndarray:
        """Block b from the LRU cache, reading it (and evicting the least recently used) if absent."""
        hit = self._cache.get(b)
        if hit is not None:
            self._cache.move_to_end(b)
            return hit
        self._make_room()
        return self._adopt(b, self._read_block(b, self._spare_block(b)))

    def _read_direct(self, start: int, xr_: np.ndarray, yr_: np.ndarray) -> None:
        """Read one window straight from the store (for scattered access that would waste whole blocks)."""
        step, t_in = self.frame_step, self.t_in
        for c, (arr, reader) in enumerate(zip(self._open(), self._readers)):
            if reader is None:
                raw = arr[start : start + self.span][::step]
                self._normalize_into(raw[:t_in], c, xr_[:, c])
                self._normalize_into(raw[t_in:], c, yr_[:, c])
                continue
            for a, z, decoded in reader.chunks(start, start + self.span):
                first = a + (-(a - start)) % step  # first window frame in this chunk
                for k in range((first - start) // step, (z - 1 - start) // step + 1):
                    frame = decoded[start + k * step - a]
                    self._normalize_into(frame, c, xr_[k, c] if k < t_in else yr_[k - t_in, c])
        if self._group is not None:
            groups = self._group[start : start + self.span : step]
            self.anomalies.subtract(xr_, groups[:t_in])
            self.anomalies.subtract(yr_, groups[t_in:])
        if self.mask is not None:
            xr_[:, self.mask] = 0.0
            yr_[:, self.mask] = 0.0

    def _check_indices(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        n = len(self.starts)
        idx = np.where(idx < 0, idx + n, idx)
        if len(idx) and (idx.min() < 0 or idx.max() >= n):
            bad = int(idx[(idx < 0) | (idx >= n)][0])
            raise IndexError(f"window {bad} out of range: this dataset has {n} windows")
        return idx

    def get_batch(self, indices: Sequence[int] | np.ndarray, whole_blocks: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Windows `indices` as a batch x (B, T_in, C, H, W), y (B, T_out, C, H, W).

        Blocks are read whole when cached, when `whole_blocks` (the chunk-aware sampler's batches), or
        once enough of their windows were asked for; until then windows are read directly.
        The returned tensors are the caller's: their memory is reused only after they are released.
        """
        idx = self._check_indices(indices)
        xb, yb = self._buffers.get(len(idx))
        starts = self.starts[idx]
        blocks = self.block_of[idx]
        ub, inv = np.unique(blocks, return_inverse=True)
        cached = [int(b) in self._cache for b in ub]
        span, step, t_in = self.span, self.frame_step, self.t_in
        for k in sorted(range(len(ub)), key=lambda k: not cached[k]):  # cached blocks first: no eviction hazard
            b = int(ub[k])
            rows = np.flatnonzero(inv == k).tolist()
            if not (cached[k] or whole_blocks or self._misses.get(b, 0) + len(rows) >= self._load_after):
                self._misses[b] = self._misses.get(b, 0) + len(rows)
                for r in rows:
                    self._read_direct(int(starts[r]), xb[r], yb[r])
                continue
            block, lo = self._block(b), int(self.block_lo[b])
            for r in rows:
                s = int(starts[r]) - lo
                w = block[s : s + span : step]
                xb[r] = w[:t_in]
                yb[r] = w[t_in:]
        return torch.from_numpy(xb), torch.from_numpy(yb)

    # ---------------------------------------------------------------- Dataset protocol
    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = self.get_batch([int(i)])
        return x[0], y[0]

    def __getitems__(self, indices: Sequence[int]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Batched fetch for torch's DataLoader: one read per block, then the usual list of items."""
        x, y = self.get_batch(indices)
        return [(x[k], y[k]) for k in range(len(x))]

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_arrays"], state["_readers"] = None, []  # never share zarr handles across processes
        state["_buffers"] = BufferPool(self._buffers.x_tail, self._buffers.y_tail)
        if not self.in_memory:  # the cache is only worth shipping when it holds the whole split
            state["_cache"], state["_free"], state["_misses"] = OrderedDict(), [], {}
        return state

    # ---------------------------------------------------------------- metadata and normalisation
    def window_time_index(self, i: int) -> np.ndarray:
        """Store time indices of window i's T_in + T_out frames (a fresh array)."""
        s = int(self.starts[self._check_indices([i])[0]])
        return s + self.frame_step * np.arange(self.t_in + self.t_out)

    def window_times(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Times of window i's input frames and target frames (fresh arrays)."""
        t = self._time[self.window_time_index(i)]
        return t[: self.t_in], t[self.t_in :]

    def normalize(self, raw: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        """Physical units -> normalised (channel axis is -3)."""
        return self.normalizer.normalize(raw)

    def denormalize(self, tensor: torch.Tensor | np.ndarray) -> torch.Tensor | np.ndarray:
        """Normalised -> physical units (channel axis is -3)."""
        return self.normalizer.denormalize(tensor)

    # ---------------------------------------------------------------- batches for training
    def set_epoch(self, epoch: int) -> None:
        """Record the epoch (store windows do not change with it)."""
        self.epoch = int(epoch)

    def batch_sampler(
        self,
        batch_size: int,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
        num_replicas: int = 1,
        rank: int = 0,
        lanes: int = 1,
    ):
        """A ChunkBatchSampler over this dataset's blocks (pools as large as the block cache)."""
        from geostp.data.sampler import ChunkBatchSampler

        return ChunkBatchSampler(
            self.block_of, batch_size, shuffle=shuffle, seed=seed, pool_blocks=self.pool_blocks,
            drop_last=drop_last, num_replicas=num_replicas, rank=rank, lanes=lanes,
        )

    def loader(
        self,
        batch_size: int,
        shuffle: bool = True,
        seed: int = 0,
        num_workers: int | None = None,
        drop_last: bool = False,
        num_replicas: int = 1,
        rank: int = 0,
        with_index: bool = False,
    ):
        """Iterable of (x, y) batches (or (x, y, idx) with `with_index`), one epoch per `iter()`.

        `num_workers=None` takes the measured default (0: in-process, which wins on few cores).
        Under DDP give `num_replicas`/`rank` (e.g. accelerator.num_processes / process_index) rather
        than passing the loader to `accelerator.prepare`. Batches are the caller's to keep.
        """
        from geostp.data.loader import WindowLoader

        return WindowLoader(
            self, batch_size, shuffle=shuffle, seed=seed, num_workers=num_workers, drop_last=drop_last,
            num_replicas=num_replicas, rank=rank, with_index=with_index,
        )


# Stores whose attrs name a `generator` (e.g. Moving MNIST's bouncing digits) serve the splits listed in
# attrs["generated_splits"] with freshly generated sequences: generator name -> Dataset factory
# `factory(store, split, t_in, t_out, **kwargs)`.
GENERATORS: Registry[Callable[..., Dataset]] = Registry("window generator")


def open_windows(
    store: str | Path,
    split: str,
    t_in: int,
    t_out: int,
    step: int | str | None = None,
    stride: int = 1,
    in_memory: bool = False,
    variables: Sequence[str] | None = None,
    **kwargs: Any,
) -> Dataset:
    """Windows of T_in input and T_out target frames from one split of a geostp store.

    `step` is the frame spacing (a duration such as "6h" or a count of store steps), `stride` the
    spacing of window starts. Extra keywords go to the window generator (generated splits) or to
    WindowDataset (`block_mb`: size of a read block; `pool_blocks`: blocks mixed by the shuffling
    sampler; the block cache holds pool_blocks + 1 blocks).
    """
    ds = open_store(store, check_chunks=False)
    gen = ds.attrs.get("generator")
    if gen and split in ds.attrs.get("generated_splits", []):
        import geostp.data.generators  # noqa: F401  (registers the generators)

        return GENERATORS.get(gen)(store, split, t_in, t_out, **kwargs)
    return WindowDataset(
        store, split, t_in, t_out, step=step, stride=stride, in_memory=in_memory, variables=variables, **kwargs
    )
