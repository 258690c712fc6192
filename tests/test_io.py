"""geostp.io: provenance records (dependency versions, source checksums) and the error classes' messages."""

from __future__ import annotations

import hashlib

import pytest

from geostp.errors import UnknownNameError
from geostp.io import dependency_versions, file_checksum, provenance


def test_provenance_records_dependency_versions_and_source_checksums(tmp_path):
    src = tmp_path / "a.nc"
    src.write_bytes(b"0123456789" * 1000)
    prov = provenance(source_files=[str(src), str(tmp_path)], catalog="x")
    assert prov["catalog"] == "x"
    deps = prov["dependencies"]
    import numpy
    import xarray

    assert deps["numpy"] == numpy.__version__ and deps["xarray"] == xarray.__version__ and "python" in deps
    assert prov["source_checksums"][str(src)] == {"sha256": hashlib.sha256(src.read_bytes()).hexdigest(), "bytes": 10000}
    assert prov["source_checksums"][str(tmp_path)] == {"kind": "directory"}
    assert prov["source_files"] == [str(src), str(tmp_path)]


def test_a_large_file_gets_a_head_tail_digest(tmp_path, monkeypatch):
    import geostp.io as gio

    monkeypatch.setattr(gio, "FULL_HASH_LIMIT", 10)
    monkeypatch.setattr(gio, "_EDGE", 4)
    src = tmp_path / "big.bin"
    src.write_bytes(b"abcdefghijklmnop")
    want = hashlib.sha256(b"16" + b"abcd" + b"mnop").hexdigest()
    assert file_checksum(src) == {"sha256_head_tail": want, "bytes": 16}
    assert file_checksum("gs://bucket/x.zarr") == {"kind": "url"}


def test_dependency_versions_skip_absent_packages():
    assert "no-such-package-xyz" not in dependency_versions(("numpy", "no-such-package-xyz"))


def test_unknown_name_errors_are_built_with_their_whole_message():
    err = UnknownNameError("model", "vip_mixr", ["vip_mixer", "simvp"], also="runs available: a; b")
    assert str(err) == err.args[0]
    assert str(err).endswith("(did you mean 'vip_mixer'?); runs available: a; b")
    with pytest.raises(KeyError):  # still a KeyError for callers that catch lookups
        raise err
