"""Fault-suite helpers: a small NetCDF source, real `geostp` subprocesses, one-line error checks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

REPO = Path(__file__).resolve().parents[2]
# trials too long or too timing-dependent for the default run (kill trials; the fresh-cache forecast race) run with GEOSTP_SLOW=1
slow = pytest.mark.skipif(not os.environ.get("GEOSTP_SLOW"), reason="slow fault trial: run with GEOSTP_SLOW=1")


def write_source(path: Path, years: tuple[int, int] = (2000, 2003), nlat: int = 8, nlon: int = 16, seed: int = 0,
                 freq: str = "12h") -> Path:
    """A CF NetCDF with `t2m` (time, lat, lon) float32 at `freq` over `years`: the custom catalog's input."""
    rng = np.random.default_rng(seed)
    times = pd.date_range(f"{years[0]}-01-01", f"{years[1]}-12-31 18:00", freq=freq)
    lat = np.linspace(-78.75, 78.75, nlat)
    lon = np.arange(nlon) * 360.0 / nlon
    t2m = (270 + 10 * rng.standard_normal((len(times), nlat, nlon))).astype(np.float32)
    ds = xr.Dataset({"t2m": (("time", "lat", "lon"), t2m, {"units": "K"})},
                    coords={"time": times, "lat": ("lat", lat, {"units": "degrees_north"}),
                            "lon": ("lon", lon, {"units": "degrees_east"})})
    ds.to_netcdf(path)
    return path


PREPARE_SPLITS = "train=2000-2001,valid=2002,test=2003"


def prepare_args(src: Path, out: Path, *extra: str, splits: str = PREPARE_SPLITS) -> list[str]:
    """`geostp data prepare custom ...` arguments for `src` -> `out`."""
    return ["data", "prepare", "custom", "--path", str(src), "--var", "t2m", "--splits", splits,
            "--out", str(out), "--no-progress", *extra]


def geostp_env(cache: Path | None = None) -> dict[str, str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    if cache is not None:
        env["GEOSTP_CACHE_DIR"] = str(cache)
    return env


def start(args: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.Popen:
    """A real `geostp` process."""
    return subprocess.Popen([sys.executable, "-m", "geostp.cli.main", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env or geostp_env(), cwd=cwd)


def run(args: list[str], env: dict[str, str] | None = None, cwd: Path | None = None,
        timeout: float = 120) -> subprocess.CompletedProcess:
    """Run `geostp ARGS` to the end."""
    return subprocess.run([sys.executable, "-m", "geostp.cli.main", *map(str, args)], capture_output=True, text=True,
                          env=env or geostp_env(), cwd=cwd, timeout=timeout)


def error_line(stderr: str) -> str:
    """The CLI's error: exactly one `error: ...` line and no traceback."""
    assert "Traceback" not in stderr, stderr
    lines = [ln for ln in stderr.splitlines() if ln.startswith("error: ")]
    assert len(lines) == 1, stderr
    return lines[0]


@pytest.fixture
def source(tmp_path):
    """A 4-year 12-hourly 8x16 t2m NetCDF (about 1.5 MB)."""
    return write_source(tmp_path / "src.nc")


@pytest.fixture
def run_dir(tiny_store, tmp_path):
    """A vip_mixer `tiny` run on the tiny store's t850 (random weights, 4 -> 4 frames)."""
    from tests.forecast.conftest import make_run

    path, _ = tiny_store
    return make_run(tmp_path / "run", path)


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory):
    """A 12-step simvp run on the wave store with resume states at steps 6 and 12 (copy it before changing it)."""
    from geostp.training import train
    from tests.fault.trials import train_config

    root = tmp_path_factory.mktemp("fault-run")
    return train(train_config(root), out=root / "run")


@pytest.fixture
def run_copy(trained_run, tmp_path):
    """A private copy of `trained_run`."""
    import shutil

    return Path(shutil.copytree(trained_run, tmp_path / "run"))
