"""Kill trials shared by tests/fault/test_kills.py and benchmarks/fault_trials.py: start a real `geostp` writer,
kill -9 it at a random moment, then check what is on disk (old or complete new output, never a torn one)."""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from tests.fault.conftest import geostp_env, prepare_args, run, start, write_source


@dataclass
class Outcome:
    """What one trial found."""

    kind: str
    delay: float
    killed: bool
    state: str  # "old", "new", "resumed", ...
    clear_errors: int = 0  # runs that ended in one `error:` line
    tracebacks: int = 0
    lost: int = 0  # 1 when the output is neither the old nor the complete new one (or old data changed)
    leftovers: int = 0  # temporary outputs left by the kill (removed by the next write)
    exact: bool | None = None  # training: final weights bit for bit those of the uninterrupted run
    notes: list[str] = field(default_factory=list)


def _finish(proc: subprocess.Popen, delay: float | None, marker: Path) -> tuple[bool, int, str, float]:
    """Once `marker` (the writer's lock file) appears, wait `delay` seconds (None: to the end), then kill -9 the
    process if it still runs; (killed, rc, stderr, seconds from the marker to the end)."""
    while not marker.exists() and proc.poll() is None:
        time.sleep(0.02)
    t0 = time.monotonic()
    try:
        proc.wait(delay)
        killed = False
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        killed = True
    elapsed = time.monotonic() - t0
    _, err = proc.communicate()
    return killed, proc.returncode, err, elapsed


def _count(out: Outcome, rc: int, err: str) -> None:
    if "Traceback" in err:
        out.tracebacks += 1
    elif rc == 2 and sum(ln.startswith("error: ") for ln in err.splitlines()) == 1:
        out.clear_errors += 1


def _leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.rglob(".*") if ".tmp-" in p.name or ".old-" in p.name]


class Trial:
    """Base: `run(rng)` does one trial and returns its Outcome. The first trial runs to the end and measures the
    writing window (lock file taken -> exit); later ones kill at a uniform random moment inside that window."""

    kind = ""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.window: float | None = None

    def run(self, rng) -> Outcome:  # pragma: no cover - overridden
        raise NotImplementedError

    def _launch(self, args: list, target: Path, rng) -> tuple[Outcome, int, str]:
        from geostp.locks import lock_path

        delay = None if self.window is None else rng.uniform(0.0, self.window)
        killed, rc, err, elapsed = _finish(start(args), delay, lock_path(target))
        if self.window is None:
            self.window = elapsed
        out = Outcome(self.kind, -1.0 if delay is None else delay, killed, "?", leftovers=len(_leftovers(self.root)))
        _count(out, rc, err)
        return out, rc, err


class PrepareTrial(Trial):
    """`geostp data prepare --overwrite` of store B over store A, killed: A or B, whole."""

    kind = "prepare --overwrite"

    def __init__(self, root: Path) -> None:
        from geostp.data.prepare import prepare
        from geostp.data.store import open_store

        super().__init__(root)
        self.srcs = [write_source(self.root / f"src{i}.nc", years=(2000, 2003), seed=i) for i in range(2)]
        self.out = self.root / "s.zarr"
        prepare("custom", self.out, root=str(self.srcs[0]), variables=["t2m"], splits="train=2000-2001,valid=2002,test=2003",
                progress=False)
        import xarray as xr

        self.values = [xr.open_dataset(src)["t2m"].values for src in self.srcs]  # every time is kept: store == file
        assert np.array_equal(open_store(self.out)["t2m"].values, self.values[0])
        self.current = 0

    def run(self, rng) -> Outcome:
        from geostp.data.store import open_store

        new = 1 - self.current
        out, _, _ = self._launch(prepare_args(self.srcs[new], self.out, "--overwrite"), self.out, rng)
        try:
            got = open_store(self.out)["t2m"].values
        except Exception as exc:  # noqa: BLE001 - a torn store is what the trial looks for
            out.state, out.lost = f"unreadable: {exc}", 1
            return out
        if np.array_equal(got, self.values[self.current]):
            out.state = "old"
        elif np.array_equal(got, self.values[new]):
            out.state, self.current = "new", new
        else:
            out.state, out.lost = "torn", 1
        return out


class AppendTrial(Trial):
    """`geostp forecast --append` of Feb-Dec onto a January forecast, killed: January bit for bit, all or nothing."""

    kind = "forecast --append"

    def __init__(self, root: Path) -> None:
        import xarray as xr

        from geostp.data.store import write_store
        from geostp.workflows.forecast import ForecastRequest, run_forecast
        from tests.conftest import tiny_latlon_dataset
        from tests.forecast.conftest import make_run

        super().__init__(root)
        times = pd.date_range("2000-01-01", "2003-12-31 18:00", freq="6h")
        self.store = self.root / "tiny.zarr"
        split = np.where(times.year <= 2001, "train", np.where(times.year == 2002, "valid", "test"))
        ds = tiny_latlon_dataset(times).assign_coords(split=("time", split))
        write_store(ds, self.store, catalog="test", time_step="6h", norm_kind="zscore", default_t_in=4,
                    default_t_out=4, progress=False)
        self.run_dir = make_run(self.root / "run", self.store)
        self.out = self.root / "fc.zarr"
        self.saved = self.root / "fc-jan.zarr"
        run_forecast(ForecastRequest(model="vip_mixer", variables=["t850"], run=str(self.run_dir), data=str(self.store),
                                     out=str(self.saved), init=["2003-01-01/2003-01-31"], plot=False, score=False,
                                     progress=False))
        self.jan = xr.open_zarr(self.saved).load()
        self.full_n = None

    def run(self, rng) -> Outcome:
        from geostp.forecast.output import open_forecast

        shutil.rmtree(self.out, ignore_errors=True)
        shutil.copytree(self.saved, self.out)
        args = ["forecast", "--model", "vip_mixer", "--var", "t850", "--run", self.run_dir, "--data", self.store,
                "--init", "2003-02-01/2003-12-31", "--out", self.out, "--append", "--no-plot", "--no-score"]
        out, _, _ = self._launch(args, self.out, rng)
        killed = out.killed
        try:
            ds = open_forecast(self.out).load()
        except Exception as exc:  # noqa: BLE001 - a torn store is what the trial looks for
            out.state, out.lost = f"unreadable: {exc}", 1
            return out
        n = ds.sizes["init_time"]
        jan = ds.isel(init_time=slice(0, self.jan.sizes["init_time"]))
        same = all(np.array_equal(jan[v].values, self.jan[v].values) for v in self.jan.data_vars)
        if not same:
            out.state, out.lost = "january changed", 1
        elif n == self.jan.sizes["init_time"]:
            out.state = "old"
        else:
            out.state = "new"
            if self.full_n is None and not killed:
                self.full_n = n
            if self.full_n is not None and n != self.full_n:
                out.state, out.lost = f"partial ({n} init times)", 1
        return out


def train_config(root: Path) -> dict:
    """The trials' run: 12 simvp steps on a 60-day wave store written under `root`, states every 6 steps."""
    from geostp.data.store import write_store
    from tests.training.conftest import tiny_config, wave_dataset

    store = Path(root) / "waves.zarr"
    if not store.exists():
        write_store(wave_dataset(days=60), store, catalog="test", time_step="6h", norm_kind="zscore",
                    default_t_in=3, default_t_out=2, progress=False)
    return tiny_config(store, train={"max_steps": 12, "batch_size": 8, "log_every": 3, "progress": False,
                                     "checkpoint_every": 6})


class TrainTrial(Trial):
    """`geostp train` killed, then `--resume`: the run ends at its last step with verified checksums and no
    duplicated metrics lines (whether its weights are bit for bit those of an uninterrupted run is recorded)."""

    kind = "train + resume"

    def __init__(self, root: Path, ref: bytes | None = None) -> None:
        """`ref`: last.safetensors of an uninterrupted run of `train_config` (trained here when not given)."""
        super().__init__(root)
        self.cfg = self.root / "cfg.yaml"
        self.cfg.write_text(yaml.safe_dump(train_config(self.root)))
        if ref is None:
            res = run(["train", "--config", self.cfg, "--out", self.root / "ref"], env=geostp_env())
            if res.returncode != 0:
                raise RuntimeError(res.stderr)
            ref = (self.root / "ref" / "last.safetensors").read_bytes()
        self.ref = ref

    def run(self, rng) -> Outcome:
        from geostp.training import load_run
        from geostp.training.checkpoint import verify_weights
        from geostp.training.logging import read_metrics

        run_dir = self.root / "run"
        shutil.rmtree(run_dir, ignore_errors=True)
        out, _, _ = self._launch(["train", "--config", self.cfg, "--out", run_dir], run_dir, rng)
        if out.killed:
            if (run_dir / "signature.json").exists():
                res = run(["train", "--resume", run_dir])
            else:  # killed before the run existed: start it again
                res = run(["train", "--config", self.cfg, "--out", run_dir, "--overwrite"])
            _count(out, res.returncode, res.stderr)
            if res.returncode != 0:
                out.state, out.lost = f"resume failed: {res.stderr.strip().splitlines()[-1:]}", 1
                return out
            line = [ln for ln in res.stderr.splitlines() if "resum" in ln or "afresh" in ln]
            out.state = "resumed" if any("resuming" in ln for ln in line) else "afresh"
        else:
            out.state = "finished"
        bad = [n for n in ("best.safetensors", "last.safetensors") if verify_weights(run_dir / n) is not None]
        keys = [(e["event"], e["step"]) for e in read_metrics(run_dir / "metrics.jsonl")]
        _, info = load_run(run_dir, which="last")
        if bad or len(keys) != len(set(keys)) or info.step != 12:
            out.lost = 1
            out.notes.append(f"bad weights {bad}" if bad else "duplicated metrics lines" if len(keys) != len(set(keys))
                             else f"ended at step {info.step}")
        # bit-exactness is reported, not required: two uninterrupted runs of this config already differ in the
        # last bits now and then on a loaded machine (measured: 1 of 3 in-process repeats)
        out.exact = (run_dir / "last.safetensors").read_bytes() == self.ref
        return out


KINDS = {"prepare": PrepareTrial, "append": AppendTrial, "train": TrainTrial}
