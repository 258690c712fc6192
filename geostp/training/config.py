"""The typed experiment config of a training run (one YAML per experiment), validated strictly.

Sections: ``data`` (store, variables, splits, T_in/T_out, frame step), ``model`` (registry name, preset,
overrides), ``optim``, ``schedule``, ``train`` (length, global batch, accumulation, clipping, precision,
seed, checkpoint cadence), ``eval`` (cadence, early stopping), ``speed`` (memory format, compile, optimizer
kernel, host-to-device copies: how fast, never what is learned) and ``out``. Unknown keys are refused with
the list of valid ones; `--set a.b=value` overrides go through `geostp.config.apply_overrides`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from geostp.config import apply_overrides, from_dict, load_yaml, to_dict
from geostp.errors import ConfigError


@dataclass
class DataConfig:
    """Which windows to train on: a store path or catalog name (`sample` = the embedded sample)."""

    store: str = "sample"
    variables: list[str] | None = None  # channel order; None = every variable of the store
    train_split: str = "train"
    valid_split: str = "valid"
    t_in: int | None = None  # None = the store's default_t_in
    t_out: int | None = None  # None = the store's default_t_out
    step: str | int | None = None  # frame step: a duration ("6h") or a count of store time steps
    stride: int = 1  # spacing of training window starts, in store time steps
    in_memory: bool = False  # load the store into RAM (small stores: fastest)
    num_workers: int = 0  # DataLoader worker processes per training process
    valid_max_windows: int | None = None  # evenly spaced subset of the valid split (None = all)
    anomalies: bool = False  # learn x - train climatology of x's calendar month (calendar-step stores; geostp.data.anomalies)


@dataclass
class ModelSection:
    """Model registry name, dataset preset (published hyper-parameters) and overrides of its config."""

    name: str = "vip_mixer"
    preset: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)


@dataclass
class OptimConfig:
    """Optimizer (torch.optim) and its hyper-parameters."""

    name: Literal["adam", "adamw", "sgd"] = "adamw"
    lr: float = 1e-3
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    momentum: float = 0.9  # sgd only


@dataclass
class ScheduleConfig:
    """Learning-rate schedule over optimizer steps: constant, cosine or one-cycle, with linear warm-up."""

    name: Literal["constant", "cosine", "onecycle"] = "cosine"
    warmup_steps: int = 0  # linear warm-up from 0 (constant and cosine)
    min_lr_ratio: float = 0.0  # cosine: final lr / peak lr
    pct_start: float = 0.3  # one-cycle: fraction of steps rising to the peak
    div_factor: float = 25.0  # one-cycle: initial lr = lr / div_factor
    final_div_factor: float = 1e4  # one-cycle: final lr = initial lr / final_div_factor


@dataclass
class TrainSection:
    """Length, batch and numerics of training. `batch_size` is GLOBAL: samples per optimizer step
    over all processes and accumulation micro-steps, so the loss curve does not depend on either."""

    epochs: int = 1
    max_steps: int | None = None  # optimizer steps; overrides epochs when set
    objective: Literal["mse", "crps"] = "mse"  # crps: a stochastic ensemble model (geostp.models.wrappers.Stochastic)
    members: int = 8  # crps: members drawn per sample in training (sets model.overrides.crps_members)
    batch_size: int = 16
    grad_accum: int = 1
    clip_grad_norm: float | None = None
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"  # fp16 uses dynamic loss scaling (GPU only)
    seed: int = 0
    deterministic: bool = False  # torch.use_deterministic_algorithms (bitwise repeatable, slower on GPU)
    stages: Literal["sequential", "joint"] = "sequential"  # multi-stage models: one after another, or summed
    checkpoint_every: int = 0  # optimizer steps between resumable checkpoints (0 = only at the end)
    log_every: int = 10  # optimizer steps between train-loss log lines
    stop_at_step: int | None = None  # checkpoint and stop here without changing the schedule (preemption drill)
    progress: bool = True  # tqdm bar on the main process


@dataclass
class SpeedConfig:
    """How fast the same training runs (none of these changes what is learned beyond rounding); each option
    that cannot take effect on the device says so in the log instead of doing nothing (geostp.training.speed)."""

    channels_last: bool = False  # 4-D conv weights and activations in NHWC (tensor cores like it)
    compile: bool = False  # torch.compile the model (its __call__, so training_loss runs compiled too)
    compile_mode: Literal["default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"] = "default"
    compile_backend: str = "inductor"  # torch.compile backend ("aot_eager" checks the graph without codegen)
    optimizer_impl: Literal["auto", "fused", "foreach", "loop"] = "auto"  # auto: fused on GPU, torch's choice on CPU
    pin_memory: bool | None = None  # page-locked host batches (None: on when training on a GPU)
    prefetch: int = 0  # batches copied to the GPU ahead of use on a side stream (0 = copy when needed)
    cuda_graphs: bool = False  # capture forward+backward as CUDA graphs (static shapes; GPU only; needs compile)


@dataclass
class EvalConfig:
    """Validation cadence, per-lead metrics and early stopping on `monitor` (lower is better)."""

    every: int = 0  # optimizer steps between validations (0 = once per epoch)
    batch_size: int | None = None  # per process; None = the training micro-batch
    metrics: list[str] | None = None  # None = by data kind: rmse (lat/lon), mse/mae/ssim/psnr (images)
    monitor: str = "val/loss"
    patience: int | None = None  # validations without improvement before stopping (None = never stop)
    min_delta: float = 0.0


@dataclass
class TrainConfig:
    """A whole experiment: what `pipelines/train.py --config FILE` and `geostp train` run."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelSection = field(default_factory=ModelSection)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    train: TrainSection = field(default_factory=TrainSection)
    eval: EvalConfig = field(default_factory=EvalConfig)
    speed: SpeedConfig = field(default_factory=SpeedConfig)
    out: str | None = None  # run directory (None = runs/<model>-<timestamp>)

    def __post_init__(self) -> None:
        _validate(self)


def _validate(cfg: TrainConfig) -> None:
    """Cross-field checks from_dict cannot express (ranges, divisibility)."""
    t = cfg.train
    if t.objective == "crps":  # the objective is a model wrapper, so the run rebuilds it from its own config
        if t.members < 2:
            raise ConfigError(f"train.members must be >= 2 for train.objective crps, got {t.members}")
        asked = cfg.model.overrides.get("crps_members")
        if asked not in (None, t.members):
            raise ConfigError(f"model.overrides.crps_members = {asked} disagrees with train.members = {t.members}; "
                              "set train.members only")
        cfg.model.overrides["crps_members"] = t.members
    elif cfg.model.overrides.get("crps_members"):
        raise ConfigError("model.overrides.crps_members is set by train.objective crps; set train.objective: crps "
                          "and train.members instead")
    positive = {"train.epochs": t.epochs, "train.batch_size": t.batch_size, "train.grad_accum": t.grad_accum,
                "train.log_every": t.log_every, "data.stride": cfg.data.stride, "optim.lr": cfg.optim.lr}
    for key, value in positive.items():
        if value <= 0:
            raise ConfigError(f"{key} must be > 0, got {value}")
    for key, value in {"train.max_steps": t.max_steps, "train.stop_at_step": t.stop_at_step,
                       "eval.batch_size": cfg.eval.batch_size, "eval.patience": cfg.eval.patience,
                       "data.t_in": cfg.data.t_in, "data.t_out": cfg.data.t_out}.items():
        if value is not None and value <= 0:
            raise ConfigError(f"{key} must be > 0 (or null), got {value}")
    for key, value in {"train.checkpoint_every": t.checkpoint_every, "eval.every": cfg.eval.every,
                       "data.num_workers": cfg.data.num_workers, "schedule.warmup_steps": cfg.schedule.warmup_steps,
                       "speed.prefetch": cfg.speed.prefetch}.items():
        if value < 0:
            raise ConfigError(f"{key} must be >= 0, got {value}")
    if t.batch_size % t.grad_accum:
        raise ConfigError(f"train.batch_size {t.batch_size} is not divisible by train.grad_accum {t.grad_accum}")
    if not 0 < cfg.schedule.pct_start < 1:
        raise ConfigError(f"schedule.pct_start must be in (0, 1), got {cfg.schedule.pct_start}")
    if t.clip_grad_norm is not None and t.clip_grad_norm <= 0:
        raise ConfigError(f"train.clip_grad_norm must be > 0 (or null), got {t.clip_grad_norm}")
    from geostp.models.registry import check_overrides  # imported here: the registry pulls in torch

    check_overrides(cfg.model.name, cfg.model.preset, cfg.model.overrides)


def load_config(source: str | Path | dict[str, Any] | TrainConfig, overrides: list[str] | tuple[str, ...] = ()) -> TrainConfig:
    """A validated TrainConfig from a YAML path, a dict or a TrainConfig, with `a.b=value` overrides applied."""
    if isinstance(source, TrainConfig):
        data = to_dict(source)
    elif isinstance(source, dict):
        data = source
    else:
        data = load_yaml(source)
    return from_dict(TrainConfig, apply_overrides(data, list(overrides)))


def config_dict(cfg: TrainConfig) -> dict[str, Any]:
    """The resolved config as plain YAML-safe data (what `config.yaml` of a run holds)."""
    return to_dict(cfg)


# Keys a resume may change: they affect how long or how verbosely training runs, never what it learns.
RESUME_MUTABLE = (
    "out", "train.epochs", "train.max_steps", "train.stop_at_step", "train.checkpoint_every", "train.log_every",
    "train.progress", "eval.", "data.num_workers", "data.in_memory", "data.store", "speed.",
)


def resume_conflicts(saved: TrainConfig, new: TrainConfig) -> list[str]:
    """Keys whose values differ between a run's saved config and the one asked for on resume, and matter."""

    def flat(d: Any, prefix: str = "") -> dict[str, Any]:
        if isinstance(d, dict):
            out: dict[str, Any] = {}
            for k, v in d.items():
                out.update(flat(v, f"{prefix}{k}."))
            return out or {prefix[:-1]: {}}
        return {prefix[:-1]: d}

    a, b = flat(to_dict(saved)), flat(to_dict(new))
    keys = sorted(set(a) | set(b))
    return [f"{k}: run has {a.get(k)!r}, asked {b.get(k)!r}" for k in keys
            if a.get(k) != b.get(k) and not any(k == m or (m.endswith(".") and k.startswith(m)) for m in RESUME_MUTABLE)]
