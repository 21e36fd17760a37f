"""Reading a finished run directory: the one thing later stages (evaluate, predict, export, serve) need."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .config import Config, load_config
from .errors import TuneforgeError

# The run directory's files: one name each, for its reader (here) and its writer (evaluation/outputs.write_run).
CONFIG_FILE = "config.yaml"  # the resolved config: every automatic choice filled in
METRICS_FILE = "metrics.json"  # written last: its presence marks a finished run
LABELS_FILE = "labels.json"
REPORT_FILE = "report.txt"
PREDICTIONS_FILE = "test_predictions.jsonl"
DATA_REPORT_FILE = "data_report.json"
LOG_HISTORY_FILE = "log_history.json"


@dataclass
class LoadedRun:
    path: Path
    cfg: Config
    labels: list[str]
    model: object
    tokenizer: object
    task: object
    bf16: bool

    def predict(self, texts: list[str], batch_size: int | None = None) -> list[dict]:
        return self.task.predict(self.model, self.tokenizer, texts, self.labels, self.cfg.train.max_length,
                                 batch_size or self.cfg.train.eval_batch_size, self.bf16)


RETRAIN = ("retrain it (`tuneforge train CONFIG --overwrite`), or restore the directory from a backup or a "
           "registry copy (`tuneforge registry list` shows their paths)")


def damaged(file: Path | str, detail: str, fix: str = RETRAIN) -> TuneforgeError:
    """The one error for a run (or export) directory whose files cannot be read back."""
    return TuneforgeError(f"the run is damaged: {detail}", where=str(file), fix=fix)


def read_json(file: Path, kind: type | None = None, fix: str = RETRAIN):
    """A JSON file of a run directory, or `damaged(...)` naming it."""
    try:
        obj = json.loads(Path(file).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise damaged(file, f"{Path(file).name} is missing", fix) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise damaged(file, f"{Path(file).name} cannot be read ({e})", fix) from None
    if kind is not None and not isinstance(obj, kind):
        raise damaged(file, f"{Path(file).name} holds a JSON {type(obj).__name__}, not a {kind.__name__}", fix)
    return obj


def read_labels(path: Path, fix: str = RETRAIN) -> list[str]:
    f = Path(path) / LABELS_FILE
    labels = read_json(f, list, fix)
    # empty: a task without labels (text generation); load_run checks that the run's task is one
    if not all(isinstance(l, str) and l for l in labels) or len(set(labels)) != len(labels):
        raise damaged(f, "labels.json is not a list of distinct label names", fix)
    return labels


def read_run_config(path: Path, fix: str = RETRAIN) -> Config:
    try:
        return load_config(Path(path) / CONFIG_FILE)  # already resolved at training time
    except TuneforgeError as e:
        raise damaged(e.where or Path(path) / CONFIG_FILE, f"its config.yaml cannot be read: {e.what}", fix) from None
    except (OSError, ValueError) as e:
        raise damaged(Path(path) / CONFIG_FILE, f"its config.yaml cannot be read: {e}", fix) from None


def read_metrics(path: Path, fix: str = RETRAIN) -> dict:
    return read_json(Path(path) / METRICS_FILE, dict, fix)


def check_safetensors(file: Path, fix: str = RETRAIN) -> None:
    """The header of a .safetensors file read and its size checked against it: a truncated or garbled
    weights file is named here, before a loader fails somewhere deep inside."""
    try:
        size = file.stat().st_size
        with open(file, "rb") as f:
            head = f.read(8)
            n = int.from_bytes(head, "little") if len(head) == 8 else -1
            if n < 2 or n > min(size - 8, 100 << 20):
                raise damaged(file, f"{file.name} is not a complete safetensors file ({size} bytes)", fix)
            header = json.loads(f.read(n))
        end = max((int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"), default=0)
    except TuneforgeError:
        raise
    except (OSError, ValueError, TypeError, KeyError, IndexError, AttributeError) as e:
        raise damaged(file, f"{file.name} cannot be read ({e})", fix) from None
    if 8 + n + end > size:
        raise damaged(file, f"{file.name} is truncated: {size} bytes of the {8 + n + end} its header describes", fix)


def check_run_files(path: Path, fix: str = RETRAIN) -> None:
    """Cheap checks of everything a finished run must hold, without loading the model."""
    path = Path(path)
    read_run_config(path, fix)
    read_labels(path, fix)
    if (path / "config.json").is_file():
        read_json(path / "config.json", dict, fix)
    if (path / METRICS_FILE).is_file():
        read_metrics(path, fix)
    for f in sorted(path.glob("*.safetensors")):
        check_safetensors(f, fix)


def load_run(path: str | Path) -> LoadedRun:
    from .tasks.base import get_task, use_bf16  # here: tasks import torch; the CLI reads run files without it

    path = Path(path)
    for name in (CONFIG_FILE, LABELS_FILE, "config.json"):
        if not (path / name).is_file():
            raise TuneforgeError(f"{path} is not a finished tuneforge run (no {name})", where=str(path),
                                 fix="point at the output_dir of a completed `tuneforge train`")
    cfg = read_run_config(path)
    labels = read_labels(path)
    read_json(path / "config.json", dict)
    weights = sorted(path.glob("*.safetensors"))
    for f in weights:
        check_safetensors(f)
    task = get_task(cfg.task)
    if not labels and task.predicts_labels:
        raise damaged(path / LABELS_FILE, "labels.json is an empty list, and a classifier has labels", RETRAIN)
    try:
        model = task.model_class.from_pretrained(str(path))
    except (TuneforgeError, ImportError):
        raise
    except Exception as e:  # what is left after the checks above: the loader names the problem
        raise damaged(weights[0] if weights else path, f"the model cannot be loaded ({type(e).__name__}: {e})") \
            from None
    model.eval()
    try:
        tokenizer = task.configure_processor(task.load_processor(str(path)), cfg)  # for images an ImageProcessor
    except (TuneforgeError, ImportError):
        raise
    except Exception as e:
        raise damaged(path, f"its tokenizer cannot be loaded ({type(e).__name__}: {e})") from None
    return LoadedRun(path, cfg, labels, model, tokenizer, task, use_bf16(cfg))


def check_known_labels(run: LoadedRun, examples: list, data_path: str | Path) -> None:
    """Refuse, before the model runs, a labeled file with labels (NER: entity types) the run never saw:
    they cannot be scored, and 0/1 against a run trained on words is a different labeling altogether."""
    from .data.splits import labels_in  # here: splits import scikit-learn, which reading a run does not need
    known = run.task.known_labels(run.labels)
    first: dict[str, str] = {}
    for ex in examples:
        for label in labels_in([ex]):
            if label not in known and label not in first:
                first[label] = ex.source
    if not first:
        return
    unknown = sorted(first)
    kind = run.task.label_kind
    where = first[unknown[0]] or str(data_path)
    raise TuneforgeError(
        f"{kind} the run never saw: {', '.join(map(repr, unknown[:10]))}{' ...' if len(unknown) > 10 else ''} "
        f"(first on this line)", where=where,
        fix=f"the run knows {', '.join(map(repr, sorted(known)))}: relabel the file with those, or evaluate a run "
            "trained on these labels")
