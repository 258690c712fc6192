"""Under `accelerate launch`, a geostp error is one line from the main process, without the launcher's traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ACCELERATE = str(Path(sys.executable).parent / "accelerate")


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ACCELERATE_", "MASTER_", "WORLD_SIZE", "RANK"))}
    return {**env, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), "ACCELERATE_USE_CPU": "1"}


def test_a_geostp_error_under_accelerate_launch_is_one_line(tmp_path):
    cmd = [ACCELERATE, "launch", "--num_processes", "1", "--num_machines", "1", "--mixed_precision", "no",
           "--dynamo_backend", "no", str(ROOT / "pipelines" / "train.py"), "--config", "missing.yaml", "--out", "run"]
    proc = subprocess.run(cmd, cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=240)
    err = proc.stderr.strip().splitlines()
    assert "Traceback" not in proc.stderr and "CalledProcessError" not in proc.stderr, proc.stderr
    assert err == ["error: config file missing.yaml does not exist"], proc.stderr
    assert proc.returncode == 143  # the launcher stopped by SIGTERM: accelerate's own quiet exit


def test_the_same_script_run_directly_exits_2(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "pipelines" / "train.py"), "--config", "missing.yaml"],
                          cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stderr.strip() == "error: config file missing.yaml does not exist"
