"""Moving MNIST learning curve of geostp's SimVPv2 by the peer protocol, beside the reference code's curve.

Protocol (as ../shared/peers/train_peer_mmnist.py runs OpenSTL's SimVP gSTA): two 28x28 MNIST digits
bouncing in 64x64 frames, 10 -> 10; 10,000 freshly generated training sequences per epoch; a fixed test set
of 2,000 generated sequences (seed 1234); Adam with one-cycle peaking at 1e-3; batch 16; 10 epochs.
Metric: OpenSTL's Moving MNIST MSE/MAE (per frame: sum over the 64x64 pixels on the [0, 1] scale, then the
mean over frames and sequences), which is geostp's `mse`/`mae` for frame stores averaged over leads.

The digits come from an MNIST IDX file (the peer uses the 10,000 test digits for training and test
alike; so does this script, so the two curves see the same data distribution). Steps: write a raw folder
in the published layout (`mnist_test_seq.npy` frames first + the IDX digits), `geostp data prepare mmnist`,
train with pipelines/configs/simvpv2_mmnist.yaml (validation each epoch on the 2,000 test sequences), then
print the per-epoch table and draw the curve. `--dry-run` does all of it on a CPU with the tiny preset,
4 steps of 16 training sequences and 32 test sequences (about a minute on a quiet 2-core machine).

Examples:
    python benchmarks/mmnist_curve.py --digits .peer/t10k-images-idx3-ubyte.gz --out gpu_out/   # on a GPU
    python benchmarks/mmnist_curve.py --digits ../shared/data/mnist/t10k-images-idx3-ubyte.gz --out /tmp/mm --dry-run
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np

from geostp.catalogs.mmnist import read_idx_images
from geostp.data.generators import moving_mnist_sequence
from geostp.io import atomic_write_text

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "pipelines" / "configs" / "simvpv2_mmnist.yaml"
PEER_CURVE = Path(__file__).parent / "results" / "peer_h100_simvp_gsta_mmnist_curve.json"


def write_raw(digits_file: Path, raw: Path, n_test: int, seed: int) -> None:
    """The published Moving MNIST layout: a frames-first (20, n_test, 64, 64) uint8 test file generated with
    `seed` (one generator per sequence, seeded (seed, i)) and the digits under the name the reader expects."""
    raw.mkdir(parents=True, exist_ok=True)
    digits = read_idx_images(digits_file)
    seqs = np.stack([moving_mnist_sequence(np.random.default_rng([seed, i]), digits, 20) for i in range(n_test)])
    np.save(raw / "mnist_test_seq.npy", np.ascontiguousarray(seqs.transpose(1, 0, 2, 3)))
    suffix = ".gz" if digits_file.suffix == ".gz" else ""
    shutil.copyfile(digits_file, raw / f"train-images-idx3-ubyte{suffix}")


def curve(run: Path, batch: int, epoch_length: int = 10000) -> list[dict[str, float]]:
    """Per validation: epoch, cumulative training seconds (validation excluded), OpenSTL MSE and MAE."""
    from geostp.training.logging import read_metrics

    rows, train_s, last_step = [], 0.0, 0
    for e in read_metrics(run / "metrics.jsonl"):
        if e["event"] == "train":
            train_s += (e["step"] - last_step) * batch / e["samples_per_s"]
            last_step = e["step"]
        elif e["event"] == "valid":
            mse = [v for k, v in e.items() if k.startswith("val/mse/")]
            mae = [v for k, v in e.items() if k.startswith("val/mae/")]
            rows.append({"epoch": round(e["step"] * batch / epoch_length, 3), "step": e["step"], "train_s": round(train_s, 1),
                         "mse": round(float(np.mean(mse)), 3), "mae": round(float(np.mean(mae)), 3)})
    return rows


def plot(rows: list[dict[str, float]], peer: dict | None, png: Path) -> None:
    """MSE against training seconds, geostp beside the reference code."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot([r["train_s"] for r in rows], [r["mse"] for r in rows], "o-", label="geostp simvpv2")
    if peer:
        pc = peer["curve"]
        ax.plot([r["train_s"] for r in pc], [r["mse"] for r in pc], "s--", label=f"OpenSTL SimVP gSTA ({peer['device']})")
    ax.set_xlabel("training time [s] (validation excluded)")
    ax.set_ylabel("test MSE (per-frame sum, [0,1] scale)")
    ax.set_title("Moving MNIST, 10 -> 10, batch 16")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(png, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--digits", required=True, type=Path,
                        help="MNIST IDX image file (optionally .gz), e.g. .peer/t10k-images-idx3-ubyte.gz")
    parser.add_argument("--out", required=True, type=Path, help="folder for the raw data, store, run and tables")
    parser.add_argument("--epochs", type=int, default=10, help="training epochs of 10,000 sequences (default 10)")
    parser.add_argument("--test-sequences", type=int, default=2000, help="fixed test sequences (default 2000)")
    parser.add_argument("--test-seed", type=int, default=1234, help="seed of the test sequences (default 1234)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="extra config overrides, e.g. --set speed.compile=true --set train.precision=fp32")
    parser.add_argument("--dry-run", action="store_true",
                        help="CPU-sized check of the whole path: tiny model, 4 steps of 16 sequences, 32 test sequences")
    args = parser.parse_args()
    if not args.digits.is_file():
        raise SystemExit(f"no MNIST digits at {args.digits}: pass --digits PATH to an IDX image file "
                         "(e.g. t10k-images-idx3-ubyte.gz)")

    from geostp.data.prepare import prepare
    from geostp.training import train

    out = args.out.resolve()
    n_test = 32 if args.dry_run else args.test_sequences
    t0 = time.perf_counter()
    write_raw(args.digits, out / "raw", n_test, args.test_seed)
    store = prepare("mmnist", out / "mmnist.zarr", root=str(out / "raw"), overwrite=True, progress=False,
                    echo=lambda m: None)
    print(f"data: {n_test} test sequences generated and prepared in {time.perf_counter() - t0:.1f} s", flush=True)
    overrides = [f"data.store={store}", f"train.epochs={args.epochs}", f"data.valid_max_windows={n_test}"]
    if args.dry_run:  # the same path, CPU-sized: 4 steps of 16 = 64 sequences per "epoch"
        overrides += ["model.preset=tiny", "train.max_steps=4", "eval.every=2", "data.num_workers=0",
                      "train.precision=fp32", "eval.batch_size=16", "train.log_every=2"]
    run = train(CONFIG, out=out / "run", overrides=overrides + args.overrides, overwrite=True)
    rows = curve(run, 16)
    peer = json.loads(PEER_CURVE.read_text()) if PEER_CURVE.is_file() else None
    lines = ["| epoch | step | train s | MSE | MAE | reference MSE | reference train s |", "|---|---|---|---|---|---|---|"]
    for i, r in enumerate(rows):
        ref = peer["curve"][i] if peer and i < len(peer["curve"]) else {}
        lines.append(f"| {r['epoch']:g} | {r['step']} | {r['train_s']} | {r['mse']:.1f} | {r['mae']:.1f} "
                     f"| {ref.get('mse', '-')} | {ref.get('train_s', '-')} |")
    head = (f"# Moving MNIST SimVPv2 curve ({'DRY RUN, tiny model' if args.dry_run else 'peer protocol'}); "
            f"overrides: {' '.join(overrides + args.overrides)}\n\n")
    if peer:
        head += f"Reference: {peer['model']} on {peer['device']}, torch {peer['torch']} (../shared/peers).\n\n"
    text = head + "\n".join(lines) + "\n"
    print(text)
    atomic_write_text(out / "mmnist_curve.md", text)
    atomic_write_text(out / "mmnist_curve.json", json.dumps({"rows": rows, "dry_run": args.dry_run}, indent=1))
    plot(rows, peer, out / "mmnist_curve.png")
    print(f"saved {out / 'mmnist_curve.md'} and .png")


if __name__ == "__main__":
    main()
