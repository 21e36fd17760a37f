"""Where tuneforge keeps what it builds once and reuses: converted backbones and prepared data sets."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """`$TUNEFORGE_CACHE`, else `$XDG_CACHE_HOME/tuneforge`, else `~/.cache/tuneforge`."""
    if os.environ.get("TUNEFORGE_CACHE"):
        return Path(os.environ["TUNEFORGE_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "tuneforge"


def models_cache() -> Path:
    return cache_dir() / "models"


def data_cache() -> Path:
    return cache_dir() / "data"
