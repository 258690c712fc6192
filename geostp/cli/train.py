"""`geostp train`: train a model from a YAML config into a run directory (same code as pipelines/train.py)."""

from __future__ import annotations

import os

import click


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config", type=click.Path(dir_okay=False), default=None,
              help="Experiment YAML (see pipelines/configs/; tiny.yaml trains in seconds on a CPU).")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Run directory to create (default: the config's `out`, else runs/<model>-<preset>-<time>).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a config value, repeatable: --set train.max_steps=20 --set model.overrides.hid_s=32.")
@click.option("--resume", type=click.Path(file_okay=False), default=None,
              help="Continue RUN_DIR from its last checkpoint (weights, optimizer, scheduler, RNG, data order).")
@click.option("--overwrite", is_flag=True, help="Replace an existing run directory at --out.")
@click.option("--wait", is_flag=True, help="If another process is training into the same run, wait for it instead of stopping.")
def train(config: str | None, out: str | None, overrides: tuple[str, ...], resume: str | None, overwrite: bool,
          wait: bool) -> None:
    """Train a model and write a self-contained run directory (weights, config, stats, metrics, curve).

    Runs in this process on the best device available. For several processes or GPUs launch
    pipelines/train.py with `accelerate launch` instead (same options; see docs/training.md).

    \b
    Examples:
      geostp train --config pipelines/configs/tiny.yaml --out runs/tiny
      geostp train --config pipelines/configs/vip_mixer_weatherbench.yaml --set data.store=wb.zarr
      geostp train --resume runs/tiny --set train.max_steps=80
    """
    from geostp.training import train as run_training

    run_dir = run_training(config, out=out, overrides=list(overrides), resume=resume, overwrite=overwrite, wait=wait)
    if os.environ.get("RANK", "0") != "0":  # one summary per launch, from the main process
        return
    click.echo(f"run directory: {run_dir}")
    for name in ("best.safetensors", "metrics.jsonl", "learning_curve.png"):
        if (run_dir / name).exists():
            click.echo(f"  {run_dir / name}")
