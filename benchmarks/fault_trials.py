"""Fault trials at scale: kill -9 real `geostp` writers at random moments and count what survives.

Kinds: `prepare` (data prepare --overwrite of store B over store A), `append` (forecast --append onto a
January forecast), `train` (geostp train killed, then --resume; final weights compared with an uninterrupted
run). Each trial checks the output on disk: the old one or the complete new one, old values bit for bit,
verified checksums, no duplicated metrics lines, the run ends at its last step (bit-exactness with the
uninterrupted run is counted, not required: repeats of one uninterrupted run differ now and then on a loaded CPU). The same trials run N=2 per kind in tests/fault/test_kills.py.

  python benchmarks/fault_trials.py [--trials 10] [--kinds prepare append train] [--seed 18]

Prints a table (trials, killed, clear errors, tracebacks, data lost, leftovers, final states) and saves it to
benchmarks/results/fault_trials.txt.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    from tests.fault.trials import KINDS

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=10)
    ap.add_argument("--kinds", nargs="+", default=list(KINDS), choices=list(KINDS))
    ap.add_argument("--seed", default="18")
    args = ap.parse_args()
    rows = []
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.kinds:
            trial = KINDS[kind](Path(tmp) / kind)
            rng = random.Random(f"{args.seed}-{kind}")
            outcomes = [trial.run(rng) for _ in range(args.trials)]
            for o in outcomes:
                print(f"  {o.kind:<18} delay {o.delay:5.2f}s killed={o.killed!s:<5} state={o.state:<9} "
                      f"tracebacks={o.tracebacks} lost={o.lost} exact={o.exact} {' '.join(o.notes)}", flush=True)
            rows.append((trial.kind, len(outcomes), sum(o.killed for o in outcomes),
                         sum(o.clear_errors for o in outcomes), sum(o.tracebacks for o in outcomes),
                         sum(o.lost for o in outcomes), sum(o.leftovers > 0 for o in outcomes),
                         "-" if outcomes[0].exact is None else sum(bool(o.exact) for o in outcomes),
                         ", ".join(f"{k} {v}" for k, v in sorted(Counter(o.state for o in outcomes).items()))))
    head = ("kind", "trials", "killed", "clear errors", "tracebacks", "data lost", "with leftovers", "bit-exact",
            "end states")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(map(str, r)) + " |" for r in rows]
    load = os.getloadavg()
    lines.append(f"\n{sum(r[1] for r in rows)} trials in {time.perf_counter() - t0:.0f} s; load average "
                 f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; seed {args.seed}; `python benchmarks/fault_trials.py "
                 f"--trials {args.trials}`")
    text = "\n".join(lines)
    print(text)
    out = ROOT / "benchmarks" / "results" / "fault_trials.txt"
    out.write_text(text + "\n")
    print(f"saved {out}")


if __name__ == "__main__":
    main()
