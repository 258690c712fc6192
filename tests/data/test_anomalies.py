"""Runs on anomalies (geostp.data.anomalies): windows and forecast inputs subtract the train-split climatology of
each frame's calendar month, the forecast adds that of each valid time's month back; a zero model forecasts the
scorecard's monthly climatology exactly, in the standard and a 360_day calendar."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import yaml

from geostp import timeaxis
from geostp.data.anomalies import FILE_NAME, Anomalies
from geostp.data.prepare import prepare
from geostp.data.store import open_store
from geostp.data.windows import open_windows
from geostp.errors import ConfigError
from geostp.evaluation.baselines import climatology_at, compute_climatology
from geostp.forecast.runs import store_quick_config
from geostp.forecast.predict import Predictor, forecast_inputs, predict
from geostp.models.baselines import PersistenceConfig
from geostp.models.base import Forecaster
from geostp.training.contract import RunContract
from geostp.training.data import fit_anomalies
from geostp.workflows.forecast import ForecastRequest, run_forecast
from tests.fixtures.own_files import write_cftime, write_mid_month


class Zero(Forecaster):
    """Forecasts zero (in the model's normalised units) at every frame."""

    def __init__(self, in_shape: tuple[int, int, int, int], t_out: int) -> None:
        super().__init__()
        self.config = PersistenceConfig(in_shape=in_shape, t_out=t_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros(x.shape[0], self.config.t_out, *x.shape[2:])


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GEOSTP_CACHE_DIR", str(tmp_path / "cache"))


def _store(tmp_path, calendar):
    if calendar == "360_day":  # climate-model months of 30 days, cftime times
        src, var = write_cftime(tmp_path / "tas.nc", "360_day", "MS", "2000-01-01", 36), "tas"
        splits = "train=2000-2001,test=2002"
    else:  # mid-month stamps at irregular hours (16T12 / 16T00 / 15T00)
        src, var = write_mid_month(tmp_path / "tos.nc", n=36, skip=None), "tos"
        splits = "train=2006-2007,test=2008"
    prepare("custom", tmp_path / "s.zarr", root=str(src), variables=[var], splits=splits, progress=False,
            echo=lambda m: None)
    return tmp_path / "s.zarr", var


@pytest.mark.parametrize("calendar", ["standard", "360_day"])
def test_zero_anomaly_forecast_is_the_monthly_climatology(tmp_path, calendar):
    store, var = _store(tmp_path, calendar)
    ds = open_store(store)
    anom = fit_anomalies(ds, [var], store)
    assert anom.group_by == "month" and anom.keys.tolist() == list(range(1, 13))
    _, h, w = anom.clim.shape[1:]
    pred = dataclasses.replace(Predictor.from_model(Zero((3, 1, h, w), 2), ds, [var], model_name="zero"),
                               anomalies=anom)
    inits = ds["time"].values[ds["split"].values == "test"][2:6]
    fc = predict(pred, ds, inits, 5, progress=False, device="cpu")  # 5 frames: rolled out beyond T_out = 2
    months = timeaxis.month_index(fc["valid_time"].values)  # mid-month stamps: snapped to the data's own
    assert (months == timeaxis.month_index(inits)[:, None] + np.arange(1, 6)[None, :]).all()
    clim = climatology_at(compute_climatology(ds, [var]), fc["valid_time"])  # the scorecard's climatology
    np.testing.assert_array_equal(fc[var].transpose("init_time", "lead_time", ...).values,
                                  clim[var].transpose("init_time", "lead_time", ...).values)
    assert len({float(fc[var].values[0, k].mean()) for k in range(5)}) == 5  # one climatology per valid month

    # training windows (block and direct reads) and forecast inputs: the same anomalies, bit for bit
    lazy = open_windows(store, "train", 3, 2, variables=[var], anomalies=anom)
    block = open_windows(store, "train", 3, 2, variables=[var], anomalies=anom, in_memory=True)
    scale = lazy.normalizer.scale
    for i in (0, 7, len(lazy) - 1):
        x, y = lazy[i]
        xb, yb = block[i]
        assert torch.equal(x, xb) and torch.equal(y, yb)
        t_x, t_y = lazy.window_times(i)
        times = np.concatenate([t_x, t_y])
        raw = ds[var].sel(time=times).values
        got = anom.restore(torch.cat([x, y]).numpy(), anom.group_index(times), scale)
        np.testing.assert_allclose(got[:, 0], raw, rtol=0, atol=2e-4)
        assert np.abs(torch.cat([x, y]).numpy()).mean() < 0.5 * np.abs(lazy.normalize(raw[:, None])).mean()
        np.testing.assert_array_equal(forecast_inputs(pred, ds, t_x[-1:])[0], x.numpy())


def test_quick_run_on_a_monthly_store_learns_anomalies(tmp_path):
    store, var = _store(tmp_path, "standard")
    res = run_forecast(ForecastRequest(model="vip_mixer", variables=[var], data=str(store), t_in=3, lead="2month",
                                       quick_steps=2, plot=False, progress=False), echo=lambda m: None)
    assert yaml.safe_load((res.run_dir / "config.yaml").read_text())["data"]["anomalies"] is True
    stored = RunContract.read(res.run_dir).anomalies
    assert isinstance(stored, Anomalies) and (res.run_dir / FILE_NAME).is_file()
    np.testing.assert_array_equal(stored.clim, fit_anomalies(open_store(store), [var], store).clim)
    assert not store_quick_config("persistence", [var], store)["data"].get("anomalies")  # values themselves
    small = store_quick_config("vip_mixer", [var], store)  # 8 x 16: the monthly defaults, not the large-grid recipe
    assert (small["data"]["t_in"], small["data"]["t_out"], small["model"]["overrides"]["hid_s"]) == (12, 12, 16)


def test_anomalies_need_calendar_steps(tmp_path):
    src = write_cftime(tmp_path / "d.nc", "noleap", "D", "2001-01-01", 40)
    prepare("custom", tmp_path / "d.zarr", root=str(src), variables=["tas"], splits="train=2001", progress=False,
            echo=lambda m: None)
    with pytest.raises(ConfigError, match="data.anomalies needs a store with calendar steps"):
        fit_anomalies(open_store(tmp_path / "d.zarr"), ["tas"], tmp_path / "d.zarr")
