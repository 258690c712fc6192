"""One writer per target: lock files naming their holder, stale locks, --wait, concurrent real processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import xarray as xr

from geostp.data.store import open_store
from geostp.errors import LockedError, TargetExistsError
from geostp.io import atomic_dir
from geostp.locks import Holder, lock_path, lock_status, target_lock
from tests.fault.conftest import error_line, prepare_args, run, slow, start

pytestmark = pytest.mark.fault

HOLD = ("import sys, time; from geostp.locks import target_lock\n"
        "with target_lock(sys.argv[1]):\n    print('held', flush=True); time.sleep(float(sys.argv[2]))\n")


def _holder_process(target, seconds):
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(target), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_second_writer_is_refused_naming_the_first(tmp_path):
    target = tmp_path / "out.zarr"
    proc = _holder_process(target, 30)
    try:
        with pytest.raises(LockedError) as info:
            with atomic_dir(target):
                pass
        msg = str(info.value)
        assert f"pid {proc.pid}" in msg and "--wait" in msg and "\n" not in msg
        assert not target.exists() and not list(tmp_path.glob(".out.zarr.tmp-*"))
    finally:
        proc.kill()
        proc.wait()


def test_wait_queues_behind_the_holder(tmp_path):
    target = tmp_path / "out.zarr"
    proc = _holder_process(target, 1.5)
    t0 = time.monotonic()
    with target_lock(target, wait=True):
        waited = time.monotonic() - t0
    proc.wait()
    assert waited > 0.5 and not lock_path(target).exists()


def test_stale_locks_are_replaced(tmp_path):
    target = tmp_path / "out.zarr"
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = int(proc.stdout)  # a pid that has exited
    lock = lock_path(target)
    me = Holder.me()
    lock.write_text(json.dumps({**me.__dict__, "pid": dead, "proc_start": 1.0}))
    assert lock_status(target)[1] is False
    with target_lock(target) as holder:
        assert holder.pid == os.getpid()
    lock.write_text("")  # torn: its writer was killed while creating it
    old = time.time() - 60
    os.utime(lock, (old, old))
    with target_lock(target):
        pass
    assert not lock.exists()


def test_threads_contend_and_reentry_nests(tmp_path):
    target = tmp_path / "x"
    order = []
    with target_lock(target):
        with target_lock(target):  # same thread: nested
            pass
        worker = threading.Thread(target=lambda: (target_lock(target, wait=True).__enter__(), order.append("t")))
        worker.start()
        time.sleep(0.5)
        order.append("main")
    worker.join(10)
    assert order == ["main", "t"]


def test_recheck_when_moving_into_place(tmp_path):
    """A target that appears while the output is written (a writer not using the lock) is never replaced."""
    target = tmp_path / "out"
    with pytest.raises(TargetExistsError, match="appeared while"):
        with atomic_dir(target) as tmp:
            tmp.mkdir()
            (tmp / "new").write_text("new")
            target.mkdir()
            (target / "theirs").write_text("theirs")
    assert (target / "theirs").read_text() == "theirs" and not list(tmp_path.glob(".out.tmp-*"))


def test_concurrent_prepares_same_out(tmp_path, source):
    """Two real `geostp data prepare` on one new --out: one writes it, the other stops with one line (the lock or
    the existing store); with --wait --overwrite both succeed one after the other. Never a silent replacement."""
    out = tmp_path / "s.zarr"
    procs = [start(prepare_args(source, out)) for _ in range(2)]
    results = [(p.wait(120), *p.communicate()) for p in procs]
    rcs = sorted(r[0] for r in results)
    assert rcs == [0, 2], results
    loser = next(r for r in results if r[0] == 2)
    line = error_line(loser[2])
    assert "being written by another geostp process: pid" in line or "exists; pass --overwrite" in line
    ds = open_store(out)
    src = xr.open_dataset(source)
    np.testing.assert_array_equal(ds["t2m"].values, src["t2m"].sel(time=ds["time"]).values)
    procs = [start(prepare_args(source, out, "--overwrite", "--wait")) for _ in range(2)]
    results = [(p.wait(120), *p.communicate()) for p in procs]
    assert [r[0] for r in results] == [0, 0], results
    open_store(out)
    assert not list(tmp_path.glob(".s.zarr.*"))


def test_concurrent_forecasts_same_out(tmp_path, run_dir, tiny_store):
    """Two real `geostp forecast` on one --out: one writes, the other says who is writing (or that it exists)."""
    store, _ = tiny_store
    out = tmp_path / "fc.zarr"
    args = ["forecast", "--model", "vip_mixer", "--var", "t850", "--run", run_dir, "--data", store,
            "--init", "2003-01-01/2003-02-28", "--out", out, "--no-plot", "--no-score"]
    procs = [start(args) for _ in range(2)]
    results = [(p.wait(120), *p.communicate()) for p in procs]
    assert sorted(r[0] for r in results) == [0, 2], results
    line = error_line(next(r for r in results if r[0] == 2)[2])
    assert "being written by another geostp process" in line or "exists; pass --append" in line
    res = run([*args, "--append", "--init", "2003-03-01/2003-03-10"])
    assert res.returncode == 0, res.stderr
    assert xr.open_zarr(out).sizes["init_time"] > 100


def test_concurrent_quick_starts_train_one_run(tmp_path, monkeypatch, tiny_store):
    """Two forecasts on a fresh cache ask for the same quick run at once: one trains it, the other waits and
    reuses it (the run key does not depend on when the sample was built)."""
    from geostp.data.resolve import DataSource
    from geostp.forecast import runs
    from geostp.workflows import forecast as workflow

    store, _ = tiny_store
    monkeypatch.setenv("GEOSTP_CACHE_DIR", str(tmp_path / "cache"))
    tiny = {"data": {"t_in": 2, "t_out": 2, "in_memory": True, "valid_max_windows": 8},
            "model": {"name": "persistence"}, "train": {"max_steps": 1, "batch_size": 4, "progress": False}}
    monkeypatch.setattr(runs, "quick_config", lambda m, v, s, objective="mse": {
        **tiny, "data": {**tiny["data"], "store": str(s), "variables": list(v)}})
    calls = []
    real_train = __import__("geostp.training", fromlist=["train"]).train

    def counting_train(*a, **k):
        calls.append(1)
        time.sleep(0.5)  # keep the other caller waiting on the lock
        return real_train(*a, **k)

    monkeypatch.setattr("geostp.training.train", counting_train)
    src = DataSource(str(store), open_store(store), "test", True)
    key = workflow._store_id(src)
    # a rebuilt sample (other creation time, same sample_key) keys the same quick run
    other = DataSource(str(store), open_store(store).assign_attrs(sample_key="k", provenance="a"), "t", True)
    again = DataSource(str(store), open_store(store).assign_attrs(sample_key="k", provenance="b"), "t", True)
    assert workflow._store_id(other) == workflow._store_id(again)
    got = []
    threads = [threading.Thread(target=lambda: got.append(runs.quick_train("persistence", ["t850"], store, key,
                                                                           echo=lambda m: None))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(got) == 2 and got[0] == got[1] and len(calls) == 1
    assert [p.name for p in got[0].parent.iterdir() if not p.name.startswith(".")] == [got[0].name]


@pytest.mark.slow
@slow
def test_concurrent_forecasts_on_a_fresh_cache_train_one_run(tmp_path):
    """The real thing (minutes: builds the sample and trains the quick run): two `geostp forecast` on an empty
    cache build one sample, train one run and write one default forecast; both succeed, one reuses."""
    from tests.fault.conftest import geostp_env

    env = geostp_env(tmp_path / "cache")
    args = ["forecast", "--model", "vip_mixer", "--var", "t850", "--no-plot", "--init", "2018-01-01/2018-01-10"]
    procs = [start(args, env=env, cwd=tmp_path) for _ in range(2)]
    results = [(p.wait(1800), *p.communicate()) for p in procs]
    assert [r[0] for r in results] == [0, 0], results
    runs = [p for p in (tmp_path / "cache" / "runs").iterdir() if not p.name.startswith(".")]
    assert len(runs) == 1, runs
    assert sum("training a small one" in r[1] + r[2] for r in results) == 1
    forecasts = list((runs[0] / "forecasts").glob("*.zarr"))
    assert len(forecasts) == 1 and sum("reused, same run and request" in r[1] for r in results) == 1
