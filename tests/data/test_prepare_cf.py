"""CF-aware grids in `data prepare custom`: axes found by units/standard_name (COARDS TIME/FNOCY/FNOCX, ERA5
CDS valid_time/latitude/longitude), longitudes normalised with exact labels, the global/regional fact
recorded, and curvilinear, rotated and time-less files refused with what is supported."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

from geostp.data import open_store, open_windows
from geostp.data.summary import summarize_store
from geostp.grid import is_periodic_lon, normalize_lon
from geostp.errors import DataError, GeostpError
from tests.fixtures import prepare_cli
from tests.fixtures.cf import write_coards_wind, write_era5_cds, write_grib, write_ostia_like


def check_windows(out, split, source_frame) -> int:
    """Every window (t_in = t_out = 1) matches the source frames at its two store times; returns the count."""
    store_times = open_store(out)["time"].values
    w = open_windows(out, split, t_in=1, t_out=1)
    for i in range(len(w)):
        x, y = w[i]
        k = int(np.searchsorted(store_times, np.datetime64(w.init_times[i])))
        got = w.denormalize(torch.cat([x, y])).numpy()
        want = np.stack([source_frame(store_times[k]), source_frame(store_times[k + 1])])
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-5)  # float32 normalise round trip
    return len(w)


def test_coards_axes_found_by_units_and_longitude_from_20E(tmp_path):
    src = write_coards_wind(tmp_path / "uwnd.nc")
    out = tmp_path / "uwnd.zarr"
    prepare_cli("custom", "--path", tmp_path / "uwnd.nc", "--var", "u=UWND", "--splits", "train=2000,test=2001", "--out", out)
    ds = open_store(out)
    assert ds["u"].dims == ("time", "lat", "lon") and ds.attrs["periodic_lon"] == 1
    assert "lon 0..350 degrees), global in longitude (periodic)" in summarize_store(out)
    np.testing.assert_array_equal(ds["lon"].values, np.arange(36) * 10.0)  # exact labels, 0..350
    np.testing.assert_array_equal(ds["lat"].values, np.arange(-80.0, 81.0, 10.0))
    raw = src["UWND"].values  # columns at 20, 30, ..., 370°E: 350°E..370°E = 350, 0, 10 move to the front
    np.testing.assert_array_equal(ds["u"].values, np.roll(raw, 2, axis=-1))
    np.testing.assert_array_equal(ds["u"].sel(lon=0.0).values, src["UWND"].sel(FNOCX=360.0).values)
    assert ds["u"].attrs["units"] == "m/s"

    def frame(t):
        return np.roll(src["UWND"].sel(TIME=t).values, 2, axis=-1)[None]

    assert check_windows(out, "train", frame) >= 1


def test_era5_cds_netcdf_valid_time_descending_latitude(tmp_path):
    times = pd.date_range("2015-12-30", periods=12, freq="6h")
    src = write_era5_cds(tmp_path / "era5.nc", times)
    out = tmp_path / "era5.zarr"
    prepare_cli("custom", "--path", tmp_path / "era5.nc", "--var", "t2m", "--splits", "train=2015,test=2016", "--out", out)
    ds = open_store(out)
    assert ds.attrs["time_step"] == "6h" and ds.attrs["periodic_lon"] == 1
    assert set(ds.coords) == {"time", "lat", "lon", "split", "segment"}  # number, expver dropped
    np.testing.assert_array_equal(ds["lat"].values, np.arange(-90.0, 90.1, 10.0))
    np.testing.assert_array_equal(ds["t2m"].values, src["t2m"].values[:, ::-1, :])
    assert check_windows(out, "train", lambda t: src["t2m"].sel(valid_time=t).values[None, ::-1]) == 7  # 8 steps in 2015


def _field(lon, lat=np.array([-10.0, 0.0, 10.0]), n=4, **lon_attrs) -> xr.Dataset:
    data = np.arange(n * len(lat) * len(lon), dtype=np.float32).reshape(n, len(lat), len(lon))
    return xr.Dataset(
        {"v": (("time", "lat", "lon"), data)},
        coords={"time": pd.date_range("2001-01-01", periods=n, freq="1D"),
                "lat": ("lat", lat, {"units": "degrees_north"}), "lon": ("lon", np.asarray(lon, float), {"units": "degrees_east", **lon_attrs})},
    )


@pytest.mark.parametrize("lon, labels, order, periodic", [
    (np.arange(-180.0, 180.0, 45.0), np.arange(0.0, 360.0, 45.0), [4, 5, 6, 7, 0, 1, 2, 3], True),
    (np.arange(0.0, 360.1, 90.0), [0.0, 90.0, 180.0, 270.0], [0, 1, 2, 3], True),  # cyclic column dropped
    ([-20.0, 0.0, 20.0, 40.0], [-20.0, 0.0, 20.0, 40.0], [0, 1, 2, 3], False),  # across Greenwich: kept
    ([170.0, 180.0, -170.0], [170.0, 180.0, 190.0], [0, 1, 2], False),  # across the dateline: 0-360
    ([-120.0, -110.0], [240.0, 250.0], [0, 1], False),
    ([350.0, 340.0, 330.0], [330.0, 340.0, 350.0], [2, 1, 0], False),  # descending
])
def test_normalize_lon(lon, labels, order, periodic):
    o, lab, per = normalize_lon(np.asarray(lon), "x")
    np.testing.assert_array_equal(lab, labels)
    np.testing.assert_array_equal(o, order)
    assert per is periodic


def test_normalize_lon_exact_decimal_labels():
    lon = np.array([float(f"{-180 + 0.01 * i:.2f}") for i in range(36000)])  # as a file stores -180 .. 179.99
    _, lab, per = normalize_lon(lon, "x")
    want = np.array([float(f"{0.01 * i:.2f}") for i in range(36000)])
    np.testing.assert_array_equal(lab, want)  # 232.02, never 232.01999999999998 (= -127.98 + 360 in floats)
    assert per and -127.98 + 360 != 232.02 and lab[23202] == 232.02
    assert is_periodic_lon(lab) and not is_periodic_lon(lab[:-1])


def test_regional_grid_is_recorded_and_not_rolled(tmp_path):
    _field([-20.0, 0.0, 20.0, 40.0]).to_netcdf(tmp_path / "eu.nc")
    out = tmp_path / "eu.zarr"
    prepare_cli("custom", "--path", tmp_path / "eu.nc", "--var", "v", "--splits", "train=2001", "--out", out)
    ds = open_store(out)
    assert ds.attrs["periodic_lon"] == 0
    assert "grid: 3 x 4 (lat -10..10, lon -20..40 degrees), regional (not wrapped)" in summarize_store(out)
    np.testing.assert_array_equal(ds["lon"].values, [-20.0, 0.0, 20.0, 40.0])
    np.testing.assert_array_equal(ds["v"].values, _field([-20.0, 0.0, 20.0, 40.0])["v"].values)


def test_curvilinear_rotated_and_timeless_files_are_refused(tmp_path):
    ds = _field(np.arange(0.0, 360.0, 90.0)).rename({"lat": "y", "lon": "x"})
    yy, xx = np.meshgrid(ds["y"].values, ds["x"].values, indexing="ij")
    curv = ds.drop_vars(["y", "x"]).assign_coords(
        nav_lat=(("y", "x"), yy + 0.1 * xx, {"units": "degrees_north"}), nav_lon=(("y", "x"), xx, {"units": "degrees_east"}))
    curv.to_netcdf(tmp_path / "curv.nc")
    with pytest.raises(DataError, match=r"curvilinear grid \(2-D lat coordinate 'nav_lat'.*regular latitude-longitude"):
        prepare_cli("custom", "--path", tmp_path / "curv.nc", "--var", "v", "--splits", "train=2001", "--out", tmp_path / "c.zarr")
    rot = _field(np.arange(0.0, 360.0, 90.0)).rename({"lat": "rlat", "lon": "rlon"})
    rot["rlat"].attrs = {"standard_name": "grid_latitude", "units": "degrees"}
    rot["rlon"].attrs = {"standard_name": "grid_longitude", "units": "degrees"}
    rot["rotated_pole"] = xr.DataArray(0, attrs={"grid_mapping_name": "rotated_latitude_longitude"})
    rot["v"].attrs["grid_mapping"] = "rotated_pole"
    rot.to_netcdf(tmp_path / "rot.nc")
    with pytest.raises(DataError, match=r"rotated-pole grid.*regular latitude-longitude grids"):
        prepare_cli("custom", "--path", tmp_path / "rot.nc", "--var", "v", "--splits", "train=2001", "--out", tmp_path / "r.zarr")
    _field(np.arange(0.0, 360.0, 90.0)).isel(time=0, drop=True).to_netcdf(tmp_path / "static.nc")
    with pytest.raises(DataError, match=r"has no time axis \(dims lat, lon\).*units '<unit> since <date>'"):
        prepare_cli("custom", "--path", tmp_path / "static.nc", "--var", "v", "--splits", "train=2001", "--out", tmp_path / "s.zarr")


# ------------------------------------------------------------------------------------------------ levels
def test_levels_expand_to_weatherbench_channels(tmp_path):
    times = pd.date_range("2015-12-31", periods=8, freq="6h")
    src = write_era5_cds(tmp_path / "era5.nc", times)
    out = tmp_path / "lev.zarr"
    prepare_cli("custom", "--path", tmp_path / "era5.nc", "--var", "t", "--levels", "850", "500", "--var", "t2m",
                "--splits", "train=2015,test=2016", "--out", out)
    ds = open_store(out)
    assert ds.attrs["variables"] == ["t850", "t500", "t2m"]
    assert ds["t850"].attrs["long_name"] == "Temperature at 850 hPa" and ds["t850"].attrs["units"] == "K"
    for lev in (850, 500):
        np.testing.assert_array_equal(ds[f"t{lev}"].values, src["t"].sel(pressure_level=lev).values[:, ::-1])

    def frame(t):
        s = src.sel(valid_time=t)
        return np.stack([s["t"].sel(pressure_level=850).values, s["t"].sel(pressure_level=500).values, s["t2m"].values])[:, ::-1]

    assert check_windows(out, "train", frame) == 3


def test_levels_in_pa_and_model_levels(tmp_path):
    base = _field(np.arange(0.0, 360.0, 90.0))
    cube = xr.concat([base["v"] + 1000 * k for k in range(3)], dim="plev").transpose("time", "plev", "lat", "lon")
    pa = cube.assign_coords(plev=("plev", [100000.0, 85000.0, 50000.0], {"units": "Pa", "standard_name": "air_pressure"}))
    pa.to_dataset(name="ta").to_netcdf(tmp_path / "cmip.nc")
    prepare_cli("custom", "--path", tmp_path / "cmip.nc", "--var", "ta", "--levels", "850", "--splits", "train=2001",
                "--out", tmp_path / "pa.zarr")
    np.testing.assert_array_equal(open_store(tmp_path / "pa.zarr")["ta850"].values, pa.sel(plev=85000.0).values)
    ml = cube.rename(plev="hybrid").assign_coords(hybrid=("hybrid", [1, 2, 3], {"standard_name": "model_level_number"}))
    ml.to_dataset(name="q").to_netcdf(tmp_path / "ml.nc")
    prepare_cli("custom", "--path", tmp_path / "ml.nc", "--var", "q", "--levels", "3", "1", "--splits", "train=2001",
                "--out", tmp_path / "ml.zarr")
    ds = open_store(tmp_path / "ml.zarr")
    assert ds.attrs["variables"] == ["q3", "q1"]
    np.testing.assert_array_equal(ds["q3"].values, ml.sel(hybrid=3).values)


def test_levels_not_in_the_file(tmp_path):
    write_era5_cds(tmp_path / "era5.nc", pd.date_range("2015-12-31", periods=4, freq="6h"))
    args = ["--path", tmp_path / "era5.nc", "--splits", "train=2015", "--out", tmp_path / "x.zarr"]
    with pytest.raises(DataError, match=r"era5.nc has no level 700: its levels are 1000 850 500 hPa"):
        prepare_cli("custom", "--var", "t", "--levels", "850", "700", *args)
    with pytest.raises(DataError, match=r"vertical axis 'pressure_level' with levels 1000 850 500: choose with --levels"):
        prepare_cli("custom", "--var", "t", *args)
    with pytest.raises(GeostpError, match=r"--levels 850: none of the variables \(t2m\) has a vertical axis"):
        prepare_cli("custom", "--var", "t2m", "--levels", "850", *args)


# ------------------------------------------------------------------------------------------------ GRIB
@pytest.mark.parametrize("edition", [1, 2])
def test_grib_era5_through_cfgrib_in_a_read_only_folder(tmp_path, edition, monkeypatch):
    pytest.importorskip("cfgrib")
    monkeypatch.setenv("GEOSTP_CACHE_DIR", str(tmp_path / "cache"))
    folder = tmp_path / "grib"
    folder.mkdir()
    times = pd.date_range("2015-12-31", periods=6, freq="6h")
    written = write_grib(folder / f"era5_pl.grib{edition}", edition, times)
    folder.chmod(0o555)  # a read-only archive: cfgrib must not try to write index files there
    out = tmp_path / "grib.zarr"
    try:
        prepare_cli("custom", "--path", folder, "--var", "t", "--levels", "500", "850", "--var", "t2m",
                    "--splits", "train=2015,test=2016", "--out", out)
    finally:
        folder.chmod(0o755)
    assert sorted(p.name for p in folder.iterdir()) == [f"era5_pl.grib{edition}"]  # no .idx next to the data
    assert list((tmp_path / "cache" / "cfgrib-index").glob("*.idx"))  # the index went to geostp's cache
    ds = open_store(out)
    assert ds.attrs["variables"] == ["t500", "t850", "t2m"] and ds.attrs["periodic_lon"] == 1
    np.testing.assert_array_equal(ds["time"].values, times.values)

    def frame(t):
        t = pd.Timestamp(t)
        return np.stack([written[("t", 500, t)], written[("t", 850, t)], written[("t2m", 2, t)]])[:, ::-1]

    for t in times:
        np.testing.assert_array_equal(np.stack([ds[v].sel(time=t).values for v in ds.attrs["variables"]]), frame(t))
    assert check_windows(out, "train", frame) == 3


def test_grib_forecast_steps_become_valid_times(tmp_path):
    pytest.importorskip("cfgrib")
    inits = pd.DatetimeIndex(["2015-12-31 00:00", "2015-12-31 03:00"])
    written = write_grib(tmp_path / "fc.grib", 2, inits, levels=(500,), steps=(1, 2, 3))
    out = tmp_path / "fc.zarr"
    prepare_cli("custom", "--path", tmp_path / "fc.grib", "--var", "t2m", "--splits", "train=2015", "--out", out)
    ds = open_store(out)
    valid = pd.date_range("2015-12-31 01:00", periods=6, freq="1h")
    assert ds.attrs["time_step"] == "1h"
    np.testing.assert_array_equal(ds["time"].values, valid.values)
    for t in valid:
        np.testing.assert_array_equal(ds["t2m"].sel(time=t).values, written[("t2m", 2, t)][::-1])


def test_bounds_auxiliary_and_grid_mapping_variables_are_ignored(tmp_path):
    times = pd.date_range("2010-01-01", periods=4, freq="1D")
    src = write_ostia_like(tmp_path / "sst.nc", times)
    out = tmp_path / "sst.zarr"
    prepare_cli("custom", "--path", tmp_path / "sst.nc", "--var", "sst=surface_temperature", "--splits", "train=2010",
                "--out", out)
    ds = open_store(out)
    assert set(ds.data_vars) == {"sst"} and set(ds.coords) == {"time", "lat", "lon", "split", "segment"}
    np.testing.assert_array_equal(ds["sst"].values, src["surface_temperature"].values[:, ::-1])
    np.testing.assert_array_equal(ds["time"].values, times.values)  # valid time, not forecast_reference_time
    assert ds["sst"].attrs["standard_name"] == "sea_surface_temperature"


@pytest.mark.filterwarnings("ignore:Ambiguous reference date string")
def test_real_hadisst_file_shipped_with_cartopy():
    """A real CF-1.0 file (HadISST monthly SST in cartopy's wheel): float32 longitudes -179.5..179.5 and
    latitude 89.5..-89.5 come out as 0.5..359.5 (labels as written, +360 where moved) and -89.5..89.5."""
    cartopy = pytest.importorskip("cartopy")
    from pathlib import Path

    from geostp.catalogs.gridded import standardize

    path = Path(cartopy.config["repo_data_dir"]) / "netcdf" / "HadISST1_SST_update.nc"
    if not path.is_file():
        pytest.skip("this cartopy build ships no HadISST sample")
    ds = xr.open_dataset(path)
    da = standardize(ds["sst"], str(path), ds)
    assert da.dims == ("time", "lat", "lon") and da.shape == (1, 180, 360)
    np.testing.assert_array_equal(da["lon"].values, np.arange(360) + 0.5)
    np.testing.assert_array_equal(da["lat"].values, np.arange(-89.5, 90, 1.0))
    raw = ds["sst"].values
    np.testing.assert_array_equal(da.values, np.roll(raw[:, ::-1], 180, axis=-1))
    assert is_periodic_lon(da["lon"].values)


def test_real_grib_with_an_ensemble_axis_names_it(tmp_path):
    """xarray ships a real ECMWF-style GRIB 2 file (t, z on 850/500 hPa, 2 ensemble members): the member
    axis is named in the error, never silently averaged or dropped."""
    pytest.importorskip("cfgrib")
    from pathlib import Path

    path = Path(xr.__file__).parent / "tests" / "data" / "example.grib"
    if not path.is_file():
        pytest.skip("this xarray build ships no example.grib")
    with pytest.raises(DataError, match=r"has dims 'number' \(2, realization\) besides time.*select one member"):
        prepare_cli("custom", "--path", path, "--var", "t", "--levels", "850", "--splits", "train=2017",
                    "--out", tmp_path / "x.zarr")


def test_one_date_per_grib_file(tmp_path):
    """A GRIB file per date (scalar time/valid_time in each): joined along time, step found across files."""
    pytest.importorskip("cfgrib")
    written = {}
    times = pd.date_range("2015-12-31", periods=3, freq="6h")
    for i, t in enumerate(times):
        written.update(write_grib(tmp_path / f"an_{i}.grib2", 2, pd.DatetimeIndex([t]), levels=(500,)))
    out = tmp_path / "daily.zarr"
    prepare_cli("custom", "--path", tmp_path / "an_*.grib2", "--var", "t2m", "--splits", "train=2015", "--out", out)
    ds = open_store(out)
    assert ds.attrs["time_step"] == "6h"
    np.testing.assert_array_equal(ds["time"].values, times.values)
    for t in times:
        np.testing.assert_array_equal(ds["t2m"].sel(time=t).values, written[("t2m", 2, t)][::-1])
