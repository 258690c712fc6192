"""Model suite behind one registry: `create`, `list_models`, `list_presets`."""

from geostp.models.base import BaseConfig, Forecaster, LossOutput, TrainingStage
from geostp.models.registry import create, list_models, list_presets, model_config, register_model
from geostp.models.rollout import rollout

__all__ = [
    "BaseConfig", "Forecaster", "LossOutput", "TrainingStage", "create", "list_models", "list_presets",
    "model_config", "register_model", "rollout",
]
