"""Remake a pretrained quick-start run shipped with geostp: train it with its recipe on the sample, check its
forecast, and package it with the sha256 of recipe, model code, sample and weights (geostp.forecast.shipped
checks and installs what this writes). Run: python -m geostp.workflows.shipped --model vip_mixer --var t850
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from geostp.forecast.shipped import (
    CHECK_INITS, CHECK_STORE, COMMAND, MANIFEST, RUN_FILES, _model_modules, check_scores, check_store, model_code_hash,
    recipe_hash, same_recipe, sample_digest, sha256_bytes, shipped_root)


def build(model: str, variables: Sequence[str], out_root: Path | None = None, max_steps: int | None = None,
          echo: Any = print, from_run: Path | None = None) -> Path:
    """Train the quick-start recipe on the sample, score it, and write the shipped run under `out_root`
    (default: the package's folder). `max_steps` shortens training (a cheaper variant for checks);
    `from_run` packages a run already trained with exactly this recipe (e.g. by `geostp train`) instead."""
    from geostp.errors import ConfigError
    import datetime as dt
    import tempfile
    import time

    import torch
    import yaml

    from geostp.data.sample import build_sample
    from geostp.data.store import open_store
    from geostp.forecast.runs import quick_config
    from geostp.workflows.forecast import ForecastRequest, run_forecast
    from geostp.io import atomic_write_text
    from geostp.training import train

    variables = list(variables)
    path = build_sample(progress=False)
    store = open_store(path, check_chunks=False)
    cfg = quick_config(model, variables, path)
    recipe = recipe_hash(cfg)
    if max_steps:
        cfg["train"]["max_steps"] = max_steps
        cfg.setdefault("eval", {})["every"] = max_steps
    dest = (out_root or shipped_root()) / f"{model}-{'-'.join(variables)}"
    with tempfile.TemporaryDirectory(prefix="geostp-shipped-") as tmp:
        if from_run is not None:
            if not same_recipe(Path(from_run), cfg):
                raise ConfigError(f"{from_run} was not trained with the quick-start recipe of {model}; "
                                  "train it with this command without --from-run")
            run_dir, wall, cpu = Path(from_run), None, None
        else:
            wall, cpu = time.perf_counter(), time.process_time()
            run_dir = train(cfg, out=Path(tmp) / "run")
            wall, cpu = round(time.perf_counter() - wall, 1), round(time.process_time() - cpu, 1)
            echo(f"trained {model} in {wall:.0f} s ({cpu:.0f} s CPU)")
        res = run_forecast(ForecastRequest(model=model, variables=variables, run=str(run_dir), out=str(Path(tmp) / "fc.zarr"),
                                           plot=False, progress=False), echo=echo)
        rmse = res.scores.sel(variable=variables[0], metric="rmse")["value"]
        rmse = rmse.squeeze(drop=True).transpose("model", "lead_time")
        leads = [float(v / 3.6e12) for v in rmse["lead_time"].values.astype("timedelta64[ns]").astype("int64")]
        check = check_store(store, run_dir, variables)
        check_rmse = check_scores(run_dir, check, variables[0])
        stage = dest.with_name(f".{dest.name}.tmp")
        shutil.rmtree(stage, ignore_errors=True)
        stage.mkdir(parents=True)
        for name in RUN_FILES:
            shutil.copy2(run_dir / name, stage / name)
        sig = json.loads((stage / "signature.json").read_text())
        if isinstance(sig.get("weights_sha256"), dict):  # only the weights shipped stay listed
            sig["weights_sha256"] = {k: v for k, v in sig["weights_sha256"].items() if k in RUN_FILES}
            atomic_write_text(stage / "signature.json", json.dumps(sig, indent=1))
        check.to_netcdf(stage / CHECK_STORE)
        manifest = {
            "command": COMMAND.format(model=model, vars=" ".join(f"--var {v}" for v in variables)),
            "model": model, "variables": variables, "recipe_sha256": recipe,
            "recipe": {k: v for k, v in yaml.safe_load(yaml.safe_dump(cfg)).items() if k != "data"},
            "model_code_sha256": model_code_hash(model), "model_modules": _model_modules(model),
            "sample_key": store.attrs.get("sample_key"), "sample_sha256": sample_digest(store, variables),
            "weights_sha256": sha256_bytes((stage / "best.safetensors").read_bytes()),
            "made": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%MZ"), "torch": torch.__version__,
            "train_wall_s": wall, "train_cpu_s": cpu, "from_run": str(from_run) if from_run else None, "max_steps": cfg["train"]["max_steps"],
            "lead_hours": leads, "n_init": int(res.scores["n_init"]),
            "rmse": {str(m): [round(float(v), 5) for v in rmse.sel(model=m).values] for m in rmse["model"].values},
            "check": {"n_init": CHECK_INITS, "rmse": check_rmse},
        }
        atomic_write_text(stage / MANIFEST, json.dumps(manifest, indent=1))
        if dest.exists():
            shutil.rmtree(dest)
        stage.rename(dest)
    echo(f"shipped run written to {dest}")
    return dest


def main(argv: Sequence[str] | None = None) -> None:
    """`python -m geostp.workflows.shipped --model M --var V`: (re)make the shipped quick-start run of M."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--model", required=True)
    parser.add_argument("--var", dest="variables", action="append", required=True)
    parser.add_argument("--out-root", type=Path, default=None, help="folder for <model>-<vars>/ (default: the package)")
    parser.add_argument("--max-steps", type=int, default=None, help="train fewer steps (a quick check, not for shipping)")
    parser.add_argument("--from-run", type=Path, default=None,
                        help="package a run already trained with this recipe (checked) instead of training")
    args = parser.parse_args(argv)
    build(args.model, args.variables, args.out_root, args.max_steps, from_run=args.from_run)


if __name__ == "__main__":
    main()
