"""Configs: strict validation with useful errors, overrides, and every shipped config builds on fixture stores."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

from geostp.data.store import write_store
from geostp.errors import ConfigError
from geostp.models import list_models, list_presets
from geostp.training import load_config
from geostp.training.build import build_model
from geostp.training.data import open_data

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "pipelines" / "configs"


def _make_configs_module():
    spec = importlib.util.spec_from_file_location("make_configs", ROOT / "pipelines" / "make_configs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_unknown_keys_name_the_key_and_the_valid_ones():
    with pytest.raises(ConfigError, match=r"train: unknown key\(s\) max_step; valid keys: .*max_steps"):
        load_config({"train": {"max_step": 5}})
    with pytest.raises(ConfigError, match=r"unknown key\(s\) trainer; valid keys: data, eval, model, optim"):
        load_config({"trainer": {}})
    with pytest.raises(ConfigError, match=r"train.precision: 'fp8' is not one of 'fp32', 'bf16', 'fp16'"):
        load_config({"train": {"precision": "fp8"}})
    with pytest.raises(ConfigError, match="train.batch_size: expected an integer"):
        load_config({"train": {"batch_size": "big"}})
    with pytest.raises(ConfigError, match="batch_size 10 is not divisible by train.grad_accum 4"):
        load_config({"train": {"batch_size": 10, "grad_accum": 4}})
    with pytest.raises(ConfigError, match="must look like key.path=value"):
        load_config({}, ["train.max_steps"])


def test_overrides_reach_the_typed_config():
    cfg = load_config({}, ["train.max_steps=20", "model.overrides.hid_s=8", "data.variables=[t850]",
                           "optim.betas=[0.9, 0.95]", "train.clip_grad_norm=1"])
    assert cfg.train.max_steps == 20 and cfg.model.overrides == {"hid_s": 8}
    assert cfg.data.variables == ["t850"] and cfg.optim.betas == (0.9, 0.95) and cfg.train.clip_grad_norm == 1.0


def test_a_model_override_that_fights_the_data_shape_is_refused(make_config):
    cfg = load_config(make_config(model={"name": "simvp", "preset": "tiny", "overrides": {"t_out": 7}}))
    with pytest.raises(ConfigError, match=r"model.overrides.t_out = 7 disagrees with the data \(t_out = 2\)"):
        build_model(cfg.model, open_data(cfg.data).signature)


def test_every_model_and_dataset_preset_has_a_config():
    expected = _make_configs_module().expected_files()
    missing = sorted(set(expected) - {p.name for p in CONFIGS.glob("*.yaml")})
    assert not missing, f"run `python pipelines/make_configs.py`: no config for {missing}"


# --------------------------------------------------------------------------- fixture stores per dataset
def _image_store(path: Path, variables: list[str], h: int, w: int, n: int, datetime_step: str | None) -> Path:
    rng = np.random.default_rng(0)
    time = pd.date_range("2015-01-01", periods=2 * n, freq=datetime_step) if datetime_step else np.arange(2 * n)
    split = np.array(["train"] * n + ["test"] * n)
    ds = xr.Dataset({v: (("time", "y", "x"), rng.random((2 * n, h, w), dtype=np.float32)) for v in variables},
                    coords={"time": time, "split": ("time", split)})
    return write_store(ds, path, catalog="test", time_step=datetime_step or "1", norm_kind="minmax",
                       default_t_in=4, default_t_out=4, progress=False)


def _weather_store(path: Path) -> Path:
    times = pd.date_range("2015-12-30", periods=120, freq="1h")
    lat = np.linspace(-87.1875, 87.1875, 32)
    lon = np.arange(64) * 5.625
    split = np.array(["train"] * 40 + ["valid"] * 40 + ["test"] * 40)
    t2m = (280 + np.random.default_rng(0).normal(size=(120, 32, 64))).astype(np.float32)
    ds = xr.Dataset({"t2m": (("time", "lat", "lon"), t2m)}, coords={"time": times, "lat": lat, "lon": lon,
                                                                    "split": ("time", split)})
    return write_store(ds, path, catalog="test", time_step="1h", norm_kind="zscore", default_t_in=12,
                       default_t_out=12, progress=False)


@pytest.fixture(scope="module")
def dataset_stores(tmp_path_factory):
    root = tmp_path_factory.mktemp("dataset_stores")
    return {
        "mmnist": _image_store(root / "mmnist.zarr", ["frames"], 64, 64, 24, None),
        "taxibj": _image_store(root / "taxibj.zarr", ["inflow", "outflow"], 32, 32, 12, "30min"),
        "kth": _image_store(root / "kth.zarr", ["frames"], 128, 128, 32, None),
        "weatherbench": _weather_store(root / "wb.zarr"),
    }


@pytest.mark.parametrize("name", sorted(p.name for p in CONFIGS.glob("*.yaml") if p.name != "tiny.yaml"))
def test_shipped_config_builds_its_model_and_windows(name, dataset_stores):
    module = _make_configs_module()
    cfg = load_config(CONFIGS / name)
    assert cfg.model.name in list_models() and cfg.model.preset in list_presets(cfg.model.name)
    dataset = module.dataset_of(cfg.model.preset)
    cfg = load_config(cfg, [f"data.store={dataset_stores[dataset]}", "data.num_workers=0"])
    data = open_data(cfg.data)
    try:
        with torch.device("meta"):  # shapes and hyper-parameters only: no memory, no time
            model = build_model(cfg.model, data.signature)
    except NotImplementedError:  # a constructor that reads tensor values: build it for real
        model = build_model(cfg.model, data.signature)
    x, y = data.train[0]
    assert tuple(x.shape) == tuple(model.config.in_shape) and y.shape[0] == model.config.t_out
    assert data.valid[0][1].shape == y.shape


def test_tiny_config_is_vip_mixer_on_the_sample():
    cfg = load_config(CONFIGS / "tiny.yaml")
    assert (cfg.model.name, cfg.data.store) == ("vip_mixer", "sample")
    assert cfg.model.preset in list_presets("vip_mixer") and cfg.train.max_steps <= 200


def test_a_scalar_where_a_section_belongs_is_a_one_line_config_error():
    with pytest.raises(ConfigError, match=r"^train: expected a mapping .*got 5; set its keys instead, e.g. train.KEY=VALUE$"):
        load_config({}, ["train=5"])
    with pytest.raises(ConfigError, match=r"model.overrides: expected a mapping"):
        load_config({}, ["model.overrides=3"])
    with pytest.raises(ConfigError, match=r"'train' is not a section"):
        load_config({}, ["train=5", "train.max_steps=3"])
    # an empty section in the YAML (`model:` -> None) still takes overrides
    assert load_config({"model": None}, ["model.preset=tiny"]).model.preset == "tiny"


def test_the_cli_turns_a_scalar_section_into_one_line_and_exit_2(tmp_path):
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "geostp.cli.main", "train", "--config", str(CONFIGS / "tiny.yaml"),
                           "--out", str(tmp_path / "run"), "--set", "train=5"], capture_output=True, text=True)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and proc.stderr.startswith("error: train: expected a mapping")
    assert not (tmp_path / "run").exists()


def test_model_overrides_are_validated_when_the_config_loads():
    from geostp.errors import UnknownNameError

    with pytest.raises(ConfigError, match=r"model.overrides: unknown key\(s\) hid_z for vip_mixer; valid keys: .*hid_s"):
        load_config({"model": {"name": "vip_mixer", "overrides": {"hid_z": 8}}})
    with pytest.raises(ConfigError, match=r"model.overrides.hid_s: expected an integer, got 'wide'"):
        load_config({"model": {"name": "vip_mixer", "overrides": {"hid_s": "wide"}}})
    with pytest.raises(UnknownNameError, match=r"unknown preset of vip_mixer 'huge'"):
        load_config({"model": {"name": "vip_mixer", "preset": "huge"}})
    with pytest.raises(UnknownNameError, match=r"unknown model 'vip_mixr'.*did you mean 'vip_mixer'"):
        load_config({"model": {"name": "vip_mixr"}})
    cfg = load_config({"model": {"name": "vip_mixer", "preset": "tiny", "overrides": {"hid_s": 8, "residual": True}}})
    assert cfg.model.overrides == {"hid_s": 8, "residual": True}
