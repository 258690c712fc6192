"""Maps draw offline with the shipped coastline; frame grids and skill curves have the expected panels."""

from __future__ import annotations

import urllib.request

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from geostp.errors import DataError
from geostp.kinds import FRAMES_VAR


def _forecast(nlat=8, nlon=16, inits=2, leads=3):
    lat = np.linspace(-78.75, 78.75, nlat)
    lon = np.arange(nlon) * 360.0 / nlon
    init = pd.date_range("2018-03-01", periods=inits, freq="6h").values
    lead = np.arange(1, leads + 1) * np.timedelta64(6, "h")
    rng = np.random.default_rng(0)
    t = 270 + 20 * np.cos(np.deg2rad(lat))[None, None, :, None] + rng.normal(size=(inits, leads, nlat, nlon))
    ds = xr.Dataset({"t850": (("init_time", "lead_time", "lat", "lon"), t.astype(np.float32),
                              {"units": "K", "long_name": "Temperature at 850 hPa"})},
                    coords={"init_time": init, "lead_time": lead, "lat": lat, "lon": lon,
                            "valid_time": (("init_time", "lead_time"), init[:, None] + lead[None, :])},
                    attrs={"model": "vip_mixer"})
    times = pd.date_range("2018-02-28", "2018-03-03", freq="6h")
    truth = xr.Dataset({"t850": (("time", "lat", "lon"), 270 + rng.normal(size=(len(times), nlat, nlon)).astype(np.float32),
                                 {"units": "K"})}, coords={"time": times, "lat": lat, "lon": lon})
    return ds, truth


@pytest.fixture
def offline(monkeypatch):
    """Fail the test if anything (cartopy's downloader included) tries to reach the network."""
    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args[:1]}")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setattr("cartopy.io.urlopen", refuse)


def test_map_draws_offline_with_three_panels(offline, tmp_path):
    import cartopy
    import matplotlib.pyplot as plt

    from geostp.plots.maps import map_figure, offline_cartopy, plot_map

    fc, truth = _forecast()
    before = cartopy.config["pre_existing_data_dir"]
    png = plot_map(fc, "t850", tmp_path / "map.png", lead="18h", truth_store=truth)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
    assert cartopy.config["pre_existing_data_dir"] == before  # set only while drawing
    with offline_cartopy():
        fig = map_figure(fc, "t850", 2, 0, truth["t850"].sel(time=fc["valid_time"].values[0, 2]))
        fig.canvas.draw()  # coastlines are read at draw time
        maps = [ax for ax in fig.axes if hasattr(ax, "projection")]
        assert [ax.get_title() for ax in maps] == ["forecast (vip_mixer)", "truth", "forecast − truth"]
        assert all(len(ax.collections) >= 2 for ax in maps)  # the field and the coastline
        colorbars = [ax.get_xlabel() for ax in fig.axes if not hasattr(ax, "projection")]
        assert colorbars == ["t850 [K]", "t850 [K]", "t850 error (forecast − truth) [K]"]
        assert "valid 2018-03-01 18:00 UTC" in fig._suptitle.get_text()
        plt.close(fig)
    with pytest.raises(DataError, match="leads: 6h, 12h, 18h"):
        plot_map(fc, "t850", tmp_path / "x.png", lead="5d")


def test_map_without_truth_and_gif(offline, tmp_path):
    from PIL import Image

    from geostp.plots.maps import animate_map, plot_map

    fc, _ = _forecast(leads=2)
    assert plot_map(fc, "t850", tmp_path / "only.png").stat().st_size > 10_000
    gif = animate_map(fc, "t850", tmp_path / "a.gif", dpi=40)
    assert Image.open(gif).n_frames == 2


def test_frames_grid_and_skill_curves(tmp_path):
    from geostp.plots.curves import plot_skill, skill_figure
    from geostp.plots.frames import frames_figure, plot_frames

    rng = np.random.default_rng(0)
    init = np.array([20, 40])
    lead = np.arange(1, 4)
    fc = xr.Dataset({FRAMES_VAR: (("init_time", "lead_time", "channel", "y", "x"), rng.uniform(size=(2, 3, 1, 8, 8)))},
                    coords={"init_time": init, "lead_time": lead, "channel": ["frames"],
                            "valid_time": (("init_time", "lead_time"), init[:, None] + lead)},
                    attrs={"model": "simvp", "t_in": 2})
    store = xr.Dataset({"frames": (("time", "y", "x"), rng.uniform(size=(60, 8, 8)))}, coords={"time": np.arange(60)})
    fig = frames_figure(fc, store)
    assert [ax.get_ylabel() for ax in fig.axes[:-1] if ax.get_ylabel()] == ["input", "truth", "prediction"]
    assert plot_frames(fc, store, tmp_path / "f.png").stat().st_size > 5_000

    leads = np.arange(1, 4) * np.timedelta64(6, "h")
    scores = xr.Dataset({k: (("model", "variable", "metric", "lead_time"), np.full((2, 1, 1, 3), v))
                         for k, v in (("value", 1.0), ("ci_low", 0.9), ("ci_high", 1.1))},
                        coords={"model": ["vip_mixer", "persistence"], "variable": ["t850"], "metric": ["rmse"],
                                "lead_time": leads})
    fig = skill_figure(scores)
    assert fig.axes[0].get_xlabel() == "lead time [h]" and len(fig.axes[0].lines) == 2
    assert plot_skill(scores, tmp_path / "s.png").stat().st_size > 5_000
