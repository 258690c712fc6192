"""Ensemble scores against the independent `scores` package and against what they must mean."""

from __future__ import annotations

import operator

import numpy as np
import pytest
import xarray as xr
from scores.probability import brier_score_for_ensemble, crps_for_ensemble, rank_histogram as scores_rank_histogram

from geostp.errors import ShapeError
from geostp.evaluation import ensemble as E
from geostp.evaluation.metrics import lat_weights


def _fields(m=6, n_init=5, seed=0):
    """A forecast ensemble (init_time, lead_time, member, lat, lon) and a truth drawn from the same law."""
    rng = np.random.default_rng(seed)
    lat, lon = np.linspace(-80, 80, 5), np.arange(0, 360, 45.0)
    coords = {"init_time": np.arange(n_init), "lead_time": [6, 12], "lat": lat, "lon": lon}
    base = rng.normal(size=(n_init, 2, 1, 5, 8))
    fc = xr.DataArray(base + rng.normal(size=(n_init, 2, m, 5, 8)), dims=("init_time", "lead_time", "member", "lat", "lon"),
                      coords={**coords, "member": np.arange(m)})
    truth = xr.DataArray(base[:, :, 0] + rng.normal(size=(n_init, 2, 5, 8)), dims=("init_time", "lead_time", "lat", "lon"),
                         coords=coords)
    return fc, truth


def test_fair_crps_equals_the_scores_package_pointwise_and_area_weighted():
    fc, truth = _fields()
    ours = E.crps_fair(fc, truth)
    ref = crps_for_ensemble(fc, truth, "member", method="fair", preserve_dims=["init_time", "lead_time", "lat", "lon"])
    np.testing.assert_allclose(ours.transpose(*ref.dims).values, ref.values, rtol=1e-10)
    w = lat_weights(fc["lat"])
    ref_mean = crps_for_ensemble(fc, truth, "member", method="fair", preserve_dims=["lead_time"], weights=w)
    np.testing.assert_allclose(E.crps(fc, truth).values, ref_mean.values, rtol=1e-10)


def test_fair_crps_of_one_member_twice_is_the_absolute_error_minus_nothing():
    """Two identical members: the pair term vanishes, CRPS_fair = |x - y|."""
    truth = xr.DataArray([1.0, -2.0], dims=("lat",))
    fc = xr.DataArray([[3.0, 3.0], [0.5, 0.5]], dims=("lat", "member"))
    np.testing.assert_allclose(E.crps_fair(fc, truth).values, [2.0, 2.5])


def test_spread_skill_ratio_of_a_reliable_ensemble_is_near_one():
    """Members and truth drawn from the same distribution: corrected ratio ~ 1 (it would read ~0.9 uncorrected at m=4)."""
    fc, truth = _fields(m=4, n_init=400, seed=1)
    ss = E.spread_skill(fc, truth)
    assert np.all(np.abs(ss["spread_skill_ratio"].values - 1) < 0.05)
    mean_rmse = np.sqrt(((fc.mean("member") - truth) ** 2 * lat_weights(fc["lat"])).mean(["lat", "lon"]).mean("init_time"))
    np.testing.assert_allclose(ss["ensemble_mean_rmse"].values, mean_rmse.values, rtol=1e-10)
    underdispersed = E.spread_skill(fc.mean("member") + 0.3 * (fc - fc.mean("member")), truth)
    assert np.all(underdispersed["spread_skill_ratio"].values < 0.5)


def test_rank_histogram_matches_scores_and_is_flat_for_a_reliable_ensemble():
    fc, truth = _fields(m=4, n_init=300, seed=2)
    ours = E.rank_histogram(fc, truth)
    ref = scores_rank_histogram(fc, truth, "member", preserve_dims=["lead_time"])
    np.testing.assert_allclose(ours.transpose("lead_time", "rank").values, ref.transpose("lead_time", ...).values, atol=1e-12)
    assert np.all(np.abs(ours.values - 1 / 5) < 0.03)


def test_fair_brier_equals_the_scores_package():
    fc, truth = _fields(seed=3)
    ours = E.brier_fair_per_time(fc, truth, 0.5, dims=("lat", "lon"), weights=lat_weights(fc["lat"]))
    ref = brier_score_for_ensemble(fc, truth, "member", 0.5, fair_correction=True, event_threshold_operator=operator.gt,
                                   preserve_dims=["init_time", "lead_time"], weights=lat_weights(fc["lat"]))
    np.testing.assert_allclose(ours.values, ref.squeeze(drop=True).transpose(*ours.dims).values, rtol=1e-10)


def test_ensemble_scores_refuse_deterministic_forecasts():
    fc, truth = _fields()
    with pytest.raises(ShapeError, match="--members"):
        E.crps(fc.isel(member=0), truth)
    with pytest.raises(ShapeError, match="at least 2"):
        E.spread_skill(fc.isel(member=[0]), truth)
