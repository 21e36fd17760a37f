"""Typed run configuration: the schema (schema.py), reading YAML + dotted overrides (load.py) and the
cross-field rules (checks.py). Import from here: `from tuneforge.config import Config, load_config`."""

from .checks import register_check, unknown_name, validate
from .load import _coerce, load_config
from .schema import (ADVERSARIAL, METHODS, POOLINGS, REFUSED_METHODS, TAG_SCHEMES, TASK_INPUTS, TASKS, AugmentConfig,
                     Config,
                     DataConfig, GenerateConfig, ImageConfig, PeftConfig, SetFitConfig, TrainConfig, TuneConfig, ZeroShotConfig,
                     describe, save_config)

__all__ = ["ADVERSARIAL", "METHODS", "POOLINGS", "REFUSED_METHODS", "TAG_SCHEMES", "TASK_INPUTS", "TASKS", "AugmentConfig", "Config",
           "DataConfig", "GenerateConfig", "ImageConfig", "PeftConfig", "SetFitConfig", "TrainConfig", "TuneConfig", "ZeroShotConfig",
           "_coerce", "describe", "load_config", "register_check", "save_config", "unknown_name", "validate"]
