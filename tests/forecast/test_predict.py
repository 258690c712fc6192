"""Predictions from a run: de-normalised model output, rollout beyond T_out, signature and init-time checks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
import torch

from geostp.data.store import open_store
from geostp.errors import DataError, RunMismatchError
from geostp.forecast.predict import Predictor, check_signature, parse_lead, predict, resolve_inits
from geostp.models.base import BaseConfig, Forecaster


def test_forecast_equals_model_output_denormalised(run_dir, tiny_store):
    path, _ = tiny_store
    store = open_store(path)
    pred = Predictor.from_run(run_dir)
    inits = resolve_inits(store, "2003-06-01T00/2003-06-02T00", pred, 4, 1)
    assert len(inits) == 5
    fc = predict(pred, store, inits, 4, progress=False, batch_size=2)

    # by hand: the 4 input frames ending at each init, normalised with the run's stats, through the model
    st = pred.stats["t850"]
    times = store["time"].values
    expect = []
    for t0 in inits:
        p = int(np.flatnonzero(times == t0)[0])
        x = store["t850"].values[p - 3 : p + 1]
        xn = (x - np.float32(st["norm_offset"])) / np.float32(st["norm_scale"])
        with torch.no_grad():
            y = pred.model(torch.from_numpy(xn[None, :, None].astype(np.float32))).numpy()[0, :, 0]
        expect.append(y * np.float32(st["norm_scale"]) + np.float32(st["norm_offset"]))
    np.testing.assert_allclose(fc["t850"].values, np.stack(expect), rtol=1e-6, atol=1e-4)
    assert fc["t850"].attrs["units"] == "K"
    np.testing.assert_array_equal(fc["valid_time"].values[:, 0], inits + np.timedelta64(6, "h"))


@dataclass
class AddOneConfig(BaseConfig):
    """Shapes only."""


class AddOne(Forecaster):
    """Predicts the last input frame + 1 for every output frame (in normalised units)."""

    def __init__(self, cfg: AddOneConfig) -> None:
        super().__init__()
        self.config = cfg
        self.calls = 0
        self.batches: list[int] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        self.calls += 1
        self.batches.append(x.shape[0])
        return (x[:, -1:] + 1).expand(-1, self.config.t_out, -1, -1, -1).clone()


def test_rollout_to_twice_t_out_feeds_predictions_back(tiny_store):
    path, _ = tiny_store
    store = open_store(path)
    model = AddOne(AddOneConfig(in_shape=(2, 1, 4, 8), t_out=3))
    pred = Predictor.from_model(model, store, variables=["t850"])
    inits = resolve_inits(store, "2003-03-01T00", pred, 6, 1)
    fc = predict(pred, store, inits, 6, progress=False)
    assert model.calls == 2 and fc.sizes["lead_time"] == 6
    st = store["t850"].attrs
    last = (store["t850"].sel(time=inits[0]).values - st["norm_offset"]) / st["norm_scale"]
    got = (fc["t850"].values[0] - st["norm_offset"]) / st["norm_scale"]
    # pass 1 predicts last+1; pass 2 sees those predictions as its inputs and predicts last+2
    np.testing.assert_allclose(got[:3], np.broadcast_to(last + 1, (3, 4, 8)), atol=1e-4)
    np.testing.assert_allclose(got[3:], np.broadcast_to(last + 2, (3, 4, 8)), atol=1e-4)
    assert fc["lead_time"].values[-1] == np.timedelta64(36, "h")


def test_cpu_model_calls_are_capped_but_blocks_and_values_are_not(run_dir, tiny_store, monkeypatch):
    """On the CPU the model sees at most CPU_MODEL_BATCH init times per call (activations stay in the cache);
    the written blocks keep --batch-size and the values equal one whole-block call's."""
    import geostp.forecast.predict as P

    path, _ = tiny_store
    store = open_store(path)
    model = AddOne(AddOneConfig(in_shape=(2, 1, 4, 8), t_out=3))
    pred = Predictor.from_model(model, store, variables=["t850"])
    inits = resolve_inits(store, "2003-03-01T00/2003-03-02T12", pred, 3, 1)
    assert len(inits) == 7
    whole = predict(pred, store, inits, 3, progress=False, batch_size=7, model_batch=7)
    assert model.batches == [7]
    model.batches.clear()
    monkeypatch.setattr(P, "CPU_MODEL_BATCH", 3)
    blocks = list(P.predict_blocks(pred, store, inits, 3, progress=False, batch_size=5, device="cpu"))
    assert [b.sizes["init_time"] for b in blocks] == [5, 2]
    assert model.batches == [3, 2, 2]
    np.testing.assert_array_equal(np.concatenate([b["t850"].values for b in blocks]), whole["t850"].values)


def test_a_model_sets_its_own_cpu_batch_through_wrappers(tiny_store):
    """Sequential decoders (S-HR-VQVAE) ask for larger CPU calls; the hint is found inside the wrappers."""
    from geostp.forecast.predict import CPU_MODEL_BATCH, cpu_model_batch
    from geostp.models import create
    from geostp.models.s_hr_vqvae import SHRVQVAE
    from geostp.models.wrappers import Residual

    path, _ = tiny_store
    store = open_store(path)
    inner = AddOne(AddOneConfig(in_shape=(2, 1, 4, 8), t_out=3))
    inner.cpu_model_batch = 3
    model = Residual(inner, (2, 1, 4, 8))
    assert cpu_model_batch(model) == 3 and cpu_model_batch(AddOne(AddOneConfig(in_shape=(2, 1, 4, 8)))) == CPU_MODEL_BATCH
    pred = Predictor.from_model(model, store, variables=["t850"], model_name="addone")
    inits = resolve_inits(store, "2003-03-01T00/2003-03-02T12", pred, 3, 1)
    predict(pred, store, inits, 3, progress=False, batch_size=7, device="cpu")
    assert inner.batches == [3, 3, 1]
    vq = create("s_hr_vqvae", preset="tiny", periodic_lon=True, pad_to_stride=True)
    assert isinstance(vq.inner, SHRVQVAE) and cpu_model_batch(vq) == SHRVQVAE.cpu_model_batch > CPU_MODEL_BATCH


def test_signature_mismatch_shows_both(run_dir, tiny_store):
    path, _ = tiny_store
    store = open_store(path)
    pred = Predictor.from_run(run_dir)
    wrong = store.assign_coords(lon=store["lon"] + 2.5)
    with pytest.raises(RunMismatchError) as err:
        check_signature(pred, wrong)
    assert "0..315 step 45" in str(err.value) and "2.5..317.5 step 45" in str(err.value)
    pred.variables = ["t850", "q700"]
    with pytest.raises(RunMismatchError, match=r"needs \['t850', 'q700'\].*has \['t850', 'z500'\]"):
        check_signature(pred, store)
    pred.variables, pred.frame_step = ["t850"], "4h"
    with pytest.raises(RunMismatchError, match="frames 4h apart.*time step of 6h"):
        check_signature(pred, store)
    pred.frame_step = "12h"  # a multiple of the store step: every second frame
    assert check_signature(pred, store) == 2


def test_init_outside_data_or_without_history(run_dir, tiny_store):
    path, _ = tiny_store
    store = open_store(path)
    pred = Predictor.from_run(run_dir)
    with pytest.raises(DataError, match=r"2010-01-01.*not in the data.*2000-01-01T18:00:00 \.\. 2003-12-31T18:00:00"):
        resolve_inits(store, "2010-01-01T00", pred, 4, 1)
    with pytest.raises(DataError, match="lacks 4 input frames.*2000-01-01T18:00:00"):
        resolve_inits(store, "2000-01-01T06", pred, 4, 1)
    with pytest.raises(DataError, match="lack 4 input frames"):  # the tiny store has a gap 2000-03-01..05
        resolve_inits(store, "2000-03-05T00/2000-03-06T00", pred, 4, 1)
    with pytest.raises(DataError, match="not a date"):
        resolve_inits(store, "yesterday", pred, 4, 1)
    test = resolve_inits(store, "test", pred, 4, 1)  # the test split, inputs and leads inside it
    assert pd.Timestamp(test[0]) == pd.Timestamp("2003-01-01T18") and pd.Timestamp(test[-1]) == pd.Timestamp("2003-12-30T18")
    default = resolve_inits(store, None, pred, 4, 1)  # the test split at 00 and 12 UTC
    assert pd.Timestamp(default[0]) == pd.Timestamp("2003-01-02T00") and len(default) == (len(test) - 1) // 2
    assert set(pd.DatetimeIndex(default).hour) == {0, 12}
    every12 = resolve_inits(store, "2003-01-02/2003-01-03/12h", pred, 4, 1)
    assert [pd.Timestamp(t).hour for t in every12] == [0, 12, 0]


def test_parse_lead(run_dir):
    pred = Predictor.from_run(run_dir)
    assert parse_lead("72h", pred) == 12 and parse_lead("5d", pred) == 20 and parse_lead(None, pred) == 4
    assert parse_lead("3f", pred) == 3
    with pytest.raises(DataError, match="whole number of frames"):
        parse_lead("9h", pred)
    with pytest.raises(DataError, match="no unit"):
        parse_lead("12", pred)


def test_error_classes_match_the_failure(run_dir, tiny_store):
    from geostp.errors import ConfigError
    from geostp.forecast.predict import resolve_device
    from geostp.data.resolve import resolve_data
    from geostp.workflows.forecast import ForecastRequest, find_predictor

    with pytest.raises(ConfigError, match="unknown device 'gpu0'"):
        resolve_device("gpu0")
    src = resolve_data(str(tiny_store[0]))
    with pytest.raises(RunMismatchError, match="holds a vip_mixer model but --model simvp was asked"):
        find_predictor(ForecastRequest(model="simvp", variables=["t850"], run=str(run_dir)), src, print)
    with pytest.raises(RunMismatchError, match=r"trained on \['t850'\], not on \['z500'\]"):
        find_predictor(ForecastRequest(model="vip_mixer", variables=["z500"], run=str(run_dir)), src, print)


def test_a_forecast_checks_the_run_against_the_data_once(run_dir, tiny_store, tmp_path, monkeypatch):
    import geostp.training.contract
    import geostp.forecast.predict
    from geostp.workflows.forecast import ForecastRequest, run_forecast

    calls = []
    real = geostp.training.contract.check_fit

    def counting(*args, **kw):
        calls.append(args[0])
        return real(*args, **kw)

    monkeypatch.setattr(geostp.training.contract, "check_fit", counting)
    monkeypatch.setattr(geostp.forecast.predict, "check_fit", counting)
    req = ForecastRequest(model="vip_mixer", variables=["t850"], run=str(run_dir), data=str(tiny_store[0]),
                          init=["2003-06-01T00/2003-06-02T00"], out=str(tmp_path / "fc.zarr"), plot=False, score=False,
                          progress=False)
    result = run_forecast(req, echo=lambda s: None)
    assert result.n_init == 5 and calls == ["vip_mixer"]


def test_the_run_contract_is_read_once_into_one_typed_object(run_dir, tiny_store):
    from geostp.training.contract import GRID_ATOL, RunContract, same_coords
    from geostp.training.config import TrainConfig

    run = RunContract.read(run_dir)
    assert run.model_name == "vip_mixer" and run.signature.variables == ["t850"] and run.frame_step == "6h"
    assert isinstance(run.config, TrainConfig) and run.config.model.name == "vip_mixer"
    assert run.weights.name == "best.safetensors" and len(run.weights_hash) == 16
    assert run.fit(open_store(tiny_store[0])) == 1
    pred = Predictor.from_run(run_dir)
    assert pred.run.signature == run.signature and pred.frame_step == run.frame_step
    # one tolerance: a grid off by less than it fits, by more does not
    lat = np.asarray(run.signature.grid["lat"])
    assert same_coords(lat, lat + GRID_ATOL / 2) and not same_coords(lat, lat + 1e-2)
