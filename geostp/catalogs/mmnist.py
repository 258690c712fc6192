"""Moving MNIST reader: `mnist_test_seq.npy` (frames first) as the test split, MNIST IDX training digits
stored alongside so that `open_windows(store, "train", ...)` generates training sequences on the fly."""

from __future__ import annotations

import gzip
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import dask
import dask.array as dsa
import numpy as np
import xarray as xr

from geostp.catalogs.base import CatalogReader, PrepareRequest, Source, cf_attrs
from geostp.catalogs.registry import register_catalog
from geostp.errors import DataError

IDX_IMAGES_MAGIC = 2051


@dataclass
class MovingMNISTOptions:
    """File names and the generator's protocol (OpenSTL: 2 digits, 64 px canvas, speed 0.1, 10 000/epoch)."""

    test_file: str = "mnist_test_seq.npy"
    digit_file: str = "train-images-idx3-ubyte"
    num_digits: int = 2
    canvas: int = 64
    digit_size: int = 28
    speed: float = 0.1
    epoch_length: int = 10000
    seed: int = 42


def read_idx_images(path: Path) -> np.ndarray:
    """MNIST IDX image file (optionally gzipped) -> uint8 (n, rows, cols); the header is checked."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        raw = fh.read()
    if len(raw) < 16:
        raise DataError(f"{path} is too short to be an IDX image file ({len(raw)} bytes)")
    magic, n, rows, cols = np.frombuffer(raw[:16], ">u4")
    if magic != IDX_IMAGES_MAGIC:
        raise DataError(f"{path} is not an IDX image file (magic {magic}, expected {IDX_IMAGES_MAGIC})")
    if len(raw) != 16 + int(n) * rows * cols:
        raise DataError(f"{path} is truncated: header says {n} images of {rows}x{cols}, file has {len(raw) - 16} pixel bytes")
    return np.frombuffer(raw, np.uint8, offset=16).reshape(int(n), int(rows), int(cols))


def read_sequences(path: str, a: int, b: int) -> np.ndarray:
    """Sequences a..b-1 of a frames-first (T, N, H, W) file as one frame axis (sequence-major)."""
    seq = np.load(path, mmap_mode="r")[:, a:b]
    return np.ascontiguousarray(seq.transpose(1, 0, 2, 3)).reshape(-1, *seq.shape[2:])


@register_catalog("mmnist")
class MovingMNISTReader(CatalogReader):
    """Test sequences from the published file; training digits for the `moving_mnist` generator."""

    Options = MovingMNISTOptions
    accepts = frozenset()

    def _find(self, root: Path, names: list[str]) -> Path | None:
        for name in names:
            hits = sorted(root.rglob(name))
            if hits:
                return hits[0]
        return None

    def open(self, req: PrepareRequest) -> Source:
        root = self.root(req)
        o = self.options
        test = self._find(root, [o.test_file])
        digits_file = self._find(root, [o.digit_file, o.digit_file + ".gz"])
        if test is None or digits_file is None:
            missing = ([o.test_file] if test is None else []) + ([f"{o.digit_file}[.gz]"] if digits_file is None else [])
            other = sorted(p.name for p in root.rglob("*-images-idx3-ubyte*"))
            hint = f" (found {', '.join(other)}: the test digits are not used for training)" if other else ""
            raise DataError(f"missing under {root} (searched recursively): {', '.join(missing)}{hint}; expected:\n{self.spec.layout}")
        digits = read_idx_images(digits_file)
        if digits.shape[1:] != (o.digit_size, o.digit_size):
            raise DataError(f"{digits_file}: digits are {digits.shape[1]}x{digits.shape[2]}, expected {o.digit_size}x{o.digit_size}")
        seq = np.load(test, mmap_mode="r")  # only the header is read here
        if seq.ndim != 4 or seq.shape[2:] != (o.canvas, o.canvas) or seq.dtype != np.uint8:
            raise DataError(
                f"{test}: array {seq.dtype} {seq.shape}, expected uint8 (frames, sequences, {o.canvas}, {o.canvas}) "
                "with frames first, as in the published mnist_test_seq.npy (20, 10000, 64, 64)"
            )
        n_frames, n_seq = seq.shape[:2]
        block = max(1, 4096 // n_frames)
        # tasks hold the path, not the array, so they also travel to dask distributed workers
        frames = dsa.concatenate([
            dsa.from_delayed(dask.delayed(read_sequences)(str(test), a, min(a + block, n_seq)),
                             shape=((min(a + block, n_seq) - a) * n_frames, o.canvas, o.canvas), dtype=np.uint8)
            for a in range(0, n_seq, block)
        ])
        var = self.spec.variable("frames")
        ds = xr.Dataset(
            {"frames": (("time", "y", "x"), frames, cf_attrs(var))},
            coords={
                "time": np.arange(n_seq * n_frames, dtype=np.int64),
                "y": np.arange(o.canvas), "x": np.arange(o.canvas),
                "split": ("time", np.full(n_seq * n_frames, "test")),
                "sequence": ("time", np.repeat(np.arange(n_seq, dtype=np.int32), n_frames)),
            },
        )
        static = xr.Dataset(
            {"digits": (("digit", "digit_y", "digit_x"), dsa.from_array(digits, chunks=(10000, -1, -1)),
                        {"long_name": "MNIST training digits for the Moving MNIST generator", "source": str(digits_file)})}
        )
        gen = {k: v for k, v in asdict(o).items() if k not in ("test_file", "digit_file")}
        return Source(
            ds=ds, time_step="1", files=[str(test), str(digits_file)], static=static,
            attrs={"generator": "moving_mnist", "generated_splits": ["train"], "generator_options": json.dumps(gen)},
            split_rule={
                "test": f"{o.test_file}: {n_seq} sequences of {n_frames} frames, in file order",
                "train": f"generated on the fly: {o.num_digits} bouncing digits from {digits_file.name} ({len(digits)} digits)",
            },
        )
