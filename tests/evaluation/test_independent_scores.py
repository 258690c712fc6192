"""geostp's scores against an independent implementation (the `scores` package) on the same arrays:
WB2 RMSE, MAE, bias and ACC per region, and the OpenSTL convention per lead and pooled over leads."""

from __future__ import annotations

import numpy as np
import scores.continuous as sc
import xarray as xr

from geostp.evaluation.regions import parse_region
from geostp.evaluation.scorecard import per_time_scores, summarize, to_frame

REGIONS = ["global", "tropics", "extratropics_nh", "extratropics_sh", "europe", "box:-50,10,300,30"]


def _weights(region: str, lat: np.ndarray, lon: np.ndarray, area: bool) -> xr.DataArray:
    cos = np.cos(np.deg2rad(lat)) if area else np.ones(len(lat))  # on a pole-free grid WB2's weights are cos(lat)
    mask = parse_region(region).mask(lat, lon)
    return xr.DataArray(cos, dims=("lat",), coords={"lat": lat}) * mask


def test_wb2_scores_match_the_scores_package_per_region(case):
    store, fc, inits, f, o, c = case
    pt = per_time_scores({"m": fc}, store, inits, regions=REGIONS)
    s = summarize(pt).sel(model="m", variable="t850")["value"]
    for region in REGIONS:
        w = _weights(region, f["lat"].values, f["lon"].values, area=True)
        kw = dict(reduce_dims=["init_time", "lat", "lon"], weights=w)
        np.testing.assert_allclose(s.sel(metric="rmse", region=region), sc.rmse(f, o, **kw), rtol=1e-5)
        np.testing.assert_allclose(s.sel(metric="mae", region=region), sc.mae(f, o, **kw), rtol=1e-5)
        np.testing.assert_allclose(s.sel(metric="bias", region=region), sc.additive_bias(f, o, **kw), rtol=1e-5)
        # WB2 ACC per field, from weighted mean squares: A(f'o') = (A(f'^2) + A(o'^2) - A((f'-o')^2)) / 2
        per = dict(reduce_dims=["lat", "lon"], weights=w)
        fa, oa = f - c, o - c
        aff, aoo, dd = sc.mse(fa, 0 * fa, **per), sc.mse(oa, 0 * oa, **per), sc.mse(fa, oa, **per)
        acc_t = (aff + aoo - dd) / 2 / np.sqrt(aff * aoo)
        np.testing.assert_allclose(s.sel(metric="acc", region=region), acc_t.mean("init_time"), rtol=1e-5)
    assert pt.sizes["region"] == len(REGIONS)
    # regional scores differ from the global one (the error is the same everywhere, the weights are not)
    assert not np.allclose(s.sel(metric="rmse", region="tropics"), s.sel(metric="rmse", region="europe"))


def test_openstl_convention_matches_the_scores_package(case, tmp_path):
    store, fc, inits, f, o, _ = case
    pt = per_time_scores({"m": fc}, store, inits, regions=["global", "tropics"], convention="openstl")
    assert list(pt["metric"].values) == ["mae", "mse", "rmse"]
    s = summarize(pt).sel(model="m", variable="t850")
    g = s.sel(region="global")
    per_lead = dict(reduce_dims=["init_time", "lat", "lon"])
    np.testing.assert_allclose(g["value"].sel(metric="mse"), sc.mse(f, o, **per_lead), rtol=1e-5)
    np.testing.assert_allclose(g["value"].sel(metric="mae"), sc.mae(f, o, **per_lead), rtol=1e-5)
    np.testing.assert_allclose(g["value"].sel(metric="rmse"), sc.rmse(f, o, **per_lead), rtol=1e-5)
    pooled = dict(reduce_dims=["init_time", "lead_time", "lat", "lon"])  # one square root over everything
    np.testing.assert_allclose(g["pooled_value"].sel(metric="rmse"), sc.rmse(f, o, **pooled), rtol=1e-5)
    np.testing.assert_allclose(g["pooled_value"].sel(metric="mse"), sc.mse(f, o, **pooled), rtol=1e-5)
    np.testing.assert_allclose(g["pooled_value"].sel(metric="mae"), sc.mae(f, o, **pooled), rtol=1e-5)
    trop = _weights("tropics", f["lat"].values, f["lon"].values, area=False)
    np.testing.assert_allclose(s["pooled_value"].sel(region="tropics", metric="rmse"), sc.rmse(f, o, weights=trop, **pooled), rtol=1e-5)
    # unweighted differs from WB2's area weighting on the same arrays
    wb2 = summarize(per_time_scores({"m": fc}, store, inits, regions=["global"], metrics=["rmse"]))
    assert not np.allclose(wb2["value"].sel(model="m", variable="t850", region="global", metric="rmse"),
                           g["value"].sel(metric="rmse"), rtol=1e-4)
    df = to_frame(summarize(pt))
    assert {"region", "block_length"} <= set(df.columns) and "all" in set(df["lead"])
