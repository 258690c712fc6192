"""Parameter and forward-FLOP counts of registered models, measured (not derived by hand).

FLOPs come from `torch.utils.flop_counter.FlopCounterMode` on one forward pass of a batch-1 input built
on the meta device (no memory, no arithmetic, seconds even for the largest presets). torch counts a
multiply-add as 2 FLOPs; OpenSTL and the papers (fvcore) count it as 1, so `forward_gflops` reports
torch's count / 2 to be comparable with the published figures. Only matmuls/convolutions/attention are
counted (as in fvcore's defaults): norms, activations and pixel shuffles are not. A model whose forward
is an iterative decoder (S-HR-VQVAE) defines `flop_forward(x)`, one parallel pass, which is counted
instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from geostp.models.registry import MODELS, create


def count_params(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (each shared tensor counted once)."""
    seen: dict[int, int] = {}
    for p in model.parameters():
        if not trainable_only or p.requires_grad:
            seen[id(p)] = p.numel()
    return sum(seen.values())


def forward_gflops(model: nn.Module, in_shape: tuple[int, ...], device: str | torch.device = "meta") -> float | None:
    """Forward GFLOPs (1 multiply-add = 1 FLOP) of one sample of shape `in_shape`, or None if not countable.

    None means the forward pass failed on `device` (e.g. an op without a meta kernel) or counted nothing
    although the model has parameters (ops the counter does not know).
    """
    x = torch.zeros((1, *in_shape), device=device)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            getattr(model, "flop_forward", model)(x)
    except Exception:  # noqa: BLE001 - any failure means "not countable here", reported as n/a
        return None
    finally:
        model.train(was_training)
    total = counter.get_total_flops()
    if total == 0 and count_params(model) > 0:
        return None
    return total / 2e9


@dataclass(frozen=True)
class ModelCount:
    """Parameters and GFLOPs of one model preset, with the published count when the registry has one."""

    model: str
    preset: str
    params: int
    gflops: float | None
    published: float | None
    source: str

    @property
    def diff_pct(self) -> float | None:
        """Our count relative to the published one, in percent (None without a published count)."""
        if not self.published:
            return None
        return 100.0 * (self.params - self.published) / self.published


def count_preset(name: str, preset: str, flops: bool = True) -> ModelCount:
    """Build `name`/`preset` on the meta device (no memory) and count its parameters and forward GFLOPs."""
    entry = MODELS.get(name)
    try:
        with torch.device("meta"):
            model = create(name, preset)
    except NotImplementedError:  # a constructor that reads tensor values: build it for real, then drop the data
        model = create(name, preset).to("meta")
    # A forward pass that fails on meta (an op without a meta kernel) is reported as n/a rather than run
    # on the CPU: some presets take minutes there.
    gflops = forward_gflops(model, tuple(model.config.in_shape)) if flops else None
    return ModelCount(name, preset, count_params(model), gflops,
                      entry.published_params.get(preset), entry.published_source.get(preset, ""))
