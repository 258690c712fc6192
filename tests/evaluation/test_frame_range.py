"""Frame stores that are not min-max scaled (any range, minimum not 0): clipping and SSIM/PSNR range."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from skimage.metrics import structural_similarity

from geostp.data.store import open_store, write_store
from geostp.evaluation.scorecard import per_time_scores, scored_inits


def test_frames_with_an_offset_range_score_as_their_unit_scale_equivalent(tmp_path):
    rng = np.random.default_rng(0)
    n, lo, hi = 40, 100.0, 200.0
    frames = rng.uniform(lo, hi, size=(n, 8, 8)).astype(np.float32)
    frames[:, 0, 0], frames[:, 0, 1] = lo, hi  # the train range is exactly [100, 200]
    split = np.where(np.arange(n) < 30, "train", "test")
    ds = xr.Dataset({"frames": (("time", "y", "x"), frames, {"units": "1"})},
                    coords={"time": np.arange(n), "y": np.arange(8), "x": np.arange(8), "split": ("time", split)})
    path = tmp_path / "offset.zarr"
    write_store(ds, path, catalog="test", time_step="1", norm_kind="zscore", default_t_in=2, default_t_out=1,
                progress=False)
    store = open_store(path)
    inits = np.arange(30, n - 1)
    pred = frames[inits] + rng.normal(0, 20, (len(inits), 8, 8)).astype(np.float32)  # overshoots the range
    fc = xr.Dataset({"frames": (("init_time", "lead_time", "channel", "y", "x"), pred[:, None, None])},
                    coords={"init_time": inits, "lead_time": [1], "channel": ["frames"], "y": np.arange(8),
                            "x": np.arange(8), "valid_time": (("init_time", "lead_time"), inits[:, None] + 1)})
    ok, _ = scored_inits(fc, store)
    pt = per_time_scores({"m": fc}, store, ok, metrics=["ssim", "psnr", "mse"], baselines=())
    truth = frames[inits + 1]
    unit_f, unit_o = (np.clip(pred, lo, hi) - lo) / (hi - lo), (truth - lo) / (hi - lo)
    for k in range(3):  # OpenSTL on [0, 1] frames: clip the prediction, SSIM with data_range 2, PSNR peak 1
        expect = structural_similarity(unit_o[k], unit_f[k], data_range=2.0, win_size=7, gaussian_weights=False,
                                       use_sample_covariance=True)
        got = float(pt.sel(model="m", metric="ssim", region="frame").values[0, k, 0])
        assert got == pytest.approx(expect, rel=1e-5)
        psnr = -10 * np.log10(np.mean((unit_f[k] - unit_o[k]) ** 2))
        assert float(pt.sel(model="m", metric="psnr", region="frame").values[0, k, 0]) == pytest.approx(psnr, rel=1e-5)
    # MSE stays in the store's units (per-frame sum, unclipped prediction)
    mse = float(pt.sel(model="m", metric="mse", region="frame").values[0, 0, 0])
    assert mse == pytest.approx(float(((pred[0] - truth[0]) ** 2).sum()), rel=1e-5)
    assert "minus the train minimum 100" in pt.attrs["frame_scale"]
