"""KTH Actions reader: pre-extracted frame folders `<action>/personNN_<action>_dK_uncomp/image_NNNN.<ext>`.

As in the PredRNN / E3D-LSTM / OpenSTL loaders: the person is characters 6-7 of the video folder, the
frame number characters 6-9 of the file name, channel 0 is kept and frames are resized to 128x128
(bilinear). Persons 1-16 are train, 17-25 test. Unlike the reference, video folders are sorted, so the
order does not depend on the filesystem. A gap in frame numbers starts a new sequence.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import dask
import dask.array as dsa
import numpy as np
import xarray as xr

from geostp.catalogs.base import CatalogReader, PrepareRequest, Source, cf_attrs
from geostp.catalogs.registry import register_catalog
from geostp.errors import DataError


@dataclass
class KTHOptions:
    """Action folders (in the reference's order), person ranges of the splits, output frame size."""

    actions: list[str] = field(default_factory=list)
    train_persons: tuple[int, int] = (1, 16)
    test_persons: tuple[int, int] = (17, 25)
    size: int = 128


def load_frames(paths: list[str], size: int) -> np.ndarray:
    """Read images, keep channel 0, resize to size x size (bilinear, like OpenCV's default) -> uint8."""
    from PIL import Image
    from skimage.transform import resize

    out = np.empty((len(paths), size, size), np.uint8)
    for i, p in enumerate(paths):
        with Image.open(p) as im:
            a = np.asarray(im)
        a = a[..., 0] if a.ndim == 3 else a
        if a.shape != (size, size):
            a = resize(a.astype(np.float32), (size, size), order=1, anti_aliasing=False, preserve_range=True)
            a = np.clip(np.rint(a), 0, 255)
        out[i] = a
    return out


@register_catalog("kth")
class KTHReader(CatalogReader):
    """Reads KTH frame folders into `frames` on (time, y, x), one sequence per gap-free run of a video."""

    Options = KTHOptions
    accepts = frozenset()

    def open(self, req: PrepareRequest) -> Source:
        root = self.root(req)
        o = self.options
        actions = [a for a in o.actions if (root / a).is_dir()]
        if not actions:
            raise DataError(
                f"no KTH action folders in {root}: expected {', '.join(o.actions)} "
                f"(found: {', '.join(sorted(p.name for p in root.iterdir() if p.is_dir())) or 'nothing'}); layout:\n{self.spec.layout}"
            )
        notes = [f"action folders missing from {root}: {', '.join(a for a in o.actions if a not in actions)}"] if len(actions) < len(o.actions) else []
        videos = {"train": [], "test": []}
        for action in actions:
            for vdir in sorted(p for p in (root / action).iterdir() if p.is_dir()):
                try:
                    person = int(vdir.name[6:8])
                except ValueError:
                    raise DataError(f"{vdir}: video folders must be named personNN_<action>_dK_uncomp") from None
                split = next((s for s, (a, b) in (("train", o.train_persons), ("test", o.test_persons)) if a <= person <= b), None)
                frames = sorted(f for f in vdir.iterdir() if f.name.startswith("image"))
                if split is None or not frames:
                    continue
                try:
                    numbers = np.array([int(f.name[6:10]) for f in frames])
                except ValueError:
                    raise DataError(f"{vdir}: frame files must be named image_NNNN.<ext>, got e.g. {frames[0].name}") from None
                videos[split].append((vdir, frames, numbers))
        blocks, split, seq, number, video_idx, names = [], [], [], [], [], []
        next_seq = 0
        for s in ("train", "test"):
            for vdir, frames, numbers in videos[s]:
                runs = np.concatenate([[0], np.cumsum(np.diff(numbers) != 1)])
                blocks.append(dsa.from_delayed(dask.delayed(load_frames)([str(f) for f in frames], o.size),
                                               shape=(len(frames), o.size, o.size), dtype=np.uint8))
                split += [s] * len(frames)
                seq.append(next_seq + runs)
                next_seq += int(runs[-1]) + 1
                number.append(numbers)
                video_idx += [len(names)] * len(frames)
                names.append(f"{vdir.parent.name}/{vdir.name}")
        for s, (a, b) in (("train", o.train_persons), ("test", o.test_persons)):
            if not videos[s]:
                raise DataError(f"split {s!r} (persons {a}-{b}) has no video with image_* frames under {root}")
        n = len(split)
        var = self.spec.variable("frames")
        ds = xr.Dataset(
            {"frames": (("time", "y", "x"), dsa.concatenate(blocks), cf_attrs(var))},
            coords={
                "time": np.arange(n, dtype=np.int64), "y": np.arange(o.size), "x": np.arange(o.size),
                "split": ("time", np.array(split)),
                "sequence": ("time", np.concatenate(seq).astype(np.int32)),
                "frame": ("time", np.concatenate(number).astype(np.int32)),
                "video": ("time", np.array(video_idx, np.int32)),
            },
        )
        files = [str(root / nm) for nm in names]
        return Source(
            ds=ds, time_step="1", files=files, notes=notes, attrs={"videos": names},
            split_rule={"train": f"persons {o.train_persons[0]}-{o.train_persons[1]}", "test": f"persons {o.test_persons[0]}-{o.test_persons[1]}"},
        )
