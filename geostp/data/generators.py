"""Window generators for splits produced on the fly: Moving MNIST training sequences (bouncing digits).

Protocol (OpenSTL's generator, after Srivastava et al. 2015): each digit starts at a uniform position
in the (canvas - digit) box, moves at a constant speed of 0.1 box widths per frame in a uniform random
direction, advances then bounces (clamped to the edge, that velocity component reversed), is pasted at
the integer part of 36 x position, and digits overlap by pixel-wise maximum. Values are 0-255 and
normalised by the store's fixed scale (/255).

Unlike OpenSTL (one `random` stream per worker, so sequences depend on the worker count), sequence `i`
of epoch `e` is drawn from its own generator seeded with (seed, e, i): reproducible, different for every
item and hence for every DataLoader worker, and identical whatever the number of workers. Call
`set_epoch(e)` each epoch for fresh sequences.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from geostp.data.normalize import Normalizer
from geostp.data.sampler import ChunkBatchSampler
from geostp.data.store import open_store
from geostp.data.windows import GENERATORS
from geostp.errors import DataError


def bouncing_positions(rng: np.random.Generator, n_frames: int, n_digits: int, box: int, speed: float) -> np.ndarray:
    """Top-left pixel positions (n_frames, n_digits, 2) as (row, col) of digits bouncing in a box."""
    pos = rng.random((n_digits, 2))  # (y, x) in box units [0, 1)
    theta = rng.random(n_digits) * 2 * np.pi
    vel = np.stack([np.sin(theta), np.cos(theta)], axis=1)
    out = np.empty((n_frames, n_digits, 2), np.int64)
    for t in range(n_frames):
        pos = pos + vel * speed  # advance first, then bounce
        low, high = pos < 0, pos > 1
        vel = np.where(low | high, -vel, vel)
        pos = np.clip(pos, 0.0, 1.0)
        out[t] = (box * pos).astype(np.int64)  # truncation, as the reference
    return out


def moving_mnist_sequence(
    rng: np.random.Generator, digits: np.ndarray, n_frames: int, n_digits: int = 2, canvas: int = 64, speed: float = 0.1
) -> np.ndarray:
    """One (n_frames, canvas, canvas) uint8 sequence of `n_digits` random digits bouncing around."""
    size = digits.shape[-1]
    picks = rng.integers(0, len(digits), n_digits)
    pos = bouncing_positions(rng, n_frames, n_digits, canvas - size, speed)
    frames = np.zeros((n_frames, canvas, canvas), np.uint8)
    for t in range(n_frames):
        for d in range(n_digits):
            r, c = pos[t, d]
            patch = frames[t, r : r + size, c : c + size]
            np.maximum(patch, digits[picks[d]], out=patch)
    return frames


class MovingMNISTSequences(Dataset):
    """Generated Moving MNIST windows `x, y = ds[i]`: (t_in, 1, 64, 64) and (t_out, 1, 64, 64), normalised."""

    def __init__(
        self, store: str | Path, split: str, t_in: int, t_out: int,
        seed: int | None = None, length: int | None = None, epoch: int = 0, **_ignored: Any,
    ) -> None:
        self.store = str(store)
        ds = open_store(store, check_chunks=False)
        opts = json.loads(ds.attrs["generator_options"])
        self.t_in, self.t_out = int(t_in), int(t_out)
        if self.t_in < 1 or self.t_out < 1:
            raise DataError(f"t_in and t_out must be >= 1, got {t_in}, {t_out}")
        self.split = split
        self.seed = int(opts["seed"] if seed is None else seed)
        self.length = int(opts["epoch_length"] if length is None else length)
        self.epoch = int(epoch)
        self.num_digits, self.canvas, self.speed = int(opts["num_digits"]), int(opts["canvas"]), float(opts["speed"])
        self.variables = ["frames"]
        self.frame_step = 1
        attrs = ds["frames"].attrs
        self.stats = {"frames": {k: attrs[k] for k in attrs if k.startswith(("norm_", "stats_"))}}
        self.normalizer = Normalizer.from_stats(self.stats, self.variables)
        self.init_times = np.full(self.length, self.t_in - 1, np.int64)  # frame index of the last input
        self._digits: np.ndarray | None = None

    def __len__(self) -> int:
        return self.length

    def set_epoch(self, epoch: int) -> None:
        """Draw a fresh set of sequences for `epoch` (reproducible per (seed, epoch))."""
        self.epoch = int(epoch)

    def digits(self) -> np.ndarray:
        """The MNIST digits, read from the store once per process (each DataLoader worker reads its own)."""
        if self._digits is None:
            from geostp.data.store import open_group

            self._digits = open_group(self.store)["digits"][:]
        return self._digits

    def sequence(self, i: int) -> np.ndarray:
        """Raw uint8 frames (t_in + t_out, 64, 64) of item `i` in the current epoch."""
        if not 0 <= i < self.length:
            raise IndexError(f"item {i} out of range for {self.length} generated sequences")
        rng = np.random.default_rng([self.seed, self.epoch, int(i)])
        return moving_mnist_sequence(rng, self.digits(), self.t_in + self.t_out, self.num_digits, self.canvas, self.speed)

    def normalize(self, raw: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        """Pixel values (channel axis -3) -> normalised."""
        return self.normalizer.normalize(raw)

    def denormalize(self, tensor: torch.Tensor | np.ndarray) -> torch.Tensor | np.ndarray:
        """Normalised -> pixel values 0-255."""
        return self.normalizer.denormalize(tensor)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        w = self.normalize(self.sequence(int(i))[:, None])
        return torch.from_numpy(np.ascontiguousarray(w[: self.t_in])), torch.from_numpy(np.ascontiguousarray(w[self.t_in :]))

    def get_batch(self, indices: Sequence[int] | np.ndarray, whole_blocks: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Items `indices` of the current epoch as a batch x (B, T_in, 1, 64, 64), y (B, T_out, 1, 64, 64)."""
        items = [self[int(i)] for i in np.asarray(indices).reshape(-1)]
        return torch.stack([a for a, _ in items]), torch.stack([b for _, b in items])

    def batch_sampler(self, batch_size: int, shuffle: bool = True, seed: int = 0, drop_last: bool = False,
                      num_replicas: int = 1, rank: int = 0, lanes: int = 1) -> ChunkBatchSampler:
        """A full shuffle of the epoch's items (one pool holding every item: nothing is read from a store)."""
        return ChunkBatchSampler(np.zeros(self.length, np.int64), batch_size, shuffle=shuffle, seed=seed, pool_blocks=1,
                                 drop_last=drop_last, num_replicas=num_replicas, rank=rank, lanes=lanes)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_digits"] = None  # each worker reads the digits itself
        return state


@GENERATORS.register("moving_mnist")
def moving_mnist(store: str | Path, split: str, t_in: int, t_out: int, **kwargs: Any) -> Dataset:
    """Factory used by `open_windows` for stores with `generator = "moving_mnist"`."""
    return MovingMNISTSequences(store, split, t_in, t_out, **kwargs)
