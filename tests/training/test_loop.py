"""End-to-end training on a tiny store: it learns, the run dir is complete, resume is bitwise exact."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml
from accelerate.utils import set_seed
from safetensors.torch import load_file
from torch import nn

from geostp.models import BaseConfig, Forecaster, LossOutput, TrainingStage
from geostp.models.registry import MODELS, ModelEntry

from geostp.training import load_config, load_run, train
from geostp.training.build import build_model
from geostp.training.data import open_data
from geostp.training.logging import read_metrics


def _val_mse(model, data) -> float:
    x, y = data.valid.get_batch(np.arange(0, len(data.valid), 4))
    with torch.no_grad():
        return float(torch.mean((model(x) - y) ** 2))


def test_training_lowers_validation_loss_and_writes_the_run_dir(make_config, tmp_path):
    cfg = make_config(train={"max_steps": 30, "checkpoint_every": 10}, eval={"every": 10})
    run = train(cfg, out=tmp_path / "run")
    assert run == tmp_path / "run"
    names = {p.name for p in run.iterdir()}
    assert {"config.yaml", "signature.json", "stats.json", "environment.json", "metrics.jsonl",
            "best.safetensors", "last.safetensors", "learning_curve.png", "state"} <= names
    # older states pruned; the one before the newest is kept to fall back to
    assert sorted(p.name for p in (run / "state").iterdir()) == ["step-00000020", "step-00000030"]

    model, info = load_run(run)
    assert info.signature.variables == ["t850", "z500"] and (info.signature.t_in, info.signature.t_out) == (3, 2)
    assert info.signature.grid["lat"][0] == pytest.approx(-78.75) and len(info.signature.grid["lon"]) == 16
    assert info.signature.lead_labels() == ["6h", "12h"]
    assert info.stats["t850"]["norm_kind"] == "zscore" and info.model_name == "simvp"
    assert load_config(yaml.safe_load((run / "config.yaml").read_text())).train.max_steps == 30

    data = open_data(load_config(cfg).data)
    torch.manual_seed(0)
    untrained = build_model(load_config(cfg).model, data.signature).eval()
    assert _val_mse(model, data) < 0.5 * _val_mse(untrained, data)

    events = read_metrics(run / "metrics.jsonl")
    assert all("step" in e and "event" in e for e in events)
    valid = [e for e in events if e["event"] == "valid"]
    assert [e["step"] for e in valid] == [10, 20, 30]
    assert valid[-1]["val/loss"] < valid[0]["val/loss"]
    assert {"val/rmse/t850/6h", "val/rmse/z500/12h"} <= set(valid[-1])
    base = events[0]
    assert base["event"] == "baseline" and base["persistence/rmse/t850/6h"] < base["persistence/rmse/t850/12h"]
    env = json.loads((run / "environment.json").read_text())
    assert env["num_processes"] == 1 and env["mixed_precision"] == "no" and env["torch"] == torch.__version__


def test_resume_after_a_stop_is_bitwise_identical(make_config, tmp_path):
    cfg = make_config(train={"checkpoint_every": 4, "seed": 3})
    full = train(cfg, out=tmp_path / "full")
    part = train(cfg, out=tmp_path / "part", overrides=["train.stop_at_step=6"])
    assert json.loads((part / "state" / "step-00000006" / "trainer.json").read_text())["step"] == 6
    train(resume=part, overrides=["train.stop_at_step=null"])
    a, b = load_file(full / "last.safetensors"), load_file(part / "last.safetensors")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    la = [e["train/loss"] for e in read_metrics(full / "metrics.jsonl") if e["event"] == "train"]
    lb = [e["train/loss"] for e in read_metrics(part / "metrics.jsonl") if e["event"] == "train"]
    assert la == lb and len(la) == 12  # the resumed log continues without duplicates


def test_gradient_accumulation_matches_the_plain_global_batch(make_config, tmp_path):
    plain = train(make_config(train={"max_steps": 5}), out=tmp_path / "a")
    accum = train(make_config(train={"max_steps": 5, "grad_accum": 4}), out=tmp_path / "b")
    la = [e["train/loss"] for e in read_metrics(plain / "metrics.jsonl") if e["event"] == "train"]
    lb = [e["train/loss"] for e in read_metrics(accum / "metrics.jsonl") if e["event"] == "train"]
    np.testing.assert_allclose(la, lb, rtol=1e-4)


def test_early_stopping_stops_and_keeps_the_best(make_config, tmp_path):
    cfg = make_config(train={"max_steps": 40}, eval={"every": 2, "patience": 2, "min_delta": 10.0})
    run = train(cfg, out=tmp_path / "run")
    valid = [e for e in read_metrics(run / "metrics.jsonl") if e["event"] == "valid"]
    assert [e["step"] for e in valid] == [2, 4, 6]  # the first sets the best; two without a 10.0 gain stop it
    assert [p.name for p in (run / "state").iterdir()] == ["step-00000006"]
    best = load_file(run / "best.safetensors")
    model, info = load_run(run)
    assert info.step == 2 and all(torch.equal(best[k], v) for k, v in model.state_dict().items())


class _TwoStage(Forecaster):
    """A two-stage model for the stage plan: stage `first` trains `a`, stage `second` trains `b` on top."""

    def __init__(self, cfg: BaseConfig) -> None:
        super().__init__()
        self.config = cfg
        t_in, c, _, _ = cfg.in_shape
        self.a = nn.Conv2d(t_in * c, cfg.t_out * c, 3, padding=1)
        self.b = nn.Conv2d(cfg.t_out * c, cfg.t_out * c, 3, padding=1)

    def _first(self, x):
        b, t, c, h, w = x.shape
        return self.a(x.reshape(b, t * c, h, w))

    def forward(self, x):
        z = self.b(self._first(x))
        return z.reshape(x.shape[0], self.config.t_out, x.shape[2], *x.shape[3:])

    def training_stages(self):
        return [TrainingStage("first", ("a.",), 0.5), TrainingStage("second", ("b.",), 0.5)]

    def training_loss(self, x, y, stage="main"):
        pred = self._first(x).reshape(y.shape) if stage == "first" else self(x)
        loss = torch.mean((pred - y) ** 2)
        return LossOutput(loss, {"mse": loss.detach()})


@pytest.fixture
def two_stage_model(monkeypatch):
    monkeypatch.setitem(MODELS._items, "two_stage_test", ModelEntry("two_stage_test", _TwoStage, BaseConfig))
    return "two_stage_test"


def test_stages_train_their_own_parameters_in_turn(make_config, two_stage_model, tmp_path):
    cfg = make_config(model={"name": two_stage_model, "preset": None}, train={"max_steps": 8, "stop_at_step": 4})
    set_seed(0)
    init = build_model(load_config(cfg).model, open_data(load_config(cfg).data).signature).state_dict()
    run = train(cfg, out=tmp_path / "run")
    mid = load_file(run / "last.safetensors")
    assert not torch.equal(mid["a.weight"], init["a.weight"]) and torch.equal(mid["b.weight"], init["b.weight"])
    train(resume=run)
    end = load_file(run / "last.safetensors")
    assert torch.equal(end["a.weight"], mid["a.weight"]) and not torch.equal(end["b.weight"], mid["b.weight"])
    stages = [e["stage"] for e in read_metrics(run / "metrics.jsonl") if e["event"] == "train"]
    assert stages == ["first"] * 4 + ["second"] * 4

    joint = train(cfg, out=tmp_path / "joint", overrides=["train.stages=joint", "train.stop_at_step=null"])
    end = load_file(joint / "last.safetensors")
    assert not torch.equal(end["a.weight"], init["a.weight"]) and not torch.equal(end["b.weight"], init["b.weight"])
    events = [e for e in read_metrics(joint / "metrics.jsonl") if e["event"] == "train"]
    assert {e["stage"] for e in events} == {"first+second"} and "train/first/mse" in events[0]


def test_a_run_keeps_loading_when_its_preset_changes(make_config, tmp_path, monkeypatch):
    """The run stores its resolved model hyper-parameters, so editing a preset later cannot break it."""
    from geostp.models.registry import MODELS

    cfg = make_config(train={"max_steps": 2, "checkpoint_every": 2}, eval={"every": 2})
    run = train(cfg, out=tmp_path / "run")
    before, _ = load_run(run)
    name, preset = before.model_name, load_config(cfg).model.preset
    changed = {**MODELS.get(name).presets[preset], "hid_s": 2 * before.config.hid_s}
    monkeypatch.setitem(MODELS.get(name).presets, preset, changed)
    after, _ = load_run(run)
    assert after.config == before.config
    x = torch.randn(1, *before.config.in_shape)
    assert torch.equal(before(x), after(x))
