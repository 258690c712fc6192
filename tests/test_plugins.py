"""Plug-ins: another package adds a model and a catalog through entry points (`geostp.models`,
`geostp.catalogs`) without editing geostp. The package is installed for the test as a tmp dir on
sys.path holding the package and its dist-info (entry_points.txt), in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PLUGIN = '''
from dataclasses import dataclass
from pathlib import Path

import torch

from geostp.catalogs.base import CatalogReader, Source
from geostp.catalogs.registry import register_catalog
from geostp.models.base import BaseConfig, Forecaster
from geostp.models.registry import register_model


@dataclass
class TwiceConfig(BaseConfig):
    gain: float = 2.0


@register_model("twice_last", TwiceConfig, presets={"tiny": {"in_shape": (2, 1, 4, 6), "t_out": 3}})
class TwiceLast(Forecaster):
    def __init__(self, cfg):
        super().__init__()
        self.config = cfg
        self.bias = torch.nn.Parameter(torch.zeros(()))

    def forward(self, x):
        self.check_input(x)
        return (self.config.gain * x[:, -1:] + self.bias).expand(-1, self.config.t_out, -1, -1, -1)


@register_catalog("demo_frames")
class DemoReader(CatalogReader):
    spec_file = Path(__file__).with_name("demo_frames.yaml")

    def open(self, req):
        raise NotImplementedError
'''

SPEC = '''title: Demo frames from a plug-in
reader: demo_frames
grid: image
time_kind: frames
time_step: "1"
default_t_in: 2
default_t_out: 3
normalization: fixed
default_variables: [frames]
variables:
  frames: {name: image, units: "1"}
fixed_norm: {frames: [0.0, 255.0]}
'''


def install(root: Path, name: str, entry_points: str, files: dict[str, str]) -> None:
    """Lay out an installed distribution: the package files and `<name>-0.1.dist-info/` with its entry points."""
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    info = root / f"{name}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(entry_points)


def run(root: Path, code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300,
                          env={**__import__("os").environ, "PYTHONPATH": f"{root}"})


def test_a_plugin_package_adds_a_model_and_a_catalog(tmp_path):
    install(tmp_path, "geostp_demo_plugin",
            "[geostp.models]\ntwice_last = geostp_demo_plugin.plug\n\n"
            "[geostp.catalogs]\ndemo_frames = geostp_demo_plugin.plug\n",
            {"geostp_demo_plugin/__init__.py": "", "geostp_demo_plugin/plug.py": PLUGIN,
             "geostp_demo_plugin/demo_frames.yaml": SPEC})
    proc = run(tmp_path, """
        import torch
        from geostp.catalogs import list_catalogs, load_catalog
        from geostp.catalogs.registry import get_reader
        from geostp.models import create, list_models

        assert "twice_last" in list_models() and "vip_mixer" in list_models()
        model = create("twice_last", "tiny", gain=3.0)
        x = torch.ones(1, 2, 1, 4, 6)
        assert tuple(model(x).shape) == (1, 3, 1, 4, 6) and float(model(x).max()) == 3.0
        wrapped = create("twice_last", "tiny", residual=True)  # geostp's wrappers apply to plug-ins too
        assert float(wrapped(x).max()) == 3.0
        assert "demo_frames" in list_catalogs() and "weatherbench" in list_catalogs()
        spec = load_catalog("demo_frames")
        assert spec.reader == "demo_frames" and spec.default_t_out == 3
        assert type(get_reader(spec)).__name__ == "DemoReader"
        print("ok")
    """)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-3000:]


@pytest.mark.parametrize(("module", "expect"), [
    ("geostp_broken_plugin.nothing", "loaded but registered no model named 'ghost'"),
    ("geostp_broken_plugin.missing_module", "failed to load: ModuleNotFoundError"),
])
def test_a_broken_plugin_is_a_one_line_error(tmp_path, module, expect):
    install(tmp_path, "geostp_broken_plugin", f"[geostp.models]\nghost = {module}\n",
            {"geostp_broken_plugin/__init__.py": "", "geostp_broken_plugin/nothing.py": "x = 1\n"})
    proc = run(tmp_path, """
        from geostp.errors import GeostpError
        from geostp.models import list_models
        try:
            list_models()
        except GeostpError as exc:
            print(exc)
    """)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "plug-in 'ghost'" in proc.stdout and expect in proc.stdout and proc.stdout.strip().count("\n") == 0
