"""What the dashboard shows about finished runs, read from their run directories only (the contract
between stages): config, metrics, learning curve, confusion matrix and worst mistakes as JSON.

A run is any directory holding `metrics.json` (written last by training, so it marks a finished run)
and `config.yaml`. Runs are found under one or more roots, each with a short prefix, and are named by
`prefix/relative/path`; a request names a run only by that id, never by a path, so nothing outside
the roots can be read.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import yaml

from ..errors import TuneforgeError
from ..rundir import CONFIG_FILE, LABELS_FILE, LOG_HISTORY_FILE, METRICS_FILE, PREDICTIONS_FILE
from ..store.registry import NotFound
from ..tasks.base import find_task

SKIP_DIRS = {"checkpoints", "exports", ".incoming", "__pycache__", "node_modules"}  # never runs, often large
MAX_DEPTH = 4  # runs/<group>/<name>/... is as deep as people nest them; a deeper walk only costs time
WORST = 20  # worst mistakes listed per run
PLOTS = ("confusion_matrix.png", "learning_curve.png", "worst_mistakes.png")  # the PNGs training writes


class RunNotFound(NotFound):
    """An id that names no run under the dashboard's roots (HTTP 404, as the server answers any NotFound)."""


def find_runs(roots: dict[str, Path]) -> dict[str, Path]:
    """{run id: directory} for every finished run under the roots, ids sorted."""
    found: dict[str, Path] = {}
    for prefix, root in roots.items():
        root = Path(root)
        if not root.is_dir():
            continue
        # followlinks: a folder of symlinks to runs kept elsewhere is a common way to pick runs to compare;
        # MAX_DEPTH bounds the walk, so a link loop cannot run away
        seen: set[str] = set()
        for d, dirs, files in os.walk(root, followlinks=True):
            real = os.path.realpath(d)
            if real in seen:  # a link back to a folder already walked: the same runs, not new ones
                dirs[:] = []
                continue
            seen.add(real)
            rel = Path(d).relative_to(root)
            dirs[:] = sorted(x for x in dirs if x not in SKIP_DIRS and not x.startswith("."))
            if METRICS_FILE in files and CONFIG_FILE in files:
                found["/".join([prefix, *rel.parts]) if rel.parts else f"{prefix}/{root.name}"] = Path(d)
                dirs[:] = []  # a run's own subdirectories are not other runs
            elif len(rel.parts) >= MAX_DEPTH:
                dirs[:] = []
    return dict(sorted(found.items()))


def resolve(roots: dict[str, Path], run_id: str) -> Path:
    runs = find_runs(roots)
    if run_id not in runs:
        raise RunNotFound(f"no finished run {run_id!r}", where="run id",
                          fix=f"GET /api/runs lists the runs ({len(runs)} found)")
    return runs[run_id]


def _read_json(path: Path, kind: type | None = None):
    """The file's JSON, None if there is none; `kind` (dict, list): what training writes there, anything
    else is a damaged file."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:  # UnicodeDecodeError, JSONDecodeError, a number too long to parse
        raise TuneforgeError(f"cannot read {path.name}: {e}", where=str(path),
                             fix="the run directory is damaged: train the run again") from None
    if kind is not None and not isinstance(value, kind):
        raise TuneforgeError(f"cannot read {path.name}: a JSON {type(value).__name__}, not the "
                             f"{'object' if kind is dict else 'list'} training writes", where=str(path),
                             fix="the run directory is damaged: train the run again")
    return value


def flatten(d: dict, prefix: str = "") -> dict:
    """{"train": {"epochs": 3}} -> {"train.epochs": 3}: the keys `tuneforge config` and overrides use."""
    out = {}
    for k, v in (d or {}).items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def summary(run_id: str, path: Path) -> dict:
    """What the runs table needs; a damaged run is listed with its error instead of hiding the others."""
    out = {"id": run_id, "path": str(path)}
    try:
        metrics = _read_json(path / METRICS_FILE, dict) or {}
        cfg = yaml.safe_load((path / CONFIG_FILE).read_text(encoding="utf-8")) or {}
        if not isinstance(cfg, dict):
            raise TuneforgeError(f"cannot read config.yaml: a {type(cfg).__name__}, not a mapping", where=str(path))
    except (TuneforgeError, OSError, ValueError, yaml.YAMLError) as e:
        return out | {"error": str(e)}
    task = find_task(cfg.get("task") or metrics.get("task"))
    return out | {"task": cfg.get("task") or metrics.get("task"), "backbone": cfg.get("backbone"),
                  "input": task.input_kind if task is not None else None,  # the page's tables follow what it reads
                  "metrics": {k: metrics[k] for k in ("test", "validation", "baseline_majority", "baseline_tfidf", "train")
                              if isinstance(metrics.get(k), dict)},
                  # task and backbone have their own rows; where files were written is no setting
                  "config": flatten({k: v for k, v in cfg.items() if k not in ("task", "backbone", "output_dir", "config_path")}),
                  "plots": [p for p in PLOTS if (path / p).is_file()]}


def learning_curve(path: Path) -> list[dict]:
    """The Trainer's log history: training loss per logging step, validation loss and metrics per eval."""
    hist = _read_json(path / LOG_HISTORY_FILE, list)
    if hist is None:  # a run written before log_history.json: the final trainer state has the same list
        state = _read_json(path / "trainer_state.json", dict) or {}
        hist = state.get("log_history", [])
        if not isinstance(hist, list):
            raise TuneforgeError("cannot read trainer_state.json: its log_history is not a list",
                                 where=str(path / "trainer_state.json"),
                                 fix="the run directory is damaged: train the run again")
    keep = ("step", "epoch", "loss", "eval_loss")
    return [{k: v for k, v in h.items() if (k in keep or k.startswith("eval_")) and isinstance(v, (int, float))}
            for h in hist if isinstance(h, dict) and "step" in h]


def _predictions(path: Path) -> list[dict]:
    f = path / PREDICTIONS_FILE
    if not f.is_file():
        return []
    rows = []
    for i, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                raise TuneforgeError("test_predictions.jsonl has a malformed line", where=f"{f}:{i}",
                                     fix="the run directory is damaged: train the run again") from None
    return rows


def _join(tokens: list[str]) -> str:
    # Chinese NER data is one character per token: joined with spaces it would not read as Chinese.
    return "".join(tokens) if all(len(t) == 1 and not t.isascii() for t in tokens) else " ".join(tokens)


def classification_errors(rows: list[dict], labels: list[str]) -> dict:
    kinds = list(labels) + sorted({r[k] for r in rows for k in ("label", "predicted")} - set(labels))
    index = {k: i for i, k in enumerate(kinds)}
    matrix = [[0] * len(kinds) for _ in kinds]
    for r in rows:
        matrix[index[r["label"]]][index[r["predicted"]]] += 1
    wrong = sorted((r for r in rows if r["label"] != r["predicted"]), key=lambda r: -r.get("confidence", 0.0))
    worst = [{"input": r.get("text", r.get("image", "")), "label": r["label"], "predicted": r["predicted"],
              "confidence": r.get("confidence")} for r in wrong[:WORST]]
    return {"labels": kinds, "matrix": matrix, "n": len(rows), "wrong": len(wrong), "worst": worst,
            "unit": "test examples"}


def label_set_errors(rows: list[dict], labels: list[str]) -> dict:
    """Label sets (multi-label): where each true label went (tasks/class_metrics.label_set_confusion) and the most
    confident wrong sets."""
    from ..tasks.class_metrics import label_set_confusion  # lazy: scikit-learn loads when a run page opens
    kinds, matrix = label_set_confusion([r["labels"] for r in rows], [r["predicted_labels"] for r in rows], labels)
    wrong = sorted((r for r in rows if set(r["labels"]) != set(r["predicted_labels"])),
                   key=lambda r: -r.get("confidence", 0.0))
    worst = [{"input": r.get("text", ""), "label": r["label"], "predicted": r["predicted"] or "(none)",
              "confidence": r.get("confidence")} for r in wrong[:WORST]]
    return {"labels": kinds, "matrix": matrix, "n": len(rows), "wrong": len(wrong), "worst": worst,
            "unit": "true labels of test texts"}


def token_errors(rows: list[dict]) -> dict:
    """Word-level entity-type confusion (O included), as training's evaluation computes it, and the test
    sentences with the most wrongly tagged words, with their true and predicted entities."""
    from ..tasks.token_classification import entities  # lazy: it imports torch
    pairs = Counter((t[2:] or "O", p[2:] or "O") for r in rows for t, p in zip(r["tags"], r["predicted"]))
    kinds = ["O"] + sorted({k for pair in pairs for k in pair} - {"O"})
    matrix = [[pairs[(a, b)] for b in kinds] for a in kinds]

    def spans(tokens, tags):
        return [{"type": typ, "text": _join(tokens[a:b])} for typ, a, b in entities(list(tags[:len(tokens)]))]

    scored = [(sum(t != p for t, p in zip(r["tags"], r["predicted"])), i) for i, r in enumerate(rows)]
    wrong = sorted((s for s in scored if s[0]), key=lambda s: (-s[0], s[1]))
    worst = [{"input": _join(rows[i]["tokens"]), "wrong_words": n, "words": len(rows[i]["tokens"]),
              "true_entities": spans(rows[i]["tokens"], rows[i]["tags"]),
              "predicted_entities": spans(rows[i]["tokens"], rows[i]["predicted"])} for n, i in wrong[:WORST]]
    return {"labels": kinds, "matrix": matrix, "n": sum(pairs.values()), "wrong": len(wrong), "worst": worst,
            "unit": "test words"}


def detail(run_id: str, path: Path) -> dict:
    """Everything the run page shows."""
    out = summary(run_id, path)
    if "error" in out:
        raise TuneforgeError(out["error"], where=str(path), fix="the run directory is damaged: train the run again")
    labels = _read_json(path / LABELS_FILE, list) or []
    if not all(isinstance(x, str) for x in labels):
        raise TuneforgeError("cannot read labels.json: not a list of label names", where=str(path / LABELS_FILE),
                             fix="the run directory is damaged: train the run again")
    rows = _predictions(path)
    task = find_task(out["task"])
    try:
        if not rows or (task is not None and not task.predicts_labels):  # generated answers: no confusion to show
            errors = None
        elif task is not None and task.multi_label:
            errors = label_set_errors(rows, labels)
        else:
            errors = classification_errors(rows, labels) if task is None or task.single_label else token_errors(rows)
    except (KeyError, TypeError, AttributeError) as e:  # a prediction line without the fields this tuneforge writes
        raise TuneforgeError(f"test_predictions.jsonl lacks the field {e}", where=str(path / PREDICTIONS_FILE),
                             fix="train the run again with this tuneforge version") from None
    main = task.metric_for_best if task else "macro_f1"
    return out | {"labels": labels, "main_metric": main, "learning_curve": learning_curve(path), "errors": errors}
