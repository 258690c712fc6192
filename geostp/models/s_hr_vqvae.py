"""S-HR-VQVAE (Adiban et al., arXiv 2307.06701): hierarchical residual VQ-VAE tokens and a spatio-temporal PixelCNN.

Every frame becomes a stack of `levels` discrete code maps (level i quantises the residual the levels
above left); a causal spatio-temporal PixelCNN predicts the future frames' codes from the past frames'
codes; the VQ-VAE decoder turns them back into frames. `model(x)` returns the decoded prediction
(B, T_out, C, H, W), greedy by default (`decoding="sample"` draws from the predictor instead, at `temperature`;
`geostp forecast --members N --ensemble sample --temperature T` makes each member one such draw).

Choices where the paper is silent, each with its reason:

* Tokeniser: the first author's public residual VQ-VAE (`m_vqvae_multi_level.py`): encoder of stride-2
  4x4 convs, 3x3 conv, ResBlocks (ReLU, 3x3, ReLU, 1x1, skip), 1x1 to `embed_dim`; mirrored decoder
  with 4x4 transposed convs and a linear output; defaults ch 32, 2 ResBlocks of 16, D 16, 4 levels of
  16 codes (52,049 parameters: the public model's 53,265 less 1,216 in per-level 1x1 convs and
  BatchNorms it builds and never calls). `downsamples` stride-2 stages (2 = the public code; 3 = its
  `_multi_level8` depth, used for 128x128 KTH so its token grid is 16x16 as for 64x64 Moving MNIST).
* One codebook per level (the public code; the linked per-parent codebooks of the HR-VQVAE paper are
  not implemented: they multiply codebooks by m per level and starve most of them).
* Commitment: beta * sum_i ||z - sg(z_1 + ... + z_i)||^2 (RQ-VAE form), beta 0.25 as the public code,
  so every level's partial sum pulls on the encoder (in the public code only level 1's term reaches
  it); straight-through estimator z + sg(z_q - z) for the whole stack.
* Codebook updates: EMA (decay 0.99, eps 1e-5, Laplace-smoothed counts, as the public code) plus
  data-dependent initialisation from the first batch's residuals at each level (not a unit normal:
  deeper residuals are small) and dead-code restart (codes whose EMA count falls below
  `dead_code_threshold` assignments per batch are re-seeded from current residuals). EMA state is
  buffers, updated only in the `vqvae` stage; the quantiser runs in float32 even under autocast.
* Predictor: embeddings of the codes (one table per level, group-major channels) plus learned
  time/row/column position embeddings; a first masked 3D conv of type A, `prior_blocks` residual
  blocks of type-B masked 3D convs (GELU, k x k x k, then 1x1), a causal self-attention block after
  every `attention_every` blocks, and a type-B 1x1 head of `codebook_size` logits per level.
  Width 128 and attention after every 5th block follow the public sketch (its hidden 128, attention
  every 5th layer); 10 blocks give 5.2 M parameters at MMNIST size, in the 1-7 M range the paper's
  "much smaller model size" suggests (no published count was retrievable).
  Order: time, then row, then column (raster), then level. Time taps are causal (current and past
  frames only; past frames are seen whole); in the current frame the kernel is raster-masked; channel
  groups order the levels at the centre tap as PixelCNN orders RGB (type A: lower levels only,
  type B: lower and same). The attention's queries and output projection are group-masked 1x1s, its
  keys/values (from the block input and, as PixelSNAIL, the embedded codes) come from strictly earlier
  positions (shift by one plus a learned start token, then SDPA's causal mask). The public sketch's
  type-B mask keeps the next frame and later pixels (it leaks the future); these masks are checked by
  gradient probes in tests/models/test_s_hr_vqvae.py.
  No BatchNorm (its batch statistics would mix future positions in training).
* Decoding is incremental: the context runs once, each decoded frame extends every layer's record, and
  in raster order each choice runs the predictor at ONE position from cached layer inputs
  (geostp.models.s_hr_vqvae_cache, fast generation as Ramachandran et al. 2017); greedy codes are tested
  identical to the frame-level path (`generate(cache=False)`, `STPixelCNN.frame_logits`: the whole
  current frame per choice) and to full recomputation. Speed: `benchmarks/bench_models.py --decode`.
* `spatial_order="none"` is a faster variant: the current frame is not raster-ordered (only levels are),
  so decoding costs `levels` predictor passes per frame instead of h*w*levels; label results with it.
* Training stages (declared by `training_stages()`): `vqvae` (tokeniser: MSE + commitment on all
  T_in + T_out frames), `pixelcnn` (predictor: cross-entropy on the future frames' codes, teacher
  forced with the true codes; the tokeniser frozen), and with `training="joint"` (default, the paper's
  proposal) a final `joint` stage training the decoder and the predictor together on
  MSE(decoder(soft codewords), future frames) + `joint_ce_weight` * cross-entropy: the soft codeword
  sum_k softmax(logits)_k c_k lets the frame loss reach the predictor (argmax has no gradient), and the
  decoder learns the predictor's uncertainty, as the paper's joint training intends (first term of
  its Eq. 4 plus Eq. 7). Prediction decodes hard (argmax or sampled) codes, so a decoder trained on soft
  codewords meets inputs it never saw. `joint_decode="soft"` (default, the paper's design) keeps that;
  `joint_decode="straight_through"` (geostp's option) feeds the decoder the hard codewords in the forward
  pass with the soft codeword's gradient backwards. `decoding_errors` measures the hard/soft gap;
  examples/05_s_hr_vqvae_decoding_gap.py trains a small model both ways and prints it (measured figures in
  docs/models.md). `training="disjoint"` stops after the first two stages.
* T_out need not equal T_in: frames are generated one at a time conditioned on all frames so far.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from geostp.errors import ConfigError, ShapeError
from geostp.models.base import BaseConfig, Forecaster, LossOutput, TrainingStage, check_shapes
from geostp.models.registry import register_model


@dataclass
class SHRVQVAEConfig(BaseConfig):
    """Hyper-parameters of S-HR-VQVAE (tokeniser defaults: the first author's public code)."""

    hidden: int = 32  # tokeniser width (ch)
    res_blocks: int = 2
    res_hidden: int = 16
    downsamples: int = 2  # stride-2 stages: token grid = H / 2^downsamples
    embed_dim: int = 16  # codeword dimension D
    levels: int = 4  # hierarchical residual levels n
    codebook_size: int = 16  # codewords per level m
    beta: float = 0.25
    ema_decay: float = 0.99
    ema_eps: float = 1e-5
    dead_code_threshold: float = 1.0  # EMA assignments per batch below which a code is re-seeded
    prior_hidden: int = 128  # predictor width (split into `levels` channel groups)
    prior_blocks: int = 10
    prior_kernel: int = 3
    attention_every: int = 5  # causal attention after every k-th block (0: none)
    spatial_order: Literal["raster", "none"] = "raster"
    training: Literal["joint", "disjoint"] = "joint"
    vqvae_fraction: float = 0.4  # share of the training steps for the tokeniser stage
    joint_fraction: float = 0.3  # share for the joint stage (training="joint"); the predictor gets the rest
    joint_ce_weight: float = 1.0
    joint_decode: Literal["soft", "straight_through"] = "soft"  # decoder input in the joint stage (see docstring)
    decoding: Literal["greedy", "sample"] = "greedy"
    temperature: float = 1.0  # of sampled codes: softmax(logits / temperature); 0 = greedy (its limit)

    def grid_multiple(self) -> int:
        """2^downsamples: the tokeniser's stride-2 stages."""
        return 2 ** self.downsamples


# ------------------------------------------------------------------------------------------ tokeniser


class ResBlock(nn.Module):
    """ReLU, 3x3 conv to res_hidden, ReLU, 1x1 conv back, plus the input (public HR-VQVAE code)."""

    def __init__(self, ch: int, res_ch: int) -> None:
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(ch, res_ch, 3, padding=1), nn.Conv2d(res_ch, ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(F.relu(x))))


def _encoder(cfg: SHRVQVAEConfig, channels: int) -> nn.Sequential:
    ch, half = cfg.hidden, cfg.hidden // 2
    layers: list[nn.Module] = []
    for i in range(cfg.downsamples):
        cin = channels if i == 0 else half
        cout = ch if i == cfg.downsamples - 1 else half
        layers += [nn.Conv2d(cin, cout, 4, stride=2, padding=1), nn.ReLU()]
    layers += [nn.Conv2d(ch, ch, 3, padding=1), *[ResBlock(ch, cfg.res_hidden) for _ in range(cfg.res_blocks)],
               nn.ReLU(), nn.Conv2d(ch, cfg.embed_dim, 1)]
    return nn.Sequential(*layers)


def _decoder(cfg: SHRVQVAEConfig, channels: int) -> nn.Sequential:
    ch, half = cfg.hidden, cfg.hidden // 2
    layers: list[nn.Module] = [nn.Conv2d(cfg.embed_dim, ch, 3, padding=1),
                               *[ResBlock(ch, cfg.res_hidden) for _ in range(cfg.res_blocks)], nn.ReLU()]
    for i in range(cfg.downsamples):
        cin = ch if i == 0 else half
        last = i == cfg.downsamples - 1
        layers.append(nn.ConvTranspose2d(cin, channels if last else half, 4, stride=2, padding=1))
        if not last:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class EMACodebook(nn.Module):
    """One level's codebook (m, D) kept by exponential moving averages (buffers only, no gradient)."""

    def __init__(self, size: int, dim: int, decay: float, eps: float, dead_threshold: float) -> None:
        super().__init__()
        self.decay, self.eps, self.dead_threshold = decay, eps, dead_threshold
        self.register_buffer("codebook", torch.randn(size, dim))
        self.register_buffer("ema_count", torch.ones(size))
        self.register_buffer("ema_sum", self.codebook.clone())
        self.register_buffer("initialized", torch.zeros((), dtype=torch.bool))

    def nearest(self, r: torch.Tensor) -> torch.Tensor:
        """Index of the nearest codeword for each row of r (N, D)."""
        cb = self.codebook
        d = (r * r).sum(1, keepdim=True) - 2 * r @ cb.t() + (cb * cb).sum(1)[None]
        return d.argmin(1)

    @torch.no_grad()
    def _sample(self, r: torch.Tensor, k: int) -> torch.Tensor:
        idx = torch.randint(0, r.shape[0], (k,), device=r.device)
        return r[idx]

    @torch.no_grad()
    def init_from(self, r: torch.Tensor) -> None:
        """Data-dependent start: codewords drawn from this level's residuals (r: (N, D))."""
        m = self.codebook.shape[0]
        self.codebook.copy_(self._sample(r, m))
        self.ema_count.fill_(r.shape[0] / m)
        self.ema_sum.copy_(self.codebook * self.ema_count[:, None])
        self.initialized.fill_(True)

    @torch.no_grad()
    def update(self, r: torch.Tensor, idx: torch.Tensor) -> None:
        """EMA step on the residuals r (N, D) assigned to idx, then re-seed dead codes from r."""
        m = self.codebook.shape[0]
        counts = torch.bincount(idx, minlength=m).to(r.dtype)
        sums = torch.zeros_like(self.ema_sum).index_add_(0, idx, r)
        self.ema_count.mul_(self.decay).add_(counts, alpha=1 - self.decay)
        self.ema_sum.mul_(self.decay).add_(sums, alpha=1 - self.decay)
        n = self.ema_count.sum()
        smoothed = (self.ema_count + self.eps) / (n + m * self.eps) * n  # Laplace smoothing
        self.codebook.copy_(self.ema_sum / smoothed[:, None])
        dead = self.ema_count < self.dead_threshold
        k = int(dead.sum())
        if k:
            fresh = self._sample(r, k)
            self.codebook[dead] = fresh
            self.ema_count[dead] = r.shape[0] / m
            self.ema_sum[dead] = fresh * (r.shape[0] / m)


class ResidualQuantizer(nn.Module):
    """`levels` EMA codebooks; level i quantises what levels < i left of the encoder output."""

    def __init__(self, cfg: SHRVQVAEConfig) -> None:
        super().__init__()
        self.levels = nn.ModuleList(
            EMACodebook(cfg.codebook_size, cfg.embed_dim, cfg.ema_decay, cfg.ema_eps, cfg.dead_code_threshold)
            for _ in range(cfg.levels)
        )

    def forward(self, z: torch.Tensor, update: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """z (N, D) -> straight-through quantised z (N, D), codes (N, levels), commitment (sum over levels)."""
        r = z.detach()
        partial = torch.zeros_like(r)
        codes, commit = [], z.new_zeros(())
        for q in self.levels:
            if update and not bool(q.initialized):
                q.init_from(r)
            idx = q.nearest(r)
            e = q.codebook[idx]  # a copy: the EMA update below does not change it
            if update:
                q.update(r, idx)
            partial = partial + e
            commit = commit + F.mse_loss(z, partial)  # ||z - sg(z_1 + ... + z_i)||^2
            r = r - e
            codes.append(idx)
        return z + (partial - z).detach(), torch.stack(codes, 1), commit

    def lookup(self, codes: torch.Tensor) -> torch.Tensor:
        """codes (..., levels) -> sum of the codewords (..., D)."""
        return sum(q.codebook[codes[..., i]] for i, q in enumerate(self.levels))

    def soft_lookup(self, probs: torch.Tensor) -> torch.Tensor:
        """probs (..., levels, m) -> expected codeword sum (..., D); differentiable in probs."""
        return sum(probs[..., i, :] @ q.codebook for i, q in enumerate(self.levels))


class HRVQVAE(nn.Module):
    """Frame tokeniser: encoder, residual quantiser, decoder (frames are encoded independently)."""

    def __init__(self, cfg: SHRVQVAEConfig, channels: int) -> None:
        super().__init__()
        self.encoder = _encoder(cfg, channels)
        self.quantizer = ResidualQuantizer(cfg)
        self.decoder = _decoder(cfg, channels)

    def quantize(self, frames: torch.Tensor, update: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """frames (N, C, H, W) -> quantised latents (N, D, h, w), codes (N, levels, h, w), commitment."""
        z = self.encoder(frames)
        n, d, h, w = z.shape
        no_autocast = nullcontext() if z.device.type == "meta" else torch.autocast(z.device.type, enabled=False)
        with no_autocast:  # distances and EMA in float32
            flat = z.float().permute(0, 2, 3, 1).reshape(-1, d)
            zq, codes, commit = self.quantizer(flat, update)
        zq = zq.view(n, h, w, d).permute(0, 3, 1, 2)
        return zq, codes.view(n, h, w, -1).permute(0, 3, 1, 2), commit

    @torch.no_grad()
    def encode_codes(self, frames: torch.Tensor) -> torch.Tensor:
        """frames (B, T, C, H, W) -> codes (B, T, levels, h, w) (no codebook update)."""
        b, t = frames.shape[:2]
        _, codes, _ = self.quantize(frames.flatten(0, 1))
        return codes.view(b, t, *codes.shape[1:])

    def decode_latents(self, z: torch.Tensor) -> torch.Tensor:
        """latents (B, T, h, w, D) -> frames (B, T, C, H, W)."""
        b, t = z.shape[:2]
        out = self.decoder(z.flatten(0, 1).permute(0, 3, 1, 2))
        return out.view(b, t, *out.shape[1:])

    def decode_codes(self, codes: torch.Tensor) -> torch.Tensor:
        """codes (B, T, levels, h, w) -> frames (B, T, C, H, W)."""
        return self.decode_latents(self.quantizer.lookup(codes.permute(0, 1, 3, 4, 2)))


# ------------------------------------------------------------------------------------------ predictor


def causal_mask(groups: int, cin: int, cout: int, kernel: tuple[int, int, int], kind: str, spatial_order: str
                ) -> torch.Tensor:
    """(groups*cout, groups*cin, kt, kh, kw) bool mask of a masked 3D conv whose last time tap is the current frame.

    Past frames: every tap. Current frame: taps before the centre in raster order ("raster"; none with
    "none"), and the centre tap from lower level groups (type "A") or lower-or-same groups ("B").
    """
    kt, kh, kw = kernel
    mask = torch.ones(groups * cout, groups * cin, kt, kh, kw)
    cur = mask[:, :, kt - 1]
    cur.zero_()
    if spatial_order == "raster":
        cur[:, :, : kh // 2] = 1
        cur[:, :, kh // 2, : kw // 2] = 1
    go = torch.arange(groups * cout) // cout
    gi = torch.arange(groups * cin) // cin
    allowed = gi[None, :] < go[:, None] if kind == "A" else gi[None, :] <= go[:, None]
    cur[:, :, kh // 2, kw // 2] = allowed.float()
    return mask.bool()


class MaskedConv3d(nn.Module):
    """3D conv on (B, C, T, h, w) with causal time padding and a group/raster mask applied in the graph."""

    def __init__(self, groups: int, cin: int, cout: int, kernel: tuple[int, int, int], kind: str,
                 spatial_order: str) -> None:
        super().__init__()
        self.kernel = kernel
        self.conv = nn.Conv3d(groups * cin, groups * cout, kernel)
        self.register_buffer("mask", causal_mask(groups, cin, cout, kernel, kind, spatial_order), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kt, kh, kw = self.kernel
        weight = self.conv.weight * self.mask
        if kt == kh == kw == 1:  # pointwise: one batched matmul (CPU conv3d has no fast 1x1x1 path)
            b, c, t, h, w = x.shape
            out = torch.matmul(weight.flatten(1), x.reshape(b, c, -1)) + self.conv.bias[:, None]
            return out.view(b, -1, t, h, w)
        x = F.pad(x, (kw // 2, kw // 2, kh // 2, kh // 2, kt - 1, 0))
        return F.conv3d(x, weight, self.conv.bias)

    def forward_last(self, past: torch.Tensor, current: torch.Tensor) -> torch.Tensor:
        """Output at the current frame only: past (B, C, T_p, h, w) layer inputs, current (B, C, 1, h, w)."""
        kt, kh, kw = self.kernel
        if kt == 1:
            return self(current)
        window = torch.cat([past[:, :, -(kt - 1):], current], dim=2)
        window = F.pad(window, (kw // 2, kw // 2, kh // 2, kh // 2, kt - window.shape[2], 0))
        return F.conv3d(window, self.conv.weight * self.mask, self.conv.bias)


class CausalAttention(nn.Module):
    """Self-attention over the (T, h, w) raster sequence in which a position sees strictly earlier positions.

    One head per level group; queries and output projection are type-B group-masked 1x1 convs, so level
    group j at a position only uses groups <= j there; keys/values come from earlier positions (shifted by
    one behind a learned start token, then SDPA's causal mask). Keys/values read the block input and, as
    PixelSNAIL, the embedded codes themselves: a hidden state never holds its own position's top level, so
    without them the top level of a distant earlier position would stay invisible. With spatial_order
    "none" a position sees the earlier frames only (explicit mask).
    """

    def __init__(self, groups: int, width: int, spatial_order: str) -> None:
        super().__init__()
        self.groups, self.spatial_order = groups, spatial_order
        c = groups * width
        self.q = MaskedConv3d(groups, width, width, (1, 1, 1), "B", spatial_order)
        self.kv = nn.Conv3d(2 * c, 2 * c, 1)
        self.out = MaskedConv3d(groups, width, width, (1, 1, 1), "B", spatial_order)
        self.start = nn.Parameter(torch.zeros(2 * c))
        nn.init.normal_(self.start, std=0.02)

    def keys_values(self, x: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """Unshifted keys and values of every position: (B, L, 2C)."""
        return self.kv(torch.cat([x, codes], dim=1)).flatten(2).transpose(1, 2)

    def _attend(self, x: torch.Tensor, kv: torch.Tensor, mask: torch.Tensor | None, causal: bool) -> torch.Tensor:
        b, c, t, h, w = x.shape
        g = self.groups
        q = self.q(x).view(b, g, c // g, -1).transpose(2, 3)  # (B, heads, L, width)
        k, v = kv.view(b, kv.shape[1], 2, g, c // g).permute(2, 0, 3, 1, 4).unbind(0)
        o = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal)
        return x + self.out(o.transpose(2, 3).reshape(b, c, t, h, w))

    def forward_last(self, x: torch.Tensor, codes: torch.Tensor, kv_past: torch.Tensor) -> torch.Tensor:
        """Output at the current frame only, given the keys/values of all earlier frames (B, L_p, 2C)."""
        b, _, _, h, w = x.shape
        start = self.start.to(kv_past.dtype).expand(b, 1, -1)
        if self.spatial_order == "raster":
            kv_now = self.keys_values(x, codes)
            kv = torch.cat([start, kv_past, kv_now[:, :-1]], dim=1)
            lp = kv_past.shape[1]
            keys, queries = torch.arange(kv.shape[1], device=x.device), torch.arange(h * w, device=x.device)
            mask = keys[None, :] <= lp + queries[:, None]
            return self._attend(x, kv, mask, False)
        return self._attend(x, torch.cat([start, kv_past], dim=1), None, False)

    def forward(self, x: torch.Tensor, codes: torch.Tensor, record: list | None = None) -> torch.Tensor:
        """x: block input (B, C, T, h, w); codes: the embedded codes, same shape."""
        b, c, t, h, w = x.shape
        kv = self.keys_values(x, codes)  # (B, L, 2C)
        if record is not None:
            record.append(kv)
        start = self.start.to(kv.dtype).expand(b, 1, -1)
        if self.spatial_order == "raster":
            kv = torch.cat([start, kv[:, :-1]], dim=1)  # key j = position j - 1: "<=" becomes "<"
            mask, causal = None, True
        else:
            kv = torch.cat([start, kv], dim=1)
            frame = torch.arange(t, device=x.device).repeat_interleave(h * w)
            mask = torch.cat([torch.ones(t * h * w, 1, dtype=torch.bool, device=x.device),
                              frame[None, :] < frame[:, None]], dim=1)
            causal = False
        return self._attend(x, kv, mask, causal)


class ResidualMaskedBlock(nn.Module):
    """x + 1x1_B(GELU(kxkxk_B(GELU(x)))): the predictor's residual block, causal by its masks."""

    def __init__(self, groups: int, width: int, k: int, spatial_order: str) -> None:
        super().__init__()
        self.conv = MaskedConv3d(groups, width, width, (k, k, k), "B", spatial_order)
        self.mix = MaskedConv3d(groups, width, width, (1, 1, 1), "B", spatial_order)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.mix(F.gelu(self.conv(F.gelu(x))))

    def forward_last(self, past: torch.Tensor, current: torch.Tensor) -> torch.Tensor:
        """Output at the current frame only from the block inputs of earlier frames and of this one."""
        return current + self.mix(F.gelu(self.conv.forward_last(F.gelu(past), F.gelu(current))))


class STPixelCNN(nn.Module):
    """Spatio-temporal PixelCNN over code maps: logits of every level at every (t, y, x) from earlier codes."""

    def __init__(self, cfg: SHRVQVAEConfig, frames: int, grid: tuple[int, int]) -> None:
        super().__init__()
        n, m, width = cfg.levels, cfg.codebook_size, cfg.prior_hidden // cfg.levels
        c, k, order = n * width, cfg.prior_kernel, cfg.spatial_order
        self.levels, self.codebook_size = n, m
        self.embed = nn.Embedding(n * m, width)  # level i's code j is row i*m + j
        self.register_buffer("offsets", torch.arange(n) * m, persistent=False)
        self.time_pos = nn.Parameter(torch.randn(c, frames, 1, 1) * 0.02)
        self.row_pos = nn.Parameter(torch.randn(c, 1, grid[0], 1) * 0.02)
        self.col_pos = nn.Parameter(torch.randn(c, 1, 1, grid[1]) * 0.02)
        self.first = MaskedConv3d(n, width, width, (k, k, k), "A", order)
        blocks: list[nn.Module] = []
        for i in range(cfg.prior_blocks):
            blocks.append(ResidualMaskedBlock(n, width, k, order))
            if cfg.attention_every and (i + 1) % cfg.attention_every == 0:
                blocks.append(CausalAttention(n, width, order))
        self.blocks = nn.ModuleList(blocks)
        self.head = MaskedConv3d(n, width, m, (1, 1, 1), "B", order)

    def embed_codes(self, codes: torch.Tensor) -> torch.Tensor:
        """codes (B, T, levels, h, w) -> features (B, levels*width, T, h, w), level-group-major channels."""
        e = self.embed(codes + self.offsets[None, None, :, None, None])  # (B, T, n, h, w, width)
        return e.permute(0, 2, 5, 1, 3, 4).flatten(1, 2)

    def forward_features(self, e: torch.Tensor, record: list | None = None) -> torch.Tensor:
        """features (B, C, T, h, w) -> logits (B, T, levels, m, h, w); T may be any prefix length.
        With `record`, appends every layer's input (attention: its keys/values) for `frame_logits`."""
        t = e.shape[2]
        inp = e + self.time_pos[:, :t] + self.row_pos + self.col_pos
        if record is not None:
            record.append(inp)
        x = self.first(inp)
        for block in self.blocks:
            if isinstance(block, CausalAttention):
                x = block(x, inp, record)
            else:
                if record is not None:
                    record.append(x)
                x = block(x)
        x = self.head(F.gelu(x))
        b, _, _, h, w = x.shape
        return x.view(b, self.levels, self.codebook_size, t, h, w).permute(0, 3, 1, 2, 4, 5)

    def frame_logits(self, codes: torch.Tensor, t: int, record: list) -> torch.Tensor:
        """Logits (B, levels, m, h, w) of frame t only, from its codes (B, 1, levels, h, w) and the
        `record` of frames 0..t-1 (from forward_features): equal to forward(...)[:, t], at a fraction of it."""
        inp = self.embed_codes(codes) + self.time_pos[:, t:t + 1] + self.row_pos + self.col_pos
        x = self.first.forward_last(record[0], inp)
        for block, past in zip(self.blocks, record[1:]):
            x = block.forward_last(x, inp, past) if isinstance(block, CausalAttention) else block.forward_last(past, x)
        x = self.head(F.gelu(x))
        b, _, _, h, w = x.shape
        return x.view(b, self.levels, self.codebook_size, h, w)

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        return self.forward_features(self.embed_codes(codes))

    @torch.no_grad()
    def generate(self, context: torch.Tensor, t_out: int, sample: bool, temperature: float = 1.0,
                 generator: torch.Generator | None = None, raster: bool = True, cache: bool = True) -> torch.Tensor:
        """Extend codes (B, T_in, levels, h, w) by t_out frames, position by position (raster) or frame by
        frame, level by level; argmax or sampling at `temperature`. Returns the new (B, t_out, levels, h, w).
        Raster order runs one position per choice from cached layer inputs (`cache=True`,
        geostp.models.s_hr_vqvae_cache) or the whole current frame per choice (`cache=False`, the reference)."""
        b, t_in, n, h, w = context.shape
        codes = torch.cat([context, context.new_zeros(b, t_out, n, h, w)], dim=1)
        positions = [(y, x) for y in range(h) for x in range(w)] if raster else [(slice(None), slice(None))]

        def pick(logits: torch.Tensor) -> torch.Tensor:  # (B, m[, h, w]) -> (B[, h, w])
            if not sample or temperature == 0:  # temperature 0: the limit of sampling, greedy
                return logits.argmax(1)
            p = torch.softmax(logits.movedim(1, -1).float() / temperature, dim=-1)
            return torch.multinomial(p.reshape(-1, p.shape[-1]), 1, generator=generator).view(p.shape[:-1])

        record: list[torch.Tensor] = []
        for t in range(t_in, t_in + t_out):
            if raster and cache:
                from geostp.models.s_hr_vqvae_cache import FrameDecoder

                if not record:  # the context runs once; each decoded frame then extends the record
                    self.forward_features(self.embed_codes(codes[:, :t]), record)
                dec = FrameDecoder(self, record, t, (h, w))
                for y, x in positions:
                    here = codes[:, t, :, y, x]  # (B, levels), a view: picks land in `codes`
                    for i in range(n):
                        logits, inputs = dec.logits(here, y, x)
                        here[:, i] = pick(logits[:, i])
                    dec.finish(here, y, x, inputs)
                record = dec.record()
                continue
            record = []  # earlier frames are final: run them once per new frame
            self.forward_features(self.embed_codes(codes[:, :t]), record)
            for y, x in positions:
                for i in range(n):
                    codes[:, t, i, y, x] = pick(self.frame_logits(codes[:, t:t + 1], t, record)[:, i, :, y, x])
        return codes[:, t_in:]


# ------------------------------------------------------------------------------------------ the model


class SHRVQVAE(Forecaster):
    """S-HR-VQVAE forecaster: tokenise frames, predict future codes, decode them."""

    # Forecast batch on the CPU (geostp.forecast.predict.cpu_model_batch): raster decoding runs one step per code
    # position, whose cost hardly grows with the batch. Measured on 2 cores, the sample quick-start size:
    # 722 init times in 136-173 s at batch 8, 50-61 s at 32 or 64, 55 s at 128.
    cpu_model_batch = 128

    def __init__(self, cfg: SHRVQVAEConfig) -> None:
        super().__init__()
        self.config = cfg
        _validate(cfg)
        t_in, c, h, w = cfg.in_shape
        f = cfg.grid_multiple()
        self.vqvae = HRVQVAE(cfg, c)
        self.prior = STPixelCNN(cfg, t_in + cfg.t_out, (h // f, w // f))

    def training_stages(self) -> list[TrainingStage]:
        """vqvae, then pixelcnn (disjoint); plus a final joint stage of decoder and predictor (joint)."""
        cfg = self.config
        stages = [TrainingStage("vqvae", ("vqvae.encoder.", "vqvae.decoder."), cfg.vqvae_fraction)]
        if cfg.training == "joint":
            stages += [TrainingStage("pixelcnn", ("prior.",), 1.0 - cfg.vqvae_fraction - cfg.joint_fraction),
                       TrainingStage("joint", ("vqvae.decoder.", "prior."), cfg.joint_fraction)]
        else:
            stages.append(TrainingStage("pixelcnn", ("prior.",), 1.0 - cfg.vqvae_fraction))
        return stages

    def training_loss(self, x: torch.Tensor, y: torch.Tensor, stage: str = "vqvae") -> LossOutput:
        """Loss of one batch in a stage named by `training_stages()` (see the module docstring)."""
        self.check_input(x)
        known = [s.name for s in self.training_stages()]
        if stage not in known:
            raise ConfigError(f"s_hr_vqvae has no training stage {stage!r}; stages: {', '.join(known)}")
        seq = torch.cat([x, y], dim=1)
        if stage == "vqvae":
            b, t = seq.shape[:2]
            zq, codes, commit = self.vqvae.quantize(seq.flatten(0, 1), update=self.training)
            recon = self.vqvae.decoder(zq)
            mse = F.mse_loss(recon, seq.flatten(0, 1))
            terms = {"recon_mse": mse.detach(), "commitment": commit.detach()}
            for i in range(codes.shape[1]):
                terms[f"perplexity_{i}"] = _perplexity(codes[:, i], self.config.codebook_size)
            return LossOutput(mse + self.config.beta * commit, terms)
        codes = self.vqvae.encode_codes(seq)
        logits = self.prior(codes)[:, x.shape[1]:]  # (B, T_out, n, m, h, w)
        target = codes[:, x.shape[1]:]
        ce = F.cross_entropy(logits.movedim(3, 1), target)
        acc = (logits.argmax(3) == target).float().mean()
        if stage == "pixelcnn":
            return LossOutput(ce, {"ce": ce.detach(), "code_accuracy": acc})
        pred = self.vqvae.decode_latents(self._joint_latents(logits))
        mse = F.mse_loss(pred, y)
        return LossOutput(mse + self.config.joint_ce_weight * ce,
                          {"mse": mse.detach(), "ce": ce.detach(), "code_accuracy": acc})

    def _joint_latents(self, logits: torch.Tensor, mode: str | None = None) -> torch.Tensor:
        """Decoder input of the joint stage from code logits (B, T, n, m, h, w): (B, T, h, w, D).

        "soft" (default): the expected codeword sum_k p_k c_k. "straight_through": the codewords of the
        argmax codes, which prediction decodes, with the soft codeword's gradient (hard + soft - sg(soft)),
        so the decoder is trained on what it will see and the frame loss still reaches the predictor.
        """
        q = self.vqvae.quantizer
        soft = q.soft_lookup(torch.softmax(logits.float(), dim=3).permute(0, 1, 4, 5, 2, 3))  # (B, T, h, w, n, m)
        if (mode or self.config.joint_decode) == "soft":
            return soft
        hard = q.lookup(logits.argmax(3).permute(0, 1, 3, 4, 2))
        return hard + (soft - soft.detach())

    @torch.no_grad()
    def decoding_errors(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
        """MSE against y of frames decoded from the predictor's teacher-forced code logits: `soft` (expected
        codewords, what a soft joint stage trains the decoder on) and `hard` (argmax codes, what `predict`
        decodes); their difference is the train/predict decoding gap."""
        seq = torch.cat([x, y], dim=1)
        logits = self.prior(self.vqvae.encode_codes(seq))[:, x.shape[1]:]
        return {mode: float(F.mse_loss(self.vqvae.decode_latents(self._joint_latents(logits, mode)), y))
                for mode in ("soft", "hard")}

    @torch.no_grad()
    def predict(self, x: torch.Tensor, sample: bool | None = None, temperature: float | None = None,
                generator: torch.Generator | None = None) -> torch.Tensor:
        """Forecast (B, T_out, C, H, W): greedy (argmax codes) or sampled codes, decoded to frames."""
        self.check_input(x)
        cfg = self.config
        sample = cfg.decoding == "sample" if sample is None else sample
        codes = self.vqvae.encode_codes(x)
        temperature = cfg.temperature if temperature is None else temperature
        future = self.prior.generate(codes, cfg.t_out, sample, temperature, generator,
                                     raster=cfg.spatial_order == "raster")
        return self.vqvae.decode_codes(future)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.predict(x)

    def flop_forward(self, x: torch.Tensor) -> torch.Tensor:
        """One parallel pass for FLOP counting: encode the inputs, run the predictor once over all
        T_in + T_out frames (future codes = zeros) and decode the T_out frames. Greedy decoding repeats the
        predictor once per future frame (and per position and level in raster order)."""
        codes = self.vqvae.encode_codes(x)
        future = torch.zeros((codes.shape[0], self.config.t_out, *codes.shape[2:]), dtype=codes.dtype,
                             device=codes.device)
        logits = self.prior(torch.cat([codes, future], dim=1))[:, x.shape[1]:]
        return self.vqvae.decode_codes(logits.argmax(3))


def _perplexity(codes: torch.Tensor, m: int) -> torch.Tensor:
    """exp(entropy) of the code histogram: 1 means collapse to one code, m means uniform use."""
    p = torch.bincount(codes.flatten(), minlength=m).float()
    p = p / p.sum()
    return torch.exp(-(p * torch.log(p.clamp_min(1e-10))).sum())


def _validate(cfg: SHRVQVAEConfig) -> None:
    """ConfigError / ShapeError for settings that cannot build a model, naming the way out."""
    check_shapes(cfg)
    t_in, c, h, w = cfg.in_shape
    if cfg.joint_decode not in ("straight_through", "soft"):
        raise ConfigError(f"s_hr_vqvae: joint_decode must be straight_through or soft, got {cfg.joint_decode!r}")
    if cfg.downsamples < 1:
        raise ConfigError(f"s_hr_vqvae: downsamples must be >= 1, got {cfg.downsamples}")
    f = cfg.grid_multiple()
    if h < f or w < f or h % f or w % f:
        raise ShapeError(
            f"s_hr_vqvae with {cfg.downsamples} stride-2 stages needs H and W that are positive multiples of {f}, "
            f"got {h} x {w}; pad/crop the data to e.g. {max(f, -(-h // f) * f)} x {max(f, -(-w // f) * f)} "
            f"or change downsamples (or build it with pad_to_stride=True)"
        )
    if cfg.levels < 1 or cfg.codebook_size < 2 or cfg.embed_dim < 1:
        raise ConfigError(f"s_hr_vqvae: needs levels >= 1, codebook_size >= 2 and embed_dim >= 1, got "
                          f"{cfg.levels}, {cfg.codebook_size}, {cfg.embed_dim}")
    if cfg.prior_hidden % cfg.levels:
        raise ConfigError(f"s_hr_vqvae: prior_hidden {cfg.prior_hidden} must be a multiple of levels {cfg.levels} "
                          f"(one channel group per level), e.g. {cfg.levels * max(1, cfg.prior_hidden // cfg.levels)}")
    if cfg.hidden < 2 or cfg.hidden % 2:
        raise ConfigError(f"s_hr_vqvae: hidden must be an even width >= 2, got {cfg.hidden}")
    if cfg.prior_kernel < 1 or cfg.prior_kernel % 2 == 0:
        raise ConfigError(f"s_hr_vqvae: prior_kernel must be odd (a centre tap to mask), got {cfg.prior_kernel}")
    if not 0.0 < cfg.ema_decay < 1.0:
        raise ConfigError(f"s_hr_vqvae: ema_decay must lie in (0, 1), got {cfg.ema_decay}")
    rest = 1.0 - cfg.vqvae_fraction - (cfg.joint_fraction if cfg.training == "joint" else 0.0)
    if cfg.vqvae_fraction <= 0 or rest <= 0 or (cfg.training == "joint" and cfg.joint_fraction <= 0):
        raise ConfigError(f"s_hr_vqvae: stage fractions must be positive and leave the predictor a share, got "
                          f"vqvae_fraction {cfg.vqvae_fraction}, joint_fraction {cfg.joint_fraction}")
    if cfg.temperature < 0:
        raise ConfigError(f"s_hr_vqvae: temperature must be >= 0 (0 = greedy), got {cfg.temperature}")


PRESETS = {
    # CPU-sized for unit tests: 4x4 tokens, 2 levels of 8 codes, a 2-block predictor with attention.
    "tiny": {"in_shape": (3, 2, 16, 16), "t_out": 4, "hidden": 16, "res_blocks": 1, "res_hidden": 8,
             "embed_dim": 8, "levels": 2, "codebook_size": 8, "prior_hidden": 32, "prior_blocks": 2,
             "attention_every": 2},
    # Moving MNIST 64x64 -> 16x16 tokens; tokeniser = the public code's defaults [read]; predictor [inferred].
    "mmnist": {"in_shape": (10, 1, 64, 64), "t_out": 10},
    # [inferred] KTH 128x128, 10 -> 20: one more stride-2 stage (the public `_multi_level8` depth) -> 16x16.
    "kth": {"in_shape": (10, 1, 128, 128), "t_out": 20, "downsamples": 3},
    # [inferred] TaxiBJ 32x32 (paper v3 evaluates it): 8x8 tokens.
    "taxibj": {"in_shape": (4, 2, 32, 32), "t_out": 4},
}


@register_model("s_hr_vqvae", SHRVQVAEConfig, presets=PRESETS)
def s_hr_vqvae(cfg: SHRVQVAEConfig) -> SHRVQVAE:
    """Build S-HR-VQVAE from its config (no published parameter count was retrievable)."""
    return SHRVQVAE(cfg)
