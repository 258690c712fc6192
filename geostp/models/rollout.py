"""One autoregressive rollout for every model: feed predictions back to reach any lead beyond T_out."""

from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def rollout(model: nn.Module, x: torch.Tensor, n_frames: int) -> torch.Tensor:
    """Predict `n_frames` frames from x (B, T_in, C, H, W) by repeated calls, each on the latest T_in frames.

    Memory stays bounded by one model call plus the (B, n_frames, C, H, W) output.
    """
    t_in = x.shape[1]
    out: list[torch.Tensor] = []
    made = 0
    context = x
    while made < n_frames:
        pred = model(context)
        out.append(pred)
        made += pred.shape[1]
        context = torch.cat([context, pred], dim=1)[:, -t_in:]
    return torch.cat(out, dim=1)[:, :n_frames]
