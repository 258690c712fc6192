"""Training data: open train/valid windows of the store (named as geostp.data.resolve reads names), the data signature (geostp.training.contract), and the
batch order.

The batch order is a pure function of (seed, epoch, step): every process draws the same permutation and
takes its own slice of each GLOBAL batch, so 1 or N processes (and any accumulation) see the same
samples per optimizer step, and a resumed run continues exactly where it stopped.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from geostp.training.contract import DataSignature, duration_label
from geostp.data.resolve import resolve_store
from geostp.data.store import GRID_DIMS, open_store, select_variables
from geostp.data.windows import open_windows
from geostp.errors import ConfigError, UnknownNameError
from geostp.training.config import DataConfig

@dataclass
class TrainData:
    """Everything the loop needs about data: datasets, signature and normalisation statistics."""

    train: Dataset
    valid: Dataset
    signature: DataSignature
    stats: dict[str, dict[str, float]]
    store: Path


def open_data(cfg: DataConfig) -> TrainData:
    """Open the train and valid windows named by `cfg`, with the signature of the data they hold."""
    store = resolve_store(cfg.store)
    ds = open_store(store, check_chunks=False)
    variables = _check_variables(ds, cfg.variables, store)
    t_in = cfg.t_in or int(ds.attrs["default_t_in"])
    t_out = cfg.t_out or int(ds.attrs["default_t_out"])
    kw = dict(step=cfg.step, in_memory=cfg.in_memory, variables=variables)
    train = open_windows(store, cfg.train_split, t_in, t_out, stride=cfg.stride, **kw)
    valid = open_windows(store, cfg.valid_split, t_in, t_out, **kw)
    frame_step = int(getattr(train, "frame_step", 1))
    grid_kind = ds.attrs["grid_kind"]
    dims = GRID_DIMS[grid_kind]
    grid = {d: (ds[d].values.astype(float).tolist() if d in ds.coords else list(map(float, range(ds.sizes[d]))))
            for d in dims}
    time_step = str(ds.attrs["time_step"])
    try:
        lead_step = duration_label(pd.Timedelta(time_step) * frame_step)
    except ValueError:
        lead_step = str(int(time_step) * frame_step)
    signature = DataSignature(
        variables=variables, grid_kind=grid_kind, grid=grid, time_step=time_step, frame_step=frame_step,
        t_in=t_in, t_out=t_out, lead_step=lead_step, units={v: str(ds[v].attrs.get("units", "")) for v in variables},
        catalog=str(ds.attrs.get("catalog", "")), store=str(store),
    )
    stats = getattr(train, "stats", None) or {
        v: {k: _plain(ds[v].attrs[k]) for k in ds[v].attrs if k.startswith(("norm_", "stats_"))} for v in variables}
    return TrainData(train, valid, signature, json.loads(json.dumps(stats, default=_plain)), store)


def _plain(x: Any) -> Any:
    return x.item() if hasattr(x, "item") else x


def _check_variables(ds: Any, requested: list[str] | None, store: Path) -> list[str]:
    try:
        return select_variables(ds, requested)
    except UnknownNameError as exc:
        raise UnknownNameError("variable", exc.name, exc.known,
                               where=f"store {store} (data.variables asks for {requested})") from None


def micro_batch_size(global_batch: int, grad_accum: int, num_processes: int) -> int:
    """Samples per forward pass on one process; the global batch must split evenly."""
    per = global_batch // (grad_accum * num_processes)
    if per * grad_accum * num_processes != global_batch:
        raise ConfigError(
            f"train.batch_size {global_batch} (global) does not split into {num_processes} process(es) x "
            f"{grad_accum} accumulation step(s); use a multiple of {grad_accum * num_processes}"
        )
    return per


def epoch_batches(dataset: Dataset, global_batch: int, seed: int, epoch: int) -> list[np.ndarray]:
    """The global batches of one epoch, the same on every process for any process count.

    Window datasets of a store shuffle block-locally (geostp.data.sampler: each store block is read about
    once per epoch); other datasets (generated sequences) take a full permutation.
    """
    if hasattr(dataset, "batch_sampler"):
        return dataset.batch_sampler(global_batch, shuffle=True, seed=seed, drop_last=True).epoch_batches(epoch)
    perm = np.random.default_rng([seed, epoch]).permutation(len(dataset))
    return [perm[k * global_batch:(k + 1) * global_batch] for k in range(len(dataset) // global_batch)]


class GlobalBatchSampler(Sampler[tuple[int, list[int]]]):
    """Yields (epoch, indices) of this process's micro-batches, optimizer step after step, from (epoch, step).

    Optimizer step k of an epoch uses global batch k of `epoch_batches`; micro-step a of it is split
    between processes in rank order, so the union over processes and micro-steps is exactly that batch.
    """

    def __init__(self, dataset: Dataset, global_batch: int, grad_accum: int, num_processes: int, rank: int,
                 seed: int, start_epoch: int = 0, start_step: int = 0) -> None:
        self.dataset, self.batch, self.accum = dataset, global_batch, grad_accum
        self.world, self.rank, self.seed = num_processes, rank, seed
        self.micro = micro_batch_size(global_batch, grad_accum, num_processes)
        self.steps_per_epoch = len(dataset) // global_batch
        if self.steps_per_epoch == 0:
            raise ConfigError(f"the train split has {len(dataset)} windows, fewer than one global batch "
                              f"(train.batch_size {global_batch}); lower train.batch_size")
        self.start_epoch, self.start_step = start_epoch, start_step

    def __iter__(self) -> Iterator[tuple[int, list[int]]]:
        epoch, step = self.start_epoch, self.start_step
        while True:  # endless: the loop decides when to stop
            batches = epoch_batches(self.dataset, self.batch, self.seed, epoch)
            for batch in batches[step:]:
                for a in range(self.accum):
                    lo = a * self.micro * self.world + self.rank * self.micro
                    yield epoch, batch[lo:lo + self.micro].tolist()
            epoch, step = epoch + 1, 0

    def __len__(self) -> int:  # per epoch; DataLoader only uses it for len()
        return self.steps_per_epoch * self.accum


class BatchFetcher(Dataset):
    """Maps (epoch, indices) to a whole (x, y) batch: the store's batched read when the dataset has one,
    and the epoch told to datasets that generate fresh samples per epoch (works inside workers too)."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, item: tuple[int | None, list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        epoch, indices = item
        ds = self.dataset
        if epoch is not None and hasattr(ds, "set_epoch") and getattr(ds, "epoch", None) != epoch:
            ds.set_epoch(epoch)
        if hasattr(ds, "get_batch"):
            # batches come from the block-local sampler: read each touched block whole, once
            return ds.get_batch(indices, whole_blocks=True)  # buffers are ours until released
        items = [ds[i] for i in indices]
        return torch.stack([a for a, _ in items]), torch.stack([b for _, b in items])


def _identity(batch: Any) -> Any:
    return batch


def batch_loader(dataset: Dataset, sampler: Any, num_workers: int, pin_memory: bool | None = None) -> DataLoader:
    """A DataLoader over `sampler`'s (epoch, indices) items: batches in sampler order, workers prefetching;
    `pin_memory` None = page-locked when a GPU is present."""
    return DataLoader(BatchFetcher(dataset), sampler=sampler, batch_size=None, collate_fn=_identity,
                      num_workers=num_workers, pin_memory=torch.cuda.is_available() if pin_memory is None else pin_memory,
                      persistent_workers=num_workers > 0, prefetch_factor=4 if num_workers > 0 else None,
                      generator=torch.Generator())  # own generator: starting a loader never moves the global RNG


def valid_batches(n: int, max_windows: int | None, batch_size: int, num_processes: int,
                  rank: int) -> list[tuple[None, list[int]]]:
    """This process's validation batches: a contiguous share of the (evenly thinned, if capped) windows."""
    idx = np.arange(n) if not max_windows or max_windows >= n else np.unique(np.linspace(0, n - 1, max_windows).round().astype(int))
    mine = np.array_split(idx, num_processes)[rank]
    return [(None, mine[i:i + batch_size].tolist()) for i in range(0, len(mine), batch_size)]
