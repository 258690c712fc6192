"""Where stores live: local paths or fsspec URLs (s3://, gs://, az://, ...), and one clear error per failure.

Credentials and endpoints come from each backend's standard environment (``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_ENDPOINT_URL``, ``GOOGLE_APPLICATION_CREDENTIALS``, ...) or from
``--storage-options JSON`` (fsspec keyword arguments, e.g. ``{"endpoint_url": "http://minio:9000"}``),
which the CLI puts in ``GEOSTP_STORAGE_OPTIONS`` so that launched processes (accelerate ranks) see it too.

Object stores cannot rename a prefix atomically, so a store on one is written in place with the
completion flag written last (readers refuse it until then) and a single writer at a time: two
commands writing one URL at once corrupt it (see docs/scaling.md).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from geostp.errors import ConfigError, StoreError, missing_extra

ENV_OPTIONS = "GEOSTP_STORAGE_OPTIONS"
# fsspec protocols that are local files: handled as plain paths (atomic renames work there)
_LOCAL = ("file://", "local://")
_EXTRA_OF = {"s3": "s3fs", "s3a": "s3fs", "gs": "gcsfs", "gcs": "gcsfs"}


def is_url(path: str | Path) -> bool:
    """True for a remote fsspec URL (s3://, gs://, memory://, ...), False for a local path or file:// URL."""
    s = str(path)
    return "://" in s and not s.startswith(_LOCAL)


def local_path(path: str | Path) -> Path:
    """A local path from a path or a file:// URL."""
    s = str(path)
    for prefix in _LOCAL:
        if s.startswith(prefix):
            return Path(s[len(prefix):])
    return Path(s)


def set_storage_options(text: str | None) -> None:
    """Make `text` (a JSON object of fsspec options) the options of every URL this process (and its children) opens."""
    if text is None:
        return
    try:
        opts = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--storage-options is not JSON ({exc.msg} at character {exc.pos}); "
                          """e.g. --storage-options '{"endpoint_url": "http://127.0.0.1:9000", "anon": false}'""") from None
    if not isinstance(opts, dict):
        raise ConfigError("--storage-options must be a JSON object of fsspec options, e.g. '{\"anon\": true}'")
    os.environ[ENV_OPTIONS] = json.dumps(opts)


def storage_options(url: str) -> dict[str, Any]:
    """fsspec options for `url`: --storage-options, plus AWS_ENDPOINT_URL for s3:// (older botocore ignores it)."""
    opts = json.loads(os.environ.get(ENV_OPTIONS) or "{}")
    protocol = url.split("://", 1)[0]
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    if protocol in ("s3", "s3a") and endpoint and "endpoint_url" not in opts \
            and "endpoint_url" not in opts.get("client_kwargs", {}):
        opts["endpoint_url"] = endpoint
    return opts


def filesystem(url: str, **extra: Any) -> tuple[Any, str]:
    """(fsspec filesystem, path inside it) for `url`, with the configured options."""
    try:
        from fsspec.core import url_to_fs
    except ImportError:
        raise missing_extra("fsspec", "cloud") from None
    protocol = url.split("://", 1)[0]
    try:
        return url_to_fs(url, **{**storage_options(url), **extra})
    except ImportError:
        raise missing_extra(_EXTRA_OF.get(protocol, f"the fsspec backend of {protocol}://"), "cloud",
                            f"to open {url}") from None
    except ValueError as exc:
        if "Protocol not known" in str(exc):
            raise StoreError(f"{url}: unknown storage protocol {protocol!r}; use a local path or an fsspec URL "
                             "such as s3://bucket/store.zarr or gs://bucket/store.zarr") from None
        raise


def zarr_store(path: str | Path, read_only: bool = True) -> Any:
    """What zarr and xarray open: the local path as a string, or an FsspecStore for a URL."""
    if not is_url(path):
        return str(local_path(path))
    from zarr.storage import FsspecStore

    fs, inner = filesystem(str(path), asynchronous=True)
    with translate(str(path)):
        return FsspecStore(fs, path=inner, read_only=read_only)


def _fast_probe_options(url: str) -> dict[str, Any]:
    """Options for a probe that fails in seconds, not after a minute of retries."""
    if url.split("://", 1)[0] in ("s3", "s3a"):
        return {"skip_instance_cache": True,
                "config_kwargs": {"connect_timeout": 5, "read_timeout": 10, "retries": {"max_attempts": 1}}}
    return {"skip_instance_cache": True}


def exists(path: str | Path) -> bool:
    """Whether anything is stored at `path` (a local path or URL); unreachable endpoints and bad credentials raise."""
    if not is_url(path):
        return local_path(path).exists()
    url = str(path)
    fs, inner = filesystem(url, **_fast_probe_options(url))
    if hasattr(fs, "retries"):  # s3fs retries connection errors 5 times with backoff: a probe tries once
        fs.retries = 1
    protocol = url.split("://", 1)[0]
    with translate(url):
        bucket = inner.split("/", 1)[0]
        # `exists` answers False to every failure (endpoint down, credentials refused): ask the bucket first
        try:
            if protocol in ("s3", "s3a"):
                fs.call_s3("head_bucket", Bucket=bucket)
            elif protocol in ("gs", "gcs"):
                fs.info(bucket)
        except FileNotFoundError:
            raise FileNotFoundError(f"The specified bucket does not exist: {bucket}") from None
        return bool(fs.exists(inner))


def remove(path: str | Path) -> None:
    """Delete a store (recursively) at a local path or URL; nothing there is fine."""
    if not is_url(path):
        import shutil

        p = local_path(path)
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        elif p.exists():
            p.unlink()
        return
    url = str(path)
    fs, inner = filesystem(url, skip_instance_cache=True)
    with translate(url):
        if fs.exists(inner):
            fs.rm(inner, recursive=True)


def check_writable(url: str) -> None:
    """Fail fast (seconds) if `url`'s endpoint cannot be reached, the credentials are refused or the bucket is missing."""
    exists(url)


@contextlib.contextmanager
def remote_target(url: str, overwrite: bool = False) -> Iterator[str]:
    """Write a store at `url` in place (object stores have no atomic rename); on error the partial store is removed.

    The caller writes the completion flag last, so a reader never takes a partial store for a whole one.
    With `overwrite` the old store is deleted first: on object storage it cannot be kept until the new
    one is complete.
    """
    if exists(url):
        if not overwrite:
            raise StoreError(f"{url} exists; pass --overwrite to replace it (on object storage the old store "
                             "is deleted before the new one is written)")
        remove(url)
    try:
        yield url
    except BaseException:
        with contextlib.suppress(Exception):
            remove(url)
        raise


def describe_error(exc: BaseException, url: str) -> str | None:
    """One line naming what went wrong with `url` and the way out, or None if `exc` is not a storage failure."""
    name = type(exc).__name__
    text = str(exc)
    endpoint = storage_options(url).get("endpoint_url") or os.environ.get("AWS_ENDPOINT_URL") or "the default endpoint"
    chain = [exc, exc.__cause__, exc.__context__]
    if any(type(e).__name__ in ("EndpointConnectionError", "ConnectTimeoutError", "ClientConnectorError",
                                "ServerDisconnectedError", "ConnectionRefusedError")
           or isinstance(e, ConnectionError) for e in chain if e is not None):
        return (f"cannot reach the storage endpoint of {url} ({endpoint}): is the server up and the address right? "
                "Set AWS_ENDPOINT_URL or --storage-options '{\"endpoint_url\": ...}'")
    if any(type(e).__name__ in ("DefaultCredentialsError", "RefreshError") for e in chain if e is not None):
        return (f"no usable Google Cloud credentials for {url}: set GOOGLE_APPLICATION_CREDENTIALS to a key file, run "
                "`gcloud auth application-default login`, or pass --storage-options '{\"token\": \"anon\"}' for public data")
    if name == "NoCredentialsError" or "Unable to locate credentials" in text:
        return (f"no credentials for {url}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or a profile), "
                "or pass --storage-options '{\"key\": ..., \"secret\": ...}' ('{\"anon\": true}' for public data)")
    if isinstance(exc, PermissionError) or any(k in text for k in ("InvalidAccessKeyId", "SignatureDoesNotMatch",
                                                                    "AccessDenied", "Forbidden")):
        return (f"access to {url} was refused ({text.splitlines()[0][:120] if text else name}): check the credentials "
                "(AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, or --storage-options key/secret) and their permissions")
    if "bucket does not exist" in text.lower() or "NoSuchBucket" in text:
        bucket = url.split("://", 1)[1].split("/", 1)[0]
        return (f"bucket {bucket!r} of {url} does not exist: create it first (e.g. `aws s3 mb s3://{bucket}`, "
                "with --endpoint-url for a private server) or fix the URL")
    return None


@contextlib.contextmanager
def translate(url: str) -> Iterator[None]:
    """Turn storage failures (endpoint, credentials, bucket) of operations on `url` into one-line StoreErrors."""
    try:
        yield
    except StoreError:
        raise
    except Exception as exc:  # noqa: BLE001 - only known storage failures are translated, the rest re-raised
        message = describe_error(exc, url)
        if message is None:
            raise
        raise StoreError(message) from None
