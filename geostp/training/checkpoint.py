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

Checksums: signature.json's ``weights_sha256`` maps each weights file to its accepted sha256 digests (the
new digest is added before the file is renamed in and the old one dropped after, so a kill in between
leaves either file verifiable); each state's trainer.json lists the sha256 of every file of the state.
Loading verifies them: a corrupt ``best`` falls back to an intact ``last``, a corrupt newest state to the
previous one (the two newest states are kept).
"""

from __future__ import annotations

import hashlib
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
from geostp.training.contract import (RUN_FORMAT, RUN_FORMAT_VERSION, WEIGHTS_KEY, DataSignature,  # noqa: F401
                                      RunContract, read_signature, sha256_file, verify_weights)
from geostp.data.anomalies import FILE_NAME as ANOMALIES_FILE
from geostp.errors import StoreError
from geostp.io import atomic_write_bytes, atomic_write_text, write_errors
from geostp.locks import notice
from geostp.models import create
from geostp.training.build import build_model, resolved_model_config
from geostp.training.config import TrainConfig, config_dict

STATE_DIR = "state"
KEEP_STATES = 2  # the newest state and the one before it, to fall back to when the newest is corrupt


RunInfo = RunContract  # the typed view of a run directory (geostp.training.contract); kept under its old name


def write_run_files(run_dir: Path, cfg: TrainConfig, signature: DataSignature, stats: dict, env: dict,
                    anomalies: Any = None) -> None:
    """The static files of a new run: resolved config, signature (with the format version), stats, environment,
    and the climatology of an anomaly run (geostp.data.anomalies)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    old = run_dir / "signature.json"
    digests = (json.loads(old.read_text()).get(WEIGHTS_KEY) or {}) if old.is_file() else {}
    sig = {"format": RUN_FORMAT, "format_version": RUN_FORMAT_VERSION, "geostp_version": geostp.__version__,
           "model": cfg.model.name, "preset": cfg.model.preset,
           "model_config": resolved_model_config(cfg.model, signature), **signature.to_dict()}
    if digests:  # weights already in the run dir stay verifiable
        sig[WEIGHTS_KEY] = digests
    atomic_write_text(run_dir / "config.yaml", yaml.safe_dump(config_dict(cfg), sort_keys=False))
    atomic_write_text(run_dir / "signature.json", json.dumps(sig, indent=1))
    atomic_write_text(run_dir / "stats.json", json.dumps(stats, indent=1))
    atomic_write_text(run_dir / "environment.json", json.dumps(env, indent=1))
    if anomalies is not None:
        anomalies.save(run_dir / ANOMALIES_FILE)
    else:
        (run_dir / ANOMALIES_FILE).unlink(missing_ok=True)


def _record_weights(run_dir: Path, name: str, digests: list[str]) -> None:
    """Set the accepted digests of weights file `name` in signature.json (skipped when there is none)."""
    path = run_dir / "signature.json"
    if not path.is_file():
        return
    sig = json.loads(path.read_text())
    sig.setdefault(WEIGHTS_KEY, {})[name] = digests
    atomic_write_text(path, json.dumps(sig, indent=1))


def save_weights(path: Path, model: nn.Module, step: int) -> None:
    """Model weights as safetensors (tensors cloned, so tied weights save too), written atomically, their sha256
    recorded in the run's signature.json."""
    path = Path(path)
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
    blob = save(tensors, metadata={"format": RUN_FORMAT, "step": str(step)})
    new = hashlib.sha256(blob).hexdigest()
    sig_path = path.parent / "signature.json"
    before = json.loads(sig_path.read_text()).get(WEIGHTS_KEY, {}).get(path.name, []) if sig_path.is_file() else []
    _record_weights(path.parent, path.name, [new, *before[:1]])  # both verify while the file is swapped
    atomic_write_bytes(path, blob)
    _record_weights(path.parent, path.name, [new])


def state_dirs(run_dir: Path) -> list[Path]:
    """Complete resume states, oldest first (temporary ones never match `step-*`)."""
    return sorted((Path(run_dir) / STATE_DIR).glob("step-*"))


def save_state(accelerator: Any, run_dir: Path, model: nn.Module, trainer: dict[str, Any]) -> None:
    """A resumable checkpoint: accelerate state + trainer.json (with the sha256 of every state file) in a temp
    dir renamed into `state/step-N`, then `last.safetensors`; states older than the `KEEP_STATES` newest are
    removed only after the new one is in place. A failed write (full disk) removes the temp dir and leaves the
    previous states as they were."""
    step = int(trainer["step"])
    root = Path(run_dir) / STATE_DIR
    tmp, final = root / f".tmp-step-{step:08d}", root / f"step-{step:08d}"
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
    accelerator.wait_for_everyone()
    try:
        with write_errors(final, what="resume state"):
            accelerator.save_state(str(tmp))  # every process writes its own RNG state
            accelerator.wait_for_everyone()
            if accelerator.is_main_process:
                files = {p.relative_to(tmp).as_posix(): sha256_file(p) for p in sorted(tmp.rglob("*")) if p.is_file()}
                atomic_write_text(tmp / "trainer.json", json.dumps({**trainer, "files": files}, indent=1))
                if final.exists():
                    shutil.rmtree(final)
                os.replace(tmp, final)
    except BaseException:
        if accelerator.is_main_process:
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    if accelerator.is_main_process:
        save_weights(Path(run_dir) / "last.safetensors", model, step)
        for old in state_dirs(run_dir)[:-KEEP_STATES]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()


def verify_state(state_dir: Path) -> str | None:
    """Why a resume state is unusable (trainer.json unreadable, a file missing or not matching its sha256), or
    None when it is intact."""
    try:
        trainer = json.loads((Path(state_dir) / "trainer.json").read_text())
        int(trainer["step"])
    except (OSError, ValueError, KeyError, TypeError):
        return "trainer.json is missing or unreadable"
    for name, digest in (trainer.get("files") or {}).items():
        path = Path(state_dir) / name
        if not path.is_file():
            return f"{name} is missing"
        if sha256_file(path) != digest:
            return f"{name} does not match its sha256 in trainer.json"
    return None


def load_state(accelerator: Any, state_dir: Path) -> dict[str, Any]:
    """Restore model, optimizer, scheduler, scaler and RNG from a state dir; returns its trainer.json."""
    accelerator.load_state(str(state_dir))
    trainer = json.loads((Path(state_dir) / "trainer.json").read_text())
    trainer.pop("files", None)
    return trainer


def resume_latest(accelerator: Any, run_dir: Path) -> tuple[dict[str, Any] | None, Path | None]:
    """Load the newest intact resume state of `run_dir`, falling back to older ones with a note for each
    corrupt one; (trainer dict, state dir), or (None, None) when no state is intact."""
    for state in reversed(state_dirs(run_dir)):
        why = verify_state(state)
        if why is None:
            try:
                return load_state(accelerator, state), state
            except Exception as exc:  # noqa: BLE001 - a state the checksums could not vouch for (older runs)
                why = f"it does not load ({type(exc).__name__}: {str(exc).splitlines()[0][:120]})"
        if accelerator.is_main_process:
            notice(f"resume state {state} is corrupt ({why}); falling back to the previous state")
    return None, None


def load_run(run_dir: str | Path, which: str = "best", map_location: str | torch.device = "cpu") -> tuple[nn.Module, RunContract]:
    """The trained model of a run (eval mode, `which` = best or last weights, verified against their sha256; a
    corrupt best falls back to an intact last with a note) and its RunContract."""
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
