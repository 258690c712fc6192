"""`accelerate launch --num_processes 2 -m geostp forecast ...`: init times split across two processes, each
writing its own region of one Zarr; bitwise equal to one process; --append stays safe."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import zarr

from geostp.forecast.distributed import shares
from tests.forecast.conftest import make_run

ROOT = Path(__file__).resolve().parents[2]
ACCELERATE = str(Path(sys.executable).parent / "accelerate")


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ACCELERATE_", "MASTER_", "WORLD_SIZE", "RANK"))}
    return {**env, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), "GEOSTP_CACHE_DIR": str(tmp_path / "cache")}


def _forecast(tmp_path: Path, processes: int, *args: str, check: bool = True,
              env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    if processes == 1:
        cmd = [sys.executable, "-m", "geostp", "forecast", *args]
        env = _env(tmp_path)
    else:
        cmd = [ACCELERATE, "launch", "--multi_gpu", "--num_processes", str(processes), "--num_machines", "1",
               "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "geostp", "forecast", *args]
        env = {**_env(tmp_path), "ACCELERATE_USE_CPU": "1"}
    env.update(env_extra or {})
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0 or not check, proc.stderr[-3000:]
    return proc


def _arrays(path: Path) -> dict[str, np.ndarray]:
    g = zarr.open_group(str(path), mode="r")
    return {k: g[k][:] for k in g.array_keys()}


def test_shares_cut_on_chunk_and_batch_multiples():
    assert shares(37, 2, 4) == [slice(0, 20), slice(20, 37)]
    assert shares(3, 4, 4) == [slice(0, 0), slice(0, 0), slice(0, 0), slice(0, 3)]
    cut = shares(10, 2, 4, offset=6)  # appending after 6 init times: cuts where 6 + i is a multiple of 4
    assert cut == [slice(0, 2), slice(2, 10)] and all((6 + s.start) % 4 == 0 for s in cut[1:])


@pytest.mark.slow  # real processes; in the default run
def test_two_processes_write_one_forecast_equal_to_one_process(tiny_store, tmp_path):
    path, _ = tiny_store
    run = make_run(tmp_path / "run", path)
    common = ["--model", "vip_mixer", "--var", "t850", "--run", str(run), "--data", str(path), "--no-plot",
              "--no-score", "--batch-size", "4", "--init-chunk", "8", "--lead", "36h"]
    _forecast(tmp_path, 1, *common, "--init", "2003-05-01/2003-05-14", "--out", "one.zarr")
    two = _forecast(tmp_path, 2, *common, "--init", "2003-05-01/2003-05-10T18", "--out", "two.zarr")
    assert two.stdout.count("forecast: ") == 1  # rank 0 reports for both
    ref, b = _arrays(tmp_path / "one.zarr"), _arrays(tmp_path / "two.zarr")
    assert ref.keys() == b.keys() and len(b["init_time"]) == 40  # 5 chunks of 8: both processes had a share
    for k in ref:
        a = ref[k][:40] if ref[k].shape[:1] == (len(ref["init_time"]),) else ref[k]
        assert a.dtype == b[k].dtype and np.array_equal(a, b[k]), k  # bit for bit
    attrs = zarr.open_group(str(tmp_path / "two.zarr"), mode="r").attrs
    assert attrs["geostp_complete"] == 1

    # --append with two processes: earlier init times stay bit for bit, present ones are skipped
    before = _arrays(tmp_path / "two.zarr")
    _forecast(tmp_path, 2, *common, "--init", "2003-05-08/2003-05-14", "--out", "two.zarr", "--append")
    after = _arrays(tmp_path / "two.zarr")
    assert np.array_equal(after["init_time"], ref["init_time"])  # 05-11..05-14 appended once, in order
    assert np.array_equal(after["t850"][:40], before["t850"])
    np.testing.assert_allclose(after["t850"], ref["t850"], rtol=1e-6)


@pytest.mark.slow  # real processes; in the default run
def test_a_rank_killed_mid_run_stops_the_other_and_leaves_out_untouched(tiny_store, tmp_path):
    path, _ = tiny_store
    run = make_run(tmp_path / "run", path)
    args = ["--model", "vip_mixer", "--var", "t850", "--run", str(run), "--data", str(path), "--no-plot",
            "--no-score", "--batch-size", "4", "--init-chunk", "8", "--lead", "36h", "--init",
            "2003-05-01/2003-05-10T18", "--out", "fc.zarr"]
    # rank 1 (24 of the 40 init times) is SIGKILLed after its first chunk was written into the shared store
    hook = {"PYTHONPATH": f"{Path(__file__).parent / 'dying_rank'}{os.pathsep}{ROOT}", "GEOSTP_TEST_DIE_AFTER": "2"}
    died = _forecast(tmp_path, 2, *args, check=False, env_extra=hook)
    errors = [line for line in died.stderr.splitlines() if line.startswith("error:")]
    assert died.returncode != 0 and len(errors) == 1, died.stderr[-3000:]
    assert "forecast process 0 of 2" in errors[0] and "died" in errors[0] and "run the same command again" in errors[0]
    assert "Traceback" not in died.stderr  # the launcher was stopped quietly, not with its own report
    assert not (tmp_path / "fc.zarr").exists()  # nothing at --out; the temporary store was removed
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".fc.zarr")]  # nor its lock
    _forecast(tmp_path, 2, *args)  # the same command again completes
    done = zarr.open_group(str(tmp_path / "fc.zarr"), mode="r")
    assert done.attrs["geostp_complete"] == 1 and done["init_time"].shape == (40,)
