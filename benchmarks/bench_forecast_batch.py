"""How many init times the model should see per call on the CPU: forecast throughput of the shipped quick-start
run (vip_mixer, t850, 4 -> 12 frames of 32x64, three autoregressive calls per 72 h forecast) against the batch
size and the torch thread count.

geostp.forecast.predict.CPU_MODEL_BATCH is chosen from this table. Rows are interleaved over several rounds
and the median is kept, so a burst of load on the machine does not decide a row. Saves
benchmarks/results/bench_forecast_batch.{md,json}.

Examples:
    python benchmarks/bench_forecast_batch.py
    python benchmarks/bench_forecast_batch.py --batches 4 8 32 --threads 1 2 --rounds 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from geostp.forecast.predict import Predictor
from geostp.forecast.shipped import shipped_dir
from geostp.models.rollout import rollout
from tables import save_table

N_INITS = 722  # the test split's init times in the main job


def rate(model: torch.nn.Module, x: torch.Tensor, n_frames: int, samples: int) -> float:
    """Init times forecast per second at x's batch size, over about `samples` init times (one warm-up call)."""
    rollout(model, x, n_frames)
    done, tick = 0, time.perf_counter()
    while done < samples:
        rollout(model, x, n_frames)
        done += len(x)
    return done / (time.perf_counter() - tick)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batches", type=int, nargs="+", default=[2, 4, 8, 16, 32, 64, 128], help="batch sizes to time")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="torch thread counts to time")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the median is reported")
    ap.add_argument("--samples", type=int, default=256, help="init times forecast per measurement")
    args = ap.parse_args()

    pred = Predictor.from_run(shipped_dir("vip_mixer", ["t850"]))
    model = pred.model.eval()
    grid = [len(v) for v in pred.grid.values()]
    n_frames = 12
    rates: dict[tuple[int, int], list[float]] = {(t, b): [] for t in args.threads for b in args.batches}
    with torch.no_grad():
        for _ in range(args.rounds):
            for t in args.threads:
                torch.set_num_threads(t)
                for b in args.batches:
                    x = torch.randn(b, pred.t_in, len(pred.variables), *grid)
                    rates[(t, b)].append(rate(model, x, n_frames, args.samples))
    load = os.getloadavg()
    lines = [f"# Forecast throughput against the batch size (CPU, {os.cpu_count()} cores)", "",
             f"Shipped vip_mixer t850 run, {pred.t_in} -> {n_frames} frames on {grid[0]}x{grid[1]}, median of "
             f"{args.rounds} interleaved rounds of {args.samples} init times; load average after: "
             f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}.", "",
             "| threads | batch | init times / s | seconds for 722 |", "|---|---|---|---|"]
    rows = []
    for (t, b), vals in rates.items():
        med = statistics.median(vals)
        rows.append({"threads": t, "batch": b, "inits_per_s": round(med, 1), "rounds": [round(v, 1) for v in vals]})
        lines.append(f"| {t} | {b} | {med:.1f} | {N_INITS / med:.1f} |")
    save_table("bench_forecast_batch", "\n".join(lines) + "\n", {"load_after": load, "rows": rows})


if __name__ == "__main__":
    main()
