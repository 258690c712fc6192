"""The examples: --help for every option with the expected time, a clear one-line stop when their data is
missing, and nothing written into the repository or the working directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted(p for p in (ROOT / "examples").iterdir() if p.suffix in (".py", ".sh"))
NEEDS_DATA = {  # example -> what its one-line error names when --root/ROOT is empty
    "02_weatherbench_t850.sh": "WeatherBench t850 files not found",
    "03_taxibj.sh": "BJ13_M32x32_T30_InOut.h5 not found",
    "04_moving_mnist_all_models.py": "mnist_test_seq.npy, train-images-idx3-ubyte.gz not found",
}


def _run(example: Path, *args: str, cwd: Path, home: Path) -> subprocess.CompletedProcess:
    cmd = [sys.executable, str(example)] if example.suffix == ".py" else ["bash", str(example)]
    env = {**os.environ, "HOME": str(home), "ROOT": str(home / "empty"), "PYTHONPATH": str(ROOT)}
    return subprocess.run([*cmd, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


NO_DATA = {"01_sample_quickstart.py", "05_s_hr_vqvae_decoding_gap.py"}  # synthetic data made on the fly


def test_every_example_is_covered():
    assert {p.name for p in EXAMPLES} == {*NO_DATA, *NEEDS_DATA}


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_help_states_the_time_and_every_option(example, tmp_path):
    res = _run(example, "--help", cwd=tmp_path, home=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "Time:" in res.stdout and "repository" in res.stdout
    if example.name.startswith("04"):
        for option in ("--root", "--work", "--steps", "--models"):
            assert option in res.stdout
    if example.suffix == ".sh":
        assert "ROOT=DIR" in res.stdout and "WORK=DIR" in res.stdout
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("name", sorted(NEEDS_DATA))
def test_missing_data_stops_with_one_clear_line_and_writes_nothing(name, tmp_path):
    home, cwd = tmp_path / "home", tmp_path / "cwd"
    home.mkdir()
    cwd.mkdir()
    res = _run(ROOT / "examples" / name, cwd=cwd, home=home)
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and NEEDS_DATA[name] in lines[0], res.stderr
    assert "Traceback" not in res.stderr
    assert not list(cwd.iterdir()) and not list(home.iterdir())
