"""Temporary outputs of killed writers: reported by `data info`/`data check`, removed by `geostp clean` and by the
next successful write; a running writer's own temp is never touched. Integer-packed inputs stay float32."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from geostp.data.prepare import prepare
from geostp.data.store import open_store
from geostp.io import find_leftovers
from geostp.locks import target_lock
from tests.fault.conftest import write_source
from tests.fixtures import run_cli

pytestmark = pytest.mark.fault


def _kill_debris(store):
    """What kill -9 leaves: a half-written store, an old copy mid-swap, a stale lock, a torn resume state."""
    tmp = store.with_name(f".{store.name}.tmp-deadbeef")
    tmp.mkdir()
    (tmp / "t850").mkdir()
    (tmp / "t850" / "0.0.0").write_bytes(b"x" * 1000)
    old = store.with_name(f".{store.name}.old-cafebabe")
    old.mkdir()
    (store.parent / f".{store.name}.lock").write_text("")  # torn lock
    return [tmp, old]


def test_info_check_and_clean(tiny_store):
    store, _ = tiny_store
    debris = _kill_debris(store)
    import os
    import time

    lock = store.parent / f".{store.name}.lock"
    os.utime(lock, (time.time() - 60, time.time() - 60))
    for cmd in (["data", "info", store], ["data", "check", store]):
        res = run_cli(*cmd)
        assert res.exit_code == 0, res.output
        assert "leftovers: 3 temporary output(s)" in res.output and f"geostp clean {store}" in res.output
    res = run_cli("clean", store.parent, "--dry-run")
    assert res.exit_code == 0 and "would remove 3 leftover(s)" in res.output and all(p.exists() for p in debris)
    res = run_cli("clean", store.parent)
    assert res.exit_code == 0 and "removing 3 leftover(s)" in res.output and "freed 1.0 KB" in res.output
    assert not any(p.exists() for p in debris) and not lock.exists()
    open_store(store)
    assert "nothing to clean" in run_cli("clean", store).output


def test_running_writers_temp_is_not_a_leftover(tmp_path):
    target = tmp_path / "x.zarr"
    with target_lock(target):
        mine = tmp_path / ".x.zarr.tmp-00000000"
        mine.mkdir()
        with target_lock(mine):  # a run trained into a temporary dir locks that dir too
            assert find_leftovers(tmp_path) == []
    assert find_leftovers(tmp_path) == [mine]


def test_next_write_removes_leftovers(tmp_path):
    src = write_source(tmp_path / "src.nc", years=(2000, 2002), freq="1D")
    out = tmp_path / "s.zarr"
    debris = [out.with_name(".s.zarr.tmp-deadbeef"), out.with_name(".s.zarr.old-cafebabe")]
    for d in debris:
        d.mkdir()
    prepare("custom", out, root=str(src), variables=["t2m"], splits="train=2000,valid=2001,test=2002", progress=False)
    assert not any(d.exists() for d in debris) and not (tmp_path / ".s.zarr.lock").exists()


def test_packed_integers_become_float32(tmp_path):
    src = write_source(tmp_path / "src.nc", years=(2000, 2002), freq="1D")
    ds = xr.open_dataset(src).load()
    packed = tmp_path / "packed.nc"
    ds.to_netcdf(packed, encoding={"t2m": {"dtype": "int16", "scale_factor": 0.01, "add_offset": 270.0,
                                           "_FillValue": -32767}})
    out = prepare("custom", tmp_path / "p.zarr", root=str(packed), variables=["t2m"],
                  splits="train=2000,valid=2001,test=2002", progress=False)
    store = open_store(out)
    assert store["t2m"].dtype == np.float32
    np.testing.assert_allclose(store["t2m"].values, ds["t2m"].values, atol=0.006)
