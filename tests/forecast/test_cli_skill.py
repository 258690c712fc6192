"""`geostp evaluate` regions, conventions, skill maps and spectra, and `geostp plot --skill`, end to end."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr
from click.testing import CliRunner

from geostp.cli.main import cli
from geostp.evaluation.metrics import lat_weights


def _run(args):
    return CliRunner().invoke(cli, args, catch_exceptions=True)


def test_evaluate_regions_convention_maps_and_plot_skill(run_dir, tiny_store, tmp_path, monkeypatch):
    monkeypatch.setenv("GEOSTP_CACHE_DIR", str(tmp_path / "cache"))
    path, _ = tiny_store
    out = tmp_path / "fc.zarr"
    res = _run(["forecast", "--model", "vip_mixer", "--var", "t850", "--run", str(run_dir), "--data", str(path),
                "--init", "2003-05-01/2003-05-20", "--out", str(out), "--no-plot"])
    assert res.exit_code == 0, res.output
    ev = tmp_path / "ev"
    res = _run(["evaluate", str(out), "--truth", str(path), "--out", str(ev), "--n-boot", "50",
                "--region", "global", "--region", "box:0,90,0,180", "--region", "extratropics_sh"])
    assert res.exit_code == 0, res.output
    df = pd.read_csv(ev / "scores.csv")
    assert set(df["region"]) == {"global", "box:0,90,0,180", "extratropics_sh"}
    assert (df["block_length"] >= 1).all()
    assert "region box:0,90,0,180" in res.output and "Politis-White block length" in res.output
    scores = xr.load_dataset(ev / "scores.nc")
    assert scores["value"].dims == ("model", "variable", "metric", "region", "lead_time")
    maps, spectra = xr.load_dataset(ev / "skill_maps.nc"), xr.load_dataset(ev / "spectra.nc")
    assert set(maps["model"].values) == {"vip_mixer", "persistence", "climatology"}
    assert set(spectra["model"].values) == {"vip_mixer", "persistence", "climatology", "truth"}
    assert maps["rmse"].dims == ("model", "variable", "lead_time", "lat", "lon")
    # the global RMSE is the root of the area-weighted mean of the map's squares (same errors, same inits)
    w = lat_weights(maps["lat"])  # WB2 area weights (this 4-row grid is not equiangular: not cos(lat))
    glob = np.sqrt((maps["rmse"] ** 2 * w).mean(["lat", "lon"]))
    np.testing.assert_allclose(glob.sel(model="persistence", variable="t850"),
                               scores["value"].sel(model="persistence", variable="t850", metric="rmse", region="global"),
                               rtol=1e-4)
    res = _run(["plot", str(ev), "--skill", "--var", "t850", "--lead", "12h", "--model", "persistence"])
    assert res.exit_code == 0, res.output
    assert (ev / "skill_maps-t850.png").stat().st_size > 10_000 and (ev / "spectra-t850.png").stat().st_size > 10_000
    res = _run(["evaluate", str(out), "--truth", str(path), "--out", str(tmp_path / "ev_openstl"), "--n-boot", "50",
                "--convention", "openstl", "--region", "global"])
    assert res.exit_code == 0, res.output
    df = pd.read_csv(tmp_path / "ev_openstl" / "scores.csv")
    assert set(df["metric"]) == {"mse", "mae", "rmse"} and "all" in set(df["lead"])
    assert "openstl convention" in res.output
    res = _run(["evaluate", str(out), "--truth", str(path), "--region", "atlantis"])
    assert res.exit_code != 0 and "unknown region 'atlantis'" in str(res.exception)
