"""Windows equal the exact source slices, never cross a gap or split, and denormalise back."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from geostp.data import open_windows
from geostp.errors import DataError, UnknownNameError


def test_windows_match_source_and_respect_gaps(tiny_store):
    path, src = tiny_store
    ds = open_windows(path, "train", t_in=3, t_out=2, step="12h")
    assert ds.variables == ["t850", "z500"]
    times = src["time"].values
    for i in [0, 1, len(ds) // 2, len(ds) - 1]:
        x, y = ds[i]
        assert x.shape == (3, 2, 4, 8) and y.shape == (2, 2, 4, 8) and x.dtype == torch.float32
        s = int(ds.starts[i])
        idx = np.arange(s, s + 9, 2)
        frames = np.stack([src[v].values[idx] for v in ds.variables], axis=1)
        back = ds.denormalize(torch.cat([x, y])).numpy()
        np.testing.assert_allclose(back, frames, rtol=1e-5)
        assert ds.init_times[i] == times[idx[2]]
    # no window crosses the March gap or leaves the train split
    for s in ds.starts:
        span = times[s : s + 9]
        assert (np.diff(span) == np.timedelta64(6, "h")).all()
        assert set(src["split"].values[s : s + 9]) == {"train"}


def test_stats_are_train_only(tiny_store):
    path, src = tiny_store
    ds = open_windows(path, "test", t_in=2, t_out=2)
    train = src["t850"].values[src["split"].values == "train"].astype(np.float64)
    assert ds.stats["t850"]["norm_offset"] == pytest.approx(train.mean(), rel=1e-6)
    assert ds.stats["t850"]["norm_scale"] == pytest.approx(train.std(), rel=1e-6)


def test_bad_requests(tiny_store):
    path, _ = tiny_store
    with pytest.raises(UnknownNameError, match="known: t850, z500"):
        open_windows(path, "train", 2, 2, variables=["t85"])
    with pytest.raises(UnknownNameError, match="known: test, train, valid"):
        open_windows(path, "validation", 2, 2)
    with pytest.raises(DataError, match="longest gap-free run"):
        open_windows(path, "valid", 1000, 1000)
