"""Advice in error messages works when followed, and `sample` is accepted wherever a store is (issue 15 item 4).

Each test makes the error happen, takes the way out from the message itself (not from the test's own
knowledge), applies it, and checks the command then succeeds.
"""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from geostp.cli.main import cli
from tests.docs.harness import ROOT
from tests.forecast.conftest import make_run


def _run(args: list[str]):
    res = CliRunner().invoke(cli, [str(a) for a in args])
    return res, str(res.exception or "") + res.output


@pytest.fixture
def env(monkeypatch, tmp_path, sample_cache):
    cache, _ = sample_cache
    monkeypatch.setenv("GEOSTP_CACHE_DIR", str(cache))
    monkeypatch.setenv("GEOSTP_SAMPLE_YEARS", "2016-2018")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pipelines").symlink_to(ROOT / "pipelines")
    return tmp_path


@pytest.fixture
def run_dir(tiny_store, tmp_path):
    return make_run(tmp_path / "run", tiny_store[0])


def test_sample_is_a_store_everywhere(env, tiny_store):
    res, out = _run(["data", "info", "sample"])
    assert res.exit_code == 0, out
    assert "catalog: sample" in out and "synthetic: True" in out
    run = make_run(env / "prun", "sample")  # data.store: sample
    res, out = _run(["forecast", "--model", "vip_mixer", "--var", "t850", "--run", run, "--data", "sample",
                     "--init", "2018-01-01T00", "--out", env / "fc.zarr", "--no-plot", "--no-score"])
    assert res.exit_code == 0, out
    res, out = _run(["evaluate", env / "fc.zarr", "--truth", "sample", "--out", env / "ev", "--n-boot", "10"])
    assert res.exit_code == 0, out
    res, out = _run(["plot", env / "fc.zarr", "--truth", "sample", "--out", env / "m.png"])
    assert res.exit_code == 0, out
    assert (env / "m.png").stat().st_size > 10_000
    res, out = _run(["export", "sample", env / "s.nc", "--var", "t850"])
    assert res.exit_code == 0, out


def test_wrong_model_for_the_run_advice(env, run_dir, tiny_store):
    path, _ = tiny_store
    args = ["forecast", "--var", "t850", "--run", run_dir, "--data", path, "--init", "2003-05-01T00",
            "--no-plot", "--no-score", "--out", env / "fc.zarr"]
    res, out = _run(["forecast", "--model", "simvp", *args[1:]])
    assert res.exit_code != 0
    flag = re.search(r"pass (--model \w+)", out)
    assert flag, out
    res, out = _run([*args[:1], *flag[1].split(), *args[1:]])
    assert res.exit_code == 0, out


def test_existing_forecast_advice(env, run_dir, tiny_store):
    path, _ = tiny_store
    args = ["forecast", "--model", "vip_mixer", "--var", "t850", "--run", run_dir, "--data", path,
            "--init", "2003-05-01T00", "--no-plot", "--no-score", "--out", env / "fc.zarr"]
    assert _run(args)[0].exit_code == 0
    res, out = _run(args)
    assert res.exit_code != 0
    for flag in re.findall(r"pass (--\w+)", out):  # both ways out work
        res2, out2 = _run([*args, flag])
        assert res2.exit_code == 0, (flag, out2)


def test_existing_run_advice(env, tiny_store):
    path, _ = tiny_store
    args = ["train", "--config", "pipelines/configs/tiny.yaml", "--out", env / "run",
            "--set", f"data.store={path}", "--set", "train.max_steps=2", "--set", "eval.every=2",
            "--set", "train.checkpoint_every=2", "--set", "data.valid_max_windows=4"]
    assert _run(args)[0].exit_code == 0
    res, out = _run(args)
    assert res.exit_code != 0
    resume = re.search(r"continue it with --resume (\S+?),? ", out)
    assert resume and "--overwrite" in out, out
    res, out2 = _run(["train", "--resume", resume[1], "--set", "train.max_steps=4"])
    assert res.exit_code == 0, out2
    res, out2 = _run([*args, "--overwrite"])
    assert res.exit_code == 0, out2


def test_missing_store_advice(env):
    res, out = _run(["train", "--config", "pipelines/configs/tiny.yaml", "--set", "data.store=nowhere.zarr"])
    # the advice names `sample` as the way to run without preparing anything
    assert res.exit_code != 0 and "no store at nowhere.zarr" in out and "`sample`" in out, out
    res, out = _run(["data", "info", "nowhere.zarr"])
    assert res.exit_code != 0
    advice = re.search(r"`geostp (data sample)`", out)
    assert advice, out
    assert _run(advice[1].split())[0].exit_code == 0
    assert _run(["data", "info", "sample"])[0].exit_code == 0


def test_existing_export_advice(env, tiny_store):
    path, _ = tiny_store
    assert _run(["export", path, env / "x.nc"])[0].exit_code == 0
    res, out = _run(["export", path, env / "x.nc"])
    flag = re.search(r"pass (--\w+)", out)
    assert res.exit_code != 0 and flag, out
    assert _run(["export", path, env / "x.nc", flag[1]])[0].exit_code == 0
