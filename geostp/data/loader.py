"""The one call for training batches: `WindowLoader` iterates (x, y) batches of a window dataset.

In-process by default: on this project's reference machine (2 cores) handing a 9 MB batch over from a
DataLoader worker costs more than building it (see benchmarks/results/bench_windows.txt), so workers
are opt-in; with workers, each one gets its own block-disjoint stream of batches (sampler lanes).
No read-ahead thread: one was tried and measured slower here (zarr's Python-heavy read path and the
batch copies contend for the GIL).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from geostp.data.sampler import ChunkBatchSampler
from geostp.errors import ConfigError

DEFAULT_NUM_WORKERS = 0


def _identity(batch: Any) -> Any:
    """collate_fn for batches that are already collated."""
    return batch


class _BatchFetcher(Dataset):
    """Maps a list of window indices to a whole batch, so DataLoader workers build batches at once."""

    def __init__(self, ds: Dataset, with_index: bool) -> None:
        self.ds, self.with_index = ds, with_index

    def __len__(self) -> int:
        return len(self.ds)

    def __getitem__(self, indices: list[int]) -> tuple:
        return _fetch(self.ds, indices, self.with_index)


def _fetch(ds: Dataset, indices: list[int], with_index: bool) -> tuple:
    if hasattr(ds, "get_batch"):
        x, y = ds.get_batch(indices, whole_blocks=True)
    else:  # any other map-style dataset of (x, y) items, e.g. generated Moving MNIST sequences
        items = [ds[i] for i in indices]
        x, y = torch.stack([a for a, _ in items]), torch.stack([b for _, b in items])
    if with_index:
        return x, y, torch.tensor(indices, dtype=torch.int64)
    return x, y


class WindowLoader:
    """Shuffled (x, y) batches of a window dataset; each `iter()` is one epoch (see `set_epoch`).

    Works for WindowDataset (chunk-aware: blocks read whole, pools shuffled) and, item by item, for
    any map-style dataset of (x, y) pairs; datasets with `set_epoch` (generated sequences) are told
    each epoch. `num_replicas`/`rank` shard the windows for DDP: every rank gets the same number of
    batches and together they cover every window once (padded by wrap-around unless `drop_last`).
    """

    def __init__(
        self,
        dataset: Dataset,
        batch_size: int,
        shuffle: bool = True,
        seed: int = 0,
        num_workers: int | None = None,
        drop_last: bool = False,
        num_replicas: int = 1,
        rank: int = 0,
        with_index: bool = False,
    ) -> None:
        self.dataset = dataset
        self.num_workers = DEFAULT_NUM_WORKERS if num_workers is None else int(num_workers)
        if self.num_workers < 0:
            raise ConfigError(f"num_workers must be >= 0, got {num_workers}")
        self.with_index = bool(with_index)
        lanes = max(1, self.num_workers)
        if hasattr(dataset, "batch_sampler"):
            self.sampler = dataset.batch_sampler(
                batch_size, shuffle=shuffle, seed=seed, drop_last=drop_last,
                num_replicas=num_replicas, rank=rank, lanes=lanes,
            )
        else:  # one pool holding every item: a full shuffle
            self.sampler = ChunkBatchSampler(
                np.zeros(len(dataset), np.int64), batch_size, shuffle=shuffle, seed=seed, pool_blocks=1,
                drop_last=drop_last, num_replicas=num_replicas, rank=rank, lanes=lanes,
            )

    def set_epoch(self, epoch: int) -> None:
        """Make the next iteration epoch `epoch` (resuming); otherwise epochs count up from 0."""
        self.sampler.set_epoch(epoch)

    @property
    def epoch(self) -> int:
        """The epoch the next iteration will yield."""
        return self.sampler.epoch

    def __len__(self) -> int:
        return len(self.sampler)

    def __iter__(self) -> Iterator[tuple]:
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(self.sampler.epoch)  # before workers fork, so they see it
        if self.num_workers == 0:
            for indices in self.sampler:
                yield _fetch(self.dataset, indices, self.with_index)
            return
        # a fresh DataLoader per epoch: workers fork after set_epoch, and their block caches are per-epoch anyway
        loader = DataLoader(
            _BatchFetcher(self.dataset, self.with_index), sampler=self.sampler, batch_size=None,
            num_workers=self.num_workers, collate_fn=_identity,
        )
        yield from loader
