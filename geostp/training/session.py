"""Start a training session: resolve the run (new or resumed) and make an Accelerator that provably does
what was asked, refusing the launch traps measured with accelerate 1.15 on CPU:

* `accelerate launch --cpu --num_processes 2` starts ONE process (the "simple launcher");
* `--multi_gpu` on a machine without GPUs starts ranks that each train alone unless the CPU flag reaches
  them (we pass `cpu=True` ourselves when there is no GPU, then check the process group formed);
* fp16 autocast on CPU is silently a no-op (refused: use bf16).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import shutil
import warnings
from pathlib import Path
from typing import Any

import torch

from geostp.errors import ConfigError, GeostpError
from geostp.training.checkpoint import read_signature, state_dirs
from geostp.training.config import TrainConfig, load_config, resume_conflicts

WORKING_CPU_COMMAND = ("ACCELERATE_USE_CPU=1 accelerate launch --multi_gpu --num_processes 2 --num_machines 1 "
                       "--mixed_precision no --dynamo_backend no pipelines/train.py --config CFG")
PRECISION = {"fp32": "no", "bf16": "bf16", "fp16": "fp16"}


def open_run(config: Any, out: str | Path | None, overrides: tuple[str, ...] | list[str], resume: str | Path | None,
             overwrite: bool = False) -> tuple[TrainConfig, Path | None, Path | None]:
    """(config, run dir or None for a default name, state dir to resume from or None).

    A resume reads RUN_DIR/config.yaml; a config or overrides given with it may only change what does not
    alter what is learned (length, logging, evaluation), otherwise the differing keys are listed.
    """
    if resume is not None:
        run_dir = Path(resume)
        read_signature(run_dir)  # refuses non-runs and other format versions
        saved = load_config(run_dir / "config.yaml")
        asked = load_config(config if config is not None else saved, overrides)
        conflicts = resume_conflicts(saved, asked)
        if conflicts:
            raise ConfigError(f"cannot resume {run_dir} with a different setup: " + "; ".join(conflicts)
                              + ". Start a new run (--out NEW_DIR) to change these.")
        states = state_dirs(run_dir)
        return asked, run_dir, (states[-1] if states else None)
    if config is None:
        raise ConfigError("give --config FILE for a new run, or --resume RUN_DIR to continue one")
    cfg = load_config(config, overrides)
    run_dir = Path(out) if out is not None else (Path(cfg.out) if cfg.out else None)
    if run_dir is not None and (run_dir / "signature.json").exists():
        if not overwrite:
            raise ConfigError(f"{run_dir} already holds a run: continue it with --resume {run_dir}, "
                              "choose another --out, or pass --overwrite to replace it")
    return cfg, run_dir, None


def default_run_dir(cfg: TrainConfig) -> Path:
    """runs/<model>-<preset>-<UTC time>: a fresh name for a run without --out."""
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{cfg.model.name}-{cfg.model.preset or 'custom'}-{stamp}"


def clear_run_dir(run_dir: Path) -> None:
    """Remove an old run's files before an --overwrite run (main process only)."""
    if run_dir.exists():
        shutil.rmtree(run_dir)


def requested_processes(argv: list[str]) -> int | None:
    """--num_processes of an `accelerate launch` command line (None if it is not one or does not say)."""
    if not any("accelerate" in a for a in argv) or "launch" not in argv:
        return None
    for i, a in enumerate(argv):
        for flag in ("--num_processes", "--num-processes"):
            if a == flag and i + 1 < len(argv) and argv[i + 1].isdigit():
                return int(argv[i + 1])
            if a.startswith(flag + "=") and a.split("=", 1)[1].isdigit():
                return int(a.split("=", 1)[1])
    return None


def launcher_process_request() -> int | None:
    """--num_processes of the `accelerate launch` that started this process, from the parent's command line."""
    try:
        import psutil

        return requested_processes(psutil.Process(os.getppid()).cmdline())
    except Exception:  # noqa: BLE001 - best effort; no psutil or no access
        return None


def make_accelerator(precision: str, ddp_kwargs: Any) -> Any:
    """An Accelerator for this launch with the configured precision, after checking the launch traps."""
    from accelerate import Accelerator

    world = int(os.environ.get("WORLD_SIZE", "1"))
    env_cpu = os.environ.get("ACCELERATE_USE_CPU", "").lower() in ("1", "true", "yes")
    if world == 1 and env_cpu and "MASTER_ADDR" in os.environ:  # simple launcher asked for > 1 process
        asked = launcher_process_request()
        msg = (f"`accelerate launch --cpu` was asked for {asked or 'several'} processes but starts only ONE "
               f"(accelerate's simple launcher ignores --num_processes). For CPU data parallelism run:\n  "
               f"{WORKING_CPU_COMMAND}")
        if asked and asked > 1:
            raise ConfigError(msg)
        warnings.warn(msg, stacklevel=2)
    launch_mp = os.environ.get("ACCELERATE_MIXED_PRECISION", "no")
    mp = PRECISION[precision]
    if launch_mp not in ("no", mp):
        raise ConfigError(f"the launcher asks --mixed_precision {launch_mp} but train.precision is {precision!r}; "
                          f"make them agree (e.g. --set train.precision={ {v: k for k, v in PRECISION.items()}.get(launch_mp, launch_mp)})")
    if world == 1:  # a fresh accelerate state per run, so train() can be called again in one process
        from accelerate.state import AcceleratorState

        AcceleratorState._reset_state(reset_partial_state=True)
    cpu = world > 1 and not torch.cuda.is_available()  # make CPU ranks form a gloo group (else they train alone)
    acc = Accelerator(cpu=cpu, mixed_precision=mp, kwargs_handlers=[ddp_kwargs], step_scheduler_with_optimizer=False)
    if acc.num_processes != world:
        raise ConfigError(f"{world} processes were launched but they did not join one process group "
                          f"(each sees {acc.num_processes}, {acc.distributed_type}): they would train "
                          f"unsynchronised copies. On CPU use:\n  {WORKING_CPU_COMMAND}")
    if mp == "fp16" and acc.device.type == "cpu":
        raise ConfigError("train.precision fp16 does nothing on CPU (accelerate enables fp16 autocast only on "
                          "GPUs): use --set train.precision=bf16 (CPU autocast) or fp32")
    return acc


# what torch.distributed says when a peer vanished (gloo, NCCL, the TCP store)
_PEER_LOST = ("Connection closed by peer", "Connection reset by peer", "Broken pipe", "DistBackendError",
              "NCCL communicator was aborted", "Socket Timeout", "timed out", "connection refused", "ProcessGroup")


@contextlib.contextmanager
def peer_failures(run_dir: str | Path | None) -> Any:
    """Turn a collective that fails because another process died into one clear error naming the checkpoint."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    try:
        yield
    except RuntimeError as exc:
        text = f"{type(exc).__name__}: {exc}"
        if world <= 1 or not any(k.lower() in text.lower() for k in _PEER_LOST):
            raise
        states = state_dirs(Path(run_dir)) if run_dir else []
        where = f"{states[-1]}" if states else "none yet (the run had not reached its first checkpoint)"
        rank = os.environ.get("RANK", "?")
        raise GeostpError(
            f"process {rank} of {world} lost contact with another process ({text.splitlines()[0][:160]}): a machine "
            f"or process died, so this one stopped too. Last complete checkpoint: {where}; continue with the same "
            f"launch command and --resume {run_dir or 'RUN_DIR'} (no --config)") from None
