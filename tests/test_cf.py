"""Every kind of geostp output (store, sample, forecast, scores) exports with `to_netcdf` (netcdf4 and h5netcdf)
and passes compliance-checker's CF 1.10 test with no errors; cf-xarray resolves axes and names one to one."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from click.testing import CliRunner

from geostp.cli.main import cli
from geostp.data.store import open_store, write_store
from tests.conftest import tiny_latlon_dataset
from tests.forecast.conftest import make_run

KINDS = ("store", "sample", "forecast", "scores")


def cf_errors(path: Path) -> list[str]:
    """compliance-checker's high-priority (error) messages for `path` under the cf:1.10 test."""
    from compliance_checker.runner import CheckSuite, ComplianceChecker

    CheckSuite.load_all_available_checkers()
    report = path.with_suffix(".cf.json")
    ComplianceChecker.run_checker(str(path), ["cf:1.10"], 0, "normal", output_filename=str(report),
                                  output_format="json")
    result = json.loads(report.read_text())["cf:1.10"]
    return [f"{item['name']}: {msg}" for item in result["high_priorities"] for msg in item["msgs"]]


def _run(args: list[str]) -> None:
    res = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output


@pytest.fixture(scope="module")
def outputs(tmp_path_factory, sample_cache):
    """One output of each kind, written by geostp's own writers and commands."""
    root = tmp_path_factory.mktemp("cf")
    times = pd.date_range("2000-01-01", "2003-12-31 18:00", freq="6h")
    ds = tiny_latlon_dataset(times)
    ds["t850"].attrs.update(standard_name="air_temperature", long_name="Temperature at 850 hPa", pressure_level=850)
    ds["z500"].attrs.update(standard_name="geopotential", long_name="Geopotential at 500 hPa", pressure_level=500)
    store = root / "store.zarr"
    write_store(ds, store, catalog="test", time_step="6h", norm_kind="zscore", default_t_in=4, default_t_out=4,
                splits={"train": "2000-2001", "valid": "2002", "test": "2003"}, progress=False,
                extra_attrs={"flag": True, "references": ["a", "b"]})
    run = make_run(root / "run", store, variables=("t850", "z500"))
    fc = root / "fc.zarr"
    _run(["forecast", "--model", "vip_mixer", "--var", "t850", "--var", "z500", "--run", str(run), "--data",
          str(store), "--init", "2003-05-01/2003-05-03", "--out", str(fc), "--no-plot", "--no-score"])
    _run(["evaluate", str(fc), "--truth", str(store), "--out", str(root / "ev"), "--n-boot", "20"])
    return {"store": store, "sample": sample_cache[1], "forecast": fc, "scores": root / "ev" / "scores.nc"}


def _open(kind: str, path: Path) -> xr.Dataset:
    return xr.open_dataset(path) if kind == "scores" else xr.open_zarr(path)


def test_scores_nc_as_written_passes_the_cf_checker(outputs):
    assert cf_errors(outputs["scores"]) == []


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("engine", ["netcdf4", "h5netcdf"])
def test_output_exports_with_to_netcdf(outputs, kind, engine, tmp_path):
    ds = _open(kind, outputs[kind])
    if kind == "sample":
        ds = ds.isel(time=slice(0, 40))  # the whole sample is 100 MB; its metadata is what is checked
    nc = tmp_path / f"{kind}.nc"
    ds.to_netcdf(nc, engine=engine)  # attributes of NetCDF types: no TypeError, no broken file
    back = xr.open_dataset(nc, engine=engine)
    assert back.attrs["Conventions"] == "CF-1.10" and back.attrs["history"]
    # the one thing plain to_netcdf adds: xarray gives every float variable without an explicit
    # `_FillValue: None` encoding a NaN fill value, coordinates included (even on a netCDF round trip);
    # `geostp export` passes that encoding, so its files have no error at all (test below)
    float_dims = {str(c) for c in back.dims if c in back.coords and back[c].dtype.kind == "f"}
    expected = {f"§2.5.1. Missing data, valid and actual range of data: The coordinate variable '{c}' must not "
                "have the _FillValue attribute." for c in float_dims}
    assert set(cf_errors(nc)) <= expected
    nc2 = tmp_path / f"{kind}-nofill.nc"
    ds.to_netcdf(nc2, engine=engine, encoding={c: {"_FillValue": None} for c in float_dims})
    assert cf_errors(nc2) == []


@pytest.mark.parametrize("kind", KINDS)
def test_export_passes_the_cf_checker(outputs, kind, tmp_path):
    out = tmp_path / f"{kind}.nc"
    args = ["export", str(outputs[kind]), str(out)] + (["--var", "t850"] if kind == "sample" else [])
    res = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert cf_errors(out) == []


@pytest.mark.parametrize("kind", ["store", "sample", "forecast"])
def test_cf_xarray_finds_the_axes_and_one_variable_per_name(outputs, kind):
    import cf_xarray  # noqa: F401

    ds = _open(kind, outputs[kind])
    main = "t850"
    axes = ds[main].cf.axes
    assert {"X", "Y", "Z"} <= set(axes), axes
    assert ds[main].cf["Z"].attrs["positive"] == "down" and float(ds[main].cf["Z"]) == 850.0
    assert ds[main].cf["Z"].attrs["units"] == "hPa"
    names = ds.cf.standard_names
    assert "time" in names or "forecast_reference_time" in names
    if kind == "forecast":
        assert ds.cf["forecast_reference_time"].name == "init_time" and ds.cf["forecast_period"].name == "lead_time"
    # long names are unique: each resolves to exactly one variable
    longs = [ds[v].attrs["long_name"] for v in ds.data_vars]
    assert len(set(longs)) == len(longs)
    # variables sharing a standard name sit at different vertical coordinates
    for std, members in names.items():
        members = [m for m in members if m in ds.data_vars]
        levels = [(ds[m].cf["Z"].name, float(ds[m].cf["Z"])) for m in members]
        assert len(set(levels)) == len(levels), (std, levels)


def test_sample_levels(outputs):
    import cf_xarray  # noqa: F401

    ds = xr.open_zarr(outputs["sample"])
    assert float(ds["t2m"].cf["Z"]) == 2.0 and ds["t2m"].cf["Z"].attrs["positive"] == "up"
    assert float(ds["z500"].cf["Z"]) == 500.0
    assert ds.attrs["synthetic"] == 1 and ds.attrs["geostp_complete"] == 1
    assert ds["time"].attrs["standard_name"] == "time" and ds["time"].attrs["axis"] == "T"


def test_scores_have_long_names_and_conventions(outputs):
    ds = xr.open_dataset(outputs["scores"])
    assert ds.attrs["Conventions"] == "CF-1.10" and "geostp" in ds.attrs["history"]
    for name in ds.variables:
        assert ds[name].attrs.get("long_name") or ds[name].attrs.get("standard_name"), name


def test_export_command_writes_chunked_compressed_netcdf(outputs, tmp_path):
    out = tmp_path / "fc.nc"
    res = CliRunner().invoke(cli, ["export", str(outputs["forecast"]), str(out)], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert str(out) in res.output
    back = xr.open_dataset(out)
    src = open_store(outputs["store"])  # noqa: F841 - the store still opens after its forecast was exported
    fc = xr.open_zarr(outputs["forecast"])
    np.testing.assert_array_equal(back["t850"].values, fc["t850"].values)
    enc = back["t850"].encoding
    assert enc.get("zlib") or enc.get("compression"), enc
    assert enc.get("chunksizes"), enc
    assert cf_errors(out) == []
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")]  # no temporary file left behind
    again = CliRunner().invoke(cli, ["export", str(outputs["forecast"]), str(out)])
    assert again.exit_code != 0 and "--overwrite" in str(again.exception)
