"""Layering: no package-level import cycle, plotting a forecast Zarr without torch, thin click commands."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from collections import defaultdict
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "geostp"


def _unit(module: str) -> str | None:
    """The package-level unit of a geostp module: its subpackage (`data`), or `core` for the top-level modules
    (errors, config, registry, io, locks, kinds, grid, cache, ...), which form the bottom layer together."""
    parts = module.split(".")
    if parts[0] != "geostp":
        return None
    if parts[1:] == ["__main__"]:  # `python -m geostp`: the command line's entry, top of the stack
        return "cli"
    if len(parts) >= 2 and (PKG / parts[1]).is_dir():
        return parts[1]
    return "core"


def import_graph() -> dict[str, dict[str, set[str]]]:
    """unit -> {imported unit: files}, counting every import statement (also those inside functions)."""
    graph: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for path in PKG.rglob("*.py"):
        rel = path.relative_to(PKG.parent).with_suffix("")
        src = _unit(".".join(p for p in rel.parts if p != "__init__"))
        if src is None:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            for name in names:
                dst = _unit(name)
                if dst and dst != src:
                    graph[src][dst].add(str(path.relative_to(PKG.parent)))
    return graph


def cycles(graph: dict[str, dict[str, set[str]]]) -> list[list[str]]:
    """Strongly connected components with more than one unit (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_cycle_finder_finds_a_cycle():
    g = {"a": {"b": {"x"}}, "b": {"c": {"y"}}, "c": {"a": {"z"}}, "d": {"a": {"w"}}}
    assert cycles(g) == [["a", "b", "c"]]


def test_no_package_level_import_cycles():
    graph = import_graph()
    assert {"data", "catalogs", "training", "forecast", "evaluation", "plots", "workflows"} <= set(graph)
    found = cycles(graph)
    detail = [f"{a} -> {b}: {sorted(graph[a][b])}" for comp in found for a in comp for b in graph[a] if b in comp]
    assert not found, "import cycles between packages:\n" + "\n".join(detail)
    assert "workflows" not in {d for src, dst in graph.items() if src != "cli" for d in dst}  # nothing below imports it
    assert not graph["core"], f"the top-level modules import packages: {dict(graph['core'])}"


def test_plotting_a_forecast_zarr_does_not_import_torch(tmp_path):
    script = textwrap.dedent(f"""
        import sys
        from types import SimpleNamespace
        import numpy as np, pandas as pd, xarray as xr
        from geostp.forecast.labels import forecast_dataset
        from geostp.forecast.output import write_forecast
        from geostp.workflows.plot import plot_path

        lat, lon = np.linspace(-80, 80, 4), np.arange(8) * 45.0
        store = xr.Dataset({{"t850": (("lat", "lon"), np.zeros((4, 8)), {{"units": "K"}})}},
                           coords={{"lat": lat, "lon": lon}}, attrs={{"catalog": "test"}})
        pred = SimpleNamespace(model_name="m", variables=["t850"], grid={{"lat": lat, "lon": lon}}, grid_kind="latlon",
                               run_dir=None, config_hash="", weights_hash="", frame_step="6h", t_in=2, t_out=2)
        inits = pd.date_range("2000-01-01", periods=2, freq="12h").values
        leads = np.arange(1, 3) * np.timedelta64(6, "h")
        block = forecast_dataset(pred, store, inits, np.random.rand(2, 2, 1, 4, 8).astype("float32"), leads)
        write_forecast([block], r"{tmp_path / 'fc.zarr'}")
        kind, png = plot_path(r"{tmp_path / 'fc.zarr'}", var="t850", lead="12h", projection="platecarree")
        assert kind == "map" and png.is_file(), (kind, png)
        print("torch" in sys.modules)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == "False", "plotting imported torch"


def test_click_commands_only_parse_options():
    """No click command body (docstring aside) is longer than 25 lines: the work is in geostp.workflows."""
    long = []
    for path in sorted((PKG / "cli").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.FunctionDef):
                continue
            if not any(".command" in ast.unparse(d) or ".group" in ast.unparse(d) for d in node.decorator_list):
                continue
            body = node.body[1:] if isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant) else node.body
            n = body[-1].end_lineno - body[0].lineno + 1 if body else 0
            if n > 25:
                long.append(f"{path.name}:{node.name} ({n} lines)")
    assert not long, long
