"""`data prepare --scheduler` and `evaluate --scheduler` on a real dask cluster (a scheduler and two worker
processes on 127.0.0.1): the same store and the same scores as the local threaded run."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
import xarray as xr
import zarr

from geostp.data import prepare as prepare_mod
from geostp.errors import GeostpError
from tests.fixtures import prepare_cli, run_cli, write_weatherbench
from tests.forecast.conftest import make_run
from tests.scale.conftest import free_port

SPLITS = "train=2015,valid=2016,test=2017"


@pytest.fixture(scope="module")
def cluster():
    """A dask scheduler and two single-threaded worker processes on 127.0.0.1."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None, silence_logs=logging.ERROR) as c:
        yield c.scheduler_address


def _same_store(a, b) -> None:
    """Every array and attribute equal, bit for bit; only the provenance (command line, time) may differ."""
    ga, gb = zarr.open_group(str(a), mode="r"), zarr.open_group(str(b), mode="r")
    assert sorted(ga.array_keys()) == sorted(gb.array_keys())
    for k in ga.array_keys():
        assert ga[k].dtype == gb[k].dtype and ga[k].chunks == gb[k].chunks, k
        assert np.array_equal(ga[k][...], gb[k][...], equal_nan=ga[k].dtype.kind == "f"), k
        assert dict(ga[k].attrs) == dict(gb[k].attrs), k
    attrs_a, attrs_b = dict(ga.attrs), dict(gb.attrs)
    for when in ("provenance", "history"):  # command line and time of writing
        attrs_a.pop(when, None), attrs_b.pop(when, None)
    assert attrs_a == attrs_b


@pytest.mark.slow  # real processes; in the default run
def test_prepare_on_a_cluster_writes_the_local_store(cluster, tmp_path):
    write_weatherbench(tmp_path / "wb", [2015, 2016, 2017], variables=["t850", "z500"], days=4, freq="6h")
    args = ["weatherbench", "--root", str(tmp_path / "wb"), "--vars", "t850", "z500", "--splits", SPLITS]
    from distributed import Client

    def transitions() -> int:
        with Client(cluster) as client:
            assert len(client.scheduler_info()["workers"]) == 2
            return client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.transition_counter)

    prepare_cli(*args, "--out", str(tmp_path / "local.zarr"))
    before = transitions()
    prepare_cli(*args, "--out", str(tmp_path / "cluster.zarr"), "--scheduler", cluster)
    assert transitions() > before + 20  # the reads, statistics and chunk writes ran as cluster tasks
    _same_store(tmp_path / "local.zarr", tmp_path / "cluster.zarr")


@pytest.mark.slow  # real processes; in the default run
def test_evaluate_on_a_cluster_gives_the_local_scores(cluster, tiny_store, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path, _ = tiny_store
    run = make_run(tmp_path / "run", path)
    res = run_cli("forecast", "--model", "vip_mixer", "--var", "t850", "--run", str(run), "--data", str(path),
                  "--init", "2003-05-01/2003-05-08", "--out", str(tmp_path / "fc.zarr"), "--no-plot", "--no-score")
    assert res.exit_code == 0, res.output
    common = [str(tmp_path / "fc.zarr"), "--truth", str(path), "--n-boot", "20", "--metric", "rmse", "--metric", "acc"]
    assert run_cli("evaluate", *common, "--out", str(tmp_path / "local")).exit_code == 0
    res = run_cli("evaluate", *common, "--out", str(tmp_path / "cluster"), "--scheduler", cluster)
    assert res.exit_code == 0, res.output
    a, b = (pd.read_csv(tmp_path / d / "scores.csv") for d in ("local", "cluster"))
    pd.testing.assert_frame_equal(a, b)
    a, b = (xr.load_dataset(tmp_path / d / "scores.nc") for d in ("local", "cluster"))
    xr.testing.assert_equal(a, b)
    assert {k: v for k, v in a.attrs.items() if k != "history"} == {k: v for k, v in b.attrs.items() if k != "history"}


def test_an_unreachable_scheduler_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(prepare_mod, "SCHEDULER_TIMEOUT_S", 2)
    address = f"tcp://127.0.0.1:{free_port()}"  # nothing listens there
    with pytest.raises(GeostpError, match=f"cannot reach the dask scheduler at {address}.*dask scheduler"):
        with prepare_mod.dask_client(address):
            pass
    res = run_cli("evaluate", str(tmp_path), "--truth", str(tmp_path), "--scheduler", address)
    assert isinstance(res.exception, GeostpError) and "cannot reach the dask scheduler" in str(res.exception)
