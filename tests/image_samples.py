"""Small real PNGs for image tests: stripes, horizontal or vertical, with seeded noise (a class a tiny
network learns in a few steps). Shared by tests/serve and tests/dashboard (both are packages; pytest puts
tests/ itself on sys.path)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def stripes_png(horizontal: bool, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    wave = (np.arange(20) // 3) % 2 * 200
    a = np.broadcast_to(wave[:, None] if horizontal else wave[None, :], (20, 20))
    a = np.clip(a + rng.integers(0, 50, (20, 20)), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(np.stack([a, a // 2, 255 - a], -1)).save(buf, format="PNG")
    return buf.getvalue()
