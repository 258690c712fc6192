"""Baselines, climatology, bootstrap scorecards and their outputs on a tiny store."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

from geostp.data.store import open_store, write_store
from geostp.errors import DataError
from geostp.evaluation.baselines import climatology_at, compute_climatology
from geostp.evaluation.scorecard import (
    BootstrapConfig, format_table, per_time_scores, relative_scorecard, scored_inits, summarize, write_scores)
from geostp.forecast.predict import Predictor, predict, resolve_inits
from geostp.models import create


def _persistence_forecast(store, t_in=3, inits="2003-04-01/2003-04-10", n=4):
    model = create("persistence", in_shape=(t_in, 2, 4, 8), t_out=n)
    pred = Predictor.from_model(model, store)
    with torch.no_grad():
        return predict(pred, store, resolve_inits(store, inits, pred, n, 1), n, progress=False)


def test_persistence_baseline_equals_copying_the_last_input(tiny_store):
    path, _ = tiny_store
    store = open_store(path)
    fc = _persistence_forecast(store)  # the persistence *model*: copies the last input frame
    inits, dropped = scored_inits(fc, store)
    assert len(dropped) == 0
    pt = per_time_scores({"copy_last_input": fc}, store, inits)
    assert list(pt["model"].values) == ["copy_last_input", "persistence", "climatology"]
    a, b = pt.sel(model="copy_last_input").values, pt.sel(model="persistence").values
    assert np.isfinite(a).all() and np.array_equal(a, b)  # exactly equal, every metric, init and lead
    s = summarize(pt, BootstrapConfig(n_boot=50))
    assert np.array_equal(s["value"].sel(model="copy_last_input"), s["value"].sel(model="persistence"))


def test_scores_bootstrap_and_outputs(tiny_store, tmp_path):
    path, _ = tiny_store
    store = open_store(path)
    fc = _persistence_forecast(store)
    inits, _ = scored_inits(fc, store)
    pt = per_time_scores({"m": fc}, store, inits, metrics=["rmse", "bias"])
    s = summarize(pt, BootstrapConfig(n_boot=200, seed=1))
    v, lo, hi = (s[k].sel(model="climatology", metric="rmse", variable="t850").values for k in ("value", "ci_low", "ci_high"))
    assert np.all(lo <= v) and np.all(v <= hi) and np.all(hi > lo)
    expected = np.sqrt(pt.sel(model="m", metric="rmse", variable="t850").mean("init_time").values)
    np.testing.assert_allclose(s["value"].sel(model="m", metric="rmse", variable="t850").values, expected)
    card = relative_scorecard(pt, "persistence", BootstrapConfig(n_boot=50))
    np.testing.assert_array_equal(card["relative_change_percent"].sel(model="persistence"), 0.0)
    paths = write_scores(s, tmp_path / "eval", scorecard=card)
    df = pd.read_csv(paths["csv"])
    assert set(df.columns) >= {"model", "variable", "metric", "lead", "value", "ci_low", "ci_high", "n_init"}
    assert list(df["lead"].unique()) == ["6h", "12h", "18h", "24h"]
    back = xr.load_dataset(paths["netcdf"])
    np.testing.assert_allclose(back["value"].values, s["value"].values)
    table = format_table(s, "rmse", "t850")
    assert "RMSE of t850" in table and "persistence" in table and "24h" in table


def test_truth_without_the_valid_times(tiny_store, tmp_path):
    path, ds = tiny_store
    store = open_store(path)
    fc = _persistence_forecast(store)
    early = ds.sel(time=slice("2000-01-01", "2001-12-31"))
    other = tmp_path / "early.zarr"
    write_store(early.assign_coords(split=("time", np.where(early.time.dt.year == 2000, "train", "valid"))), other,
                catalog="test", time_step="6h", norm_kind="zscore", default_t_in=4, default_t_out=4, progress=False)
    with pytest.raises(DataError, match=r"none of the forecast's valid times.*2003-04-01.*2000-01-01T00:00:00 \.\. 2001-12-31"):
        scored_inits(fc, open_store(other))


def test_climatology_recovers_a_seasonal_and_diurnal_cycle(tmp_path):
    times = pd.date_range("2000-01-01", "2003-12-31 18:00", freq="6h")
    lat, lon = np.array([-45.0, 45.0]), np.array([0.0, 180.0])
    phase = 2 * np.pi * ((times - pd.Timestamp("2000-01-01")) / pd.Timedelta(days=365.2422)).values
    hour = times.hour.values
    signal = 280 + 10 * np.cos(phase)[:, None, None] * np.array([1, -1])[None, :, None] + (hour == 12)[:, None, None] * 3
    noise = np.random.default_rng(0).normal(scale=0.5, size=(len(times), 2, 2))
    split = np.where(times.year <= 2002, "train", "test")
    ds = xr.Dataset({"t850": (("time", "lat", "lon"), (signal + noise).astype(np.float32), {"units": "K"})},
                    coords={"time": times, "lat": lat, "lon": lon, "split": ("time", split)})
    clim = compute_climatology(ds, ["t850"])
    assert clim.attrs["harmonics"] == 3 and "3 annual harmonics" in clim.attrs["climatology_method"]
    at = climatology_at(clim, times[split == "test"].values)
    np.testing.assert_allclose(at["t850"].values, np.broadcast_to(signal[split == "test"], at["t850"].shape), atol=0.15)
    with pytest.raises(DataError, match="no values for time"):
        climatology_at(clim, np.array(["2003-01-01T03"], dtype="datetime64[ns]"))


def test_video_frames_scored_on_the_unit_scale(tmp_path):
    rng = np.random.default_rng(0)
    n = 60
    frames = rng.integers(0, 256, size=(n, 8, 8)).astype(np.float32)
    split = np.where(np.arange(n) < 40, "train", "test")
    ds = xr.Dataset({"frames": (("time", "y", "x"), frames, {"units": "1"})},
                    coords={"time": np.arange(n), "y": np.arange(8), "x": np.arange(8), "split": ("time", split)})
    path = tmp_path / "video.zarr"
    write_store(ds, path, catalog="test", time_step="1", norm_kind="fixed", fixed_norm={"frames": (0.0, 255.0)},
                default_t_in=2, default_t_out=2, progress=False)
    store = open_store(path)
    model = create("persistence", in_shape=(2, 1, 8, 8), t_out=2)
    pred = Predictor.from_model(model, store)
    fc = predict(pred, store, resolve_inits(store, "test", pred, 2, 1), 2, progress=False)
    assert fc["frames"].dims == ("init_time", "lead_time", "channel", "y", "x")
    inits, _ = scored_inits(fc, store)
    pt = per_time_scores({"copy": fc}, store, inits)
    assert list(pt["metric"].values) == ["mae", "mse", "psnr", "ssim"]
    assert np.array_equal(pt.sel(model="copy").values, pt.sel(model="persistence").values)
    # OpenSTL MSE: per-frame sum over (channel, y, x) of squared errors on the [0, 1] scale
    t0 = int(inits[0])
    expect = (((frames[t0] - frames[t0 + 1]) / 255.0) ** 2).sum()
    assert float(pt.sel(model="copy", metric="mse", region="frame").values[0, 0, 0]) == pytest.approx(expect, rel=1e-5)
    assert "[0, 1] scale" in pt.attrs["frame_scale"]


def test_rmse_interval_of_a_short_persistent_series_is_finite():
    """13 monthly inits in two regimes: the widened bootstrap (t quantile with 1 degree of freedom) takes some
    resampled mean squares below 0. They count as 0, so the RMSE interval is finite and brackets the score
    (it was [nan, nan] with a RuntimeWarning, as for OSTIA's monthly climatology at 1 month)."""
    import warnings

    mse = np.r_[np.full(7, 1.0), np.full(6, 0.01)]
    pt = xr.DataArray(mse.reshape(1, 1, 1, 1, 13, 1),
                      dims=("model", "variable", "metric", "region", "init_time", "lead_time"),
                      coords={"model": ["m"], "variable": ["t850"], "metric": ["rmse"], "region": ["global"],
                              "init_time": pd.date_range("2009-01-01", periods=13, freq="MS"),
                              "lead_time": [np.timedelta64(30, "D")]},
                      attrs={"family": "weather", "convention": "wb2", "pooled": 0})
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        s = summarize(pt).squeeze()
    value, lo, hi = (float(s[k]) for k in ("value", "ci_low", "ci_high"))
    assert value == pytest.approx(np.sqrt(mse.mean()))
    assert 0.0 <= lo < value < hi and np.isfinite(hi)
