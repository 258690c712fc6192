"""Block bootstrap intervals: data-driven block length (Politis-White) and honest coverage."""

from __future__ import annotations

import numpy as np

from geostp.evaluation.bootstrap import BootstrapConfig, block_means, politis_white, resample_means


def _ar1(phi: float, reps: int, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    e = rng.standard_normal((reps, n))
    x = np.empty_like(e)
    x[:, 0] = e[:, 0] / np.sqrt(1 - phi**2)  # stationary start
    for t in range(1, n):
        x[:, t] = phi * x[:, t - 1] + e[:, t]
    return x


def test_ar1_intervals_cover_the_true_mean():
    """AR(1), lag-1 correlation 0.9, 200 replications of 730 values (two years of 12-hourly inits):
    nominal 95% intervals must cover the true mean 0 in 90-98% of them. ceil(n^(1/3)) blocks do not."""
    x = _ar1(0.9, 200, 730, seed=0)
    boot, lengths = resample_means(x, BootstrapConfig(n_boot=1000))
    lo, hi = np.quantile(boot, [0.025, 0.975], axis=0)
    coverage = np.mean((lo <= 0) & (hi >= 0))
    assert 0.90 <= coverage <= 0.98, coverage
    assert 20 <= np.median(lengths) <= 60  # PW: ~ (G/g)^(2/3) n^(1/3), far above ceil(730^(1/3)) = 10
    old = block_means(x, 10, 1000, np.random.default_rng(0))  # the old default: ceil(n^(1/3)), no widening
    raw = np.quantile(old, [0.025, 0.975], axis=0)
    assert np.mean((raw[0] <= 0) & (raw[1] >= 0)) < 0.80


def test_politis_white_white_noise_and_persistence():
    rng = np.random.default_rng(1)
    white = politis_white(rng.standard_normal((50, 1000)))
    assert np.median(white) <= 3
    persistent = politis_white(_ar1(0.9, 50, 1000, seed=2))
    assert np.median(persistent) > 5 * np.median(white)
    assert politis_white(np.full((2, 100), 3.0)).tolist() == [1, 1]  # no variance: plain bootstrap
    with_nan = np.r_[rng.standard_normal(99), np.nan][None]
    assert politis_white(with_nan).tolist() == [1]


def test_block_means_draws_exactly_n_values_in_circular_blocks():
    x = np.arange(10, dtype=float)[None]
    rng = np.random.default_rng(0)
    means = block_means(x, 4, 500, rng)  # blocks of 4, 4, 2 values
    assert means.shape == (500, 1)
    # every resample is a mean of 10 values of 0..9, so the total is an integer
    np.testing.assert_allclose(means * 10, np.round(means * 10), atol=1e-9)
    assert np.isclose(block_means(np.ones((1, 7)), 3, 20, rng), 1.0).all()
