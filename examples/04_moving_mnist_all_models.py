"""Moving MNIST: train every registered model briefly, forecast the 10 000 fixed test sequences, compare.

Data (put in $ROOT, default data/moving_mnist):
  mnist_test_seq.npy           http://www.cs.toronto.edu/~nitish/unsupervised_video/mnist_test_seq.npy
                               (20 x 10000 x 64 x 64 uint8, 819 MB): the fixed test split
  train-images-idx3-ubyte.gz   the MNIST training digits (e.g. from the MNIST mirrors listed by torchvision);
                               training sequences are generated on the fly from them (OpenSTL's protocol)

Run:  python examples/04_moving_mnist_all_models.py [--steps 2000] [--models simvp simvpv2 ...]

For each model it runs `geostp train` with the model's `mmnist` preset (10 -> 10 frames), forecasts the
test split with `geostp forecast`, then scores all forecasts together with `geostp evaluate`, which
prints MSE / MAE / SSIM / PSNR per lead time (OpenSTL conventions: per-frame sums on the [0, 1] scale,
SSIM with data range 2) with bootstrap intervals, and a scorecard of percent changes against
persistence, and writes eval_mmnist/mse_vs_lead.png.

Expected: with a few thousand steps every learned model beats persistence and the climatology
(the mean frame) by a wide margin in MSE; for the published 200-epoch numbers see OpenSTL's model zoo
(e.g. SimVP+gSTA-S MSE 26.69, MAE 77.19, SSIM 0.9402). On a CPU use --steps 200 for a smoke run
(minutes per model); the ranking is only meaningful after GPU-length training.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

from geostp.models import list_models, list_presets

BASELINES = {"persistence", "climatology"}


def sh(*args: str) -> None:
    print("$", " ".join(args), flush=True)
    subprocess.run(args, check=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=os.environ.get("ROOT", "data/moving_mnist"))
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--models", nargs="*", default=None)
    args = ap.parse_args()
    geostp = [sys.executable, "-m", "geostp.cli.main"]
    models = args.models or [m for m in list_models() if m not in BASELINES and "mmnist" in list_presets(m)]
    if not os.path.exists("mmnist.zarr"):
        sh(*geostp, "data", "prepare", "mmnist", "--root", args.root, "--out", "mmnist.zarr")
    forecasts = []
    for name in models:
        run = f"runs/{name}-mmnist"
        if not os.path.exists(f"{run}/best.safetensors"):
            sh(*geostp, "train", "--config", "pipelines/configs/tiny.yaml", "--out", run, "--overwrite",
               "--set", "data.store=mmnist.zarr", "--set", "data.variables=null", "--set", "data.step=null",
               "--set", "data.t_in=10", "--set", "data.t_out=10", "--set", "data.in_memory=false",
               "--set", f"model.name={name}", "--set", "model.preset=mmnist",
               "--set", f"train.max_steps={args.steps}", "--set", "optim.lr=0.001",
               "--set", f"eval.every={max(args.steps // 4, 1)}")
        out = f"fc_mmnist_{name}.zarr"
        sh(*geostp, "forecast", "--model", name, "--var", "frames", "--run", run, "--data", "mmnist.zarr",
           "--init", "test", "--out", out, "--overwrite", "--no-plot", "--no-score")
        forecasts.append(out)
    sh(*geostp, "evaluate", *forecasts, "--truth", "mmnist.zarr", "--out", "eval_mmnist")


if __name__ == "__main__":
    main()
