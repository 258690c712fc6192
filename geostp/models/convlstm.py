"""ConvLSTM baseline as OpenSTL trains it (`ConvLSTM_Model` with PredRNN's loop and scheduled sampling).

Frames are space-to-depth patched (patch p: (C, H, W) → (p²·C, H/p, W/p), channel index
(row_in_patch·p + col_in_patch)·C + c), run through `num_layers` stacked cells of `num_hidden` channels
with `filter_size` kernels for T_in + T_out − 1 steps, and read out by a bias-free 1×1 conv on the top h.

Choices, with reasons:
- Parameters: **11.7 M** for the Moving MNIST preset (11 675 648), i.e. only what forward uses. OpenSTL's
  cells also build `conv_o` and `conv_last`, which forward never calls (15.08 M in the zoo's "15.0M"); dead
  weights would only need DDP's find_unused_parameters and never train.
- Cell: h = o·tanh(c) by default (Shi et al. 2015; OpenSTL-Lightning). `h_update="o_g"` gives the
  v0.1–v0.3 cell (h = o·g) that produced the published zoo scores.
- Training (`training_loss`): OpenSTL's scheduled sampling. The loss is the MSE of all T_in + T_out − 1
  one-step outputs against frames 1 … T_in+T_out−1 (warm-up steps included). Future input t is the true
  frame with probability η, else the previous output; η starts at `sampling_start` and falls by
  `sampling_decay` per training step (1.0 and 2e-5: zero after 50 000 steps, as OpenSTL). The step count
  is a buffer (`sampling_step`) so it is saved with the weights and a resumed run goes on where it was.
- Inference (`forward`): free-running (η = 0); returns the last T_out outputs.
- Grids that are not multiples of the patch are padded (replicate, bottom/right) and cropped back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from geostp.errors import ConfigError
from geostp.models.base import BaseConfig, Forecaster, LossOutput, check_shapes
from geostp.models.layers.common import crop_to, pad_to_multiple
from geostp.models.layers.convlstm_cell import ConvLSTMCell
from geostp.models.registry import register_model


@dataclass
class ConvLSTMConfig(BaseConfig):
    """ConvLSTM stack and scheduled-sampling settings (OpenSTL defaults: 4 × 128, 5×5, η 1.0 − 2e-5/step)."""

    num_layers: int = 4
    num_hidden: int = 128
    filter_size: int = 5
    patch_size: int = 4
    h_update: Literal["o_tanh_c", "o_g"] = "o_tanh_c"
    scheduled_sampling: bool = True
    sampling_start: float = 1.0
    sampling_decay: float = 2e-5
    residual: bool = False  # each step predicts the change from the frame it was fed (geostp's option, not
    # OpenSTL's): the fed-back frames stay states, which the generic Residual wrapper would turn into increments

    def __post_init__(self) -> None:
        check_shapes(self)
        problems = []
        for name in ("num_layers", "num_hidden", "patch_size"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.filter_size < 1 or self.filter_size % 2 == 0:
            problems.append(f"filter_size must be odd (same-size padding), got {self.filter_size}")
        if not 0.0 <= self.sampling_start <= 1.0 or self.sampling_decay < 0:
            problems.append("sampling_start must lie in [0, 1] and sampling_decay be >= 0")
        if problems:
            raise ConfigError("ConvLSTM config: " + "; ".join(problems))


class ConvLSTM(Forecaster):
    """Stacked ConvLSTM over patched frames; free-running forecast of T_out frames."""

    def __init__(self, cfg: ConvLSTMConfig) -> None:
        super().__init__()
        self.config = cfg
        c = cfg.in_shape[1]
        frame_ch = cfg.patch_size**2 * c
        self.cells = nn.ModuleList(
            ConvLSTMCell(frame_ch if i == 0 else cfg.num_hidden, cfg.num_hidden, cfg.filter_size, cfg.h_update)
            for i in range(cfg.num_layers)
        )
        self.readout = nn.Conv2d(cfg.num_hidden, frame_ch, 1, bias=False)
        if cfg.residual:  # start near persistence: random increments would compound over the closed loop;
            with torch.no_grad():  # small, not zero, so every parameter gets a gradient at once
                self.readout.weight.mul_(1e-2)
        self.register_buffer("sampling_step", torch.zeros((), dtype=torch.int64))

    def _patch(self, x: torch.Tensor) -> torch.Tensor:
        p = self.config.patch_size
        return rearrange(x, "b t c (h p) (w q) -> b t (p q c) h w", p=p, q=p)

    def _unpatch(self, x: torch.Tensor) -> torch.Tensor:
        p = self.config.patch_size
        return rearrange(x, "b t (p q c) h w -> b t c (h p) (w q)", p=p, q=p)

    def _unroll(self, frames: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """Run T_in + T_out − 1 steps over patched frames (B, T, C', h, w) holding the T_in inputs and, when
        `mask` (B, T_out − 1) is given, the true future frames; returns all one-step outputs."""
        t_in, t_out = self.config.in_shape[0], self.config.t_out
        b, _, _, hh, ww = frames.shape
        zeros = frames.new_zeros(b, self.config.num_hidden, hh, ww)
        h = [zeros] * len(self.cells)
        c = [zeros] * len(self.cells)
        outs: list[torch.Tensor] = []
        for t in range(t_in + t_out - 1):
            if t < t_in:
                inp = frames[:, t]
            elif mask is None:
                inp = outs[-1]
            else:
                m = mask[:, t - t_in, None, None, None]
                inp = m * frames[:, t] + (1 - m) * outs[-1]
            for i, cell in enumerate(self.cells):
                h[i], c[i] = cell(inp if i == 0 else h[i - 1], h[i], c[i])
            out = self.readout(h[-1])
            outs.append(out + inp if self.config.residual else out)
        return torch.stack(outs, dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        x, size = pad_to_multiple(x, self.config.patch_size)
        out = self._unroll(self._patch(x), None)[:, -self.config.t_out:]
        return crop_to(self._unpatch(out), size)

    def sampling_eta(self) -> float:
        """Current probability of feeding a true future frame (η) in training."""
        cfg = self.config
        if not cfg.scheduled_sampling:
            return 0.0
        return max(0.0, cfg.sampling_start - cfg.sampling_decay * int(self.sampling_step))

    def training_loss(self, x: torch.Tensor, y: torch.Tensor, stage: str = "main") -> LossOutput:
        """Scheduled-sampling loss over all one-step outputs (see module docstring); advances η by one step."""
        self.check_input(x)
        eta = self.sampling_eta()
        frames, size = pad_to_multiple(torch.cat([x, y], dim=1), self.config.patch_size)
        frames = self._patch(frames)
        mask = (torch.rand(x.shape[0], max(self.config.t_out - 1, 0), device=x.device) < eta).to(x.dtype)
        pred = crop_to(self._unpatch(self._unroll(frames, mask)), size)
        target = torch.cat([x, y], dim=1)[:, 1:]
        loss = F.mse_loss(pred, target)
        forecast_mse = F.mse_loss(pred[:, -self.config.t_out:].detach(), y)
        if self.training:
            self.sampling_step += 1
        return LossOutput(loss, {"mse": loss.detach(), "forecast_mse": forecast_mse, "eta": torch.tensor(eta)})


_SRC = "OpenSTL configs/{} (128×4, 5×5, patch {}), counted without the 2 unused convs per cell; zoo prints {} with them"


@register_model(
    "convlstm", ConvLSTMConfig,
    presets={
        "mmnist": {"in_shape": (10, 1, 64, 64), "t_out": 10, "patch_size": 4},
        "taxibj": {"in_shape": (4, 2, 32, 32), "t_out": 4, "patch_size": 2},
        "weatherbench": {"in_shape": (12, 1, 32, 64), "t_out": 12, "patch_size": 2},
        "kth": {"in_shape": (10, 1, 128, 128), "t_out": 20, "patch_size": 2},
        "tiny": {"in_shape": (3, 2, 16, 16), "t_out": 4, "num_layers": 2, "num_hidden": 16, "filter_size": 3,
                 "patch_size": 2},
    },
    published_params={"mmnist": 11_675_648, "taxibj": 11_572_224, "weatherbench": 11_520_512, "kth": 11_520_512},
    published_source={
        "mmnist": _SRC.format("mmnist/ConvLSTM.py", 4, "15.0M (15 083 520)"),
        "taxibj": _SRC.format("taxibj/ConvLSTM.py", 2, "14.98M"),
        "weatherbench": _SRC.format("weather/t2m_5_625/ConvLSTM.py", 2, "14.98M (the 2-channel count; 1 channel: 14 928 384)"),
        "kth": _SRC.format("kth/ConvLSTM.py", 2, "14.9M"),
    },
)
def convlstm(cfg: ConvLSTMConfig) -> ConvLSTM:
    """OpenSTL's ConvLSTM baseline."""
    return ConvLSTM(cfg)
