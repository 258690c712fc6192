"""`data prepare --grid/--grid-like/--regrid`: a 2.8125° source on WeatherBench's 5.625° grid, checked against
hand-computed cell averages (conservative) and midpoints (bilinear); area means kept; uncovered targets refused."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from geostp.data import open_store
from geostp.errors import ConfigError, DataError
from tests.data.test_prepare_cf import check_windows
from tests.fixtures import prepare_cli

pytest.importorskip("xarray_regrid")
D = 2.8125
TIMES = pd.date_range("2015-12-31", periods=6, freq="6h")


def write_source(path, lat=-90 + D / 2 + D * np.arange(64), lon=D * np.arange(128), seed=21) -> np.ndarray:
    data = (280 + 5 * np.random.default_rng(seed).standard_normal((len(TIMES), len(lat), len(lon)))).astype(np.float32)
    xr.Dataset({"t2m": (("time", "lat", "lon"), data, {"units": "K"})},
               coords={"time": TIMES, "lat": ("lat", lat, {"units": "degrees_north"}),
                       "lon": ("lon", lon, {"units": "degrees_east"})}).to_netcdf(path)
    return data.astype(np.float64)


def band_weights(lat, d):
    return np.sin(np.radians(lat + d / 2)) - np.sin(np.radians(lat - d / 2))


def conservative_oracle(x):
    """5.625° cells from 2.8125° ones: latitude rows pair up exactly (area-weighted); the 5.625° cell centred
    on a 2.8125° column takes it whole and half of each neighbour (the first wraps across 0°E)."""
    lon_avg = 0.25 * np.roll(x, 1, -1)[..., ::2] + 0.5 * x[..., ::2] + 0.25 * np.roll(x, -1, -1)[..., ::2]
    w = band_weights(-90 + D / 2 + D * np.arange(64), D)
    pairs = (lon_avg * w[:, None]).reshape(x.shape[0], 32, 2, 64).sum(2)
    return pairs / w.reshape(32, 2).sum(1)[:, None]


def area_mean(x, lat, d):
    w = band_weights(lat, d)
    return (x.mean(-1) * w).sum(-1) / w.sum()


def test_conservative_to_weatherbench_5625(tmp_path):
    src = write_source(tmp_path / "t2m_2.8125.nc")
    out = tmp_path / "t2m_5.625.zarr"
    prepare_cli("custom", "--path", tmp_path / "t2m_2.8125.nc", "--var", "t2m", "--grid", "5.625",
                "--splits", "train=2015,test=2016", "--out", out)
    ds = open_store(out)
    lat, lon = ds["lat"].values, ds["lon"].values  # data.md §1.4: 32x64, -87.1875..87.1875, 0..354.375
    assert ds["t2m"].shape == (6, 32, 64) and ds["t2m"].dtype == np.float32 and ds.attrs["periodic_lon"] == 1
    assert lat[0] == -87.1875 and lat[-1] == 87.1875 and lon[0] == 0.0 and lon[-1] == 354.375
    np.testing.assert_array_equal(np.diff(lat), 5.625)
    want = conservative_oracle(src)
    # xarray-regrid pads a pole row (ESMF's Pole="all": the first band's zonal mean), so the two polar rows
    # are not the plain cell average (up to 0.06 K in their zonal mean on this white-noise field); every other
    # row is, and the global area mean is kept to 5e-4 K
    np.testing.assert_allclose(ds["t2m"].values[:, 1:-1], want[:, 1:-1], atol=1e-4, rtol=0)
    np.testing.assert_allclose(area_mean(ds["t2m"].values.astype(np.float64), lat, 5.625),
                               area_mean(src, -90 + D / 2 + D * np.arange(64), D), atol=5e-4, rtol=0)
    prov = json.loads(ds.attrs["provenance"])["regrid"]
    assert prov["method"] == "conservative" and prov["library"].startswith("xarray-regrid ")
    assert prov["target"].startswith("5.625 deg") and prov["source_grid"].startswith("64x128")
    stored = ds["t2m"].values
    assert check_windows(out, "train", lambda t: stored[TIMES.get_loc(pd.Timestamp(t))][None]) == 3  # 4 steps in 2015


def test_bilinear_and_grid_like(tmp_path):
    src = write_source(tmp_path / "s.nc")
    ref = tmp_path / "ref.zarr"
    prepare_cli("custom", "--path", tmp_path / "s.nc", "--var", "t2m", "--grid", "5.625", "--regrid", "bilinear",
                "--splits", "train=2015,test=2016", "--out", ref)
    ds = open_store(ref)
    # 5.625° centres sit midway between two 2.8125° rows and on a 2.8125° column
    np.testing.assert_allclose(ds["t2m"].values, 0.5 * (src[:, 0::2, ::2] + src[:, 1::2, ::2]), atol=1e-4, rtol=0)
    assert json.loads(ds.attrs["provenance"])["regrid"]["method"] == "bilinear"
    like = tmp_path / "like.zarr"
    prepare_cli("custom", "--path", tmp_path / "s.nc", "--var", "t2m", "--grid-like", ref,
                "--splits", "train=2015,test=2016", "--out", like)
    got = open_store(like)
    np.testing.assert_array_equal(got["lat"].values, ds["lat"].values)
    np.testing.assert_array_equal(got["lon"].values, ds["lon"].values)
    np.testing.assert_allclose(got["t2m"].values[:, 1:-1], conservative_oracle(src)[:, 1:-1], atol=1e-4, rtol=0)


def test_target_not_covered_and_method_without_target(tmp_path):
    write_source(tmp_path / "region.nc", lat=-30 + D * np.arange(20), lon=D * np.arange(20))
    args = ["--path", tmp_path / "region.nc", "--var", "t2m", "--splits", "train=2015,test=2016", "--out", tmp_path / "x.zarr"]
    with pytest.raises(DataError, match=r"regrid target is not covered by the source: latitude -90..90 \(source "
                                        r"-31.4062..24.8438\); longitude -2.8125..357.188 \(source -1.40625..54.8438, a regional grid\)"):
        prepare_cli("custom", *args, "--grid", "5.625")
    with pytest.raises(ConfigError, match=r"--regrid bilinear needs a target: --grid"):
        prepare_cli("custom", *args, "--regrid", "bilinear")


def test_regional_target_across_greenwich_from_a_global_source(tmp_path):
    src = write_source(tmp_path / "s.nc")
    lat = -87.1875 + 5.625 * np.arange(21, 29)  # 30.9375 .. 70.3125
    lon = 5.625 * np.arange(-5, 8)  # -28.125 .. 39.375: a European box in -180..180
    region = xr.Dataset({"t2m": (("time", "lat", "lon"), np.zeros((len(TIMES), len(lat), len(lon)), np.float32))},
                        coords={"time": TIMES, "lat": ("lat", lat, {"units": "degrees_north"}),
                                "lon": ("lon", lon, {"units": "degrees_east"})})
    region.to_netcdf(tmp_path / "region.nc")
    prepare_cli("custom", "--path", tmp_path / "region.nc", "--var", "t2m", "--splits", "train=2015,test=2016",
                "--out", tmp_path / "region.zarr")
    out = tmp_path / "eu.zarr"
    prepare_cli("custom", "--path", tmp_path / "s.nc", "--var", "t2m", "--grid-like", tmp_path / "region.zarr",
                "--splits", "train=2015,test=2016", "--out", out)
    ds = open_store(out)
    assert ds.attrs["periodic_lon"] == 0
    np.testing.assert_array_equal(ds["lon"].values, lon)
    want = conservative_oracle(src)[:, 21:29][..., np.mod(np.arange(-5, 8), 64)]
    np.testing.assert_allclose(ds["t2m"].values, want, atol=1e-4, rtol=0)
