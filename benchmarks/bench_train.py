"""Training throughput: samples/s and the share of each step spent waiting for data, 1 vs 2 processes.

Runs the default vip_mixer config on the embedded sample (pipelines/configs/tiny.yaml) as `geostp train`
would, once in one process and once as 2 CPU processes with the working accelerate command, and reads
the meters the loop logs to metrics.jsonl (`samples_per_s`, `data_wait`, measured on the main process
between log lines, validation and checkpoints excluded). Target: data wait < 5 % of step time.

  python benchmarks/bench_train.py [--steps 60] [--config pipelines/configs/tiny.yaml] [--set KEY=VALUE ...]

Prints a table and saves it to benchmarks/results/bench_train.txt. On a GPU machine it also runs one
GPU process.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path
from statistics import median

ROOT = Path(__file__).resolve().parents[1]


def run(label: str, launch: list[str], env: dict[str, str], config: str, steps: int, out: Path,
        extra: list[str]) -> dict[str, float | str]:
    """Train `steps` steps with one launch command; the median meters over log lines after warm-up."""
    from geostp.training.logging import read_metrics

    sets = [f"train.max_steps={steps}", "train.log_every=10", f"eval.every={steps}", "train.progress=false", *extra]
    cmd = [*launch, str(ROOT / "pipelines" / "train.py"), "--config", config, "--out", str(out)]
    for s in sets:
        cmd += ["--set", s]
    proc = subprocess.run(cmd, env={**os.environ, **env}, capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"{label} failed:\n{proc.stderr[-3000:]}")
    events = [e for e in read_metrics(out / "metrics.jsonl") if e["event"] == "train"][1:]  # skip warm-up
    return {"setup": label, "samples/s": median(e["samples_per_s"] for e in events),
            "data wait %": 100 * median(e["data_wait"] for e in events)}


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--config", default=str(ROOT / "pipelines" / "configs" / "tiny.yaml"))
    parser.add_argument("--set", dest="sets", action="append", default=[])
    args = parser.parse_args()
    accelerate = str(Path(sys.executable).parent / "accelerate")
    flags = ["--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
    setups = [
        ("1 process (CPU, 2 threads)", [accelerate, "launch", "--cpu", "--num_processes", "1", *flags],
         {"ACCELERATE_USE_CPU": "1"}),
        ("1 process (CPU, 1 thread)", [accelerate, "launch", "--cpu", "--num_processes", "1",
                                       "--num_cpu_threads_per_process", "1", *flags], {"ACCELERATE_USE_CPU": "1"}),
        ("2 processes (CPU, gloo, 1 thread each)", [accelerate, "launch", "--multi_gpu", "--num_processes", "2", *flags],
         {"ACCELERATE_USE_CPU": "1"}),
    ]
    if torch.cuda.is_available():
        setups.append(("1 GPU", [accelerate, "launch", "--num_processes", "1", *flags], {}))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, (label, launch, env) in enumerate(setups):
            rows.append(run(label, launch, env, args.config, args.steps, Path(tmp) / f"run{i}", args.sets))
            print(f"{label}: {rows[-1]['samples/s']:.1f} samples/s, data wait {rows[-1]['data wait %']:.2f} %", flush=True)
    lines = [f"bench_train: {Path(args.config).name}, {args.steps} steps, sets {args.sets or 'none'}",
             f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}"
             + (f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""),
             "", f"| {'setup':<38} | {'samples/s':>10} | {'data wait %':>11} |", f"|{'-' * 40}|{'-' * 12}|{'-' * 13}|"]
    lines += [f"| {r['setup']:<38} | {r['samples/s']:>10.1f} | {r['data wait %']:>11.2f} |" for r in rows]
    text = "\n".join(lines)
    print("\n" + text)
    out = ROOT / "benchmarks" / "results" / "bench_train.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n")


if __name__ == "__main__":
    main()
