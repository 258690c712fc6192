"""Half-written or corrupt stores are refused with the way out; `geostp data info` summarises good ones."""

from __future__ import annotations

import pytest
import zarr

from geostp.data import open_store, open_windows
from geostp.data.prepare import parse_splits
from geostp.data.store import _quiet_v3, chunk_files
from geostp.errors import ConfigError, StoreError
from tests.fixtures import run_cli


def test_deleted_chunk_is_detected(tiny_store):
    path, _ = tiny_store
    chunk = chunk_files(path / "t850")[-1]  # a v2 chunk or a v3 shard file
    chunk.unlink()
    with pytest.raises(StoreError, match=r"corrupt: variable 't850' has \d+ of \d+ chunks.*--overwrite"):
        open_store(path)
    res = run_cli("data", "info", path)
    assert res.exit_code != 0 and isinstance(res.exception, StoreError)


def test_missing_completion_flag_is_detected(tiny_store):
    path, _ = tiny_store
    group = zarr.open_group(str(path), mode="r+")
    del group.attrs["geostp_complete"]
    with _quiet_v3():
        zarr.consolidate_metadata(str(path))
    with pytest.raises(StoreError, match="half-written"):
        open_windows(path, "train", 2, 2)


def test_not_a_store(tmp_path):
    (tmp_path / "junk.zarr").mkdir()
    with pytest.raises(StoreError, match="not a readable geostp store"):
        open_store(tmp_path / "junk.zarr")
    with pytest.raises(StoreError, match="no store at"):
        open_store(tmp_path / "missing.zarr")


def test_info_summarises(tiny_store):
    path, _ = tiny_store
    res = run_cli("data", "info", path)
    assert res.exit_code == 0, res.output
    for text in ("catalog: test", "step 6h", "t850", "[K]", "train", "valid", "test", "segments", "chunks:"):
        assert text in res.output


def test_parse_splits():
    assert parse_splits("train=1979-2015,valid=2016,test=2017-2018") == {
        "train": (1979, 2015), "valid": (2016, 2016), "test": (2017, 2018)}
    for bad, msg in [("train=79-15", "NAME=YEAR"), ("train=2015-2010", "before the first"),
                     ("train=2000,train=2001", "twice"), ("a=2000-2005,b=2005", "overlap"), ("", "empty")]:
        with pytest.raises(ConfigError, match=msg):
            parse_splits(bad)
