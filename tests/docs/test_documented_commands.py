"""Every command documented in README.md, docs/*.md and the `--help` examples runs as written (with the small
settings declared next to it), or stops with its one clear line when it needs data that is not shipped.

New blocks and examples are picked up automatically; one that fails, or that the harness cannot run and
that declares nothing, fails the suite. How blocks declare settings: tests/docs/harness.py.
"""

from __future__ import annotations

import os
import shutil

import pytest

from tests.conftest import SAMPLE_YEARS
from tests.docs.harness import ROOT, Block, check, help_examples, markdown_blocks, parse_directives, run_command, run_geostp

TINY_TRAIN = "--set train.max_steps=2 --set eval.every=2 --set train.checkpoint_every=2 --set data.valid_max_windows=8"

# --help texts cannot carry HTML comments: their examples' settings live here, keyed like the docs' directives
HELP_DIRECTIVES = parse_directives(f"""
args geostp models: -m persistence -p tiny
args geostp models --published: -m simvpv2
args geostp train --config pipelines/configs/tiny.yaml: {TINY_TRAIN}
args geostp train --resume runs/tiny: --set train.max_steps=4
replace geostp forecast --model vip_mixer --var t850 --lead 5d: 2018-01-01/2018-01-31 => 2018-01-01/2018-01-02
args geostp forecast --model vip_mixer --var t850 --lead 5d: --no-plot
replace geostp forecast --model vip_mixer --var t850 --init 2018-06-01/2018-06-30: 2018-06-30 => 2018-06-02
args geostp forecast --model vip_mixer --var t850 --init 2018-06-01/2018-06-30: --no-score
args geostp forecast --model vip_mixer --var t850: --init 2018-01-01T00 --no-plot
args geostp plot fc.zarr --var t850 --lead 72h: --lead 24h
args geostp plot fc.zarr --var t850 --init 2018-03-01T00 --animate: --lead 12h
args geostp plot fc.zarr --var t850 --lead 24h --animate: --lead 12h
needs-data geostp data prepare weatherbench --root: /data/WeatherBench
needs-data geostp data prepare weatherbench2: gcsfs
needs-data geostp data prepare taxibj: /data/TaxiBJ
needs-data geostp data prepare mmnist: /data/moving_mnist
needs-data geostp data prepare kth: /data/kth
needs-data geostp data prepare custom --path 'era5/*.nc': era5/*.nc
needs-data geostp data prepare custom --path era5_pl.grib: era5_pl.grib
needs-data geostp data prepare custom --path 'era5_0.25/*.nc': era5_0.25/*.nc
needs-data geostp data info wb.zarr: wb.zarr
needs-data geostp data check wb.zarr: wb.zarr
needs-data geostp data check air.mon.mean.nc: air.mon.mean.nc
needs-data geostp data check 'sst/*.nc': sst/*.nc
needs-data geostp forecast --model vip_mixer --var air --data ncep_monthly.zarr: ncep_monthly.zarr
needs-data geostp plot eval-fc/ --skill: eval-fc
needs-data geostp plot ens.zarr --members: ens.zarr
needs-data geostp evaluate fc_vip.zarr: fc_vip.zarr
needs-data geostp forecast --model simvpv2 --var z500 --run runs/simvpv2-wb: wb5.625.zarr
needs-data geostp train --config pipelines/configs/vip_mixer_weatherbench.yaml: wb.zarr
""", "tests/docs/test_documented_commands.py HELP_DIRECTIVES")


@pytest.fixture(scope="session")
def workspace(sample_cache, tmp_path_factory):
    """The prepared fixture every block starts from: the short sample in the cache, a tiny vip_mixer run
    under runs/ and a forecast fc.zarr (two init times, the run's leads 6-24 h) of the sample's test year."""
    cache, _ = sample_cache
    tpl = tmp_path_factory.mktemp("docs-workspace")
    for name in ("pipelines", "examples"):
        (tpl / name).symlink_to(ROOT / name)
    env = {**os.environ, "GEOSTP_CACHE_DIR": str(cache), "GEOSTP_SAMPLE_YEARS": "{}-{}".format(*SAMPLE_YEARS),
           "MPLBACKEND": "Agg"}
    env = {k: v for k, v in env.items() if not k.startswith(("ACCELERATE_", "RANK", "WORLD_SIZE", "MASTER_"))}
    res = run_geostp(["train", "--config", "pipelines/configs/tiny.yaml", "--out", "runs/prepared-tiny",
                      *TINY_TRAIN.split()], tpl, env)
    assert res.code == 0, res.stderr + res.traceback
    res = run_geostp(["forecast", "--model", "vip_mixer", "--var", "t850", "--run", "runs/prepared-tiny",
                      "--init", "2018-03-01T00", "--init", "2018-03-02T00", "--out", "fc.zarr",
                      "--no-plot", "--no-score"], tpl, env)
    assert res.code == 0, res.stderr + res.traceback
    return tpl, env


def _blocks() -> list[Block]:
    blocks = markdown_blocks()
    for path, commands in help_examples():
        blocks.append(Block(f"`{path} --help`", commands, HELP_DIRECTIVES))
    return blocks


BLOCKS = _blocks()


def test_the_harness_finds_the_documented_commands():
    where = {b.where.split(":")[0] for b in BLOCKS}
    assert {"README.md", "docs/training.md", "`geostp forecast --help`", "`geostp data prepare --help`"} <= where
    assert sum(len(b.commands) for b in BLOCKS) >= 40


@pytest.mark.parametrize("block", BLOCKS, ids=[b.where for b in BLOCKS])
def test_documented_commands_run(block, workspace, tmp_path):
    tpl, env = workspace
    work = tmp_path / "work"
    shutil.copytree(tpl, work, symlinks=True)
    for command in block.commands:
        full, outcome = run_command(command, block, work, env)
        if outcome is not None:
            check(command, full, outcome, block)


def test_command_blocks_are_marked_bash():
    """A command block in another fence (```sh, ```console, a bare ```) would escape the harness: refuse it."""
    import re

    from tests.docs.harness import DOCS

    stray = []
    for path in DOCS:
        for m in re.finditer(r"^```(?P<lang>[^\n]*)\n(?P<body>.*?)^```", path.read_text(), re.S | re.M):
            if m["lang"].strip() in ("bash", "python", "yaml"):
                continue
            if re.search(r"^\$?\s*(geostp|accelerate|python3?) ", m["body"], re.M):
                stray.append(f"{path.name}: ```{m['lang']} block starting {m['body'][:60]!r}")
    assert not stray, "mark command blocks ```bash so tests/docs runs them:\n" + "\n".join(stray)
