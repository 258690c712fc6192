"""`--ensemble seeds`: member k is the run's config trained again with train.seed + k, cached out of run matching."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
import yaml

from geostp.data.store import open_store
from geostp.forecast.predict import Predictor, predict
from geostp.forecast.runs import matching_runs
from geostp.workflows.forecast import ForecastRequest, run_forecast


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GEOSTP_CACHE_DIR", str(tmp_path / "cache"))


def test_seed_members_are_the_forecasts_of_independently_seeded_runs(run_dir, tiny_store, tmp_path):
    cfg = yaml.safe_load((run_dir / "config.yaml").read_text())
    cfg["data"]["valid_max_windows"] = 8  # the seeded trainings validate on 8 windows, not the whole valid year
    (run_dir / "config.yaml").write_text(yaml.safe_dump(cfg))
    notes = []

    def ask(out):
        return run_forecast(ForecastRequest(model="vip_mixer", variables=["t850"], run=str(run_dir),
                                            data=str(tiny_store[0]), init=["2003-06-01T00/2003-06-01T18"],
                                            out=str(tmp_path / out), quick_steps=1, members=3, ensemble="seeds",
                                            plot=False, score=False, progress=False), echo=notes.append)

    fc = xr.open_zarr(ask("ens.zarr").zarr)
    assert fc.attrs["ensemble_method"] == "seeds" and fc.sizes["member"] == 3
    runs = sorted((tmp_path / "cache" / "runs" / "seeds").iterdir(), key=lambda p: p.name)
    seeds = [yaml.safe_load((r / "config.yaml").read_text())["train"]["seed"] for r in runs]
    assert seeds == [1, 2] and sum("--ensemble seeds: training member" in n for n in notes) == 2
    store = open_store(tiny_store[0])
    inits = fc["init_time"].values
    for k, run in enumerate([run_dir, *runs]):  # member k is run k's own forecast
        alone = predict(Predictor.from_run(run), store, inits, 4, progress=False)["t850"]
        np.testing.assert_allclose(fc["t850"].isel(member=k).values, alone.values, rtol=1e-5, atol=1e-4)
    assert float(abs(fc["t850"].isel(member=1) - fc["t850"].isel(member=2)).max()) > 0
    assert [r.path for r in matching_runs("vip_mixer", ["t850"])] == []  # never picked for another request
    notes.clear()
    again = xr.open_zarr(ask("again.zarr").zarr)  # the seeded runs are cached
    assert not notes
    np.testing.assert_array_equal(again["t850"].values, fc["t850"].values)
