"""The quick run on a 73 x 144 monthly store (issue 11): `geostp forecast --model vip_mixer --var air --data STORE`
with an empty cache, i.e. quick training + forecast of the test split + scores + map, timed as one command.

The store is the synthetic NCEP/NCAR-style monthly file of `tests/fixtures/own_files.write_ncep_monthly` (73 x 144,
2.5 deg, latitude 90 -> -90, days since 1800) for 1990-2009, prepared (not timed) with splits train 1990-2005 /
valid 2006-2007 / test 2008-2009. The forecast runs in a subprocess with its own GEOSTP_CACHE_DIR; wall seconds,
CPU seconds (the child's user + sys: the load-independent figure on a shared machine), the load average before and
after, and the RMSE per lead next to persistence and the monthly climatology are recorded, with the targets:
wall <= 300 s, the model beats persistence at every lead and is within 15 % of the climatology at every lead.
Saves benchmarks/results/bench_quick_own.{md,json}.

Examples:
    python benchmarks/bench_quick_own.py                          # the default quick recipe
    python benchmarks/bench_quick_own.py --args="--quick-steps 100"  # a variant (extra `geostp forecast` options)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results"
GEOSTP = [sys.executable, "-m", "geostp.cli.main"]
SPLITS = "train=1990-2005,valid=2006-2007,test=2008-2009"


def _children_cpu() -> tuple[float, float]:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime, r.ru_stime


def make_store(work: Path) -> Path:
    """Write the 20-year NCEP-style file and prepare it (untimed)."""
    sys.path.insert(0, str(ROOT))
    from tests.fixtures.own_files import write_ncep_monthly

    src = write_ncep_monthly(work / "ncep20.nc", years=range(1990, 2010))
    store = work / "ncep20.zarr"
    subprocess.run(GEOSTP + ["data", "prepare", "custom", "--path", str(src), "--var", "air", "--splits", SPLITS,
                             "--out", str(store), "--overwrite", "--no-progress"], check=True, capture_output=True)
    return store


def timed_forecast(store: Path, work: Path, extra: list[str]) -> dict:
    """`geostp forecast` on `store` with an empty cache: wall, CPU, load, and the scores it printed."""
    import pandas as pd

    cache = work / f"cache-{time.time_ns()}"
    args = ["forecast", "--model", "vip_mixer", "--var", "air", "--data", str(store), *extra]
    env = {**os.environ, "GEOSTP_CACHE_DIR": str(cache)}
    load0, (u0, s0), wall0 = os.getloadavg(), _children_cpu(), time.perf_counter()
    proc = subprocess.run(GEOSTP + args, env=env, capture_output=True, text=True, cwd=work)
    wall, (u1, s1), load1 = time.perf_counter() - wall0, _children_cpu(), os.getloadavg()
    (work / "forecast.log").write_text(proc.stdout + "\n--- stderr ---\n" + proc.stderr)
    out = {"command": "geostp " + shlex.join(args), "rc": proc.returncode, "wall_s": round(wall, 1),
           "user_s": round(u1 - u0, 1), "sys_s": round(s1 - s0, 1), "load_before": [round(v, 2) for v in load0],
           "load_after": [round(v, 2) for v in load1],
           "trained": [ln for ln in proc.stdout.splitlines() if ln.startswith("No trained")]}
    csv = next((ln.split("scores: ", 1)[1].strip() for ln in proc.stdout.splitlines() if ln.startswith("scores: ")), None)
    if proc.returncode or csv is None:
        out["error"] = (proc.stderr or proc.stdout)[-2000:]
        return out
    df = pd.read_csv(csv)
    rmse = df[df["metric"] == "rmse"]
    out["n_init"] = int(rmse["n_init"].iloc[0])
    out["rmse"] = {m: {r.lead: round(float(r.value), 4) for r in g.itertuples()} for m, g in rmse.groupby("model")}
    return out


def verdict(res: dict) -> dict:
    """The issue's targets on one result."""
    r = res.get("rmse")
    if not r:
        return {"ok": False}
    leads = list(r["vip_mixer"])
    beats = all(r["vip_mixer"][k] < r["persistence"][k] for k in leads)
    ratio = max(r["vip_mixer"][k] / r["climatology"][k] for k in leads)
    return {"wall_le_300s": res["wall_s"] <= 300, "beats_persistence_every_lead": beats,
            "worst_ratio_to_climatology": round(ratio, 3), "within_15pct_of_climatology": ratio <= 1.15}


def table(res: dict) -> str:
    r = res["rmse"]
    lines = ["| lead | vip_mixer | persistence | climatology |", "|---|---|---|---|"]
    lines += [f"| {k} | {r['vip_mixer'][k]:.3f} | {r['persistence'][k]:.3f} | {r['climatology'][k]:.3f} |"
              for k in sorted(r["vip_mixer"], key=lambda s: int(s.rstrip("month")))]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--args", default="", help="extra `geostp forecast` options, e.g. '--quick-steps 100'")
    ap.add_argument("--workdir", default=None, help="where the file, store and caches go (default: a temp dir)")
    ap.add_argument("--save", action=argparse.BooleanOptionalAction, default=True)
    opts = ap.parse_args()
    work = Path(opts.workdir or tempfile.mkdtemp(prefix="bench_quick_own-"))
    work.mkdir(parents=True, exist_ok=True)
    store = work / "ncep20.zarr"
    if not store.exists():
        store = make_store(work)
    res = timed_forecast(store, work, shlex.split(opts.args))
    res.update(verdict(res), date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), cores=os.cpu_count())
    print(json.dumps(res, indent=1))
    if "rmse" in res:
        print(table(res))
    if opts.save:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "bench_quick_own.json").write_text(json.dumps(res, indent=1) + "\n")
        md = (f"# Quick run on a 73 x 144 monthly store ({res['date']}, {res['cores']} cores)\n\n`{res['command']}` "
              f"(empty cache: training + forecast + scores + map)\n\nwall {res['wall_s']} s, CPU user {res['user_s']} s + "
              f"sys {res['sys_s']} s, load average before {res['load_before']}, after {res['load_after']}\n\n")
        md += table(res) + "\n" if "rmse" in res else f"failed: {res.get('error', '')}\n"
        (RESULTS / "bench_quick_own.md").write_text(md)


if __name__ == "__main__":
    main()
