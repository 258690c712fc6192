"""Real engines on 127.0.0.1: an S3-compatible server (moto), a dask cluster; tiny stores to put on them."""

from __future__ import annotations

import logging
import socket
import uuid

import pytest


@pytest.fixture(scope="session")
def s3_server():
    """A local S3-compatible server (moto's threaded server) on 127.0.0.1; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3(s3_server, monkeypatch):
    """The standard AWS environment pointing at the local server, and a fresh bucket; yields 's3://<bucket>'."""
    import s3fs

    for key, value in {"AWS_ENDPOINT_URL": s3_server, "AWS_ACCESS_KEY_ID": "geostp-test",
                       "AWS_SECRET_ACCESS_KEY": "geostp-test-secret", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("GEOSTP_STORAGE_OPTIONS", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    bucket = f"geostp-{uuid.uuid4().hex[:8]}"
    s3fs.S3FileSystem.clear_instance_cache()
    s3fs.S3FileSystem(endpoint_url=s3_server).mkdir(bucket)
    yield f"s3://{bucket}"
    s3fs.S3FileSystem.clear_instance_cache()


def free_port() -> int:
    """A TCP port nothing listens on right now (for 'unreachable' tests and launchers)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
