"""SimVP (IncepU translator, `simvp`) and SimVPv2 (gSTA translator, `simvpv2`) as in OpenSTL.

SimVP: Gao et al., CVPR 2022; SimVPv2: Tan et al., arXiv 2211.12509. The encoder/decoder and the
translators follow OpenSTL's `SimVP_Model` (ConvSC with GroupNorm(2)+SiLU, PixelShuffle upsampling, skip
*added* before the last decoder layer), not the older A4Bio/SimVP repository.

Data flow: frames are folded into the batch for the spatial encoder, the T·hid_S latent channels of a
sample go through the translator together, and the decoder unfolds them again. The network always emits
T_in frames; for T_out > T_in it is applied recursively to its own output (d = T_out // T_in full passes
plus one pass of which the first T_out % T_in frames are kept, back-propagated end to end, as OpenSTL's
`methods/simvp.py` and SimVPv2 §V-C); for T_out < T_in the first T_out frames of one pass are kept.
Grids that are not multiples of 2^(N_S/2) are padded (replicate, bottom/right) and cropped back inside.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from geostp.errors import ConfigError
from geostp.models.base import BaseConfig, Forecaster, check_shapes
from geostp.models.layers.common import crop_to, pad_to_multiple
from geostp.models.layers.simvp_blocks import GSTATranslator, IncepUTranslator, SpatialDecoder, SpatialEncoder
from geostp.models.registry import register_model


@dataclass
class SimVPConfig(BaseConfig):
    """SimVP hyper-parameters (OpenSTL names, lower-cased): spatial width hid_s and depth n_s (even),
    translator width hid_t and depth n_t (>= 2); mlp_ratio/drop/drop_path are used by gSTA only."""

    hid_s: int = 16
    hid_t: int = 256
    n_s: int = 4
    n_t: int = 4
    mlp_ratio: float = 8.0
    drop: float = 0.0
    drop_path: float = 0.0
    spatio_kernel_enc: int = 3
    spatio_kernel_dec: int = 3
    residual: bool = False  # each pass predicts the change from its own last input frame (geostp's option, not in
    # the papers): with T_out > T_in the chain feeds states, not increments, to the next pass (the generic
    # Residual wrapper adds the last input frame only once, after the chain, so passes 2.. would see increments)

    def __post_init__(self) -> None:
        check_shapes(self)
        problems = []
        if self.n_s < 2 or self.n_s % 2:
            problems.append(f"n_s must be even and >= 2 (every second encoder layer halves the grid), got {self.n_s}")
        if self.n_t < 2:
            problems.append(f"n_t must be >= 2, got {self.n_t}")
        if self.hid_s < 2 or self.hid_s % 2:
            problems.append(f"hid_s must be even (GroupNorm with 2 groups), got {self.hid_s}")
        if self.hid_t < 2 or self.hid_t % 2:
            problems.append(f"hid_t must be even, got {self.hid_t}")
        for name in ("spatio_kernel_enc", "spatio_kernel_dec"):
            if getattr(self, name) % 2 == 0:
                problems.append(f"{name} must be odd, got {getattr(self, name)}")
        if not 0.0 <= self.drop_path < 1.0 or not 0.0 <= self.drop < 1.0:
            problems.append("drop and drop_path must lie in [0, 1)")
        if problems:
            raise ConfigError("SimVP config: " + "; ".join(problems))


class SimVP(Forecaster):
    """Encoder (ConvSC stack) → translator (IncepU or gSTA) → decoder; maps (B, T_in, C, H, W) to (B, T_out, C, H, W)."""

    def __init__(self, cfg: SimVPConfig, translator: str) -> None:
        super().__init__()
        self.config = cfg
        t, c, _, _ = cfg.in_shape
        self.multiple = 2 ** (cfg.n_s // 2)
        self.enc = SpatialEncoder(c, cfg.hid_s, cfg.n_s, cfg.spatio_kernel_enc)
        self.dec = SpatialDecoder(cfg.hid_s, c, cfg.n_s, cfg.spatio_kernel_dec)
        if cfg.residual:  # start near persistence: random increments would compound along the chain of passes;
            with torch.no_grad():  # small, not zero, so every parameter gets a gradient at once
                self.dec.readout.weight.mul_(1e-2)
                self.dec.readout.bias.zero_()
        if translator == "incepu":
            self.hid: nn.Module = IncepUTranslator(t * cfg.hid_s, cfg.hid_t, cfg.n_t)
        else:
            self.hid = GSTATranslator(t * cfg.hid_s, cfg.hid_t, cfg.n_t, cfg.mlp_ratio, cfg.drop, cfg.drop_path)

    def step(self, x: torch.Tensor) -> torch.Tensor:
        """One pass: (B, T_in, C, H, W) → (B, T_in, C, H, W); H, W must be multiples of 2^(N_S/2)."""
        b, t, c, h, w = x.shape
        z, skip = self.enc(x.reshape(b * t, c, h, w))
        _, hs, h2, w2 = z.shape
        z = self.hid(z.reshape(b, t * hs, h2, w2)).reshape(b * t, hs, h2, w2)
        y = self.dec(z, skip).reshape(b, t, c, h, w)
        return y + x[:, -1:] if self.config.residual else y

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        t_out = self.config.t_out
        x, size = pad_to_multiple(x, self.multiple)
        outs: list[torch.Tensor] = []
        made = 0
        while made < t_out:
            x = self.step(x)  # each pass consumes the previous pass's full output
            outs.append(x[:, : t_out - made])
            made += outs[-1].shape[1]
        y = outs[0] if len(outs) == 1 else torch.cat(outs, dim=1)
        return crop_to(y, size)


_SHAPES = {
    "mmnist": {"in_shape": (10, 1, 64, 64), "t_out": 10},
    "taxibj": {"in_shape": (4, 2, 32, 32), "t_out": 4},
    "weatherbench": {"in_shape": (12, 1, 32, 64), "t_out": 12},
    "kth": {"in_shape": (10, 1, 128, 128), "t_out": 20},
}
# Small enough for CPU unit tests; T_out > T_in exercises the recursion.
_TINY = {"in_shape": (3, 2, 16, 16), "t_out": 5, "hid_s": 8, "hid_t": 32, "n_s": 2, "n_t": 2}
_ZOO = "OpenSTL model zoo (docs/en/model_zoos), config "

SIMVP_PRESETS = {
    "mmnist": {**_SHAPES["mmnist"], "hid_s": 64, "hid_t": 512, "n_s": 4, "n_t": 8},
    "taxibj": {**_SHAPES["taxibj"], "hid_s": 32, "hid_t": 256, "n_s": 2, "n_t": 8},
    "weatherbench": {**_SHAPES["weatherbench"], "hid_s": 32, "hid_t": 256, "n_s": 2, "n_t": 8},
    # The KTH config file says N_T 4 (8.6 M); the zoo's 12.2 M / 62.8 GFLOPs row is N_T 6, which we follow.
    "kth": {**_SHAPES["kth"], "hid_s": 64, "hid_t": 256, "n_s": 2, "n_t": 6},
    "tiny": _TINY,
}
SIMVPV2_PRESETS = {
    "mmnist": {**_SHAPES["mmnist"], "hid_s": 64, "hid_t": 512, "n_s": 4, "n_t": 8, "drop_path": 0.0},
    "taxibj": {**_SHAPES["taxibj"], "hid_s": 32, "hid_t": 256, "n_s": 2, "n_t": 8, "drop_path": 0.1},
    "weatherbench": {**_SHAPES["weatherbench"], "hid_s": 32, "hid_t": 256, "n_s": 2, "n_t": 8, "drop_path": 0.1},
    "kth": {**_SHAPES["kth"], "hid_s": 64, "hid_t": 256, "n_s": 2, "n_t": 6, "drop_path": 0.2},
    "tiny": _TINY,
}


@register_model(
    "simvp", SimVPConfig, presets=SIMVP_PRESETS,
    published_params={"mmnist": 58.0e6, "taxibj": 13.79e6, "weatherbench": 14.67e6, "kth": 12.2e6},
    published_source={
        "mmnist": _ZOO + "mmnist/simvp/SimVP_IncepU.py (58.0M, 19.4 GFLOPs)",
        "taxibj": _ZOO + "taxibj/simvp/SimVP_IncepU.py (13.79M, 3.61 GFLOPs)",
        "weatherbench": _ZOO + "weather/t2m_5_625/SimVP_IncepU.py (14.67M, 8.03 GFLOPs)",
        "kth": _ZOO + "kth/simvp/SimVP_IncepU.py with N_T 6 as the zoo row (12.2M, 62.8 GFLOPs per pass)",
    },
)
def simvp(cfg: SimVPConfig) -> SimVP:
    """SimVP with the Inception-UNet (IncepU) translator."""
    return SimVP(cfg, "incepu")


@register_model(
    "simvpv2", SimVPConfig, presets=SIMVPV2_PRESETS,
    published_params={"mmnist": 46.8e6, "taxibj": 9.96e6, "weatherbench": 12.76e6, "kth": 15.6e6},
    published_source={
        "mmnist": _ZOO + "mmnist/simvp/SimVP_gSTA.py; SimVPv2 paper Tab. II (46.8M, 16.5 GFLOPs)",
        "taxibj": _ZOO + "taxibj/simvp/SimVP_gSTA.py (9.96M, 2.62 GFLOPs)",
        "weatherbench": _ZOO + "weather/t2m_5_625/SimVP_gSTA.py (12.76M, 7.01 GFLOPs)",
        "kth": _ZOO + "kth/simvp/SimVP_gSTA.py (15.6M, 76.8 GFLOPs per pass)",
    },
)
def simvpv2(cfg: SimVPConfig) -> SimVP:
    """SimVPv2: SimVP with the gated spatio-temporal attention (gSTA) translator."""
    return SimVP(cfg, "gsta")
