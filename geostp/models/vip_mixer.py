"""ViP-Mixer (SIAM, arXiv 2311.11683): per-frame encoder, alternating Space-Channel / Space-Time /
Time-Channel mixers in latent space, per-frame decoder.

No public code exists. The sources give only: a latent encoder-translator-decoder with 2D convolutional
encoder and decoder; ViP-Mixer blocks stacked sequentially, each of a Space-Channel (SC) mixer built from
a depth-wise conv, a depth-wise dilated conv and a point-wise conv, a Space-Time (ST) mixer of 3D
depth-wise convolutions, and a Time-Channel (TC) mixer of shared MLP layers; autoregressive prediction
for longer horizons. Every other choice is ours, written down here with its reason:

Layout. The latent z is kept as (B, T, C', h, w); each mixer sees one of the paper's three views of a
video: SC = individual frames (B·T, C', h, w), ST = a 3D volume (B, C', T, h, w), TC = a stacked image
(B, T·C', h, w) [v1 abstract: frames / volume / stacked channels]. Each mixer mixes exactly the two axes
in its name and nothing else, so the order SC -> ST -> TC inside a block, repeated n_t times, is what
makes the block a space-time-channel mixer. (The "SC -> ST -> TC -> ST -> SC" path in the seed summary is
a summariser's guess that neither abstract supports.)

Encoder / decoder: OpenSTL's SimVP ones (the paper compares with and builds on the TAU/SimVP family):
n_s × [3×3 conv -> GroupNorm(2) -> SiLU], layer i downsampling by 2 iff i is odd; the decoder mirrors it
with conv -> PixelShuffle(2) up-sampling, adds the first encoder layer's output before its last layer and
reads out with a 1×1 conv. Convs trunc-normal(0.02), read-out PyTorch default, as OpenSTL.

SC mixer (per frame; never mixes time), a TAU/VAN-style large-kernel block:
    u = BN(z);  a = PW1×1(DW_dil(DW(u)));  z += γ1·(u ⊙ a)     DW 5×5, DW_dil 7×7 dilation 3: an
    z += γ2·MLP(BN(z)),  MLP = 1×1 C'->mlp_ratio·C' -> GELU -> 1×1   effective 21×21 field (TAU's recipe)
  The u ⊙ a gating is LKA's (VAN); the channel MLP gives the point-wise part a MetaFormer shape.
ST mixer (per channel; never mixes channels):
    z += γ3·DW3d_b(GELU(DW3d_a(BN3d(z))))    both 3×3×3 depth-wise (groups = C'), zero-padded in time
  The reference sketch ends in a 1×1×1 point-wise conv; that would mix channels, which is the SC and TC
  mixers' job, so a second depth-wise 3D conv takes its place ("3D depth-wise convolutions", plural).
  Non-causal in time: all T_in frames are known.
TC mixer (per location; never mixes locations):
    z += γ4·MLP_tc(LN(z)),  MLP_tc = Linear T·C' -> tc_ratio·T·C' -> GELU -> Linear, one weight set
  shared by every location (the paper's "shared MLP layers"). LayerNorm over the T·C' features of each
  location (MLP-Mixer's per-token norm) rather than GroupNorm(1), whose statistics would span space.
  It dominates the size, ≈ 2·tc_ratio·(T·C')² per block, and ties the model to T_in.
γ: per-channel layer scales initialised to layer_scale = 1e-2 (TAU / gSTA); translator convs
N(0, √(2/fan_out)), Linear trunc-normal(0.02), as TAU. Stochastic depth linspace(0, drop_path, n_t) per
block (timm's rule; OpenSTL's extra 0.01 floor is not copied).
periodic_w: on global lat/lon grids every spatial conv pads W (longitude) circularly and H with zeros;
a 7×7 dilation-3 kernel spans the whole 16×32 WeatherBench latent and zero padding would cut the globe
at the date line.
T_out ≠ T_in: the network emits T_in frames per pass; longer horizons feed the output back (OpenSTL's
SimVP recursion, the paper's "autoregressive manner"), shorter ones keep the first T_out; trained end to
end through the chain.
Grids: H and W are padded inside (replicate, bottom/right) to a multiple of 2**(n_s // 2) and cropped
back; with periodic_w a W that is not a multiple is refused (padding would break periodicity).
Loss: MSE (the base class default; the paper's loss is not in the sources).

Presets start from OpenSTL's TAU configs per dataset (hid_s, n_s, n_t, drop_path) since the paper's
sizes are not retrievable; their parameter counts are estimates, not published.
Training recipes to pair with them (TAU configs): mmnist Adam lr 1e-3 OneCycle bs 16; taxibj lr 5e-4
cosine 5 warm-up epochs; weatherbench lr 5e-3; kth lr 1e-3.

CPU sizes. `small` trains on a laptop CPU on WeatherBench-shaped data (12 -> 12 frames, 32×64, periodic
in W): hid_s 16, n_s 4 (8×16 latent), n_t 2, mlp_ratio 2, tc_ratio 2, 0.34 M parameters; forward +
backward + Adam at batch 16 runs at ≈ 20 samples/s on one core (CPU time; n_s 2 instead: ≈ 13/s; add
hid_s=8 for ≈ 40/s). Other variables/shapes: override in_shape / t_out, e.g.
create("vip_mixer", "small", in_shape=(12, 2, 32, 64)). `tiny` (3 -> 4 frames, 2 channels, 16×16,
12 k parameters) is the unit-test size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from geostp.errors import ConfigError, ShapeError
from geostp.models.base import BaseConfig, Forecaster, check_shapes
from geostp.models.layers.common import DropPath, crop_to, pad_to_multiple
from geostp.models.layers.periodic import WrapWConv3d, conv2d
from geostp.models.layers.simvp_blocks import ConvSC, SpatialDecoder, SpatialEncoder
from geostp.models.registry import register_model


@dataclass
class ViPMixerConfig(BaseConfig):
    """ViP-Mixer hyper-parameters (every value beyond the mixer types is a documented choice; see module)."""

    hid_s: int = 64  # latent channels C' per frame
    n_s: int = 4  # encoder (and decoder) layers; the grid shrinks by 2**(n_s // 2)
    n_t: int = 8  # ViP-Mixer blocks (SC -> ST -> TC each)
    mlp_ratio: float = 4.0  # hidden width of the SC mixer's channel MLP, in units of C'
    tc_ratio: float = 4.0  # hidden width of the TC mixer's MLP, in units of T_in·C'
    dw_kernel: int = 5  # SC mixer depth-wise kernel
    dil_kernel: int = 7  # SC mixer dilated depth-wise kernel
    dilation: int = 3  # dilation of dil_kernel
    st_kernel: int = 3  # ST mixer 3D depth-wise kernel (time and space)
    layer_scale: float = 1e-2  # initial value of the per-channel residual scales γ
    drop_path: float = 0.0  # stochastic depth of the last block (linear from 0 over the blocks)
    periodic_w: bool = False  # circular padding along W (longitude) in every spatial convolution
    residual: bool = False  # each pass predicts the change from its last input frame (not in the paper; off in
    # the paper-sized presets). Geostp's choice for short CPU trainings on smooth fields, where the 6 h change
    # is a few % of the field's spread: learning the increment beats persistence in hundreds of steps.

    def __post_init__(self) -> None:
        check_shapes(self)
        for name in ("hid_s", "n_s", "n_t", "dw_kernel", "dil_kernel", "dilation", "st_kernel"):
            if getattr(self, name) < 1:
                raise ConfigError(f"vip_mixer: {name} must be >= 1, got {getattr(self, name)}")
        for name in ("dw_kernel", "dil_kernel", "st_kernel"):
            if getattr(self, name) % 2 == 0:
                raise ConfigError(f"vip_mixer: {name} must be odd (size-preserving padding), got {getattr(self, name)}")
        if self.mlp_ratio <= 0 or self.tc_ratio <= 0:
            raise ConfigError(f"vip_mixer: mlp_ratio and tc_ratio must be > 0, got {self.mlp_ratio}, {self.tc_ratio}")
        if not 0.0 <= self.drop_path < 1.0:
            raise ConfigError(f"vip_mixer: drop_path must be in [0, 1), got {self.drop_path}")
        if self.hid_s % 2:
            raise ConfigError(f"vip_mixer: hid_s must be even (GroupNorm with 2 groups), got {self.hid_s}")

    @property
    def multiple(self) -> int:
        """Grid multiple the encoder needs (H, W are padded to it inside)."""
        return 2 ** (self.n_s // 2)


class SpaceChannelMixer(nn.Module):
    """Mixes space and channels within each frame: gated large-kernel depth-wise attention + channel MLP."""

    def __init__(self, cfg: ViPMixerConfig) -> None:
        super().__init__()
        c, pw = cfg.hid_s, cfg.periodic_w
        self.norm1 = nn.BatchNorm2d(c)
        self.dw = conv2d(c, c, cfg.dw_kernel, pw, groups=c)
        self.dw_dil = conv2d(c, c, cfg.dil_kernel, pw, dilation=cfg.dilation, groups=c)
        self.pw = nn.Conv2d(c, c, 1)
        self.norm2 = nn.BatchNorm2d(c)
        hidden = max(1, round(cfg.mlp_ratio * c))
        self.mlp = nn.Sequential(nn.Conv2d(c, hidden, 1), nn.GELU(), nn.Conv2d(hidden, c, 1))
        self.gamma1 = nn.Parameter(torch.full((c, 1, 1), cfg.layer_scale))
        self.gamma2 = nn.Parameter(torch.full((c, 1, 1), cfg.layer_scale))

    def forward(self, z: torch.Tensor, drop: nn.Module) -> torch.Tensor:
        """z: (B, T, h, w, C') -> same; the convs see (B·T, C', h, w) frames as channels-last views."""
        b, t, h, w, c = z.shape
        frames = z.reshape(b * t, h, w, c).permute(0, 3, 1, 2)
        u = self.norm1(frames)
        a = self.pw(self.dw_dil(self.dw(u)))
        z = z + drop(_to_tokens(self.gamma1 * (u * a), b, t))
        m = self.mlp(self.norm2(z.reshape(b * t, h, w, c).permute(0, 3, 1, 2)))
        return z + drop(_to_tokens(self.gamma2 * m, b, t))


def _to_tokens(frames: torch.Tensor, b: int, t: int) -> torch.Tensor:
    """(B·T, C', h, w) -> (B, T, h, w, C') (free when `frames` is channels-last)."""
    return frames.permute(0, 2, 3, 1).reshape(b, t, *frames.shape[2:], frames.shape[1])


class SpaceTimeMixer(nn.Module):
    """Mixes space and time within each channel: two 3D depth-wise convolutions over (T, h, w)."""

    def __init__(self, cfg: ViPMixerConfig) -> None:
        super().__init__()
        c, k = cfg.hid_s, cfg.st_kernel
        self.norm = nn.BatchNorm3d(c)
        conv = WrapWConv3d if cfg.periodic_w else nn.Conv3d
        pad = (k // 2,) * 3
        self.dw_a = conv(c, c, k, groups=c, padding=pad)
        self.dw_b = conv(c, c, k, groups=c, padding=pad)
        self.act = nn.GELU()
        self.gamma = nn.Parameter(torch.full((c, 1, 1, 1), cfg.layer_scale))

    def forward(self, z: torch.Tensor, drop: nn.Module) -> torch.Tensor:
        """z: (B, T, h, w, C') -> same; the convs see a (B, C', T, h, w) channels-last-3d view."""
        v = z.permute(0, 4, 1, 2, 3)
        s = self.gamma * self.dw_b(self.act(self.dw_a(self.norm(v))))
        return z + drop(s.permute(0, 2, 3, 4, 1))


class TimeChannelMixer(nn.Module):
    """Mixes time and channels at each location: one MLP over the T·C' features, shared by all locations."""

    def __init__(self, cfg: ViPMixerConfig) -> None:
        super().__init__()
        d = cfg.in_shape[0] * cfg.hid_s
        hidden = max(1, round(cfg.tc_ratio * d))
        self.norm = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, hidden), nn.GELU(), nn.Linear(hidden, d))
        self.gamma = nn.Parameter(torch.full((d,), cfg.layer_scale))

    def forward(self, z: torch.Tensor, drop: nn.Module) -> torch.Tensor:
        """z: (B, T, h, w, C') -> same; the MLP sees one token of T·C' features per location."""
        b, t, h, w, c = z.shape
        tok = z.permute(0, 2, 3, 1, 4).reshape(b, h, w, t * c)
        m = self.gamma * self.mlp(self.norm(tok))
        return z + drop(m.reshape(b, h, w, t, c).permute(0, 3, 1, 2, 4))


class ViPBlock(nn.Module):
    """One ViP-Mixer block: Space-Channel, then Space-Time, then Time-Channel mixing (the paper's order).

    Works on the latent in token layout (B, T, h, w, C'): the SC and ST views of it are then free
    channels-last views (depth-wise convs run ~2× faster channels-last on CPU) and only TC copies.
    """

    def __init__(self, cfg: ViPMixerConfig, drop_path: float) -> None:
        super().__init__()
        self.sc = SpaceChannelMixer(cfg)
        self.st = SpaceTimeMixer(cfg)
        self.tc = TimeChannelMixer(cfg)
        self.drop = DropPath(drop_path)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.tc(self.st(self.sc(z, self.drop), self.drop), self.drop)


def _init_translator(m: nn.Module) -> None:
    """TAU's init: conv weights N(0, √(2/fan_out)), Linear trunc-normal(0.02), biases 0."""
    if getattr(m, "weight", None) is not None and m.weight.is_meta:  # meta (param counts): no values to set
        return
    if isinstance(m, (nn.Conv2d, nn.Conv3d)):
        fan_out = math.prod(m.kernel_size) * m.out_channels // m.groups
        nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan_out))
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.Linear):
        nn.init.trunc_normal_(m.weight, std=0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)


def _init_enc_dec(m: nn.Module) -> None:
    """OpenSTL's encoder/decoder init: ConvSC convs trunc-normal(0.02), biases 0 (the read-out keeps the default)."""
    if isinstance(m, ConvSC) and not m.conv2d.weight.is_meta:
        nn.init.trunc_normal_(m.conv2d.weight, std=0.02)
        nn.init.zeros_(m.conv2d.bias)


def _rename_old_keys(module: nn.Module, state_dict: dict, prefix: str, *_: object) -> None:
    """Weights saved before the encoder/decoder were shared with SimVP: an up-sampling layer's conv was
    `decoder.layers.i.conv`, it is now `decoder.layers.i.conv.0` (inside the PixelShuffle Sequential)."""
    for i, layer in enumerate(module.decoder.layers):
        if isinstance(layer.conv, nn.Sequential):
            for p in ("weight", "bias"):
                old = f"{prefix}decoder.layers.{i}.conv.{p}"
                if old in state_dict:
                    state_dict[f"{prefix}decoder.layers.{i}.conv.0.{p}"] = state_dict.pop(old)


class ViPMixer(Forecaster):
    """ViP-Mixer forecaster: (B, T_in, C, H, W) -> (B, T_out, C, H, W); T_in frames per pass, chained."""

    def __init__(self, cfg: ViPMixerConfig) -> None:
        super().__init__()
        self.config = cfg
        _, c, _, w = cfg.in_shape
        if cfg.periodic_w and w % cfg.multiple:
            raise ShapeError(
                f"vip_mixer with periodic_w needs W divisible by 2**(n_s//2) = {cfg.multiple} (padding would break "
                f"the periodicity), got W = {w}; use a grid with W a multiple of {cfg.multiple} or a smaller n_s"
            )
        self.encoder = SpatialEncoder(c, cfg.hid_s, cfg.n_s, 3, cfg.periodic_w, init=False)  # SimVP's, shared
        rates = [cfg.drop_path * i / max(1, cfg.n_t - 1) for i in range(cfg.n_t)]  # no tensor reads: meta-safe
        self.blocks = nn.ModuleList(ViPBlock(cfg, r) for r in rates)
        self.decoder = SpatialDecoder(cfg.hid_s, c, cfg.n_s, 3, cfg.periodic_w, init=False)
        self.encoder.apply(_init_enc_dec)
        self.decoder.apply(_init_enc_dec)
        self.blocks.apply(_init_translator)
        self.register_load_state_dict_pre_hook(_rename_old_keys)

    def step(self, x: torch.Tensor) -> torch.Tensor:
        """One pass: T_in frames in, the next T_in frames out (no shape check)."""
        b, t, c, h, w = x.shape
        frames, size = pad_to_multiple(x.reshape(b * t, c, h, w), self.config.multiple)
        z, skip = self.encoder(frames)
        z = _to_tokens(z, b, t).contiguous()  # token layout (B, T, h, w, C') for the blocks
        for block in self.blocks:
            z = block(z)
        z = z.reshape(b * t, *z.shape[2:]).permute(0, 3, 1, 2).contiguous()
        y = crop_to(self.decoder(z, skip), size).reshape(b, t, c, h, w)
        return y + x[:, -1:] if self.config.residual else y

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        t_in, t_out = x.shape[1], self.config.t_out
        outs, made, context = [], 0, x
        while made < t_out:
            context = self.step(context)
            outs.append(context)
            made += t_in
        y = outs[0] if len(outs) == 1 else torch.cat(outs, dim=1)
        return y[:, :t_out]


# Presets: OpenSTL's TAU configs per dataset; sizes are estimates, not published.
PRESETS = {
    "mmnist": {"in_shape": (10, 1, 64, 64), "t_out": 10, "hid_s": 64, "n_s": 4, "n_t": 8},
    "taxibj": {"in_shape": (4, 2, 32, 32), "t_out": 4, "hid_s": 32, "n_s": 2, "n_t": 8, "drop_path": 0.1},
    "weatherbench": {"in_shape": (12, 1, 32, 64), "t_out": 12, "hid_s": 32, "n_s": 2, "n_t": 8, "drop_path": 0.1,
                     "periodic_w": True},
    "kth": {"in_shape": (10, 1, 128, 128), "t_out": 20, "hid_s": 64, "n_s": 2, "n_t": 6, "drop_path": 0.1},
    # CPU sizes: `small` for WeatherBench-shaped training on a laptop, `tiny` for the unit tests
    "small": {"in_shape": (12, 1, 32, 64), "t_out": 12, "hid_s": 16, "n_s": 4, "n_t": 2, "mlp_ratio": 2.0,
              "tc_ratio": 2.0, "periodic_w": True, "residual": True},
    "tiny": {"in_shape": (3, 2, 16, 16), "t_out": 4, "hid_s": 8, "n_s": 2, "n_t": 2, "mlp_ratio": 2.0,
             "tc_ratio": 2.0},
}
_EST = ("ESTIMATE, not a published count (no ViP-Mixer size is retrievable): counted from a sketch of the "
        "paper's mixer design with tc_ratio 4 and OpenSTL's TAU sizes")
PUBLISHED_PARAMS = {"mmnist": 27.1e6, "taxibj": 1.24e6, "weatherbench": 9.6e6, "kth": 20.2e6}
PUBLISHED_SOURCE = {k: _EST for k in PUBLISHED_PARAMS}
PUBLISHED_SOURCE["taxibj"] = _EST + "; its parts (TC 1.06 + SC 0.10 + ST 0.02 + enc/dec 0.06 M; total printed as 1.2 M)"


@register_model("vip_mixer", ViPMixerConfig, presets=PRESETS, published_params=PUBLISHED_PARAMS,
                published_source=PUBLISHED_SOURCE)
def vip_mixer(cfg: ViPMixerConfig) -> ViPMixer:
    """Build ViP-Mixer from its config."""
    return ViPMixer(cfg)
