"""Spatial diagnostics of weather forecasts: zonal energy spectra per lead and per-grid-point skill maps.

Spectra follow WeatherBench2's `ZonalEnergySpectrum` definition: along each latitude circle of
circumference C = 2 pi R cos(lat), with F[k] = (1/L) sum_l f[l] exp(-2 pi i k l / L), the energy is
S[0] = C |F[0]|^2 and S[k] = 2 C |F[k]|^2 for k = 1..L//2; wavelength C / k. A forecast that blurs loses
energy at short wavelengths against the truth's spectrum. Skill maps are the RMSE (root of the mean
squared error over init times) and mean bias at every grid point, per model and lead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import xarray as xr

from geostp.errors import ShapeError

EARTH_RADIUS_M = 6_371_000.0  # WB2's mean Earth radius
TRUTH = "truth"


def zonal_energy_spectrum(x: xr.DataArray) -> xr.DataArray:
    """WB2 zonal energy spectrum of `x` along `lon` at every latitude: dims (..., lat, wavenumber)."""
    if "lon" not in x.dims or "lat" not in x.dims:
        raise ShapeError(f"a zonal spectrum needs lat and lon dims; the array has {tuple(x.dims)}")
    n_lon = x.sizes["lon"]
    arr = x.transpose(..., "lon")
    coef = np.fft.rfft(arr.values.astype(np.float64), axis=-1) / n_lon  # F[k], k = 0..L//2
    circ = 2 * np.pi * EARTH_RADIUS_M * np.cos(np.deg2rad(x["lat"].values))  # (lat,)
    energy = 2.0 * np.abs(coef) ** 2
    energy[..., 0] /= 2.0
    dims = [*arr.dims[:-1], "wavenumber"]
    lat_axis = dims.index("lat")
    shape = [1] * len(dims)
    shape[lat_axis] = len(circ)
    energy = energy * circ.reshape(shape)
    k = np.arange(coef.shape[-1])
    with np.errstate(divide="ignore"):
        wavelength = circ[:, None] / np.where(k == 0, np.nan, k)[None, :]
    coords = {c: arr.coords[c] for c in arr.coords if set(arr.coords[c].dims) <= set(dims)}
    out = xr.DataArray(energy, dims=dims, coords={**coords, "wavenumber": k})
    return out.assign_coords(wavelength=(("lat", "wavenumber"), wavelength))


def spatial_diagnostics(forecasts: Mapping[str, xr.Dataset], truth: xr.Dataset, inits: np.ndarray,
                        baselines: Sequence[str] = ("persistence", "climatology"), block: int = 256,
                        climatology: xr.Dataset | None = None) -> tuple[xr.Dataset, xr.Dataset]:
    """(skill maps, spectra) of weather forecasts and baselines on `inits`.

    skill maps: `rmse` and `bias` with dims (model, variable, lead_time, lat, lon);
    spectra: `energy` with dims (model, variable, lead_time, lat, wavenumber), the mean over init times,
    model "truth" being the verifying analysis at the same valid times.
    """
    from geostp.evaluation.baselines import compute_climatology
    from geostp.evaluation.scorecard import candidate_blocks, distinct_names, forecast_variables

    forecasts = distinct_names(forecasts, baselines)
    first = next(iter(forecasts.values()))
    if "lat" not in first.dims:
        raise ShapeError("skill maps and spectra need lat/lon forecasts")
    variables = forecast_variables(first)
    leads = first["lead_time"].values
    if "climatology" in baselines and climatology is None:
        climatology = compute_climatology(truth, variables)
    models = [*forecasts, *baselines]
    sq: dict[tuple[str, str], xr.DataArray] = {}
    err: dict[tuple[str, str], xr.DataArray] = {}
    spec: dict[tuple[str, str], xr.DataArray] = {}
    count = 0
    for _, sel, cands, obs, _ in candidate_blocks(forecasts, truth, inits, variables, len(leads), baselines,
                                                  climatology, block):
        count += len(sel)
        for var in variables:
            o = obs[var].reset_coords(drop=True)
            key = (TRUTH, var)
            spec[key] = spec.get(key, 0) + zonal_energy_spectrum(o).sum("init_time")
            for model in models:
                f = cands[model][var].reset_coords(drop=True)
                if "member" in f.dims:  # an ensemble's maps and spectra are its mean's
                    f = f.mean("member")
                e = f - o
                sq[(model, var)] = sq.get((model, var), 0) + (e**2).sum("init_time")
                err[(model, var)] = err.get((model, var), 0) + e.sum("init_time")
                spec[(model, var)] = spec.get((model, var), 0) + zonal_energy_spectrum(f).sum("init_time")

    def stack(table: dict, names: Sequence[str]) -> xr.DataArray:
        rows = [xr.concat([table[(m, v)] for v in variables], dim="variable") for m in names]
        return xr.concat(rows, dim="model").assign_coords(model=list(names), variable=variables)

    maps = xr.Dataset({"rmse": np.sqrt(stack(sq, models) / count), "bias": stack(err, models) / count})
    maps = maps.transpose("model", "variable", "lead_time", "lat", "lon").assign_coords(lead_time=leads)
    maps.attrs.update({"n_init": count, "definition": "per grid point: rmse = sqrt(mean over init times of e^2), "
                       "bias = mean of e (forecast minus truth)"})
    spectra = xr.Dataset({"energy": stack(spec, [*models, TRUTH]) / count})
    spectra = spectra.transpose("model", "variable", "lead_time", "lat", "wavenumber").assign_coords(lead_time=leads)
    spectra.attrs.update({"n_init": count, "definition": "WB2 ZonalEnergySpectrum: S[0] = C|F0|^2, S[k] = 2C|Fk|^2, "
                          "F = DFT along longitude / L, C = 2 pi R cos(lat); mean over init times"})
    for v in variables:
        units = str(truth[v].attrs.get("units", ""))
        maps.attrs[f"units_{v}"] = units
        spectra.attrs[f"units_{v}"] = f"({units})^2 m" if units else "m"
    return maps, spectra


def band_mean(spectra: xr.Dataset, lat_min: float = 30.0, lat_max: float = 60.0) -> xr.DataArray:
    """Spectrum averaged over latitudes with lat_min <= |lat| <= lat_max (plotting), with wavelength in km."""
    lat = spectra["lat"].values
    sel = (np.abs(lat) >= lat_min) & (np.abs(lat) <= lat_max)
    if not sel.any():
        raise ShapeError(f"no latitude row with {lat_min:g} <= |lat| <= {lat_max:g}")
    sub = spectra["energy"].isel(lat=np.flatnonzero(sel))
    out = sub.mean("lat")
    return out.assign_coords(wavelength_km=("wavenumber", (sub["wavelength"].mean("lat") / 1000).values))
