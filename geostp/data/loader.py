"""The one loader of training batches: `batch_loader` over a sampler of (epoch, indices), and `WindowLoader`.

Training (`geostp.training`) and `ds.loader(...)` (what benchmarks/bench_windows.py measures) both go
through `batch_loader`: in-process by default, since on this project's reference machine (2 cores)
handing a 9 MB batch over from a DataLoader worker costs more than building it (see
benchmarks/results/bench_windows.txt); with workers, each one gets its own block-disjoint stream of
batches (sampler lanes). No read-ahead thread: one was tried and measured slower here (zarr's
Python-heavy read path and the batch copies contend for the GIL).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from geostp.data.source import WindowSource
from geostp.errors import ConfigError

DEFAULT_NUM_WORKERS = 0


def _identity(batch: Any) -> Any:
    """collate_fn for batches that are already collated."""
    return batch


class BatchFetcher(Dataset):
    """Maps (epoch, indices) to a whole (x, y) batch of a WindowSource (blocks read whole, once), telling the
    source the epoch first (generated sources draw per epoch; works inside DataLoader workers too)."""

    def __init__(self, source: WindowSource, with_index: bool = False) -> None:
        self.source, self.with_index = source, with_index

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, item: tuple[int | None, list[int]]) -> tuple:
        epoch, indices = item
        if epoch is not None and self.source.epoch != epoch:
            self.source.set_epoch(epoch)
        x, y = self.source.get_batch(indices, whole_blocks=True)  # buffers are the caller's until released
        if self.with_index:
            return x, y, torch.tensor(indices, dtype=torch.int64)
        return x, y


class _InProcess:
    """Batches fetched in this process, in sampler order (pinned when asked)."""

    def __init__(self, fetcher: BatchFetcher, sampler: Iterable, pin_memory: bool) -> None:
        self.fetcher, self.sampler, self.pin = fetcher, sampler, pin_memory

    def __iter__(self) -> Iterator[tuple]:
        for item in self.sampler:
            batch = self.fetcher[item]
            yield tuple(t.pin_memory() for t in batch) if self.pin else batch

    def __len__(self) -> int:
        return len(self.sampler)


def batch_loader(source: WindowSource, sampler: Iterable, num_workers: int = 0, pin_memory: bool | None = None,
                 with_index: bool = False, persistent_workers: bool = True) -> Iterable[tuple]:
    """Batches of `source` for `sampler`'s (epoch, indices) items, in sampler order: in this process, or
    prefetched by `num_workers` DataLoader workers. `pin_memory` None = page-locked when a GPU is present."""
    if num_workers < 0:
        raise ConfigError(f"num_workers must be >= 0, got {num_workers}")
    pin = torch.cuda.is_available() if pin_memory is None else bool(pin_memory)
    fetcher = BatchFetcher(source, with_index)
    if num_workers == 0:
        return _InProcess(fetcher, sampler, pin)
    return DataLoader(fetcher, sampler=sampler, batch_size=None, collate_fn=_identity, num_workers=num_workers,
                      pin_memory=pin, persistent_workers=persistent_workers, prefetch_factor=4,
                      generator=torch.Generator())  # own generator: starting a loader never moves the global RNG


class _Tagged:
    """A ChunkBatchSampler's epoch as (epoch, indices) items."""

    def __init__(self, sampler: Any) -> None:
        self.sampler = sampler

    def __iter__(self) -> Iterator[tuple[int, list[int]]]:
        epoch = self.sampler.epoch
        for indices in self.sampler:
            yield epoch, indices

    def __len__(self) -> int:
        return len(self.sampler)


class WindowLoader:
    """Shuffled (x, y) batches of a WindowSource; each `iter()` is one epoch (see `set_epoch`).

    Store windows are chunk-aware (blocks read whole, pools shuffled); generated sources are told each
    epoch. `num_replicas`/`rank` shard the windows for DDP: every rank gets the same number of batches and
    together they cover every window once (padded by wrap-around unless `drop_last`).
    """

    def __init__(
        self,
        dataset: WindowSource,
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
        self.sampler = dataset.batch_sampler(batch_size, shuffle=shuffle, seed=seed, drop_last=drop_last,
                                             num_replicas=num_replicas, rank=rank, lanes=max(1, self.num_workers))

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
        self.dataset.set_epoch(self.sampler.epoch)  # before workers fork, so they see it
        # a fresh loader per epoch: workers fork after set_epoch, and their block caches are per-epoch anyway
        yield from batch_loader(self.dataset, _Tagged(self.sampler), self.num_workers, pin_memory=False,
                                with_index=self.with_index, persistent_workers=False)
