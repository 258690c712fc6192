"""`geostp evaluate` on an ensemble forecast: rank histograms and fair Brier scores in ensemble.nc, CRPS and
spread-skill printed per lead."""

from __future__ import annotations

import operator

import numpy as np
import xarray as xr
from scores.probability import brier_score_for_ensemble

from geostp.data.store import open_store
from geostp.evaluation.ensemble import rank_histogram
from geostp.evaluation.metrics import lat_weights
from geostp.workflows.evaluate import evaluate_paths, report_lines
from geostp.workflows.forecast import ForecastRequest, run_forecast


def test_evaluate_writes_rank_histograms_and_brier_scores_of_members(run_dir, tiny_store, tmp_path):
    res = run_forecast(ForecastRequest(model="vip_mixer", variables=["t850"], run=str(run_dir), data=str(tiny_store[0]),
                                       init=["2003-06-01T00/2003-06-02T00"], out=str(tmp_path / "ens.zarr"), plot=False,
                                       progress=False, members=4, perturb_amplitude=0.3), echo=lambda m: None)
    result = evaluate_paths([res.zarr], str(tiny_store[0]), tmp_path / "eval", n_boot=10, progress=False,
                            echo=lambda m: None)
    ens = xr.load_dataset(result.paths["ensemble"])
    fc = xr.open_zarr(res.zarr).load()
    model = fc.attrs["model"]
    hist = ens["rank_histogram"].sel(model=model, variable="t850")
    assert hist.sizes["rank"] == 5
    np.testing.assert_allclose(hist.sum("rank").values, 1.0)
    # the same arrays through the pure functions and the scores package
    store = open_store(tiny_store[0])
    obs = store["t850"].sel(time=fc["valid_time"].values.ravel()).values.reshape(fc["t850"].isel(member=0).shape)
    f = fc["t850"].reset_coords(drop=True)
    truth = xr.DataArray(obs, dims=("init_time", "lead_time", "lat", "lon"), coords={k: f[k] for k in
                                                                                    ("init_time", "lead_time", "lat", "lon")})
    np.testing.assert_allclose(hist.values, rank_histogram(f, truth).transpose("lead_time", "rank").values)
    # thresholds: per grid point train-split 10th/90th percentiles
    train = store["t850"].isel(time=np.flatnonzero(store["split"].values == "train")).values
    thr = ens["threshold"].sel(variable="t850")
    np.testing.assert_allclose(thr.values, np.quantile(train, [0.1, 0.9], axis=0), rtol=1e-5)
    for q in (0.1, 0.9):
        t = thr.sel(quantile=q).assign_coords(lat=f["lat"], lon=f["lon"]).astype(float)
        # x > t(lat, lon) is (x - t) > 0: a scalar threshold for the scores package
        ref = brier_score_for_ensemble(f - t, truth - t, "member", 0.0, fair_correction=True,
                                       event_threshold_operator=operator.gt, preserve_dims=["lead_time"],
                                       weights=lat_weights(f["lat"]))
        np.testing.assert_allclose(ens["brier"].sel(model=model, variable="t850", quantile=q).values,
                                   np.squeeze(ref.values), rtol=1e-5, atol=1e-12)
    # the printed CRPS / spread-skill table: spread / rmse of the ensemble-mean row of the scores
    text = "\n".join(report_lines(result))
    s = result.scores["value"].sel(model=model, variable="t850", region="global")
    ratio = float(s.sel(metric="spread")[-1] / s.sel(metric="rmse")[-1])
    assert f"ensemble {model} t850 (global)" in text and f"{ratio:13.3f}" in text
    assert "ensemble persistence" not in text


def test_ensemble_plots_show_the_computed_scores_and_members(run_dir, tiny_store, tmp_path):
    import matplotlib.pyplot as plt

    from geostp.plots.ensemble import ensemble_scores_figure, rank_histogram_figure
    from geostp.workflows.plot import plot_path

    res = run_forecast(ForecastRequest(model="vip_mixer", variables=["t850"], run=str(run_dir), data=str(tiny_store[0]),
                                       init=["2003-06-01T00/2003-06-01T12"], out=str(tmp_path / "ens.zarr"), plot=False,
                                       progress=False, members=3, perturb_amplitude=0.3), echo=lambda m: None)
    result = evaluate_paths([res.zarr], str(tiny_store[0]), tmp_path / "eval", n_boot=10, progress=False,
                            echo=lambda m: None)
    for key in ("ensemble_png", "rank_histogram_t850"):
        assert result.paths[key].is_file() and result.paths[key].stat().st_size > 1000
    ens = xr.load_dataset(result.paths["ensemble"])
    model = str(ens["model"].values[0])
    fig = rank_histogram_figure(ens, model, "t850")
    for ax, li in zip(fig.axes, range(4)):  # 4 leads: one panel each
        heights = [p.get_height() for p in ax.patches]
        np.testing.assert_allclose(heights, ens["rank_histogram"].sel(model=model, variable="t850").isel(lead_time=li))
    plt.close(fig)
    fig = ensemble_scores_figure(result.scores)
    crps_ax, ratio_ax = fig.axes[0], fig.axes[1]
    s = result.scores["value"].sel(variable="t850", region="global")
    lines = {ln.get_label(): ln.get_ydata() for ln in crps_ax.lines}
    # the baselines' CRPS (their MAE) too, and the probabilistic climatology's
    assert set(lines) == {model, "persistence", "climatology", "probabilistic_climatology"}
    np.testing.assert_allclose(lines["persistence"], s.sel(model="persistence", metric="crps"))
    ratio = {ln.get_label(): ln.get_ydata() for ln in ratio_ax.lines if not ln.get_label().startswith("_")}
    assert list(ratio) == [model, "probabilistic_climatology"]  # only ensembles have a spread-skill ratio
    np.testing.assert_allclose(ratio[model], s.sel(model=model, metric="spread") / s.sel(model=model, metric="rmse"))
    plt.close(fig)
    kind, png = plot_path(res.zarr, truth=str(tiny_store[0]), var="t850", lead="12h", members=True)
    assert kind == "members" and png.is_file() and png.stat().st_size > 1000 and png.name.endswith("-members.png")
