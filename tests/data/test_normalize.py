"""One normaliser (geostp.data.normalize) for training windows, generated sequences and forecast inputs."""

from __future__ import annotations

import numpy as np
import torch

from geostp.data import open_windows
from geostp.data.normalize import Normalizer
from geostp.data.store import open_store
from geostp.forecast.predict import Predictor, forecast_inputs


def test_a_training_window_and_the_forecast_input_are_bitwise_equal(tiny_store):
    path, _ = tiny_store
    for in_memory in (False, True):
        ds = open_windows(path, "test", t_in=4, t_out=2, variables=["t850", "z500"], in_memory=in_memory)
        store = open_store(path)
        pred = Predictor(model=torch.nn.Identity(), model_name="m", variables=ds.variables,
                         grid={"lat": store["lat"].values, "lon": store["lon"].values}, frame_step="6h", t_in=4,
                         t_out=2, stats=ds.stats)
        picks = np.array([0, 7, len(ds) - 1])
        x, _ = ds.get_batch(picks)
        got = forecast_inputs(pred, store, ds.init_times[picks])
        assert got.dtype == np.float32 and got.shape == tuple(x.shape)
        assert np.array_equal(got.view(np.uint32), x.numpy().view(np.uint32))  # bit for bit
        np.testing.assert_allclose(ds.denormalize(x[1:2]).numpy(), store[["t850", "z500"]].to_array("c").transpose(
            "time", "c", "lat", "lon").sel(time=ds.window_times(int(picks[1]))[0]).values[None], rtol=0, atol=0.02)


def test_the_two_part_offset_keeps_large_offsets_exact():
    stats = {"z500": {"norm_offset": 54000.123456789, "norm_scale": 3000.0}}
    norm = Normalizer.from_stats(stats, ["z500"])
    raw = np.full((1, 1, 1, 2), 54000.125, np.float32)
    out = norm.normalize(raw)
    # a single float32 offset (54000.125) would give exactly 0; the remainder is kept
    assert out[0, 0, 0, 0] != 0 and abs(float(out[0, 0, 0, 0]) - (54000.125 - 54000.123456789) / 3000) < 1e-9
    t = norm.normalize(torch.from_numpy(raw))
    assert torch.equal(t, torch.from_numpy(out))
