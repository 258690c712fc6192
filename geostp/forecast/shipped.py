"""Pretrained quick-start runs shipped in the package, so the main job's first call needs no training.

A shipped run lives in ``geostp/resources/quickstart/runs/<model>-<vars>/``: the run files geostp's own
training wrote (config, signature, stats, best weights) and ``shipped.json``, which ties them to what
made them: sha256 of the quick-start recipe (resources/quickstart/<model>.yaml as resolved, without the
store path), of the model's source (its module and every geostp.models module it imports), the sample's
generator key, and of the weights; plus the RMSE it scored. ``geostp forecast`` uses it only when all of
these still match (``status``), otherwise it trains as before and says which one changed.

Made (and remade after a model, recipe or sample change) by the documented command::

    python -m geostp.workflows.shipped --model vip_mixer --var t850

which builds the sample, trains the quick-start recipe with ``geostp.training.train``, forecasts and
scores the sample's test split and the check init times, and writes the directory.
"""

from __future__ import annotations

import ast
import hashlib
import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources, util
from pathlib import Path
from typing import Any

MANIFEST = "shipped.json"
RUN_FILES = ("config.yaml", "signature.json", "stats.json", "best.safetensors")
CHECK_INITS = 8  # init times of the test split re-scored by the tests (the first ones, every 12 h)
COMMAND = "python -m geostp.workflows.shipped --model {model} {vars}"


def shipped_root() -> Path:
    """The package folder holding shipped runs."""
    return Path(str(resources.files("geostp") / "resources" / "quickstart" / "runs"))


def shipped_dir(model: str, variables: Sequence[str]) -> Path:
    """Where the shipped run of `model` on `variables` lives (it may not exist)."""
    return shipped_root() / f"{model}-{'-'.join(variables)}"


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def recipe_hash(cfg: dict[str, Any]) -> str:
    """sha256 of a quick-start training config, without the store path (which differs per machine)."""
    data = {k: v for k, v in cfg.items() if k != "data"}
    data["data"] = {k: v for k, v in cfg.get("data", {}).items() if k != "store"}
    return sha256_bytes(json.dumps(data, sort_keys=True, default=str).encode())


def _model_modules(model: str) -> list[str]:
    """The modules that define `model`'s computation: the module that registers it, the wrappers and base
    class, and the geostp.models.layers modules they import (sorted). Helpers they borrow from elsewhere
    (shape checks, the registry) are left out, so their edits do not retire a shipped run."""
    from geostp.models.registry import model_entry

    seen: set[str] = set()
    todo = [model_entry(model).build.__module__, "geostp.models.wrappers", "geostp.models.base"]
    while todo:
        name = todo.pop()
        if name in seen or not _is_module(name):
            continue
        seen.add(name)
        for node in ast.walk(ast.parse(Path(util.find_spec(name).origin).read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
                todo += [n for n in names if n.startswith("geostp.models.layers")]
    return sorted(seen)


def _is_module(name: str) -> bool:
    """Whether `name` is an importable .py module (not a package attribute such as geostp.models.create)."""
    try:
        spec = util.find_spec(name)
    except (ImportError, ValueError, AttributeError):
        return False
    return spec is not None and bool(spec.origin) and spec.origin.endswith(".py")


def model_code_hash(model: str) -> str:
    """sha256 over the source files of `model`'s module and the geostp.models modules it imports."""
    h = hashlib.sha256()
    for name in _model_modules(model):
        spec = util.find_spec(name)
        h.update(name.encode() + b"\0" + Path(spec.origin).read_bytes() + b"\0")
    return h.hexdigest()


def sample_digest(store: Any, variables: Sequence[str]) -> str:
    """sha256 of the sample's content that a run sees: the times, the grid and the values of `variables`.

    The sample's own key hashes its generator's source, which also changes with edits that leave the data
    alone (locking, attributes); the content is what a trained run depends on.
    """
    import numpy as np

    h = hashlib.sha256()
    for name in ("time", "lat", "lon", *variables):
        h.update(name.encode() + np.ascontiguousarray(store[name].values).tobytes())
    return h.hexdigest()


def read_manifest(model: str, variables: Sequence[str]) -> dict[str, Any] | None:
    """The manifest of the shipped run of `model` on `variables`, or None when none is shipped."""
    path = shipped_dir(model, variables) / MANIFEST
    return json.loads(path.read_text()) if path.is_file() else None


def status(model: str, variables: Sequence[str], cfg: dict[str, Any], sample: Any
           ) -> tuple[Path | None, list[str]]:
    """(shipped run dir, []) when one exists and matches recipe, model code, sample (`sample`: the opened
    sample store or its `sample_digest`; None for other data) and weights; else (None, reasons) — empty reasons when nothing is
    shipped for this model and these variables."""
    manifest = read_manifest(model, variables)
    if manifest is None:
        return None, []
    where = shipped_dir(model, variables)
    reasons = []
    if manifest.get("recipe_sha256") != recipe_hash(cfg):
        reasons.append(f"the quick-start recipe resources/quickstart/{model}.yaml changed")
    if manifest.get("model_code_sha256") != model_code_hash(model):
        reasons.append(f"the {model} model code changed ({', '.join(_model_modules(model))})")
    if sample is None:
        reasons.append("the data is not the embedded sample")
    elif manifest.get("sample_sha256") != (sample if isinstance(sample, str) else sample_digest(sample, variables)):
        reasons.append(f"the sample changed (its {', '.join(variables)} values, times or grid differ from the ones the "
                       "shipped run was trained on)")
    weights = where / "best.safetensors"
    if not weights.is_file() or sha256_bytes(weights.read_bytes()) != manifest.get("weights_sha256"):
        reasons.append("its weights file does not match the recorded sha256")
    return (None, reasons) if reasons else (where, [])


def install(src: Path, dest: Path) -> Path:
    """Copy a shipped run into the run cache (`dest`, written beside and renamed into place)."""
    tmp = dest.with_name(f".{dest.name}.shipped-tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name in (*RUN_FILES, MANIFEST):
        shutil.copy2(src / name, tmp / name)
    if dest.exists():
        shutil.rmtree(dest)
    tmp.rename(dest)
    return dest


CHECK_STORE = "check.nc"  # the t850 frames the check init times read and verify (a slice of the sample)


def check_store(store: Any, run_dir: Path, variables: Sequence[str]) -> Any:
    """The slice of `store` (variables only, attributes kept) that the first CHECK_INITS test inits need."""
    import numpy as np

    from geostp.forecast.predict import Predictor, resolve_inits

    pred = Predictor.from_run(run_dir)
    inits = resolve_inits(store, None, pred, pred.t_out, 1)[:CHECK_INITS]
    times = store["time"].values
    lo = int(np.searchsorted(times, inits[0])) - (pred.t_in - 1)
    hi = int(np.searchsorted(times, inits[-1])) + pred.t_out + 1
    return store[list(variables)].isel(time=slice(lo, hi)).load()


def check_scores(run_dir: Path, store: Any, variable: str) -> list[float]:
    """Latitude-weighted RMSE per lead of `run_dir` on the first CHECK_INITS test inits of `store`."""
    import numpy as np

    from geostp.evaluation.metrics import lat_weights, rmse
    from geostp.forecast.predict import Predictor, predict, resolve_inits

    pred = Predictor.from_run(run_dir)
    inits = resolve_inits(store, None, pred, pred.t_out, 1)[:CHECK_INITS]
    fc = predict(pred, store, inits, pred.t_out, device="cpu", progress=False)[variable]
    truth = xr_truth(store[variable], fc)
    return [float(v) for v in np.atleast_1d(rmse(fc, truth, lat_weights(store["lat"]), time_dim="init_time").values)]


def xr_truth(field: Any, fc: Any) -> Any:
    """The verifying field on the forecast's (init_time, lead_time) coordinates."""
    out = field.sel(time=fc["valid_time"]).drop_vars("time")
    return out.assign_coords({k: fc[k] for k in ("init_time", "lead_time", "valid_time") if k in fc.coords})


def same_recipe(run_dir: Path, cfg: dict[str, Any]) -> bool:
    """Whether `run_dir` was trained with the training config `cfg` (compared resolved, store path aside)."""
    import yaml

    from geostp.training.config import config_dict, load_config

    def strip(d: dict[str, Any]) -> dict[str, Any]:
        return {**d, "data": {k: v for k, v in d["data"].items() if k != "store"}}

    return strip(yaml.safe_load((run_dir / "config.yaml").read_text())) == strip(config_dict(load_config(cfg)))
