"""Stores and forecasts on object storage, against a real S3-compatible server on 127.0.0.1 (moto):
prepare --out s3://..., windows, forecast --data/--out, evaluate; and each storage failure is one clear error."""

from __future__ import annotations

import json
import os
import sys
import urllib.request

import numpy as np
import pytest
import s3fs
import xarray as xr

from geostp.data.store import open_store, write_store
from geostp.data.windows import open_windows
from geostp.errors import ConfigError, GeostpError, StoreError
from geostp.forecast.output import open_forecast
from tests.fixtures import prepare_cli, run_cli, write_weatherbench
from tests.forecast.conftest import make_run
from tests.scale.conftest import free_port

SPLITS = "train=2015,valid=2016,test=2017"


def _ls(url: str) -> list[str]:
    return s3fs.S3FileSystem(skip_instance_cache=True).ls(url.removeprefix("s3://"))


@pytest.mark.slow  # real processes; in the default run
def test_prepare_writes_to_the_bucket_and_every_reader_reads_it(s3, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_weatherbench(tmp_path / "wb", [2015, 2016, 2017], variables=["t850", "z500"], days=3, freq="6h")
    args = ["weatherbench", "--root", str(tmp_path / "wb"), "--vars", "t850", "z500", "--splits", SPLITS]
    prepare_cli(*args, "--out", str(tmp_path / "local.zarr"), "--zarr-format", "2")  # the same store in either format
    prepare_cli(*args, "--out", f"{s3}/wb.zarr")
    assert not (tmp_path / "s3:").exists()  # the old bug: a local folder named after the URL
    keys = _ls(f"{s3}/wb.zarr")
    assert f"{s3[5:]}/wb.zarr/zarr.json" in keys and any(k.endswith("/t850") for k in keys)  # Zarr v3 by default
    local, remote = open_store(tmp_path / "local.zarr"), open_store(f"{s3}/wb.zarr")
    xr.testing.assert_identical(local.drop_attrs(), remote.drop_attrs())
    assert remote.attrs["geostp_complete"] == 1
    res = run_cli("data", "info", f"{s3}/wb.zarr")
    assert res.exit_code == 0 and "t850" in res.output, res.output

    a = open_windows(tmp_path / "local.zarr", "train", 2, 2, block_mb=0.001)
    b = open_windows(f"{s3}/wb.zarr", "train", 2, 2, block_mb=0.001)
    assert b._open() and b._readers == [None, None]  # read through zarr's async store: concurrent chunk GETs
    idx = np.arange(len(a))
    for (xa, ya), (xb, yb) in zip([a.get_batch(idx)], [b.get_batch(idx)]):
        assert np.array_equal(xa, xb) and np.array_equal(ya, yb)
    xa, _ = next(iter(a.loader(4, seed=1)))
    xb, _ = next(iter(b.loader(4, seed=1)))
    assert np.array_equal(xa, xb)

    again = run_cli("data", "prepare", *args, "--out", f"{s3}/wb.zarr", "--no-progress")
    assert isinstance(again.exception, StoreError) and "exists; pass --overwrite" in str(again.exception)


@pytest.mark.slow  # real processes; in the default run
def test_forecast_and_evaluate_on_the_bucket(s3, tiny_store, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GEOSTP_CACHE_DIR", str(tmp_path / "cache"))
    path, ds = tiny_store
    write_store(ds, f"{s3}/tiny.zarr", catalog="test", time_step="6h", norm_kind="zscore", default_t_in=4,
                default_t_out=4, splits={"train": "2000-2001", "valid": "2002", "test": "2003"}, progress=False)
    run = make_run(tmp_path / "run", path)
    common = ["forecast", "--model", "vip_mixer", "--var", "t850", "--run", str(run), "--no-plot", "--no-score"]
    first_days = ["--init", "2003-05-01/2003-05-04"]
    assert run_cli(*common, *first_days, "--data", str(path), "--out", str(tmp_path / "fc.zarr")).exit_code == 0
    res = run_cli(*common, "--data", f"{s3}/tiny.zarr", "--out", f"{s3}/fc.zarr", "--init", "2003-05-05/2003-05-06")
    assert res.exit_code == 0, res.output
    first = open_forecast(f"{s3}/fc.zarr").sizes["init_time"]
    res = run_cli(*common, *first_days, "--data", f"{s3}/tiny.zarr", "--out", f"{s3}/fc.zarr", "--append")
    assert res.exit_code == 0, res.output
    local, remote = open_forecast(tmp_path / "fc.zarr"), open_forecast(f"{s3}/fc.zarr")
    assert first > 0 and remote.sizes["init_time"] == local.sizes["init_time"] + first  # appended in place
    both = remote.sortby("init_time").sel(init_time=local["init_time"])
    np.testing.assert_array_equal(both["t850"].values, local["t850"].values)

    res = run_cli("evaluate", f"{s3}/fc.zarr", "--truth", f"{s3}/tiny.zarr", "--out", str(tmp_path / "ev"),
                  "--n-boot", "20", "--metric", "rmse")
    assert res.exit_code == 0, res.output
    assert "RMSE of t850" in res.output and (tmp_path / "ev" / "scores.csv").stat().st_size > 0


def test_storage_failures_are_one_clear_error(s3, s3_server, tmp_path, monkeypatch):
    store = tmp_path / "x.zarr"
    write_weatherbench(tmp_path / "wb", [2015, 2016, 2017], variables=["t850"], days=2, freq="6h")
    args = ["data", "prepare", "weatherbench", "--root", str(tmp_path / "wb"), "--vars", "t850", "--splits", SPLITS, "--no-progress"]

    res = run_cli(*args, "--out", "s3://no-such-bucket-geostp/wb.zarr")
    assert isinstance(res.exception, StoreError), res.output
    assert "bucket 'no-such-bucket-geostp'" in str(res.exception) and "does not exist" in str(res.exception)

    res = run_cli(*args, "--out", f"{s3}/wb.zarr", "--storage-options", "{not json")
    assert isinstance(res.exception, ConfigError) and "--storage-options is not JSON" in str(res.exception)

    with pytest.raises(StoreError, match="no store at s3://"):
        open_store(f"{s3}/missing.zarr")

    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")  # nothing listens there
    res = run_cli(*args, "--out", f"{s3}/wb.zarr")
    assert isinstance(res.exception, StoreError), res.output
    assert "cannot reach the storage endpoint" in str(res.exception) and "AWS_ENDPOINT_URL" in str(res.exception)
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server)

    # the server checks signatures from now on: an unknown key is refused
    reset = urllib.request.Request(f"{s3_server}/moto-api/reset-auth", data=b"0", method="POST",
                                   headers={"Content-Type": "text/plain"})
    urllib.request.urlopen(reset).read()
    try:
        res = run_cli(*args, "--out", f"{s3}/wb.zarr", "--storage-options",
                      json.dumps({"key": "AKIAWRONG", "secret": "wrong"}))
    finally:
        restore = urllib.request.Request(f"{s3_server}/moto-api/reset-auth", data=b"inf", method="POST",
                                         headers={"Content-Type": "text/plain"})
        urllib.request.urlopen(restore).read()
        os.environ.pop("GEOSTP_STORAGE_OPTIONS", None)
    assert isinstance(res.exception, StoreError), res.output
    assert "was refused" in str(res.exception) and "credentials" in str(res.exception)
    assert not store.exists()


def test_gs_without_gcsfs_is_one_clear_error(tiny_store, tmp_path, monkeypatch):
    """gs:// needs gcsfs (the `cloud` extra, not in the test extra): every command says so in one line, naming the URL."""
    monkeypatch.setitem(sys.modules, "gcsfs", None)  # as on a machine without it, even where it is installed
    monkeypatch.chdir(tmp_path)
    path, _ = tiny_store
    for args in (["data", "info", "gs://geostp-bucket/wb.zarr"],
                 ["evaluate", "gs://geostp-bucket/fc.zarr", "--truth", str(path), "--out", str(tmp_path / "s")],
                 ["forecast", "--model", "vip_mixer", "--var", "t850", "--run", str(make_run(tmp_path / "run", path)),
                  "--data", str(path), "--init", "2003-05-01", "--no-plot", "--no-score",
                  "--out", "gs://geostp-bucket/fc.zarr"]):
        res = run_cli(*args)
        assert res.exit_code != 0 and isinstance(res.exception, GeostpError), (args, res.output)
        message = str(res.exception)
        assert "\n" not in message and "gcsfs is needed to open gs://geostp-bucket/" in message
        assert "pip install 'geostp[cloud]'" in message
    assert not (tmp_path / "gs:").exists()  # never a local folder named after the URL
