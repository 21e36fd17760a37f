"""One verb of `tuneforge`: its name, its one-line help, its arguments and the library call it shells."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Callable


@dataclass
class Verb:
    name: str
    help: str
    arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
