"""Moving MNIST: train every registered model briefly, forecast the 10 000 fixed test sequences, compare.

Data (put in $ROOT, default data/moving_mnist):
  mnist_test_seq.npy           http://www.cs.toronto.edu/~nitish/unsupervised_video/mnist_test_seq.npy
                               (20 x 10000 x 64 x 64 uint8, 819 MB): the fixed test split
  train-images-idx3-ubyte.gz   the MNIST training digits (e.g. from the MNIST mirrors listed by torchvision);
                               training sequences are generated on the fly from them (OpenSTL's protocol)

Run:  python examples/04_moving_mnist_all_models.py [--steps 2000] [--models simvp simvpv2 ...]

For each model it trains (`geostp.training.train`, the code behind `geostp train`) with the model's `mmnist`
preset (10 -> 10 frames), forecasts the test split (`geostp.workflows.forecast.run_forecast`), then scores all
forecasts together (`geostp.workflows.evaluate.evaluate_paths`, behind `geostp evaluate`), which
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

from geostp.data.prepare import prepare
from geostp.models import list_models, list_presets
from geostp.training import train
from geostp.workflows.evaluate import evaluate_paths, report_lines
from geostp.workflows.forecast import ForecastRequest, run_forecast

BASELINES = {"persistence", "climatology"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=os.environ.get("ROOT", "data/moving_mnist"))
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--models", nargs="*", default=None)
    args = ap.parse_args()
    models = args.models or [m for m in list_models() if m not in BASELINES and "mmnist" in list_presets(m)]
    if not os.path.exists("mmnist.zarr"):
        prepare("mmnist", "mmnist.zarr", root=args.root)
    forecasts = []
    for name in models:
        run = f"runs/{name}-mmnist"
        if not os.path.exists(f"{run}/best.safetensors"):
            train("pipelines/configs/tiny.yaml", out=run, overwrite=True, overrides=[
                "data.store=mmnist.zarr", "data.variables=null", "data.step=null", "data.t_in=10", "data.t_out=10",
                "data.in_memory=false", f"model.name={name}", "model.preset=mmnist", f"train.max_steps={args.steps}",
                "optim.lr=0.001", f"eval.every={max(args.steps // 4, 1)}"])
        out = f"fc_mmnist_{name}.zarr"
        run_forecast(ForecastRequest(model=name, variables=["frames"], run=run, data="mmnist.zarr", init=["test"],
                                     out=out, overwrite=True, plot=False, score=False))
        forecasts.append(out)
    print("\n".join(report_lines(evaluate_paths(forecasts, "mmnist.zarr", "eval_mmnist"))))


if __name__ == "__main__":
    main()
