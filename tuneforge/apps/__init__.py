"""Ready applications on top of the engine: `tuneforge app support | monitor | recommend`.

Each application is a sub-package whose `cli.py` has `register(subparsers)`; that module imports only
argparse at top level so `tuneforge --help` stays fast (the real work is imported inside the command).
"""
from __future__ import annotations

import importlib
from types import ModuleType

APPS = ("support", "monitor", "recommend")


def register_all(sub) -> None:
    for name in APPS:
        try:
            mod: ModuleType = importlib.import_module(f"tuneforge.apps.{name}.cli")
        except ModuleNotFoundError as e:
            if e.name != f"tuneforge.apps.{name}" and e.name != f"tuneforge.apps.{name}.cli":
                raise
            continue  # an application not built yet
        mod.register(sub)
