"""`geostp --help` and `geostp forecast --help` stay instant: they must not import the heavy libraries."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("torch", "xarray", "zarr", "dask", "accelerate", "matplotlib")
PROBE = """
import json, sys
from geostp.cli.main import cli
try:
    cli(sys.argv[1:], standalone_mode=False)
except SystemExit:
    pass
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in {heavy!r})))
"""


@pytest.mark.parametrize("args", [["--help"], ["forecast", "--help"]], ids=["geostp", "forecast"])
def test_help_does_not_import_heavy_libraries(args):
    probe = PROBE.format(heavy=set(HEAVY))
    out = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True, check=True).stdout
    help_text, loaded = out.rsplit("\n", 2)[0], json.loads(out.strip().splitlines()[-1])
    assert "Usage:" in help_text
    assert loaded == [], f"`geostp {' '.join(args)}` imported {loaded}"
