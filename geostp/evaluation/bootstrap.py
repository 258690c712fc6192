"""Circular block bootstrap of time means, with the block length chosen from the data (Politis-White).

Scores are time means of per-init values; their intervals come from resampling the init times in
circular blocks long enough to keep the autocorrelation of the per-init series. The block length of
each series is the Politis & White (2004) automatic rule for the circular block bootstrap, with the
correction of Patton, Politis & White (2009).

Hand-written rather than `arch.bootstrap.optimal_block_length`: arch pulls in statsmodels and scipy's
optimisers for a 30-line formula, and works on one series at a time, where a scorecard has hundreds
(model x variable x metric x region x lead); this version is vectorised over all of them. Resamples are
means of block sums read from prefix sums, so no (n_boot, n) index matrix is built.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

THRESHOLD_C = 2.0  # Politis-White: autocorrelations below c sqrt(log10(n)/n) count as zero


@dataclass(frozen=True)
class BootstrapConfig:
    """Bootstrap over init times: resamples, interval level, block length (None: Politis-White per series), seed."""

    n_boot: int = 1000
    level: float = 0.95
    block_length: int | None = None
    seed: int = 0


def _flat_top(t: np.ndarray) -> np.ndarray:
    """Politis-Romano trapezoidal flat-top lag window: 1 up to |t| = 1/2, then linear to 0 at |t| = 1."""
    a = np.abs(t)
    return np.where(a <= 0.5, 1.0, np.where(a <= 1.0, 2.0 * (1.0 - a), 0.0))


def _pw_estimates(series: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(block length b, g, G) of each series along the last axis, as in `politis_white`."""
    x = np.asarray(series, dtype=np.float64)
    n = x.shape[-1]
    flat = x.reshape(-1, n)
    b_out, g_out, big_g_out = np.ones(flat.shape[0]), np.zeros(flat.shape[0]), np.zeros(flat.shape[0])
    ok = np.isfinite(flat).all(axis=1)
    if n < 8 or not ok.any():
        return (b_out.astype(np.int64).reshape(x.shape[:-1]), g_out.reshape(x.shape[:-1]),
                big_g_out.reshape(x.shape[:-1]))
    d = flat[ok] - flat[ok].mean(axis=1, keepdims=True)
    k_n = max(5, int(np.ceil(np.sqrt(np.log10(n)))))
    m_max = min(int(np.ceil(np.sqrt(n))) + k_n, n - 1)
    b_max = int(np.ceil(min(3 * np.sqrt(n), n / 3)))
    # autocovariances R(0..m_max) of every series at once (the 1/n estimator, as in the paper)
    acov = np.stack([np.einsum("sn,sn->s", d[:, : n - k], d[:, k:]) / n for k in range(m_max + 1)], axis=1)
    live = acov[:, 0] > 0
    rho = np.divide(acov[:, 1:], acov[:, :1], out=np.zeros_like(acov[:, 1:]), where=live[:, None])
    small = np.abs(rho) < THRESHOLD_C * np.sqrt(np.log10(n) / n)  # lags 1..m_max
    k_run = min(k_n, small.shape[1])
    runs = np.lib.stride_tricks.sliding_window_view(small, k_run, axis=1).all(axis=2)
    m_hat = np.where(runs.any(axis=1), runs.argmax(axis=1), m_max)  # lags before the first all-small run
    big_m = np.minimum(2 * np.maximum(m_hat, 1), m_max)
    lags = np.arange(m_max + 1)
    lam = _flat_top(lags[None, :] / big_m[:, None])  # zero beyond M
    g = acov[:, 0] + 2 * (lam[:, 1:] * acov[:, 1:]).sum(axis=1)
    big_g = 2 * (lam[:, 1:] * lags[None, 1:] * acov[:, 1:]).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        b = (2 * big_g**2 / (4.0 / 3.0 * g**2)) ** (1 / 3) * n ** (1 / 3)
    b = np.where(live & np.isfinite(b), b, 1.0)
    b_out[ok] = np.clip(np.ceil(b), 1, b_max)
    g_out[ok], big_g_out[ok] = g, big_g
    shape = x.shape[:-1]
    return b_out.astype(np.int64).reshape(shape), g_out.reshape(shape), big_g_out.reshape(shape)


def politis_white(series: np.ndarray) -> np.ndarray:
    """Politis-White circular-block-bootstrap block length of each series along the last axis (n values).

    m_hat = smallest lag after which K_N = max(5, ceil(sqrt(log10 n))) autocorrelations all lie within
    2 sqrt(log10(n)/n); bandwidth M = min(2 m_hat, ceil(sqrt n) + K_N); with the flat-top window lam,
    G = sum_{|k|<=M} lam(k/M) |k| R(k), g = sum_{|k|<=M} lam(k/M) R(k), D_CB = 4/3 g^2 and
    b = (2 G^2 / D_CB)^(1/3) n^(1/3), rounded up and clipped to [1, ceil(min(3 sqrt n, n/3))]. Series
    with NaNs or no variance get 1. Shape = series.shape[:-1].
    """
    return _pw_estimates(series)[0]


def widening(g: np.ndarray, big_g: np.ndarray, lengths: np.ndarray, n: int, level: float) -> np.ndarray:
    """Factor applied to the bootstrap spread: CBB variance bias correction times a Student-t quantile ratio.

    The circular block bootstrap variance of a mean is biased low by the factor 1 - G/(b g) (the bias term
    Politis and White balance to choose b); it is undone with the same G, g estimates (the correction is
    capped at 2x). The number of independent blocks, n/b, is small for persistent series, so the
    interval uses the t quantile with n/b - 1 degrees of freedom instead of the normal one.
    """
    from scipy.special import ndtri, stdtrit  # the t and normal quantiles; scipy.stats takes 3x longer to import

    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(g > 0, big_g / (lengths * g), 0.0)
    bias = 1.0 / np.sqrt(np.clip(1.0 - ratio, 0.25, 1.0))
    q = 0.5 + level / 2
    dof = np.maximum(n // np.maximum(lengths, 1) - 1, 1)
    return bias * stdtrit(dof, q) / ndtri(q)


def block_means(series: np.ndarray, length: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Circular block bootstrap means of each series (last axis, n): (n_boot, *series.shape[:-1]).

    Each resample is ceil(n / length) blocks of `length` consecutive values (wrapping around), the last
    one cut so that exactly n values are drawn. All series share the same block starts (paired).
    """
    x = np.asarray(series, dtype=np.float64)
    n = x.shape[-1]
    length = int(min(max(length, 1), n))
    n_blocks = -(-n // length)
    starts = rng.integers(0, n, size=(n_boot, n_blocks))
    sizes = np.full(n_blocks, length)
    sizes[-1] = n - length * (n_blocks - 1)
    doubled = np.concatenate([x, x], axis=-1)
    cs = np.concatenate([np.zeros((*x.shape[:-1], 1)), np.cumsum(doubled, axis=-1)], axis=-1)  # (..., 2n + 1)
    sums = cs[..., starts + sizes] - cs[..., starts]  # (..., n_boot, n_blocks)
    means = sums.sum(axis=-1) / n  # (..., n_boot)
    return np.moveaxis(means, -1, 0)


def resample_means(series: np.ndarray, cfg: BootstrapConfig,
                   design: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Bootstrap distribution of the time mean of each series (last axis, n): ((n_boot, *lead), lengths).

    Block lengths are `cfg.block_length` or Politis-White on `design` (default: the series itself; for
    paired comparisons the difference series); series of one length share block starts, so rows that
    are resampled together stay paired. The spread about the sample mean is widened by `widening`.
    """
    x = np.asarray(series, dtype=np.float64)
    n = x.shape[-1]
    lead = x.shape[:-1]
    pw_lengths, g, big_g = _pw_estimates(x if design is None else np.broadcast_to(design, x.shape))
    lengths = np.full(lead, int(cfg.block_length)) if cfg.block_length else pw_lengths
    lengths = np.minimum(lengths, n)
    out = np.empty((cfg.n_boot, *lead))
    for length in np.unique(lengths):
        sel = lengths == length
        rng = np.random.default_rng([cfg.seed, int(length)])  # same starts for every series of this length
        out[:, sel] = block_means(x[sel], int(length), cfg.n_boot, rng)
    centre = x.mean(axis=-1)
    out = centre + (out - centre) * widening(g, big_g, lengths, n, cfg.level)
    return out, lengths
