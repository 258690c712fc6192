"""Ensemble forecasts: a `member` dim made by initial-condition perturbations, scored with CRPS and spread."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from scores.probability import crps_for_ensemble

from geostp.data.store import open_store
from geostp.evaluation.metrics import lat_weights
from geostp.errors import ConfigError
from geostp.forecast.ensemble import EnsembleSpec, correlated_noise
from geostp.forecast.predict import Predictor, predict, resolve_inits
from geostp.workflows.forecast import ForecastRequest, run_forecast


def _setup(run_dir, tiny_store):
    store = open_store(tiny_store[0])
    pred = Predictor.from_run(run_dir)
    return store, pred, resolve_inits(store, "2003-06-01T00/2003-06-01T18", pred, 4, 1)


def test_members_are_a_realization_dim_and_zero_amplitude_gives_the_deterministic_forecast(run_dir, tiny_store):
    store, pred, inits = _setup(run_dir, tiny_store)
    det = predict(pred, store, inits, 4, progress=False)
    same = predict(pred, store, inits, 4, progress=False, ensemble=EnsembleSpec(members=3, amplitude=0.0))
    assert same["t850"].dims == ("init_time", "member", "lead_time", "lat", "lon")
    assert same["member"].attrs["standard_name"] == "realization" and list(same["member"].values) == [0, 1, 2]
    for k in range(3):
        np.testing.assert_array_equal(same["t850"].isel(member=k).values, det["t850"].values)
    ens = predict(pred, store, inits, 4, progress=False, ensemble=EnsembleSpec(members=3, amplitude=0.5))
    spread = ens["t850"].std("member")
    assert float(spread.min()) > 0  # every member differs everywhere
    # members do not depend on how init times are batched
    one = predict(pred, store, inits, 4, progress=False, batch_size=1, ensemble=EnsembleSpec(members=3, amplitude=0.5))
    np.testing.assert_allclose(one["t850"].values, ens["t850"].values, rtol=1e-6)


def test_perturbations_are_unit_std_smooth_fields_periodic_in_longitude():
    rng = np.random.default_rng(0)
    n = correlated_noise(rng, (200, 16, 32), 2.0, periodic_lon=True)
    assert np.allclose(n.std(axis=(-2, -1)), 1.0)
    lag1 = np.mean(n[..., 1:] * n[..., :-1])  # neighbours correlate once smoothed (white noise: ~0)
    wrap = np.mean(n[..., 0] * n[..., -1])  # across the dateline as much as anywhere else
    assert lag1 > 0.7 and abs(wrap - lag1) < 0.1
    regional = correlated_noise(np.random.default_rng(0), (200, 16, 32), 2.0, periodic_lon=False)
    assert np.mean(regional[..., 0] * regional[..., -1]) < 0.1  # a regional grid does not wrap


def test_bad_ensemble_requests_are_one_line_errors():
    with pytest.raises(ConfigError, match="--members"):
        EnsembleSpec(members=0)
    with pytest.raises(Exception, match="perturb"):
        EnsembleSpec(members=2, method="dropout")


def test_forecast_with_members_writes_them_and_scores_crps_and_spread(run_dir, tiny_store, tmp_path):
    res = run_forecast(ForecastRequest(model="vip_mixer", variables=["t850"], run=str(run_dir), data=str(tiny_store[0]),
                                       init=["2003-06-01T00/2003-06-03T00"], out=str(tmp_path / "ens.zarr"), plot=False,
                                       progress=False, members=4, perturb_amplitude=0.3), echo=lambda m: None)
    fc = xr.open_zarr(res.zarr)
    assert fc.sizes["member"] == 4 and fc.attrs["ensemble_members"] == 4 and "ensemble_perturbation" in fc.attrs
    s = res.scores.sel(variable="t850", region="global")
    assert {"rmse", "crps", "spread"} <= set(s["metric"].values)
    # the deterministic baselines: CRPS of a point forecast is its MAE, spread 0
    assert float(s["value"].sel(model="persistence", metric="spread").max()) == 0.0
    model = fc.attrs["model"]
    assert float(s["value"].sel(model=model, metric="spread").min()) > 0
    # the model's CRPS equals the scores package's fair CRPS on the written members and the store's truth
    store = open_store(tiny_store[0])
    obs = store["t850"].sel(time=fc["valid_time"].values.ravel()).values.reshape(fc["t850"].isel(member=0).shape)
    truth = xr.DataArray(obs, dims=("init_time", "lead_time", "lat", "lon"),
                         coords={k: fc[k] for k in ("init_time", "lead_time", "lat", "lon")})
    ref = crps_for_ensemble(fc["t850"].load().drop_vars("valid_time"), truth, "member", method="fair",
                            preserve_dims=["lead_time"], weights=lat_weights(fc["lat"]))
    np.testing.assert_allclose(s["value"].sel(model=model, metric="crps").values, ref.values, rtol=1e-5)
