"""The quick-start recipes shipped in geostp/resources/quickstart: each builds its model at the sample's shape, and
`geostp forecast --model s_hr_vqvae` trains its own recipe (not the generic one) and forecasts."""

from __future__ import annotations

from importlib import resources

import numpy as np
import pytest
import xarray as xr
import yaml

from geostp.training.config import load_config
from geostp.forecast.runs import quick_config
from geostp.models import create
from geostp.workflows.forecast import ForecastRequest, run_forecast

FOLDER = resources.files("geostp") / "resources" / "quickstart"
RECIPES = sorted(p.name[: -len(".yaml")] for p in FOLDER.iterdir() if p.name.endswith(".yaml") and "-" not in p.name)


def test_every_suite_model_has_a_recipe():
    assert set(RECIPES) >= {"vip_mixer", "simvp", "simvpv2", "stlight", "convlstm", "swinlstm", "s_hr_vqvae"}


@pytest.mark.parametrize("model", RECIPES)
def test_each_recipe_validates_and_builds_at_the_sample_shape(model):
    cfg = quick_config(model, ["t850"], "sample.zarr")
    assert cfg == {**yaml.safe_load((FOLDER / f"{model}.yaml").read_text()), "data": cfg["data"]}  # the file, as is
    load_config(cfg)  # a typed, validated TrainConfig
    d = cfg["data"]
    net = create(model, cfg["model"].get("preset"), in_shape=(d["t_in"], 1, 32, 64), t_out=d["t_out"],
                 **cfg["model"].get("overrides", {}))
    assert net.config.in_shape == (d["t_in"], 1, 32, 64)


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GEOSTP_CACHE_DIR", str(tmp_path / "cache"))


def test_s_hr_vqvae_quick_start_trains_its_recipe_and_forecasts(cache, tiny_store):
    res = run_forecast(ForecastRequest(model="s_hr_vqvae", variables=["t850"], data=str(tiny_store[0]),
                                       init=["2003-06-01T00/2003-06-01T18"], quick_steps=5, plot=False, score=False,
                                       progress=False), echo=lambda m: None)
    cfg = yaml.safe_load((res.run_dir / "config.yaml").read_text())
    over = cfg["model"]["overrides"]
    assert res.trained and over["attention_every"] == 0 and over["levels"] == 3 and cfg["train"]["max_steps"] == 5
    fc = xr.open_zarr(res.zarr)
    assert fc.sizes["init_time"] == 4 and np.isfinite(fc["t850"].values).all()
