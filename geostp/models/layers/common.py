"""Small generic blocks: stochastic depth and padding a grid to a multiple (with the matching crop)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class DropPath(nn.Module):
    """Stochastic depth: zero a sample's residual branch with probability `p` in training (scaled by 1/(1-p)).

    Hand-written because timm (which has it) pulls torchvision/CUDA wheels; same semantics as timm's.
    """

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        self.p = float(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.p == 0.0 or not self.training:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep

    def extra_repr(self) -> str:
        return f"p={self.p}"


def pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Pad the last two dims of x up to a multiple of `multiple` (replicate, bottom/right); returns (x, (H, W))."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        lead = x.shape[:-3]
        x4 = x.reshape(-1, *x.shape[-3:])
        x4 = F.pad(x4, (0, pw, 0, ph), mode="replicate")
        x = x4.reshape(*lead, *x4.shape[-3:])
    return x, (h, w)


def crop_to(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Undo `pad_to_multiple`: keep the top-left `size` of the last two dims."""
    h, w = size
    if x.shape[-2:] == (h, w):
        return x
    return x[..., :h, :w]
