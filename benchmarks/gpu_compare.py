"""Ratios of geostp's training and inference rates to the reference code's, and the Moving MNIST curve goal.

Reads what benchmarks/gpu_suite.sh left in OUT_DIR: bench_models_<device>[_quick].json (geostp), peers.txt
(the reference code's JSON lines, from the same run) and mmnist/mmnist_curve.json. Without a same-run peer
file the H100 figures in benchmarks/results/peer_h100_eager.txt are shown, labelled as another machine.

Example:
    python benchmarks/gpu_compare.py gpu_out/
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

HERE = Path(__file__).parent
STORED_PEERS = HERE / "results" / "peer_h100_eager.txt"
# geostp model -> the reference code's row name in the peer script (Moving MNIST configs)
PEER_NAME = {"simvpv2": "simvp_gsta_mmnist", "simvp": "simvp_incepu_mmnist", "stlight": "stlight_L_mmnist",
             "convlstm": "convlstm_mmnist", "swinlstm": "swinlstm_D_mmnist"}
TRAIN_GOAL = 2.0  # geostp training >= 2x the reference (issue goal)
CURVE_GOAL = {"mse": 59.3, "train_s": 132.0}  # reference MSE after 10 epochs, in half its training time


def peer_rates(path: Path) -> dict[tuple[str, str], float]:
    """(peer model, mode) -> samples/s from the peer script's JSON lines (batch-16 rows)."""
    out = {}
    for line in path.read_text().splitlines() if path.is_file() else []:
        if line.startswith("{"):
            row = json.loads(line)
            if row.get("batch") == 16:
                out[(row["model"], row["mode"])] = row["samples_per_s"]
    return out


def best(d: dict[str, float | None]) -> tuple[str, float | None]:
    ok = {k: v for k, v in d.items() if v is not None}
    return (max(ok, key=ok.get), max(ok.values())) if ok else ("-", None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, help="the folder gpu_suite.sh wrote, e.g. gpu_out/")
    args = parser.parse_args()
    found = sorted(args.out.glob("bench_models_*.json"))
    if not found:
        raise SystemExit(f"no bench_models_*.json in {args.out}: run benchmarks/gpu_suite.sh {args.out} first")
    geo = json.loads(found[0].read_text())
    peers, where = peer_rates(args.out / "peers.txt"), "same run"
    if not peers:
        peers, where = peer_rates(STORED_PEERS), f"NOT the same run: {STORED_PEERS.name} (H100, ../shared/peers)"
    print(f"# geostp vs reference code: {geo['device']}, torch {geo['torch']}, batch {geo['batch']}; reference: {where}\n")
    if geo["device"].startswith("CPU"):
        print("(geostp measured on a CPU: a dry run, the ratios only check the plumbing)\n")
    print("| model | preset | geostp train eager | geostp train best (variant) | reference train fp32 | ratio best/ref "
          f"| goal >= {TRAIN_GOAL:g}x | geostp infer best | reference infer fp32 | ratio |")
    print("|" + "---|" * 10)
    for r in geo["rows"]:
        ref_name = PEER_NAME.get(r["model"])
        var, tr = best(r["train"])
        ivar, inf = best(r["infer"])
        ref_t = peers.get((ref_name, "train_fp32"))
        ref_i = peers.get((ref_name, "infer_fp32"))
        ratio = tr / ref_t if tr and ref_t else None
        iratio = inf / ref_i if inf and ref_i else None
        eager = r["train"].get("eager")
        print(f"| {r['model']} | {r['preset']} | {eager and round(eager, 1)} | {tr and round(tr, 1)} ({var}) | {ref_t or '-'} "
              f"| {f'{ratio:.2f}x' if ratio else '-'} | {'met' if ratio and ratio >= TRAIN_GOAL else 'NOT met' if ratio else '-'} "
              f"| {inf and round(inf, 1)} ({ivar}) | {ref_i or '-'} | {f'{iratio:.2f}x' if iratio else '-'} |")
    curve = args.out / "mmnist" / "mmnist_curve.json"
    if curve.is_file():
        c = json.loads(curve.read_text())
        last = c["rows"][-1] if c["rows"] else None
        if last:
            ok = last["mse"] <= CURVE_GOAL["mse"] and last["train_s"] <= CURVE_GOAL["train_s"]
            print(f"\nMoving MNIST SimVPv2{' (DRY RUN)' if c['dry_run'] else ''}: MSE {last['mse']:.1f} after "
                  f"{last['train_s']:.0f} s of training (goal: <= {CURVE_GOAL['mse']} in <= {CURVE_GOAL['train_s']:g} s): "
                  f"{'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()
