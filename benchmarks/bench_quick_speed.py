"""Which `speed:` options make the quick-start recipes train faster on this machine's CPU: seconds per training step
(forward + training_loss + backward + AdamW step, batch of the recipe, the sample's 32x64 grid) for each recipe in
geostp/resources/quickstart, eager against channels-last memory format and the fused AdamW kernel.

Models with several training stages (S-HR-VQVAE) are timed per stage and weighted by the stages' shares of the
steps. Variants are interleaved over rounds and the median kept. torch.compile is left out: compiling takes longer
on 2 cores than the whole quick training. Saves benchmarks/results/bench_quick_speed.{md,json}.

Examples:
    python benchmarks/bench_quick_speed.py
    python benchmarks/bench_quick_speed.py --models simvp stlight --threads 1 --rounds 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from geostp.forecast.runs import quick_config
from geostp.models import create
from geostp.training.config import SpeedConfig
from geostp.training.speed import optimizer_options, prepare_model
from tables import save_table

RECIPE_MODELS = ("vip_mixer", "simvp", "simvpv2", "stlight", "convlstm", "swinlstm", "s_hr_vqvae")
VARIANTS = {"eager": SpeedConfig(), "channels_last": SpeedConfig(channels_last=True),
            "fused": SpeedConfig(optimizer_impl="fused"),
            "channels_last+fused": SpeedConfig(channels_last=True, optimizer_impl="fused")}


def step_seconds(model_name: str, speed: SpeedConfig, steps: int) -> float | None:
    """Seconds per training step of the recipe's model under `speed` (None when the option does not apply)."""
    cfg = quick_config(model_name, ["t850"], "sample.zarr")
    d, m, batch = cfg["data"], cfg["model"], int(cfg["train"]["batch_size"])
    torch.manual_seed(0)
    model = create(model_name, m.get("preset"), in_shape=(d["t_in"], 1, 32, 64), t_out=d["t_out"],
                   **m.get("overrides", {})).train()
    try:
        prepare_model(model, speed, torch.device("cpu"))
    except Exception:  # e.g. channels-last on a model without 2-D convolutions
        return None
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, **optimizer_options(speed, torch.device("cpu")))
    x, y = torch.randn(batch, d["t_in"], 1, 32, 64), torch.randn(batch, d["t_out"], 1, 32, 64)
    total = 0.0
    for stage in model.training_stages():
        for k in range(steps + 1):  # the first step warms up
            tick = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            model.training_loss(x, y, stage.name).loss.backward()
            opt.step()
            if k:
                total += stage.fraction * (time.perf_counter() - tick) / steps
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=list(RECIPE_MODELS), help="quick-start recipes to time")
    ap.add_argument("--threads", type=int, default=2, help="torch threads")
    ap.add_argument("--steps", type=int, default=5, help="timed steps per stage and measurement")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the median is reported")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    times: dict[str, dict[str, list[float]]] = {m: {v: [] for v in VARIANTS} for m in args.models}
    for _ in range(args.rounds):
        for m in args.models:
            for v, speed in VARIANTS.items():
                s = step_seconds(m, speed, args.steps)
                if s is not None:
                    times[m][v].append(s)
    load = os.getloadavg()
    head = "| model | " + " | ".join(f"{v} s/step" for v in VARIANTS) + " | fastest (x eager) |"
    lines = [f"# Quick-start training step time by speed option (CPU, {args.threads} threads)", "",
             f"Median of {args.rounds} interleaved rounds of {args.steps} steps per stage; load average after: "
             f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}. n/a: the option does not apply.", "",
             head, "|" + "---|" * (len(VARIANTS) + 2)]
    saved = {}
    for m, per in times.items():
        med = {v: statistics.median(t) for v, t in per.items() if t}
        best = min(med, key=med.get)
        saved[m] = {v: [round(s, 4) for s in per[v]] for v in per}
        cells = " | ".join(f"{med[v]:.3f}" if v in med else "n/a" for v in VARIANTS)
        lines.append(f"| {m} | {cells} | {best} ({med['eager'] / med[best]:.2f}x) |")
    save_table("bench_quick_speed", "\n".join(lines) + "\n", {"load_after": load, "seconds": saved})


if __name__ == "__main__":
    main()
