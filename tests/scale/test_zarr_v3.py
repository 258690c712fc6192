"""Zarr format 3 (the default) stores and forecasts: sharded by contiguous blocks of time, read (directly and
through zarr) bit for bit like format 2; format 2 on request; refused clearly by a v2-only zarr and when a shard
is missing."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import xarray as xr

from geostp.data import store as store_mod
from geostp.data.chunks import ShardReader
from geostp.data.store import open_store, write_store
from geostp.data.windows import open_windows
from geostp.errors import StoreError
from geostp.forecast.output import open_forecast
from tests.fixtures import run_cli
from tests.forecast.conftest import make_run


@pytest.fixture
def v2_v3(tiny_store, tmp_path):
    """The tiny store written again as Zarr v3 with small shards (4 chunks of 16 frames each: a loader block of
    64 frames x 2 variables x 4 x 8 float32) and as Zarr v2."""
    path, ds = tiny_store
    v3 = write_store(ds, tmp_path / "v3.zarr", catalog="test", time_step="6h", norm_kind="zscore", default_t_in=4,
                     default_t_out=4, splits={"train": "2000-2001", "valid": "2002", "test": "2003"}, progress=False,
                     time_chunk=16, zarr_format=3, shard_mb=64 * 2 * 4 * 8 * 4 / 2**20)
    v2 = write_store(ds, tmp_path / "v2.zarr", catalog="test", time_step="6h", norm_kind="zscore", default_t_in=4,
                     default_t_out=4, splits={"train": "2000-2001", "valid": "2002", "test": "2003"}, progress=False,
                     time_chunk=16, zarr_format=2)
    return v2, v3


def test_v3_store_is_sharded_by_time_and_reads_like_v2(v2_v3):
    v2, v3 = v2_v3
    meta = json.loads((v3 / "t850" / "zarr.json").read_text())
    assert meta["zarr_format"] == 3 and meta["chunk_grid"]["configuration"]["chunk_shape"][0] == 64
    assert meta["codecs"][0]["name"] == "sharding_indexed"
    assert meta["codecs"][0]["configuration"]["chunk_shape"][0] == 16
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # opens in plain xarray without warnings
        plain = xr.open_zarr(v3)
    xr.testing.assert_equal(plain[["t850", "z500"]], xr.open_zarr(v2)[["t850", "z500"]])
    a = open_windows(v2, "train", 4, 4, block_mb=0.01)
    b = open_windows(v3, "train", 4, 4, block_mb=0.01)
    assert b.time_chunk == 64 and isinstance(b._open() and b._readers[0], ShardReader)  # blocks = shards
    through_zarr = open_windows(v3, "train", 4, 4, block_mb=0.01)
    through_zarr._direct = False
    idx = np.random.default_rng(0).permutation(len(a))
    for batch in (idx[:5], idx[:300], np.arange(len(a))):  # lone windows, then whole blocks
        xa, ya = a.get_batch(batch)
        for other in (b, through_zarr):
            xb, yb = other.get_batch(batch)
            assert np.array_equal(xa, xb) and np.array_equal(ya, yb)
    xs = [x for x, _ in b.loader(8, seed=3)]
    assert sum(len(x) for x in xs) == len(b)


def test_forecasts_are_v3_by_default_and_v2_on_request(tiny_store, v2_v3, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path, _ = tiny_store
    v2, v3 = v2_v3
    assert (path / "zarr.json").is_file()  # stores are Zarr v3 by default (the tiny store: write_store's default)
    run = make_run(tmp_path / "run", path)
    args = ["forecast", "--model", "vip_mixer", "--var", "t850", "--run", str(run), "--data", str(v3), "--no-plot",
            "--no-score"]
    assert run_cli(*args, "--init", "2003-05-01/2003-05-03", "--out", "fc.zarr").exit_code == 0
    first = open_forecast(tmp_path / "fc.zarr")["t850"].values
    res = run_cli(*args, "--init", "2003-05-01/2003-05-05", "--out", "fc.zarr", "--append")
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "fc.zarr" / "zarr.json").read_text())["zarr_format"] == 3
    after = open_forecast(tmp_path / "fc.zarr")
    assert len(first) == 9 and after.sizes["init_time"] == 17  # 05-01..05-03, then 05-03T06..05-05 appended
    assert np.array_equal(after["t850"].values[:9], first)
    res = run_cli(*args[:-4], "--data", str(v2), "--no-plot", "--no-score", "--zarr-format", "2",
                  "--init", "2003-05-01/2003-05-03", "--out", "fc2.zarr")
    assert res.exit_code == 0, res.output
    assert (tmp_path / "fc2.zarr" / ".zmetadata").is_file() and not (tmp_path / "fc2.zarr" / "zarr.json").exists()
    assert np.array_equal(open_forecast(tmp_path / "fc2.zarr")["t850"].values, first)  # same values, either format
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # what a user does with the outputs: no warning of either format
        for out in (tmp_path / "fc.zarr", tmp_path / "fc2.zarr", path, v2):
            xr.open_zarr(out).load()
    for store in (v3, v2):
        res = run_cli("data", "info", str(store))
        assert res.exit_code == 0 and "t850" in res.output


def test_shard_size_is_for_v3_only(tiny_store, tmp_path):
    _, ds = tiny_store
    with pytest.raises(StoreError, match="--shard-mb sets the shards of Zarr format 3 stores"):
        write_store(ds, tmp_path / "x.zarr", catalog="test", time_step="6h", norm_kind="zscore", default_t_in=4,
                    default_t_out=4, progress=False, zarr_format=2, shard_mb=8)
    assert not (tmp_path / "x.zarr").exists()
    res = run_cli("data", "prepare", "custom", "--path", str(tmp_path / "none.nc"), "--var", "t2m", "--out",
                  str(tmp_path / "y.zarr"), "--shard-mb", "0")
    assert res.exit_code == 2 and "--shard-mb" in res.output  # click: a positive size


def test_v3_refused_by_a_v2_only_zarr_and_when_a_shard_is_missing(v2_v3, monkeypatch):
    _, v3 = v2_v3
    with monkeypatch.context() as m:
        m.setattr(store_mod, "_zarr_version", lambda: "2.18.7")
        with pytest.raises(StoreError, match=r"Zarr format 3 store and the installed zarr-python \(2\.18\.7\) reads "
                                             r"only format 2: `pip install 'zarr>=3'`"):
            open_store(v3)
    shards = -(-open_store(v3).sizes["time"] // 64)
    (v3 / "t850" / "c" / "1" / "0" / "0").unlink()
    with pytest.raises(StoreError, match=f"corrupt: variable 't850' has {shards - 1} of {shards} "):
        open_store(v3)
