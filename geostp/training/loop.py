"""The training loop: one plain PyTorch loop that accelerate runs on a CPU, one GPU or many processes.

The loop never special-cases a model: it trains `model.training_stages()` in turn through
`model.training_loss(x, y, stage)`. `train.batch_size` is the global batch per optimizer step, split
over processes and accumulation micro-steps, so the loss curve does not depend on how it was launched.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from geostp.data.source import WindowSource
from geostp.errors import ConfigError, RunMismatchError
from geostp.io import write_errors
from geostp.locks import notice, target_lock
from geostp.threads import ThreadTuner
from geostp.training import checkpoint as ckpt
from geostp.data.masks import apply_output_mask
from geostp.training import speed
from geostp.training.build import build_model, fit_to_store
from geostp.training.data import DataSignature, GlobalBatchSampler, batch_loader, open_data, valid_batches
from geostp.training.logging import MetricsLogger, environment, plot_learning_curve
from geostp.training.optim import build_optimizer, build_scheduler, drop_frozen_grads, plan_stages
from geostp.training.session import clear_run_dir, default_run_dir, make_accelerator, open_run, peer_failures
from geostp.training.validation import LeadScores, persistence


class Objective(nn.Module):
    """The model's training loss as a module, so DDP sees (and synchronises) one forward per step."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.parts: tuple[str, ...] = ("main",)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        loss, terms = 0.0, {}
        for part in self.parts:  # one part, or several summed when stages train jointly
            out = self.model.training_loss(x, y, part)
            loss = loss + out.loss
            terms.update({(f"{part}/{k}" if len(self.parts) > 1 else k): v.detach() for k, v in out.terms.items()})
        return loss, terms


def train(config: Any = None, out: str | Path | None = None, overrides: list[str] | tuple[str, ...] = (),
          resume: str | Path | None = None, overwrite: bool = False, wait: bool = False) -> Path:
    """Train the model of `config` (YAML path, dict or TrainConfig) into a run directory and return it;
    `resume=RUN_DIR` continues a run from its last intact checkpoint (config, weights, optimizer, RNG, data order).

    The main process holds the run directory's lock throughout: a second writer of the same run is refused
    naming this one, or queues (`wait`); full-disk and permission errors end in one line."""
    _, run_dir, _ = open_run(config, out, overrides, resume, overwrite)  # refuse bad requests before waiting
    with peer_failures(run_dir):  # under several processes: a dead peer is one clear error naming the checkpoint
        if run_dir is None or int(os.environ.get("RANK", "0")) != 0:
            return _train(config, out, overrides, resume, overwrite)
        with target_lock(run_dir, wait=wait, what="trained"), write_errors(run_dir, what="run"):
            return _train(config, out, overrides, resume, overwrite)


def _train(config: Any, out: str | Path | None, overrides: list[str] | tuple[str, ...], resume: str | Path | None,
           overwrite: bool) -> Path:
    """`train` once the run is locked."""
    from accelerate.utils import DistributedDataParallelKwargs, broadcast_object_list, set_seed

    cfg, run_dir, _ = open_run(config, out, overrides, resume, overwrite)  # again, under the lock
    t = cfg.train
    ddp = DistributedDataParallelKwargs()
    acc = make_accelerator(t.precision, ddp)
    run_dir = Path(broadcast_object_list([run_dir or default_run_dir(cfg)])[0])
    set_seed(t.seed, deterministic=t.deterministic)
    with acc.main_process_first():  # the main process builds a missing sample store first
        data = open_data(cfg.data)
    model = build_model(cfg.model, data.signature)
    fit_to_store(model, data)
    apply_output_mask(model, getattr(data.train, "mask", None))  # masked cells: no loss, no gradient
    unsped = speed.not_applicable(cfg.speed, acc.device)
    for note in unsped:  # said, never silently dropped
        acc.print(f"geostp: {note}")
    sped_up = speed.prepare_model(model, cfg.speed, acc.device)
    if resume is not None:
        saved = DataSignature.from_dict(ckpt.read_signature(run_dir))
        if bad := saved.mismatches(data.signature):
            raise RunMismatchError(f"the data no longer matches run {run_dir}: " + "; ".join(bad))
    sampler = GlobalBatchSampler(data.train, t.batch_size, t.grad_accum, acc.num_processes, acc.process_index,
                                 t.seed)
    micro, steps_per_epoch = sampler.micro, sampler.steps_per_epoch
    total = t.max_steps or t.epochs * steps_per_epoch
    stages = plan_stages(model.training_stages(), total, t.stages)
    ddp.find_unused_parameters = len(model.training_stages()) > 1  # read by prepare(): stages use parts of the model
    objective = Objective(model)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = scheduler = None
    if trainable:
        optimizer = build_optimizer(model, cfg.optim, speed.optimizer_options(cfg.speed, acc.device))
        scheduler = build_scheduler(optimizer, cfg.schedule, stages)
        objective, optimizer = acc.prepare(objective, optimizer)
        acc.register_for_checkpointing(scheduler)
    else:  # a baseline without parameters: evaluate only
        objective.to(acc.device)
        total = 0
    trainer = {"step": 0, "best": math.inf, "best_step": None, "bad_evals": 0}
    state_dir = None
    if resume is not None:
        loaded, state_dir = ckpt.resume_latest(acc, run_dir)
        if loaded is not None:
            trainer = loaded
            if acc.is_main_process:
                notice(f"resuming {run_dir} from {state_dir.name} (step {trainer['step']} of {t.max_steps or '?'})")
                # last.safetensors becomes the weights of the state we continue from (it may be torn or newer)
                ckpt.save_weights(run_dir / "last.safetensors", acc.unwrap_model(objective).model, trainer["step"])
        elif acc.is_main_process:
            notice(f"no complete resume state in {run_dir} (killed before its first checkpoint?): starting afresh "
                   "from step 0")
    if state_dir is None and acc.is_main_process:
        if overwrite and resume is None:
            clear_run_dir(run_dir)
        ckpt.write_run_files(run_dir, cfg, data.signature, data.stats,
                             {**environment(acc), "speed": {"applied": sped_up, "not_applicable": unsped}}, data.anomalies)
    acc.wait_for_everyone()
    # a resumed run keeps the events up to its state's step; a run started afresh begins an empty log
    log = MetricsLogger(run_dir, acc.is_main_process,
                        resume_step=trainer["step"] if state_dir else (-1 if resume is not None else None))
    val_batches = valid_batches(len(data.valid), cfg.data.valid_max_windows, cfg.eval.batch_size or micro,
                                acc.num_processes, acc.process_index)
    evaluate = lambda predict, prefix="val": validate(  # noqa: E731
        acc, predict, data.valid, val_batches, data.signature, cfg.eval.metrics, cfg.data.num_workers, prefix)
    if state_dir is None:
        log.log("baseline", 0, **evaluate(lambda x: persistence(x, data.signature.t_out), "persistence"))
    step = trainer["step"]
    sampler.start_epoch, sampler.start_step = divmod(step, steps_per_epoch)
    batches = speed.DevicePrefetcher(
        batch_loader(data.train, sampler, cfg.data.num_workers, speed.pin_memory(cfg.speed, acc.device)),
        acc.device, cfg.speed.prefetch)
    eval_every = cfg.eval.every or steps_per_epoch
    stop_at = min(total, t.stop_at_step) if t.stop_at_step and t.stop_at_step > step else total  # a reached stop is spent
    bar = tqdm(total=total, initial=step, desc=f"train {cfg.model.name}", disable=not (t.progress and acc.is_main_process))
    running: dict[str, torch.Tensor] = {}
    inner = acc.unwrap_model(objective).model
    stopped, clock, waited, since = False, time.perf_counter(), 0.0, step  # throughput and data-wait meters
    tuner = thread_tuner(t, acc.device, acc.num_processes)
    while step < stop_at and not stopped:
        if tuner:
            tuner.begin(step)
        stage = next(s for s in stages if s.start <= step < s.end)
        acc.unwrap_model(objective).parts = tuple(p.name for p in stage.parts)
        objective.train()
        for a in range(t.grad_accum):  # accumulate micro-batches; gradients sync on the last one only
            tick = time.perf_counter()
            x, y = next(batches)  # on the device (DevicePrefetcher moves them, non_blocking)
            waited += time.perf_counter() - tick
            with acc.no_sync(objective) if a < t.grad_accum - 1 else contextlib.nullcontext():
                loss, terms = objective(x, y)
                acc.backward(loss / t.grad_accum)
            for k, v in {"loss": loss.detach(), **terms}.items():
                running[k] = running.get(k, 0.0) + v.float() / t.grad_accum
        drop_frozen_grads(inner, stage.trainable)
        if t.clip_grad_norm:
            acc.clip_grad_norm_(objective.parameters(), t.clip_grad_norm)
        lr = scheduler.get_last_lr()[0]  # the rate this step used
        optimizer.step()
        if not optimizer.step_was_skipped:  # fp16 scaler skipped an overflow step: keep the schedule in place
            scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        if tuner:
            tuner.end()
        step += 1
        bar.update(1)
        if step % t.log_every == 0 or step == stop_at:
            n = t.log_every if step % t.log_every == 0 else step % t.log_every
            means = {f"train/{k}": float(acc.reduce(v / n, "mean")) for k, v in running.items()}
            elapsed = time.perf_counter() - clock
            log.log("train", step, epoch=step / steps_per_epoch, lr=lr, stage=stage.name, **means,
                    samples_per_s=(step - since) * t.batch_size / elapsed, data_wait=waited / elapsed,
                    threads=torch.get_num_threads())
            bar.set_postfix(loss=f"{means['train/loss']:.4g}")
            running = {}
            clock, waited, since = time.perf_counter(), 0.0, step
        if step % eval_every == 0 or step == total:
            tick = time.perf_counter()
            stopped = _after_validation(acc, cfg, run_dir, inner, trainer, log, step, evaluate(inner))
            clock += time.perf_counter() - tick  # validation time is not training throughput
        if (t.checkpoint_every and step % t.checkpoint_every == 0) or step == stop_at or stopped:
            trainer["step"] = step
            tick = time.perf_counter()
            ckpt.save_state(acc, run_dir, inner, trainer)
            clock += time.perf_counter() - tick
    bar.close()
    if total == 0:  # nothing to train: score the model once and keep its weights
        _after_validation(acc, cfg, run_dir, inner, trainer, log, 0, evaluate(inner))
        if acc.is_main_process:
            ckpt.save_weights(run_dir / "last.safetensors", inner, 0)
    if acc.is_main_process and (step >= total or stopped):
        plot_learning_curve(run_dir)
    log.close()
    acc.wait_for_everyone()
    acc.end_training()
    return run_dir


def thread_tuner(t: Any, device: torch.device, processes: int) -> ThreadTuner | None:
    """The CPU thread tuner, or None: on a GPU, when OMP_NUM_THREADS fixes the count, or with
    `train.deterministic` (switching thread counts changes the order of float sums, so a resumed run would
    no longer end bit for bit where an uninterrupted one does)."""
    return None if t.deterministic else ThreadTuner.for_device(device, processes)


def _after_validation(acc: Any, cfg: Any, run_dir: Path, model: nn.Module, trainer: dict, log: MetricsLogger,
                      step: int, scores: dict[str, float]) -> bool:
    """Log the scores, keep the best weights, count towards early stopping; True means stop."""
    log.log("valid", step, **scores)
    if cfg.eval.monitor not in scores:
        raise ConfigError(f"eval.monitor {cfg.eval.monitor!r} is not a validation score; "
                               f"available: {', '.join(scores)}")
    value = scores[cfg.eval.monitor]
    if value < trainer["best"] - cfg.eval.min_delta:
        trainer.update(best=value, best_step=step, bad_evals=0)
        if acc.is_main_process:
            ckpt.save_weights(run_dir / "best.safetensors", model, step)
    else:
        trainer["bad_evals"] += 1
    return cfg.eval.patience is not None and trainer["bad_evals"] >= cfg.eval.patience


@torch.no_grad()
def validate(acc: Any, predict: Any, dataset: WindowSource, batches: list, signature: Any, metrics: list[str] | None, num_workers: int = 0, prefix: str = "val") -> dict[str, float]:
    """Per-lead validation scores of `predict` over this process's windows, summed over all processes."""
    scores = LeadScores(signature, metrics, dataset.denormalize)
    training = isinstance(predict, nn.Module) and predict.training
    if training:
        predict.eval()
    for x, y in batch_loader(dataset, batches, num_workers):
        with acc.autocast():
            pred = predict(x.to(acc.device))
        scores.update(pred.float(), y.to(acc.device))
    if training:
        predict.train()
    return scores.result(acc.reduce(scores.sums().to(acc.device), "sum").cpu(), prefix)
