"""Probabilistic scores of ensemble forecasts (a `member` dimension), as pure functions over labelled arrays.

Definitions follow WeatherBench2's probabilistic metrics: the fair CRPS (Ferro 2014; unbiased for the CRPS
of the distribution the members are drawn from), the ensemble-mean RMSE, the spread sqrt(A(var_t)) with the
members' unbiased variance, the spread-skill ratio with the sqrt((m + 1) / m) finite-ensemble correction
(Fortin et al. 2014: a perfectly reliable m-member ensemble then scores 1), rank histograms and the fair
Brier score of threshold exceedance. Per-time scores come first and are averaged over init times after,
as in geostp.evaluation.metrics, so scorecards bootstrap them the same way.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from geostp.errors import ShapeError
from geostp.evaluation.metrics import (FRAME_DIMS, FRAME_METRICS, LATLON, TIME_DIM, WEATHER_METRICS, Metric, align,
                                      spatial_mean, ssim_per_time)

MEMBER_DIM = "member"


def _members(forecast: xr.DataArray, member_dim: str) -> int:
    if member_dim not in forecast.dims:
        raise ShapeError(f"an ensemble score needs a {member_dim!r} dimension; the forecast has {tuple(forecast.dims)}. "
                         "Forecast with --members N (N >= 2)")
    m = forecast.sizes[member_dim]
    if m < 2:
        raise ShapeError(f"an ensemble score needs at least 2 members, the forecast has {m}")
    return m


def crps_fair(forecast: xr.DataArray, truth: xr.DataArray, member_dim: str = MEMBER_DIM) -> xr.DataArray:
    """Pointwise fair CRPS: mean_i |x_i - y| - sum_{i,j} |x_i - x_j| / (2 m (m - 1)).

    The pair sum uses the sorted members, sum_{i,j}|x_i - x_j| = 2 sum_k (2k - m - 1) x_(k), which is
    O(m log m) instead of the O(m^2) pair table (written out here because it is a one-liner on sorted data).
    """
    m = _members(forecast, member_dim)
    f, o = align(forecast, truth)
    skill = abs(f - o).mean(member_dim, skipna=False)
    ranks = xr.DataArray(2.0 * np.arange(1, m + 1) - m - 1, dims=(member_dim,))
    ordered = xr.apply_ufunc(np.sort, f, input_core_dims=[[member_dim]], output_core_dims=[[member_dim]],
                             kwargs={"axis": -1}, dask="parallelized", output_dtypes=[f.dtype])
    pairs = 2.0 * (ordered * ranks).sum(member_dim, skipna=False)
    return skill - pairs / (2.0 * m * (m - 1))


def crps_per_time(forecast: xr.DataArray, truth: xr.DataArray, weights: xr.DataArray | None = None,
                  dims: Sequence[str] = LATLON, member_dim: str = MEMBER_DIM) -> xr.DataArray:
    """A(CRPS_fair): area-weighted mean fair CRPS of each field."""
    return spatial_mean(crps_fair(forecast, truth, member_dim), weights, dims)


def ensemble_mean_se_per_time(forecast: xr.DataArray, truth: xr.DataArray, weights: xr.DataArray | None = None,
                              dims: Sequence[str] = LATLON, member_dim: str = MEMBER_DIM) -> xr.DataArray:
    """A((mean_i x_i - y)^2): squared error of the ensemble mean (its RMSE is the sqrt of the time mean)."""
    _members(forecast, member_dim)
    f, o = align(forecast.mean(member_dim, skipna=False), truth)
    return spatial_mean((f - o) ** 2, weights, dims)


def variance_per_time(forecast: xr.DataArray, weights: xr.DataArray | None = None, dims: Sequence[str] = LATLON,
                      member_dim: str = MEMBER_DIM) -> xr.DataArray:
    """A(var_i x_i): area-weighted mean of the members' unbiased variance (ddof 1)."""
    _members(forecast, member_dim)
    return spatial_mean(forecast.var(member_dim, ddof=1, skipna=False), weights, dims)


def spread_skill(forecast: xr.DataArray, truth: xr.DataArray, weights: xr.DataArray | None = None,
                 time_dim: str = TIME_DIM, dims: Sequence[str] = LATLON, member_dim: str = MEMBER_DIM) -> xr.Dataset:
    """Ensemble-mean RMSE (skill), spread and the corrected spread-skill ratio sqrt((m+1)/m) spread / skill."""
    m = _members(forecast, member_dim)
    skill = np.sqrt(ensemble_mean_se_per_time(forecast, truth, weights, dims, member_dim).mean(time_dim, skipna=False))
    spread = np.sqrt(variance_per_time(forecast, weights, dims, member_dim).mean(time_dim, skipna=False))
    return xr.Dataset({"ensemble_mean_rmse": skill, "spread": spread,
                       "spread_skill_ratio": np.sqrt((m + 1) / m) * spread / skill})


def crps(forecast: xr.DataArray, truth: xr.DataArray, weights: xr.DataArray | None = None,
         time_dim: str = TIME_DIM, dims: Sequence[str] = LATLON, member_dim: str = MEMBER_DIM) -> xr.DataArray:
    """Time mean of A(CRPS_fair)."""
    return crps_per_time(forecast, truth, weights, dims, member_dim).mean(time_dim, skipna=False)


def rank_histogram(forecast: xr.DataArray, truth: xr.DataArray, reduce_dims: Sequence[str] | None = None,
                   member_dim: str = MEMBER_DIM, seed: int = 0) -> xr.DataArray:
    """Relative frequency of the truth's rank among the members (0..m) over `reduce_dims` (default: all but
    member and lead); ties are broken uniformly at random (seeded), so a discrete field is not biased."""
    m = _members(forecast, member_dim)
    f, o = align(forecast, truth)
    below = (f < o).sum(member_dim)
    ties = (f == o).sum(member_dim)
    rng = np.random.default_rng(seed)
    extra = xr.DataArray(np.floor(rng.random(below.shape) * (ties.values + 1)), dims=below.dims, coords=below.coords)
    rank = below + extra
    keep = [d for d in rank.dims if reduce_dims is not None and d not in reduce_dims]
    if reduce_dims is None:
        keep = [d for d in rank.dims if d == "lead_time"]
    ranks = xr.DataArray(np.arange(m + 1), dims=("rank",))
    counts = (rank == ranks).sum([d for d in rank.dims if d not in keep])
    return counts / counts.sum("rank")


def brier_fair_per_time(forecast: xr.DataArray, truth: xr.DataArray, threshold: xr.DataArray | float,
                        weights: xr.DataArray | None = None, dims: Sequence[str] = LATLON,
                        member_dim: str = MEMBER_DIM) -> xr.DataArray:
    """A(fair Brier score) of the event value > threshold: (p - o)^2 - p (1 - p) / (m - 1), p the members' fraction
    (Ferro 2014: unbiased for the Brier score of the underlying distribution)."""
    m = _members(forecast, member_dim)
    f, o = align(forecast, truth)
    p = (f > threshold).mean(member_dim)
    event = (o > threshold).astype(float)
    return spatial_mean((p - event) ** 2 - p * (1 - p) / (m - 1), weights, dims)


def crps_any_per_time(forecast: xr.DataArray, truth: xr.DataArray, weights: xr.DataArray | None = None,
                      dims: Sequence[str] = LATLON, member_dim: str = MEMBER_DIM) -> xr.DataArray:
    """A(CRPS): the fair CRPS of an ensemble, or the absolute error of a deterministic forecast (the CRPS of a
    point mass), so ensembles and baselines share one column."""
    if member_dim in forecast.dims:
        return crps_per_time(forecast, truth, weights, dims, member_dim)
    f, o = align(forecast, truth)
    return spatial_mean(abs(f - o), weights, dims)


def corrected_variance_per_time(forecast: xr.DataArray, weights: xr.DataArray | None = None,
                                dims: Sequence[str] = LATLON, member_dim: str = MEMBER_DIM) -> xr.DataArray:
    """(m + 1) / m A(var): its root after the time mean is the spread that equals the ensemble-mean RMSE for a
    reliable ensemble; zero for a deterministic forecast."""
    if member_dim not in forecast.dims:
        return spatial_mean(xr.zeros_like(forecast), weights, dims)
    m = forecast.sizes[member_dim]
    return (m + 1) / m * variance_per_time(forecast, weights, dims, member_dim)


WEATHER_METRICS.add("crps", Metric("crps", lambda f, o, weights=None, **k: crps_any_per_time(f, o, weights),
                                   ensemble=True,
                                   description="latitude-weighted fair CRPS (MAE for a deterministic forecast; WB2)"))
WEATHER_METRICS.add("spread", Metric("spread", lambda f, o, weights=None, **k: corrected_variance_per_time(f, weights),
                                     root=True, ensemble=True,
                                     description="ensemble spread sqrt((m+1)/m mean variance); spread/rmse = "
                                                 "spread-skill ratio (1 = reliable)"))


# ------------------------------------------------------------------------ frames (video, traffic)
def frame_crps_per_time(forecast: xr.DataArray, truth: xr.DataArray, dims: Sequence[str] = FRAME_DIMS,
                        member_dim: str = MEMBER_DIM) -> xr.DataArray:
    """Per-pixel fair CRPS averaged over (channel, y, x) of each frame; the absolute error of a deterministic
    forecast (the CRPS of a point mass), so baselines share the column."""
    if member_dim in forecast.dims:
        return crps_fair(forecast, truth, member_dim).mean(list(dims), skipna=False)
    f, o = align(forecast, truth)
    return abs(f - o).mean(list(dims), skipna=False)


def best_of_n_ssim_per_time(forecast: xr.DataArray, truth: xr.DataArray, lead_dim: str = "lead_time",
                            member_dim: str = MEMBER_DIM, **kw) -> xr.DataArray:
    """Per-frame SSIM of the best member of each sample: the member with the highest SSIM averaged over the
    sample's leads (as SVG, Denton & Fergus 2018, and later stochastic video papers report); plain SSIM of a
    deterministic forecast. `kw` go to `ssim_per_time`."""
    f, o = align(forecast, truth)
    per_member = ssim_per_time(f, o.broadcast_like(f).transpose(*f.dims), **kw)  # its loop wants equal shapes
    if member_dim not in per_member.dims:
        return per_member
    best = per_member.mean(lead_dim, skipna=False).fillna(-np.inf).argmax(member_dim)
    return per_member.isel({member_dim: best})


FRAME_METRICS.add("crps", Metric("crps", lambda f, o, **k: frame_crps_per_time(f, o), ensemble=True,
                                 description="per-pixel fair CRPS, mean over (channel, y, x) and frames (MAE per "
                                             "pixel for a deterministic forecast)"))
FRAME_METRICS.add("ssim_best", Metric("ssim_best", lambda f, o, data_range=1.0, **k: best_of_n_ssim_per_time(
    f, o, data_range=2.0 * data_range, clip=(0.0, data_range)), units="1", higher_is_better=True, ensemble=True,
    description="best-of-N SSIM: per-frame SSIM of the member with the best mean SSIM over the sample's leads "
                "(SVG); plain SSIM for a deterministic forecast"))
