"""Export and compression: ONNX, ONNX int8, PyTorch int8 and bf16 copies of a finished run, each scored
against the fp32 model, and `load_predictor`, which serves a run or any export through one interface.

    from tuneforge.export import export_run, load_predictor
    path, info = export_run("runs/polarity-en", "onnx-int8")
    load_predictor(path).predict(["a gorgeous, witty film"])
"""

from __future__ import annotations

from .exporter import export_run
from .formats import FORMATS
from .load import ExportedRun, is_export, load_predictor

__all__ = ["FORMATS", "ExportedRun", "export_run", "is_export", "load_predictor"]
