"""`--ensemble sample`: members are S-HR-VQVAE's own draws of its PixelCNN codes, at a temperature, seeded."""

from __future__ import annotations

import numpy as np
import pytest

from geostp.data.store import open_store
from geostp.errors import ConfigError
from geostp.forecast.ensemble import EnsembleSpec, choose_method
from geostp.forecast.predict import Predictor, predict, resolve_inits
from geostp.models import create


def test_sampled_members_differ_repeat_and_collapse_to_greedy_at_temperature_zero(run_factory, tiny_store, tmp_path):
    run = run_factory(tmp_path / "vq", tiny_store[0], model="s_hr_vqvae", t_in=2, t_out=2)
    store, pred = open_store(tiny_store[0]), Predictor.from_run(run)
    inits = resolve_inits(store, "2003-06-01T00/2003-06-01T06", pred, 2, 1)
    assert choose_method("auto", pred.model) == "sample"

    def run_it(**kw):
        return predict(pred, store, inits, 2, progress=False, ensemble=EnsembleSpec(members=4, method="sample", **kw))

    det = predict(pred, store, inits, 2, progress=False)["t850"]
    ens = run_it()["t850"]
    assert ens.sizes["member"] == 4 and float(ens.std("member").max()) > 0
    np.testing.assert_array_equal(run_it()["t850"].values, ens.values)  # seeded per block: repeatable
    cold = run_it(temperature=0.0)["t850"]
    for k in range(4):
        np.testing.assert_allclose(cold.isel(member=k).values, det.values, rtol=1e-5, atol=1e-4)
    np.testing.assert_array_equal(predict(pred, store, inits, 2, progress=False)["t850"].values, det.values)  # greedy again
    with pytest.raises(ConfigError, match="forecasts deterministically"):
        choose_method("sample", create("vip_mixer", "tiny"))
