"""Chunk-aware batches: every window once per epoch, seeded, DDP shards, lanes, DataLoader workers, generators."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from geostp.data import open_windows
from geostp.data.loader import WindowLoader
from geostp.data.sampler import ChunkBatchSampler
from geostp.data.store import write_store
from geostp.errors import ConfigError
from tests.conftest import tiny_latlon_dataset


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """6-hourly 2001 (train) and 2002 (valid) with small time chunks (16 frames)."""
    times = pd.date_range("2001-01-01", "2002-12-31 18:00", freq="6h")
    path = tmp_path_factory.mktemp("sampler") / "s.zarr"
    write_store(tiny_latlon_dataset(times, seed=5), path, catalog="test", time_step="6h", norm_kind="zscore",
                default_t_in=2, default_t_out=2, time_chunk=16, progress=False, shard_mb=0)  # v3: one chunk per shard
    return path


def flat(batches) -> np.ndarray:
    return np.concatenate([np.asarray(b) for b in batches])


def lru_reads(batches, block_of, capacity: int) -> int:
    """Block reads of an LRU block cache serving `batches` (cached blocks first within a batch)."""
    cache: list[int] = []
    reads = 0
    for b in batches:
        need = sorted(set(block_of[b].tolist()), key=lambda k: k not in cache)
        for k in need:
            if k in cache:
                cache.remove(k)
            else:
                reads += 1
                if len(cache) >= capacity:
                    cache.pop(0)
            cache.append(k)
    return reads


def test_every_window_once_per_epoch_reproducible_and_pooled():
    block_of = np.repeat(np.arange(20), 37)  # 20 blocks of 37 windows
    s = ChunkBatchSampler(block_of, 16, seed=3, pool_blocks=4)
    e0, e1 = list(s), list(s)  # consecutive iterations are consecutive epochs
    assert len(e0) == len(s) == -(-740 // 16)
    for ep in (e0, e1):
        np.testing.assert_array_equal(np.sort(flat(ep)), np.arange(740))
    assert not np.array_equal(flat(e0), flat(e1))
    again = ChunkBatchSampler(block_of, 16, seed=3, pool_blocks=4)
    assert [b for b in again] == e0  # same seed, same epoch, same batches
    again.set_epoch(1)
    assert list(again) == e1  # resuming at epoch 1
    assert list(ChunkBatchSampler(block_of, 16, seed=4, pool_blocks=4)) != e0
    # windows are shuffled within a sliding pool of 4 blocks: a batch mixes up to 4 (5 across phases)
    touched = [len(np.unique(block_of[b])) for b in e0]
    assert max(touched) <= 5 and np.mean(touched) > 3
    assert lru_reads(e0, block_of, capacity=5) == 20  # a cache of pool + 1 blocks reads each block once
    assert lru_reads(e0, block_of, capacity=3) > 20
    unshuffled = flat(ChunkBatchSampler(block_of, 16, shuffle=False))
    np.testing.assert_array_equal(unshuffled, np.arange(740))


@pytest.mark.parametrize("drop_last", [False, True])
def test_ddp_shards_partition_the_windows(drop_last):
    block_of = np.repeat(np.arange(9), 23)  # 207 windows
    shards = [list(ChunkBatchSampler(block_of, 8, seed=1, pool_blocks=3, num_replicas=4, rank=r, drop_last=drop_last))
              for r in range(4)]
    assert len({len(s) for s in shards}) == 1  # same number of batches on every rank (DDP would hang otherwise)
    got = [flat(s) for s in shards]
    allw = np.concatenate(got)
    if drop_last:  # truncated: disjoint, 51 each, full batches only
        assert len(np.unique(allw)) == len(allw) == 4 * 48
        assert all(len(b) == 8 for s in shards for b in s)
    else:  # padded by wrapping around: every window at least once, 3 repeated
        assert set(allw.tolist()) == set(range(207)) and len(allw) == 4 * 52
    # each rank reads its own blocks: a contiguous share of the epoch's order (here pools of one block)
    for r in range(4):
        mine = flat(ChunkBatchSampler(block_of, 8, seed=1, pool_blocks=1, num_replicas=4, rank=r, drop_last=drop_last))
        assert len(set(block_of[mine].tolist())) <= 4  # 52 windows of blocks of 23, of 9 blocks in all


def test_lanes_interleave_block_disjoint_streams():
    block_of = np.repeat(np.arange(12), 40)
    one = list(ChunkBatchSampler(block_of, 10, seed=2, pool_blocks=2))
    two = list(ChunkBatchSampler(block_of, 10, seed=2, pool_blocks=2, lanes=2))
    assert sorted(map(tuple, one)) == sorted(map(tuple, two))  # same batches, another order
    lane0, lane1 = flat(two[0::2]), flat(two[1::2])
    assert len(set(block_of[lane0]) & set(block_of[lane1])) <= 2  # own blocks but the pool at the seam


def test_sampler_rejects_bad_settings():
    with pytest.raises(ConfigError, match="rank"):
        ChunkBatchSampler(np.zeros(5, int), 2, num_replicas=2, rank=2)
    with pytest.raises(ConfigError, match="batch_size"):
        ChunkBatchSampler(np.zeros(5, int), 0)


def test_loader_reads_each_block_once_per_epoch(store):
    ds = open_windows(store, "train", 2, 2, step="12h", block_mb=0.002, pool_blocks=4)
    assert ds.n_blocks > 10
    loader = ds.loader(16, seed=0)
    seen = np.concatenate([i.numpy() for _, _, i in ds.loader(16, seed=0, with_index=True)])
    np.testing.assert_array_equal(np.sort(seen), np.arange(len(ds)))
    assert ds.block_reads == ds.n_blocks  # the sliding pool fits the cache: no block read twice
    assert len(ds._cache) <= 5 and ds.block_buffers <= 4 + 1  # memory: pool + 1 blocks
    assert len(loader) == -(-len(ds) // 16) and loader.epoch == 0


def test_loader_with_two_workers_yields_the_same_batches(store):
    ds = open_windows(store, "valid", 3, 2, block_mb=0.002, pool_blocks=2)
    serial = list(WindowLoader(ds, 12, seed=7, num_workers=0, with_index=True, drop_last=True))
    lanes = ds.batch_sampler(12, seed=7, lanes=2, drop_last=True)
    assert [i.tolist() for _, _, i in serial] == list(ds.batch_sampler(12, seed=7, drop_last=True))
    parallel = list(ds.loader(12, seed=7, num_workers=2, with_index=True, drop_last=True))
    assert [i.tolist() for _, _, i in parallel] == list(lanes)  # round-robin over workers keeps the order
    by_index = {tuple(i.tolist()): (x, y) for x, y, i in serial}
    for x, y, i in parallel:
        sx, sy = by_index[tuple(i.tolist())]
        assert torch.equal(x, sx) and torch.equal(y, sy)
    # a plain torch DataLoader over the dataset (its __getitems__) agrees across workers too
    plain = [torch.utils.data.DataLoader(ds, batch_size=10, num_workers=w) for w in (0, 2)]
    for (x0, y0), (x2, y2) in zip(*plain):
        assert torch.equal(x0, x2) and torch.equal(y0, y2)


def test_loader_shards_for_ddp(store):
    ds = open_windows(store, "valid", 2, 2, block_mb=0.002)
    parts = [np.concatenate([i.numpy() for *_, i in ds.loader(8, seed=1, num_replicas=2, rank=r, with_index=True)])
             for r in range(2)]
    assert len(parts[0]) == len(parts[1])
    assert set(np.concatenate(parts).tolist()) == set(range(len(ds)))


def test_loader_serves_generated_sequences(tmp_path):
    """Datasets without blocks (Moving MNIST's generator) go item by item, told the epoch each time."""
    from tests.fixtures import prepare_cli, write_mmnist

    write_mmnist(tmp_path / "mm", n_seq=2, digits_subdir="MNIST/raw")
    prepare_cli("mmnist", "--root", tmp_path / "mm", "--out", tmp_path / "mm.zarr")
    ds = open_windows(tmp_path / "mm.zarr", "train", 3, 2, length=6)
    loader = WindowLoader(ds, 4, seed=0)
    e0 = [(x, y) for x, y in loader]
    assert [x.shape for x, _ in e0] == [(4, 3, 1, 64, 64), (2, 3, 1, 64, 64)] and ds.epoch == 0
    e1 = list(loader)
    assert ds.epoch == 1 and not torch.equal(e0[0][0], e1[0][0])


def test_store_windows_and_generated_sequences_are_window_sources_and_train_through_the_benchmarked_loader(store, tmp_path):
    """One loader: the batches training draws (GlobalBatchSampler through batch_loader) are those `ds.loader`
    (what benchmarks/bench_windows.py measures) yields for the same seed and epoch, for both kinds of source."""
    from geostp.data.source import WindowSource
    from geostp.training.data import GlobalBatchSampler, batch_loader
    from tests.fixtures import prepare_cli, write_mmnist

    write_mmnist(tmp_path / "mm", n_seq=2, digits_subdir="MNIST/raw")
    prepare_cli("mmnist", "--root", tmp_path / "mm", "--out", tmp_path / "mm.zarr")
    sources = [open_windows(store, "train", 2, 2), open_windows(tmp_path / "mm.zarr", "train", 3, 2, length=12)]
    for ds in sources:
        assert isinstance(ds, WindowSource), type(ds).__name__
        bench = list(WindowLoader(ds, 4, seed=3, drop_last=True))
        train = batch_loader(ds, GlobalBatchSampler(ds, 4, 1, 1, 0, seed=3), num_workers=0)
        got = [b for b, _ in zip(train, range(len(bench)))]
        assert len(got) == len(bench) == len(ds) // 4
        for (xa, ya), (xb, yb) in zip(got, bench):
            assert torch.equal(xa, xb) and torch.equal(ya, yb)
