"""The one analysis-ready store layout shared by every dataset: write it atomically, open it checked.

Layout (``geostp_format = "geostp-store"``, version 1; Zarr format 3 sharded by default, or format 2 with
``--zarr-format 2``; consolidated metadata either way):

* dims ``time`` then ``lat, lon`` (ascending degrees; ``grid_kind = "latlon"``) or ``y, x``
  (pixels; ``grid_kind = "image"``).
* coords ``time`` (datetime64 for weather and traffic; an int64 frame counter for video),
  ``split(time)`` (``train``/``valid``/``test``) and ``segment(time)`` (int32: consecutive frames
  share a segment iff they are one time step apart in the same split and, where the optional
  ``sequence(time)`` coord is present (video clips), the same sequence; windows never cross one).
* optional extra data variables not on ``(time, <grid>)`` (e.g. Moving MNIST's ``digits``), used by
  a window ``generator`` named in the attrs (``generator``, ``generated_splits``) for splits that are
  generated on the fly rather than stored along ``time``.
* one data variable per short name (``t850``, ``inflow``, ``frames``), dims ``(time, <grid>)``,
  CF attributes (``units``, ``long_name``, ``standard_name``) and the train-split statistics
  (``norm_kind``, ``norm_offset``, ``norm_scale``: normalised = (x - offset) / scale; ``stats_*``).
* global attrs: ``catalog``, ``variables`` (channel order), ``periodic_lon`` (1 when the longitudes
  cover the globe so models may wrap across the dateline; 0 for regional and image grids), ``time_step``
  (a `geostp.timeaxis` step such as ``"6h"``, ``"1month"``, ``"1year"``, or ``"1"`` for frames),
  ``calendar`` (the source's CF calendar; cftime-decoded ``time`` keeps it in its encoding), ``splits``,
  ``default_t_in``/``default_t_out``, ``provenance``
  (JSON), ``geostp_digests`` (JSON: chunks, bytes and sha256 per array, the completion record) and, written
  last, ``geostp_complete = 1``; CF-1.10 attributes throughout (`geostp.cf`), with a
  scalar vertical coordinate (``plev850``, ``height2m``) for each variable whose attrs give its level.

``fixed`` normalisation needs no train split along ``time`` (Moving MNIST generates its training
sequences): the ``stats_*`` attributes are then NaN with ``stats_count = 0``.
"""

from __future__ import annotations

import contextlib
import json
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from geostp import storage
from geostp.cf import cf_dataset, vertical_coords
from geostp.errors import IntegrityError, StoreError, UnknownNameError
from geostp.grid import PERIODIC_ATTR, is_periodic_lon
from geostp.io import atomic_dir, compute
from geostp.kinds import KINDS, kind_for_dims
from geostp.timeaxis import CALENDARS, calendar_of, one_step

FORMAT = "geostp-store"
FORMAT_VERSION = 1
GRID_DIMS = {name: KINDS.get(name).grid_dims for name in KINDS.names()}  # grid_kind -> dims (geostp.kinds)
NORM_KINDS = ("zscore", "minmax", "minmax_shared", "fixed")  # minmax_shared: one min/max over all variables
ZARR_FORMATS = (2, 3)
# Zarr format 3 (sharded) by default: the loader reads it as fast as v2 (median ratio 1.00)
# (benchmarks/results/bench_windows_formats.txt), one shard object per loader block means fewer objects (3x
# for its store) on object storage, and xarray opens it without warnings. `--zarr-format 2` stays for readers that only
# know v2 (zarr-python 2, older tools); geostp reads both.
DEFAULT_ZARR_FORMAT = 3
SHARD_MB = 16.0  # a v3 shard: one lazy-loader block of time (geostp.data.windows.DEFAULT_BLOCK_MB, all variables)


def segments_from_time(
    time: np.ndarray, split: np.ndarray, step: Any, sequence: np.ndarray | None = None
) -> np.ndarray:
    """Segment ids: a new segment starts where consecutive times are not one `step` apart (calendar-aware:
    `geostp.timeaxis.one_step`), or the split or the sequence changes."""
    time = np.asarray(time)
    n = len(time)
    if n == 0:
        return np.zeros(0, np.int32)
    breaks = ~one_step(time, step) | (np.asarray(split)[1:] != np.asarray(split)[:-1])
    if sequence is not None:
        sequence = np.asarray(sequence)
        breaks |= sequence[1:] != sequence[:-1]
    return np.concatenate([[0], np.cumsum(breaks)]).astype(np.int32)


def compute_stats(
    ds: xr.Dataset, variables: Sequence[str], kind: str, fixed: Mapping[str, tuple[float, float]] | None = None
) -> dict[str, dict[str, float]]:
    """Per-variable statistics over the train split only (dask-reduced, never loading the archive).

    Returns attrs per variable: norm_kind/offset/scale plus stats_mean/std/min/max/count.
    """
    import dask

    if kind not in NORM_KINDS:
        raise StoreError(f"unknown normalisation kind {kind!r}; known: {', '.join(NORM_KINDS)}")
    train = ds.isel(time=np.flatnonzero(ds["split"].values == "train"))
    if train.sizes["time"] == 0:
        if kind == "fixed":  # fixed scaling needs no statistics (e.g. generated training sequences)
            return {v: _fixed_without_stats(v, fixed) for v in variables}
        raise StoreError("the train split is empty: statistics are computed on the train split only")
    lazy = {}
    for v in variables:
        a = train[v].astype("float64")
        lazy[v] = (a.mean(), a.std(), a.min(), a.max(), a.count())
    (computed,) = dask.compute(lazy)
    out = {}
    # ST-ResNet / OpenSTL TaxiBJ: one scalar min and max over all channels together
    shared_lo = min(float(c[2]) for c in computed.values())
    shared_hi = max(float(c[3]) for c in computed.values())
    for v, (mean, std, vmin, vmax, count) in computed.items():
        mean, std, vmin, vmax = (float(x) for x in (mean, std, vmin, vmax))
        if kind == "zscore":
            offset, scale = mean, std
        elif kind == "minmax":
            offset, scale = vmin, vmax - vmin
        elif kind == "minmax_shared":
            offset, scale = shared_lo, shared_hi - shared_lo
        else:
            offset, scale = (fixed or {}).get(v, (0.0, 1.0))
        if not np.isfinite(scale) or scale <= 0:
            scale = 1.0
        out[v] = {
            "norm_kind": kind, "norm_offset": float(offset), "norm_scale": float(scale),
            "stats_mean": mean, "stats_std": std, "stats_min": vmin, "stats_max": vmax,
            "stats_count": int(count),
        }
    return out


def _fixed_without_stats(v: str, fixed: Mapping[str, tuple[float, float]] | None) -> dict[str, Any]:
    """Attrs of a fixed-normalised variable whose train split is not stored along time."""
    offset, scale = (fixed or {}).get(v, (0.0, 1.0))
    nan = float("nan")
    return {
        "norm_kind": "fixed", "norm_offset": float(offset), "norm_scale": float(scale),
        "stats_mean": nan, "stats_std": nan, "stats_min": nan, "stats_max": nan, "stats_count": 0,
    }


def write_store(
    ds: xr.Dataset,
    path: str | Path,
    *,
    catalog: str,
    time_step: str,
    norm_kind: str,
    default_t_in: int,
    default_t_out: int,
    splits: Mapping[str, str] | None = None,
    provenance: Mapping[str, Any] | None = None,
    fixed_norm: Mapping[str, tuple[float, float]] | None = None,
    time_chunk: int | None = None,
    overwrite: bool = False,
    progress: bool = True,
    extra_attrs: Mapping[str, Any] | None = None,
    wait: bool = False,
    zarr_format: int | None = None,
    shard_mb: float | None = None,
) -> str | Path:
    """Write `ds` (data vars on (time, grid), coords time and split) as a complete, checked store.

    Adds `segment`, train-split statistics and global attributes; builds under a temporary name and
    renames into place under the target's lock (`wait`: queue behind another writer), so an existing store
    at `path` survives until the new one is complete. A URL (s3://, gs://, ...) is written in place with
    the completion flag last (object stores cannot rename; one writer at a time). `zarr_format` 3 (the
    default) shards each variable so that one shard is one contiguous block of time: the frames of a loader
    block of `shard_mb` (default SHARD_MB) float32 windows of all variables, a whole number of time chunks.
    """
    zarr_format = check_zarr_format(zarr_format)
    if shard_mb is not None and zarr_format != 3:
        raise StoreError("--shard-mb sets the shards of Zarr format 3 stores; drop it or drop --zarr-format 2")
    path = path if storage.is_url(path) else storage.local_path(path)
    grid_kind = kind_for_dims(ds.dims).name
    gdims = GRID_DIMS[grid_kind]
    if "split" not in ds.coords:
        raise StoreError("write_store needs a `split` coordinate along time")
    variables = [v for v in ds.data_vars if ds[v].dims == ("time", *gdims)]
    if not variables:
        raise StoreError(f"no data variable with dims (time, {', '.join(gdims)}) to write")
    seq = ds["sequence"].values if "sequence" in ds.coords else None
    seg = segments_from_time(ds["time"].values, ds["split"].values, time_step, seq)
    calendar = calendar_of(ds["time"].values)
    source_cal = ds["time"].encoding.get("calendar")
    ds = vertical_coords(ds.assign_coords(segment=("time", seg)))  # before encodings are reset below
    stats = compute_stats(ds, variables, norm_kind, fixed_norm)
    for v in variables:
        ds[v].attrs.update(stats[v])
    if time_chunk is None:  # ~1-4 MB chunks: contiguous blocks of frames for fast windows in time
        frame_bytes = int(np.prod([ds.sizes[d] for d in gdims])) * ds[variables[0]].dtype.itemsize
        time_chunk = int(max(8, min(512, 2**21 // max(frame_bytes, 1))))
    shard = shard_frames(ds, variables, gdims, time_chunk, shard_mb) if zarr_format == 3 else time_chunk
    ds = ds.chunk({"time": shard, **{d: -1 for d in gdims}})
    for name in list(ds.variables):
        ds[name].encoding = {}
    if source_cal and calendar == "standard":  # datetime64 from a standard or proleptic_gregorian file
        calendar = CALENDARS.get(str(source_cal), str(source_cal))
        ds["time"].encoding = {"calendar": calendar}
    longest = max([5, *(len(str(s)) for s in np.unique(ds["split"].values))])
    # fixed width, never truncating a split name; v3 has no stable fixed-width string type: variable-length UTF-8
    labels = np.asarray(ds["split"].values).astype(f"<U{longest}")
    ds["split"] = ds["split"].copy(data=labels if zarr_format == 2 else labels.astype(object))
    ds.attrs.update(
        {
            "geostp_format": FORMAT,
            "geostp_format_version": FORMAT_VERSION,
            "catalog": catalog,
            "grid_kind": grid_kind,
            PERIODIC_ATTR: bool(grid_kind == "latlon" and is_periodic_lon(ds["lon"].values)),
            "variables": variables,
            "time_step": str(time_step),
            **({"calendar": calendar} if calendar else {}),
            "splits": json.dumps(dict(splits or {})),
            "default_t_in": int(default_t_in),
            "default_t_out": int(default_t_out),
            "provenance": json.dumps(dict(provenance or {}), default=str),
            **dict(extra_attrs or {}),
        }
    )
    ds.attrs.pop("geostp_complete", None)
    ds = cf_dataset(ds, what=f"{catalog} store written")
    encoding = {v: {"chunks": (time_chunk, *(ds.sizes[d] for d in gdims)), "shards": (shard, *(ds.sizes[d] for d in gdims)),
                    "compressors": v3_compressors()} for v in variables} if zarr_format == 3 else None
    if storage.is_url(path):
        target = storage.remote_target(str(path), overwrite)
    else:
        target = atomic_dir(path, overwrite=overwrite, wait=wait, size_hint=int(ds.nbytes), what="store")
    with target as tmp, storage.translate(str(path)), _quiet_v3():
        # write_empty_chunks: a chunk equal to the fill value (segment 0, zeros) must exist on disk, or
        # open_store's completeness check would call the store corrupt
        delayed = ds.to_zarr(storage.zarr_store(tmp, read_only=False), mode="w", zarr_format=zarr_format,
                             consolidated=True, compute=False, write_empty_chunks=True, encoding=encoding)
        if progress:
            from tqdm.dask import TqdmCallback

            with TqdmCallback(desc=f"writing {str(path).rstrip('/').rsplit('/', 1)[-1]}", leave=False):
                compute(delayed)
        else:
            compute(delayed)
        mark_complete(tmp, zarr_format)
    return path


def v3_compressors() -> tuple[Any, ...]:
    """Compression of v3 store variables: what zarr-python gives v2 arrays by default (blosc lz4, byte shuffle),
    not v3's default zstd level 0, which the loader decodes slower (benchmarks/results/bench_windows_formats.txt)."""
    from zarr.codecs import BloscCodec

    return (BloscCodec(cname="lz4", clevel=5, shuffle="shuffle"),)


def check_zarr_format(zarr_format: int | None) -> int:
    """The Zarr format to write: None means the default; anything but 2 or 3 is refused."""
    if zarr_format is None:
        return DEFAULT_ZARR_FORMAT
    if int(zarr_format) not in ZARR_FORMATS:
        raise StoreError(f"--zarr-format {zarr_format}: geostp writes Zarr format 2 or 3")
    return int(zarr_format)


def shard_frames(ds: xr.Dataset, variables: Sequence[str], gdims: Sequence[str], time_chunk: int,
                 shard_mb: float | None = None) -> int:
    """Frames per v3 shard: a whole number of chunks (at least one), the frames of one lazy-loader block of
    `shard_mb` MB (float32 windows of every variable: the block `geostp.data.windows` reads by default)."""
    frame_bytes = int(np.prod([ds.sizes[d] for d in gdims])) * 4 * len(variables)
    mb = SHARD_MB if shard_mb is None else shard_mb
    n = max(1, round(mb * 2**20 / (frame_bytes * time_chunk)))
    return int(min(n * time_chunk, -(-ds.sizes["time"] // time_chunk) * time_chunk))


@contextlib.contextmanager
def _quiet_v3():
    """geostp consolidates v3 metadata on purpose (fast opens on object storage): silence zarr's warning."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Consolidated metadata is currently not part", category=UserWarning)
        yield


def zarr_format_of(path: str | Path) -> int:
    """The Zarr format of the store at `path`: 3 if it has zarr.json, else 2; v3 needs zarr-python >= 3."""
    if storage.is_url(path):
        fs, inner = storage.filesystem(str(path))
        with storage.translate(str(path)):
            fmt = 3 if fs.exists(f"{inner.rstrip('/')}/zarr.json") else 2
    else:
        fmt = 3 if (storage.local_path(path) / "zarr.json").is_file() else 2
    if fmt == 3 and not zarr_reads_v3():
        raise StoreError(f"{path} is a Zarr format 3 store and the installed zarr-python "
                         f"({_zarr_version()}) reads only format 2: `pip install 'zarr>=3'`, or rebuild the "
                         "store with `--zarr-format 2`")
    return fmt


def _zarr_version() -> str:
    import zarr

    return str(zarr.__version__)


def zarr_reads_v3() -> bool:
    """Whether the installed zarr-python reads Zarr format 3 (version 3 or later)."""
    return int(_zarr_version().split(".")[0]) >= 3


def open_group(path: str | Path, mode: str = "r", zarr_format: int | None = None) -> Any:
    """The zarr group of a store (local or URL), with consolidated metadata when reading."""
    import zarr

    fmt = zarr_format or zarr_format_of(path)
    with storage.translate(str(path)), _quiet_v3():
        if mode == "r":
            return zarr.open_group(storage.zarr_store(path), mode="r", zarr_format=fmt, use_consolidated=True)
        return zarr.open_group(storage.zarr_store(path, read_only=False), mode=mode, zarr_format=fmt)


def mark_complete(path: str | Path, zarr_format: int) -> None:
    """Record each array's digest (local stores), set the completion flag last, then re-consolidate metadata."""
    import zarr

    group = open_group(path, mode="r+", zarr_format=zarr_format)
    if not storage.is_url(path):
        group.attrs["geostp_digests"] = json.dumps(array_digests(path))
    group.attrs["geostp_complete"] = 1  # an int: NetCDF attributes have no boolean type
    with storage.translate(str(path)), _quiet_v3():
        zarr.consolidate_metadata(storage.zarr_store(path, read_only=False), zarr_format=zarr_format)


ARRAY_METADATA = (".zarray", "zarr.json")  # a directory holding one of these is an array (v2, v3)


def chunk_files(array_dir: Path) -> list[Path]:
    """The chunk (v2) or shard (v3, under c/) files of a local array directory in key order, metadata excluded."""
    return sorted(p for p in array_dir.rglob("*")
                  if p.is_file() and not p.name.startswith(".") and p.name not in ARRAY_METADATA)


def _is_array(p: Path) -> bool:
    if (p / ".zarray").is_file():
        return True
    meta = p / "zarr.json"
    return meta.is_file() and json.loads(meta.read_text()).get("node_type") == "array"


def array_digests(path: str | Path, hash_bytes: bool = True) -> dict[str, dict[str, Any]]:
    """Per array of a local Zarr store (format 2 or 3): chunk (shard) file count, total bytes and (with
    `hash_bytes`) the sha256 of its chunk files in key order (their keys are hashed too)."""
    import hashlib

    out = {}
    for array_dir in sorted(p for p in Path(path).iterdir() if p.is_dir() and _is_array(p)):
        files = chunk_files(array_dir)
        entry: dict[str, Any] = {"chunks": len(files), "bytes": sum(f.stat().st_size for f in files)}
        if hash_bytes:
            h = hashlib.sha256()
            for f in files:
                h.update(f.relative_to(array_dir).as_posix().encode() + b"\0" + f.read_bytes())
            entry["sha256"] = h.hexdigest()
        out[array_dir.name] = entry
    return out


def verify_digests(path: str | Path, ds: xr.Dataset, full: bool = False) -> None:
    """Compare a local store's arrays with the digests recorded when it was completed (sizes; sha256 if `full`);
    a StoreError names the first array that differs. Stores written before digests existed pass."""
    recorded = json.loads(ds.attrs.get("geostp_digests") or "{}")
    if not recorded or "://" in str(path):
        return
    now = array_digests(path, hash_bytes=full)
    for name, rec in recorded.items():
        got = now.get(name)
        keys = ("chunks", "bytes", "sha256") if full else ("chunks", "bytes")
        bad = [k for k in keys if got is None or got.get(k) != rec.get(k)]
        if bad:
            raise IntegrityError(
                f"{path} is corrupt: array {name!r} differs from its completion record ({', '.join(bad)}); "
                "rebuild it with `geostp data prepare ... --overwrite` (or `geostp data sample --overwrite`)")


def open_store(path: str | Path, check_chunks: bool = True) -> xr.Dataset:
    """Open a geostp store lazily (a path or URL, Zarr v2 or v3), refusing half-written, corrupt or foreign stores."""
    spath = str(path)
    if not storage.exists(spath):
        raise StoreError(f"no store at {spath}; build one with `geostp data prepare ...` or `geostp data sample`")
    fmt = zarr_format_of(spath)
    try:
        with storage.translate(spath):
            ds = xr.open_zarr(storage.zarr_store(spath), consolidated=True, zarr_format=fmt)
    except StoreError:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure to open means unusable
        raise StoreError(
            f"{spath} is not a readable geostp store ({type(exc).__name__}: {exc}); "
            "it may be half-written or not a Zarr store: rebuild it with `geostp data prepare ... --overwrite`"
        ) from None
    if ds.attrs.get("geostp_format") != FORMAT:
        raise StoreError(f"{spath} is a Zarr store but not a geostp store (no geostp_format attribute)")
    if ds.attrs.get("geostp_format_version") != FORMAT_VERSION:
        raise StoreError(
            f"{spath} has store format version {ds.attrs.get('geostp_format_version')}, this geostp reads "
            f"{FORMAT_VERSION}: rebuild it with this version's `geostp data prepare`"
        )
    if not ds.attrs.get("geostp_complete"):
        raise StoreError(f"{spath} is half-written (no completion flag): rebuild it with --overwrite")
    if check_chunks:
        group = open_group(spath, zarr_format=fmt)
        for v in [*ds.attrs["variables"], *(n for n in ds.data_vars if n not in ds.attrs["variables"]),
                  "time", "split", "segment"]:
            arr = group[v]
            with storage.translate(spath):
                have, want = arr.nchunks_initialized, arr.nchunks
                if getattr(arr, "shards", None) is not None:  # v3: zarr counts the inner chunks of stored shards
                    want = int(np.prod([-(-n // c) for n, c in zip(arr.shape, arr.shards)]))
                    have //= int(np.prod([s // c for s, c in zip(arr.shards, arr.chunks)]))
            if have != want:
                raise StoreError(
                    f"{spath} is corrupt: variable {v!r} has {have} of {want} "
                    "chunks on disk; rebuild it with `geostp data prepare ... --overwrite`"
                )
        verify_digests(spath, ds)
    return ds


def store_variables(ds: xr.Dataset) -> list[str]:
    """Channel order of a store."""
    return list(ds.attrs["variables"])


def select_variables(ds: xr.Dataset, names: Sequence[str] | None) -> list[str]:
    """Check requested short names against the store; unknown ones list the known."""
    known = store_variables(ds)
    if names is None:
        return known
    for n in names:
        if n not in known:
            raise UnknownNameError("variable", n, known, where="the store")
    return list(names)


def split_names(ds: xr.Dataset) -> list[str]:
    """Split labels present in the store, in train/valid/test order."""
    present = set(np.unique(ds["split"].values).tolist())
    order = ["train", "valid", "test"]
    return [s for s in order if s in present] + sorted(present - set(order))
