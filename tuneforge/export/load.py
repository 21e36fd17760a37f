"""`load_predictor(path)`: one call that serves a run directory or any export directory.

Every answer is a `LoadedRun` (an `ExportedRun` for exports), so `.predict(texts, batch_size=None)`
returns the same dicts whatever the backend: the task object does the pre- and post-processing and
only the network differs (PyTorch fp32, int8 or bf16, or an ONNX Runtime session).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import TuneforgeError
from ..rundir import LoadedRun, damaged, load_run, read_labels, read_run_config
from ..rundir import CONFIG_FILE, LABELS_FILE

EXPORT_INFO = "export.json"
REEXPORT = ("export the run again with `tuneforge export RUN --format ... --overwrite` (retrain the run first "
            "if it is damaged too)")


@dataclass
class ExportedRun(LoadedRun):
    format: str = ""  # a name in export.formats.EXPORT_FORMATS
    info: dict = field(default_factory=dict)  # export.json: size, speed and accuracy against fp32


def is_export(path: Path) -> bool:
    return (Path(path) / EXPORT_INFO).is_file()


def read_info(path: Path) -> dict:
    from .formats import FORMATS  # here: formats imports torch, and the registry lists exports without it
    f = Path(path) / EXPORT_INFO
    try:
        info = json.loads(f.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise TuneforgeError(f"cannot read the export description: {e}", where=str(f),
                             fix="export the run again with `tuneforge export RUN --format ... --overwrite`") from None
    if not isinstance(info, dict) or info.get("format") not in FORMATS:
        raise TuneforgeError(f"unknown export format {info.get('format') if isinstance(info, dict) else info!r}",
                             where=str(f), fix=f"this tuneforge reads {', '.join(FORMATS)}; export the run again")
    return info


def load_export(path: str | Path) -> ExportedRun:
    from transformers import AutoTokenizer

    from ..tasks.base import get_task
    from .formats import export_format

    path = Path(path)
    info = read_info(path)
    fmt = info["format"]
    spec = export_format(fmt)
    weights = [path / f for f in spec.files]
    for f in [path / CONFIG_FILE, path / LABELS_FILE, *weights]:
        if not f.is_file():
            raise TuneforgeError(f"the {fmt} export is incomplete (no {f.name})", where=str(path),
                                 fix="export the run again with `tuneforge export RUN --format ... --overwrite`")
    cfg = read_run_config(path, REEXPORT)
    labels = read_labels(path, REEXPORT)
    task = get_task(cfg.task)
    if not labels and task.predicts_labels:
        raise damaged(path / LABELS_FILE, "labels.json is an empty list, and a classifier has labels", REEXPORT)
    try:
        model = spec.load(path, task)
    except (TuneforgeError, ImportError):
        raise
    except Exception as e:  # a truncated or garbled model file: the loader's own words, the file named
        raise damaged(weights[0], f"the {fmt} model cannot be loaded ({type(e).__name__}: {e})",
                      REEXPORT) from None
    try:
        tokenizer = task.configure_processor(AutoTokenizer.from_pretrained(str(path)), cfg)
    except Exception as e:
        raise damaged(path, f"its tokenizer cannot be loaded ({type(e).__name__}: {e})", REEXPORT) from None
    # bf16=False: autocast is the fp32 model's switch; these networks already are what they are.
    return ExportedRun(path, cfg, labels, model, tokenizer, task, False, format=fmt, info=info)


def load_predictor(path: str | Path) -> LoadedRun:
    """A run directory → its fp32 `LoadedRun`; an export directory → an `ExportedRun` on its backend.
    Either way `.predict(texts)` gives the task's answer dicts. (The serving layer's contract.)"""
    path = Path(path)
    if not path.is_dir():
        raise TuneforgeError(f"{path} is not a directory", where=str(path),
                             fix="point at a `tuneforge train` output_dir or a `tuneforge export` directory")
    from ..data.redact import redacting_predictor  # the run's data.redact, applied to every text it is given
    return redacting_predictor(load_export(path) if is_export(path) else load_run(path))
