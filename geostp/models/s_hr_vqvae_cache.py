"""Incremental (cached) raster decoding of S-HR-VQVAE's spatio-temporal PixelCNN.

Fast generation for convolutional autoregressive models (Ramachandran et al. 2017, "Fast Generation
for Convolutional Autoregressive Models"): every layer keeps the inputs it has already seen (the last
kt - 1 whole past frames and the finished positions of the current frame, zero-padded as the full
convolution pads them), so each choice runs the network at ONE position instead of the whole frame.
The masks make this exact: a position's outputs read only earlier positions (all of their levels) and
its own lower-or-equal level groups, so after the last level of a position is picked, its cached layer
inputs are final; its embedded codes and the attention keys/values are then written with all levels.

This is hand-written rather than taken from a library because no maintained package implements cached
decoding for masked 3D convolutions with level groups; `STPixelCNN.generate` uses it for raster order,
and tests check it picks exactly the codes of the frame-level path (`STPixelCNN.frame_logits`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

if TYPE_CHECKING:
    from geostp.models.s_hr_vqvae import MaskedConv3d, STPixelCNN


class ConvTap:
    """A masked conv evaluated at one (y, x) of the current frame.

    The past frames' taps are the same for the whole frame: one conv3d gives their contribution at every
    position up front; per position only the current frame's rows up to y (the only unmasked ones) run.
    """

    def __init__(self, conv: MaskedConv3d, past: torch.Tensor, grid: tuple[int, int]) -> None:
        kt, kh, kw = conv.kernel
        self.kh, self.kw, self.ph, self.pw = kh, kw, kh // 2, kw // 2
        weight = conv.conv.weight * conv.mask
        self.pointwise = kt == kh == kw == 1
        if self.pointwise:
            self.weight, self.bias = weight.flatten(1), conv.conv.bias
            return
        b, c, t_past = past.shape[:3]
        h, w = grid
        n = min(kt - 1, t_past)
        window = F.pad(past[:, :, t_past - n:], (self.pw, self.pw, self.ph, self.ph, kt - 1 - n, 0))
        self.base = F.conv3d(window, weight[:, :, :kt - 1], conv.conv.bias)[:, :, 0]  # (B, C_out, h, w)
        self.weight = weight[:, :, kt - 1, :self.ph + 1].flatten(1)  # current frame, rows <= y
        self.buf = past.new_zeros(b, c, h + kh - 1, w + kw - 1)

    def __call__(self, y: int, x: int, value: torch.Tensor) -> torch.Tensor:
        """Store the layer input `value` (B, C) at (y, x) and return the layer output there (B, C_out)."""
        if self.pointwise:
            return F.linear(value, self.weight, self.bias)
        self.buf[:, :, y + self.ph, x + self.pw] = value
        patch = self.buf[:, :, y:y + self.ph + 1, x:x + self.kw]
        return torch.addmm(self.base[:, :, y, x], patch.reshape(patch.shape[0], -1), self.weight.t())

    def put(self, y: int, x: int, value: torch.Tensor) -> None:
        """Overwrite the cached input at (y, x) (its final value, once every level is known)."""
        if not self.pointwise:
            self.buf[:, :, y + self.ph, x + self.pw] = value


class AttentionTap:
    """Causal attention at one position: keys/values of the past frames and of earlier positions, cached
    per head (B, heads, L, width), contiguous, so each query is two small matmuls."""

    def __init__(self, attn, kv_past: torch.Tensor, n_now: int) -> None:
        b, l_past, c2 = kv_past.shape
        g, width = attn.groups, c2 // 2 // attn.groups
        self.groups, self.l0, self.scale = g, 1 + l_past, width ** -0.5
        self.q = (attn.q.conv.weight * attn.q.mask).flatten(1), attn.q.conv.bias
        self.out = (attn.out.conv.weight * attn.out.mask).flatten(1), attn.out.conv.bias
        self.kv = attn.kv.weight.flatten(1), attn.kv.bias
        self.k = kv_past.new_empty(b, g, self.l0 + n_now, width)
        self.v = torch.empty_like(self.k)
        self._store(slice(0, 1), attn.start.to(kv_past.dtype).expand(b, 1, -1))
        self._store(slice(1, self.l0), kv_past)

    def _store(self, where: slice, kv: torch.Tensor) -> None:
        b, n = kv.shape[:2]
        k, v = kv.reshape(b, n, 2, self.groups, -1).permute(2, 0, 3, 1, 4).unbind(0)
        self.k[:, :, where], self.v[:, :, where] = k, v

    def __call__(self, index: int, x: torch.Tensor) -> torch.Tensor:
        """Output at raster index `index` of the current frame from its block input x (B, C)."""
        b, c = x.shape
        q = F.linear(x, *self.q).view(b, self.groups, 1, -1)
        n = self.l0 + index
        att = torch.softmax(torch.matmul(q, self.k[:, :, :n].transpose(2, 3)) * self.scale, dim=-1)
        o = torch.matmul(att, self.v[:, :, :n])  # (B, heads, 1, width)
        return x + F.linear(o.reshape(b, c), *self.out)

    def put(self, index: int, x: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """Store and return the keys/values (B, 2C) of a finished position from its block input and
        embedded codes (B, C) each."""
        i = self.l0 + index
        kv = F.linear(torch.cat([x, codes], dim=1), *self.kv)
        self._store(slice(i, i + 1), kv[:, None])
        return kv


class FrameDecoder:
    """Raster decoding of one frame t of `prior`, one position at a time, from the record of frames < t
    (`STPixelCNN.forward_features`); `record()` then extends that record by frame t for the next frame."""

    def __init__(self, prior: STPixelCNN, record: list[torch.Tensor], t: int, grid: tuple[int, int]) -> None:
        from geostp.models.s_hr_vqvae import CausalAttention

        self.prior, self.t, self.grid, self.past = prior, t, grid, record
        h, w = grid
        self.first = ConvTap(prior.first, record[0], grid)
        self.layers: list[tuple[str, object]] = []
        self.inputs: list[torch.Tensor] = []  # each layer's final input at every position of frame t
        for block, past in zip(prior.blocks, record[1:]):
            if isinstance(block, CausalAttention):
                self.layers.append(("attn", AttentionTap(block, past, h * w)))
                self.inputs.append(past.new_empty(past.shape[0], h * w, past.shape[2]))
            else:
                mix = block.mix
                self.layers.append(("res", (ConvTap(block.conv, F.gelu(past), grid),
                                            (mix.conv.weight * mix.mask).flatten(1), mix.conv.bias)))
                self.inputs.append(past.new_empty(*past.shape[:2], h, w))
        self.head = (prior.head.conv.weight * prior.head.mask).flatten(1), prior.head.conv.bias
        self.time_pos = prior.time_pos[:, t, 0, 0]
        self.embedded = record[0].new_empty(*record[0].shape[:2], h, w)

    def embed(self, codes: torch.Tensor, y: int, x: int) -> torch.Tensor:
        """Embedded codes (B, C) of position (y, x) from its codes (B, levels), as `embed_codes` + positions."""
        p = self.prior
        e = p.embed(codes + p.offsets[None]).flatten(1)
        return e + self.time_pos + p.row_pos[:, 0, y, 0] + p.col_pos[:, 0, 0, x]

    def logits(self, codes: torch.Tensor, y: int, x: int) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Logits (B, levels, m) at (y, x) given its codes so far (B, levels), and every layer's input there."""
        inp = self.embed(codes, y, x)
        index = y * self.grid[1] + x
        h = self.first(y, x, inp)
        inputs = []
        for kind, layer in self.layers:
            inputs.append(h)
            if kind == "attn":
                h = layer(index, h)
            else:
                conv, mix_w, mix_b = layer
                h = h + F.linear(F.gelu(conv(y, x, F.gelu(h))), mix_w, mix_b)
        out = F.linear(F.gelu(h), *self.head)
        return out.view(out.shape[0], self.prior.levels, self.prior.codebook_size), inputs

    def finish(self, codes: torch.Tensor, y: int, x: int, inputs: list[torch.Tensor]) -> None:
        """Cache the final embedded codes of (y, x), its layer inputs and attention keys/values (all levels
        of (y, x) known: `inputs` from its last `logits` call are final, the masks keep levels apart)."""
        inp = self.embed(codes, y, x)
        self.first.put(y, x, inp)
        self.embedded[:, :, y, x] = inp
        index = y * self.grid[1] + x
        for (kind, layer), xin, store in zip(self.layers, inputs, self.inputs):
            if kind == "attn":
                kv = layer.put(index, xin, inp)
                store[:, index] = kv
            else:
                store[:, :, y, x] = xin

    def record(self) -> list[torch.Tensor]:
        """The record of frames 0..t (as `forward_features` records them), for decoding frame t + 1."""
        out = [torch.cat([self.past[0], self.embedded[:, :, None]], dim=2)]
        for (kind, _), past, now in zip(self.layers, self.past[1:], self.inputs):
            out.append(torch.cat([past, now], dim=1) if kind == "attn" else torch.cat([past, now[:, :, None]], dim=2))
        return out
