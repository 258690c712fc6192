"""Moving MNIST (mnist_test_seq.npy + IDX digits, generated training sequences) and KTH frame folders -> store."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from geostp.catalogs.kth import load_frames
from geostp.data import open_store, open_windows
from geostp.data.generators import MovingMNISTSequences, bouncing_positions, moving_mnist_sequence
from geostp.errors import DataError
from tests.fixtures import fake_digits, prepare_cli, run_cli, write_idx_images, write_kth, write_mmnist

# ------------------------------------------------------------------------------------------- Moving MNIST


@pytest.fixture(scope="module")
def mmnist(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mmnist")
    seq = write_mmnist(tmp / "moving_mnist", n_seq=5, digits_subdir="MNIST/raw")
    out = tmp / "mmnist.zarr"
    res = prepare_cli("mmnist", "--root", tmp / "moving_mnist", "--out", out)
    return seq, out, res.output


def test_mmnist_test_split_is_the_file_in_order(mmnist):
    seq, out, output = mmnist
    ds = open_store(out)
    assert ds["frames"].dtype == np.uint8 and ds.sizes["time"] == 5 * 20
    np.testing.assert_array_equal(ds["digits"].values, fake_digits(30))
    assert ds.attrs["generator"] == "moving_mnist" and ds.attrs["generated_splits"] == ["train"]
    w = open_windows(out, "test", 10, 10)
    assert len(w) == 5  # one window per sequence, in file order
    for i in range(5):
        x, y = w[i]
        assert x.shape == (10, 1, 64, 64)
        np.testing.assert_allclose(torch.cat([x, y])[:, 0].numpy(), seq[:, i] / 255.0, atol=1e-7)
    w = open_windows(out, "test", 5, 5)
    assert len(w) == 5 * 11  # windows never cross from one sequence into the next
    assert "generated on the fly by 'moving_mnist'" in output


def test_mmnist_generator_reproducible_and_distinct(mmnist):
    _, out, _ = mmnist
    a = open_windows(out, "train", 10, 10)
    assert isinstance(a, MovingMNISTSequences) and len(a) == 10000
    x, y = a[3]
    assert x.shape == (10, 1, 64, 64) and y.shape == (10, 1, 64, 64) and x.dtype == torch.float32
    assert 0 <= float(x.min()) and float(x.max()) <= 1 and float(x.max()) > 0
    b = open_windows(out, "train", 10, 10)
    assert torch.equal(a[3][0], b[3][0]) and torch.equal(a[3][1], b[3][1])  # same seed, same sequence
    assert not torch.equal(a[3][0], a[4][0])
    c = open_windows(out, "train", 10, 10, seed=7)
    assert not torch.equal(a[3][0], c[3][0])
    b.set_epoch(1)
    assert not torch.equal(a[3][0], b[3][0])  # fresh sequences each epoch


def test_mmnist_generator_with_dataloader_workers(mmnist):
    _, out, _ = mmnist
    ds = open_windows(out, "train", 10, 10, length=6)

    def batches(workers):
        return [x for x, _ in torch.utils.data.DataLoader(ds, batch_size=1, num_workers=workers)]

    serial, parallel = batches(0), batches(2)
    assert all(torch.equal(p, s) for p, s in zip(parallel, serial)) and len(parallel) == 6
    # worker 0 serves items 0, 2, 4 and worker 1 items 1, 3, 5: their sequences all differ
    assert len({p.numpy().tobytes() for p in parallel}) == 6


def test_bouncing_protocol():
    rng = np.random.default_rng(0)
    pos = bouncing_positions(rng, 200, 2, 36, 0.1)
    assert pos.min() >= 0 and pos.max() <= 36
    assert np.abs(np.diff(pos, axis=0)).max() <= 4  # 3.6 px per frame at most, truncated
    assert (pos == 0).any() and (pos == 36).any()  # it reaches the walls and bounces back
    block = np.full((1, 28, 28), 200, np.uint8)
    frames = moving_mnist_sequence(np.random.default_rng(1), block, 20, n_digits=1)
    replay = np.random.default_rng(1)
    replay.integers(0, 1, 1)
    p = bouncing_positions(replay, 20, 1, 36, 0.1)
    for t in range(20):
        r, c = p[t, 0]
        assert frames[t].sum() == 200 * 28 * 28 and (frames[t, r : r + 28, c : c + 28] == 200).all()
    two = moving_mnist_sequence(np.random.default_rng(2), np.stack([block[0], block[0] // 2]), 5)
    assert two.max() == 200  # overlap is the pixel-wise maximum, never a sum


def test_mmnist_missing_files(tmp_path):
    root = tmp_path / "mm"
    write_mmnist(root, n_seq=1)
    (root / "train-images-idx3-ubyte.gz").unlink()
    write_idx_images(root / "t10k-images-idx3-ubyte.gz", fake_digits(3))
    with pytest.raises(DataError, match=r"missing under .*train-images-idx3-ubyte\[.gz\].*found t10k-images-idx3-ubyte.gz"):
        prepare_cli("mmnist", "--root", root, "--out", tmp_path / "s.zarr")
    (root / "mnist_test_seq.npy").unlink()
    with pytest.raises(DataError, match="mnist_test_seq.npy"):
        prepare_cli("mmnist", "--root", root, "--out", tmp_path / "s.zarr")
    np.save(root / "mnist_test_seq.npy", np.zeros((3, 64, 64), np.uint8))
    write_idx_images(root / "train-images-idx3-ubyte.gz", fake_digits(3))
    with pytest.raises(DataError, match=r"expected uint8 \(frames, sequences, 64, 64\) with frames first"):
        prepare_cli("mmnist", "--root", root, "--out", tmp_path / "s.zarr")
    with pytest.raises(Exception, match="--vars does not apply to catalog 'mmnist'"):
        prepare_cli("mmnist", "--root", root, "--vars", "frames", "--out", tmp_path / "s.zarr")


# -------------------------------------------------------------------------------------------------- KTH


@pytest.fixture(scope="module")
def kth(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("kth")
    frames = write_kth(tmp / "kth")
    out = tmp / "kth.zarr"
    prepare_cli("kth", "--root", tmp / "kth", "--out", out)
    return frames, out


def test_kth_store_order_splits_and_sequences(kth):
    frames, out = kth
    ds = open_store(out)
    order = ["boxing/person01_boxing_d1_uncomp", "handwaving/person16_handwaving_d4_uncomp",
             "walking/person02_walking_d3_uncomp", "boxing/person17_boxing_d1_uncomp", "running/person18_running_d2_uncomp"]
    assert ds.attrs["videos"] == order
    np.testing.assert_array_equal(ds["frames"].values, np.concatenate([frames[v] for v in order]))
    split = ds["split"].values
    assert (split[: 12 + 7 + 16] == "train").all() and (split[35:] == "test").all()
    assert len(np.unique(ds["segment"].values)) == 6  # walking has a gap in its frame numbers
    assert ds.attrs["default_t_in"] == 10 and ds.attrs["default_t_out"] == 20
    assert ds["frames"].attrs["norm_offset"] == 0 and ds["frames"].attrs["norm_scale"] == 255


def test_kth_windows_exact_and_within_runs(kth):
    frames, out = kth
    ds = open_store(out)
    raw, frame_no, video = ds["frames"].values, ds["frame"].values, ds["video"].values
    w = open_windows(out, "train", 2, 3)
    assert len(w) == (12 - 4) + (7 - 4) + (6 - 4) + (10 - 4)
    for i in range(len(w)):
        s = int(w.starts[i])
        assert len(set(video[s : s + 5])) == 1 and (np.diff(frame_no[s : s + 5]) == 1).all()
        x, y = w[i]
        np.testing.assert_allclose(torch.cat([x, y])[:, 0].numpy(), raw[s : s + 5] / 255.0, atol=1e-7)
    with pytest.raises(DataError, match="longest gap-free run is 10"):
        open_windows(out, "test", 10, 20)  # a window longer than any sequence of the split


def test_kth_resize_and_missing_root(tmp_path):
    img = np.random.default_rng(0).integers(0, 256, (120, 160, 3), dtype=np.uint8)
    Image.fromarray(img).save(tmp_path / "image_0001.png")
    from skimage.transform import resize

    want = np.rint(resize(img[..., 0].astype(np.float32), (128, 128), order=1, anti_aliasing=False, preserve_range=True))
    np.testing.assert_array_equal(load_frames([str(tmp_path / "image_0001.png")], 128)[0], want)
    with pytest.raises(DataError, match="no KTH action folders in .*expected boxing, handclapping"):
        prepare_cli("kth", "--root", tmp_path, "--out", tmp_path / "s.zarr")
    res = run_cli("data", "prepare", "kth", "--root", tmp_path / "none", "--out", tmp_path / "s.zarr")
    assert res.exit_code != 0 and "does not exist" in str(res.exception)
