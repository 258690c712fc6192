"""Shared fixtures: tiny stores written through the public writer."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

from geostp.data.store import write_store


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread():
    """The whole session runs torch on one intra-op thread: the tests' models are tiny, one thread is fastest
    for them (and far faster on a shared machine), and session-scoped fixtures (runs trained once and
    compared bit for bit with later ones) see the same thread count as the tests."""
    before, env = torch.get_num_threads(), os.environ.get("OMP_NUM_THREADS")
    torch.set_num_threads(1)
    os.environ["OMP_NUM_THREADS"] = "1"  # geostp.threads stands aside: runs compared bit for bit keep one thread
    yield
    torch.set_num_threads(before)
    if env is None:
        os.environ.pop("OMP_NUM_THREADS", None)
    else:
        os.environ["OMP_NUM_THREADS"] = env


SAMPLE_YEARS = (2016, 2018)  # the shortest sample with the default's test year: train 2016, valid 2017, test 2018


@pytest.fixture(scope="session")
def sample_cache(tmp_path_factory):
    """A geostp cache holding the short sample, built once per session: (cache dir, sample path). Point
    GEOSTP_CACHE_DIR at the cache and set GEOSTP_SAMPLE_YEARS=2016-2018 to make `sample` resolve to it."""
    from geostp.data.sample import build_sample

    cache = tmp_path_factory.mktemp("geostp-cache")
    mp = pytest.MonkeyPatch()
    mp.setenv("GEOSTP_CACHE_DIR", str(cache))
    try:
        path = build_sample(years=SAMPLE_YEARS, progress=False)
    finally:
        mp.undo()
    return cache, path


def tiny_latlon_dataset(times: pd.DatetimeIndex, nlat: int = 4, nlon: int = 8, seed: int = 0) -> xr.Dataset:
    """Two variables on a small lat/lon grid with values that identify (time, lat, lon)."""
    rng = np.random.default_rng(seed)
    lat = np.linspace(-80, 80, nlat)
    lon = np.arange(nlon) * 360.0 / nlon
    shape = (len(times), nlat, nlon)
    t850 = (250 + rng.normal(size=shape)).astype(np.float32)
    z500 = (5e4 + 100 * rng.normal(size=shape)).astype(np.float32)
    split = np.where(times.year <= 2001, "train", np.where(times.year == 2002, "valid", "test"))
    return xr.Dataset(
        {"t850": (("time", "lat", "lon"), t850, {"units": "K"}), "z500": (("time", "lat", "lon"), z500, {"units": "m2 s-2"})},
        coords={"time": times, "lat": lat, "lon": lon, "split": ("time", split)},
    )


@pytest.fixture
def tiny_store(tmp_path):
    """A 6-hourly store 2000-2003 (train 2000-2001, valid 2002, test 2003) with a gap in 2000."""
    times = pd.date_range("2000-01-01", "2003-12-31 18:00", freq="6h")
    times = times[(times < "2000-03-01") | (times >= "2000-03-05")]  # a 4-day gap
    ds = tiny_latlon_dataset(times)
    path = tmp_path / "tiny.zarr"
    write_store(ds, path, catalog="test", time_step="6h", norm_kind="zscore", default_t_in=4, default_t_out=4,
                splits={"train": "2000-2001", "valid": "2002", "test": "2003"}, progress=False)
    return path, ds
