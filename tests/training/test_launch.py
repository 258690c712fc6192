"""Launching: 2 CPU processes match 1, the accelerate traps are refused, precision changes the compute dtype,
and a run killed mid-training resumes to the same weights."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from accelerate.utils import DistributedDataParallelKwargs
from safetensors.torch import load_file

from geostp.errors import ConfigError
from geostp.training import load_config, train
from geostp.training import session
from geostp.training.build import build_model
from geostp.training.data import open_data
from geostp.training.logging import read_metrics
from geostp.training.loop import Objective

ROOT = Path(__file__).resolve().parents[2]
ACCELERATE = str(Path(sys.executable).parent / "accelerate")


def _curve(run: Path, key: str = "train/loss") -> list[float]:
    return [e[key] for e in read_metrics(run / "metrics.jsonl") if key in e]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ACCELERATE_", "MASTER_", "WORLD_SIZE", "RANK"))}
    return {**env, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}


def test_two_cpu_processes_give_the_one_process_curve(make_config, tmp_path):
    cfg_path = tmp_path / "cfg.yaml"
    cfg_path.write_text(yaml.safe_dump(make_config()))
    one = train(cfg_path, out=tmp_path / "one")
    cmd = [ACCELERATE, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
           "--mixed_precision", "no", "--dynamo_backend", "no", str(ROOT / "pipelines" / "train.py"),
           "--config", str(cfg_path), "--out", str(tmp_path / "two")]
    # the exact working command of the docs: ACCELERATE_USE_CPU=1 accelerate launch --multi_gpu ...
    proc = subprocess.run(cmd, env={**_env(), "ACCELERATE_USE_CPU": "1"}, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    two = tmp_path / "two"
    env = yaml.safe_load((two / "environment.json").read_text())
    assert env["num_processes"] == 2 and env["distributed_type"].endswith("MULTI_CPU")
    np.testing.assert_allclose(_curve(two), _curve(one), rtol=1e-4)
    np.testing.assert_allclose(_curve(two, "val/loss"), _curve(one, "val/loss"), rtol=1e-4)
    a, b = load_file(one / "last.safetensors"), load_file(two / "last.safetensors")
    assert max(float((a[k] - b[k]).abs().max()) for k in a) < 1e-4


def test_simple_launcher_with_several_processes_is_refused(monkeypatch):
    # what `accelerate launch --cpu --num_processes 2` leaves a lone process: the CPU flag and a master
    # address, but no WORLD_SIZE; the parent's command line says how many processes were asked for
    monkeypatch.setenv("ACCELERATE_USE_CPU", "True")
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.setattr(session, "launcher_process_request", lambda: 2)
    with pytest.raises(ConfigError, match="(?s)starts only ONE.*ACCELERATE_USE_CPU=1 accelerate launch --multi_gpu"):
        session.make_accelerator("fp32", DistributedDataParallelKwargs())


def test_process_count_is_read_from_the_launcher_command_line():
    argv = ["/x/python", "/x/accelerate", "launch", "--cpu", "--num_processes", "2", "train.py"]
    assert session.requested_processes(argv) == 2
    assert session.requested_processes(["python", "accelerate", "launch", "--num_processes=4", "t.py"]) == 4
    assert session.requested_processes(["python", "train.py", "--num_processes", "2"]) is None


def test_launcher_precision_must_agree_with_the_config(monkeypatch):
    monkeypatch.setenv("ACCELERATE_MIXED_PRECISION", "bf16")
    with pytest.raises(ConfigError, match="(?s)--mixed_precision bf16 but train.precision is 'fp32'.*train.precision=bf16"):
        session.make_accelerator("fp32", DistributedDataParallelKwargs())


@pytest.mark.parametrize("precision, dtype", [("fp32", torch.float32), ("bf16", torch.bfloat16),
                                              ("fp16", torch.float16)])
def test_each_precision_changes_the_compute_dtype(precision, dtype, make_config, monkeypatch):
    monkeypatch.delenv("ACCELERATE_MIXED_PRECISION", raising=False)
    if precision == "fp16" and not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="(?s)fp16 does nothing on CPU.*bf16"):
            session.make_accelerator(precision, DistributedDataParallelKwargs())
        return
    acc = session.make_accelerator(precision, DistributedDataParallelKwargs())
    cfg = load_config(make_config())
    data = open_data(cfg.data)
    model = build_model(cfg.model, data.signature)
    conv = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    seen = []
    conv.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    objective = acc.prepare(Objective(model))
    x, y = data.train.get_batch([0, 1])
    loss, _ = objective(x.to(acc.device), y.to(acc.device))
    assert seen and set(seen) == {dtype}
    assert loss.dtype == torch.float32  # accelerate hands the loss back in fp32


def test_a_killed_run_resumes_to_the_uninterrupted_weights(make_config, tmp_path):
    cfg_path = tmp_path / "cfg.yaml"
    cfg_path.write_text(yaml.safe_dump(make_config(train={"max_steps": 30, "checkpoint_every": 5}, eval={"every": 15})))
    full = train(cfg_path, out=tmp_path / "full")
    run = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, str(ROOT / "pipelines" / "train.py"), "--config", str(cfg_path),
                             "--out", str(run)], env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None and not list((run / "state").glob("step-*")):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)  # no chance to clean up: whatever was mid-write stays half-written
    proc.wait()
    states = sorted((run / "state").glob("step-*"))
    assert states, proc.stderr.read().decode()[-2000:]
    killed_at = int(states[-1].name.split("-")[1])
    assert proc.returncode == -signal.SIGKILL and killed_at < 30  # really killed mid-run
    train(resume=run)
    a, b = load_file(full / "last.safetensors"), load_file(run / "last.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a), f"differs after a kill at step {killed_at}"
    assert _curve(run) == _curve(full)
