"""Zarr format 2 against 3 (sharded) for the lazy window loader: which is geostp's default, measured.

The same archive as `bench_windows.py` (3 variables, 32x64, hourly 1979-1980) written twice by
`write_store`: Zarr v2 (chunks of 256 frames) and Zarr v3 (the same inner chunks in shards of one
loader block). Each loader runs in a fresh process (two whole epochs, as in bench_windows.py: the
second is the steady state), and the rounds alternate the formats, so a change in what else the machine
does hits both alike; the table gives the median over rounds and the v3/v2 ratio of each round. Every
window is checked against geostp's in-memory windows. Saves benchmarks/results/bench_windows_formats.{txt,json}.

Example:
    python benchmarks/bench_windows_formats.py --rounds 3      # ~2 minutes on 2 cores (archives reused with --workdir)
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import bench_windows as bw  # noqa: E402  (the archive, the loaders and the window check are shared)

ROWS = {  # row: (loader of bench_windows.py, format of the store it reads)
    "v2 direct": ("lazy_w0", 2),
    "v3 direct": ("lazy_v3", 3),
    "v2 zarr-python": ("lazy_w0_zarr", 2),
    "v3 zarr-python": ("lazy_v3_zarr", 3),
}


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def table(rounds: list[dict], errors: dict, meta: dict) -> str:
    """Medians over rounds, per row; the paired v3/v2 ratios."""
    head = (f"{'row':<15}| {'win/s med':>9} | {'min':>7} | {'max':>7} | {'1st ep med':>10} | {'win/CPU-s':>9} | "
            f"{'RSS MB':>6} | {'blocks/ep':>9} | {'other%':>6} | check")
    lines = [head, "-" * len(head)]
    med = {}
    for row in ROWS:
        rs = [r[row] for r in rounds]
        w = [r["win_s"] for r in rs]
        med[row] = float(np.median(w))
        ok = "ok" if errors[row] < 1e-3 and all(r["every_window_once"] for r in rs) else "FAIL"
        lines.append(f"{row:<15}| {med[row]:>9.0f} | {min(w):>7.0f} | {max(w):>7.0f} | "
                     f"{np.median([r['first_epoch_win_s'] for r in rs]):>10.0f} | "
                     f"{np.median([r['win_cpu_s'] for r in rs]):>9.0f} | {max(r['rss_peak_mb'] for r in rs):>6.0f} | "
                     f"{rs[0]['block_reads_per_epoch']:>9.0f} | {np.median([r['other_pct'] for r in rs]):>6.0f} | "
                     f"{ok} {errors[row]:.0e}")
    lines.append("")
    for a, b in (("v3 direct", "v2 direct"), ("v3 zarr-python", "v2 zarr-python")):
        ratios = [r[a]["win_s"] / r[b]["win_s"] for r in rounds]
        lines.append(f"{a} / {b}: median {np.median(ratios):.2f} (rounds: {', '.join(f'{x:.2f}' for x in ratios)})")
    lines += [
        "",
        f"archive: {meta['desc']}",
        f"stores: v2 {meta['v2_mb']:.0f} MB ({meta['v2_files']} files), v3 {meta['v3_mb']:.0f} MB ({meta['v3_files']} files); "
        f"loader blocks: {meta['blocks']}",
        f"{len(rounds)} rounds, formats alternating; win/s of the 2nd epoch of a fresh process (steady state), "
        "'1st ep' the first after opening; other% = machine busy share not used by the loader.",
        f"load average (1, 5, 15 min) at start {meta['load_start']}, at end {meta['load_end']}; "
        f"priority: nice {meta['nice']}; machine: {meta['machine']}; {meta['when']}",
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds of every row (default 3)")
    ap.add_argument("--workdir", type=Path, default=None, help="where to write the stores (reused if there)")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "bench_windows_formats",
                    help="output stem: writes STEM.txt and STEM.json")
    args = ap.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench_formats_"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        stores = {2: bw.write_archive(work, [1979, 1980], None, netcdf=False, name="store1x.zarr", zarr_format=2),
                  3: bw.write_archive(work, [1979, 1980], None, netcdf=False, name="store1x_v3.zarr", zarr_format=3)}
        load_start = load_average()
        print(f"load average {load_start}", flush=True)
        rounds = []
        for k in range(args.rounds):
            order = list(ROWS) if k % 2 == 0 else list(reversed(ROWS))
            got = {}
            for row in order:
                loader, fmt = ROWS[row]
                got[row] = bw.in_child(["--child", loader, str(work), str(stores[fmt])])
                print(f"  round {k + 1} {row:<15} {got[row]['win_s']:9.0f} win/s", flush=True)
            rounds.append(got)
        load_end = load_average()
        errors = bw.check_windows({row: rounds[-1][row] for row in ROWS}, stores[2])
        from geostp.data import open_windows

        ref = open_windows(stores[3], "train", bw.T_IN, bw.T_OUT, step=f"{bw.STEP}h")

        def size(p: Path) -> tuple[float, int]:
            files = [f for f in p.rglob("*") if f.is_file()]
            return sum(f.stat().st_size for f in files) / 2**20, len(files)

        (v2_mb, v2_files), (v3_mb, v3_files) = size(stores[2]), size(stores[3])
        meta = {"desc": f"3 variables x {bw.NLAT}x{bw.NLON}, hourly, 1979-1980 (bench_windows.py's)",
                "blocks": f"{ref.n_blocks} blocks of {int(np.median(ref.block_hi - ref.block_lo))} frames "
                          f"(v3 shard = {ref.time_chunk} frames)",
                "v2_mb": v2_mb, "v2_files": v2_files, "v3_mb": v3_mb, "v3_files": v3_files,
                "load_start": load_start, "load_end": load_end, "nice": os.nice(0),
                "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
                "when": time.strftime("%Y-%m-%d %H:%M")}
        text = table(rounds, errors, meta)
        print()
        print(text)
        bw.save(args.out, text, {"rounds": [bw.without_check(got) for got in rounds], "check_rel_err": errors,
                                 "meta": meta})
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
