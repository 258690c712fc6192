"""Block-wise window reading: exact slices, lazy == in-memory == item path, gaps, step/stride, errors, buffers."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

from geostp.data import open_windows
from geostp.data.store import write_store
from geostp.data.windows import WindowDataset, window_starts
from geostp.errors import DataError, UnknownNameError
from tests.conftest import tiny_latlon_dataset


@pytest.fixture(scope="module")
def chunked(tmp_path_factory):
    """6-hourly 2000-2003 with a gap in 2000 and small time chunks (32), so a split spans many blocks."""
    times = pd.date_range("2000-01-01", "2003-12-31 18:00", freq="6h")
    times = times[(times < "2000-03-01") | (times >= "2000-03-05")]
    src = tiny_latlon_dataset(times, seed=3)
    path = tmp_path_factory.mktemp("win") / "chunked.zarr"
    # Zarr v3 (the default) with one chunk per shard: loader blocks (whole shards) stay small
    write_store(src, path, catalog="test", time_step="6h", norm_kind="zscore", default_t_in=4, default_t_out=4,
                time_chunk=32, progress=False, shard_mb=0)
    return path, src


def normalised_source(src, ds) -> np.ndarray:
    """The whole source as (time, C, H, W), normalised with the dataset's statistics, in float64."""
    raw = np.stack([src[v].values.astype(np.float64) for v in ds.variables], axis=1)
    off = np.array([ds.stats[v]["norm_offset"] for v in ds.variables])[:, None, None]
    sc = np.array([ds.stats[v]["norm_scale"] for v in ds.variables])[:, None, None]
    return (raw - off) / sc


def all_windows(ds) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = zip(*(ds.get_batch(range(i, min(i + 500, len(ds)))) for i in range(0, len(ds), 500)))
    return torch.cat(xs), torch.cat(ys)


@pytest.mark.parametrize("split,step,stride", [("train", "12h", 1), ("valid", 1, 3), ("test", "18h", 2)])
def test_every_window_is_the_exact_source_slice(chunked, split, step, stride):
    path, src = chunked
    ds = open_windows(path, split, t_in=3, t_out=2, step=step, stride=stride, block_mb=0.002, pool_blocks=2)
    assert ds.n_blocks > 3  # really exercises several blocks and evictions
    norm = normalised_source(src, ds)
    x, y = all_windows(ds)
    k = ds.frame_step
    frames = ds.starts[:, None] + k * np.arange(5)[None]
    np.testing.assert_allclose(x.numpy(), norm[frames[:, :3]], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(y.numpy(), norm[frames[:, 3:]], rtol=1e-5, atol=1e-5)
    times = src["time"].values
    np.testing.assert_array_equal(ds.init_times, times[frames[:, 2]])
    np.testing.assert_array_equal(ds.window_time_index(7), frames[7])
    t_in, t_out = ds.window_times(7)
    np.testing.assert_array_equal(np.concatenate([t_in, t_out]), times[frames[7]])


def test_windows_never_cross_a_gap_or_split_and_none_is_missed(chunked):
    path, src = chunked
    times, split = src["time"].values, src["split"].values
    for name in ("train", "valid", "test"):
        ds = open_windows(path, name, t_in=4, t_out=4, step="6h")
        span = ds.span
        valid = [s for s in range(len(times) - span + 1)
                 if (split[s : s + span] == name).all() and (np.diff(times[s : s + span]) == np.timedelta64(6, "h")).all()]
        np.testing.assert_array_equal(ds.starts, valid)  # exactly the gap-free, in-split windows


def test_step_and_stride_semantics(chunked):
    path, _ = chunked
    a = open_windows(path, "valid", 2, 2, step="12h")
    b = open_windows(path, "valid", 2, 2, step=2)
    assert a.frame_step == b.frame_step == 2 and a.span == 7
    np.testing.assert_array_equal(a.starts, b.starts)
    assert torch.equal(a[5][0], b[5][0])
    c = open_windows(path, "valid", 2, 2, step=2, stride=4)
    np.testing.assert_array_equal(c.starts, a.starts[::4])  # valid is gap-free: every 4th start
    # stride counts from the start of each segment
    seg = np.array([0] * 10 + [1] * 7)
    np.testing.assert_array_equal(window_starts(seg, 3, stride=3), [0, 3, 6, 10, 13])


def test_lazy_equals_in_memory_and_batch_equals_item(chunked):
    path, _ = chunked
    lazy = open_windows(path, "train", 3, 3, step="6h", block_mb=0.002, pool_blocks=3)
    mem = open_windows(path, "train", 3, 3, step="6h", in_memory=True)
    assert mem.n_blocks == 2  # the gap splits train's frames into two gap-free runs, read once at open
    lx, ly = all_windows(lazy)
    mx, my = all_windows(mem)
    assert torch.equal(lx, mx) and torch.equal(ly, my)
    idx = [5, 900, 3, len(lazy) - 1, 5, 1700]
    items = lazy.__getitems__(idx)
    for k, i in enumerate(idx):
        x, y = lazy[i]
        assert torch.equal(items[k][0], x) and torch.equal(items[k][1], y) and torch.equal(x, mx[i])
    assert torch.equal(lazy[-1][0], mx[-1])
    for x, y, i in lazy.loader(32, seed=4, with_index=True):
        assert torch.equal(x, mx[i]) and torch.equal(y, my[i])


def test_scattered_access_reads_single_windows_not_whole_blocks(chunked):
    path, _ = chunked
    ds = open_windows(path, "train", 3, 3, block_mb=0.002, pool_blocks=1)  # caches pool + 1 = 2 blocks
    far = [0, len(ds) // 2, len(ds) - 1]  # three different blocks, one window each
    ds.get_batch(far)
    assert ds.block_reads == 0
    ds.get_batch([1, 2])  # two windows of block 0 (and a repeated miss): now read whole
    assert ds.block_reads == 1
    ds.get_batch(far, whole_blocks=True)
    assert ds.block_reads == 3  # block 0 was cached; two more read, cache bounded by pool + 1
    assert len(ds._cache) == 2


def test_batch_buffers_are_reused_but_never_while_held(chunked):
    path, _ = chunked
    ds = open_windows(path, "train", 3, 3)
    x1, _ = ds.get_batch(range(8))
    keep = x1.clone()
    x2, _ = ds.get_batch(range(100, 108))  # x1 still held: must not be overwritten
    assert torch.equal(x1, keep) and not torch.equal(x1, x2)
    view = x1[2:4]
    del x1
    ds.get_batch(range(200, 208))
    assert torch.equal(view, keep[2:4])  # a view keeps its batch alive too
    del view, x2
    allocated = ds._buffers.allocations
    for i in range(20):
        x, y = ds.get_batch(range(i * 8, i * 8 + 8))
        del x, y
    assert ds._buffers.allocations == allocated  # released batches are recycled


def test_pickled_dataset_reads_the_same(chunked):
    path, _ = chunked
    ds = open_windows(path, "test", 2, 2)
    ds.get_batch([0, 1])  # opens handles and fills the cache, which must not travel
    clone = pickle.loads(pickle.dumps(ds))
    assert clone._arrays is None and not clone._cache
    assert torch.equal(clone[10][1], ds[10][1])


def test_clear_errors(chunked):
    path, _ = chunked
    with pytest.raises(UnknownNameError, match="unknown split 'training'.*known: test, train, valid"):
        open_windows(path, "training", 2, 2)
    with pytest.raises(UnknownNameError, match="unknown variable 'u10'.*known: t850, z500"):
        open_windows(path, "train", 2, 2, variables=["u10"])
    with pytest.raises(DataError, match="longest gap-free run is 1460 time steps"):
        open_windows(path, "test", 800, 800)
    with pytest.raises(DataError, match="not a whole multiple of the store's time step '6h'"):
        open_windows(path, "train", 2, 2, step="9h")
    with pytest.raises(DataError, match="not a whole multiple"):
        open_windows(path, "train", 2, 2, step="3h")
    with pytest.raises(DataError, match="neither a duration"):
        open_windows(path, "train", 2, 2, step="often")
    with pytest.raises(DataError, match="t_in and t_out must be >= 1"):
        open_windows(path, "train", 0, 2)
    with pytest.raises(DataError, match="stride must be >= 1"):
        open_windows(path, "train", 2, 2, stride=0)
    ds = open_windows(path, "valid", 2, 2)
    with pytest.raises(IndexError, match=f"out of range: this dataset has {len(ds)} windows"):
        ds[len(ds)]
    assert isinstance(ds, WindowDataset) and ds.variables == ["t850", "z500"]


def test_denormalize_round_trips_to_physical_units(chunked):
    path, src = chunked
    ds = open_windows(path, "valid", 2, 1)
    x, y = ds[0]
    s = int(ds.starts[0])
    want = np.stack([src[v].values[s : s + 2] for v in ds.variables], axis=1)
    np.testing.assert_allclose(ds.denormalize(x).numpy(), want, rtol=1e-5)
    np.testing.assert_allclose(ds.denormalize(x.numpy()), want, rtol=1e-5)
    assert ds.stats["t850"]["norm_kind"] == "zscore"


def uint8_video_store(path):
    """A tiny frame-counter store of uint8 images (the video layout), in chunks of 8 frames."""
    n = 60
    frames = np.random.default_rng(1).integers(0, 256, (n, 6, 5), dtype=np.uint8)
    ds = xr.Dataset({"frames": (("time", "y", "x"), frames)},
                    coords={"time": np.arange(n, dtype=np.int64), "y": np.arange(6), "x": np.arange(5),
                            "split": ("time", np.where(np.arange(n) < 40, "train", "test"))})
    write_store(ds, path, catalog="test", time_step="1", norm_kind="fixed", fixed_norm={"frames": (0.0, 255.0)},
                default_t_in=2, default_t_out=2, time_chunk=8, progress=False)
    return frames


def test_direct_chunk_reads_equal_zarr_reads(chunked, tmp_path):
    path, _ = chunked
    for store, split, expect in [(path, "train", None), (tmp_path / "v.zarr", "train", uint8_video_store(tmp_path / "v.zarr"))]:
        fast = open_windows(store, split, 3, 2, block_mb=0.001)
        slow = open_windows(store, split, 3, 2, block_mb=0.001)
        slow._direct = False  # through zarr-python's own reads
        fx, fy = all_windows(fast)
        sx, sy = all_windows(slow)
        assert fast._readers[0] is not None and slow._readers[0] is None
        assert torch.equal(fx, sx) and torch.equal(fy, sy)
        for step in (1, 3):  # lone windows are read straight from their chunks: same values
            a = open_windows(store, split, 3, 2, step=step, block_mb=0.001)
            lone = [len(a) - 1, 0]
            got = a.get_batch(lone)
            assert a.block_reads == 0
            want = open_windows(store, split, 3, 2, step=step, in_memory=True).get_batch(lone)
            assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])
        if expect is not None:  # uint8 frames, fixed scaling: exactly frames / 255
            np.testing.assert_allclose(fx[:, :, 0].numpy(), expect[fast.starts[:, None] + np.arange(3)] / 255.0, rtol=1e-6)
