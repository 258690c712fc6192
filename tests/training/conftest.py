"""Training fixtures: a small learnable store (waves travelling east) and a tiny run config."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from geostp.data.store import write_store


def wave_dataset(nlat: int = 8, nlon: int = 16, days: int = 100, seed: int = 0) -> xr.Dataset:
    """t850 and z500 made of waves moving east by one cell per 6 h, plus a little noise: a CNN can learn them."""
    rng = np.random.default_rng(seed)
    times = pd.date_range("2000-01-01", periods=days * 4, freq="6h")
    lat = np.linspace(-78.75, 78.75, nlat)
    lon = np.arange(nlon) * 360.0 / nlon
    t = np.arange(len(times))[:, None, None]
    j = np.arange(nlon)[None, None, :]
    i = np.arange(nlat)[None, :, None]
    phase = 2 * np.pi * (j - t) / nlon
    amp = 1 + 0.5 * np.sin(2 * np.pi * t / 37.0)  # slowly varying amplitude
    t850 = 270 + 10 * np.cos(np.deg2rad(lat))[None, :, None] + 4 * amp * np.sin(2 * phase + i) \
        + 0.1 * rng.normal(size=(len(times), nlat, nlon))
    z500 = 5.5e4 + 300 * amp * np.cos(phase + 0.3 * i) + 10 * rng.normal(size=(len(times), nlat, nlon))
    n = len(times)
    split = np.array(["train"] * (n * 6 // 10) + ["valid"] * (n * 2 // 10) + ["test"] * (n - n * 6 // 10 - n * 2 // 10))
    return xr.Dataset(
        {"t850": (("time", "lat", "lon"), t850.astype(np.float32), {"units": "K"}),
         "z500": (("time", "lat", "lon"), z500.astype(np.float32), {"units": "m2 s-2"})},
        coords={"time": times, "lat": lat, "lon": lon, "split": ("time", split)},
    )


@pytest.fixture(scope="session")
def wave_store(tmp_path_factory):
    """Path of a 6-hourly 8x16 store (100 days: 60 train, 20 valid, 20 test)."""
    path = tmp_path_factory.mktemp("stores") / "waves.zarr"
    write_store(wave_dataset(), path, catalog="test", time_step="6h", norm_kind="zscore", default_t_in=3,
                default_t_out=2, progress=False)
    return path


def tiny_config(store, **sections) -> dict:
    """A run of a few seconds: SimVP at its tiny preset, 3 -> 2 frames of 8x16, 12 steps of batch 8."""
    cfg = {
        "data": {"store": str(store), "variables": ["t850", "z500"], "t_in": 3, "t_out": 2, "in_memory": True,
                 "valid_max_windows": 32},
        "model": {"name": "simvp", "preset": "tiny"},
        "optim": {"name": "adamw", "lr": 3e-3},
        "schedule": {"name": "cosine", "warmup_steps": 2},
        "train": {"max_steps": 12, "batch_size": 8, "log_every": 1, "progress": False},
        "eval": {"every": 6},
    }
    for name, values in sections.items():
        cfg[name] = {**cfg.get(name, {}), **values}
    return cfg


@pytest.fixture(scope="session")
def make_config(wave_store):
    """`make_config(train={...}, eval={...})`: tiny_config on the wave store with section overrides."""
    return lambda **sections: tiny_config(wave_store, **sections)


@pytest.fixture(scope="session")
def make_wave_store(tmp_path_factory):
    """`make_wave_store(name, **wave_dataset_kwargs)` writes another wave store and returns its path."""

    def make(name: str, **kwargs) -> object:
        path = tmp_path_factory.mktemp("stores") / name
        return write_store(wave_dataset(**kwargs), path, catalog="test", time_step="6h", norm_kind="zscore",
                           default_t_in=3, default_t_out=2, progress=False)

    return make
