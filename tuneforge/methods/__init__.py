"""Tuning methods beyond full fine-tuning: PEFT adapters, few-shot (SetFit), zero-shot, distillation,
adversarial training and hyperparameter search. One module per method.

The methods that `train.method` names register themselves (methods/registry.py) when their module is
imported; importing them here makes the registry complete whoever asks it first.
"""

from . import peft_adapters, registry, setfit  # noqa: F401  (registration)

__all__ = ["peft_adapters", "registry", "setfit"]
