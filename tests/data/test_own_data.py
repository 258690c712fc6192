"""Your own files, end to end: `data check`, `prepare custom`, windows exact against the source, `forecast` with
a quick run (tiny settings) and `evaluate`, for the layouts of shared/reference/realdata.md; and the bad
inputs each with a clear error."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr
from click.testing import CliRunner

from geostp import timeaxis
from geostp.cli.main import cli
from geostp.data.check import check
from geostp.data.prepare import prepare
from geostp.data.store import open_store
from geostp.data.windows import open_windows
from geostp.errors import DataError
from geostp.forecast.runs import LARGE_CALENDAR_GRID, store_quick_config
from geostp.workflows.forecast import ForecastRequest, run_forecast
from tests.fixtures.own_files import (write_cftime, write_irregular, write_mid_month, write_ncep_monthly,
                                      write_sst_band)


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GEOSTP_CACHE_DIR", str(tmp_path / "cache"))


def _prepare(src, var, splits, out, **kw):
    notes = []
    prepare("custom", out, root=str(src), variables=[var], splits=splits, progress=False, echo=notes.append, **kw)
    return out, notes


def _exact_windows(store, src, name, split, t_in, t_out, step=None):
    """Every frame of the first and last window equals the source field at the window's times (NaN cells: 0)."""
    ds = open_windows(store, split, t_in, t_out, step=step)
    coder = xr.coders.CFDatetimeCoder(use_cftime=timeaxis.is_cftime(open_store(store)["time"].values))
    with xr.open_dataset(src, decode_times=coder) as raw:
        field = raw[name]
        lat = [d for d in field.dims if d not in ("time",)][0]
        field = field.sortby(lat).load()
    for i in (0, len(ds) - 1):
        x, y = ds[i]
        t_x, t_y = ds.window_times(i)
        times = np.concatenate([t_x, t_y])
        assert timeaxis.one_step(times, timeaxis.parse_step(step or open_store(store).attrs["time_step"])).all()
        got = ds.denormalize(torch.cat([x, y]).numpy())[:, 0]
        want = field.sel(time=times).values
        ok = ~np.isnan(want)
        np.testing.assert_allclose(got[ok], want[ok], rtol=2e-6, atol=1e-3)
        assert (torch.cat([x, y]).numpy()[:, 0][~ok] == 0).all()  # masked cells: the normalised mean
    return ds


def _forecast(store, var, t_in, lead, plot=False):
    return run_forecast(ForecastRequest(model="vip_mixer", variables=[var], data=str(store), t_in=t_in, lead=lead,
                                        quick_steps=2, plot=plot, progress=False), echo=lambda m: None)


def _evaluate(fc, store, out):
    res = CliRunner().invoke(cli, ["evaluate", str(fc), "--truth", str(store), "--out", str(out), "--n-boot", "20"])
    assert res.exit_code == 0, res.output + str(res.exception)
    return pd.read_csv(next(out.glob("*.csv")))


def test_ncep_monthly_descending_latitude(tmp_path):
    src = write_ncep_monthly(tmp_path / "air.mon.mean.nc")
    report = "\n".join(check([str(src)]))
    assert "step 1month (calendar), no gaps" in report and "lat 90..-90 (descending: flipped to ascending)" in report
    assert "global: wraps in longitude" in report and "NaN pattern: no NaN values" in report
    assert "run: geostp data prepare custom --path" in report and "--var air --splits train=1990,valid=1991,test=1992" in report
    store, _ = _prepare(src, "air", "train=1990-1991,test=1992", tmp_path / "air.zarr")
    s = open_store(store)
    assert s.attrs["time_step"] == "1month" and s.attrs["calendar"] == "standard" and s.attrs["periodic_lon"]
    assert s.sizes["lat"] == 73 and (np.diff(s["lat"].values) > 0).all()
    assert len(np.unique(s["segment"].values[s["split"].values == "train"])) == 1  # 28-31 days: one step
    _exact_windows(store, src, "air", "train", 12, 12)
    cfg, large = store_quick_config("vip_mixer", ["air"], store), LARGE_CALENDAR_GRID  # the large-grid recipe
    assert (cfg["data"]["t_in"], cfg["data"]["t_out"], cfg["train"]["max_steps"]) == (large.t_in, large.t_out, large.max_steps)
    assert cfg["model"]["overrides"]["hid_s"] == large.hid_s and cfg["data"]["anomalies"] is True
    _exact_windows(store, src, "air", "train", 2, 2, step="6month")
    res = _forecast(store, "air", 3, "2month")
    assert res.trained
    fc = xr.open_zarr(res.zarr)
    assert timeaxis.coord_labels(fc["lead_time"].values, fc["lead_time"].attrs) == ["1month", "2month"]
    inits = fc["init_time"].values
    want = timeaxis.add_steps(inits[:, None], "month", np.arange(1, 3)[None, :])
    assert (fc["valid_time"].values == want).all() and str(pd.Timestamp(inits[0]).date()) == "1992-03-01"
    assert "per calendar month" in res.scores.attrs["climatology_method"]
    df = _evaluate(res.zarr, store, tmp_path / "ev")
    assert set(df["lead"]) == {"1month", "2month"} and {"persistence", "climatology"} <= set(df["model"])
    assert np.isfinite(df[df["metric"] == "rmse"]["value"]).all()


def test_mid_month_stamps_irregular_hours_and_a_real_gap(tmp_path):
    src = write_mid_month(tmp_path / "tos.nc", skip=20)  # 2007-09 missing
    report = "\n".join(check([str(src)]))
    assert "step 1month (calendar), 1 gap(s)" in report and "time_bnds" in report  # bounds are not data
    store, _ = _prepare(src, "tos", "train=2006-2007,test=2008", tmp_path / "tos.zarr")
    s = open_store(store)
    train_seg = s["segment"].values[s["split"].values == "train"]
    assert len(np.unique(train_seg)) == 2  # the missing month is the only break; 15T00 / 16T12 are one step
    ds = _exact_windows(store, src, "tos", "train", 3, 3)
    t = s["time"].values
    for i in range(len(ds)):  # no window crosses the gap, none invents one
        assert timeaxis.one_step(t[ds.window_time_index(i)], "month").all()
    assert len(ds) == 20 - 6 + 1  # 20 months before the gap; the 3 after it hold no 6-month window
    res = _forecast(store, "tos", 2, "month")
    fc = xr.open_zarr(res.zarr)
    vt, times = fc["valid_time"].values[:, 0], s["time"].values
    assert np.isin(vt, times).all()  # init + 1 month is the data's own stamp of that month (16T12 / 15T00)
    feb = vt[timeaxis.fields(vt)["month"] == 2]
    assert (timeaxis.fields(feb)["day"] == 15).all() and (timeaxis.fields(feb)["hour"] == 0).all()
    _evaluate(res.zarr, store, tmp_path / "ev")


@pytest.mark.parametrize("calendar,freq,start,n,splits,lead", [
    ("360_day", "YS-JUN", "1860-06-01", 30, "train=1860-1879,test=1880-1889", "2year"),
    ("noleap", "D", "2001-12-01", 90, "train=2002,test=2001", "2d"),
])
def test_cftime_calendars_yearly_and_daily(tmp_path, calendar, freq, start, n, splits, lead):
    src = write_cftime(tmp_path / "tas.nc", calendar, freq, start, n)
    report = "\n".join(check([str(src)]))
    step = "1year" if freq.startswith("YS") else "1d"
    assert f"calendar {calendar}, step {step}" in report and "regional: never wrapped" in report
    assert "lat_bnds" in report  # a bounds variable is not data
    store, _ = _prepare(src, "tas", splits, tmp_path / "tas.zarr")
    s = open_store(store)
    t = s["time"].values
    assert timeaxis.is_cftime(t) and t[0].calendar == calendar and s.attrs["calendar"] == calendar
    assert s.attrs["time_step"] == step and not s.attrs["periodic_lon"]
    _exact_windows(store, src, "tas", "train", 3, 2)
    res = _forecast(store, "tas", 3, lead)
    fc = xr.open_zarr(res.zarr)
    inits = fc["init_time"].values
    assert inits[0].calendar == calendar
    assert (fc["valid_time"].values == timeaxis.add_steps(inits[:, None], step, np.arange(1, 3)[None, :])).all()
    assert timeaxis.coord_labels(fc["lead_time"].values, fc["lead_time"].attrs)[-1] == lead
    df = _evaluate(res.zarr, store, tmp_path / "ev")
    assert set(df["lead"]) == set(timeaxis.lead_labels(2, step))


def test_land_masked_sst_band(tmp_path):
    src = write_sst_band(tmp_path / "sst.nc")
    report = "\n".join(check([str(src)]))
    assert "36 of 288 cells (12.5%) are NaN at every time: a static mask" in report
    assert "latitude_longitude" in report.split("variable")[0]  # grid mapping: not data
    store, notes = _prepare(src, "sst=surface_temperature", "train=2006-2007,test=2008", tmp_path / "sst.zarr")
    assert any("static mask mask_sst" in n for n in notes)
    s = open_store(store)
    mask = s["mask_sst"].values.astype(bool)
    assert mask.sum() == 36 and np.isnan(s["sst"].values[:, mask]).all() and not np.isnan(s["sst"].values[:, ~mask]).any()
    ds = _exact_windows(store, src, "surface_temperature", "train", 3, 3)
    assert ds.mask is not None and (ds.mask[0] == mask).all()
    res = _forecast(store, "sst", 3, "2month", plot=True)
    fc = xr.open_zarr(res.zarr)["sst"].values
    assert np.isnan(fc[:, :, mask]).all() and np.isfinite(fc[:, :, ~mask]).all()  # NaN exactly on land
    assert res.map_png.is_file()
    assert np.isfinite(res.scores["value"].sel(metric="rmse").values).all()  # every metric ignores the land
    df = _evaluate(res.zarr, store, tmp_path / "ev")
    assert np.isfinite(df[df["metric"] == "rmse"]["value"]).all()


def test_masks_in_losses_and_metrics():
    from geostp.data.masks import apply_output_mask
    from geostp.evaluation.metrics import lat_weights, masked_weights, squared_error_per_time
    from geostp.models import create

    mask = np.zeros((1, 8, 16), bool)
    mask[0, 2:5, 3:9] = True
    model = create("vip_mixer", "tiny", in_shape=(2, 1, 8, 16), t_out=2)
    apply_output_mask(model, mask)
    x = torch.randn(2, 2, 1, 8, 16, requires_grad=True)
    out = model(x)
    assert (out[:, :, torch.from_numpy(mask)] == 0).all()
    y = torch.randn_like(out)
    loss = model.training_loss(x, y.masked_fill(torch.from_numpy(mask), 0.0)).loss
    loss.backward()  # masked cells give no error and no gradient: same loss whatever the model says there
    lat, lon = np.linspace(-80, 80, 8), np.arange(16) * 22.5
    f = xr.DataArray(np.random.default_rng(0).normal(size=(8, 16)), dims=("lat", "lon"), coords={"lat": lat, "lon": lon})
    o = f + 1.0
    m = xr.DataArray(mask[0], dims=("lat", "lon"), coords={"lat": lat, "lon": lon})
    f, o = f.where(~m), o.where(~m)  # NaN on the mask, as in a forecast and its store
    got = float(squared_error_per_time(f, o, masked_weights(o, m)))
    w = (lat_weights(o["lat"]) * xr.ones_like(o)).where(~m)
    assert got == pytest.approx(float(((f - o) ** 2 * w).sum() / w.sum())) == pytest.approx(1.0)


# ------------------------------------------------------------------------------------------ bad input
def test_files_with_different_calendars(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    write_cftime(folder / "a.nc", "360_day", "YS-JUN", "1860-06-01", 10)
    write_cftime(folder / "b.nc", "noleap", "YS-JUN", "1870-06-01", 10)
    with pytest.raises(DataError, match=r"(?s)files have different calendars.*360_day.*noleap.*convert_calendar"):
        _prepare(folder, "tas", "train=1860-1869,test=1870-1879", tmp_path / "x.zarr")


def test_step_neither_duration_nor_calendar(tmp_path):
    src = write_irregular(tmp_path / "odd.nc")
    with pytest.raises(DataError, match="neither a regular duration nor a calendar step"):
        _prepare(src, "t", "train=2000", tmp_path / "x.zarr")
    assert "prepare would stop: " in "\n".join(check([str(src)]))


def test_nan_pattern_changing_with_time(tmp_path):
    src = write_sst_band(tmp_path / "sst.nc", varying_nan=True)
    with pytest.raises(DataError, match=r"(?s)come and go.*static mask.*not counted.*2 NaN values, first at "
                                        r"time=2006-05-16T12:00:00, lat=-5, lon=0.*--fill"):
        _prepare(src, "sst=surface_temperature", "train=2006-2007,test=2008", tmp_path / "x.zarr")
    assert "NaN at some times only" in "\n".join(check([str(src)]))
    store, _ = _prepare(src, "sst=surface_temperature", "train=2006-2007,test=2008", tmp_path / "y.zarr", fill="nearest")
    s = open_store(store)
    assert int(s["mask_sst"].sum()) == 36 and not np.isnan(s["sst"].values[:, ~s["mask_sst"].values.astype(bool)]).any()
