"""The embedded sample: a synthetic, WeatherBench-like store (t850, z500, t2m at 5.625 deg, 6-hourly).

Built deterministically in seconds from a fixed seed, no download, cached in the user's cache dir. It is
NOT ERA5: zonal-mean climatologies, seasonal and diurnal cycles in physical units, plus weather made of
eastward-propagating, Rossby-dispersed waves driven by red (AR(1)) noise, so persistence
is beatable and predictability decays with lead time.

How the fields are made (all in numpy, vectorised over space; one short loop over time steps):

* anomalies: three unit-variance random fields, each a zonal Fourier series per latitude row whose
  complex coefficients follow a_{t+1} = M a_t + b_t, M = rho_k exp(-i k c_k(lat) dt / (a cos lat)):
  damped advection east by a zonal jet with the barotropic Rossby phase speed
  c_k = U(lat) - beta / (k^2 / (a cos lat)^2 + l^2) (long waves slow or retrograde, synoptic waves at
  about 10 m/s), rho_k = exp(-dt / tau_k) with tau_k of days for planetary waves and about a day for
  small scales; the forcing b is AR(1) red noise (memory ~1 day), smooth in latitude, so trajectories
  are smooth at short leads (like weather, unlike white-noise-driven AR(1)) and decorrelate over days;
* t850 = climatology(lat, season, land) + sigma_T(lat, season) * F1;
* z500 = Phi_1000 + R_d ln2 (T_layer) (the hypsometric thickness of 1000-500 hPa) with the layer mean
  temperature following t850, plus an independent surface-geopotential field F2: z500 and t850
  anomalies are correlated as in thickness;
* t2m = t850 + a lapse-rate offset, stronger land seasonality, a diurnal cycle in local solar time
  (max at 15 LST, large over land, so it moves west by 90 deg per 6 h) and boundary-layer noise F3.

The land mask is a 32x64 rasterisation of the public-domain Natural Earth 1:50m shaded-relief image
(the copy shipped in cartopy's wheel, classified land/ocean by colour once and embedded below as hex).
Values are quantised like packed GRIB (1/64 K; 1 m2 s-2 = 0.1 gpm), which keeps the store small.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from geostp.cache import cache_dir  # noqa: F401  (also imported from here)
from geostp.errors import ConfigError, StoreError

GENERATOR_VERSION = 1
CATALOG = "sample"
RESOLUTION = 5.625
TIME_STEP = "6h"
DEFAULT_YEARS = (2014, 2018)  # train 2014-2016, valid 2017, test 2018 (last year test, the one before valid)
DEFAULT_T_IN = 12
DEFAULT_T_OUT = 12
NORM_KIND = "zscore"
VARIABLES = ("t850", "z500", "t2m")

R_DRY = 287.05  # gas constant of dry air, J kg-1 K-1
THICKNESS_PER_K = R_DRY * np.log(2.0)  # 1000-500 hPa thickness per K of layer-mean temperature, m2 s-2 K-1
EARTH_RADIUS = 6.371e6  # m
OMEGA = 7.292e-5  # Earth's rotation rate, s-1
YEAR_DAYS = 365.2422  # tropical year
SPIN_UP_STEPS = 480  # >= 120 days of 6-hourly steps run (in whole blocks) and dropped before the first time

CF_ATTRS = {
    "t850": {"units": "K", "long_name": "Temperature at 850 hPa (synthetic)", "standard_name": "air_temperature",
             "pressure_level": 850},
    "z500": {"units": "m**2 s**-2", "standard_name": "geopotential", "pressure_level": 500,
             "long_name": "Geopotential at 500 hPa (synthetic; not height: divide by 9.80665 for gpm)"},
    "t2m": {"units": "K", "long_name": "2 metre temperature (synthetic)", "standard_name": "air_temperature",
            "height_above_ground": 2},
}
QUANTUM = {"t850": 1 / 64, "z500": 1.0, "t2m": 1 / 64}

# Land mask on the 5.625 deg grid (lat ascending rows, lon 0..354.375 columns), np.packbits of the bools.
_LAND_HEX = (
    "fffffffffffffffffffffffffffffffffffffff803fffc1ffffffff80000180100000000000000000000000000000000"
    "0000000000001000000000000000100000000000000018000000006000001c0018000fe000001e001c000fe000001f00"
    "3c8007c000001f803e00010000001f803e00004000003fc03e00288000003f803f00080000003e00ff80000000003803"
    "ff84600000008007ffc6600000060007fffff80000060007fffffc00001fc003c7fff880003fc001b9fffe00003fe001"
    "ffffff80003ff8007fffff80007ffc016fffff8819fe38003fffffff1fff9180080ffff01c3df3f0000070000001c7f0"
    "000000000000fff00000000000000000"
)


@dataclass(frozen=True)
class WaveField:
    """Spectrum, memory and steering of one propagating random field (see the module docstring)."""

    k_cut: float  # zonal wavenumber where the variance spectrum falls off (1 / (1 + (k/k_cut)^4))
    tau_days: float  # decorrelation time of the largest scales, days
    tau_k: float  # tau_k = tau_days / (1 + (k / tau_k)^2) + tau_min_days
    tau_min_days: float
    forcing_tau_days: float  # memory of the red-noise forcing b (0.1: white-ish forcing, plain AR(1))
    steering: float  # multiplies the jet U(lat) (boundary-layer noise is steered less than 850 hPa air)
    lat_smooth_deg: float  # meridional scale of the innovations (Gaussian sigma), degrees


@dataclass(frozen=True)
class SampleParams:
    """The tunable numbers of the weather generator (the climatology's are inline in `sample_dataset`).

    The cache key hashes these and this module's source, so changing either rebuilds the cached sample.
    """

    seed: int = 20140101
    jet_speed: float = 16.0  # m/s, steering jet peak at +-45 deg
    jet_lat: float = 45.0
    jet_width: float = 20.0
    tropical_easterly: float = 6.0  # m/s, westward steering at the equator
    meridional_wavelength_km: float = 5000.0  # sets l in the Rossby phase speed
    t850: WaveField = WaveField(k_cut=7.0, tau_days=9.0, tau_k=7.0, tau_min_days=0.75, forcing_tau_days=1.0,
                                steering=1.0, lat_smooth_deg=8.0)
    phi1000: WaveField = WaveField(k_cut=6.0, tau_days=7.0, tau_k=7.0, tau_min_days=0.75, forcing_tau_days=1.0,
                                   steering=1.0, lat_smooth_deg=9.0)
    boundary: WaveField = WaveField(k_cut=10.0, tau_days=1.5, tau_k=12.0, tau_min_days=0.4, forcing_tau_days=0.1,
                                    steering=0.6, lat_smooth_deg=6.0)


def sample_key(years: tuple[int, int] = DEFAULT_YEARS, params: SampleParams = SampleParams()) -> str:
    """Short hash of the generator (version, source, parameters) and years: names the cached store."""
    blob = json.dumps({"version": GENERATOR_VERSION, "years": list(years), "params": dataclasses.asdict(params)},
                      sort_keys=True)
    # the generator's own source is part of the key: any edit of it rebuilds the cache (seconds)
    return hashlib.sha256(blob.encode() + Path(__file__).read_bytes()).hexdigest()[:10]


def default_path(years: tuple[int, int] = DEFAULT_YEARS) -> Path:
    """Cached location of the sample for `years`."""
    return cache_dir() / f"sample-v{GENERATOR_VERSION}-{years[0]}-{years[1]}-{sample_key(years)}.zarr"


def grid() -> tuple[np.ndarray, np.ndarray]:
    """WeatherBench's 5.625 deg grid: lat = arange(-90 + d/2, 90, d) ascending, lon = arange(0, 360, d)."""
    d = RESOLUTION
    return np.arange(-90 + d / 2, 90, d), np.arange(0, 360, d)


def land_mask() -> np.ndarray:
    """Boolean land mask (32, 64) on `grid()`."""
    bits = np.unpackbits(np.frombuffer(bytes.fromhex(_LAND_HEX), np.uint8))
    return bits.reshape(32, 64).astype(bool)


def sample_splits(years: tuple[int, int]) -> dict[str, str]:
    """Split by year like WeatherBench: last year test, the one before valid, the rest train."""
    y0, y1 = years
    if y1 - y0 < 2:
        raise ConfigError(f"the sample needs at least 3 years (train, valid, test), got {y0}-{y1}")
    train = f"{y0}" if y1 - 2 == y0 else f"{y0}-{y1 - 2}"
    return {"train": train, "valid": f"{y1 - 1}", "test": f"{y1}"}


def _check_years(years: Sequence[int]) -> tuple[int, int]:
    try:
        y0, y1 = (int(y) for y in years)
    except (TypeError, ValueError):
        raise ConfigError(f"years must be (first, last), e.g. (2014, 2018); got {years!r}") from None
    if not 1900 <= y0 <= y1 <= 2200:
        raise ConfigError(f"years must be (first, last) with first <= last, e.g. (2014, 2018); got {years!r}")
    sample_splits((y0, y1))
    return y0, y1


# ----------------------------------------------------------------------------------------------
# generator
# ----------------------------------------------------------------------------------------------


def _smooth(field: np.ndarray, sigma_cells: float) -> np.ndarray:
    """Gaussian smoothing on the grid, periodic in longitude."""
    from scipy.ndimage import gaussian_filter

    return gaussian_filter(field.astype(np.float64), sigma_cells, mode=("nearest", "wrap"))


def _jet(lat: np.ndarray, p: SampleParams) -> np.ndarray:
    """Zonal steering wind U(lat), m/s: jets at +-jet_lat, easterlies in the tropics."""
    return p.jet_speed * np.exp(-(((np.abs(lat) - p.jet_lat) / p.jet_width) ** 2)) - p.tropical_easterly * np.exp(
        -((lat / 15.0) ** 2)
    )


def _propagator(lat: np.ndarray, k: np.ndarray, f: WaveField, p: SampleParams, dt_s: float) -> np.ndarray:
    """Per-step complex factor rho_k exp(-i k dlambda_k(lat)) of the spectral AR(1), shape (lat, k)."""
    coslat = np.cos(np.deg2rad(lat))[:, None]
    beta = 2 * OMEGA * coslat / EARTH_RADIUS
    l2 = (2 * np.pi / (p.meridional_wavelength_km * 1e3)) ** 2
    kx2 = (k[None, :] / (EARTH_RADIUS * coslat)) ** 2
    c = f.steering * _jet(lat, p)[:, None] - beta / (kx2 + l2)  # Rossby phase speed, m/s
    dlon = c * dt_s / (EARTH_RADIUS * coslat)  # radians of longitude per step
    tau = (f.tau_days / (1 + (k / f.tau_k) ** 2) + f.tau_min_days) * 86400.0
    rho = np.exp(-dt_s / tau)[None, :]
    return rho * np.exp(-1j * k[None, :] * dlon)


def _variance(lat: np.ndarray, k: np.ndarray, f: WaveField) -> np.ndarray:
    """Stationary E|a_k|^2 per (lat, k), normalised so the grid-point variance is 1 at every latitude."""
    spec = 1.0 / (1.0 + (k / f.k_cut) ** 4)
    spec[0] *= 0.5  # zonal-mean anomalies are weaker than the waves
    k_lat = 24.0 * np.cos(np.deg2rad(lat)) + 2.0  # fewer resolvable waves near the poles (isotropy)
    v = spec[None, :] * np.exp(-((k[None, :] / k_lat[:, None]) ** 2))
    v[:, -1] = 0.0  # no Nyquist wave
    return 2.0 * v / v.sum(axis=1, keepdims=True)  # var(sum_k Re(a_k e^{ik lon})) = sum_k v_k / 2


def _lat_kernel(lat: np.ndarray, sigma_deg: float) -> np.ndarray:
    """Matrix smoothing white noise along latitude, rows scaled to keep unit variance."""
    w = np.exp(-0.5 * ((lat[:, None] - lat[None, :]) / sigma_deg) ** 2)
    return w / np.sqrt((w**2).sum(axis=1, keepdims=True))


def wave_fields(n_time: int, params: SampleParams = SampleParams(), block: int = 512) -> np.ndarray:
    """The three unit-variance propagating anomaly fields, (n_time, 3, lat, lon) float32.

    Deterministic for a given seed; time is generated in fixed blocks from one random stream, so a
    shorter series is a prefix of a longer one.
    """
    lat, lon = grid()
    nlon = len(lon)
    k = np.arange(nlon // 2 + 1, dtype=np.float64)
    dt_s = pd.Timedelta(TIME_STEP).total_seconds()
    fields = (params.t850, params.phi1000, params.boundary)
    prop = np.stack([_propagator(lat, k, f, params, dt_s) for f in fields])  # M, (F, lat, k)
    phi = np.array([np.exp(-dt_s / (f.forcing_tau_days * 86400.0)) for f in fields])[:, None, None]
    var = np.stack([_variance(lat, k, f) for f in fields])
    # a_{t+1} = M a_t + b_t with red-noise forcing b_{t+1} = phi b_t + e_t: for unit-variance b,
    # var(a) = gain = (1 + 2 Re(phi M / (1 - phi M))) / (1 - |M|^2), so scale e to make var(a) = var.
    gain = (1 + 2 * np.real(phi * prop / (1 - phi * prop))) / (1 - np.abs(prop) ** 2)
    innov_scale = np.sqrt((1 - phi**2) * var / gain).astype(np.float32)
    kern = np.stack([_lat_kernel(lat, f.lat_smooth_deg) for f in fields]).astype(np.float32)  # (F, lat, lat)
    rng = np.random.default_rng(params.seed)
    shape = (len(fields), len(lat), len(k))

    def noise(n: int) -> np.ndarray:  # complex, unit E|z|^2, smooth in latitude
        z = rng.standard_normal((n, *shape[:-1], 2 * shape[-1]), dtype=np.float32)
        z *= np.float32(np.sqrt(0.5))
        z = np.matmul(kern[None], z)  # a real kernel smooths real and imaginary parts alike
        return z.view(np.complex64)  # (n, F, lat, k): interleaved (re, im) pairs

    a = np.zeros(shape, np.complex128)
    b = np.zeros(shape, np.complex128)
    out = np.empty((n_time, len(fields), len(lat), nlon), np.float32)
    spin_up = -(-SPIN_UP_STEPS // block) * block  # whole blocks, discarded: reach the stationary state
    for start in range(-spin_up, n_time, block):
        eta = noise(block) * innov_scale  # always draw whole blocks: prefix-stable stream
        coef = np.empty((block, *shape), np.complex128)
        for i in range(block):  # the recursion itself; everything else is vectorised
            a = prop * a + b
            b = phi * b + eta[i]
            coef[i] = a
        if start + block <= 0:
            continue
        n = min(block, n_time - start)
        coef = coef[:n]
        coef[..., 1:] *= 0.5  # numpy's irfft(N) * N gives a_0 + 2 sum_k Re(a_k e^{ik lon})
        out[start:start + n] = np.fft.irfft(coef, n=nlon, axis=-1) * nlon
    return out


def sample_dataset(years: Sequence[int] = DEFAULT_YEARS, params: SampleParams = SampleParams()) -> xr.Dataset:
    """The synthetic fields in memory as an xarray Dataset with `split` coordinate (no store written)."""
    y0, y1 = _check_years(years)
    lat, lon = grid()
    time = pd.date_range(f"{y0}-01-01", f"{y1}-12-31 18:00", freq=TIME_STEP)
    nt = len(time)
    land = land_mask().astype(np.float64)
    land850 = _smooth(land, 1.0)  # the 850 hPa level feels a smoothed land-sea contrast
    phi = np.deg2rad(lat)[:, None]  # (lat, 1)
    hemi = np.where(lat >= 0, 1.0, -1.0)[:, None]  # +1 north, -1 south
    s2 = np.sin(phi) ** 2
    ext = 1.0 - np.exp(-((lat[:, None] / 35.0) ** 2))  # 0 in the tropics, 1 poleward of ~50 deg

    # Every field is (static map) + (time factor) x (static map) + ...: transcendental functions are
    # taken on the small factors only (float64); the big (time, lat, lon) arrays see only + and * in
    # float32 (fast, and correctly rounded IEEE operations, so no platform-dependent math library).
    days = ((time - pd.Timestamp("2000-01-01")) / pd.Timedelta("1D")).to_numpy()
    summer = np.cos(2 * np.pi * (days - 200.0) / YEAR_DAYS)  # +1 around 19 July: t850 lags the NH solstice
    hour = time.hour.to_numpy() + time.minute.to_numpy() / 60
    solar = hour[:, None] + lon[None, :] / 15.0  # local solar time (time, lon), hours
    diurnal = np.cos(2 * np.pi * (solar - 15.0) / 24.0)  # max at 15 LST; moves west 90 deg per 6 h

    def f32(a: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(np.broadcast_to(a, (len(lat), len(lon))), dtype=np.float32)

    s_t = summer.astype(np.float32)[:, None, None]  # (time, 1, 1)
    d_t = diurnal.astype(np.float32)[:, None, :]  # (time, 1, lon)

    # t850 climatology (K): zonal mean, seasonal cycle (stronger at high latitude), continents
    t_pole = np.where(lat >= 0, 256.0, 252.0)[:, None]
    t_bar = t_pole + (292.0 - t_pole) * np.cos(phi) ** 1.5
    amp = 1.0 + np.where(lat >= 0, 9.0, 5.0)[:, None] * s2
    continents = 3.5 * np.sqrt(np.abs(np.sin(phi))) * land850  # warmer in summer, colder in winter
    t850_clim = f32(t_bar) + s_t * f32(hemi * (amp + continents)) + d_t * f32(0.3 * land)

    # anomalies, amplitude larger in the winter hemisphere's storm track: sigma = a(lat) + s(t) b(lat)
    fields = wave_fields(nt, params)
    winter = -0.25 * hemi * np.minimum(1.0, np.abs(lat[:, None]) / 30.0)
    base_t = 0.8 + 3.4 * ext
    t850_anom = (f32(base_t)[:, :1] + s_t * f32(base_t * winter)[:, :1]) * fields[:, 0]
    t850 = t850_clim + t850_anom

    # z500 from thickness: Phi_1000 + R_d ln2 * (layer-mean temperature), layer mean ~ t850 - 6 K
    abslat = np.abs(lat[:, None])
    phi1000_clim = (900.0 + 600.0 * np.exp(-(((abslat - 32.0) / 12.0) ** 2))
                    - np.where(lat >= 0, 700.0, 1100.0)[:, None] * np.exp(-(((abslat - 62.0) / 10.0) ** 2)))
    base_p = 150.0 + 750.0 * ext * (1.0 - 0.4 * s2**4)  # surface highs/lows weaker right at the poles
    k = np.float32(THICKNESS_PER_K)
    z500 = (f32(phi1000_clim - 6.0 * THICKNESS_PER_K) + k * t850_clim + (k * np.float32(0.9)) * t850_anom
            + (f32(base_p)[:, :1] + s_t * f32(base_p * winter)[:, :1]) * fields[:, 1])

    # t2m: lapse-rate offset, stronger seasonality and diurnal cycle over land, boundary-layer noise
    offset = 3.0 + 5.5 * np.cos(phi) ** 2
    diurnal_amp = 0.4 + land * (3.0 + 2.0 * np.cos(phi))
    t2m = (t850_clim + f32(offset) + s_t * f32(4.0 * np.abs(np.sin(phi)) * land * hemi)
           + d_t * f32(diurnal_amp) + (s_t * d_t) * f32(0.3 * hemi * diurnal_amp)
           + f32(0.5 + 0.4 * land) * t850_anom + f32((0.6 + 1.2 * land) * (0.6 + 0.8 * s2)) * fields[:, 2])
    del fields, t850_clim, t850_anom

    data = {}
    for name, arr in zip(VARIABLES, (t850, z500, t2m)):
        inv_q = np.float32(1 / QUANTUM[name])  # a power of two: scaling is exact
        arr *= inv_q
        np.round(arr, out=arr)
        arr /= inv_q
        data[name] = (("time", "lat", "lon"), arr, dict(CF_ATTRS[name]))
    split = np.full(nt, "train", dtype="<U5")
    split[time.year == y1 - 1] = "valid"
    split[time.year == y1] = "test"
    ds = xr.Dataset(
        data,
        coords={
            "time": time,
            "lat": ("lat", lat, {"units": "degrees_north", "standard_name": "latitude", "long_name": "latitude"}),
            "lon": ("lon", lon, {"units": "degrees_east", "standard_name": "longitude", "long_name": "longitude"}),
            "split": ("time", split),
        },
    )
    ds.attrs.update(sample_attrs((y0, y1), params))
    return ds


def sample_attrs(years: tuple[int, int], params: SampleParams = SampleParams()) -> dict[str, object]:
    """Global attributes saying plainly what the sample is."""
    return {
        "title": "geostp embedded sample: SYNTHETIC WeatherBench-like fields (not ERA5)",
        "synthetic": 1,  # an int flag: NetCDF attributes have no boolean type
        "description": (
            "Synthetic data made by geostp.data.sample, not reanalysis: t850, z500 and t2m on the "
            "WeatherBench 5.625 deg grid, 6-hourly, with zonal-mean climatologies, seasonal and diurnal "
            "cycles, and eastward-propagating Rossby-dispersed waves driven by red noise, so they decorrelate "
            "over days. "
            "z500 follows t850 through the 1000-500 hPa thickness. For testing and demonstrating the "
            "pipeline only; scores on it say nothing about skill on real weather."
        ),
        "sample_generator_version": GENERATOR_VERSION,
        "sample_key": sample_key(years, params),
        "sample_seed": params.seed,
        "sample_years": f"{years[0]}-{years[1]}",
        "Conventions": "CF-1.10",
    }


def _reusable(path: Path, key: str) -> bool:
    """True when `path` is a complete sample store made by this generator with these settings."""
    from geostp.data.store import open_store

    try:
        ds = open_store(path)
    except StoreError:
        return False
    return ds.attrs.get("catalog") == CATALOG and ds.attrs.get("sample_key") == key


def default_years() -> tuple[int, int]:
    """Years of the sample: $GEOSTP_SAMPLE_YEARS (e.g. 2016-2018, a smaller sample for quick trials), else 2014-2018."""
    env = os.environ.get("GEOSTP_SAMPLE_YEARS", "").strip()
    if not env:
        return DEFAULT_YEARS
    try:
        first, last = (int(y) for y in env.split("-"))
    except ValueError:
        raise ConfigError(f"GEOSTP_SAMPLE_YEARS={env!r} is not FIRST-LAST, e.g. 2016-2018 (or unset it)") from None
    return _check_years((first, last))


def build_sample(
    out: str | Path | None = None,
    overwrite: bool = False,
    years: Sequence[int] | None = None,
    progress: bool = True,
    wait: bool = False,
) -> Path:
    """Build (or reuse) the embedded sample store and return its path.

    `out=None` uses the cache (`default_path(years)`; a complete cached store is reused, a broken one
    rebuilt). An existing `out` is reused when it is this very sample, else refused without `overwrite`.
    `years=None` means `default_years()`.
    The build holds the target's lock; the cached sample always waits for another builder (then reuses its
    store), an explicit `out` waits only with `wait`.
    """
    from geostp.locks import target_lock

    yrs = _check_years(default_years() if years is None else years)
    path = default_path(yrs) if out is None else Path(out).expanduser()
    if path.exists() and not overwrite and _reusable(path, sample_key(yrs)):
        return path  # the common case, without touching the lock
    with target_lock(path, wait=wait or out is None):
        return _build_sample(out, overwrite, yrs, progress)


def _build_sample(out: str | Path | None, overwrite: bool, years: Sequence[int], progress: bool) -> Path:
    """`build_sample` under the target's lock: reuse, refuse or (re)build."""
    from geostp.data.store import write_store
    from geostp.io import provenance

    yrs = _check_years(default_years() if years is None else years)
    key = sample_key(yrs)
    cached = out is None
    path = default_path(yrs) if cached else Path(out).expanduser()
    if path.exists() and not overwrite:
        if _reusable(path, key):
            return path
        if not cached:
            raise StoreError(
                f"{path} exists and is not this sample (generator v{GENERATOR_VERSION}, years {yrs[0]}-{yrs[1]}); "
                "pass --overwrite to replace it (it is kept until the new one is complete), or choose another --out"
            )
    ds = sample_dataset(yrs)
    write_store(
        ds, path, catalog=CATALOG, time_step=TIME_STEP, norm_kind=NORM_KIND,
        default_t_in=DEFAULT_T_IN, default_t_out=DEFAULT_T_OUT, splits=sample_splits(yrs),
        provenance=provenance(source="geostp.data.sample (synthetic)", generator_version=GENERATOR_VERSION,
                              seed=SampleParams().seed, years=list(yrs)),
        overwrite=cached or overwrite, progress=progress,
        extra_attrs=dict(ds.attrs),
    )
    return path
