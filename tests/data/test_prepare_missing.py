"""`data prepare --missing skip|interpolate|nearest`: a monthly file without June 2000 and a daily one without
a day; skipped dates break windows, filled ones are computed from their neighbours, provenance says which."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

from geostp import timeaxis
from geostp.data import open_store, open_windows
from geostp.errors import DataError
from tests.fixtures import prepare_cli


def write_gappy(path, times, seed=31) -> xr.DataArray:
    rng = np.random.default_rng(seed)
    da = xr.DataArray((280 + 5 * rng.standard_normal((len(times), 3, 8))).astype(np.float32), dims=("time", "lat", "lon"),
                      coords={"time": times, "lat": ("lat", [-30.0, 0.0, 30.0], {"units": "degrees_north"}),
                              "lon": ("lon", np.arange(0.0, 360.0, 45.0), {"units": "degrees_east"})},
                      attrs={"units": "K"}, name="air")
    da.to_netcdf(path)
    return da


MONTHS = pd.date_range("2000-01-01", "2001-12-01", freq="MS")
GAPPY = MONTHS[MONTHS != pd.Timestamp("2000-06-01")]


@pytest.fixture(scope="module")
def monthly(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("missing")
    return tmp, write_gappy(tmp / "air.mon.nc", GAPPY)


def prepare_missing(monthly, policy, tmp_path):
    tmp, _ = monthly
    out = tmp_path / f"{policy}.zarr"
    extra = [] if policy is None else ["--missing", policy]
    prepare_cli("custom", "--path", tmp / "air.mon.nc", "--var", "air", "--splits", "train=2000,test=2001", "--out", out, *extra)
    return open_store(out), out


def test_skip_is_the_default_and_windows_never_span_the_gap(monthly, tmp_path):
    ds, out = prepare_missing(monthly, None, tmp_path)
    prov = json.loads(ds.attrs["provenance"])["missing_dates"]
    assert prov == {"policy": "skip", "count": 1, "missing": ["2000-06-01T00:00:00"]}
    assert ds.sizes["time"] == 23
    w = open_windows(out, "train", t_in=2, t_out=1)
    assert len(w) == 3 + 4  # Jan-May (5 months) and Jul-Dec (6 months) of 2000, never May-Jul
    src = monthly[1]
    for i in range(len(w)):
        x, y = w[i]
        init = np.datetime64(w.init_times[i])
        frames = timeaxis.add_steps(np.array([init] * 3), "1month", np.arange(-1, 2))
        assert not (frames == np.datetime64("2000-06-01")).any()
        want = src.sel(time=frames).values[:, None]
        np.testing.assert_allclose(w.denormalize(torch.cat([x, y])).numpy(), want, rtol=1e-6, atol=1e-4)


@pytest.mark.parametrize("policy", ["interpolate", "nearest"])
def test_filled_month_is_computed_from_its_neighbours(monthly, tmp_path, policy):
    ds, out = prepare_missing(monthly, policy, tmp_path)
    src = monthly[1]
    np.testing.assert_array_equal(ds["time"].values, MONTHS.values)
    may, jul = src.sel(time="2000-05-01").values, src.sel(time="2000-07-01").values
    june = ds["air"].sel(time="2000-06-01").values
    np.testing.assert_array_equal(june, (0.5 * may.astype(np.float64) + 0.5 * jul).astype(np.float32)
                                  if policy == "interpolate" else may)
    np.testing.assert_array_equal(ds["air"].sel(time=GAPPY).values, src.values)  # the rest untouched
    assert json.loads(ds.attrs["provenance"])["missing_dates"] == {"policy": policy, "count": 1, "missing": ["2000-06-01T00:00:00"]}
    assert len(open_windows(out, "train", t_in=2, t_out=1)) == 10  # 12 months in one piece


def test_daily_gap_and_too_many_missing(tmp_path):
    days = pd.date_range("2010-01-01", periods=30, freq="1D")
    src = write_gappy(tmp_path / "d.nc", days.delete([10, 11]))
    out = tmp_path / "d.zarr"
    prepare_cli("custom", "--path", tmp_path / "d.nc", "--var", "air", "--splits", "train=2010", "--missing", "interpolate",
                "--out", out)
    ds = open_store(out)
    a, b = src.sel(time="2010-01-10").values.astype(np.float64), src.sel(time="2010-01-13").values
    np.testing.assert_allclose(ds["air"].sel(time="2010-01-11").values, (2 * a + b) / 3, rtol=1e-6)
    np.testing.assert_allclose(ds["air"].sel(time="2010-01-12").values, (a + 2 * b) / 3, rtol=1e-6)
    write_gappy(tmp_path / "sparse.nc", days.delete(range(5, 13)))
    with pytest.raises(DataError, match=r"--missing nearest would invent 8 of 30 time steps \(first missing "
                                        r"2010-01-06T00:00:00\).*use --missing skip"):
        prepare_cli("custom", "--path", tmp_path / "sparse.nc", "--var", "air", "--splits", "train=2010",
                    "--missing", "nearest", "--out", tmp_path / "s.zarr")
