"""Each corruption found by the fault trials gives the old data intact and one line (or a noted fallback)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr

from geostp.data.store import open_store
from geostp.errors import DataError, IntegrityError
from geostp.training import load_run, train
from geostp.training.checkpoint import sha256_file, state_dirs, verify_weights
from geostp.training.logging import read_metrics
from tests.fault.conftest import error_line, prepare_args, run, write_source

pytestmark = pytest.mark.fault


def _flip_tensor_bytes(path: Path, value: float) -> None:
    """Overwrite 16 float32 values inside the tensor data (past the header) of a safetensors file."""
    raw = bytearray(path.read_bytes())
    start = 8 + int.from_bytes(raw[:8], "little")
    raw[start + 64: start + 128] = np.full(16, value, np.float32).tobytes()
    path.write_bytes(bytes(raw))


def _state(run_dir: Path) -> dict:
    model, info = load_run(run_dir)
    return {"weights": info.weights.name, "step": info.step, "params": [p.detach().clone() for p in model.parameters()]}


def test_weights_digests_are_in_the_signature(run_copy):
    sig = json.loads((run_copy / "signature.json").read_text())
    for name in ("best.safetensors", "last.safetensors"):
        assert sig["weights_sha256"][name] == [sha256_file(run_copy / name)]
        assert verify_weights(run_copy / name) is None


@pytest.mark.parametrize("value", [float("nan"), 0.123])
def test_corrupt_best_falls_back_to_last(run_copy, value, capsys):
    """NaN bytes or finite bytes inside best's tensor data: the checksum catches both; last is used, with a note."""
    _flip_tensor_bytes(run_copy / "best.safetensors", value)
    model, info = load_run(run_copy)
    assert info.weights.name == "last.safetensors"
    assert "best.safetensors is corrupt" in capsys.readouterr().err
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_truncated_best_and_last_is_one_line(run_copy):
    for name in ("best.safetensors", "last.safetensors"):
        path = run_copy / name
        path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(IntegrityError, match="corrupt.*--resume") as info:
        load_run(run_copy)
    assert "\n" not in str(info.value)


def test_corrupt_newest_state_falls_back_to_previous(run_copy, capsys):
    """Truncated model, garbage trainer.json, truncated optimizer: resume uses the previous state and says so."""
    states = state_dirs(run_copy)
    assert [s.name for s in states] == ["step-00000006", "step-00000012"]
    newest = states[-1]
    opt = next(newest.glob("optimizer*.bin"))
    opt.write_bytes(opt.read_bytes()[:100])
    (newest / "trainer.json").write_text("{garbage")
    model = next(newest.glob("model*.safetensors"))
    model.write_bytes(model.read_bytes()[:100])
    train(resume=run_copy)
    err = capsys.readouterr().err
    assert "step-00000012 is corrupt" in err and "resuming" in err and "from step-00000006 (step 6" in err
    events = read_metrics(run_copy / "metrics.jsonl")
    keys = [(e["event"], e["step"]) for e in events]
    assert len(keys) == len(set(keys)), keys  # no duplicated lines
    assert verify_weights(run_copy / "last.safetensors") is None
    assert [s.name for s in state_dirs(run_copy)] == ["step-00000006", "step-00000012"]


def test_kill_before_first_checkpoint_starts_afresh_saying_so(run_copy, capsys):
    import shutil

    shutil.rmtree(run_copy / "state")
    (run_copy / "last.safetensors").unlink()
    train(resume=run_copy)
    assert "no complete resume state" in capsys.readouterr().err
    events = read_metrics(run_copy / "metrics.jsonl")
    assert [e["event"] for e in events].count("baseline") == 1
    keys = [(e["event"], e["step"]) for e in events]
    assert len(keys) == len(set(keys))


def test_resume_with_no_steps_left_repairs_a_corrupt_last(run_copy, capsys):
    path = run_copy / "last.safetensors"
    path.write_bytes(path.read_bytes()[:500])
    train(resume=run_copy)
    assert "resuming" in capsys.readouterr().err
    assert verify_weights(path) is None


def test_torn_runs_are_skipped_in_discovery(run_copy, tmp_path, capsys):
    from geostp.forecast.runs import list_runs

    root = run_copy.parent
    import shutil

    torn = Path(shutil.copytree(run_copy, root / "torn"))
    (torn / "signature.json").write_text('{"format": "geostp-r')
    noconf = Path(shutil.copytree(run_copy, root / "noconf"))
    (noconf / "config.yaml").unlink()
    runs = list_runs([root])
    assert [r.path.name for r in runs] == ["run"]
    err = capsys.readouterr().err
    assert "skipping run" in err and "torn" in err and "config.yaml missing" in err


def test_all_nan_fill_is_an_error(tmp_path):
    src = write_source(tmp_path / "src.nc", years=(2000, 2002))
    ds = xr.open_dataset(src).load()
    ds["t2m"][:] = np.nan
    ds.to_netcdf(tmp_path / "nan.nc")
    for fill in ("mean", "nearest"):
        res = run(prepare_args(tmp_path / "nan.nc", tmp_path / f"{fill}.zarr", "--fill", fill,
                               splits="train=2000,valid=2001,test=2002"))
        assert res.returncode == 2 and "cannot fill t2m: all" in error_line(res.stderr)
        assert not (tmp_path / f"{fill}.zarr").exists()


def test_nan_model_output_stops_the_forecast(run_dir, tiny_store, tmp_path):
    """NaN weights: the forecast stops naming the init and lead, and writes nothing."""
    from geostp.workflows.forecast import ForecastRequest, run_forecast
    from geostp.training.checkpoint import save_weights

    model, _ = load_run(run_dir)
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(float("nan"))
    save_weights(run_dir / "best.safetensors", model, 0)  # recorded: the checksum is right, the values are not
    store, _ = tiny_store
    out = tmp_path / "fc.zarr"
    req = ForecastRequest(model="vip_mixer", variables=["t850"], run=str(run_dir), data=str(store), out=str(out),
                          init=["2003-01-01/2003-01-05"], plot=False, score=False, progress=False)
    with pytest.raises(DataError, match=r"NaN/Inf value\(s\) in t850, first at init 2003-01-01T00:00, lead 6h"):
        run_forecast(req)
    assert not out.exists() and not list(tmp_path.glob(".fc.zarr*"))


def test_bad_set_and_unwritable_out_are_one_line(tmp_path, source):
    res = run(["train", "--config", "pipelines/configs/tiny.yaml", "--set", "train=5", "--out", tmp_path / "r"],
              cwd=Path(__file__).resolve().parents[2])
    assert res.returncode == 2 and "expected a mapping" in error_line(res.stderr)
    (tmp_path / "afile").write_text("x")
    res = run(prepare_args(source, tmp_path / "afile" / "s.zarr"))
    assert res.returncode == 2 and "is not a directory" in error_line(res.stderr)


def test_store_digest_detects_changed_chunk(tiny_store):
    from geostp.data.store import chunk_files, verify_digests
    from tests.fixtures import run_cli

    path, _ = tiny_store
    chunk = chunk_files(path / "t850")[0]  # a v2 chunk or a v3 shard file
    raw = bytearray(chunk.read_bytes())
    raw[-1] ^= 0xFF
    chunk.write_bytes(bytes(raw))
    ds = open_store(path)  # sizes unchanged: the cheap check passes
    with pytest.raises(IntegrityError, match="array 't850' differs from its completion record"):
        verify_digests(path, ds, full=True)
    res = run_cli("data", "check", path)
    assert res.exit_code != 0 and isinstance(res.exception, IntegrityError)
    chunk.write_bytes(bytes(raw[:-10]))
    with pytest.raises(IntegrityError, match="bytes"):
        open_store(path)
