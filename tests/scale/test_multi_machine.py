"""Two "machines" on one host (two `accelerate launch --num_machines 2` launchers, gloo on CPU) end where one
process ends; a machine that dies mid-run stops the other with a clear error and leaves the last checkpoint whole."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import psutil
import yaml
from safetensors.torch import load_file

from geostp.data.store import write_store
from geostp.training import train
from geostp.training.logging import read_metrics
from tests.scale.conftest import free_port
from tests.training.conftest import tiny_config, wave_dataset

ROOT = Path(__file__).resolve().parents[2]
ACCELERATE = str(Path(sys.executable).parent / "accelerate")


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ACCELERATE_", "MASTER_", "WORLD_SIZE", "RANK"))}
    return {**env, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), "ACCELERATE_USE_CPU": "1"}


def _machine(rank: int, port: int, cfg: Path, out: Path) -> subprocess.Popen:
    """`accelerate launch` of machine `rank` of 2 (one process each), as on a cluster node."""
    cmd = [ACCELERATE, "launch", "--multi_gpu", "--num_machines", "2", "--machine_rank", str(rank),
           "--num_processes", "2", "--main_process_ip", "127.0.0.1", "--main_process_port", str(port),
           "--mixed_precision", "no", "--dynamo_backend", "no", str(ROOT / "pipelines" / "train.py"),
           "--config", str(cfg), "--out", str(out)]
    return subprocess.Popen(cmd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def _setup(tmp_path: Path, **train_opts) -> Path:
    store = write_store(wave_dataset(days=60), tmp_path / "waves.zarr", catalog="test", time_step="6h",
                        norm_kind="zscore", default_t_in=3, default_t_out=2, progress=False)
    cfg = tiny_config(store, train=train_opts)
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.mark.slow  # real processes; in the default run
def test_two_machines_end_with_the_one_process_run(tmp_path):
    cfg = _setup(tmp_path)
    one = train(cfg, out=tmp_path / "one")
    port = free_port()
    procs = [_machine(r, port, cfg, tmp_path / "two") for r in (0, 1)]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (_, err) in zip(procs, outs):
        assert p.returncode == 0, err[-3000:]
    two = tmp_path / "two"
    env = yaml.safe_load((two / "environment.json").read_text())
    assert env["num_processes"] == 2 and env["distributed_type"].endswith("MULTI_CPU")
    a, b = load_file(one / "last.safetensors"), load_file(two / "last.safetensors")
    rel = max(float((a[k] - b[k]).norm() / (a[k].norm() + 1e-12)) for k in a)
    assert rel <= 1e-3, rel
    val = [[e["val/loss"] for e in read_metrics(r / "metrics.jsonl") if "val/loss" in e] for r in (one, two)]
    assert len(val[0]) == len(val[1]) >= 2
    np.testing.assert_allclose(val[1], val[0], rtol=1e-3)


@pytest.mark.slow  # real processes; in the default run
def test_a_machine_dying_stops_the_other_with_a_clear_error(tmp_path):
    cfg = _setup(tmp_path, max_steps=400, checkpoint_every=4)
    run = tmp_path / "run"
    port = free_port()
    procs = [_machine(r, port, cfg, run) for r in (0, 1)]
    deadline = time.time() + 180
    while time.time() < deadline and not list((run / "state").glob("step-*")) and procs[0].poll() is None:
        time.sleep(0.1)
    assert list((run / "state").glob("step-*")), procs[0].communicate()[1][-3000:]
    machine1 = psutil.Process(procs[1].pid)
    for p in [*machine1.children(recursive=True), machine1]:  # machine 1 disappears: launcher and its rank
        p.send_signal(signal.SIGKILL)
    procs[1].wait()
    try:
        _, err = procs[0].communicate(timeout=120)
    finally:
        if procs[0].poll() is None:
            for p in [*psutil.Process(procs[0].pid).children(recursive=True)]:
                p.send_signal(signal.SIGKILL)
            procs[0].kill()
    assert procs[0].returncode != 0
    assert "lost contact with another process" in err and "--resume" in err, err[-3000:]
    states = sorted((run / "state").glob("step-*"), key=lambda p: int(p.name.split("-")[1]))
    last = int(states[-1].name.split("-")[1])
    assert (states[-1] / "trainer.json").is_file() and last < 400
    train(resume=run, overrides=[f"train.max_steps={last + 2}"])  # the last checkpoint resumes, on one process
    steps = [e["step"] for e in read_metrics(run / "metrics.jsonl") if e.get("event") == "train"]
    assert steps[-1] == last + 2
