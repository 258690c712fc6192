"""The registry's `climatology` model forecasts the scorecard's train-split climatology, and an evaluated
forecast named like a baseline gets its own row next to the scorecard's baselines."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

from geostp.data.store import open_store, write_store
from geostp.evaluation.baselines import climatology_at, compute_climatology
from geostp.evaluation.scorecard import per_time_scores, scored_inits, summarize
from geostp.forecast.predict import Predictor, predict, resolve_inits
from geostp.models import create


@pytest.fixture
def seasonal_store(tmp_path):
    """6-hourly 2000-2003 on a 4x8 grid: an annual cycle whose amplitude and phase vary per grid point, a
    diurnal cycle, and noise; train 2000-2001."""
    times = pd.date_range("2000-01-01", "2003-12-31 18:00", freq="6h")
    rng = np.random.default_rng(3)
    lat, lon = np.linspace(-60, 60, 4), np.arange(8) * 45.0
    day = ((times - pd.Timestamp("2000-01-01")) / pd.Timedelta("1D")).values
    amp = 5 + 10 * np.abs(np.sin(np.deg2rad(lat)))[:, None] + rng.uniform(0, 2, (4, 8))
    phase = rng.uniform(0, 2 * np.pi, (4, 8))
    hour = times.hour.values
    t850 = (260 + amp * np.cos(2 * np.pi * day[:, None, None] / 365.2422 + phase)
            + 2.0 * (hour[:, None, None] == 12) + rng.normal(0, 1.0, (len(times), 4, 8))).astype(np.float32)
    split = np.where(times.year <= 2001, "train", np.where(times.year == 2002, "valid", "test"))
    ds = xr.Dataset({"t850": (("time", "lat", "lon"), t850, {"units": "K"})},
                    coords={"time": times, "lat": lat, "lon": lon, "split": ("time", split)})
    path = tmp_path / "seasonal.zarr"
    write_store(ds, path, catalog="test", time_step="6h", norm_kind="zscore", default_t_in=2, default_t_out=4,
                splits={"train": "2000-2001", "valid": "2002", "test": "2003"}, progress=False)
    return path


def _trained_climatology(store_path, out):
    from geostp.training import train

    cfg = {"data": {"store": str(store_path), "variables": ["t850"], "t_in": 2, "t_out": 4, "in_memory": True,
                    "valid_max_windows": 8},
           "model": {"name": "climatology", "preset": "tiny"},
           "train": {"max_steps": 1, "batch_size": 4, "progress": False}}
    return train(cfg, out=out, overwrite=True)


def test_climatology_model_forecasts_the_scorecard_climatology(seasonal_store, tmp_path):
    run = _trained_climatology(seasonal_store, tmp_path / "run")
    pred = Predictor.from_run(run)  # weights reloaded from safetensors: the fitted table survives the round trip
    store = open_store(seasonal_store)
    inits = resolve_inits(store, "2003-03-01/2003-03-20", pred, 8, 1)
    fc = predict(pred, store, inits, 8, progress=False)  # 8 frames: beyond T_out = 4, no rollout of a constant
    clim = compute_climatology(store, ["t850"])
    expected = climatology_at(clim, fc["valid_time"])["t850"]
    np.testing.assert_allclose(fc["t850"].values, expected.transpose(*fc["t850"].dims).values, rtol=0, atol=2e-3)
    # the climatology varies with season and time of day: not one field repeated (today's bug)
    assert float(fc["t850"].std("init_time").mean()) > 1.0
    ok, _ = scored_inits(fc, store)
    pt = per_time_scores({"climatology": fc}, store, ok, metrics=["rmse", "acc"])
    assert list(pt["model"].values) == ["climatology-model", "persistence", "climatology"]
    s = summarize(pt)["value"].sel(variable="t850", metric="rmse")
    np.testing.assert_allclose(s.sel(model="climatology-model"), s.sel(model="climatology"), rtol=1e-4)
    assert float(s.sel(model="climatology").mean()) < 2.0  # noise is 1 K; a global constant would be ~10 K


def test_climatology_model_without_times_is_the_annual_mean(seasonal_store):
    store = open_store(seasonal_store)
    model = create("climatology", in_shape=(2, 1, 4, 8), t_out=3)
    stats = {"t850": {"norm_offset": float(store["t850"].attrs["norm_offset"]),
                      "norm_scale": float(store["t850"].attrs["norm_scale"])}}
    model.fit_store(store, ["t850"], stats)
    out = model(torch.zeros(1, 2, 1, 4, 8))
    train_mean = store["t850"].isel(time=np.flatnonzero(store["split"].values == "train")).mean("time").values
    phys = out[0, 0, 0].numpy() * stats["t850"]["norm_scale"] + stats["t850"]["norm_offset"]
    np.testing.assert_allclose(phys, train_mean, atol=0.3)  # mean + harmonics fit: close to the plain mean
    state = model.state_dict()
    again = create("climatology", in_shape=(2, 1, 4, 8), t_out=3)
    again.load_state_dict(state)  # the fitted table's shape differs from a fresh model's: loading adopts it
    assert torch.equal(again.table, model.table) and again.table.shape[1:3] == (4, 7)
