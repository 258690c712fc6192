"""Find the run to forecast with (latest matching run), or train a small one on the sample when none exists.

Runs are looked for under the geostp cache (``$GEOSTP_CACHE_DIR`` or the user cache dir, ``runs/``),
where quick-start runs are kept, and under ``./runs`` (the default of ``geostp train``). A run matches
when its model is the one asked for and it was trained on (at least) the requested variables; the
latest (by weights file time) wins.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from geostp.errors import ConfigError, DataError, UnknownNameError
from geostp.io import TMP_MARK, temp_siblings
from geostp.locks import notice, target_lock

QUICK_PREFIX = "quick"


def runs_root() -> Path:
    """Where quick-start runs are cached: <geostp cache dir>/runs."""
    from geostp.cache import cache_dir

    return cache_dir() / "runs"


def search_roots() -> list[Path]:
    """Directories searched for runs: the cache's runs/ and ./runs."""
    return [runs_root(), Path("runs")]


@dataclass(frozen=True)
class RunEntry:
    """A run directory with what its signature says."""

    path: Path
    model: str
    variables: tuple[str, ...]
    catalog: str
    mtime: float
    objective: str = "mse"  # "crps": a stochastic ensemble model (train.objective crps)

    def label(self) -> str:
        """One-line description for listings."""
        kind = ", CRPS ensemble" if self.objective == "crps" else ""
        return f"{self.path} ({self.model}{kind}: {', '.join(self.variables)}; {self.catalog or 'unknown data'})"


def _weights_time(run_dir: Path) -> float | None:
    times = [(run_dir / n).stat().st_mtime for n in ("best.safetensors", "last.safetensors") if (run_dir / n).is_file()]
    return max(times) if times else None


_NOTED: set[str] = set()  # skipped runs already noted in this process


def _skip(run: Path, why: str) -> None:
    if str(run) not in _NOTED:
        _NOTED.add(str(run))
        notice(f"skipping run {run}: {why}")


def list_runs(roots: Sequence[Path] | None = None) -> list[RunEntry]:
    """Every complete run with weights under the search roots (one level deep), newest first; a torn or
    incomplete run (no config, unreadable signature) is skipped with a one-line note."""
    out = []
    for root in roots if roots is not None else search_roots():
        if not root.is_dir():
            continue
        for sig_path in root.glob("*/signature.json"):
            run = sig_path.parent
            if run.name.startswith("."):  # a temporary run being trained, or a leftover of a killed one
                continue
            mtime = _weights_time(run)
            if mtime is None:
                continue
            try:
                sig = json.loads(sig_path.read_text())
                sig.get("model")
            except (OSError, ValueError, AttributeError):
                _skip(run, "signature.json is unreadable (torn)")
                continue
            missing = [n for n in ("config.yaml", "stats.json") if not (run / n).is_file()]
            if missing:
                _skip(run, f"incomplete ({', '.join(missing)} missing)")
                continue
            crps = bool((sig.get("model_config") or {}).get("crps_members"))
            out.append(RunEntry(run, str(sig.get("model", "?")), tuple(sig.get("variables", ())),
                                str(sig.get("catalog", "")), mtime, "crps" if crps else "mse"))
    return sorted(out, key=lambda r: r.mtime, reverse=True)


def matching_runs(model: str, variables: Sequence[str], roots: Sequence[Path] | None = None,
                  objective: str | None = None) -> list[RunEntry]:
    """Runs of `model` trained on all of `variables` (and with `objective`, "mse" or "crps", when given), newest
    first (an exact variable set ranks first)."""
    runs = [r for r in list_runs(roots) if r.model == model and set(variables) <= set(r.variables)
            and objective in (None, r.objective)]
    return sorted(runs, key=lambda r: (set(r.variables) != set(variables), -r.mtime))


def check_model_name(model: str) -> None:
    """Raise UnknownNameError listing the registered models (and the runs available) for an unknown name."""
    from geostp.models import list_models

    known = list_models()
    if model not in known:
        runs = list_runs()
        raise UnknownNameError("model", model, known,
                               also="runs available: " + "; ".join(r.label() for r in runs[:10]) if runs else "")


# ------------------------------------------------------------------------------------- quick start
#: Members per window of a quick CRPS run without its own recipe (<model>-crps.yaml): the fair CRPS is unbiased
#: for any number of draws, so 4 serve forecasts of more members at half the training cost of 8.
QUICK_CRPS_MEMBERS = 4


def quick_config(model: str, variables: Sequence[str], store: str | Path, objective: str = "mse") -> dict[str, Any]:
    """The quick-start training config of `model` (shipped YAML, or a generic `tiny`-preset recipe); objective
    "crps": its CRPS recipe (`<model>-crps.yaml`), else the deterministic one trained with the CRPS."""
    from geostp.models import list_presets

    folder = resources.files("geostp") / "resources" / "quickstart"
    if objective == "crps" and (folder / f"{model}-crps.yaml").is_file():
        cfg = yaml.safe_load((folder / f"{model}-crps.yaml").read_text())
        cfg.setdefault("data", {}).update({"store": str(store), "variables": list(variables)})
        cfg["model"]["name"] = model
        return cfg
    if objective == "crps":
        cfg = quick_config(model, variables, store)
        cfg["train"].update({"objective": "crps", "members": QUICK_CRPS_MEMBERS})
        return cfg
    shipped = folder / f"{model}.yaml"
    if shipped.is_file():
        cfg = yaml.safe_load(shipped.read_text())
    elif "tiny" in list_presets(model):
        cfg = {"data": {"t_in": 12, "t_out": 12, "in_memory": True, "valid_max_windows": 128},
               "model": {"name": model, "preset": "tiny"},
               "optim": {"name": "adamw", "lr": 0.003, "weight_decay": 0.01}, "schedule": {"name": "onecycle"},
               "train": {"max_steps": 250, "batch_size": 8, "seed": 0, "log_every": 25}, "eval": {"every": 125}}
    else:
        raise ConfigError(
            f"no quick-start recipe for {model!r} (it has no `tiny` preset); train a run first, e.g. "
            f"`geostp train --config pipelines/configs/tiny.yaml --set model.name={model} --out runs/{model}`, "
            f"then pass --run runs/{model}"
        )
    cfg.setdefault("data", {}).update({"store": str(store), "variables": list(variables)})
    cfg["model"]["name"] = model
    return cfg


#: Models a quick run never trains on anomalies: the baselines forecast the values themselves.
PLAIN_VALUE_MODELS = frozenset({"persistence", "climatology"})

#: Default T_out of a quick run on your own store, per step unit (T_in: geostp.timeaxis.DEFAULT_T_IN).
DEFAULT_T_OUT = {"s": 12, "min": 12, "h": 12, "d": 10, "month": 12, "year": 5, "f": 10}


@dataclass(frozen=True)
class LargeGridRecipe:
    """The quick run on calendar-step stores of more than `cells` grid points (73 x 144 monthly): fewer frames, a
    narrower model and fewer steps, so that it trains in minutes on 2 CPU cores; learning anomalies (not the
    seasonal cycle) is what makes so short a training enough. Chosen from `benchmarks/bench_quick_own.py`."""

    cells: int = 64 * 128  # 4 x the sample's 32 x 64
    t_in: int = 6
    t_out: int = 6
    hid_s: int = 8
    max_steps: int = 200


LARGE_CALENDAR_GRID = LargeGridRecipe()


def store_quick_config(model: str, variables: Sequence[str], store: str | Path, t_in: int | None = None,
                       t_out: int | None = None, steps: int | None = None, objective: str = "mse") -> dict[str, Any]:
    """The quick-start config for any store: the model's recipe, with T_in/T_out set per the store's step
    (documented defaults; `LARGE_CALENDAR_GRID` on large monthly grids), anomalies learnt on calendar-step
    stores, the grid padded to the model's strides and wrapped in longitude only when the store is global
    (`periodic_lon`), validation on the valid split when it holds a window (else train)."""
    from geostp.data.store import open_store
    from geostp.timeaxis import DEFAULT_T_IN, parse_step

    ds = open_store(store, check_chunks=False)
    cfg = quick_config(model, variables, store, objective)
    if ds.attrs.get("catalog") == "sample" and t_in is None and t_out is None:
        return _set_steps(cfg, steps)  # the shipped, measured recipe
    step = parse_step(ds.attrs["time_step"])
    gdims = [d for d in ds[list(variables)[0]].dims if d != "time"]
    cells = int(np.prod([ds.sizes[d] for d in gdims]))
    overrides = cfg["model"].setdefault("overrides", {})
    large = LARGE_CALENDAR_GRID if step.kind == "calendar" and cells > LARGE_CALENDAR_GRID.cells else None
    if large is not None:
        t_in, t_out, steps = t_in or large.t_in, t_out or large.t_out, steps or large.max_steps
        if "hid_s" in overrides:
            overrides["hid_s"] = large.hid_s
    t_in = t_in or DEFAULT_T_IN.get(step.unit, 12)
    t_out = t_out or DEFAULT_T_OUT.get(step.unit, 12)
    _set_steps(cfg, steps)
    cfg["data"].update({"t_in": int(t_in), "t_out": int(t_out)})
    span = t_in + t_out
    if not _has_window(ds, "train", span):
        raise DataError(
            f"the train split of {store} has no gap-free run of {t_in} + {t_out} = {span} time steps "
            f"({ds.attrs['time_step']} each) for a quick run: pass a smaller --t-in and --lead, or a longer train split"
        )
    cfg["data"]["valid_split"] = "valid" if _has_window(ds, "valid", span) else "train"
    if step.kind == "calendar" and model not in PLAIN_VALUE_MODELS:  # monthly/seasonal/yearly: learn anomalies
        cfg["data"]["anomalies"] = True
    periodic = bool(ds.attrs.get("periodic_lon", False))
    if "periodic_w" in overrides:  # the model's own longitude wrap: let the wrapper do it, on global grids only
        overrides["periodic_w"] = False
    overrides.update({"pad_to_stride": True, "periodic_lon": periodic})
    if "n_s" in overrides and cells > 64 * 128:
        overrides["n_s"] = 4  # grids larger than the sample's 32x64 x 4 (73x144): one more 2x downsampling
    return cfg


def _set_steps(cfg: dict[str, Any], steps: int | None) -> dict[str, Any]:
    """Train for `steps` optimizer steps (None: the recipe's), validating once at the end."""
    if steps:
        cfg["train"]["max_steps"] = int(steps)
        cfg.setdefault("eval", {})["every"] = int(steps)
    return cfg


def _has_window(ds: Any, split: str, span: int) -> bool:
    """Whether `split` holds a gap-free run of `span` time steps."""
    seg = ds["segment"].values[ds["split"].values == split]
    return len(seg) > 0 and int(np.unique(seg, return_counts=True)[1].max()) >= span


def quick_run_dir(model: str, variables: Sequence[str], cfg: dict[str, Any], store_id: str) -> Path:
    """Cache location of a quick-start run: named by model, variables and a hash of config and data."""
    blob = json.dumps({"cfg": {k: v for k, v in cfg.items() if k != "data"} | {"data": {k: v for k, v in cfg["data"].items() if k != "store"}},
                       "store": store_id}, sort_keys=True, default=str)
    key = hashlib.sha256(blob.encode()).hexdigest()[:8]
    return runs_root() / f"{QUICK_PREFIX}-{model}-{'-'.join(variables)}-{key}"


def quick_train(model: str, variables: Sequence[str], store: str | Path, store_id: str,
                echo: Any = print, sample: Any = None, t_in: int | None = None, t_out: int | None = None,
                label: str = "", steps: int | None = None, objective: str = "mse") -> Path:
    """Train the quick-start run (or reuse the cached one, or install the pretrained one shipped with geostp
    when it matches the recipe, model code and `sample`, the opened sample store) and return its directory.
    `objective` "crps": the CRPS ensemble recipe (`quick_config`; nothing of it is shipped).

    Trains into a temporary sibling and renames it into place, so an interrupted training never leaves
    a half-run that later calls would pick up.
    """
    from geostp.forecast import shipped

    cfg = store_quick_config(model, variables, store, t_in, t_out, steps, objective)
    final = quick_run_dir(model, variables, cfg, store_id)
    if _weights_time(final) is not None:
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    with target_lock(final, wait=True, what="trained"):  # concurrent calls train one run; the others wait for it
        if _weights_time(final) is not None:
            return final
        src, reasons = shipped.status(model, variables, cfg, sample) if objective == "mse" else (None, [])
        if src is not None:
            echo(f"Using the pretrained quick-start run of {model} shipped with geostp (recipe, model code, sample "
                 f"and weights match their recorded sha256; remade by `{shipped.read_manifest(model, variables)['command']}`).")
            return shipped.install(src, final)
        if reasons:
            echo(f"The shipped quick-start run of {model} does not apply ({'; '.join(reasons)}): training one instead.")
        steps, d = cfg["train"].get("max_steps"), cfg["data"]
        what = f"{model} CRPS ensemble" if objective == "crps" else model
        cost = ("each step draws train.members forecasts per window: about 15 min on one CPU core for the sample"
                if objective == "crps" else "a few minutes on a laptop CPU")
        echo(f"No trained {what} run for {', '.join(variables)} fits {label or store} yet: training a small one on "
             f"its train split ({d.get('t_in')} -> {d.get('t_out')} frames, {steps} steps, {cost}; cached in "
             f"{final.parent} for next time).")
        train_into(cfg, final)
    if _weights_time(final) is None:
        raise DataError(f"quick-start training of {model} produced no weights in {final}")
    return final


def train_into(cfg: dict[str, Any], final: Path) -> Path:
    """Train `cfg` into a temporary sibling of `final` and rename it into place (the caller holds `final`'s lock),
    so an interrupted training never leaves a half-run; temporary runs of killed trainings are removed."""
    from geostp.training import train

    tmp = final.with_name(f".{final.name}{TMP_MARK}{uuid.uuid4().hex[:8]}")
    try:
        run = train(cfg, out=tmp, overwrite=True)
        if final.exists():  # a torn run from an older geostp without locks
            shutil.rmtree(final)
        os.replace(run, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for left in temp_siblings(final):
        shutil.rmtree(left, ignore_errors=True)
    return final
