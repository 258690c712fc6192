"""Frame stores with members: per-pixel fair CRPS and best-of-N SSIM in the frame metrics."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from scores.probability import crps_for_ensemble
from skimage.metrics import structural_similarity

from geostp.data.store import open_store, write_store
from geostp.evaluation.scorecard import per_time_scores, scored_inits


def test_frame_members_score_per_pixel_crps_and_best_of_n_ssim(tmp_path):
    rng = np.random.default_rng(0)
    n, m = 24, 3
    frames = rng.uniform(0.0, 1.0, size=(n, 8, 8)).astype(np.float32)
    frames[:, 0, 0], frames[:, 0, 1] = 0.0, 1.0  # the train range is exactly [0, 1]: scored as stored
    split = np.where(np.arange(n) < 16, "train", "test")
    ds = xr.Dataset({"frames": (("time", "y", "x"), frames, {"units": "1"})},
                    coords={"time": np.arange(n), "y": np.arange(8), "x": np.arange(8), "split": ("time", split)})
    write_store(ds, tmp_path / "f.zarr", catalog="test", time_step="1", norm_kind="zscore", default_t_in=2,
                default_t_out=2, progress=False)
    store = open_store(tmp_path / "f.zarr")
    inits = np.arange(16, n - 2)
    truth = np.stack([frames[inits + 1], frames[inits + 2]], axis=1)  # (init, lead, y, x)
    noise = np.array([0.02, 0.3, 0.15])  # member 0 is the closest everywhere: the best of N
    pred = np.clip(truth[:, None] + noise[None, :, None, None, None] * rng.normal(size=(len(inits), m, 2, 8, 8)), 0, 1)
    fc = xr.Dataset({"frames": (("init_time", "member", "lead_time", "channel", "y", "x"),
                                pred[:, :, :, None].astype(np.float32))},
                    coords={"init_time": inits, "member": np.arange(m), "lead_time": [1, 2], "channel": ["frames"],
                            "y": np.arange(8), "x": np.arange(8),
                            "valid_time": (("init_time", "lead_time"), inits[:, None] + np.array([1, 2]))})
    ok, _ = scored_inits(fc, store)
    pt = per_time_scores({"m": fc}, store, ok, metrics=["crps", "ssim_best", "ssim"], baselines=())
    got = pt.sel(model="m", region="frame").isel(variable=0)
    # per-pixel fair CRPS, mean over pixels: the scores package on the same arrays
    f = xr.DataArray(pred.astype(np.float32), dims=("init_time", "member", "lead_time", "y", "x"))
    o = xr.DataArray(truth, dims=("init_time", "lead_time", "y", "x"))
    ref = crps_for_ensemble(f, o, "member", method="fair", preserve_dims=["init_time", "lead_time"])
    np.testing.assert_allclose(got.sel(metric="crps").values, ref.values, rtol=1e-5)
    # best of N: the member with the highest mean SSIM over leads, per sample (float32 frames: 1e-5 tolerances)
    s = np.array([[[structural_similarity(truth[i, l], pred[i, k, l], data_range=2.0, win_size=7,
                                          gaussian_weights=False, use_sample_covariance=True) for l in range(2)]
                   for k in range(m)] for i in range(len(inits))])
    best = s[np.arange(len(inits)), s.mean(-1).argmax(-1)]
    np.testing.assert_allclose(got.sel(metric="ssim_best").values, best, rtol=1e-5)
    assert (s.mean(-1).argmax(-1) == 0).all()  # the least noisy member wins
    assert (got.sel(metric="ssim_best").values.mean(-1) >= s.mean(-1).max(-1) - 1e-5).all()
    # a deterministic forecast: best-of-N SSIM is its SSIM, CRPS its per-pixel MAE
    det = fc.isel(member=0, drop=True)
    pd_ = per_time_scores({"d": det}, store, ok, metrics=["crps", "ssim_best", "ssim"], baselines=())
    d = pd_.sel(model="d", region="frame").isel(variable=0)
    np.testing.assert_allclose(d.sel(metric="ssim_best").values, d.sel(metric="ssim").values)
    assert float(d.sel(metric="crps").values[0, 0]) == pytest.approx(float(np.abs(pred[0, 0, 0] - truth[0, 0]).mean()),
                                                                     rel=1e-5)
