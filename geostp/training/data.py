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
from torch.utils.data import Sampler

from geostp import timeaxis
from geostp.data.anomalies import Anomalies
from geostp.data.loader import batch_loader  # noqa: F401  (the one loader, used by the training loop)
from geostp.data.normalize import Normalizer
from geostp.data.resolve import resolve_store
from geostp.data.source import WindowSource
from geostp.training.contract import DataSignature
from geostp.data.store import GRID_DIMS, open_store, select_variables
from geostp.data.windows import open_windows
from geostp.errors import ConfigError, UnknownNameError
from geostp.training.config import DataConfig

@dataclass
class TrainData:
    """Everything the loop needs about data: datasets, signature and normalisation statistics."""

    train: WindowSource
    valid: WindowSource
    signature: DataSignature
    stats: dict[str, dict[str, float]]
    store: Path
    anomalies: Anomalies | None = None  # the climatology the windows subtract (data.anomalies), kept with the run


def open_data(cfg: DataConfig) -> TrainData:
    """Open the train and valid windows named by `cfg`, with the signature of the data they hold."""
    store = resolve_store(cfg.store)
    ds = open_store(store, check_chunks=False)
    variables = _check_variables(ds, cfg.variables, store)
    t_in = cfg.t_in or int(ds.attrs["default_t_in"])
    t_out = cfg.t_out or int(ds.attrs["default_t_out"])
    kw = dict(step=cfg.step, in_memory=cfg.in_memory, variables=variables)
    anomalies = fit_anomalies(ds, variables, store, cfg.train_split) if cfg.anomalies else None
    if anomalies is not None:
        kw["anomalies"] = anomalies
    train = open_windows(store, cfg.train_split, t_in, t_out, stride=cfg.stride, **kw)
    valid = open_windows(store, cfg.valid_split, t_in, t_out, **kw)
    frame_step = int(train.frame_step)
    grid_kind = ds.attrs["grid_kind"]
    dims = GRID_DIMS[grid_kind]
    grid = {d: (ds[d].values.astype(float).tolist() if d in ds.coords else list(map(float, range(ds.sizes[d]))))
            for d in dims}
    time_step = str(ds.attrs["time_step"])
    lead_step = (timeaxis.parse_step(time_step) * frame_step).label
    signature = DataSignature(
        variables=variables, grid_kind=grid_kind, grid=grid, time_step=time_step, frame_step=frame_step,
        t_in=t_in, t_out=t_out, lead_step=lead_step, units={v: str(ds[v].attrs.get("units", "")) for v in variables},
        catalog=str(ds.attrs.get("catalog", "")), store=str(store),
    )
    stats = train.stats
    return TrainData(train, valid, signature, json.loads(json.dumps(stats, default=_plain)), store, anomalies)


def fit_anomalies(ds: Any, variables: list[str], store: Path, split: str = "train") -> Anomalies:
    """The scorecard's climatology of `split` (per calendar month on monthly stores), normalised with the store's
    statistics, for `data.anomalies`; ConfigError on stores without calendar steps or with generated splits."""
    from geostp.evaluation.baselines import compute_climatology

    step = timeaxis.parse_step(str(ds.attrs["time_step"]))
    if step.kind != "calendar" or ds.attrs.get("generator"):
        raise ConfigError(f"data.anomalies needs a store with calendar steps (month, 3month, year); {store} has "
                          f"step {step.label}: set data.anomalies: false")
    stats = {v: {k: ds[v].attrs[k] for k in ds[v].attrs if k.startswith("norm_")} for v in variables}
    clim = compute_climatology(ds, variables, split=split)
    return Anomalies.from_climatology(clim, variables, Normalizer.from_stats(stats, variables))


def _plain(x: Any) -> Any:
    return x.item() if isinstance(x, np.generic) else x


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


def epoch_batches(dataset: WindowSource, global_batch: int, seed: int, epoch: int) -> list[np.ndarray]:
    """The global batches of one epoch, the same on every process for any process count: the source's own
    order (store windows shuffle block-locally, each block read about once per epoch; generated sequences
    take a full shuffle)."""
    return dataset.batch_sampler(global_batch, shuffle=True, seed=seed, drop_last=True).epoch_batches(epoch)


class GlobalBatchSampler(Sampler[tuple[int, list[int]]]):
    """Yields (epoch, indices) of this process's micro-batches, optimizer step after step, from (epoch, step).

    Optimizer step k of an epoch uses global batch k of `epoch_batches`; micro-step a of it is split
    between processes in rank order, so the union over processes and micro-steps is exactly that batch.
    """

    def __init__(self, dataset: WindowSource, global_batch: int, grad_accum: int, num_processes: int, rank: int,
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


def valid_batches(n: int, max_windows: int | None, batch_size: int, num_processes: int,
                  rank: int) -> list[tuple[None, list[int]]]:
    """This process's validation batches: a contiguous share of the (evenly thinned, if capped) windows."""
    idx = np.arange(n) if not max_windows or max_windows >= n else np.unique(np.linspace(0, n - 1, max_windows).round().astype(int))
    mine = np.array_split(idx, num_processes)[rank]
    return [(None, mine[i:i + batch_size].tolist()) for i in range(0, len(mine), batch_size)]
