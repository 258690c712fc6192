"""WeatherBench v1 folders -> store through the CLI: exact windows, train-only statistics, calendar splits,
no window across gaps, and every bad-input case with the message a user needs."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

from geostp.data import open_store, open_windows
from geostp.errors import ConfigError, DataError, StoreError, UnknownNameError
from tests.fixtures import WB1_FOLDERS, prepare_cli, run_cli, write_weatherbench, write_weatherbench_constants

YEARS = [2015, 2016, 2017]


@pytest.fixture(scope="module")
def wb(tmp_path_factory):
    """WB1 tree (z500 extract, t850 from the full-level folder, t2m), 2 days/year hourly, and its store."""
    tmp = tmp_path_factory.mktemp("wb1")
    write_weatherbench(tmp / "WeatherBench", YEARS)
    store = tmp / "wb.zarr"
    res = prepare_cli("weatherbench", "--root", tmp / "WeatherBench", "--vars", "z500", "t850", "t2m", "--out", store)
    return tmp, store, res.output


def source_field(root, short):
    """Independent oracle: the raw field at 6-hourly times straight from the NetCDF files."""
    folder, name, level, full = WB1_FOLDERS[short]
    ds = xr.open_mfdataset(sorted((root / "WeatherBench" / "5.625deg" / folder).glob("*.nc")), combine="by_coords")
    da = ds[name]
    if full:
        da = da.sel(level=level)
    da = da.isel(time=np.flatnonzero(pd.DatetimeIndex(da["time"].values).hour % 6 == 0))
    return da.load()


def test_store_layout_and_summary(wb):
    tmp, store, output = wb
    raw = xr.open_zarr(store)  # plain xarray opens it; every variable by its short name
    assert raw.attrs["variables"] == ["z500", "t850", "t2m"] and set(raw.data_vars) == {"z500", "t850", "t2m"}
    assert raw["t850"].dims == ("time", "lat", "lon") and raw["t850"].attrs["units"] == "K"
    assert np.all(np.diff(raw["lat"].values) > 0) and raw.sizes["lat"] == 32 and raw.sizes["lon"] == 64
    assert raw.attrs["time_step"] == "6h"
    assert (pd.DatetimeIndex(raw["time"].values).hour % 6 == 0).all()
    prov = json.loads(raw.attrs["provenance"])
    assert prov["catalog"] == "weatherbench" and prov["geostp_version"] and len(prov["source_files"]) == 9
    assert "z500" in output and "train" in output and "(1979-2015)" in output
    info = run_cli("data", "info", store)
    assert info.exit_code == 0 and "step 6h" in info.output and "32 x 64" in info.output


def test_windows_equal_source_slices(wb):
    tmp, store, _ = wb
    src = {v: source_field(tmp, v) for v in ("z500", "t850", "t2m")}
    for split in ("train", "valid", "test"):
        ds = open_windows(store, split, t_in=2, t_out=3)
        assert len(ds) == 8 - 5 + 1  # 8 six-hourly steps per year, windows of 5
        for i in range(len(ds)):
            x, y = ds[i]
            init = pd.Timestamp(ds.init_times[i])
            times = pd.date_range(init - pd.Timedelta("6h"), periods=5, freq="6h")
            want = np.stack([src[v].sel(time=times).values for v in ds.variables], axis=1)
            np.testing.assert_allclose(ds.denormalize(torch.cat([x, y])).numpy(), want, rtol=1e-6, atol=1e-3)
            off = np.array([ds.stats[v]["norm_offset"] for v in ds.variables])[:, None, None]
            scale = np.array([ds.stats[v]["norm_scale"] for v in ds.variables])[:, None, None]
            # float32 inputs near 5.4e4 carry ~4e-3 of rounding: 4e-4 of a standard deviation of 10
            np.testing.assert_allclose(torch.cat([x, y]).numpy(), (want - off) / scale, atol=1e-3)


def test_statistics_are_numpys_on_train_only(wb):
    tmp, store, _ = wb
    ds = open_store(store)
    for v in ("z500", "t850", "t2m"):
        train = source_field(tmp, v).sel(time=slice("1979", "2015")).values.astype(np.float64)
        a = ds[v].attrs
        assert a["stats_mean"] == pytest.approx(train.mean(), rel=1e-9)
        assert a["stats_std"] == pytest.approx(train.std(), rel=1e-6)
        assert (a["stats_min"], a["stats_max"]) == (pytest.approx(train.min()), pytest.approx(train.max()))
        assert a["stats_count"] == train.size and a["norm_offset"] == a["stats_mean"]


def test_splits_disjoint_calendar_and_no_window_crosses_a_gap(wb):
    _, store, _ = wb
    ds = open_store(store)
    years = pd.DatetimeIndex(ds["time"].values).year
    split = ds["split"].values
    assert set(years[split == "train"]) == {2015} and set(years[split == "valid"]) == {2016}
    assert set(years[split == "test"]) == {2017}
    seg = ds["segment"].values
    assert len(np.unique(seg)) == 3  # one per year: the files hold 2 days of each
    w = open_windows(store, "train", t_in=1, t_out=1)
    times = ds["time"].values
    for s in w.starts:
        assert times[s + 1] - times[s] == np.timedelta64(6, "h")


def test_step_and_custom_splits(wb, tmp_path):
    tmp, _, _ = wb
    out = tmp_path / "wb12.zarr"
    prepare_cli("weatherbench", "--root", tmp / "WeatherBench", "--vars", "t2m", "--step", "12h",
                "--splits", "train=2015-2016,test=2017", "--out", out)
    ds = open_store(out)
    assert ds.attrs["time_step"] == "12h" and set(pd.DatetimeIndex(ds["time"].values).hour) == {0, 12}
    assert sorted(set(ds["split"].values)) == ["test", "train"]
    train = source_field(tmp, "t2m").sel(time=slice("2015", "2016"))
    train = train.isel(time=np.flatnonzero(pd.DatetimeIndex(train["time"].values).hour % 12 == 0)).values
    assert ds["t2m"].attrs["stats_mean"] == pytest.approx(train.astype(np.float64).mean(), rel=1e-9)


def test_constants_are_stored_alongside(tmp_path):
    root = tmp_path / "wb"
    write_weatherbench(root, [2015, 2016], variables=["t2m"])
    folder = write_weatherbench_constants(root)
    out = tmp_path / "c.zarr"
    prepare_cli("weatherbench", "--root", root, "--vars", "t2m", "lsm", "orography", "--splits", "train=2015,test=2016", "--out", out)
    ds = open_store(out)
    assert ds.attrs["variables"] == ["t2m"] and ds["lsm"].dims == ("lat", "lon")
    src = xr.open_dataset(folder / "constants_5.625deg.nc")
    np.testing.assert_array_equal(ds["orography"].values, src["orography"].values)
    assert ds["orography"].attrs["units"] == "m"
    with pytest.raises(DataError, match="do not vary in time"):
        prepare_cli("weatherbench", "--root", root, "--vars", "lsm", "--out", tmp_path / "d.zarr")


def test_dataloader_two_workers_yields_the_same_items(wb):
    _, store, _ = wb
    ds = open_windows(store, "test", t_in=2, t_out=2)
    serial = [b for b in torch.utils.data.DataLoader(ds, batch_size=2, num_workers=0)]
    parallel = [b for b in torch.utils.data.DataLoader(ds, batch_size=2, num_workers=2)]
    assert len(serial) == len(parallel) > 0
    for (xa, ya), (xb, yb) in zip(serial, parallel):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)


# ----------------------------------------------------------------------------------------------- bad input


def test_missing_root_and_files(tmp_path, wb):
    tmp, _, _ = wb
    with pytest.raises(DataError, match="does not exist.*expects"):
        prepare_cli("weatherbench", "--root", tmp_path / "nope", "--out", tmp_path / "s.zarr")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"no WeatherBench NetCDF files under .*<folder>/\*\.nc"):
        prepare_cli("weatherbench", "--root", tmp_path / "empty", "--out", tmp_path / "s.zarr")
    with pytest.raises(DataError, match=r"'u10' needs NetCDF files in one of: .*10m_u_component_of_wind.*folders present"):
        prepare_cli("weatherbench", "--root", tmp / "WeatherBench", "--vars", "u10", "--out", tmp_path / "s.zarr")


def test_unknown_variable_lists_known(wb, tmp_path):
    tmp, _, _ = wb
    with pytest.raises(UnknownNameError, match=r"unknown variable 't85'.*known: .*t850.*did you mean"):
        prepare_cli("weatherbench", "--root", tmp / "WeatherBench", "--vars", "t85", "--out", tmp_path / "s.zarr")


def test_grid_mismatch_shows_both(tmp_path):
    root = tmp_path / "wb"
    write_weatherbench(root, [2015, 2016], variables=["t2m"])
    other = tmp_path / "other"
    write_weatherbench(other, [2017], variables=["t2m"], res=2.8125)
    shutil.copy(next((other / "2.8125deg" / "2m_temperature").glob("*.nc")),
                root / "5.625deg" / "2m_temperature" / "2m_temperature_2017_5.625deg.nc")
    with pytest.raises(DataError, match=r"grids disagree.*\n.*32x64.*\n.*_2017_5.625deg.nc: 64x128"):
        prepare_cli("weatherbench", "--root", root, "--vars", "t2m", "--out", tmp_path / "s.zarr")
    with pytest.raises(DataError, match="64x128.*resolution 5.625 deg is 32x64"):
        prepare_cli("weatherbench", "--root", other / "2.8125deg", "--vars", "t2m", "--out", tmp_path / "s.zarr")


def test_time_step_mismatch_shows_both(tmp_path):
    root = tmp_path / "wb"
    write_weatherbench(root, [2015], variables=["t2m"])
    write_weatherbench(tmp_path / "six", [2016], variables=["t2m"], freq="6h")
    shutil.copy(next((tmp_path / "six" / "5.625deg" / "2m_temperature").glob("*.nc")),
                root / "5.625deg" / "2m_temperature")
    with pytest.raises(DataError, match=r"time steps disagree.*\n.*2015.*: 1h\n.*2016.*: 6h"):
        prepare_cli("weatherbench", "--root", root, "--vars", "t2m", "--out", tmp_path / "s.zarr")


def test_split_without_data(wb, tmp_path):
    tmp, _, _ = wb
    with pytest.raises(DataError, match=r"split 'test' \(2018\) has no data: the source covers 2015-01-01.*2017-01-02"):
        prepare_cli("weatherbench", "--root", tmp / "WeatherBench", "--vars", "t2m",
                    "--splits", "train=2015,test=2018", "--out", tmp_path / "s.zarr")
    with pytest.raises(ConfigError, match="overlap"):
        prepare_cli("weatherbench", "--root", tmp / "WeatherBench", "--splits", "train=2015-2016,test=2016",
                    "--out", tmp_path / "s.zarr")


def test_nans_stop_or_fill(tmp_path):
    root = tmp_path / "wb"
    write_weatherbench(root, [2015, 2016], variables=["tp"], nan_at=("tp", 2015))
    with pytest.raises(DataError, match=r"tp: 2 NaN values, first at time=2015-01-01T00:00:00.*lat=-70.3125, lon=28.125\n.*--fill"):
        prepare_cli("weatherbench", "--root", root, "--vars", "tp", "--splits", "train=2015,test=2016", "--out", tmp_path / "s.zarr")
    out = tmp_path / "filled.zarr"
    prepare_cli("weatherbench", "--root", root, "--vars", "tp", "--splits", "train=2015,test=2016", "--out", out, "--fill", "nearest")
    ds = open_store(out)
    tp = ds["tp"].values
    assert not np.isnan(tp).any()
    assert tp[0, 3, 5] == tp[2, 3, 5]  # 00 and 06 UTC take the nearest valid time, 12 UTC
    assert json.loads(ds.attrs["provenance"])["filled"] == {"tp": 2}
    prepare_cli("weatherbench", "--root", root, "--vars", "tp", "--splits", "train=2015,test=2016",
                "--out", out, "--fill", "0", "--overwrite")
    assert open_store(out)["tp"].values[0, 3, 5] == 0


def test_failed_overwrite_keeps_the_old_store(wb, tmp_path):
    tmp, store, _ = wb
    copy = tmp_path / "keep.zarr"
    shutil.copytree(store, copy)
    with pytest.raises(StoreError, match="exists; pass --overwrite"):
        prepare_cli("weatherbench", "--root", tmp / "WeatherBench", "--out", copy)
    with pytest.raises(DataError):  # fails mid-way (no data for the requested split)
        prepare_cli("weatherbench", "--root", tmp / "WeatherBench", "--splits", "train=2015,test=2030",
                    "--out", copy, "--overwrite")
    broken = tmp / "WeatherBench" / "5.625deg" / "2m_temperature" / "zz_broken.nc"
    broken.write_bytes(b"not a netcdf file")
    try:
        with pytest.raises(DataError, match="cannot open .*zz_broken.nc"):
            prepare_cli("weatherbench", "--root", tmp / "WeatherBench", "--out", copy, "--overwrite")
    finally:
        broken.unlink()
    ds = open_store(copy)  # still complete and readable
    assert ds.attrs["variables"] == ["z500", "t850", "t2m"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".keep.zarr")]


def test_options_that_do_not_apply(wb, tmp_path):
    tmp, _, _ = wb
    with pytest.raises(ConfigError, match="--resolution does not apply to catalog 'taxibj'"):
        prepare_cli("taxibj", "--root", tmp, "--resolution", "5.625", "--out", tmp_path / "s.zarr")
    with pytest.raises(ConfigError, match="not a whole multiple"):
        prepare_cli("weatherbench", "--root", tmp / "WeatherBench", "--vars", "t2m", "--step", "90min",
                    "--out", tmp_path / "s.zarr")
