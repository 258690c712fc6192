"""Bad input: wrong variables, foreign or incompatible run dirs, resumes that change what matters, torn writes."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file

from geostp.errors import ConfigError, RunMismatchError, StoreError, UnknownNameError
from geostp.training import load_run, train
from geostp.training.checkpoint import state_dirs
from geostp.data.resolve import resolve_store


@pytest.fixture(scope="module")
def stopped_run(make_config, tmp_path_factory):
    """A run of 8 steps stopped at step 4 (resumable); tests work on copies."""
    run = tmp_path_factory.mktemp("runs") / "stopped"
    return train(make_config(train={"max_steps": 8, "stop_at_step": 4}), out=run)


@pytest.fixture
def run_copy(stopped_run, tmp_path):
    return shutil.copytree(stopped_run, tmp_path / "run")


def test_a_store_without_the_requested_variables(make_config, tmp_path):
    with pytest.raises(UnknownNameError, match=r"unknown variable 'q700' in store .*; known: t850, z500"):
        train(make_config(data={"variables": ["t850", "q700"]}), out=tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_a_catalog_name_is_not_a_store():
    with pytest.raises(StoreError, match="names a catalog, not a store.*geostp data prepare taxibj"):
        resolve_store("taxibj")
    with pytest.raises(StoreError, match=r"no store at no/store.zarr; prepare it first.*--out no/store.zarr.*or use `sample`"):
        resolve_store("no/store.zarr")


def test_an_existing_run_is_never_overwritten_silently(make_config, run_copy):
    with pytest.raises(ConfigError, match=r"already holds a run: continue it with --resume .*--overwrite"):
        train(make_config(), out=run_copy)


def test_a_run_dir_from_an_incompatible_version(run_copy):
    sig = json.loads((run_copy / "signature.json").read_text())
    (run_copy / "signature.json").write_text(json.dumps({**sig, "format_version": 99, "geostp_version": "9.0"}))
    with pytest.raises(StoreError, match=r"written by geostp 9.0 in run format 'geostp-run' version 99.*reads 'geostp-run' version 1"):
        load_run(run_copy)
    with pytest.raises(StoreError, match="version 99"):
        train(resume=run_copy)
    with pytest.raises(StoreError, match="not a geostp run directory"):
        load_run(run_copy / "state")


def test_a_resume_that_changes_the_model_or_the_data_is_refused(run_copy, tmp_path):
    with pytest.raises(ConfigError, match=r"model.name: run has 'simvp', asked 'convlstm'.*Start a new run"):
        train(resume=run_copy, overrides=["model.name=convlstm"])
    with pytest.raises(ConfigError, match=r"data.t_in: run has 3, asked 4"):
        train(resume=run_copy, overrides=["data.t_in=4"])


def test_a_resume_on_a_store_with_another_grid_is_refused(run_copy, make_wave_store):
    other = make_wave_store("coarse.zarr", nlat=4)
    with pytest.raises(RunMismatchError, match=r"the data no longer matches run .*grid: lat 8 values .* vs lat 4 values"):
        train(resume=run_copy, overrides=[f"data.store={other}"])


def test_a_torn_checkpoint_is_never_loaded(run_copy, make_config, tmp_path):
    # a kill during the next checkpoint leaves a temp state dir and a temp weights file behind
    (run_copy / "state" / ".tmp-step-00000006").mkdir()
    (run_copy / "state" / ".tmp-step-00000006" / "model.safetensors").write_bytes(b"torn")
    (run_copy / ".last.safetensors.tmp-0000").write_bytes(b"torn")
    assert [p.name for p in state_dirs(run_copy)] == ["step-00000004"]
    train(resume=run_copy)
    full = train(make_config(train={"max_steps": 8}), out=tmp_path / "full")
    a, b = load_file(full / "last.safetensors"), load_file(run_copy / "last.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
