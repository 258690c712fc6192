"""The `speed:` options of a training config, applied to the model, optimizer and batch stream.

Each option either takes effect or is reported (`not_applicable`) with the reason it cannot on this device;
none changes what is learned beyond floating-point rounding, so a run may change them on resume.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from typing import Any

import torch
from torch import nn

from geostp.errors import ConfigError
from geostp.training.config import SpeedConfig

CUDA_GRAPH_MODES = ("reduce-overhead", "max-autotune")  # torch.compile modes that capture CUDA graphs


def not_applicable(cfg: SpeedConfig, device: torch.device) -> list[str]:
    """One line per option that is set but cannot take effect on `device`, saying why and what happens."""
    if cfg.cuda_graphs and cfg.compile_mode == "max-autotune-no-cudagraphs":
        raise ConfigError("speed.cuda_graphs: true contradicts speed.compile_mode max-autotune-no-cudagraphs; "
                          "drop one of them")
    if device.type == "cuda":
        return []
    where = f"training runs on {device.type}"
    notes = []
    if cfg.cuda_graphs:
        notes.append(f"speed.cuda_graphs: CUDA graphs need a CUDA device; {where}, so steps run without capture")
    if cfg.compile and cfg.compile_mode in CUDA_GRAPH_MODES:
        notes.append(f"speed.compile_mode {cfg.compile_mode}: its CUDA-graph capture needs a CUDA device; {where}, "
                     "so only its kernel choices apply")
    if cfg.pin_memory:
        notes.append(f"speed.pin_memory: page-locked batches only speed copies to a GPU; {where}, so it is off")
    if cfg.prefetch:
        notes.append(f"speed.prefetch: there is no host-to-GPU copy to overlap; {where}, so batches are used as read")
    return notes


def prepare_model(model: nn.Module, cfg: SpeedConfig, device: torch.device) -> list[str]:
    """Put `model` in the configured memory format and compile it in place; returns what was applied.

    In-place `Module.compile` compiles `__call__`, so `training_loss` (which calls `self(x)`) runs compiled
    and the state dict keeps its names: checkpoints are the same whatever the speed options.
    """
    applied = []
    if cfg.channels_last:
        if not any(p.dim() == 4 for p in model.parameters()):
            raise ConfigError(f"speed.channels_last: {type(model).__name__} has no 2-D convolution weights, "
                              "so the memory format changes nothing; drop the option")
        for t in (*model.parameters(), *model.buffers()):  # Module.to(memory_format=) refuses any 5-D (Conv3d) weight
            if t.dim() == 4:
                t.data = t.data.contiguous(memory_format=torch.channels_last)
        applied.append("channels_last")
    if cfg.compile or (cfg.cuda_graphs and device.type == "cuda"):
        mode = cfg.compile_mode
        if cfg.cuda_graphs and device.type == "cuda" and mode not in CUDA_GRAPH_MODES:
            mode = "reduce-overhead"  # torch.compile's CUDA-graph mode: the maintained way to capture graphs
        model.compile(mode=None if mode == "default" else mode, backend=cfg.compile_backend)
        applied.append(f"compile({cfg.compile_backend}, {mode})")
    return applied


def optimizer_options(cfg: SpeedConfig, device: torch.device) -> dict[str, bool]:
    """Keyword arguments selecting the optimizer's kernel (fused, foreach or a per-parameter loop)."""
    impl = cfg.optimizer_impl
    if impl == "auto":
        impl = "fused" if device.type == "cuda" else "default"
    return {"fused": {"fused": True}, "foreach": {"foreach": True}, "loop": {"foreach": False, "fused": False},
            "default": {}}[impl]


def pin_memory(cfg: SpeedConfig, device: torch.device) -> bool:
    """Whether host batches are page-locked: asked for (or left to the default) and useful on this device."""
    return device.type == "cuda" and (cfg.pin_memory is None or cfg.pin_memory)


class DevicePrefetcher:
    """Iterates (x, y) batches already on `device`, copying the next `depth` ahead with non_blocking copies.

    On a GPU the copies are issued on a side stream so they overlap the current step's compute; the
    consuming stream waits for them and the tensors are marked as used there (`record_stream`), so their
    memory is not reused too early. On the CPU it is a plain pass-through (nothing to overlap).
    """

    def __init__(self, batches: Iterable[tuple[torch.Tensor, ...]], device: torch.device, depth: int) -> None:
        self.source = iter(batches)
        self.device = device
        self.depth = max(int(depth), 0)
        self.stream = torch.cuda.Stream(device) if device.type == "cuda" and self.depth else None
        self.queue: deque[tuple[Any, tuple[torch.Tensor, ...]]] = deque()

    def _issue(self) -> bool:
        try:
            batch = next(self.source)
        except StopIteration:
            return False
        if self.stream is None:
            self.queue.append((None, tuple(b.to(self.device, non_blocking=True) for b in batch)))
            return True
        with torch.cuda.stream(self.stream):
            moved = tuple(b.to(self.device, non_blocking=True) for b in batch)
            event = torch.cuda.Event()
            event.record(self.stream)
        self.queue.append((event, moved))
        return True

    def __iter__(self) -> Iterator[tuple[torch.Tensor, ...]]:
        return self

    def __next__(self) -> tuple[torch.Tensor, ...]:
        while len(self.queue) <= self.depth and self._issue():
            pass
        if not self.queue:
            raise StopIteration
        event, batch = self.queue.popleft()
        if event is not None:
            current = torch.cuda.current_stream(self.device)
            current.wait_event(event)
            for b in batch:
                b.record_stream(current)
        return batch
