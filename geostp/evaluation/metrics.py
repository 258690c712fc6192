"""Verification metrics as pure functions over labelled arrays: WeatherBench2 weather scores, OpenSTL frame scores.

Every metric has two stages, as in WeatherBench2: a *per-time* score (one value per init time and lead,
e.g. the area-mean squared error A(e_t^2)) and its mean over init times (RMSE takes the square root
**after** that mean, the ECMWF/WB2 convention). Scorecards bootstrap the per-time values for confidence
intervals. Inputs are aligned with ``join="exact"`` (a grid or time mismatch raises, never becomes NaN)
and reductions use ``skipna=False`` so NaNs stay visible. Dask-backed inputs stay lazy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import xarray as xr

from geostp.errors import DataError, ShapeError
from geostp.registry import Registry

TIME_DIM = "init_time"
LATLON = ("lat", "lon")
FRAME_DIMS = ("channel", "y", "x")


# --------------------------------------------------------------------------------------------- helpers
def lat_weights(lat: xr.DataArray) -> xr.DataArray:
    """WeatherBench2 area weights: sin(upper edge) - sin(lower edge) of each latitude row, mean 1.

    Edges sit halfway between rows, with -90 and +90 outside; on pole-free equiangular grids (5.625 deg)
    this equals WB1's cos(lat)/mean(cos(lat)). Latitude must be ascending, as WB2 requires.
    """
    values = np.asarray(lat, dtype=np.float64)
    if values.ndim != 1 or len(values) == 0:
        raise ShapeError(f"latitude must be a non-empty 1-D coordinate, got shape {values.shape}")
    if len(values) > 1 and not np.all(np.diff(values) > 0):
        raise DataError("latitude must be strictly ascending for area weights; sort it first (ds.sortby('lat'))")
    edges = np.concatenate([[-90.0], (values[:-1] + values[1:]) / 2, [90.0]])
    w = np.sin(np.deg2rad(edges[1:])) - np.sin(np.deg2rad(edges[:-1]))
    name = lat.name if isinstance(lat, xr.DataArray) and lat.name else "lat"
    return xr.DataArray(w / w.mean(), dims=(name,), coords={name: values}, name="lat_weight")


def align(forecast: xr.DataArray, truth: xr.DataArray) -> tuple[xr.DataArray, xr.DataArray]:
    """Align two arrays exactly (identical coordinate labels), with an error that shows both on mismatch."""
    try:
        return xr.align(forecast, truth, join="exact")
    except ValueError:
        diffs = []
        for dim in sorted(set(forecast.dims) & set(truth.dims)):
            if dim in forecast.coords and dim in truth.coords:
                a, b = forecast[dim].values, truth[dim].values
                if a.shape != b.shape or not np.array_equal(a, b):
                    diffs.append(f"{dim}: forecast {_describe(a)} vs truth {_describe(b)}")
        raise ShapeError("forecast and truth are not on the same coordinates; " + "; ".join(diffs)) from None


def _describe(values: np.ndarray) -> str:
    values = np.asarray(values)
    if len(values) == 0:
        return "(empty)"
    return f"{len(values)} values {values[0]} .. {values[-1]}"


def _check_dims(da: xr.DataArray, dims: Sequence[str], what: str) -> None:
    missing = [d for d in dims if d not in da.dims]
    if missing:
        raise ShapeError(f"{what} needs dims {tuple(dims)}; the array has {tuple(da.dims)} (missing {missing})")


def spatial_mean(x: xr.DataArray, weights: xr.DataArray | None = None, dims: Sequence[str] = LATLON) -> xr.DataArray:
    """Area mean A(x) = sum(w x) / sum(w) over `dims` with latitude weights (WB2's weighted average); NaNs propagate.

    Written as one contraction sum(w x) (xarray.dot: no weighted float64 copy of x, 50 MB per call on the forecast
    job's 256-init blocks; NaNs still propagate) over the summed weights, rather than `DataArray.weighted`, which
    also sums the weights of the non-NaN points: the same value when nothing is NaN, twice the work.
    """
    _check_dims(x, dims, "spatial_mean")
    if weights is None and "lat" in dims:
        weights = lat_weights(x["lat"])
    if weights is None:
        return x.mean(list(dims), skipna=False)
    if not set(weights.dims) <= set(dims):
        raise ShapeError(f"weights over {weights.dims} must lie within the averaged dims {tuple(dims)}")
    if weights.ndim > 1 and bool((weights == 0).any()):  # zero-weight cells (NaN there: land in SST) are left out
        x = x.where(weights > 0, 0.0)
    spread = int(np.prod([x.sizes[d] for d in dims if d not in weights.dims]))  # weights repeat along these dims
    return xr.dot(x, weights, dim=list(dims)) / (float(weights.sum()) * spread)


def masked_weights(field: xr.DataArray, mask: xr.DataArray | None) -> xr.DataArray | None:
    """Latitude weights on (lat, lon) with the cells of a static mask (True = masked) set to 0; None without a
    mask (plain latitude weights). Every weather metric then ignores masked cells."""
    if mask is None:
        return None
    return lat_weights(field["lat"]) * (~mask.astype(bool)).astype(np.float64)


# ------------------------------------------------------------------------------- weather: per time
def squared_error_per_time(forecast: xr.DataArray, truth: xr.DataArray, weights: xr.DataArray | None = None,
                           dims: Sequence[str] = LATLON) -> xr.DataArray:
    """A(e_t^2): area-weighted mean squared error of each field (WB2 MSE before the time mean)."""
    f, o = align(forecast, truth)
    return spatial_mean((f - o) ** 2, weights, dims)


def abs_error_per_time(forecast: xr.DataArray, truth: xr.DataArray, weights: xr.DataArray | None = None,
                       dims: Sequence[str] = LATLON) -> xr.DataArray:
    """A(|e_t|): area-weighted mean absolute error of each field."""
    f, o = align(forecast, truth)
    return spatial_mean(abs(f - o), weights, dims)


def error_per_time(forecast: xr.DataArray, truth: xr.DataArray, weights: xr.DataArray | None = None,
                   dims: Sequence[str] = LATLON) -> xr.DataArray:
    """A(e_t): area-weighted mean error (forecast minus truth) of each field."""
    f, o = align(forecast, truth)
    return spatial_mean(f - o, weights, dims)


def acc_per_time(forecast: xr.DataArray, truth: xr.DataArray, climatology: xr.DataArray,
                 weights: xr.DataArray | None = None, dims: Sequence[str] = LATLON) -> xr.DataArray:
    """WB2 anomaly correlation of each field: A(f'o') / sqrt(A(f'^2) A(o'^2)), anomalies against the
    climatology at the same valid time, no removal of the mean anomaly."""
    f, o = align(forecast, truth)
    f, c = align(f, climatology)
    fa, oa = f - c, o - c
    num = spatial_mean(fa * oa, weights, dims)
    den = np.sqrt(spatial_mean(fa**2, weights, dims) * spatial_mean(oa**2, weights, dims))
    return num / den


# ------------------------------------------------------------------------------- weather: time means
def rmse(forecast: xr.DataArray, truth: xr.DataArray, weights: xr.DataArray | None = None,
         time_dim: str = TIME_DIM, dims: Sequence[str] = LATLON) -> xr.DataArray:
    """Latitude-weighted RMSE, WB2 headline convention: sqrt of the time mean of A(e_t^2)."""
    return np.sqrt(squared_error_per_time(forecast, truth, weights, dims).mean(time_dim, skipna=False))


def mse(forecast: xr.DataArray, truth: xr.DataArray, weights: xr.DataArray | None = None,
        time_dim: str = TIME_DIM, dims: Sequence[str] = LATLON) -> xr.DataArray:
    """Latitude-weighted MSE: time mean of A(e_t^2)."""
    return squared_error_per_time(forecast, truth, weights, dims).mean(time_dim, skipna=False)


def mae(forecast: xr.DataArray, truth: xr.DataArray, weights: xr.DataArray | None = None,
        time_dim: str = TIME_DIM, dims: Sequence[str] = LATLON) -> xr.DataArray:
    """Latitude-weighted MAE: time mean of A(|e_t|)."""
    return abs_error_per_time(forecast, truth, weights, dims).mean(time_dim, skipna=False)


def bias(forecast: xr.DataArray, truth: xr.DataArray, weights: xr.DataArray | None = None,
         time_dim: str = TIME_DIM, dims: Sequence[str] = LATLON) -> xr.DataArray:
    """Latitude-weighted mean bias (forecast minus truth): time mean of A(e_t)."""
    return error_per_time(forecast, truth, weights, dims).mean(time_dim, skipna=False)


def acc(forecast: xr.DataArray, truth: xr.DataArray, climatology: xr.DataArray,
        weights: xr.DataArray | None = None, time_dim: str = TIME_DIM, dims: Sequence[str] = LATLON) -> xr.DataArray:
    """WB2 ACC: time mean of the per-field anomaly correlation (climatology at each valid time)."""
    return acc_per_time(forecast, truth, climatology, weights, dims).mean(time_dim, skipna=False)


# ------------------------------------------------------------------------ frames (video, traffic)
def frame_squared_error(forecast: xr.DataArray, truth: xr.DataArray, dims: Sequence[str] = FRAME_DIMS) -> xr.DataArray:
    """OpenSTL per-frame MSE: the **sum** over (channel, y, x) of e^2 (not a mean), per sample and lead."""
    f, o = align(forecast, truth)
    _check_dims(f, dims, "frame_squared_error")
    return ((f - o) ** 2).sum(list(dims), skipna=False)


def frame_abs_error(forecast: xr.DataArray, truth: xr.DataArray, dims: Sequence[str] = FRAME_DIMS) -> xr.DataArray:
    """OpenSTL per-frame MAE: the **sum** over (channel, y, x) of |e|, per sample and lead."""
    f, o = align(forecast, truth)
    _check_dims(f, dims, "frame_abs_error")
    return abs(f - o).sum(list(dims), skipna=False)


def _ssim_frames(f: np.ndarray, o: np.ndarray, data_range: float, win_size: int) -> np.ndarray:
    """SSIM of each (C, H, W) frame in stacks (..., C, H, W) via scikit-image, mean over channels."""
    from skimage.metrics import structural_similarity

    lead = f.shape[:-3]
    f2 = f.reshape(-1, *f.shape[-3:]).astype(np.float64)
    o2 = o.reshape(-1, *o.shape[-3:]).astype(np.float64)
    out = np.empty(len(f2))
    for k in range(len(f2)):
        if np.isnan(f2[k]).any() or np.isnan(o2[k]).any():
            out[k] = np.nan
            continue
        # channel_axis=0 averages the per-channel SSIM, as OpenSTL's multichannel call does.
        out[k] = structural_similarity(o2[k], f2[k], data_range=data_range, channel_axis=0, win_size=win_size,
                                       gaussian_weights=False, use_sample_covariance=True)
    return out.reshape(lead)


def ssim_per_time(forecast: xr.DataArray, truth: xr.DataArray, data_range: float = 2.0,
                  clip: tuple[float, float] | None = (0.0, 1.0), win_size: int = 7,
                  dims: Sequence[str] = FRAME_DIMS) -> xr.DataArray:
    """Per-frame SSIM (scikit-image, uniform 7x7 window, sample covariance, channel mean).

    Defaults reproduce OpenSTL's published numbers: the prediction is clipped to [0, 1] first and
    ``data_range=2`` (the legacy scikit-image default for float images); pass ``data_range=1`` for the
    textbook SSIM of [0, 1] data (lower values).
    """
    f, o = align(forecast, truth)
    _check_dims(f, dims, "ssim")
    if min(f.sizes[dims[-1]], f.sizes[dims[-2]]) < win_size:
        raise ShapeError(f"SSIM needs frames of at least {win_size}x{win_size} pixels, got {f.sizes[dims[-2]]}x{f.sizes[dims[-1]]}")
    if clip is not None:
        f = f.clip(*clip)
    return xr.apply_ufunc(
        _ssim_frames, f, o, input_core_dims=[list(dims), list(dims)], output_core_dims=[[]],
        kwargs={"data_range": float(data_range), "win_size": int(win_size)},
        dask="parallelized", output_dtypes=[np.float64],
    )


def psnr_per_time(forecast: xr.DataArray, truth: xr.DataArray, data_range: float = 1.0,
                  clip: tuple[float, float] | None = (0.0, 1.0), dims: Sequence[str] = FRAME_DIMS) -> xr.DataArray:
    """Per-frame PSNR in dB: 10 log10(data_range^2 / mean_{c,y,x} e^2), prediction clipped first (OpenSTL).

    A perfect frame gives +inf, as in OpenSTL; average PSNR over frames, never PSNR of the mean MSE.
    """
    f, o = align(forecast, truth)
    _check_dims(f, dims, "psnr")
    if clip is not None:
        f = f.clip(*clip)
    m = ((f.astype(np.float64) - o.astype(np.float64)) ** 2).mean(list(dims), skipna=False)
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(data_range**2 / m)


def openstl_mse(forecast: xr.DataArray, truth: xr.DataArray, sample_dims: Sequence[str] = (TIME_DIM,),
                dims: Sequence[str] = FRAME_DIMS) -> xr.DataArray:
    """OpenSTL MSE: per-frame sum of e^2 over (channel, y, x), averaged over samples (and leads if listed)."""
    return frame_squared_error(forecast, truth, dims).mean(list(sample_dims), skipna=False)


def openstl_mae(forecast: xr.DataArray, truth: xr.DataArray, sample_dims: Sequence[str] = (TIME_DIM,),
                dims: Sequence[str] = FRAME_DIMS) -> xr.DataArray:
    """OpenSTL MAE: per-frame sum of |e| over (channel, y, x), averaged over samples (and leads if listed)."""
    return frame_abs_error(forecast, truth, dims).mean(list(sample_dims), skipna=False)


def ssim(forecast: xr.DataArray, truth: xr.DataArray, sample_dims: Sequence[str] = (TIME_DIM,), **kw) -> xr.DataArray:
    """Mean per-frame SSIM over samples (see `ssim_per_time` for the settings)."""
    return ssim_per_time(forecast, truth, **kw).mean(list(sample_dims), skipna=False)


def psnr(forecast: xr.DataArray, truth: xr.DataArray, sample_dims: Sequence[str] = (TIME_DIM,), **kw) -> xr.DataArray:
    """Mean per-frame PSNR over samples (see `psnr_per_time`)."""
    return psnr_per_time(forecast, truth, **kw).mean(list(sample_dims), skipna=False)


# --------------------------------------------------------------------------- registry for scorecards
@dataclass(frozen=True)
class Metric:
    """A score as the scorecard uses it: per-time values, then the time mean (and a root if `root`)."""

    name: str
    per_time: Callable[..., xr.DataArray]
    root: bool = False
    units: str = "data"  # "data" (the variable's units), "1" (dimensionless) or "dB"
    needs_climatology: bool = False
    higher_is_better: bool = False
    description: str = ""
    ensemble: bool = False  # per_time takes the members (a `member` dim); other metrics score the ensemble mean

    def finalize(self, mean: xr.DataArray) -> xr.DataArray:
        """Turn the time mean of the per-time values into the score (sqrt for RMSE)."""
        return np.sqrt(mean) if self.root else mean


WEATHER_METRICS: Registry[Metric] = Registry("weather metric")
FRAME_METRICS: Registry[Metric] = Registry("frame metric")

WEATHER_METRICS.add("rmse", Metric("rmse", lambda f, o, weights=None, **k: squared_error_per_time(f, o, weights), root=True,
                                   description="latitude-weighted RMSE, sqrt after the time mean (WB2)"))
WEATHER_METRICS.add("acc", Metric("acc", lambda f, o, climatology, weights=None, **k: acc_per_time(f, o, climatology, weights),
                                  units="1", needs_climatology=True, higher_is_better=True,
                                  description="anomaly correlation vs the train-split climatology (WB2)"))
WEATHER_METRICS.add("bias", Metric("bias", lambda f, o, weights=None, **k: error_per_time(f, o, weights),
                                   description="latitude-weighted mean of forecast minus truth (WB2)"))
WEATHER_METRICS.add("mae", Metric("mae", lambda f, o, weights=None, **k: abs_error_per_time(f, o, weights),
                                  description="latitude-weighted mean absolute error (WB2)"))

# OpenSTL's WeatherBench convention: plain (unweighted) means over the grid; `weights` carries only a
# region mask. RMSE is the root of the mean squared error over everything averaged (one square root).
OPENSTL_WEATHER_METRICS: Registry[Metric] = Registry("openstl weather metric")
OPENSTL_WEATHER_METRICS.add("mse", Metric("mse", lambda f, o, weights=None, **k: squared_error_per_time(f, o, weights),
                                          units="data^2", description="unweighted MSE over the grid (OpenSTL)"))
OPENSTL_WEATHER_METRICS.add("mae", Metric("mae", lambda f, o, weights=None, **k: abs_error_per_time(f, o, weights),
                                          description="unweighted MAE over the grid (OpenSTL)"))
OPENSTL_WEATHER_METRICS.add("rmse", Metric("rmse", lambda f, o, weights=None, **k: squared_error_per_time(f, o, weights),
                                           root=True, description="root of the unweighted MSE, one square root (OpenSTL)"))
FRAME_METRICS.add("mse", Metric("mse", lambda f, o, **k: frame_squared_error(f, o), units="data^2",
                                description="OpenSTL MSE: per-frame sum over (channel, y, x) of e^2, mean over frames"))
FRAME_METRICS.add("mae", Metric("mae", lambda f, o, **k: frame_abs_error(f, o),
                                description="OpenSTL MAE: per-frame sum over (channel, y, x) of |e|, mean over frames"))
FRAME_METRICS.add("ssim", Metric("ssim", lambda f, o, data_range=1.0, **k: ssim_per_time(f, o, data_range=2.0 * data_range,
                                                                                        clip=(0.0, data_range)),
                                 units="1", higher_is_better=True,
                                 description="per-frame SSIM, OpenSTL settings (7x7 uniform, data_range 2 for [0, 1] data)"))
FRAME_METRICS.add("psnr", Metric("psnr", lambda f, o, data_range=1.0, **k: psnr_per_time(f, o, data_range=data_range,
                                                                                        clip=(0.0, data_range)),
                                 units="dB", higher_is_better=True,
                                 description="per-frame PSNR with peak data_range, prediction clipped, mean over frames"))
