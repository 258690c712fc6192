"""Training: `train(config, out=..., overrides=[...]) -> run dir`, and `load_run` for the commands that follow."""

from geostp.training.checkpoint import RunInfo, load_run
from geostp.training.config import TrainConfig, load_config
from geostp.training.loop import train

__all__ = ["RunInfo", "TrainConfig", "load_config", "load_run", "train"]
