"""Where the server gets a predictor for a registry version: a run directory or an export directory.

`tuneforge.export.load_predictor` (ONNX Runtime, int8, bf16, PyTorch) when that package is present;
until then `tuneforge.rundir.load_run`. Both return an object with `.predict(texts, batch_size=None)`,
`.labels`, `.cfg` and `.task`. A run trained with `data.redact` redacts every text before predicting.
"""

from __future__ import annotations

from pathlib import Path


def load_backend(path: str | Path):
    try:
        from ..export import load_predictor
    except ImportError as e:
        if e.name != "tuneforge.export":  # the export package exists but is broken: say so, do not hide it
            raise
        from ..rundir import load_run as load_predictor
    from ..data.redact import redacting_predictor  # data.redact at prediction time, as in training
    return redacting_predictor(load_predictor(path))
