"""The run directory: its files, atomic checkpoints, resume state, and `load_run` for later commands.

RUN_DIR/
  config.yaml         resolved TrainConfig          signature.json   data signature + model + run format
  stats.json          normalisation statistics      environment.json versions, device, processes
  best.safetensors    weights at the best validation    last.safetensors  weights at the last checkpoint
  metrics.jsonl       one JSON object per event (`event`, `step`, metric names)
  learning_curve.png  written at the end
  state/step-XXXXXXXX accelerate state (model, optimizer, scheduler, scaler, RNG) + trainer.json

Every file is written to a temporary name and renamed into place; a state directory is complete before
it gets its `step-*` name, so a kill at any moment leaves the previous checkpoint loadable.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch
import yaml
from safetensors.torch import load_file, save
from torch import nn

import geostp
from geostp.training.contract import RUN_FORMAT, RUN_FORMAT_VERSION, DataSignature, RunContract, read_signature  # noqa: F401
from geostp.errors import StoreError
from geostp.io import atomic_write_bytes, atomic_write_text
from geostp.models import create
from geostp.training.build import build_model, resolved_model_config
from geostp.training.config import TrainConfig, config_dict

STATE_DIR = "state"


RunInfo = RunContract  # the typed view of a run directory (geostp.training.contract); kept under its old name


def write_run_files(run_dir: Path, cfg: TrainConfig, signature: DataSignature, stats: dict, env: dict) -> None:
    """The static files of a new run: resolved config, signature (with the format version), stats, environment."""
    run_dir.mkdir(parents=True, exist_ok=True)
    sig = {"format": RUN_FORMAT, "format_version": RUN_FORMAT_VERSION, "geostp_version": geostp.__version__,
           "model": cfg.model.name, "preset": cfg.model.preset,
           "model_config": resolved_model_config(cfg.model, signature), **signature.to_dict()}
    atomic_write_text(run_dir / "config.yaml", yaml.safe_dump(config_dict(cfg), sort_keys=False))
    atomic_write_text(run_dir / "signature.json", json.dumps(sig, indent=1))
    atomic_write_text(run_dir / "stats.json", json.dumps(stats, indent=1))
    atomic_write_text(run_dir / "environment.json", json.dumps(env, indent=1))


def save_weights(path: Path, model: nn.Module, step: int) -> None:
    """Model weights as safetensors (tensors cloned, so tied weights save too), written atomically."""
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
    atomic_write_bytes(path, save(tensors, metadata={"format": RUN_FORMAT, "step": str(step)}))


def state_dirs(run_dir: Path) -> list[Path]:
    """Complete resume states, oldest first (temporary ones never match `step-*`)."""
    return sorted((Path(run_dir) / STATE_DIR).glob("step-*"))


def save_state(accelerator: Any, run_dir: Path, model: nn.Module, trainer: dict[str, Any]) -> None:
    """A resumable checkpoint: accelerate state + trainer.json in a temp dir renamed into `state/step-N`,
    then `last.safetensors`; older states are removed only after the new one is in place."""
    step = int(trainer["step"])
    root = Path(run_dir) / STATE_DIR
    tmp, final = root / f".tmp-step-{step:08d}", root / f"step-{step:08d}"
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp))  # every process writes its own RNG state
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        atomic_write_text(tmp / "trainer.json", json.dumps(trainer, indent=1))
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        save_weights(Path(run_dir) / "last.safetensors", model, step)
        for old in state_dirs(run_dir)[:-1]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()


def load_state(accelerator: Any, state_dir: Path) -> dict[str, Any]:
    """Restore model, optimizer, scheduler, scaler and RNG from a state dir; returns its trainer.json."""
    accelerator.load_state(str(state_dir))
    return json.loads((Path(state_dir) / "trainer.json").read_text())


def load_run(run_dir: str | Path, which: str = "best", map_location: str | torch.device = "cpu") -> tuple[nn.Module, RunContract]:
    """The trained model of a run (eval mode, `which` = best or last weights) and its RunContract."""
    run = RunContract.read(run_dir, which)
    if run.weights is None:
        raise StoreError(f"{run.run_dir} has no weights yet ({which}.safetensors missing): the run has not "
                         f"reached its first checkpoint; resume it with `geostp train --resume {run.run_dir}`")
    if run.model_config is not None:  # the resolved hyper-parameters: independent of later preset changes
        model = create(run.model_name, **run.model_config)
    else:
        model = build_model(run.config.model, run.signature)
    model.load_state_dict(load_file(str(run.weights), device=str(map_location)))
    model.to(map_location).eval()
    from safetensors import safe_open

    with safe_open(str(run.weights), "pt") as fh:
        run.step = int((fh.metadata() or {}).get("step", 0))
    return model, run
