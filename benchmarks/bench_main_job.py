"""The main job's time and skill: `geostp forecast --model vip_mixer --var t850` on an empty cache and again,
then each model's quick start (training on the sample, 722 init times forecast and scored).

Every call runs the real CLI in a subprocess with its own GEOSTP_CACHE_DIR (the cache geostp.data.sample
uses for the sample and quick-start runs): the first call of the main job starts from an empty one; the
second writes a new --out, so all init times are forecast and scored again; the quick starts of the other
models reuse the sample built by the first call (their training and forecast are fresh). Wall and CPU
seconds (children's user+sys: on a shared machine the CPU time is the load-independent figure) and the
load average are recorded with the RMSE per lead next to persistence and climatology. Saves
benchmarks/results/bench_main_job.{md,json}.

Examples:
    python benchmarks/bench_main_job.py                               # main job + every quick start
    python benchmarks/bench_main_job.py --models                      # main job only
    python benchmarks/bench_main_job.py --models convlstm --no-main   # one quick start
    python benchmarks/bench_main_job.py --reproduce                   # also retrain the shipped run and compare
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
QUICK_MODELS = ("simvp", "simvpv2", "stlight", "convlstm", "swinlstm", "s_hr_vqvae")
GEOSTP = [sys.executable, "-m", "geostp.cli.main"]


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_cli(args: list[str], cache: Path, log: Path) -> dict:
    """Run `geostp ARGS` with GEOSTP_CACHE_DIR=cache; wall, CPU, load, exit code, printed lines and scores."""
    env = {**os.environ, "GEOSTP_CACHE_DIR": str(cache)}
    load0, cpu0, wall0 = os.getloadavg(), _children_cpu(), time.perf_counter()
    proc = subprocess.run(GEOSTP + args, env=env, capture_output=True, text=True)
    wall, cpu, load1 = time.perf_counter() - wall0, _children_cpu() - cpu0, os.getloadavg()
    log.write_text(proc.stdout + "\n--- stderr ---\n" + proc.stderr)
    out = {"args": args, "rc": proc.returncode, "wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
           "load_before": [round(v, 2) for v in load0], "load_after": [round(v, 2) for v in load1],
           "log": str(log), "notes": [ln for ln in proc.stdout.splitlines() if ln.startswith(("Using", "The shipped", "No trained"))]}
    csv = next((ln.split("scores: ", 1)[1].strip() for ln in proc.stdout.splitlines() if ln.startswith("scores: ")), None)
    if csv and Path(csv).with_suffix(".nc").is_file():
        import xarray as xr

        s = xr.load_dataset(Path(csv).with_suffix(".nc")).sel(metric="rmse").isel(variable=0).squeeze(drop=True)
        out["lead_hours"] = [float(v / 3.6e12) for v in s["lead_time"].values.astype("timedelta64[ns]").astype("int64")]
        out["rmse"] = {str(m): [round(float(v), 4) for v in s["value"].sel(model=m).values] for m in s["model"].values}
        out["n_init"] = int(s["n_init"])
    return out


def beats(row: dict, model: str, ref: str) -> bool | None:
    r = row.get("rmse")
    if not r or model not in r or ref not in r:
        return None
    return all(a < b for a, b in zip(r[model], r[ref]))


def table(rows: list[dict]) -> str:
    lines = ["| job | model | wall s | CPU s | load avg (1/5/15 min, before) | beats persistence at every lead "
             "| beats climatology at every lead | RMSE 6 h / 24 h / 72 h (model; persistence; climatology) K |",
             "|" + "---|" * 8]
    for row in rows:
        m = row["model"]
        r, hours = row.get("rmse", {}), row.get("lead_hours", [])
        pick = [hours.index(h) for h in (6.0, 24.0, 72.0) if h in hours]
        cell = "; ".join("/".join(f"{r[k][i]:.3f}" for i in pick) for k in (m, "persistence", "climatology") if k in r)
        lines.append(f"| {row['job']} | {m} | {row['wall_s']} | {row['cpu_s']} | {' '.join(map(str, row['load_before']))} "
                     f"| {beats(row, m, 'persistence')} | {beats(row, m, 'climatology')} | {cell or 'rc ' + str(row['rc'])} |")
    return "\n".join(lines)


def per_lead(rows: list[dict]) -> str:
    """RMSE at every lead of every job that scored (the README's quick-start table)."""
    lines = []
    for row in rows:
        r = row.get("rmse")
        if not r:
            continue
        lines.append(f"\n{row['job']} ({row['model']}), {row.get('n_init')} init times, RMSE [K]:\n")
        lines.append("| lead h | " + " | ".join(r) + " |")
        lines.append("|" + "---|" * (len(r) + 1))
        for i, h in enumerate(row["lead_hours"]):
            lines.append(f"| {h:g} | " + " | ".join(f"{r[k][i]:.3f}" for k in r) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="*", default=list(QUICK_MODELS), help="quick starts to run after the main job")
    parser.add_argument("--no-main", action="store_true", help="skip the main job (quick starts build their own sample)")
    parser.add_argument("--reproduce", action="store_true",
                        help="also retrain the shipped vip_mixer run with its documented command and compare its RMSE")
    parser.add_argument("--keep", type=Path, default=None, help="keep the caches and outputs here (default: a temp dir)")
    args = parser.parse_args()

    root = args.keep or Path(tempfile.mkdtemp(prefix="geostp-bench-main-"))
    root.mkdir(parents=True, exist_ok=True)
    cache = root / "cache"
    rows: list[dict] = []

    def record(job: str, model: str, cli: list[str], cache_dir: Path) -> None:
        row = {"job": job, "model": model, **run_cli(cli, cache_dir, root / f"{job}-{model}.log")}
        rows.append(row)
        print(f"{job:22s} {model:10s} wall {row['wall_s']:7.1f} s  CPU {row['cpu_s']:7.1f} s  load {row['load_before']}  "
              f"rc {row['rc']}  beats persistence {beats(row, model, 'persistence')}  "
              f"climatology {beats(row, model, 'climatology')}", flush=True)

    if not args.no_main:
        shutil.rmtree(cache, ignore_errors=True)
        record("main job, fresh cache", "vip_mixer", ["forecast", "--model", "vip_mixer", "--var", "t850"], cache)
        record("main job, second call", "vip_mixer", ["forecast", "--model", "vip_mixer", "--var", "t850", "--out",
                                                      str(root / "second.zarr")], cache)
    for m in args.models:
        record("quick start", m, ["forecast", "--model", m, "--var", "t850", "--out", str(root / f"{m}.zarr")], cache)

    text = (f"# bench_main_job ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores, "
            f"python {sys.version.split()[0]})\n\n"
            "Each job is `geostp forecast --model M --var t850` in a subprocess; CPU s = user + sys of the process "
            "tree (independent of the load); load average before the job.\n\n" + table(rows) + "\n" + per_lead(rows) + "\n")
    if args.reproduce:
        from geostp.forecast import shipped

        manifest = shipped.read_manifest("vip_mixer", ["t850"])
        redo = root / "reproduce"
        env = {**os.environ, "GEOSTP_CACHE_DIR": str(cache)}
        tick = time.perf_counter()
        subprocess.run([sys.executable, "-m", "geostp.workflows.shipped", "--model", "vip_mixer", "--var", "t850",
                        "--out-root", str(redo)], env=env, check=True)
        again = json.loads((redo / "vip_mixer-t850" / shipped.MANIFEST).read_text())
        a, b = manifest["rmse"]["vip_mixer"], again["rmse"]["vip_mixer"]
        worst = max(abs(x - y) / y for x, y in zip(a, b))
        text += (f"\nReproduction of the shipped run with `{manifest['command']}` ({time.perf_counter() - tick:.0f} s): "
                 f"RMSE per lead shipped {a} vs retrained {b}; largest relative difference {worst:.1%} "
                 f"(tolerance 5%: {'within' if worst <= 0.05 else 'NOT within'}).\n")
    print("\n" + text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "bench_main_job.md").write_text(text)
    (RESULTS / "bench_main_job.json").write_text(json.dumps(rows, indent=1))
    print(f"saved {RESULTS / 'bench_main_job.md'}; logs and outputs in {root}")


if __name__ == "__main__":
    main()
