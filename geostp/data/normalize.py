"""The one normaliser: (x - offset) / scale per channel with a store's (or a run's) train statistics.

Used by store windows, generated sequences, forecast inputs and validation, so training and serving
normalise by the same arithmetic: a training window and a forecast input are bit for bit equal. The
offset is subtracted in two float32 parts (its float32 rounding and the remainder), so a large offset
(z500 ~ 5e4) loses nothing to rounding; all arithmetic is float32, channel axis -3.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np



@dataclass(frozen=True)
class Normalizer:
    """Per-channel offsets and scales (float32) with the offset's float32 rounding error kept apart."""

    variables: tuple[str, ...]
    offset: np.ndarray  # float32, (C,)
    offset_lo: np.ndarray  # float32, (C,): float64 offset - float32 offset
    scale: np.ndarray  # float32, (C,)

    @classmethod
    def from_stats(cls, stats: Mapping[str, Mapping[str, Any]], variables: Sequence[str]) -> Normalizer:
        """From `{var: {"norm_offset": ..., "norm_scale": ...}}` (a store's attrs or a run's stats.json)."""
        off64 = np.array([float(stats[v]["norm_offset"]) for v in variables], np.float64)
        off = off64.astype(np.float32)
        scale = np.array([float(stats[v]["norm_scale"]) for v in variables], np.float32)
        return cls(tuple(variables), off, (off64 - off).astype(np.float32), scale)

    def normalize_into(self, raw: np.ndarray, c: int, out: np.ndarray) -> None:
        """out = (raw - offset_c) / scale_c for channel c, in place and without temporaries."""
        np.subtract(raw, self.offset[c], out=out, casting="unsafe")
        np.subtract(out, self.offset_lo[c], out=out)
        np.divide(out, self.scale[c], out=out)

    def normalize(self, raw: Any) -> Any:
        """Physical units -> normalised float32 (numpy or torch; channel axis -3)."""
        if not isinstance(raw, np.ndarray):  # torch tensors: the same float32 steps
            import torch

            off, lo, sc = (torch.from_numpy(a[:, None, None]).to(raw.device) for a in (self.offset, self.offset_lo, self.scale))
            return ((raw.float() - off) - lo) / sc
        out = np.empty(raw.shape, np.float32)
        for c in range(len(self.variables)):
            self.normalize_into(raw[..., c, :, :], c, out[..., c, :, :])
        return out

    def denormalize(self, x: Any) -> Any:
        """Normalised -> physical units (numpy or torch; channel axis -3): x * scale + offset."""
        sc, off = self.scale[:, None, None], self.offset[:, None, None]
        if isinstance(x, np.ndarray):
            return x * sc + off
        import torch

        return x * torch.from_numpy(sc).to(x) + torch.from_numpy(off).to(x)
