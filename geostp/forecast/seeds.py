"""`--ensemble seeds`: members from independently seeded trainings of one run's config (`train.seed` + k).

Member 0 is the run itself; member k > 0 is the run's config trained again on the forecast's data with
`train.seed` raised by k (other weights, other data order), cached under ``<geostp cache>/runs/seeds/`` by a hash
of its config and data (one level below the searched runs, so a deterministic request never picks one up). The
members are one `MemberModels` module: the ensemble's inputs, member-major per init as every method lays them
out, go to their member's model, so rollout, masks and batching are the ensemble methods' own.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import nn

from geostp.errors import ConfigError, RunMismatchError
from geostp.forecast.predict import Predictor
from geostp.forecast.runs import _weights_time, runs_root, train_into
from geostp.locks import target_lock


class MemberModels(nn.Module):
    """M models as one: rows b * M + m of the input batch go to model m (B inits, each with its M members)."""

    def __init__(self, models: Sequence[nn.Module]) -> None:
        super().__init__()
        self.members = nn.ModuleList(models)
        self.config = models[0].config
        self.model_name = getattr(models[0], "model_name", type(models[0]).__name__)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = len(self.members)
        if x.shape[0] % m:
            raise ValueError(f"a batch of {x.shape[0]} is not whole inits of {m} members each")
        x = x.view(x.shape[0] // m, m, *x.shape[1:])
        y = torch.stack([model(x[:, k]) for k, model in enumerate(self.members)], dim=1)
        return y.reshape(-1, *y.shape[2:])


def seed_config(run_dir: Path, k: int, store: str, steps: int | None = None) -> dict[str, Any]:
    """The config of `run_dir` with `train.seed` raised by `k`, training on `store` (for `steps` steps if given)."""
    cfg = yaml.safe_load((run_dir / "config.yaml").read_text())
    cfg["train"]["seed"] = int(cfg["train"].get("seed", 0)) + k
    if steps:
        cfg["train"]["max_steps"] = int(steps)
        cfg.setdefault("eval", {})["every"] = int(steps)
    cfg["train"]["progress"] = False
    cfg["data"]["store"] = str(store)
    cfg["out"] = None
    return cfg


def seed_run_dir(cfg: dict[str, Any], store_id: str) -> Path:
    """Cache location of a seeded run: model, variables and a hash of its config (store path aside) and data."""
    blob = json.dumps({"cfg": {**cfg, "data": {k: v for k, v in cfg["data"].items() if k != "store"}},
                       "store": store_id}, sort_keys=True, default=str)
    key = hashlib.sha256(blob.encode()).hexdigest()[:8]
    variables = "-".join(cfg["data"].get("variables") or ["all"])
    return runs_root() / "seeds" / f"{cfg['model']['name']}-{variables}-seed{cfg['train']['seed']}-{key}"


def seed_runs(run_dir: Path, members: int, store: str, store_id: str, echo: Callable[[str], Any] = print,
              steps: int | None = None) -> list[Path]:
    """Run directories of members 1..members-1 (trained now, or cached); `steps` replaces the config's length."""
    if not (run_dir / "config.yaml").is_file():
        raise ConfigError("--ensemble seeds retrains the run's config with other seeds; this predictor has no run "
                          "directory with a config.yaml: pass --run RUN_DIR")
    out = []
    for k in range(1, members):
        cfg = seed_config(run_dir, k, store, steps)
        final = seed_run_dir(cfg, store_id)
        if _weights_time(final) is None:
            final.parent.mkdir(parents=True, exist_ok=True)
            with target_lock(final, wait=True, what="trained"):
                if _weights_time(final) is None:
                    echo(f"--ensemble seeds: training member {k} of {members - 1} (the config of {run_dir} with "
                         f"train.seed {cfg['train']['seed']}, {cfg['train'].get('max_steps')} steps; cached in "
                         f"{final.parent})")
                    train_into(cfg, final)
        out.append(final)
    return out


def seed_predictor(pred: Predictor, runs: Sequence[Path]) -> Predictor:
    """`pred` whose model is `MemberModels` of its own and the seeded runs' models (same data signature)."""
    others = [Predictor.from_run(r) for r in runs]
    for r, other in zip(runs, others):
        same = (other.variables == pred.variables and other.t_in == pred.t_in and other.t_out == pred.t_out
                and other.frame_step == pred.frame_step and other.stats == pred.stats)
        if not same:
            raise RunMismatchError(f"the seeded run {r} does not share the data signature and statistics of "
                                   f"{pred.run_dir}: remove it to retrain it")
    return replace(pred, model=MemberModels([pred.model, *(o.model for o in others)]).eval())
