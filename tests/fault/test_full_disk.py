"""A full file system (a 2 MB tmpfs, mounted when running as root; skipped otherwise): every writer stops with
one line, removes its temporary output and leaves the previous output as it was."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from geostp.data.store import open_store
from geostp.errors import WriteError
from geostp.training.checkpoint import state_dirs, verify_state, verify_weights
from tests.fault.conftest import error_line, prepare_args, run, write_source

pytestmark = pytest.mark.fault


def mounted(mnt: Path, size: str):
    """Mount a tmpfs of `size` at `mnt` (skip the test when this process may not mount)."""
    mnt.mkdir()
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mnt)], capture_output=True,
                         text=True)
    if res.returncode != 0:
        pytest.skip(f"full-disk trials need a tmpfs mount (root and mount privileges): {res.stderr.strip()}")
    return mnt


@pytest.fixture
def small_fs(tmp_path):
    """A 2 MB tmpfs at tmp_path/mnt."""
    yield mounted(tmp_path / "mnt", "2m")
    subprocess.run(["umount", "-l", str(tmp_path / "mnt")], capture_output=True)


@pytest.fixture
def run_fs(tmp_path):
    """A 16 MB tmpfs (a run with two resume states fits) at tmp_path/runfs."""
    yield mounted(tmp_path / "runfs", "16m")
    subprocess.run(["umount", "-l", str(tmp_path / "runfs")], capture_output=True)


def fill_to(mnt: Path, free: int) -> None:
    """Fill `mnt` with a file so that about `free` bytes remain."""
    left = shutil.disk_usage(mnt).free - free
    if left > 0:
        with open(mnt / "filler", "wb") as fh:
            fh.write(b"\0" * left)


def leftovers(mnt: Path) -> list[Path]:
    return [p for p in mnt.rglob(".*") if ".tmp-" in p.name or ".old-" in p.name or p.name.endswith(".lock")]


def test_prepare_on_a_full_disk(small_fs, tmp_path):
    old_src = write_source(tmp_path / "old.nc", years=(2000, 2002), freq="1D")
    big_src = write_source(tmp_path / "big.nc", years=(2000, 2002), nlat=16, nlon=32, seed=1)
    out = small_fs / "s.zarr"
    args = dict(splits="train=2000,valid=2001,test=2002")
    assert run(prepare_args(old_src, out, **args)).returncode == 0
    before = open_store(out)["t2m"].values
    res = run(prepare_args(big_src, out, "--overwrite", **args))
    line = error_line(res.stderr)
    assert res.returncode == 2 and "no space left" in line and "it needs about" in line and "untouched" in line
    np.testing.assert_array_equal(open_store(out)["t2m"].values, before)
    assert leftovers(small_fs) == []


def test_forecast_append_on_a_full_disk(small_fs, run_dir, tiny_store):
    from geostp.workflows.forecast import ForecastRequest, run_forecast

    store, _ = tiny_store
    out = small_fs / "fc.zarr"
    req = dict(model="vip_mixer", variables=["t850"], run=str(run_dir), data=str(store), out=str(out), plot=False,
               score=False, progress=False)
    run_forecast(ForecastRequest(init=["2003-01-01/2003-01-31"], **req))
    before = xr.open_zarr(out).load()
    fill_to(small_fs, 64 << 10)
    with pytest.raises(WriteError, match="no space left") as info:
        run_forecast(ForecastRequest(init=["2003-02-01/2003-12-31"], append=True, **req))
    assert "\n" not in str(info.value)
    xr.testing.assert_identical(xr.open_zarr(out).load(), before)
    assert leftovers(small_fs) == []


def test_training_on_a_full_disk(run_fs, run_copy):
    from geostp.training import train

    small_fs = run_fs
    run_dir = Path(shutil.copytree(run_copy, small_fs / "run"))
    shutil.rmtree(run_dir / "state" / "step-00000006")
    states = {p.name: p.read_bytes() for p in (run_dir / "state" / "step-00000012").iterdir()}
    fill_to(small_fs, 48 << 10)
    with pytest.raises(WriteError, match="no space left") as info:
        train(resume=run_dir, overrides=["train.max_steps=18"])
    assert "\n" not in str(info.value)
    assert [s.name for s in state_dirs(run_dir)] == ["step-00000012"] and verify_state(state_dirs(run_dir)[0]) is None
    assert {p.name: p.read_bytes() for p in (run_dir / "state" / "step-00000012").iterdir()} == states
    assert verify_weights(run_dir / "best.safetensors") is None and verify_weights(run_dir / "last.safetensors") is None
    assert not [p for p in (run_dir / "state").iterdir() if p.name.startswith(".tmp")]
    assert leftovers(small_fs) == []
    os.remove(small_fs / "filler")


def test_read_only_target(small_fs, source):
    """A read-only file system (remounted ro): one line naming the problem, nothing written."""
    res = subprocess.run(["mount", "-o", "remount,ro", str(small_fs)], capture_output=True, text=True)
    if res.returncode != 0:
        pytest.skip(f"cannot remount read-only: {res.stderr.strip()}")
    res = run(prepare_args(source, small_fs / "s.zarr"))
    line = error_line(res.stderr)
    assert res.returncode == 2 and "Read-only file system" in line and "choose a writable --out" in line
    assert list(small_fs.iterdir()) == []
