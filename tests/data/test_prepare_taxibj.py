"""TaxiBJ HDF5 files -> store: ST-ResNet cleaning, slot times, last-28-days test split, one min-max over both
channels on train."""

from __future__ import annotations

import h5py
import numpy as np
import pandas as pd
import pytest
import torch

from geostp.catalogs.taxibj import complete_day_mask
from geostp.data import open_store, open_windows
from geostp.errors import DataError
from tests.fixtures import prepare_cli, write_taxibj


@pytest.fixture(scope="module")
def taxibj(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("taxibj")
    write_taxibj(tmp / "TaxiBJ")
    out = tmp / "taxibj.zarr"
    res = prepare_cli("taxibj", "--root", tmp / "TaxiBJ", "--out", out)
    return tmp, out, res.output


def source_by_time(root):
    """Oracle: {slot start time: (2, 32, 32) flows clipped at 0}, straight from the h5 files."""
    out = {}
    for f in sorted(root.glob("BJ*_M32x32_T30_InOut.h5")):
        with h5py.File(f) as h:
            for s, frame in zip(h["date"][:], h["data"][:]):
                s = s.decode()
                t = pd.Timestamp(s[:8]) + pd.Timedelta(minutes=30 * (int(s[8:]) - 1))
                out[t] = np.maximum(frame, 0)
    return out


def test_complete_day_rule():
    day = [f"20150301{k:02d}" for k in range(1, 49)]
    short = [f"20150302{k:02d}" for k in range(1, 49) if k != 17]
    assert complete_day_mask(day + short).tolist() == [True] * 48 + [False] * 47
    assert complete_day_mask(short + day).tolist() == [False] * 47 + [True] * 48


def test_cleaning_times_and_splits(taxibj):
    tmp, out, _ = taxibj
    ds = open_store(out)
    t = pd.DatetimeIndex(ds["time"].values)
    days = sorted(set(t.normalize()))
    assert pd.Timestamp("2014-03-02") not in days and pd.Timestamp("2016-03-01") not in days  # incomplete
    assert all((t.normalize() == d).sum() == 48 for d in days)
    assert t[0] == pd.Timestamp("2013-07-01 00:00") and t[47] == pd.Timestamp("2013-07-01 23:30")
    split = ds["split"].values
    test_days = sorted(set(t[split == "test"].normalize()))
    assert len(test_days) == 28 and test_days == days[-28:]
    assert t[split == "train"].max() < t[split == "test"].min()
    assert ds.attrs["time_step"] == "30min" and ds.attrs["variables"] == ["inflow", "outflow"]
    assert ds.attrs["default_t_in"] == 4 and ds.attrs["default_t_out"] == 4
    # a window never crosses the gap between files or a removed day
    w = open_windows(out, "train", t_in=4, t_out=4)
    for s in w.starts:
        assert (np.diff(t[s : s + 8]) == pd.Timedelta("30min")).all()


def test_windows_exact_and_minmax_on_train(taxibj):
    tmp, out, _ = taxibj
    src = source_by_time(tmp / "TaxiBJ")
    ds = open_store(out)
    t = pd.DatetimeIndex(ds["time"].values)
    train = np.stack([src[x] for x in t[ds["split"].values == "train"]])
    assert train[:, 0].max() != train[:, 1].max()  # the channels' ranges differ...
    for c, v in enumerate(["inflow", "outflow"]):
        a = ds[v].attrs
        # ...but ST-ResNet/OpenSTL scale both with ONE scalar min and max over the train split
        assert a["norm_kind"] == "minmax_shared"
        assert (a["norm_offset"], a["norm_scale"]) == (train.min(), train.max() - train.min())
        assert a["stats_min"] == 0.0  # the planted -1 was clipped
        assert a["stats_max"] == train[:, c].max()  # per-channel statistics are still recorded
    for split in ("train", "test"):
        w = open_windows(out, split, t_in=4, t_out=4)
        for i in [0, len(w) // 2, len(w) - 1]:
            x, y = w[i]
            times = pd.date_range(pd.Timestamp(w.init_times[i]) - pd.Timedelta("90min"), periods=8, freq="30min")
            want = np.stack([src[tt] for tt in times])
            np.testing.assert_allclose(w.denormalize(torch.cat([x, y])).numpy(), want, rtol=1e-5, atol=1e-3)
            if split == "train":
                assert 0 <= float(x.min()) and float(x.max()) <= 1


def test_year_splits_and_missing_files(tmp_path):
    root = tmp_path / "TaxiBJ"
    write_taxibj(root, files=("BJ15", "BJ16"))
    out = tmp_path / "t.zarr"
    res = prepare_cli("taxibj", "--root", root, "--splits", "train=2015,test=2016", "--out", out)
    assert "note: 2 of the 4 TaxiBJ files are missing" in res.stderr and "BJ13_M32x32_T30_InOut.h5" in res.stderr
    ds = open_store(out)
    years = pd.DatetimeIndex(ds["time"].values).year
    assert set(years[ds["split"].values == "train"]) == {2015} and set(years[ds["split"].values == "test"]) == {2016}
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"no TaxiBJ flow files in .*expected BJ13_M32x32_T30_InOut.h5, BJ14"):
        prepare_cli("taxibj", "--root", tmp_path / "empty", "--out", tmp_path / "s.zarr")
