"""Fixtures for evaluation tests: a store and a forecast of it with known errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from geostp.data.store import open_store, write_store
from geostp.evaluation.baselines import climatology_at, compute_climatology, truth_at


@pytest.fixture(scope="session")
def case(tmp_path_factory):
    """A 6-hourly store on a pole-free 8 x 16 grid and a biased, noisy forecast of its test year."""
    times = pd.date_range("2000-01-01", "2003-12-31 18:00", freq="6h")
    rng = np.random.default_rng(7)
    lat = np.arange(-78.75, 90, 22.5)
    lon = np.arange(16) * 22.5
    day = ((times - times[0]) / pd.Timedelta("1D")).values
    t850 = (260 + 10 * np.cos(2 * np.pi * day / 365.25)[:, None, None] * np.sin(np.deg2rad(lat))[None, :, None]
            + rng.normal(0, 2, (len(times), 8, 16))).astype(np.float32)
    split = np.where(times.year <= 2001, "train", np.where(times.year == 2002, "valid", "test"))
    ds = xr.Dataset({"t850": (("time", "lat", "lon"), t850, {"units": "K"})},
                    coords={"time": times, "lat": lat, "lon": lon, "split": ("time", split)})
    path = tmp_path_factory.mktemp("indep") / "s.zarr"
    write_store(ds, path, catalog="test", time_step="6h", norm_kind="zscore", default_t_in=2, default_t_out=4,
                splits={"train": "2000-2001", "valid": "2002", "test": "2003"}, progress=False)
    store = open_store(path)
    inits = pd.date_range("2003-02-01", periods=40, freq="12h").values
    leads = (np.arange(1, 5) * np.timedelta64(6, "h")).astype("timedelta64[ns]")
    valid = xr.DataArray(inits[:, None] + leads[None, :], dims=("init_time", "lead_time"),
                         coords={"init_time": inits, "lead_time": leads})
    obs = truth_at(store, ["t850"], valid)["t850"]
    err = 0.7 + rng.normal(0, 1.5, obs.shape) * (1 + np.arange(4))[None, :, None, None] ** 0.5
    fc = xr.Dataset({"t850": (obs.dims, (obs.values + err).astype(np.float32), {"units": "K"})},
                    coords={"init_time": inits, "lead_time": leads, "lat": lat, "lon": lon,
                            "valid_time": (("init_time", "lead_time"), valid.values)})
    clim = climatology_at(compute_climatology(store, ["t850"]), valid)["t850"]
    strip = lambda da: da.reset_coords(drop=True)  # noqa: E731
    return store, fc, inits, strip(fc["t850"]), strip(obs), strip(clim)
