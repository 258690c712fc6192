"""WeatherBench 2 Zarr (lon-before-lat dims, long names, `level`, either latitude order; local or fsspec URL)
and the custom catalog (any CF NetCDF/Zarr) -> store: exact windows, statistics, errors."""

from __future__ import annotations

import importlib.util

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

from geostp.catalogs.custom import parse_var
from geostp.data import open_store, open_windows
from geostp.errors import ConfigError, DataError, GeostpError
from tests.fixtures import prepare_cli, write_weatherbench, write_weatherbench2

# 6-hourly like the real store, but only three 2-day stretches (the gaps also become segment breaks)
TIMES = pd.DatetimeIndex(np.concatenate(
    [pd.date_range(d, periods=8, freq="6h").values for d in ("2015-12-30", "2016-06-01", "2016-12-31")]
))


@pytest.fixture(scope="module")
def wb2(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wb2")
    src = write_weatherbench2(tmp / "era5_64x32.zarr", TIMES, latitude_descending=True)
    return tmp, src


def expected(src, short, times):
    """Oracle from the raw store: (time, lat ascending, lon)."""
    ds = xr.open_zarr(src)
    name, level = {"z500": ("geopotential", 500), "t850": ("temperature", 850), "t2m": ("2m_temperature", None)}[short]
    da = ds[name] if level is None else ds[name].sel(level=level)
    return da.sel(time=times).sortby("latitude").transpose("time", "latitude", "longitude").values


def test_wb2_store_exact_windows_and_stats(wb2, tmp_path):
    tmp, src = wb2
    out = tmp_path / "wb2.zarr"
    prepare_cli("weatherbench2", "--root", src, "--vars", "z500,t850", "t2m",
                "--splits", "train=2015,valid=2016,test=2017", "--out", out)
    ds = open_store(out)
    assert ds.attrs["variables"] == ["z500", "t850", "t2m"] and ds.attrs["time_step"] == "6h"
    assert ds["z500"].dims == ("time", "lat", "lon") and np.all(np.diff(ds["lat"].values) > 0)
    assert ds["z500"].attrs["units"] == "m**2 s**-2" and ds.sizes["lat"] == 32 and ds.sizes["lon"] == 64
    w = open_windows(out, "valid", t_in=2, t_out=2)
    assert len(w) == 5 + 1  # valid: 8 June steps (5 windows) + 4 steps on Dec 31 (1); none into 2017
    for i in [0, len(w) // 2, len(w) - 1]:
        x, y = w[i]
        times = pd.date_range(pd.Timestamp(w.init_times[i]) - pd.Timedelta("6h"), periods=4, freq="6h")
        want = np.stack([expected(src, v, times) for v in w.variables], axis=1)
        np.testing.assert_allclose(w.denormalize(torch.cat([x, y])).numpy(), want, rtol=1e-6)
    train = expected(src, "t850", pd.DatetimeIndex(TIMES[TIMES.year == 2015])).astype(np.float64)
    assert ds["t850"].attrs["stats_mean"] == pytest.approx(train.mean(), rel=1e-9)
    assert ds["t850"].attrs["stats_std"] == pytest.approx(train.std(), rel=1e-6)


def test_wb2_from_an_fsspec_url(wb2, tmp_path):
    pytest.importorskip("fsspec")
    import fsspec

    tmp, src = wb2
    fs = fsspec.filesystem("memory")
    for p in src.rglob("*"):
        if p.is_file():
            fs.pipe(f"/wb2-test/{p.relative_to(src.parent)}", p.read_bytes())
    out = tmp_path / "url.zarr"
    prepare_cli("weatherbench2", "--root", f"memory://wb2-test/{src.name}", "--vars", "t2m",
                "--splits", "train=2015-2016,test=2017", "--out", out)
    np.testing.assert_array_equal(open_store(out)["t2m"].values, expected(src, "t2m", TIMES))


def test_cloud_url_without_the_extra_names_it(monkeypatch, tmp_path):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name in ("fsspec", "gcsfs") else real(name, *a))
    with pytest.raises(GeostpError, match=r"pip install 'geostp\[cloud\]'"):
        prepare_cli("weatherbench2", "--root", "gs://weatherbench2/datasets/era5/x.zarr", "--out", tmp_path / "s.zarr")


def test_wb2_bad_input(wb2, tmp_path):
    tmp, src = wb2
    with pytest.raises(DataError, match=r"'tp6h' needs 'total_precipitation_6hr'.*it has: 2m_temperature, geopotential"):
        prepare_cli("weatherbench2", "--root", src, "--vars", "tp6h", "--out", tmp_path / "s.zarr")
    with pytest.raises(DataError, match=r"has no level 300: its levels are 50 500 850 1000"):
        prepare_cli("weatherbench2", "--root", src, "--vars", "t300", "--out", tmp_path / "s.zarr")
    with pytest.raises(DataError, match="no Zarr store at"):
        prepare_cli("weatherbench2", "--root", tmp_path / "missing.zarr", "--out", tmp_path / "s.zarr")


def test_distributed_scheduler_needs_the_extra(wb2, tmp_path, monkeypatch):
    if importlib.util.find_spec("distributed") is not None:
        real = importlib.util.find_spec
        monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "distributed" else real(name, *a))
    tmp, src = wb2
    with pytest.raises(GeostpError, match=r"distributed is needed.*geostp\[distributed\]"):
        prepare_cli("weatherbench2", "--root", src, "--vars", "t2m", "--scheduler", "tcp://127.0.0.1:1",
                    "--splits", "train=2015,test=2016", "--out", tmp_path / "s.zarr")


# ------------------------------------------------------------------------------------------------ custom


def test_parse_var():
    assert parse_var("t2m") == ("t2m", "t2m", None)
    assert parse_var("z500=z@500") == ("z500", "z", 500)
    assert parse_var("z@850") == ("z850", "z", 850)
    with pytest.raises(ConfigError, match="SHORT=NAME@LEVEL"):
        parse_var("a=b=c")


def test_custom_netcdf_glob_and_zarr(tmp_path, wb2):
    root = tmp_path / "wb"
    write_weatherbench(root, [2015, 2016], variables=["t850", "t2m"])
    out = tmp_path / "custom.zarr"
    prepare_cli("custom", "--path", str(root / "5.625deg" / "temperature" / "*.nc"), "--var", "temp=t@850",
                "--splits", "train=2015,test=2016", "--step", "6h", "--out", out)
    ds = open_store(out)
    assert ds.attrs["variables"] == ["temp"] and ds["temp"].attrs["units"] == "K"
    src = xr.open_mfdataset(sorted((root / "5.625deg" / "temperature").glob("*.nc")))["t"].sel(level=850)
    np.testing.assert_array_equal(ds["temp"].values, src.sel(time=ds["time"].values).values)
    # a Zarr with latitude/longitude names and (time, longitude, latitude) order works too
    _, src2 = wb2
    out2 = tmp_path / "custom2.zarr"
    prepare_cli("custom", "--path", src2, "--var", "2m_temperature", "--splits", "train=2016,test=2017", "--out", out2)
    ds2 = open_store(out2)
    assert ds2["2m_temperature"].dims == ("time", "lat", "lon") and np.all(np.diff(ds2["lat"].values) > 0)


def test_custom_needs_splits_and_vars(tmp_path):
    root = tmp_path / "wb"
    write_weatherbench(root, [2015], variables=["t2m"])
    path = root / "5.625deg" / "2m_temperature"
    with pytest.raises(ConfigError, match="no standard splits: pass --splits"):
        prepare_cli("custom", "--path", path, "--var", "t2m", "--out", tmp_path / "s.zarr")
    with pytest.raises(ConfigError, match="at least one --var"):
        prepare_cli("custom", "--path", path, "--splits", "train=2015", "--out", tmp_path / "s.zarr")
    with pytest.raises(DataError, match=r"has no variable 'temp'.*it has: t2m"):
        prepare_cli("custom", "--path", path, "--var", "temp", "--splits", "train=2015", "--out", tmp_path / "s.zarr")
    with pytest.raises(DataError, match="no NetCDF or GRIB files found"):
        prepare_cli("custom", "--path", tmp_path / "none*.nc", "--var", "t2m", "--splits", "train=2015", "--out", tmp_path / "s.zarr")
