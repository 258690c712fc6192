"""(input, target) tensor windows over a geostp store, as a torch Dataset (lazy or in memory).

FIRST VERSION: correct, per-item reads. The chunk-aware batch reader is still to come.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import xarray as xr
from torch.utils.data import Dataset

from geostp.data.store import GRID_DIMS, open_store, select_variables, split_names
from geostp.errors import DataError, UnknownNameError
from geostp.registry import Registry


def _step_in_frames(ds: xr.Dataset, step: int | str | None) -> int:
    """Frame step as a count of store time steps (`"6h"` on an hourly store -> 6)."""
    if step is None:
        return 1
    if isinstance(step, (int, np.integer)):
        if step < 1:
            raise DataError(f"step must be >= 1 store time step, got {step}")
        return int(step)
    base = ds.attrs["time_step"]
    try:
        ratio = pd.Timedelta(step) / pd.Timedelta(base)
    except ValueError:
        raise DataError(f"step {step!r} is not a duration such as '6h' or a frame count") from None
    if ratio < 1 or ratio != int(ratio):
        raise DataError(f"step {step!r} is not a whole multiple of the store's time step {base!r}")
    return int(ratio)


def window_starts(segment: np.ndarray, span: int, stride: int = 1) -> np.ndarray:
    """Start indices s of windows s, s+step, ..., s+span-1 that stay inside one segment."""
    seg = np.asarray(segment)
    n = len(seg)
    if n < span:
        return np.zeros(0, np.int64)
    s = np.arange(n - span + 1)
    ok = seg[s] == seg[s + span - 1]
    seg_start = np.searchsorted(seg, seg[s], side="left") if np.all(np.diff(seg) >= 0) else None
    if stride > 1:
        if seg_start is None:
            ok &= s % stride == 0
        else:
            ok &= (s - seg_start) % stride == 0
    return s[ok].astype(np.int64)


class WindowDataset(Dataset):
    """Windows `x, y = ds[i]`: x (T_in, C, H, W), y (T_out, C, H, W), float32, normalised."""

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
    ) -> None:
        self.store = str(store)
        ds = open_store(store)
        splits = split_names(ds)
        if split not in splits:
            raise UnknownNameError("split", split, splits, where=self.store)
        self.variables = select_variables(ds, variables)
        self.t_in, self.t_out = int(t_in), int(t_out)
        if self.t_in < 1 or self.t_out < 1:
            raise DataError(f"t_in and t_out must be >= 1, got {t_in}, {t_out}")
        self.frame_step = _step_in_frames(ds, step)
        self.span = (self.t_in + self.t_out - 1) * self.frame_step + 1
        in_split = np.flatnonzero(ds["split"].values == split)
        seg = ds["segment"].values
        starts_local = window_starts(seg[in_split], self.span, stride)
        if len(starts_local) == 0:
            lengths = np.bincount(seg[in_split] - seg[in_split].min()) if len(in_split) else np.zeros(1, int)
            raise DataError(
                f"split {split!r} of {self.store} has no window of {self.t_in}+{self.t_out} frames at step "
                f"{self.frame_step} (span {self.span} time steps): its longest gap-free run is "
                f"{int(lengths.max())} time steps; use shorter windows or a smaller step"
            )
        self.starts = in_split[starts_local]
        last_in = self.starts + (self.t_in - 1) * self.frame_step
        self.init_times = ds["time"].values[last_in]
        self.stats = {
            v: {k: ds[v].attrs[k] for k in ds[v].attrs if k.startswith(("norm_", "stats_"))} for v in self.variables
        }
        self._offset = np.array([self.stats[v]["norm_offset"] for v in self.variables], np.float32)
        self._scale = np.array([self.stats[v]["norm_scale"] for v in self.variables], np.float32)
        self.grid_dims = GRID_DIMS[ds.attrs["grid_kind"]]
        self.shape = tuple(ds.sizes[d] for d in self.grid_dims)
        self._arrays = None
        self._memory = None
        if in_memory:
            self._memory = np.stack([ds[v].values for v in self.variables], axis=1)

    def __len__(self) -> int:
        return len(self.starts)

    def _open(self):
        import zarr

        if self._arrays is None:  # opened lazily, so each DataLoader worker gets its own handle
            group = zarr.open_group(self.store, mode="r", zarr_format=2, use_consolidated=True)
            self._arrays = [group[v] for v in self.variables]
        return self._arrays

    def _read(self, start: int) -> np.ndarray:
        sl = slice(start, start + self.span, self.frame_step)
        if self._memory is not None:
            raw = self._memory[sl]
        else:
            raw = np.stack([a[sl] for a in self._open()], axis=1)
        return raw.astype(np.float32)

    def normalize(self, raw: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        """Physical units -> normalised (channel axis is -3)."""
        off, sc = self._offset[:, None, None], self._scale[:, None, None]
        if isinstance(raw, torch.Tensor):
            return (raw - torch.from_numpy(off).to(raw)) / torch.from_numpy(sc).to(raw)
        return (raw - off) / sc

    def denormalize(self, tensor: torch.Tensor | np.ndarray) -> torch.Tensor | np.ndarray:
        """Normalised -> physical units (channel axis is -3)."""
        off, sc = self._offset[:, None, None], self._scale[:, None, None]
        if isinstance(tensor, torch.Tensor):
            return tensor * torch.from_numpy(sc).to(tensor) + torch.from_numpy(off).to(tensor)
        return tensor * sc + off

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        w = self.normalize(self._read(int(self.starts[i])))
        x = torch.from_numpy(np.ascontiguousarray(w[: self.t_in]))
        y = torch.from_numpy(np.ascontiguousarray(w[self.t_in :]))
        return x, y

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_arrays"] = None  # never share zarr handles across processes
        return state


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
    **generator_kwargs: Any,
) -> Dataset:
    """Windows of T_in input and T_out target frames from one split of a geostp store."""
    ds = open_store(store, check_chunks=False)
    gen = ds.attrs.get("generator")
    if gen and split in ds.attrs.get("generated_splits", []):
        import geostp.data.generators  # noqa: F401  (registers the generators)

        return GENERATORS.get(gen)(store, split, t_in, t_out, **generator_kwargs)
    return WindowDataset(store, split, t_in, t_out, step=step, stride=stride, in_memory=in_memory, variables=variables)
