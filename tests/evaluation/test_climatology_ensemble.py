"""The probabilistic climatology baseline: which train times its members are, and how it scores."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr
from scores.probability import crps_for_ensemble

from geostp.evaluation.climatology_ensemble import NAME, climatology_ensemble, member_times
from geostp.evaluation.metrics import lat_weights
from geostp.evaluation.scorecard import per_time_scores, summarize


def test_members_are_train_times_of_other_years_nearest_in_time_of_year():
    train = pd.date_range("2000-01-01", "2003-12-31 18:00", freq="6h").values
    valid = np.array(["2003-03-01T06", "2001-12-31T18", "2004-01-01T00"], dtype="datetime64[ns]")
    picks = member_times(train, valid, 6)
    for v, rows in zip(pd.DatetimeIndex(valid), picks):
        got = pd.DatetimeIndex(train[rows])
        assert len(set(rows)) == 6 and (got.hour == v.hour).all() and v.year not in set(got.year)
        # 29 Feb counts as 1 Mar; otherwise the same date or a day either side of it, never further
        shift = [(g.replace(year=2001) - v.replace(year=2001)).days if not (g.month == 2 and g.day == 29) else 0
                 for g in got]
        assert max(abs((s + 182) % 365 - 182) for s in shift) <= 1
    # 3 years at the same date come first, from different years
    assert len(set(pd.DatetimeIndex(train[picks[2, :3]]).year)) == 3
    assert set(pd.DatetimeIndex(train[picks[2, :3]]).day_of_year) == {1}


def test_an_ensemble_is_scored_next_to_the_probabilistic_climatology(case):
    """It is a reliable ensemble of the fixture's noise around its seasonal cycle: spread/RMSE near 1 and a fair
    CRPS well below the climatological mean's MAE; its CRPS is the scores package's on its own members."""
    store, fc, inits, *_ = case
    rng = np.random.default_rng(3)
    ens = fc.expand_dims(member=np.arange(4), axis=2).copy()
    ens["t850"] = ens["t850"] + rng.normal(0, 1, ens["t850"].shape).astype(np.float32)
    s = summarize(per_time_scores({"ens": ens}, store, inits, metrics=["crps", "spread", "rmse"], regions=("global",)))
    assert list(s["model"].values) == ["ens", "persistence", "climatology", NAME]
    v = s["value"].sel(variable="t850", region="global")
    ratio = v.sel(model=NAME, metric="spread") / v.sel(model=NAME, metric="rmse")
    assert np.all(np.abs(ratio.values - 1) < 0.15), ratio.values
    assert np.all(v.sel(model=NAME, metric="crps") < 0.8 * v.sel(model="climatology", metric="crps"))
    members = climatology_ensemble(store, ["t850"], ens["valid_time"], 4)["t850"].reset_coords(drop=True)
    truth = store["t850"].sel(time=ens["valid_time"]).reset_coords(drop=True)
    ref = crps_for_ensemble(members, truth, "member", method="fair", preserve_dims=["init_time", "lead_time", "lat", "lon"])
    ref = (ref * lat_weights(ref["lat"])).mean(["lat", "lon"]) / lat_weights(ref["lat"]).mean()
    np.testing.assert_allclose(v.sel(model=NAME, metric="crps").values, ref.mean("init_time").values, rtol=1e-5)
    assert isinstance(members, xr.DataArray) and members.sizes["member"] == 4
