"""CRPS-trained stochastic ensembles: the loss, the wrapper over every model, training, and forecasting draws."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import xarray as xr

from geostp.data.store import open_store
from geostp.errors import ConfigError
from geostp.evaluation.ensemble import crps_fair
from geostp.forecast.ensemble import EnsembleSpec, choose_method
from geostp.forecast.predict import Predictor, predict, resolve_inits
from geostp.models import create, list_models
from geostp.models.wrappers import Stochastic, afcrps
from geostp.training import load_config, train


def test_afcrps_with_alpha_one_is_the_fair_crps():
    rng = np.random.default_rng(0)
    members, truth = rng.normal(size=(3, 5, 2, 4)), rng.normal(size=(3, 2, 4))
    ours = afcrps(torch.from_numpy(members), torch.from_numpy(truth), alpha=1.0)
    ref = crps_fair(xr.DataArray(members, dims=("b", "member", "y", "x")), xr.DataArray(truth, dims=("b", "y", "x")))
    assert float(ours) == pytest.approx(float(ref.mean()), rel=1e-12)
    # alpha < 1 keeps part of the standard CRPS: never below the fair one
    assert float(afcrps(torch.from_numpy(members), torch.from_numpy(truth), alpha=0.9)) > float(ours)


@pytest.mark.parametrize("name", [n for n in list_models() if n not in ("s_hr_vqvae", "climatology")])
def test_every_forecast_trained_model_takes_the_stochastic_wrapper(name):
    torch.manual_seed(0)
    model = create(name, "tiny", crps_members=3)
    assert isinstance(model, Stochastic)
    x = torch.randn(2, *model.config.in_shape)
    y = torch.randn(2, model.config.t_out, *model.config.in_shape[1:])
    out = model.training_loss(x, y)
    out.loss.backward()
    assert torch.isfinite(out.loss) and model.proj.weight.grad.abs().sum() > 0  # the noise is learned
    with torch.no_grad():
        a, b = model(x), model(x)
    assert a.shape == y.shape and not torch.equal(a, b)  # each call is a new member


def test_models_with_their_own_loss_refuse_the_crps_objective():
    with pytest.raises(ConfigError, match="in stages"):
        create("s_hr_vqvae", "tiny", crps_members=4)
    with pytest.raises(ConfigError, match="does not read its inputs"):
        create("climatology", "tiny", crps_members=4)
    with pytest.raises(ConfigError, match="train.members"):
        load_config({"train": {"objective": "crps", "members": 1}})
    with pytest.raises(ConfigError, match="train.objective crps"):
        load_config({"model": {"name": "simvp", "overrides": {"crps_members": 4}}})


def test_a_crps_run_trains_reloads_and_forecasts_distinct_members(make_config, tmp_path):
    cfg = make_config(train={"max_steps": 8, "objective": "crps", "members": 4}, eval={"every": 8},
                      model={"name": "simvp", "preset": "tiny"})
    run = train(cfg, out=tmp_path / "run")
    assert load_config(run / "config.yaml").model.overrides["crps_members"] == 4
    pred = Predictor.from_run(run)
    assert choose_method("auto", pred.model) == "crps"
    store = open_store(load_config(cfg).data.store)
    inits = resolve_inits(store, "valid", pred, 2, 1)[:5]
    ens = EnsembleSpec(members=4, method="crps")
    fc = predict(pred, store, inits, 2, progress=False, ensemble=ens)
    again = predict(pred, store, inits, 2, progress=False, ensemble=ens)
    assert fc.sizes["member"] == 4 and float(fc["t850"].std("member").min()) > 0
    np.testing.assert_array_equal(fc["t850"].values, again["t850"].values)  # seeded draws repeat
    with pytest.raises(ConfigError, match="deterministic"):
        choose_method("crps", create("simvp", "tiny"))
