"""The GPU suite's pieces that a CPU can check: its Moving MNIST data follow the peer protocol and the
published layout, its curve and comparison read what training and the benchmarks write."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from geostp.data import open_windows
from geostp.data.generators import moving_mnist_sequence
from geostp.data.prepare import prepare
from tests.fixtures import fake_digits, write_idx_images

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_suite_script_parses_and_explains_itself():
    assert subprocess.run(["bash", "-n", str(BENCH / "gpu_suite.sh")]).returncode == 0
    usage = subprocess.run(["bash", str(BENCH / "gpu_suite.sh")], capture_output=True, text=True)
    assert usage.returncode == 2 and "--dry-run" in usage.stdout and "PEER_PATH" in usage.stdout


def test_curve_data_are_the_seeded_protocol_in_the_published_layout(tmp_path):
    curve = _load("mmnist_curve")
    digits = fake_digits(12)
    idx = write_idx_images(tmp_path / "t10k-images-idx3-ubyte.gz", digits)
    curve.write_raw(idx, tmp_path / "raw", n_test=3, seed=1234)
    raw = np.load(tmp_path / "raw" / "mnist_test_seq.npy")
    assert raw.shape == (20, 3, 64, 64) and raw.dtype == np.uint8  # frames first, as mnist_test_seq.npy
    for i in range(3):  # sequence i is the generator's, seeded (1234, i): a fixed test set
        assert np.array_equal(raw[:, i], moving_mnist_sequence(np.random.default_rng([1234, i]), digits, 20))
    store = prepare("mmnist", tmp_path / "mm.zarr", root=str(tmp_path / "raw"), progress=False, echo=lambda m: None)
    test = open_windows(store, "test", t_in=10, t_out=10)
    x, y = test[1]
    assert len(test) == 3 and np.allclose(np.concatenate([x, y])[:, 0] * 255.0, raw[:, 1], atol=1e-3)


def test_curve_reads_openstl_mse_and_training_seconds_from_metrics(tmp_path):
    curve = _load("mmnist_curve")
    events = [{"event": "baseline", "step": 0},
              {"event": "train", "step": 10, "samples_per_s": 80.0},
              {"event": "train", "step": 20, "samples_per_s": 160.0},
              {"event": "valid", "step": 20, "val/mse/1f": 50.0, "val/mse/2f": 70.0, "val/mae/1f": 1.0, "val/mae/2f": 3.0}]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    rows = curve.curve(tmp_path, batch=16, epoch_length=320)
    assert rows == [{"epoch": 1.0, "step": 20, "train_s": 3.0, "mse": 60.0, "mae": 2.0}]  # 160/80 + 160/160 s


def test_compare_divides_by_the_reference_row_of_the_same_model(tmp_path):
    geo = {"device": "NVIDIA X", "torch": "2.13", "batch": 16, "rows": [
        {"model": "simvpv2", "preset": "mmnist", "train": {"eager": 400.0, "compile+bf16+fused": 900.0},
         "infer": {"eager": 1000.0}}]}
    (tmp_path / "bench_models_cuda.json").write_text(json.dumps(geo))
    (tmp_path / "peers.txt").write_text(
        '{"model": "simvp_gsta_mmnist", "mode": "train_fp32", "batch": 16, "samples_per_s": 450.0}\n'
        '{"model": "simvp_gsta_mmnist", "mode": "infer_fp32", "batch": 16, "samples_per_s": 500.0}\n')
    out = subprocess.run([sys.executable, str(BENCH / "gpu_compare.py"), str(tmp_path)], capture_output=True,
                         text=True, check=True).stdout
    row = next(line for line in out.splitlines() if line.startswith("| simvpv2"))
    assert "2.00x" in row and "| met |" in row and "same run" in out
