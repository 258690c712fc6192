"""Moving MNIST: train every registered model briefly, forecast the 10 000 fixed test sequences, compare.

Data (in --root, default $ROOT or ~/data/moving_mnist):
  mnist_test_seq.npy           http://www.cs.toronto.edu/~nitish/unsupervised_video/mnist_test_seq.npy
                               (20 x 10000 x 64 x 64 uint8, 819 MB): the fixed test split
  train-images-idx3-ubyte.gz   the MNIST training digits (e.g. from the MNIST mirrors listed by torchvision);
                               training sequences are generated on the fly from them (OpenSTL's protocol)

Run:  python examples/04_moving_mnist_all_models.py [--root DIR] [--work DIR] [--steps 2000] [--models simvp ...]
      (--help lists the options). Outputs (store, runs, forecasts, scores) go to --work
      (default ~/geostp-examples/04_moving_mnist); nothing is written into the repository.

Time: with the default 2000 steps, hours per model on a 2-core CPU and minutes on one GPU; --steps 200
is a CPU smoke run (a few minutes per model).

For each model it trains (`geostp.training.train`, the code behind `geostp train`) with the model's `mmnist`
preset (10 -> 10 frames), forecasts the test split (`geostp.workflows.forecast.run_forecast`), then scores all
forecasts together (`geostp.workflows.evaluate.evaluate_paths`, behind `geostp evaluate`), which
prints MSE / MAE / SSIM / PSNR per lead time (OpenSTL conventions: per-frame sums on the [0, 1] scale,
SSIM with data range 2) with bootstrap intervals, and a scorecard of percent changes against
persistence, and writes eval_mmnist/mse_vs_lead.png.

Expected: with a few thousand steps every learned model beats persistence and the climatology
(the mean frame) by a wide margin in MSE; for the published 200-epoch numbers see OpenSTL's model zoo
(e.g. SimVP+gSTA-S MSE 26.69, MAE 77.19, SSIM 0.9402); the ranking is only meaningful after GPU-length
training.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BASELINES = {"persistence", "climatology"}
NEEDED = ("mnist_test_seq.npy", "train-images-idx3-ubyte.gz")


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", default=os.environ.get("ROOT", str(Path.home() / "data" / "moving_mnist")),
                    help="folder holding mnist_test_seq.npy and train-images-idx3-ubyte.gz "
                         "(default: $ROOT or ~/data/moving_mnist)")
    ap.add_argument("--work", default=str(Path.home() / "geostp-examples" / "04_moving_mnist"),
                    help="where the store, runs, forecasts and scores are written (default: %(default)s)")
    ap.add_argument("--steps", type=int, default=2000,
                    help="training steps per model (default: %(default)s; 200 for a CPU smoke run)")
    ap.add_argument("--models", nargs="*", default=None, metavar="NAME",
                    help="models to compare (default: every registered model with an mmnist preset)")
    return ap.parse_args()


def run(args: argparse.Namespace, root: Path) -> None:
    from geostp.data.prepare import prepare
    from geostp.models import list_models, list_presets
    from geostp.training import train
    from geostp.workflows.evaluate import evaluate_paths, report_lines
    from geostp.workflows.forecast import ForecastRequest, run_forecast

    models = args.models or [m for m in list_models() if m not in BASELINES and "mmnist" in list_presets(m)]
    if not os.path.exists("mmnist.zarr"):
        prepare("mmnist", "mmnist.zarr", root=str(root))
    forecasts = []
    for name in models:
        run_dir = f"runs/{name}-mmnist"
        if not os.path.exists(f"{run_dir}/best.safetensors"):
            train(str(REPO / "pipelines" / "configs" / "tiny.yaml"), out=run_dir, overwrite=True, overrides=[
                "data.store=mmnist.zarr", "data.variables=null", "data.step=null", "data.t_in=10", "data.t_out=10",
                "data.in_memory=false", f"model.name={name}", "model.preset=mmnist", f"train.max_steps={args.steps}",
                "optim.lr=0.001", f"eval.every={max(args.steps // 4, 1)}"])
        out = f"fc_mmnist_{name}.zarr"
        run_forecast(ForecastRequest(model=name, variables=["frames"], run=run_dir, data="mmnist.zarr", init=["test"],
                                     out=out, overwrite=True, plot=False, score=False))
        forecasts.append(out)
    print("\n".join(report_lines(evaluate_paths(forecasts, "mmnist.zarr", "eval_mmnist"))))


def main() -> None:
    args = parse_args()
    root = Path(args.root).expanduser().resolve()
    missing = [n for n in NEEDED if not (root / n).is_file()]
    if missing:
        print(f"error: {', '.join(missing)} not found in {root}; pass --root DIR (or set ROOT) to the folder "
              "holding the Moving MNIST files (see the top of this file for where to get them)", file=sys.stderr)
        raise SystemExit(2)
    from geostp.errors import GeostpError

    work = Path(args.work).expanduser()
    work.mkdir(parents=True, exist_ok=True)
    os.chdir(work)
    print(f"writing to {work}", flush=True)
    try:
        run(args, root)
    except GeostpError as exc:  # one clear line, as the geostp command prints it
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
