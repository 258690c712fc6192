"""Convolutional LSTM cell (Shi et al., 2015) as OpenSTL builds it: no peepholes, no biases, no forget bias."""

from __future__ import annotations

import math

import torch
from torch import nn


class ConvLSTMCell(nn.Module):
    """One ConvLSTM cell; `h_update` "o_tanh_c" gives h = o·tanh(c) (the paper, OpenSTL-Lightning),
    "o_g" gives h = o·g (OpenSTL v0.1–v0.3, the code behind the published zoo scores).

    OpenSTL uses two k×k convs (input → 4N and hidden → 4N, no bias) and adds them; that equals one conv on
    the concatenation [x, h], which we run instead (one kernel launch, same parameters). Each slice is
    initialised with PyTorch's default bound for its own fan-in, so the init matches the two-conv version.
    """

    def __init__(self, c_in: int, hidden: int, kernel: int = 5, h_update: str = "o_tanh_c") -> None:
        super().__init__()
        self.hidden = hidden
        self.h_update = h_update
        self.conv = nn.Conv2d(c_in + hidden, 4 * hidden, kernel, padding=kernel // 2, bias=False)
        with torch.no_grad():
            for lo, hi in ((0, c_in), (c_in, c_in + hidden)):
                bound = 1.0 / math.sqrt((hi - lo) * kernel * kernel)  # kaiming_uniform(a=√5) of a separate conv
                self.conv.weight[:, lo:hi].uniform_(-bound, bound)

    def forward(self, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        i, f, g, o = self.conv(torch.cat([x, h], dim=1)).chunk(4, dim=1)
        i, f, o, g = torch.sigmoid(i), torch.sigmoid(f), torch.sigmoid(o), torch.tanh(g)
        c = f * c + i * g
        h = o * (torch.tanh(c) if self.h_update == "o_tanh_c" else g)
        return h, c
