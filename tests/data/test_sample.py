"""The embedded synthetic sample: deterministic, labelled synthetic, plausible physics, beatable persistence."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import geostp.data.sample as sample_mod
from geostp.data.sample import (
    DEFAULT_T_IN, DEFAULT_T_OUT, DEFAULT_YEARS, TIME_STEP, build_sample, land_mask, sample_splits, wave_fields,
)
from geostp.data.store import chunk_files, open_store
from geostp.errors import ConfigError, StoreError

SHORT = (2014, 2016)  # the shortest sample: train 2014, valid 2015, test 2016
DATA_VARS = ("t850", "z500", "t2m")


@pytest.fixture(scope="module")
def cached(tmp_path_factory):
    """The short sample built through the cache (GEOSTP_CACHE_DIR pointing at a temporary folder)."""
    mp = pytest.MonkeyPatch()
    cache = tmp_path_factory.mktemp("cache")
    mp.setenv("GEOSTP_CACHE_DIR", str(cache))
    path = build_sample(years=SHORT, progress=False)
    yield path, cache
    mp.undo()


@pytest.fixture(scope="module")
def short(cached):
    """The short sample's dataset (read back from the store) and its values as float64."""
    ds = open_store(cached[0]).load()
    return ds, {v: ds[v].values.astype(np.float64) for v in DATA_VARS}


def _chunk_bytes(store: Path) -> dict[str, bytes]:
    return {str(p.relative_to(store)): p.read_bytes()
            for v in (*DATA_VARS, "time", "lat", "lon", "split", "segment") for p in sorted((store / v).rglob("*")) if p.is_file()}


def _weights(lat: np.ndarray) -> np.ndarray:
    w = np.cos(np.deg2rad(lat))
    return w / w.mean()


def _rmse(pred: np.ndarray, truth: np.ndarray, w: np.ndarray) -> float:
    return float(np.sqrt((((pred - truth) ** 2).mean(axis=(0, 2)) * w).mean()))


# --- store, cache, attributes, CLI ------------------------------------------------------------------


def test_cached_build_is_a_labelled_synthetic_store_and_is_reused(cached):
    path, cache = cached
    assert path.parent == cache and path.name.startswith(f"sample-v{sample_mod.GENERATOR_VERSION}-2014-2016-")
    ds = open_store(path)
    assert ds.attrs["synthetic"] == 1
    assert "SYNTHETIC" in ds.attrs["title"] and "not ERA5" in ds.attrs["title"]
    assert "not reanalysis" in ds.attrs["description"]
    assert ds.attrs["catalog"] == "sample" and ds.attrs["time_step"] == TIME_STEP
    assert (ds.attrs["default_t_in"], ds.attrs["default_t_out"]) == (DEFAULT_T_IN, DEFAULT_T_OUT)
    assert list(ds.attrs["variables"]) == list(DATA_VARS)
    assert json.loads(ds.attrs["splits"]) == {"train": "2014", "valid": "2015", "test": "2016"}
    assert {v: ds[v].attrs["units"] for v in DATA_VARS} == {"t850": "K", "z500": "m**2 s**-2", "t2m": "K"}
    assert all(ds[v].dtype == np.float32 and ds[v].attrs["norm_kind"] == "zscore" for v in DATA_VARS)
    before = path.stat().st_mtime_ns
    assert build_sample(years=SHORT, progress=False) == path and path.stat().st_mtime_ns == before  # reused


def test_grid_and_time_axis_follow_weatherbench(short):
    ds, _ = short
    d = 5.625
    np.testing.assert_array_equal(ds.lat.values, np.arange(-90 + d / 2, 90, d))
    np.testing.assert_array_equal(ds.lon.values, np.arange(0, 360, d))
    assert ds.sizes == {"time": 4 * (365 + 365 + 366), "lat": 32, "lon": 64}
    assert (np.diff(ds.time.values) == np.timedelta64(6, "h")).all()
    assert ds.time.values[0] == np.datetime64("2014-01-01T00") and ds.time.values[-1] == np.datetime64("2016-12-31T18")
    assert 0.25 < land_mask().mean() < 0.40 and land_mask()[:2].all() and not land_mask()[15:17, 30:40].any()


def test_cli_builds_summarises_and_matches_the_library_bytes(cached, tmp_path, monkeypatch):
    from geostp.cli.main import cli

    monkeypatch.setattr(sample_mod, "build_sample", functools.partial(sample_mod.build_sample, years=SHORT))
    out = tmp_path / "cli.zarr"
    res = CliRunner().invoke(cli, ["data", "sample", "--out", str(out)])
    assert res.exit_code == 0, res.output
    for text in ("catalog: sample", "32 x 64", "step 6h", "t850", "[K]", "z500", "[m**2 s**-2]", "t2m",
                 "train", "valid", "test", "synthetic: True", "not ERA5"):
        assert text in res.output, text
    assert _chunk_bytes(out) == _chunk_bytes(cached[0])  # same bytes on every build
    # a second call reuses the store; a foreign directory at --out is refused without --overwrite
    assert CliRunner().invoke(cli, ["data", "sample", "--out", str(out)]).exit_code == 0
    other = tmp_path / "other.zarr"
    other.mkdir()
    with pytest.raises(StoreError, match="--overwrite"):
        build_sample(out=other, years=SHORT, progress=False)


def test_broken_cache_is_rebuilt_and_bad_years_refused(cached):
    path, _ = cached
    victim = chunk_files(path / "t850")[0]  # a v2 chunk or a v3 shard file
    data = victim.read_bytes()
    victim.unlink()  # a chunk missing: open_store calls it corrupt, the cache rebuilds it
    with pytest.raises(StoreError, match="corrupt"):
        open_store(path)
    assert build_sample(years=SHORT, progress=False) == path
    assert victim.read_bytes() == data
    with pytest.raises(ConfigError, match="at least 3 years"):
        sample_splits((2014, 2015))
    with pytest.raises(ConfigError, match="first, last"):
        build_sample(years=(2018,), progress=False)


def test_catalog_yaml_agrees_with_the_generator():
    from geostp.catalogs import load_catalog

    spec = load_catalog("sample")
    assert spec.splits == sample_splits(DEFAULT_YEARS) == {"train": "2014-2016", "valid": "2017", "test": "2018"}
    assert (spec.time_step, spec.default_t_in, spec.default_t_out, spec.normalization) == (
        TIME_STEP, DEFAULT_T_IN, DEFAULT_T_OUT, "zscore")
    assert spec.grid == "latlon" and spec.default_variables == list(DATA_VARS)
    assert tuple(spec.options["years"]) == DEFAULT_YEARS
    for v in DATA_VARS:
        assert spec.variables[v].units == sample_mod.CF_ATTRS[v]["units"]


# --- physics ----------------------------------------------------------------------------------------


def test_splits_are_whole_disjoint_years_in_order(short):
    ds, _ = short
    years = ds.time.dt.year.values
    split = ds.split.values
    by_year = {int(y): set(split[years == y]) for y in np.unique(years)}
    assert by_year == {2014: {"train"}, 2015: {"valid"}, 2016: {"test"}}


def test_zonal_mean_climatology_is_plausible(short):
    ds, a = short
    lat = ds.lat.values
    zm = {v: a[v].mean(axis=(0, 2)) for v in DATA_VARS}
    tropics, poles = np.abs(lat) < 12, np.abs(lat) > 80
    assert (285 < zm["t850"][tropics]).all() and (zm["t850"][tropics] < 300).all()
    assert (240 < zm["t850"][poles]).all() and (zm["t850"][poles] < 262).all()
    gpm = zm["z500"] / 9.80665  # geopotential, not height
    assert (5750 < gpm[tropics]).all() and (gpm[tropics] < 5950).all()
    assert (5000 < gpm[poles]).all() and (gpm[poles] < 5300).all()
    assert (zm["t2m"] > zm["t850"]).all() and (zm["t2m"][tropics] > 296).all()
    for v in DATA_VARS:  # warm/high tropics, cold/low poles: zonal means peak within 20 deg of the equator
        assert abs(lat[np.argmax(zm[v])]) < 20 and zm[v].max() - zm[v].min() > (5000 if v == "z500" else 25)


def test_seasonal_cycle_is_opposite_per_hemisphere_and_stronger_poleward(short):
    ds, a = short
    lat, month = ds.lat.values, ds.time.dt.month.values
    for v in DATA_VARS:
        jul_minus_jan = a[v][month == 7].mean(axis=(0, 2)) - a[v][month == 1].mean(axis=(0, 2))
        scale = 100.0 if v == "z500" else 1.0
        assert (jul_minus_jan[lat > 40] > 5 * scale).all() and (jul_minus_jan[lat < -40] < -5 * scale).all(), v
        amp = np.abs(jul_minus_jan)
        assert amp[np.abs(lat) > 60].mean() > 3 * amp[np.abs(lat) < 10].mean(), v


def test_t2m_diurnal_cycle_follows_local_solar_time(short):
    ds, a = short
    hour = ds.time.dt.hour.values
    w = _weights(ds.lat.values)[:, None] * land_mask()
    comp = np.stack([(a["t2m"][hour == h].mean(0) * w).sum(0) for h in (0, 6, 12, 18)])
    comp -= comp.mean(0)
    phase = -np.angle(np.fft.rfft(comp, axis=-1)[:, 1], deg=True)  # longitude of the warm half of the day
    step = (np.diff(phase) + 180) % 360 - 180
    np.testing.assert_allclose(step, -90, atol=30)  # moves west 90 deg every 6 h (uneven land: +-30)
    # warmest near 15 local solar time: at 12 UTC that is 45 E, so 45 E is warmer than 225 E
    assert comp[2, 8] > comp[2, 40]


def test_wave_fields_are_unit_variance_and_a_shorter_series_is_a_prefix():
    long = wave_fields(1500)
    np.testing.assert_array_equal(wave_fields(700), long[:700])
    std = long.std(axis=(0, 3))  # (field, lat): normalised to 1 at every latitude, up to sampling
    assert (np.abs(std - 1) < 0.15).all(), np.round(std, 2)


def _anomaly(x: np.ndarray, window: int = 120) -> np.ndarray:
    from scipy.ndimage import uniform_filter1d

    return x - uniform_filter1d(x, window, axis=0, mode="nearest")  # minus a 30-day running mean


def test_midlatitude_waves_travel_east_and_z500_follows_thickness(short):
    ds, a = short
    lat = ds.lat.values
    z = _anomaly(a["z500"])
    lag = 4  # 24 h
    for target in (45.0, -45.0):
        x = z[:, np.argmin(np.abs(lat - target))]
        shifts = np.arange(-8, 9)
        cc = [np.mean([np.corrcoef(x[:-lag, i], x[lag:, (i + s) % 64])[0, 1] for i in range(0, 64, 4)]) for s in shifts]
        best = shifts[int(np.argmax(cc))]
        assert 1 <= best <= 4, (target, best, np.round(cc, 2))  # 5.6-22.5 deg/day east: ~5-20 m/s at 45 deg
        assert max(cc) > cc[8] + 0.1  # clearly better than no shift
    mid = (np.abs(lat) > 35) & (np.abs(lat) < 65)
    t = _anomaly(a["t850"])
    assert np.corrcoef(t[:, mid].ravel(), z[:, mid].ravel())[0, 1] > 0.5


def _lstsq_forecast(F: np.ndarray, train: np.ndarray, test: np.ndarray, lead: int) -> np.ndarray:
    """Per (lat, zonal wavenumber) complex least squares of F[t + lead] on F[t], F[t - 1] and 1."""
    def design(idx: np.ndarray) -> list[np.ndarray]:
        return [F[idx], F[idx - 1], np.ones(F[idx].shape, F.dtype)]

    X, y = design(train), F[train + lead]
    xtx = np.stack([np.stack([(xi.conj() * xj).sum(0) for xj in X], -1) for xi in X], -2)  # (lat, k, 3, 3)
    xty = np.stack([(xi.conj() * y).sum(0) for xi in X], -1)[..., None]
    coef = np.linalg.solve(xtx, xty)[..., 0]
    return sum(c * xi for c, xi in zip(np.moveaxis(coef, -1, 0), design(test)))


def test_persistence_is_beatable_and_predictability_decays(short):
    ds, a = short
    split = ds.split.values
    w = _weights(ds.lat.values)
    leads = (1, 4, 12)  # 6 h, 24 h, 72 h
    for v in ("t850", "z500"):
        x = a[v]
        F = np.fft.rfft(x, axis=-1)
        errs = []
        for lead in leads:
            idx = np.arange(1, len(x) - lead)
            train = idx[(split[idx] == "train") & (split[idx + lead] == "train")]
            test = idx[(split[idx] == "test") & (split[idx + lead] == "test")]
            pred = np.fft.irfft(_lstsq_forecast(F, train, test, lead), n=64, axis=-1)
            skill, persistence = _rmse(pred, x[test + lead], w), _rmse(x[test], x[test + lead], w)
            assert skill < 0.75 * persistence, (v, lead, skill, persistence)
            errs.append(skill)
        assert errs[0] < errs[1] < errs[2], (v, errs)  # predictability decays with lead time
        # ... but not to nothing: at 72 h it still beats a smoothed day-of-year climatology of the train year
        test = np.flatnonzero(split == "test")
        assert errs[2] < _rmse(_smooth_clim(x, split), x[test], w), v


def _smooth_clim(x: np.ndarray, split: np.ndarray) -> np.ndarray:
    """Day-of-year x hour climatology of the train year, smoothed over +-15 days (circular), for the test year."""
    from scipy.ndimage import uniform_filter1d

    train = x[split == "train"][: 365 * 4].reshape(365, 4, *x.shape[1:])
    clim = uniform_filter1d(train, 31, axis=0, mode="wrap")
    n_test = int((split == "test").sum()) // 4
    return clim[np.minimum(np.arange(n_test), 364)].reshape(-1, *x.shape[1:])
