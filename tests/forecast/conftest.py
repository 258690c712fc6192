"""Fixtures for forecast tests: a run directory written through geostp.training's own run-file writers."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from geostp.training.checkpoint import save_weights, write_run_files
from geostp.training.config import load_config
from geostp.training.data import open_data


def make_run(run_dir: Path, store: Path, model: str = "vip_mixer", preset: str | None = "tiny", variables=("t850",),
             t_in: int = 4, t_out: int = 4, seed: int = 0, **overrides) -> Path:
    """A run directory (config, signature, stats, weights) for `model` on `store`, without training: the weights
    are the model's random initialisation, which is all a forecast-consistency test needs."""
    from geostp.training.build import build_model

    cfg = load_config({"data": {"store": str(store), "variables": list(variables), "t_in": t_in, "t_out": t_out},
                       "model": {"name": model, "preset": preset, "overrides": overrides}})
    data = open_data(cfg.data)
    torch.manual_seed(seed)
    net = build_model(cfg.model, data.signature)
    write_run_files(run_dir, cfg, data.signature, data.stats, {"test": True})
    save_weights(run_dir / "best.safetensors", net, 0)
    return run_dir


@pytest.fixture
def run_dir(tiny_store, tmp_path):
    """A vip_mixer `tiny` run on the tiny store's t850 (4 -> 4 frames, 6-hourly)."""
    path, _ = tiny_store
    return make_run(tmp_path / "run", path)


@pytest.fixture
def run_factory():
    """`make_run` for tests that need a run of another model or store."""
    return make_run
