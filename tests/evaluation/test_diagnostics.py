"""Zonal energy spectra (WB2 definition) and per-grid-point skill maps."""

from __future__ import annotations

import numpy as np
import pytest
import scores.continuous as sc
import xarray as xr

from geostp.evaluation.diagnostics import EARTH_RADIUS_M, spatial_diagnostics, zonal_energy_spectrum


def test_spectrum_of_a_zonal_wave():
    lat, lon = np.array([-45.0, 0.0, 60.0]), np.arange(16) * 22.5
    amp, k0 = 3.0, 4
    field = 5.0 + amp * np.cos(np.deg2rad(k0 * lon))[None, :] * np.ones((3, 1))
    s = zonal_energy_spectrum(xr.DataArray(field, dims=("lat", "lon"), coords={"lat": lat, "lon": lon}))
    circ = 2 * np.pi * EARTH_RADIUS_M * np.cos(np.deg2rad(lat))
    assert s.dims == ("lat", "wavenumber") and s.sizes["wavenumber"] == 9
    np.testing.assert_allclose(s.sel(wavenumber=k0), circ * amp**2 / 2)  # S[k] = 2 C |F[k]|^2, |F[k]| = A/2
    np.testing.assert_allclose(s.sel(wavenumber=0), circ * 25.0)  # S[0] = C |F[0]|^2
    others = s.drop_sel(wavenumber=[0, k0])
    assert float(np.abs(others).max()) < 1e-6 * float(s.max())
    np.testing.assert_allclose(s["wavelength"].sel(wavenumber=k0), circ / k0)
    # Parseval: the energies divided by C sum to the mean square along the circle
    np.testing.assert_allclose((s / circ[:, None]).sum("wavenumber"), (field**2).mean(axis=1))


def test_skill_maps_match_scores_and_blurring_shows_in_the_spectrum(case):
    store, fc, inits, f, o, _ = case
    maps, spectra = spatial_diagnostics({"m": fc}, store, inits)
    rmse = sc.rmse(f, o, reduce_dims=["init_time"])
    bias = sc.additive_bias(f, o, reduce_dims=["init_time"])
    np.testing.assert_allclose(maps["rmse"].sel(model="m", variable="t850"), rmse.transpose("lead_time", "lat", "lon"),
                               rtol=1e-5)
    np.testing.assert_allclose(maps["bias"].sel(model="m", variable="t850"), bias.transpose("lead_time", "lat", "lon"),
                               rtol=1e-4, atol=1e-5)
    truth_spec = zonal_energy_spectrum(o).mean("init_time")
    np.testing.assert_allclose(spectra["energy"].sel(model="truth", variable="t850"),
                               truth_spec.transpose("lead_time", "lat", "wavenumber"), rtol=1e-6)
    # a forecast that is the truth smoothed along longitude (1-2-1 / 3... here 1-1-1 / 3, circular) keeps the
    # long waves and loses the short ones by exactly the filter's response squared at each wavenumber
    smooth = fc.copy()
    smooth["t850"] = ((o.roll(lon=1) + o + o.roll(lon=-1)) / 3).assign_coords(valid_time=fc["valid_time"])
    _, sp = spatial_diagnostics({"smooth": smooth}, store, inits, baselines=())
    e = sp["energy"].sel(variable="t850")
    k = e["wavenumber"].values
    response = ((1 + 2 * np.cos(2 * np.pi * k / 16)) / 3) ** 2
    np.testing.assert_allclose(e.sel(model="smooth") / e.sel(model="truth"), np.broadcast_to(response, e.sel(model="truth").shape),
                               rtol=1e-4, atol=1e-6)  # float32 fields
    assert response[-1] < 0.2 < 0.8 < response[1]
