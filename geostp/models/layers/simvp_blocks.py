"""Blocks of the SimVP family (OpenSTL `simvp_modules.py`): ConvSC encoder/decoder layers, the IncepU
Inception module and the gSTA (gated spatio-temporal attention) MetaFormer block.

Written from the SimVP/SimVPv2 papers and OpenSTL's reference code (facts in
`docs/models.md`); layer order, norms, activations and initialisations follow the reference exactly.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from geostp.models.layers.common import DropPath
from geostp.models.layers.periodic import conv2d


def _init_fan_out_normal(m: nn.Module) -> None:
    """gSTA init: conv weights N(0, sqrt(2 / fan_out)), fan_out = k*k*out/groups, biases 0."""
    if isinstance(m, nn.Conv2d):
        fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels // m.groups
        nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan_out))
        if m.bias is not None:
            nn.init.zeros_(m.bias)


class ConvSC(nn.Module):
    """k×k conv (stride 1 or 2, or stride 1 + PixelShuffle(2) to upsample) → GroupNorm(2) → SiLU.

    `periodic_w`: the conv pads W (longitude) circularly (geostp.models.layers.periodic). `init`: OpenSTL's
    trunc-normal(0.02) init here (False: the caller initialises, e.g. after building the whole model).
    """

    def __init__(self, c_in: int, c_out: int, kernel: int = 3, down: bool = False, up: bool = False,
                 periodic_w: bool = False, init: bool = True) -> None:
        super().__init__()
        stride = 2 if down else 1
        pad = (kernel - stride + 1) // 2
        if up:
            self.conv = nn.Sequential(conv2d(c_in, 4 * c_out, kernel, periodic_w, padding=pad), nn.PixelShuffle(2))
        else:
            self.conv = conv2d(c_in, c_out, kernel, periodic_w, stride=stride, padding=pad)
        self.norm = nn.GroupNorm(2, c_out)
        self.act = nn.SiLU()
        if init:
            nn.init.trunc_normal_(self.conv2d.weight, std=0.02)
            nn.init.zeros_(self.conv2d.bias)

    @property
    def conv2d(self) -> nn.Conv2d:
        """The convolution (inside the up-sampling Sequential when there is one)."""
        return self.conv[0] if isinstance(self.conv, nn.Sequential) else self.conv

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.norm(self.conv(x)))


def stride_pattern(n_s: int) -> list[bool]:
    """Encoder layer i downsamples iff i is odd: [False, True, False, True, ...][:n_s]."""
    return [i % 2 == 1 for i in range(n_s)]


class SpatialEncoder(nn.Module):
    """N_S ConvSC layers (C → hid_S, then hid_S → hid_S); returns the latent and the first layer's output (skip)."""

    def __init__(self, c_in: int, hid: int, n_s: int, kernel: int, periodic_w: bool = False, init: bool = True) -> None:
        super().__init__()
        downs = stride_pattern(n_s)
        self.layers = nn.ModuleList(
            ConvSC(c_in if i == 0 else hid, hid, kernel, down=d, periodic_w=periodic_w, init=init)
            for i, d in enumerate(downs)
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        skip = z = self.layers[0](x)
        for layer in self.layers[1:]:
            z = layer(z)
        return z, skip


class SpatialDecoder(nn.Module):
    """Reversed stride pattern of ConvSC upsampling layers; the skip is *added* before the last (stride-1)
    layer, then a 1×1 read-out to C channels (PyTorch default init, no output activation)."""

    def __init__(self, hid: int, c_out: int, n_s: int, kernel: int, periodic_w: bool = False, init: bool = True) -> None:
        super().__init__()
        ups = stride_pattern(n_s)[::-1]
        self.layers = nn.ModuleList(ConvSC(hid, hid, kernel, up=u, periodic_w=periodic_w, init=init) for u in ups)
        self.readout = nn.Conv2d(hid, c_out, 1)

    def forward(self, z: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        for layer in self.layers[:-1]:
            z = layer(z)
        return self.readout(self.layers[-1](z + skip))


# ----------------------------------------------------------------------------------------------- IncepU


class GroupConvNormAct(nn.Module):
    """Grouped k×k conv → GroupNorm(groups) → LeakyReLU(0.2); groups fall back to 1 if c_in % groups != 0."""

    def __init__(self, c_in: int, c_out: int, kernel: int, groups: int) -> None:
        super().__init__()
        if c_in % groups:
            groups = 1
        self.conv = nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, groups=groups)
        self.norm = nn.GroupNorm(groups, c_out)
        self.act = nn.LeakyReLU(0.2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.norm(self.conv(x)))


class Inception(nn.Module):
    """SimVP's Inception module: 1×1 conv to hid channels, four grouped branches (3, 5, 7, 11) summed."""

    def __init__(self, c_in: int, hid: int, c_out: int, kernels: tuple[int, ...] = (3, 5, 7, 11),
                 groups: int = 8) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, hid, 1)
        self.branches = nn.ModuleList(GroupConvNormAct(hid, c_out, k, groups) for k in kernels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        y = self.branches[0](x)
        for branch in self.branches[1:]:
            y = y + branch(x)
        return y


class IncepUTranslator(nn.Module):
    """U-Net of Inception modules at one resolution: N_T encoder modules, N_T decoder modules with
    concatenated skips (SimVP v1 translator, OpenSTL `MidIncepNet`)."""

    def __init__(self, c_in: int, hid: int, n_t: int, groups: int = 8) -> None:
        super().__init__()
        half = hid // 2
        self.enc = nn.ModuleList(Inception(c_in if i == 0 else hid, half, hid, groups=groups) for i in range(n_t))
        self.dec = nn.ModuleList(
            Inception(hid if j == 0 else 2 * hid, half, c_in if j == n_t - 1 else hid, groups=groups)
            for j in range(n_t)
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        skips = []
        for i, layer in enumerate(self.enc):
            z = layer(z)
            if i < len(self.enc) - 1:
                skips.append(z)
        z = self.dec[0](z)
        for layer in self.dec[1:]:
            z = layer(torch.cat([z, skips.pop()], dim=1))
        return z


# ------------------------------------------------------------------------------------------------- gSTA


class GatedAttention(nn.Module):
    """gSTA's attention: 1×1 → GELU → [DW 5×5 → DW 7×7 dilation 3 → 1×1 to 2·dim, sigmoid(g)·f] → 1×1,
    plus the inner shortcut from the block-normed input (OpenSTL `SpatialAttention` + `AttentionModule`)."""

    def __init__(self, dim: int, kernel_size: int = 21, dilation: int = 3) -> None:
        super().__init__()
        dk = 2 * dilation - 1  # 5: local depth-wise conv
        ddk = kernel_size // dilation + ((kernel_size // dilation) % 2 - 1)  # 7 (made odd): dilated depth-wise
        self.proj_1 = nn.Conv2d(dim, dim, 1)
        self.act = nn.GELU()
        self.conv_dw = nn.Conv2d(dim, dim, dk, padding=(dk - 1) // 2, groups=dim)
        self.conv_dil = nn.Conv2d(dim, dim, ddk, padding=dilation * (ddk - 1) // 2, groups=dim, dilation=dilation)
        self.conv_fg = nn.Conv2d(dim, 2 * dim, 1)
        self.proj_2 = nn.Conv2d(dim, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u = self.act(self.proj_1(x))
        f, g = self.conv_fg(self.conv_dil(self.conv_dw(u))).chunk(2, dim=1)
        return x + self.proj_2(torch.sigmoid(g) * f)


class MixMlp(nn.Module):
    """Convolutional MLP: 1×1 to hidden → DW 3×3 → GELU → dropout → 1×1 back → dropout."""

    def __init__(self, dim: int, hidden: int, drop: float = 0.0) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(dim, hidden, 1)
        self.dwconv = nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Conv2d(hidden, dim, 1)
        self.drop = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.dwconv(self.fc1(x))))))


class GSTABlock(nn.Module):
    """Pre-norm MetaFormer block: x + DropPath(γ1·Attn(BN(x))); x + DropPath(γ2·MLP(BN(x))); γ init 0.01."""

    def __init__(self, dim: int, mlp_ratio: float = 8.0, drop: float = 0.0, drop_path: float = 0.0,
                 init_value: float = 1e-2) -> None:
        super().__init__()
        self.norm1 = nn.BatchNorm2d(dim)
        self.attn = GatedAttention(dim)
        self.norm2 = nn.BatchNorm2d(dim)
        self.mlp = MixMlp(dim, int(dim * mlp_ratio), drop)
        self.drop_path = DropPath(drop_path)
        self.layer_scale_1 = nn.Parameter(torch.full((dim,), init_value))
        self.layer_scale_2 = nn.Parameter(torch.full((dim,), init_value))
        self.apply(_init_fan_out_normal)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.layer_scale_1[:, None, None] * self.attn(self.norm1(x)))
        return x + self.drop_path(self.layer_scale_2[:, None, None] * self.mlp(self.norm2(x)))


class GSTATranslator(nn.Module):
    """N_T gSTA blocks (OpenSTL `MidMetaNet`): block 0 at C_in then 1×1 to hid, middle blocks at hid,
    last block at hid then 1×1 back to C_in; DropPath linspace(0.01, drop_path) with the last at drop_path."""

    def __init__(self, c_in: int, hid: int, n_t: int, mlp_ratio: float = 8.0, drop: float = 0.0,
                 drop_path: float = 0.0) -> None:
        super().__init__()
        # linspace(0.01, drop_path, n_t) in plain Python (works under torch.device("meta") too)
        rates = [1e-2 + (drop_path - 1e-2) * i / (n_t - 1) for i in range(n_t)]
        rates[-1] = drop_path
        dims = [c_in] + [hid] * (n_t - 1)
        outs = [hid] * (n_t - 1) + [c_in]
        self.blocks = nn.ModuleList()
        for dim, out, rate in zip(dims, outs, rates):
            block = GSTABlock(dim, mlp_ratio, drop, rate)
            # The 1×1 "reduction" keeps PyTorch's default init, as in the reference.
            self.blocks.append(block if dim == out else nn.Sequential(block, nn.Conv2d(dim, out, 1)))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            z = block(z)
        return z
