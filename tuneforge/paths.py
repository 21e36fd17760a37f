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


def sha256_file(path: Path) -> str:
    """Checksum of a file, read in 1 MiB blocks (the e5 source is 70 MB)."""
    import hashlib
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
