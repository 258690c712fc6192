"""Run records on the main process: metrics.jsonl (+ TensorBoard when installed), environment, learning curve."""

from __future__ import annotations

import json
import math
import platform
import socket
from pathlib import Path
from typing import Any

import geostp
from geostp.io import atomic_write_text, provenance


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """Events of a metrics.jsonl (a torn last line from a kill is skipped)."""
    path = Path(path)
    if not path.is_file():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


class MetricsLogger:
    """Appends one JSON object per event to RUN_DIR/metrics.jsonl; mirrors scalars to TensorBoard if present.

    Disabled (a no-op) on every process but the main one.
    """

    def __init__(self, run_dir: Path, enabled: bool, resume_step: int | None = None) -> None:
        self.path = Path(run_dir) / "metrics.jsonl"
        self.enabled = enabled
        self.tb = None
        if not enabled:
            return
        if resume_step is not None:  # drop what was logged after the checkpoint we resume from
            kept = [e for e in read_metrics(self.path) if e.get("step", 0) <= resume_step]
            atomic_write_text(self.path, "".join(json.dumps(e) + "\n" for e in kept))
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(Path(run_dir) / "tensorboard"))
        except ImportError:  # tensorboard is optional
            self.tb = None

    def log(self, event: str, step: int, **values: float) -> None:
        """Write one event line (`event`, `step`, then the values) and flush it."""
        if not self.enabled:
            return
        record = {"event": event, "step": int(step), **{k: _num(v) for k, v in values.items()}}
        with open(self.path, "a") as fh:
            fh.write(json.dumps(record) + "\n")
        if self.tb is not None:
            for k, v in values.items():
                if isinstance(v, (int, float)) and math.isfinite(v):
                    self.tb.add_scalar(k, v, step)

    def close(self) -> None:
        """Flush TensorBoard."""
        if self.tb is not None:
            self.tb.close()


def _num(v: Any) -> Any:
    return float(v) if hasattr(v, "item") or isinstance(v, float) else v


def environment(accelerator: Any) -> dict[str, Any]:
    """Versions, device and process layout of this run (environment.json)."""
    import accelerate
    import numpy
    import torch

    return provenance(
        python=platform.python_version(), torch=torch.__version__, accelerate=accelerate.__version__,
        numpy=numpy.__version__, geostp=geostp.__version__, platform=platform.platform(),
        host=socket.gethostname(), device=str(accelerator.device),
        device_name=torch.cuda.get_device_name() if torch.cuda.is_available() else platform.processor() or "cpu",
        num_processes=accelerator.num_processes, distributed_type=str(accelerator.distributed_type),
        mixed_precision=accelerator.mixed_precision, torch_threads=torch.get_num_threads(),
    )


def plot_learning_curve(run_dir: Path, out: Path | None = None) -> Path:
    """learning_curve.png: train/valid loss against step, and validation scores per lead at the best step
    beside persistence (first metric, first variable)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    events = read_metrics(Path(run_dir) / "metrics.jsonl")
    train = [e for e in events if e["event"] == "train"]
    valid = [e for e in events if e["event"] == "valid"]
    base = next((e for e in events if e["event"] == "baseline"), {})
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4))
    if train:
        a1.plot([e["step"] for e in train], [e["train/loss"] for e in train], label="train loss")
    if valid:
        a1.plot([e["step"] for e in valid], [e["val/loss"] for e in valid], "o-", label="valid loss (MSE, normalised)")
    if base.get("persistence/loss"):
        a1.axhline(base["persistence/loss"], color="grey", ls="--", label="persistence (valid)")
    a1.set(xlabel="optimizer step", ylabel="loss", yscale="log", title="learning curve")
    a1.legend()
    score_keys = [k for k in (valid[0] if valid else {}) if k.startswith("val/") and k != "val/loss"]
    if score_keys:
        group = score_keys[0].rsplit("/", 1)[0]  # e.g. val/rmse/t850
        keys = [k for k in score_keys if k.rsplit("/", 1)[0] == group]
        leads = [k.rsplit("/", 1)[1] for k in keys]
        best = min(valid, key=lambda e: e["val/loss"])
        a2.plot(leads, [best[k] for k in keys], "o-", label=f"model (step {best['step']})")
        pkeys = [k.replace("val/", "persistence/", 1) for k in keys]
        if all(k in base for k in pkeys):
            a2.plot(leads, [base[k] for k in pkeys], "s--", color="grey", label="persistence")
        sig_path = Path(run_dir) / "signature.json"
        units = json.loads(sig_path.read_text()).get("units", {}) if sig_path.is_file() else {}
        metric, _, var = group.split("/", 1)[1].partition("/")
        label = f"{metric.upper()} {var}" + (f" [{units[var]}]" if units.get(var) else "")
        a2.set(xlabel="lead time", ylabel=label, title="validation score per lead")
        a2.legend()
    else:
        a2.set_axis_off()
    fig.tight_layout()
    out = out or Path(run_dir) / "learning_curve.png"
    tmp = out.with_name(f".{out.name}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(out)
    return out
