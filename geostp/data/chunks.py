"""Direct reads of whole-grid time chunks from a local Zarr array (format 2, or 3 plain or sharded),
decoded into a reused buffer.

Why hand-written: zarr-python 3 reads through an asyncio pipeline with thread hops and per-chunk buffers.
On the benchmark store (2 cores) a whole variable took 0.33 s CPU through `arr[:]` against 0.03 s to
decompress its chunks, and reads into a preallocated buffer still cost 2-3x the decompression; block
reads then cost about as much as all the window copies of an epoch (lazy loader at 41-58 % of the
in-memory one; 63-81 % with this reader in two runs, benchmarks/results/bench_windows.txt). This reader takes the same
chunk files and the array's own numcodecs compressor (from zarr's metadata), so the bytes decoded are
the same; `for_array` returns None for anything it does not cover (remote stores, filters, F order,
chunks that split the grid, codecs other than bytes+zstd or bytes+blosc in v3), and the caller then reads
through zarr.
Zarr v3 shards (sharding_indexed, index at the end: offset/nbytes uint64 pairs then a crc32c) are read
inner chunk by inner chunk with positioned reads, so a lone window does not read its whole shard.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


class ChunkReader:
    """Reads frames [lo, hi) of one (time, ...) array whose chunks span the whole grid."""

    def __init__(self, directory: Path, shape: tuple[int, ...], chunk: int, dtype: np.dtype, compressor: Any,
                 fill_value: Any, separator: str) -> None:
        self.directory, self.shape, self.chunk, self.compressor = directory, shape, chunk, compressor
        self.fill_value = np.nan if fill_value is None else fill_value
        self.tail = "".join(separator + "0" for _ in shape[1:])
        self.scratch = np.empty((chunk, *shape[1:]), dtype)  # one decoded chunk, reused

    @classmethod
    def for_array(cls, arr: Any, store: str, name: str) -> ChunkReader | ShardReader | None:
        """A reader for zarr array `arr` (variable `name` of the store at path `store`), or None if not covered."""
        from zarr.core.metadata import ArrayV2Metadata, ArrayV3Metadata

        md = arr.metadata
        directory = Path(store) / name
        if "://" in store or not directory.is_dir():
            return None
        if isinstance(md, ArrayV3Metadata):
            return ShardReader.for_v3(arr, directory)
        if (not isinstance(md, ArrayV2Metadata) or md.filters or md.order != "C"
                or tuple(md.chunks[1:]) != tuple(arr.shape[1:])):
            return None
        return cls(directory, tuple(arr.shape), int(md.chunks[0]), np.dtype(arr.dtype), md.compressor,
                   md.fill_value, md.dimension_separator or ".")

    def chunks(self, lo: int, hi: int):
        """Yield (a, b, decoded) for each chunk overlapping [lo, hi): frames a..b-1 are decoded[a - start : b - start]."""
        for i in range(lo // self.chunk, (hi - 1) // self.chunk + 1):
            start = i * self.chunk
            a, b = max(lo, start), min(hi, start + self.chunk)
            path = self.directory / f"{i}{self.tail}"
            if not path.exists():  # never-written chunk: the fill value (write_store writes every chunk)
                self.scratch[a - start : b - start] = self.fill_value
            elif self.compressor is None:
                self.scratch.reshape(-1).view(np.uint8)[:] = np.frombuffer(path.read_bytes(), np.uint8)
            else:
                self.compressor.decode(path.read_bytes(), out=self.scratch)
            yield a, b, self.scratch[a - start : b - start]


_EMPTY = np.uint64(2**64 - 1)  # sharding index entry of an inner chunk that was never written


def _v3_compressor(codecs: tuple) -> tuple[bool, Any]:
    """(covered, numcodecs compressor or None) for a v3 codec chain of bytes(little) [+ zstd or blosc]."""
    from numcodecs import Blosc, Zstd
    from zarr.codecs import BloscCodec, BytesCodec, ZstdCodec

    if not codecs or not isinstance(codecs[0], BytesCodec) or str(getattr(codecs[0].endian, "value", "little")) != "little":
        return False, None
    if len(codecs) == 1:
        return True, None
    if len(codecs) == 2 and isinstance(codecs[1], ZstdCodec):
        return True, Zstd(level=codecs[1].level)
    if len(codecs) == 2 and isinstance(codecs[1], BloscCodec):  # a blosc frame's header says how to decode it
        return True, Blosc()
    return False, None


class ShardReader:
    """Reads frames [lo, hi) of a local Zarr v3 array chunked (or sharded) along time only, chunk by inner chunk."""

    def __init__(self, directory: Path, shape: tuple[int, ...], shard: int, chunk: int, dtype: np.dtype,
                 compressor: Any, fill_value: Any, sharded: bool) -> None:
        self.directory, self.shape, self.shard, self.chunk = directory, shape, shard, chunk
        self.compressor, self.sharded = compressor, sharded
        self.fill_value = np.nan if fill_value is None else fill_value
        self.per_shard = shard // chunk
        self.tail = "/0" * (len(shape) - 1)
        self.scratch = np.empty((chunk, *shape[1:]), dtype)
        self.chunk_bytes = self.scratch.nbytes
        self._index: dict[int, np.ndarray | None] = {}  # shard -> (per_shard, 2) offsets/nbytes; None: no file

    @classmethod
    def for_v3(cls, arr: Any, directory: Path) -> ShardReader | None:
        """A reader for v3 array `arr` stored under `directory`, or None if its layout is not covered."""
        from zarr.codecs import BytesCodec, Crc32cCodec, ShardingCodec

        md = arr.metadata
        enc = md.chunk_key_encoding
        if getattr(enc, "name", "default") != "default" or getattr(enc, "separator", "/") != "/":
            return None
        outer = tuple(md.chunk_grid.chunk_shape)
        if outer[1:] != tuple(arr.shape[1:]):
            return None
        codecs = tuple(md.codecs)
        if len(codecs) == 1 and isinstance(codecs[0], ShardingCodec):
            sc = codecs[0]
            index_ok = (len(sc.index_codecs) == 2 and isinstance(sc.index_codecs[0], BytesCodec)
                        and isinstance(sc.index_codecs[1], Crc32cCodec) and str(sc.index_location.value) == "end")
            ok, comp = _v3_compressor(tuple(sc.codecs))
            inner = tuple(sc.chunk_shape)
            if not (index_ok and ok and inner[1:] == outer[1:] and outer[0] % inner[0] == 0):
                return None
            return cls(directory, tuple(arr.shape), outer[0], inner[0], np.dtype(arr.dtype), comp, md.fill_value, True)
        ok, comp = _v3_compressor(codecs)
        if not ok:
            return None
        return cls(directory, tuple(arr.shape), outer[0], outer[0], np.dtype(arr.dtype), comp, md.fill_value, False)

    def _shard_index(self, s: int, fh: Any) -> np.ndarray:
        """Offsets and sizes of shard s's inner chunks (read once from the end of the shard)."""
        idx = self._index.get(s)
        if idx is None:
            n = self.per_shard * 16 + 4  # uint64 (offset, nbytes) per inner chunk, then the crc32c
            fh.seek(-n, 2)
            idx = np.frombuffer(fh.read(n)[:-4], "<u8").reshape(self.per_shard, 2)
            self._index[s] = idx
        return idx

    def _decode(self, raw: bytes) -> None:
        if self.compressor is None:
            self.scratch.reshape(-1).view(np.uint8)[:] = np.frombuffer(raw, np.uint8)
        else:
            self.compressor.decode(raw, out=self.scratch)

    def chunks(self, lo: int, hi: int):
        """Yield (a, b, decoded) for each inner chunk overlapping [lo, hi), as ChunkReader.chunks."""
        fh, open_shard = None, -1
        try:
            for i in range(lo // self.chunk, (hi - 1) // self.chunk + 1):
                start = i * self.chunk
                a, b = max(lo, start), min(hi, start + self.chunk)
                s, j = divmod(i, self.per_shard)
                path = self.directory / "c" / f"{s}{self.tail}"
                if s != open_shard:
                    if fh is not None:
                        fh.close()
                    fh = open(path, "rb") if path.exists() else None  # noqa: SIM115 - closed below
                    open_shard = s
                if fh is None:
                    self.scratch[a - start : b - start] = self.fill_value
                elif not self.sharded:
                    fh.seek(0)
                    self._decode(fh.read())
                else:
                    off, nbytes = self._shard_index(s, fh)[j]
                    if off == _EMPTY:
                        self.scratch[a - start : b - start] = self.fill_value
                    else:
                        fh.seek(int(off))
                        self._decode(fh.read(int(nbytes)))
                yield a, b, self.scratch[a - start : b - start]
        finally:
            if fh is not None:
                fh.close()
