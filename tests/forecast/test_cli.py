"""`geostp forecast | evaluate | plot` end to end on the tiny store, and their errors on bad input."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from click.testing import CliRunner

from geostp.cli.main import cli


def _run(args):
    return CliRunner().invoke(cli, args, catch_exceptions=True)


@pytest.fixture
def env(monkeypatch, tmp_path):
    """An empty geostp cache (no runs) and a working directory without ./runs."""
    monkeypatch.setenv("GEOSTP_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_forecast_evaluate_plot(env, run_dir, tiny_store, monkeypatch):
    path, _ = tiny_store
    out = env / "fc.zarr"
    args = ["forecast", "--model", "vip_mixer", "--var", "t850", "--run", str(run_dir), "--data", str(path),
            "--init", "2003-05-01/2003-05-10", "--lead", "36h", "--out", str(out)]
    res = _run(args)
    assert res.exit_code == 0, res.output
    assert f"forecast: {out}" in res.output and "map: " in res.output
    assert "RMSE of t850 [K]" in res.output and "persistence" in res.output and "climatology" in res.output
    assert "36h" in res.output
    ds = xr.open_zarr(out)
    assert ds.sizes["lead_time"] == 6 and ds.sizes["init_time"] == 37  # rolled out beyond T_out = 4
    png = next(env.glob("fc-t850-36h.png"))
    assert png.stat().st_size > 10_000

    again = _run(args)  # an existing --out is refused, nothing is touched
    assert again.exit_code != 0 and "exists; pass --append" in str(again.exception or again.output)

    res = _run(["evaluate", str(out), "--truth", str(path), "--out", str(env / "ev"), "--n-boot", "50"])
    assert res.exit_code == 0, res.output
    for name in ("scores.csv", "scores.nc", "rmse_vs_lead.png"):
        assert (env / "ev" / name).stat().st_size > 0
    assert "ACC of t850" in res.output and "BIAS of t850" in res.output

    import shutil

    shutil.copytree(out, env / "fc2.zarr")  # a second forecast: cross-model scorecard against persistence
    res = _run(["evaluate", str(out), str(env / "fc2.zarr"), "--truth", str(path), "--out", str(env / "ev2"),
                "--n-boot", "50", "--metric", "rmse"])
    assert res.exit_code == 0, res.output
    assert "scorecard: RMSE change vs persistence" in res.output and "vip_mixer:fc2" in res.output
    assert (env / "ev2" / "scores_scorecard.csv").stat().st_size > 0

    res = _run(["plot", str(out), "--var", "t850", "--lead", "12h", "--truth", str(path), "--out", str(env / "m.png")])
    assert res.exit_code == 0, res.output
    assert (env / "m.png").stat().st_size > 10_000


def test_bad_names_list_known_ones(env, run_dir, tiny_store):
    path, _ = tiny_store
    res = _run(["forecast", "--model", "vip_mixr", "--var", "t850", "--data", str(path)])
    assert res.exit_code != 0
    msg = str(res.exception)
    assert "unknown model 'vip_mixr'" in msg and "vip_mixer" in msg and "simvp" in msg
    res = _run(["forecast", "--model", "vip_mixer", "--var", "t85", "--data", str(path)])
    msg = str(res.exception)
    assert "unknown variable 't85'" in msg and "known: t850, z500" in msg and "no trained runs yet" in msg
    res = _run(["forecast", "--model", "vip_mixer", "--var", "t850", "--data", str(path), "--t-in", "100000"])
    msg = str(res.exception)  # any store gets a quick run; one that cannot hold its windows says so
    assert "no gap-free run of 100000 + 12" in msg and "smaller --t-in" in msg


def test_evaluate_truth_without_valid_times(env, run_dir, tiny_store, tmp_path):
    from geostp.data.store import write_store

    path, ds = tiny_store
    out = env / "fc.zarr"
    assert _run(["forecast", "--model", "vip_mixer", "--var", "t850", "--run", str(run_dir), "--data", str(path),
                 "--init", "2003-05-01T00", "--out", str(out), "--no-plot", "--no-score"]).exit_code == 0
    early = ds.sel(time=slice("2000-01-01", "2001-12-31"))
    truth = tmp_path / "early.zarr"
    write_store(early.assign_coords(split=("time", np.where(early.time.dt.year == 2000, "train", "valid"))), truth,
                catalog="test", time_step="6h", norm_kind="zscore", default_t_in=4, default_t_out=4, progress=False)
    res = _run(["evaluate", str(out), "--truth", str(truth)])
    assert res.exit_code != 0 and "none of the forecast's valid times" in str(res.exception)


def test_video_forecast_frames_and_scores(env, tmp_path, run_factory):
    from geostp.data.store import write_store

    rng = np.random.default_rng(0)
    n = 80
    frames = rng.integers(0, 256, size=(n, 16, 16)).astype(np.float32)
    ds = xr.Dataset({"frames": (("time", "y", "x"), frames, {"units": "1"})},
                    coords={"time": np.arange(n), "split": ("time", np.where(np.arange(n) < 50, "train", np.where(np.arange(n) < 60, "valid", "test")))})
    store = tmp_path / "video.zarr"
    write_store(ds, store, catalog="test", time_step="1", norm_kind="fixed", fixed_norm={"frames": (0.0, 255.0)},
                default_t_in=3, default_t_out=2, progress=False)
    run = run_factory(tmp_path / "prun", store, model="persistence", variables=("frames",), t_in=3, t_out=2)
    out = env / "v.zarr"
    res = _run(["forecast", "--model", "persistence", "--var", "frames", "--run", str(run), "--data", str(store),
                "--out", str(out)])
    assert res.exit_code == 0, res.output
    fc = xr.open_zarr(out)
    assert fc["frames"].dims == ("init_time", "lead_time", "channel", "y", "x") and fc["lead_time"].attrs["units"] == "frames"
    assert "MSE of frames" in res.output and (env / "v-frames.png").stat().st_size > 5_000
