"""Metric definitions against hand computations and independent reference implementations."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from geostp.errors import DataError, ShapeError
from geostp.evaluation import metrics as M


def _scalar(da: xr.DataArray) -> float:
    return float(da.values.squeeze())


def _field(values, lat=(-60.0, 0.0, 60.0), lon=(0.0, 180.0), inits=2, leads=1):
    arr = np.asarray(values, dtype=np.float64).reshape(inits, leads, len(lat), len(lon))
    return xr.DataArray(arr, dims=("init_time", "lead_time", "lat", "lon"),
                        coords={"init_time": np.arange(inits), "lead_time": np.arange(leads), "lat": list(lat),
                                "lon": list(lon)})


def test_lat_weights_5625_grid():
    lat = np.arange(-90 + 5.625 / 2, 90, 5.625)
    w = M.lat_weights(xr.DataArray(lat, dims="lat", coords={"lat": lat}))
    assert w.sum() == pytest.approx(32.0)
    assert float(w[0]) == pytest.approx(0.0770444, abs=1e-7) and float(w[15]) == pytest.approx(1.5682742, abs=1e-7)
    np.testing.assert_allclose(w, np.cos(np.deg2rad(lat)) / np.cos(np.deg2rad(lat)).mean(), rtol=1e-12)
    with pytest.raises(DataError, match="ascending"):
        M.lat_weights(xr.DataArray(lat[::-1], dims="lat"))


def test_rmse_acc_bias_mae_by_hand():
    # rows at -60, 0, 60: edges -90, -30, 30, 90 -> sin differences 0.5, 1, 0.5 -> weights (mean 1) 0.75, 1.5, 0.75
    w = np.array([0.75, 1.5, 0.75])
    np.testing.assert_allclose(M.lat_weights(xr.DataArray([-60.0, 0.0, 60.0], dims="lat")), w)
    f = _field([[1, 2], [3, 4], [5, 6], [0, 0], [1, 1], [2, 0]])
    o = _field([[0, 2], [1, 4], [5, 3], [1, 0], [0, 1], [2, 2]])
    e = (f - o).values[:, 0]  # (init, lat, lon)
    area = lambda x: (w[:, None] * x).sum(axis=(-2, -1)) / (w.sum() * 2)  # noqa: E731
    mse_t = area(e**2)  # per init: [(0.75*1 + 1.5*4 + 0.75*9)/6, (0.75*1 + 1.5*1 + 0.75*4)/6]
    np.testing.assert_allclose(mse_t, [13.5 / 6, 5.25 / 6])
    assert _scalar(M.rmse(f, o)) == pytest.approx(np.sqrt(mse_t.mean()))  # root after the time mean
    assert _scalar(M.bias(f, o)) == pytest.approx(area(e).mean())
    assert _scalar(M.mae(f, o)) == pytest.approx(area(np.abs(e)).mean())
    c = _field([[1, 1], [2, 2], [3, 3], [1, 1], [2, 2], [3, 3]])
    fa, oa = (f - c).values[:, 0], (o - c).values[:, 0]
    acc_t = area(fa * oa) / np.sqrt(area(fa**2) * area(oa**2))
    assert _scalar(M.acc(f, o, c)) == pytest.approx(acc_t.mean())
    assert M.rmse(f, o).dims == ("lead_time",)


def test_constant_error_and_nan_visibility():
    o = _field(np.random.default_rng(0).normal(size=12))
    for delta in (0.5, -2.0):
        assert _scalar(M.rmse(o + delta, o)) == pytest.approx(abs(delta))
        assert _scalar(M.mae(o + delta, o)) == pytest.approx(abs(delta))
        assert _scalar(M.bias(o + delta, o)) == pytest.approx(delta)
    f = o.copy()
    f[0, 0, 1, 1] = np.nan
    assert np.isnan(_scalar(M.rmse(f, o)))


def test_exact_alignment_shows_both_grids():
    o = _field(np.zeros(12))
    f = o.assign_coords(lon=[0.0, 90.0])
    with pytest.raises(ShapeError, match=r"lon: forecast 2 values 0.0 .. 90.0 vs truth 2 values 0.0 .. 180.0"):
        M.rmse(f, o)


def test_dask_inputs_stay_lazy_and_agree():
    rng = np.random.default_rng(1)
    f, o = _field(rng.normal(size=12)), _field(rng.normal(size=12))
    lazy = M.rmse(f.chunk({"init_time": 1}), o.chunk({"init_time": 1}))
    assert lazy.chunks is not None
    assert _scalar(lazy.compute()) == pytest.approx(_scalar(M.rmse(f, o)))


def _frames(arr):
    return xr.DataArray(arr, dims=("init_time", "lead_time", "channel", "y", "x"))


def _ssim_reference(a, b, data_range, win=7):
    """Independent SSIM: uniform 7x7 window, sample covariance, K1 0.01, K2 0.03, 3-pixel border cropped."""
    from scipy.ndimage import uniform_filter

    n = win * win
    cov = n / (n - 1)
    ux, uy = uniform_filter(a, win), uniform_filter(b, win)
    vx = cov * (uniform_filter(a * a, win) - ux * ux)
    vy = cov * (uniform_filter(b * b, win) - uy * uy)
    vxy = cov * (uniform_filter(a * b, win) - ux * uy)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux**2 + uy**2 + c1) * (vx + vy + c2))
    pad = (win - 1) // 2
    return s[pad:-pad, pad:-pad].mean()


def test_ssim_psnr_match_reference_implementations():
    from skimage.metrics import peak_signal_noise_ratio

    rng = np.random.default_rng(2)
    truth = rng.uniform(size=(2, 3, 2, 16, 16))
    pred = np.clip(truth + 0.1 * rng.normal(size=truth.shape), -0.2, 1.2)
    f, o = _frames(pred), _frames(truth)
    clipped = np.clip(pred, 0, 1)
    ref = np.array([[np.mean([_ssim_reference(clipped[i, t, c], truth[i, t, c], 2.0) for c in range(2)])
                     for t in range(3)] for i in range(2)])
    np.testing.assert_allclose(M.ssim_per_time(f, o).values, ref, rtol=1e-10)  # OpenSTL: data_range 2
    ref1 = np.array([[np.mean([_ssim_reference(clipped[i, t, c], truth[i, t, c], 1.0) for c in range(2)])
                      for t in range(3)] for i in range(2)])
    np.testing.assert_allclose(M.ssim_per_time(f, o, data_range=1.0).values, ref1, rtol=1e-10)
    psnr_ref = np.array([[peak_signal_noise_ratio(truth[i, t], clipped[i, t], data_range=1.0) for t in range(3)]
                         for i in range(2)])
    np.testing.assert_allclose(M.psnr_per_time(f, o).values, psnr_ref, rtol=1e-10)
    np.testing.assert_allclose(M.psnr(f, o).values, psnr_ref.mean(axis=0))  # mean of per-frame PSNRs


def test_openstl_mse_mae_are_per_frame_sums():
    rng = np.random.default_rng(3)
    pred, truth = rng.normal(size=(4, 2, 1, 5, 6)), rng.normal(size=(4, 2, 1, 5, 6))
    f, o = _frames(pred), _frames(truth)
    np.testing.assert_allclose(M.openstl_mse(f, o).values, ((pred - truth) ** 2).sum(axis=(2, 3, 4)).mean(axis=0))
    np.testing.assert_allclose(M.openstl_mae(f, o).values, np.abs(pred - truth).sum(axis=(2, 3, 4)).mean(axis=0))
