"""SwinLSTM (Tang et al., ICCV 2023, arXiv 2308.09891): a recurrent cell of Swin Transformer blocks and one filter gate.

Faithful to the authors' code (github SongTang-x/SwinLSTM, MIT: `SwinLSTM_B.py`, `SwinLSTM_D.py`,
`functions.py`, `configs.py`), written anew without timm:

* Cell: z = STB_0(x, fuse=h), then STB_j(z, fuse = x if j is even else none) for j >= 1;
  g = sigmoid(z), c' = g * (c + tanh(z)), h' = g * tanh(c') (the paper's single "filter gate",
  i_t = f_t = o_t). A fuse concatenates LN1(stream) and LN1(fused) and projects 2D -> D.
* Swin block: LN, (shifted) window attention with relative-position bias and the Swin region mask
  (-100 on cross-region pairs, as the authors), residual; LN, MLP 4x, residual; DropPath.
  Odd blocks shift by window // 2. When a stage's grid is no larger than the window, the window
  shrinks to the grid and the shift is off (as the authors' code does silently; here it is documented).
* SwinLSTM-B: patch embed -> one cell per entry of `depths` (default one cell of 12 blocks) -> head.
  SwinLSTM-D: patch embed -> down cells each followed by patch merging -> up cells each followed by
  patch expanding -> head; the up path uses depths_up / num_heads in reversed index order and reversed
  DropPath slices, exactly as the authors' `UpSample` (so the 16x16 up cell has 4 heads on MMNIST).
* Head ("PatchInflated"): transposed conv D -> C; at patch 2 it is the authors' layer (k3, s2, p1,
  op1). The authors' layer only inverts patch 2; here kernel 2*(p//2)+1, stride p, padding/output
  padding 1 (p even) or 0 (p odd) invert any patch size and reduce to theirs at p = 2.
* Rollout (`functions.py`): T_in - 1 teacher-forced warm-up steps, then T_out closed-loop steps fed
  with the model's own (not detached) prediction; the loss covers all T_in - 1 + T_out outputs
  (`loss_on_warmup`); `model(x)` returns the last T_out. Optional scheduled sampling
  (`teacher_forcing`, `teacher_forcing_decay_steps`) feeds the true frame instead with a probability
  that decays linearly with the number of training steps (the authors use none: default 0).

Parameters: the authors' blocks all own the fuse projection ("red"), but odd blocks never use it, and
SwinLSTM-D's up half builds a patch embedding it never calls. These never receive input, so by default
they are DROPPED (18.85 M for D, 2.58 M for B on MMNIST, every parameter receives a gradient);
`keep_unused_projections=True` builds them too and reproduces the authors' 20,191,969 / 2,778,417.

Choices beyond the authors' code: `output_activation` ("sigmoid" as the authors for frames in [0, 1];
"none" for z-scored or [-1, 1] data such as WeatherBench and TaxiBJ presets) and `periodic_w`
(drop the shifted-window mask along W so the cyclic roll wraps around a global longitude seam; off by
default, as the authors).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from geostp.errors import ConfigError, ShapeError
from geostp.models.base import BaseConfig, Forecaster, LossOutput, check_shapes
from geostp.models.layers.common import DropPath
from geostp.models.registry import register_model


@dataclass
class SwinLSTMConfig(BaseConfig):
    """Hyper-parameters of SwinLSTM; defaults are the authors' Moving MNIST configuration (`configs.py`)."""

    variant: Literal["B", "D"] = "D"
    patch_size: int = 2
    embed_dim: int = 128
    depths: tuple[int, ...] = (12,)  # B: blocks per cell, one cell per entry
    depths_down: tuple[int, ...] = (2, 6)  # D: blocks per down cell
    depths_up: tuple[int, ...] = (6, 2)  # D: blocks per up cell (read in reversed order, as the authors)
    num_heads: tuple[int, ...] = (4, 8)
    window_size: int = 4
    mlp_ratio: float = 4.0
    drop_rate: float = 0.0
    attn_drop_rate: float = 0.0
    drop_path_rate: float = 0.1
    output_activation: Literal["sigmoid", "none"] = "sigmoid"
    keep_unused_projections: bool = False
    periodic_w: bool = False
    loss_on_warmup: bool = True
    teacher_forcing: float = 0.0  # probability of feeding the true frame in the closed loop (training)
    teacher_forcing_decay_steps: int = 0  # linear decay of that probability to 0 (0 = constant)
    residual: bool = False  # each step predicts the change from the frame it was fed (geostp's option, not the
    # authors'): fed-back frames stay states, which the generic Residual wrapper would turn into increments

    def grid_multiple(self) -> int:
        """patch x window x 2^merges: every stage's token grid then tiles into windows (see check_tiling)."""
        return self.patch_size * self.window_size * 2 ** (len(self.depths_down) if self.variant == "D" else 0)


def relative_position_index(window: int) -> torch.Tensor:
    """(N, N) index into a ((2w-1)^2)-row bias table for every query/key pair of a w x w window."""
    coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")).flatten(1)
    rel = (coords[:, :, None] - coords[:, None, :]) + (window - 1)  # (2, N, N), each in [0, 2w-2]
    return rel[0] * (2 * window - 1) + rel[1]


def shift_region_mask(h: int, w: int, window: int, shift: int, periodic_w: bool = False) -> torch.Tensor:
    """(nW, N, N) bool mask for shifted windows: True where query and key come from different regions of
    the cyclically rolled grid (they were not neighbours before the roll); such pairs get -100."""
    def regions(n: int) -> torch.Tensor:
        r = torch.zeros(n, dtype=torch.long)
        r[n - window : n - shift] = 1
        r[n - shift :] = 2
        return r

    rw = torch.zeros(w, dtype=torch.long) if periodic_w else regions(w)
    label = regions(h)[:, None] * 3 + rw[None, :]  # (h, w)
    win = label.view(h // window, window, w // window, window).permute(0, 2, 1, 3).reshape(-1, window * window)
    return win[:, :, None] != win[:, None, :]


class WindowAttention(nn.Module):
    """(Shifted) window multi-head self-attention with relative-position bias, one SDPA call for all windows."""

    def __init__(self, dim: int, heads: int, window: int, shift: int, grid: tuple[int, int],
                 attn_drop: float, proj_drop: float, periodic_w: bool) -> None:
        super().__init__()
        self.heads, self.window, self.shift, self.grid = heads, window, shift, grid
        self.attn_drop = attn_drop
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window - 1) ** 2, heads))
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
        self.register_buffer("relative_position_index", relative_position_index(window).flatten(), persistent=False)
        if shift > 0:
            self.register_buffer("region_mask", shift_region_mask(*grid, window, shift, periodic_w), persistent=False)
        else:
            self.region_mask = None
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def bias(self) -> torch.Tensor:
        """Additive attention bias: (1, heads, N, N) without shift, (1, nW*heads, N, N) with it."""
        n = self.window * self.window
        b = self.relative_position_bias_table[self.relative_position_index].view(n, n, self.heads).permute(2, 0, 1)
        if self.region_mask is None:
            return b.unsqueeze(0)
        return (b.unsqueeze(0) - 100.0 * self.region_mask.unsqueeze(1)).reshape(1, -1, n, n)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, H, W, D) -> (B, H, W, D)."""
        bsz, h, w, d = x.shape
        ws, s, nh = self.window, self.shift, self.heads
        if s:
            x = torch.roll(x, shifts=(-s, -s), dims=(1, 2))
        qkv = self.qkv(x)  # per token, so it commutes with the roll and the window partition
        # (B, h/ws, ws, w/ws, ws, 3, heads, hd) -> (3, B, nW, heads, N, hd)
        qkv = qkv.view(bsz, h // ws, ws, w // ws, ws, 3, nh, d // nh).permute(5, 0, 1, 3, 6, 2, 4, 7)
        nw = (h // ws) * (w // ws)
        q, k, v = qkv.reshape(3, bsz, nw, nh, ws * ws, d // nh).unbind(0)
        if s:  # the mask differs per window: fold windows into the head axis, broadcast over batch
            shape = (bsz, nw * nh, ws * ws, d // nh)
        else:  # one bias for every window: fold windows into the batch axis
            shape = (bsz * nw, nh, ws * ws, d // nh)
        bias = self.bias().to(q.dtype)
        out = F.scaled_dot_product_attention(
            q.reshape(shape), k.reshape(shape), v.reshape(shape), attn_mask=bias,
            dropout_p=self.attn_drop if self.training else 0.0,
        )
        out = out.reshape(bsz, h // ws, w // ws, nh, ws, ws, d // nh).permute(0, 1, 4, 2, 5, 3, 6).reshape(bsz, h, w, d)
        if s:
            out = torch.roll(out, shifts=(s, s), dims=(1, 2))
        return self.proj_drop(self.proj(out))


class Mlp(nn.Module):
    """Transformer MLP: Linear D -> rD, GELU, Linear rD -> D (dropout after each, as Swin)."""

    def __init__(self, dim: int, hidden: int, drop: float) -> None:
        super().__init__()
        self.fc1, self.fc2, self.drop = nn.Linear(dim, hidden), nn.Linear(hidden, dim), nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(self.drop(F.gelu(self.fc1(x)))))


class SwinBlock(nn.Module):
    """Swin Transformer block with an optional fused second stream (2D -> D projection after LN1)."""

    def __init__(self, dim: int, heads: int, grid: tuple[int, int], window: int, shift: int, cfg: SwinLSTMConfig,
                 drop_path: float, fuses: bool) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.fuse = nn.Linear(2 * dim, dim) if fuses else None
        self.attn = WindowAttention(dim, heads, window, shift, grid, cfg.attn_drop_rate, cfg.drop_rate, cfg.periodic_w)
        self.drop_path = DropPath(drop_path)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * cfg.mlp_ratio), cfg.drop_rate)

    def forward(self, x: torch.Tensor, other: torch.Tensor | None = None) -> torch.Tensor:
        u = self.norm1(x)
        if other is not None:
            u = self.fuse(torch.cat([u, self.norm1(other)], dim=-1))
        x = x + self.drop_path(self.attn(u))  # the shortcut is the stream x only, never the fused input
        return x + self.drop_path(self.mlp(self.norm2(x)))


class SwinLSTMCell(nn.Module):
    """One SwinLSTM cell: a stack of Swin blocks producing the filter-gate pre-activation, then the gate."""

    def __init__(self, dim: int, heads: int, depth: int, grid: tuple[int, int], cfg: SwinLSTMConfig,
                 drop_paths: list[float]) -> None:
        super().__init__()
        window, shift = cfg.window_size, cfg.window_size // 2
        if min(grid) <= window:  # as the authors: shrink the window to the grid and stop shifting
            window, shift = min(grid), 0
        self.blocks = nn.ModuleList(
            SwinBlock(dim, heads, grid, window, shift if j % 2 else 0, cfg, drop_paths[j],
                      fuses=(j % 2 == 0) or cfg.keep_unused_projections)
            for j in range(depth)
        )

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None
                ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        h, c = state if state is not None else (torch.zeros_like(x), torch.zeros_like(x))
        z = self.blocks[0](x, h)
        for j in range(1, len(self.blocks)):
            z = self.blocks[j](z, x if j % 2 == 0 else None)
        g = torch.sigmoid(z)
        c = g * (c + torch.tanh(z))
        h = g * torch.tanh(c)
        return h, (h, c)


class PatchEmbed(nn.Module):
    """Non-overlapping p x p patches -> D channels, then LayerNorm; output (B, H/p, W/p, D)."""

    def __init__(self, channels: int, dim: int, patch: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(channels, dim, kernel_size=patch, stride=patch)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.proj(x).permute(0, 2, 3, 1))


class PatchMerging(nn.Module):
    """2x2 neighbours -> 4D channels (order (0,0), (1,0), (0,1), (1,1) as Swin) -> LN -> Linear 4D -> 2D."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(4 * dim)
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, h, w, d = x.shape
        x = x.view(b, h // 2, 2, w // 2, 2, d).permute(0, 1, 3, 4, 2, 5).reshape(b, h // 2, w // 2, 4 * d)
        return self.reduction(self.norm(x))


class PatchExpanding(nn.Module):
    """Swin-Unet patch expanding: Linear D -> 2D, each token's channels into a 2x2 block of D/2, LN."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.expand = nn.Linear(dim, 2 * dim, bias=False)
        self.norm = nn.LayerNorm(dim // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, h, w, d = x.shape
        x = self.expand(x).view(b, h, w, 2, 2, d // 2).permute(0, 1, 3, 2, 4, 5).reshape(b, 2 * h, 2 * w, d // 2)
        return self.norm(x)


class PatchInflated(nn.Module):
    """Reconstruction head: tokens (B, h, w, D) -> frame (B, C, h*p, w*p) by one transposed convolution."""

    def __init__(self, dim: int, channels: int, patch: int) -> None:
        super().__init__()
        pad = 1 if patch % 2 == 0 else 0
        self.conv = nn.ConvTranspose2d(dim, channels, kernel_size=2 * (patch // 2) + 1, stride=patch,
                                       padding=pad, output_padding=pad)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x.permute(0, 3, 1, 2))


def check_tiling(cfg: SwinLSTMConfig) -> tuple[int, int]:
    """Token grid (h, w) after patching; ShapeError naming the needed multiple if any stage cannot be tiled."""
    _, _, hh, ww = cfg.in_shape
    p, win = cfg.patch_size, cfg.window_size
    merges = len(cfg.depths_down) if cfg.variant == "D" else 0
    multiple = cfg.grid_multiple()
    hint = (f"use H and W that are multiples of patch x window x 2^merges = {p} x {win} x {2 ** merges} = {multiple} "
            f"(e.g. {math.ceil(hh / multiple) * multiple} x {math.ceil(ww / multiple) * multiple}), "
            f"or pad/crop the data (pad_to_stride=True does it inside)")
    where = f"swinlstm-{cfg.variant} (patch {p}, window {win}) cannot tile a {hh} x {ww} grid"
    if hh < 1 or ww < 1:
        raise ShapeError(f"{where}: the grid must not be empty; {hint}")
    if hh % p or ww % p:
        raise ShapeError(f"{where}: {hh} x {ww} is not a multiple of the patch size {p}; {hint}")
    h, w = hh // p, ww // p
    for i in range(merges + 1):
        gh, gw = h // 2 ** i, w // 2 ** i
        if i < merges and (gh % 2 or gw % 2):
            raise ShapeError(f"{where}: patch merging {i + 1} needs an even token grid, got {gh} x {gw}; {hint}")
        ew = min(gh, gw) if min(gh, gw) <= win else win
        if gh % ew or gw % ew:
            raise ShapeError(f"{where}: the {gh} x {gw} token grid of stage {i} is not a multiple of the window {ew}; "
                             f"{hint}")
    return h, w


class SwinLSTM(Forecaster):
    """SwinLSTM-B (one resolution) or SwinLSTM-D (down/up pyramid) predicting frames recurrently."""

    def __init__(self, cfg: SwinLSTMConfig) -> None:
        super().__init__()
        self.config = cfg
        t_in, c, _, _ = cfg.in_shape
        _validate(cfg)
        h, w = check_tiling(cfg)
        dim = cfg.embed_dim
        self.patch_embed = PatchEmbed(c, dim, cfg.patch_size)
        self.down, self.merges = nn.ModuleList(), nn.ModuleList()  # cells at falling resolution (B: all cells)
        self.up, self.expands = nn.ModuleList(), nn.ModuleList()  # D only: cells at rising resolution
        if cfg.variant == "B":
            for i, depth in enumerate(cfg.depths):
                self.down.append(SwinLSTMCell(dim, cfg.num_heads[i], depth, (h, w), cfg, [cfg.drop_path_rate] * depth))
        else:
            n = len(cfg.depths_down)
            dpr = torch.linspace(0, cfg.drop_path_rate, sum(cfg.depths_down)).tolist()
            for i, depth in enumerate(cfg.depths_down):
                start = sum(cfg.depths_down[:i])
                self.down.append(SwinLSTMCell(dim * 2 ** i, cfg.num_heads[i], depth, (h >> i, w >> i), cfg,
                                              dpr[start:start + depth]))
                self.merges.append(PatchMerging(dim * 2 ** i))
            dpr = torch.linspace(0, cfg.drop_path_rate, sum(cfg.depths_up)).tolist()
            for i in range(n):
                j = n - 1 - i  # the authors' reversed index for depth, heads and DropPath slice
                depth, start = cfg.depths_up[j], sum(cfg.depths_up[:j])
                self.up.append(SwinLSTMCell(dim * 2 ** (n - i), cfg.num_heads[j], depth, (h >> (n - i), w >> (n - i)),
                                            cfg, dpr[start:start + depth][::-1]))
                self.expands.append(PatchExpanding(dim * 2 ** (n - i)))
            if cfg.keep_unused_projections:  # the authors' UpSample builds a PatchEmbed it never calls
                self.unused_patch_embed = PatchEmbed(c, dim, cfg.patch_size)
        self.head = PatchInflated(dim, c, cfg.patch_size)
        if cfg.residual:  # start near persistence: random increments compound over the closed loop (loss ~20 at
            with torch.no_grad():  # step 0 otherwise); small, not zero, so every parameter gets a gradient at once
                self.head.conv.weight.mul_(1e-2)
                self.head.conv.bias.zero_()
        # scheduled-sampling clock: training_loss calls so far (saved with the weights, so resume continues it)
        self.register_buffer("sampling_step", torch.zeros((), dtype=torch.long))

    def step(self, frame: torch.Tensor, states: list | None, decode: bool = True
             ) -> tuple[torch.Tensor | None, list]:
        """One recurrent step: frame (B, C, H, W) and per-cell states -> next frame (or None) and new states."""
        states = states or [None] * (len(self.down) + len(self.up))
        x = self.patch_embed(frame)
        new = []
        for i, cell in enumerate(self.down):
            x, s = cell(x, states[i])
            new.append(s)
            if self.merges:
                x = self.merges[i](x)
        for i, cell in enumerate(self.up):
            x, s = cell(x, states[len(self.down) + i])
            new.append(s)
            x = self.expands[i](x)
        if not decode:
            return None, new
        out = self.head(x)
        out = torch.sigmoid(out) if self.config.output_activation == "sigmoid" else out
        return (out + frame if self.config.residual else out), new

    def unroll(self, x: torch.Tensor, y: torch.Tensor | None = None, p_true: float = 0.0,
               keep_warmup: bool = True) -> torch.Tensor:
        """Warm up on x[:, :-1], then T_out closed-loop steps from x[:, -1]; with y and p_true > 0 each
        fed-back frame is replaced by the true one per sample with probability p_true (scheduled sampling).
        Returns (B, T_in - 1 + T_out, C, H, W) if keep_warmup else (B, T_out, C, H, W)."""
        t_in, t_out = x.shape[1], self.config.t_out
        states, outs = None, []
        for t in range(t_in - 1):
            out, states = self.step(x[:, t], states, decode=keep_warmup)
            if keep_warmup:
                outs.append(out)
        inp = x[:, -1]
        for k in range(t_out):
            out, states = self.step(inp, states)
            outs.append(out)
            inp = out
            if y is not None and p_true > 0.0 and k < t_out - 1:
                use_true = torch.rand(x.shape[0], 1, 1, 1, device=x.device) < p_true
                inp = torch.where(use_true, y[:, k], out)
        return torch.stack(outs, dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        return self.unroll(x, keep_warmup=False)

    def teacher_forcing_probability(self) -> float:
        """Current probability of feeding the true frame (linear decay over training_loss calls)."""
        cfg = self.config
        if cfg.teacher_forcing_decay_steps <= 0:
            return cfg.teacher_forcing
        return cfg.teacher_forcing * max(0.0, 1.0 - int(self.sampling_step) / cfg.teacher_forcing_decay_steps)

    def training_loss(self, x: torch.Tensor, y: torch.Tensor, stage: str = "main") -> LossOutput:
        """MSE over the warm-up predictions of x[:, 1:] and the T_out predictions of y (as the authors)."""
        self.check_input(x)
        p_true = self.teacher_forcing_probability() if self.training else 0.0
        if self.training:
            self.sampling_step += 1
        keep = self.config.loss_on_warmup
        pred = self.unroll(x, y, p_true, keep_warmup=keep)
        target = torch.cat([x[:, 1:], y], dim=1) if keep else y
        loss = F.mse_loss(pred, target)
        mse_future = F.mse_loss(pred[:, -y.shape[1]:].detach(), y)
        return LossOutput(loss, {"mse": mse_future, "p_true": torch.tensor(p_true)})


def _validate(cfg: SwinLSTMConfig) -> None:
    """ConfigError for settings that cannot build a model."""
    check_shapes(cfg)
    if cfg.patch_size < 1 or cfg.window_size < 1 or cfg.embed_dim < 1:
        raise ConfigError("swinlstm: patch_size, window_size and embed_dim must be positive")
    depths = cfg.depths if cfg.variant == "B" else cfg.depths_down
    if not depths or min(depths) < 1:
        raise ConfigError(f"swinlstm-{cfg.variant}: depths must be a non-empty list of positive block counts")
    if cfg.variant == "D" and len(cfg.depths_up) != len(cfg.depths_down):
        raise ConfigError(f"swinlstm-D: depths_up {cfg.depths_up} and depths_down {cfg.depths_down} "
                          "need the same length")
    if len(cfg.num_heads) < len(depths):
        raise ConfigError(f"swinlstm-{cfg.variant}: num_heads {cfg.num_heads} needs one entry per stage "
                          f"({len(depths)})")
    n = len(depths)
    dims = [cfg.embed_dim * (2 ** i if cfg.variant == "D" else 1) for i in range(n)]
    for i in range(n):
        if dims[i] % cfg.num_heads[i]:
            raise ConfigError(f"swinlstm-{cfg.variant}: stage {i} width {dims[i]} is not divisible by "
                              f"{cfg.num_heads[i]} heads")
    if cfg.residual and cfg.output_activation == "sigmoid":
        raise ConfigError("swinlstm: residual increments cannot pass through the sigmoid output; "
                          "set output_activation: none with residual: true")
    if cfg.variant == "D" and cfg.embed_dim % 2:
        raise ConfigError("swinlstm-D: embed_dim must be even (patch expanding halves the width)")
    if not 0.0 <= cfg.teacher_forcing <= 1.0:
        raise ConfigError(f"swinlstm: teacher_forcing is a probability in [0, 1], got {cfg.teacher_forcing}")


_SRC = "authors' code SongTang-x/SwinLSTM ({f}), instantiated: {n:,} minus {dead:,} never-used parameters"
PRESETS = {
    # CPU-sized D for unit tests (stages 8x8, 4x4 and 2x2 tokens: the last two shrink the window).
    "tiny": {"in_shape": (3, 2, 16, 16), "t_out": 4, "variant": "D", "embed_dim": 16, "depths_down": (2, 2),
             "depths_up": (2, 2), "num_heads": (2, 2), "drop_path_rate": 0.0, "output_activation": "none"},
    # Authors' Moving MNIST configuration (configs.py), D as the paper's best; B as the light model.
    "mmnist": {"in_shape": (10, 1, 64, 64), "t_out": 10, "variant": "D"},
    "mmnist_b": {"in_shape": (10, 1, 64, 64), "t_out": 10, "variant": "B"},
    # [inferred] TaxiBJ: B (a D pyramid reaches 4x4 tokens, where shifting is off); data in [-1, 1]: no sigmoid.
    "taxibj": {"in_shape": (4, 2, 32, 32), "t_out": 4, "variant": "B", "output_activation": "none"},
    # [inferred] WeatherBench 5.625 deg: D, stages 16x32, 8x16, 4x8; z-scored data: no sigmoid.
    "weatherbench": {"in_shape": (12, 1, 32, 64), "t_out": 12, "variant": "D", "output_activation": "none"},
    # [inferred] KTH 128x128: D at patch 2 (64x64 tokens), the authors' head needs patch 2.
    "kth": {"in_shape": (10, 1, 128, 128), "t_out": 20, "variant": "D"},
}


@register_model(
    "swinlstm", SwinLSTMConfig, presets=PRESETS,
    published_params={"mmnist": 18_845_409, "mmnist_b": 2_581_041, "taxibj": 2_582_706,
                      "weatherbench": 18_845_409, "kth": 18_845_409},
    published_source={
        "mmnist": _SRC.format(f="SwinLSTM_D.py", n=20_191_969, dead=1_346_560),
        "mmnist_b": _SRC.format(f="SwinLSTM_B.py", n=2_778_417, dead=197_376),
        "taxibj": _SRC.format(f="SwinLSTM_B.py, 2 channels", n=2_780_082, dead=197_376),
        "weatherbench": _SRC.format(f="SwinLSTM_D.py; size does not depend on the grid", n=20_191_969, dead=1_346_560),
        "kth": _SRC.format(f="SwinLSTM_D.py; size does not depend on the grid", n=20_191_969, dead=1_346_560),
    },
)
def swinlstm(cfg: SwinLSTMConfig) -> SwinLSTM:
    """Build SwinLSTM-B or -D from its config."""
    return SwinLSTM(cfg)
