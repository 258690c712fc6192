"""Longitude-periodic convolutions: W (longitude) padded circularly, H (latitude) and T with zeros.

Shared by every model that offers `periodic_w` (ViP-Mixer's mixers and, through the SimVP blocks, its
encoder/decoder); models without it get periodic context from `geostp.models.wrappers` (periodic_lon).
"""

from __future__ import annotations

import torch
from torch import nn


def wrap_w(x: torch.Tensor, pad: int) -> torch.Tensor:
    """Pad the last dim circularly by `pad` on both sides (any pad, also wider than the dim)."""
    if pad == 0:
        return x
    w = x.shape[-1]
    if pad <= w:
        return torch.cat([x[..., w - pad:], x, x[..., :pad]], dim=-1)
    idx = torch.arange(-pad, w + pad, device=x.device) % w
    return x.index_select(-1, idx)


class WrapWConv2d(nn.Conv2d):
    """Conv2d padding W circularly (longitude) and H with zeros; same parameters as nn.Conv2d."""

    def __init__(self, *args, padding: tuple[int, int], **kwargs) -> None:
        super().__init__(*args, padding=(padding[0], 0), **kwargs)
        self.wrap = padding[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(wrap_w(x, self.wrap))


class WrapWConv3d(nn.Conv3d):
    """Conv3d over (T, H, W) padding W circularly and T, H with zeros."""

    def __init__(self, *args, padding: tuple[int, int, int], **kwargs) -> None:
        super().__init__(*args, padding=(padding[0], padding[1], 0), **kwargs)
        self.wrap = padding[2]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(wrap_w(x, self.wrap))


def conv2d(cin: int, cout: int, k: int, periodic_w: bool, stride: int = 1, dilation: int = 1,
           groups: int = 1, padding: int | None = None) -> nn.Conv2d:
    """A k×k conv with size-preserving padding (default dilation·(k-1)/2), circular along W if asked."""
    pad = dilation * (k - 1) // 2 if padding is None else padding
    if periodic_w:
        return WrapWConv2d(cin, cout, k, stride=stride, dilation=dilation, groups=groups, padding=(pad, pad))
    return nn.Conv2d(cin, cout, k, stride=stride, dilation=dilation, groups=groups, padding=pad)
