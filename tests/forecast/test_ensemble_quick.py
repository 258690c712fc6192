"""`geostp forecast --members N --ensemble crps` without a run: the quick-start CRPS recipe is trained, cached apart
from the deterministic quick run, and never picked by a deterministic request."""

from __future__ import annotations

from importlib import resources

import numpy as np
import pytest
import xarray as xr
import yaml

from geostp.forecast.runs import matching_runs
from geostp.workflows.forecast import ForecastRequest, run_forecast


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GEOSTP_CACHE_DIR", str(tmp_path / "cache"))


def test_the_crps_recipe_is_the_deterministic_one_trained_longer_with_the_crps():
    folder = resources.files("geostp") / "resources" / "quickstart"
    det, crps = (yaml.safe_load((folder / name).read_text()) for name in ("vip_mixer.yaml", "vip_mixer-crps.yaml"))
    assert crps["train"].pop("objective") == "crps" and crps["train"].pop("members") >= 2
    for cfg in (det, crps):  # it trains longer; everything else is the deterministic recipe's
        cfg["train"].pop("max_steps"), cfg["eval"].pop("every")
    assert crps == det


def test_crps_members_without_a_run_train_the_quick_crps_recipe(tiny_store, tmp_path):
    def ask(**kw):
        return run_forecast(ForecastRequest(model="vip_mixer", variables=["t850"], data=str(tiny_store[0]),
                                            init=["2003-06-01T00/2003-06-01T18"], quick_steps=2, plot=False,
                                            score=False, progress=False, **kw), echo=lambda m: None)

    ens = ask(members=3, ensemble="crps")
    cfg = yaml.safe_load((ens.run_dir / "config.yaml").read_text())
    assert ens.trained and cfg["train"]["objective"] == "crps" and cfg["train"]["members"] == 4
    fc = xr.open_zarr(ens.zarr)
    assert fc.attrs["ensemble_method"] == "crps" and fc.sizes["member"] == 3
    assert float(fc["t850"].std("member").min()) > 0  # every member is its own draw
    assert [r.objective for r in matching_runs("vip_mixer", ["t850"])] == ["crps"]
    assert matching_runs("vip_mixer", ["t850"], objective="mse") == []  # what a deterministic request looks for
    again = ask(members=3, ensemble="crps")  # cached: reused, same members
    assert not again.trained and again.run_dir == ens.run_dir
    np.testing.assert_array_equal(xr.open_zarr(again.zarr)["t850"].values, fc["t850"].values)
