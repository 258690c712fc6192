"""Window loading speed: naive xarray, xbatcher, geostp lazy (0 and 2 workers) and in memory, in one run.

Writes a WeatherBench-like archive (3 variables at 5.625 deg, 32x64, hourly, 2 years) twice: as yearly
NetCDF files in WeatherBench v1's layout (for the naive loader) and as a geostp store (write_store).
Every loader yields shuffled batches of 16 windows of 12 + 12 six-hourly frames; each loader runs in
its own process (clean CPU time and peak RSS), and every loader's windows are checked against geostp's
in-memory windows. Peak RSS of the lazy path is also measured on a store 3x larger, to show that it is
bounded by the block pool and not by the store. Saves benchmarks/results/bench_windows.{txt,json}.

Rows under the line: the same lazy loader on the store written as Zarr v3 with shards (`lazy_v3`: the
direct shard reader; `lazy_v3_zarr`: through zarr-python), and on a copy of the v2 store served by a
local S3-compatible server (`object_store`: moto_server on 127.0.0.1, a Python process on the same
cores, so its figure is a floor for a real object store, not an estimate of one).

Example:
    python benchmarks/bench_windows.py            # full run, ~3-4 minutes on 2 cores
    python benchmarks/bench_windows.py --quick    # smoke run in seconds (tiny archive, not saved)
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

import numpy as np

T_IN, T_OUT, STEP, BATCH = 12, 12, 6, 16
SPAN = (T_IN + T_OUT - 1) * STEP + 1
VARS = {  # short name: (WeatherBench v1 folder, file stem, name inside the file, mean, spread)
    "t850": ("temperature_850", "temperature_850hPa", "t", 260.0, 15.0),
    "z500": ("geopotential_500", "geopotential_500hPa", "z", 54000.0, 3000.0),
    "t2m": ("2m_temperature", "2m_temperature", "t2m", 278.0, 20.0),
}
NLAT, NLON = 32, 64
LOADERS = {
    "naive": "open_mfdataset+merge per window, isel, .values",
    "xbatcher": "xbatcher BatchGenerator per 6h phase, bgen[k]",
    "torch_random": "geostp lazy, plain DataLoader(shuffle=True), w=0",
    "lazy_w0": "geostp lazy, ds.loader(16), in-process",
    "lazy_w2": "geostp lazy, ds.loader(16, num_workers=2)",
    "inmem": "geostp in_memory=True, ds.loader(16)",
    "lazy_v3": "geostp lazy, Zarr v3 sharded store, in-process",
    "lazy_v3_zarr": "as lazy_v3, read through zarr (no direct reader)",
    "lazy_w0_zarr": "as lazy_w0 (v2), read through zarr (no direct reader)",
    "object_store": "object store (local server): lazy, s3:// on moto",
}
BOUNDED = ("naive", "xbatcher", "torch_random")
OPTIONAL = ("lazy_v3", "lazy_v3_zarr", "lazy_w0_zarr", "object_store")  # rows after the main table's own
EXTRA = ("lazy_w0_zarr",)  # run only when named (--only; bench_windows_formats.py)



# ---------------------------------------------------------------------------------------- archive
def synthetic(years: list[int], hours: int | None = None):
    """Lazy (dask) WeatherBench-like fields: climatology by latitude + seeded noise, deterministic."""
    import dask.array as da
    import pandas as pd
    import xarray as xr

    times = pd.date_range(f"{years[0]}-01-01", f"{years[-1]}-12-31 23:00", freq="1h")
    if hours is not None:
        times = times[:hours]
    lat = np.linspace(-87.1875, 87.1875, NLAT)
    lon = np.arange(NLON) * 5.625
    data = {}
    for k, (v, (_, _, _, mean, spread)) in enumerate(VARS.items()):
        rs = da.random.RandomState(1000 + k)
        noise = rs.standard_normal((len(times), NLAT, NLON), chunks=(744, NLAT, NLON)).astype(np.float32)
        clim = (mean + spread * np.cos(np.deg2rad(lat)))[:, None].astype(np.float32)
        data[v] = (("time", "lat", "lon"), noise * np.float32(spread / 5) + clim, {"units": "K" if v != "z500" else "m2 s-2"})
    split = np.full(len(times), "train")
    return xr.Dataset(data, coords={"time": times, "lat": lat, "lon": lon, "split": ("time", split)})


def write_archive(work: Path, years: list[int], hours: int | None, netcdf: bool, name: str,
                  zarr_format: int = 2) -> Path:
    """Write the geostp store (and, if asked, the yearly NetCDF files) under `work`; return the store.
    The main rows read Zarr format 2 (`zarr_format`, not geostp's default 3): the v3 rows are below the line."""
    from geostp.data.store import write_store

    store = work / name
    if store.exists() and (not netcdf or (work / "nc").exists()):  # a --workdir from an earlier run
        return store
    ds = synthetic(years, hours)
    if netcdf:
        for v, (folder, stem, inner, _, _) in VARS.items():
            (work / "nc" / folder).mkdir(parents=True, exist_ok=True)
            for y in sorted(set(ds["time"].dt.year.values.tolist())):
                part = ds[[v]].sel(time=str(y)).drop_vars("split").rename({v: inner})
                part.to_netcdf(work / "nc" / folder / f"{stem}_{y}_5.625deg.nc")
    write_store(ds, store, catalog="bench", time_step="1h", norm_kind="zscore", default_t_in=T_IN,
                default_t_out=T_OUT, splits={"train": "all"}, progress=False, zarr_format=zarr_format)
    return store


def start_s3(work: Path, store: Path) -> tuple[subprocess.Popen, str]:
    """A moto S3 server process on 127.0.0.1 holding a copy of `store`; returns it and the store's URL."""
    import socket

    import s3fs

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen([str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.environ.update({"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "bench",
                       "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"})
    fs = s3fs.S3FileSystem()
    for _ in range(100):
        try:
            fs.mkdir("bench")
            break
        except Exception:  # noqa: BLE001 - the server is still starting
            time.sleep(0.1)
    fs.put(str(store), "bench/", recursive=True)
    return server, f"s3://bench/{store.name}"


# ---------------------------------------------------------------------------------------- loaders
def shuffled_batches(n: int, seed: int = 0) -> list[np.ndarray]:
    """A plain random order of all windows in batches of 16 (for the loaders without their own sampler)."""
    order = np.random.default_rng(seed).permutation(n)
    return [order[i : i + BATCH] for i in range(0, n, BATCH)]


def naive_batches(work: Path, starts: np.ndarray, budget: float):
    """Reopen the NetCDF files for every window (as a first script would), isel, .values."""
    import xarray as xr

    files = {v: sorted((work / "nc" / f).glob("*.nc")) for v, (f, *_rest) in VARS.items()}
    inner = {v: VARS[v][2] for v in VARS}
    for batch in shuffled_batches(len(starts)):
        xs, ys = [], []
        for i in batch:
            s = int(starts[i])
            merged = xr.merge([xr.open_mfdataset(files[v]) for v in VARS])
            w = merged.isel(time=slice(s, s + SPAN, STEP))
            arr = np.stack([w[inner[v]].values for v in VARS], axis=1)
            merged.close()
            xs.append(arr[:T_IN])
            ys.append(arr[T_IN:])
        yield batch, np.stack(xs), np.stack(ys), True  # raw physical units
        if budget_spent(budget):
            return


def xbatcher_batches(store: Path, starts: np.ndarray, budget: float):
    """xbatcher over the opened store: one BatchGenerator per 6-hourly phase; window at hour s = gens[s % 6][s // 6]."""
    import xarray as xr
    import xbatcher

    ds = xr.open_zarr(store, consolidated=True)[list(VARS)]
    gens = [
        xbatcher.BatchGenerator(ds.isel(time=slice(p, None, STEP)), input_dims={"time": T_IN + T_OUT, "lat": NLAT, "lon": NLON},
                                input_overlap={"time": T_IN + T_OUT - 1})
        for p in range(STEP)
    ]
    return _xbatcher_iter(gens, starts, budget)  # built above, outside the timed loop


def _xbatcher_iter(gens, starts: np.ndarray, budget: float):
    for batch in shuffled_batches(len(starts)):
        xs, ys = [], []
        for i in batch:
            s = int(starts[i])
            w = gens[s % STEP][s // STEP]
            arr = np.stack([w[v].values for v in VARS], axis=1)
            xs.append(arr[:T_IN])
            ys.append(arr[T_IN:])
        yield batch, np.stack(xs), np.stack(ys), True
        if budget_spent(budget):
            return


def torch_random_batches(store: Path, budget: float):
    """What a user gets from a plain torch DataLoader over the lazy dataset (random windows, __getitems__)."""
    from torch.utils.data import DataLoader

    from geostp.data import open_windows

    ds = open_windows(store, "train", T_IN, T_OUT, step=f"{STEP}h")
    loader = DataLoader(ds, batch_size=BATCH, sampler=BatchOrder(shuffled_batches(len(ds), seed=0)))
    for batch, (x, y) in zip(shuffled_batches(len(ds), seed=0), loader):
        yield batch, x, y, False
        if budget_spent(budget):
            return


class BatchOrder:
    """A sampler yielding the indices of the shared random order, flat (DataLoader batches them)."""

    def __init__(self, batches: list[np.ndarray]) -> None:
        self.flat = np.concatenate(batches).tolist()

    def __iter__(self):
        return iter(self.flat)

    def __len__(self) -> int:
        return len(self.flat)


_T0 = [0.0]


def budget_spent(budget: float) -> bool:
    return budget > 0 and time.perf_counter() - _T0[0] >= budget


def geostp_loader(store: Path, in_memory: bool, workers: int):
    from geostp.data import open_windows

    ds = open_windows(store, "train", T_IN, T_OUT, step=f"{STEP}h", in_memory=in_memory)
    return ds, ds.loader(BATCH, shuffle=True, seed=0, num_workers=workers, with_index=True)


# ---------------------------------------------------------------------------------------- one loader, measured
def fingerprint(x, y) -> np.ndarray:
    """Per window and channel sums of x and y (float64): a cheap, order-sensitive check of each window."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    return np.concatenate([x.sum(axis=(1, 3, 4)), y.sum(axis=(1, 3, 4)), (x[:, :, :, ::7, ::5] ** 2).sum(axis=(1, 3, 4))], axis=1)


def timed(it, on_batch=None) -> dict:
    """Run an iterator of (batch indices, x, y, raw) to the end; wall, CPU (incl. workers), machine busy share."""
    import psutil

    cpu0, sys0 = os.times(), psutil.cpu_times()
    _T0[0] = time.perf_counter()
    n, seen = 0, []
    for batch, x, y, raw in it:
        n += len(batch)
        seen.append(np.asarray(batch).copy())
        if on_batch is not None:
            on_batch(batch, x, y, raw)
    wall = time.perf_counter() - _T0[0]
    cpu1, sys1 = os.times(), psutil.cpu_times()
    cpu = sum(getattr(cpu1, k) - getattr(cpu0, k) for k in ("user", "system", "children_user", "children_system"))
    idle = (sys1.idle - sys0.idle) + (getattr(sys1, "iowait", 0) - getattr(sys0, "iowait", 0))
    busy = 1 - idle / max(1e-9, sum(sys1) - sum(sys0))
    ncpu = psutil.cpu_count() or 1
    return {"windows": n, "sec": wall, "win_s": n / wall, "cpu_s": cpu, "win_cpu_s": n / max(cpu, 1e-9),
            "busy_pct": 100 * busy, "other_pct": max(0.0, 100 * busy - 100 * cpu / (wall * ncpu)),
            "order": np.concatenate(seen)}


def run_loader(name: str, work: Path, store: Path | str, budget: float) -> dict:
    """Time one loader over the store; return figures plus the fingerprints of the windows it yielded.

    Slow loaders run until `budget` seconds have passed, fingerprinting each batch as it comes (< 1% of
    their time). geostp loaders run two whole epochs (the first from a fresh open, the second is the
    steady state a training run sees), then epoch 0 again, untimed, fingerprinting every batch.
    """
    from geostp.data import open_windows

    norm = open_windows(store, "train", T_IN, T_OUT, step=f"{STEP}h")  # starts and statistics only
    starts = np.asarray(norm.starts)
    off = np.array([norm.stats[v]["norm_offset"] for v in norm.variables])[:, None, None]
    sc = np.array([norm.stats[v]["norm_scale"] for v in norm.variables])[:, None, None]
    idx, fps = [], []

    def check(batch, x, y, raw):
        if raw:  # physical values: normalise in float64, exactly
            x, y = (np.asarray(x, np.float64) - off) / sc, (np.asarray(y, np.float64) - off) / sc
        idx.append(np.asarray(batch).copy())
        fps.append(fingerprint(x, y))

    t_setup = time.perf_counter()
    if name in BOUNDED:
        it = {"naive": lambda: naive_batches(work, starts, budget),
              "xbatcher": lambda: xbatcher_batches(store, starts, budget),
              "torch_random": lambda: torch_random_batches(store, budget)}[name]()
        setup = time.perf_counter() - t_setup
        out = timed(it, check)
        first = None
    else:
        ds, loader = geostp_loader(store, name == "inmem", 2 if name == "lazy_w2" else 0)
        ds._direct = not name.endswith("_zarr")
        setup = time.perf_counter() - t_setup

        def epoch():
            return ((i.numpy(), x, y, False) for x, y, i in loader)

        first = timed(epoch())
        out = timed(epoch())
        loader.set_epoch(0)
        for b, x, y, raw in epoch():
            check(b, x, y, raw)
    order = out.pop("order")
    out.update({
        "loader": name, "what": LOADERS[name], "setup_s": setup, "rss_peak_mb": peak_rss_mb(),
        "first_epoch_win_s": first["win_s"] if first else None,
        "every_window_once": bool(len(order) == len(starts) and len(np.unique(order)) == len(starts)),
        "check": {"idx": np.concatenate(idx).tolist(), "fp": np.concatenate(fps).tolist()},
    })
    if name not in BOUNDED:
        out["block_reads_per_epoch"] = ds.block_reads / (2 + 1 if not ds.in_memory else 1)
    return out


def peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM; unlike ru_maxrss it restarts at exec, so a child's is its own)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_epoch(store: Path, in_memory: bool) -> dict:
    """Peak RSS of one epoch of the geostp loader (run in a fresh process)."""
    import psutil

    from geostp.data import open_windows

    base = psutil.Process().memory_info().rss
    ds = open_windows(store, "train", T_IN, T_OUT, step=f"{STEP}h", in_memory=in_memory)
    n = 0
    for x, _ in ds.loader(BATCH, shuffle=True, seed=0):
        n += len(x)
    return {"windows": n, "rss_base_mb": base / 2**20, "rss_peak_mb": peak_rss_mb()}


def in_child(args: list[str]) -> dict:
    """Run this script with `args` in a fresh process; return the JSON it prints last."""
    res = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise RuntimeError(f"child {args} failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------------------- report
def check_windows(results: dict, store: Path) -> dict:
    """Compare every loader's fingerprints with the in-memory dataset's windows; return max rel. error."""
    from geostp.data import open_windows

    mem = open_windows(store, "train", T_IN, T_OUT, step=f"{STEP}h", in_memory=True)
    out = {}
    for name, r in results.items():
        idx = np.asarray(r["check"]["idx"], np.int64)
        fp = np.asarray(r["check"]["fp"])
        want = np.concatenate([fingerprint(*mem.get_batch(idx[i : i + 256])) for i in range(0, len(idx), 256)])
        err = float(np.max(np.abs(fp - want) / (np.abs(want) + 1.0)))
        out[name] = err
    return out


def table(results: dict, errors: dict, rss: dict, meta: dict) -> str:
    """The printed and saved table."""
    naive, xb, mem = (results[k]["win_s"] for k in ("naive", "xbatcher", "inmem"))
    head = (f"{'loader':<13}| {'what':<49}| {'windows':>7} | {'sec':>6} | {'win/s':>8} | {'x naive':>8} | {'x xbatch':>8} | "
            f"{'% inmem':>7} | {'1st ep':>7} | {'win/CPU-s':>9} | {'setup s':>7} | {'RSS MB':>6} | {'busy%':>5} | {'other%':>6} | check")
    lines = [head, "-" * len(head)]
    first_optional = next((k for k in results if k in OPTIONAL), None)
    for k, r in results.items():
        if k == first_optional:  # rows of other storage (v3, object store) below the main comparison
            lines.append("-" * len(head))
        ok = "ok" if errors[k] < 1e-3 and (k in BOUNDED or r["every_window_once"]) else "FAIL"
        ok = f"{ok} {errors[k]:.0e}"
        first = f"{r['first_epoch_win_s']:>7.0f}" if r.get("first_epoch_win_s") else f"{'-':>7}"
        lines.append(
            f"{k:<13}| {r['what']:<49}| {r['windows']:>7} | {r['sec']:>6.2f} | {r['win_s']:>8.1f} | {r['win_s'] / naive:>8.1f} | "
            f"{r['win_s'] / xb:>8.1f} | {100 * r['win_s'] / mem:>6.1f}% | {first} | {r['win_cpu_s']:>9.1f} | {r['setup_s']:>7.2f} | "
            f"{r['rss_peak_mb']:>6.0f} | {r['busy_pct']:>5.0f} | {r['other_pct']:>6.0f} | {ok}"
        )
    lazy = results["lazy_w0"]["win_s"]
    targets = [
        ("geostp lazy >= 50% of geostp in-memory", lazy / mem, 0.5, f"{100 * lazy / mem:.0f}%"),
        ("geostp lazy >= 100x xbatcher", lazy / xb, 100, f"{lazy / xb:.0f}x"),
        ("geostp in-memory >= 800x naive", mem / naive, 800, f"{mem / naive:.0f}x"),
    ]
    lines += ["", "targets (ratios within this run):"]
    lines += [f"  {'PASS' if v >= lim else 'FAIL'}  {txt}: {shown}" for txt, v, lim, shown in targets]
    if rss:
        lines += ["", "peak RSS of one epoch, fresh process (MB; 'base' = after imports):"]
        for k, r in rss.items():
            lines.append(f"  {k:<28} store {r['store_mb']:>6.0f} MB | base {r['rss_base_mb']:>5.0f} | peak {r['rss_peak_mb']:>6.0f} "
                         f"| peak-base {r['rss_peak_mb'] - r['rss_base_mb']:>6.0f} | windows {r['windows']}")
    lines += [
        "",
        f"archive: {meta['desc']}",
        f"windows: {T_IN}+{T_OUT} frames every {STEP} h (span {SPAN} hourly steps), shuffled batches of {BATCH}; "
        f"geostp blocks: {meta['blocks']}",
        f"bounded loaders ({', '.join(BOUNDED)}) run batches of a random order until {meta['budget']:.0f} s have passed; "
        "the geostp loaders run whole epochs.",
        "geostp rows: win/s of the 2nd epoch (steady state); '1st ep' = the first epoch after opening (first reads, "
        "first-touch page faults of the block and batch buffers).",
        "check: fingerprints (per-window channel sums) of every window yielded equal geostp in-memory's: max rel. err "
        "shown, ok < 1e-3 (float32 rounding gives ~1e-4, a wrong window ~1); geostp loaders also yield every window "
        "exactly once per epoch (epoch 0 repeated untimed for the check).",
        "RSS MB: peak resident memory (VmHWM) of the loader's process, workers not counted.",
        "win/CPU-s counts the loader process and its workers; busy% = whole machine (all cores) during the run, "
        "other% = busy share not used by this loader (other users of the machine).",
        f"each loader ran in its own process; machine: {meta['machine']}; {meta['when']}",
    ]
    return "\n".join(lines)


def without_check(results: dict) -> dict:
    """Loader rows without their window fingerprints (kept out of the saved JSON)."""
    return {k: {kk: vv for kk, vv in r.items() if kk != "check"} for k, r in results.items()}


def save(out: Path, text: str, saved: dict) -> None:
    """Write the table to OUT.txt and the figures to OUT.json."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".txt").write_text(text + "\n")
    out.with_suffix(".json").write_text(json.dumps(saved, indent=1) + "\n")
    print(f"\nsaved {out.with_suffix('.txt')} and .json")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="tiny archive (~2 months), 2 s budgets, no 3x store, nothing saved")
    ap.add_argument("--budget", type=float, default=None, help="seconds for each bounded (slow) loader (default 20; quick 2)")
    ap.add_argument("--workdir", type=Path, default=None, help="where to write the archives (default: a temp dir, removed); archives already there are reused")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "bench_windows",
                    help="output stem: writes STEM.txt and STEM.json")
    ap.add_argument("--only", nargs="*", default=None, help=f"run only these loaders of: {', '.join(LOADERS)}")
    ap.add_argument("--child", nargs=3, metavar=("MODE", "WORK", "STORE"), help=argparse.SUPPRESS)
    ap.add_argument("--child-budget", type=float, default=0.0, help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.child:  # internal: one measurement in this fresh process, JSON on the last line
        mode, work, store = args.child
        if mode in ("rss_lazy", "rss_inmem"):
            res = rss_epoch(Path(store), mode == "rss_inmem")
        else:
            res = run_loader(mode, Path(work), store if "://" in store else Path(store), args.child_budget)
        print(json.dumps(res))
        return

    import platform

    budget = args.budget if args.budget is not None else (2.0 if args.quick else 20.0)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench_windows_"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        t0 = time.perf_counter()
        hours = 24 * 61 if args.quick else None
        store = write_archive(work, [1979, 1980], hours, netcdf=True, name="store1x.zarr")
        store_mb = sum(f.stat().st_size for f in store.rglob("*") if f.is_file()) / 2**20
        print(f"wrote the archive ({store_mb:.0f} MB store + NetCDF) in {time.perf_counter() - t0:.1f} s", flush=True)
        results = {}
        names = args.only or [n for n in LOADERS if n not in EXTRA]
        where = {n: store for n in names}
        if {"lazy_v3", "lazy_v3_zarr"} & set(names):
            v3 = write_archive(work, [1979, 1980], hours, netcdf=False, name="store1x_v3.zarr", zarr_format=3)
            where.update({n: v3 for n in ("lazy_v3", "lazy_v3_zarr")})
        server = None
        if "object_store" in names:
            server, where["object_store"] = start_s3(work, store)
        for name in names:
            results[name] = in_child(["--child", name, str(work), str(where[name]), "--child-budget", str(budget if name in BOUNDED else 0)])
            r = results[name]
            print(f"  {name:<13} {r['windows']:>6} windows {r['sec']:6.2f} s {r['win_s']:9.1f} win/s "
                  f"(busy {r['busy_pct']:.0f}%, other {r['other_pct']:.0f}%)", flush=True)
        if server is not None:
            server.terminate()
            server.wait()
        errors = check_windows(results, store)
        rss = {}
        if not args.quick:
            big = write_archive(work, [1979, 1980, 1981, 1982, 1983, 1984], None, netcdf=False, name="store3x.zarr")
            big_mb = sum(f.stat().st_size for f in big.rglob("*") if f.is_file()) / 2**20
            for label, s, mb in (("1x", store, store_mb), ("3x", big, big_mb)):
                for mode in ("rss_lazy", "rss_inmem"):
                    r = in_child(["--child", mode, str(work), str(s)])
                    rss[f"{'lazy' if mode == 'rss_lazy' else 'in-memory'} {label}"] = {**r, "store_mb": mb}
                    print(f"  {mode} {label}: peak {r['rss_peak_mb']:.0f} MB", flush=True)
        from geostp.data import open_windows

        ref = open_windows(store, "train", T_IN, T_OUT, step=f"{STEP}h")
        meta = {
            "desc": f"3 variables x {NLAT}x{NLON}, hourly, {'2 months' if args.quick else '1979-1980'}: yearly NetCDF "
                    f"(WeatherBench v1 layout) + geostp store of {store_mb:.0f} MB (time chunk {ref.time_chunk})",
            "blocks": f"{ref.n_blocks} blocks of {int(np.median(ref.block_hi - ref.block_lo))} frames, pool of {ref.pool_blocks}",
            "budget": budget, "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
            "when": time.strftime("%Y-%m-%d %H:%M"),
        }
        if args.only:
            print(json.dumps(without_check(results), indent=1))
            print("errors:", errors)
            return
        text = table(results, errors, rss, meta)
        print()
        print(text)
        if not args.quick:
            save(args.out, text, {"results": without_check(results), "check_rel_err": errors, "rss": rss, "meta": meta})
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
