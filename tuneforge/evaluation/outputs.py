"""Everything a finished run leaves behind: `write_run`, the one writer of a run directory (full fine-tuning, PEFT,
SetFit and distillation all finish through it), and what it writes besides the weights: metrics, report, plots,
card. The file names are tuneforge/rundir.py's, beside the reader."""

from __future__ import annotations

import json
from pathlib import Path

from ..config import Config, save_config
from ..writing import atomic_write, write_json
from .baseline import beaten, tfidf_baseline, tfidf_label_set_baseline
from .card import write_card
from .plots import confusion_png, learning_curve_png, mistakes_grid_png
from .reference import write_reference
from ..rundir import (CONFIG_FILE, DATA_REPORT_FILE, LABELS_FILE, LOG_HISTORY_FILE, METRICS_FILE, PREDICTIONS_FILE,
                      REPORT_FILE)


def evaluate_examples(task, model, tokenizer, labels, examples, cfg: Config, bf16: bool, progress=True) -> dict:
    return task.evaluate(model, tokenizer, examples, labels, cfg.train.max_length, cfg.train.eval_batch_size,
                         bf16, progress)


def headline(task, metrics: dict) -> dict:
    return {k: round(metrics[k], 4) for k in task.headline_metrics if k in metrics} | {"n": metrics.get("n")}


def majority_baseline(task, train, test) -> dict | None:
    """What always answering the most common training label scores on test: the floor to beat."""
    if not task.single_label or not test:
        return None
    from collections import Counter
    top = Counter(e.label for e in train).most_common(1)[0][0]
    acc = sum(e.label == top for e in test) / len(test)
    return {"label": top, "accuracy": round(acc, 4)}


def write_predictions(path: Path, predictions: list[dict]) -> None:
    atomic_write(path, "".join(json.dumps(p, ensure_ascii=False) + "\n" for p in predictions))


def write_outputs(out: Path, cfg: Config, task, model, tokenizer, labels, splits, data_report: dict,
                  train_metrics: dict, log_history: list[dict], bf16: bool, progress: bool = True) -> dict:

    metrics: dict = {"task": cfg.task, "backbone": cfg.backbone, "train": train_metrics}
    sections = []
    for name in ("validation", "test"):
        ex = getattr(splits, name)
        if not ex:
            continue
        res = evaluate_examples(task, model, tokenizer, labels, ex, cfg, bf16, progress)
        metrics[name] = headline(task, res["metrics"]) | {
            k: v for k, v in res["metrics"].items() if k == "truncated_words"}
        sections.append(f"== {name} ({len(ex)} examples) ==\n{res['report']}")
        if name == "test":
            if res.get("confusion") is not None:  # classes to confuse (text generation has none)
                confusion_png(res["confusion"], res.get("confusion_labels", labels), out / "confusion_matrix.png",
                              task.confusion_title)
            write_predictions(out / PREDICTIONS_FILE, res["predictions"])
            if "worst_mistakes" in res:  # tasks with inputs to show (images): their most confident errors
                mistakes_grid_png(res["worst_mistakes"], out / "worst_mistakes.png")
    base = majority_baseline(task, splits.train, splits.test)
    if base:
        metrics["baseline_majority"] = base
    if task.labels_whole_texts and cfg.train.baseline:
        fit = tfidf_baseline if task.single_label else tfidf_label_set_baseline
        metrics["baseline_tfidf"] = tb = fit(splits.train, splits.validation, splits.test, labels, cfg.train.seed)
        for name in ("validation", "test"):
            if name in tb:
                scores = "  ".join(f"{k} {v:.4f}" for k, v in tb[name].items() if k != "n")
                sections.append(f"== {name}, {tb['model']} (C={tb['C']:g}, class weight {tb['class_weight']}, "
                                f"offsets {tb['decision_bias']}, chosen on {tb['chosen_on']}) ==\n{scores}  "
                                f"n {tb[name]['n']}\n")
        tb["beaten_on_validation"] = beaten(metrics)
    own = task.baseline(cfg, tokenizer, labels, splits, bf16)
    if own is not None:
        key, section = own
        metrics[key] = {k: v for k, v in section.items() if k != "predictions"}
        if section.get("predictions"):
            write_predictions(out / f"{key}_predictions.jsonl", section["predictions"])
        if "test" in metrics and "test" in section:
            sections.append(f"== test, {section['model']} ==\n" + "  ".join(
                f"{k} {v:.4f}" for k, v in section["test"].items() if isinstance(v, float)) + "\n")
    learning_curve_png(log_history, task.metric_for_best, out / "learning_curve.png")
    # What serving is measured against for drift (tuneforge/monitor): labels, confidence, input lengths.
    if task.takes_text:  # the drift reference measures texts (lengths, chars), and labels where predictions have them
        predict = (lambda texts: task.predict(model, tokenizer, texts, labels, cfg.train.max_length,
                                              cfg.train.eval_batch_size, bf16)) if task.predicts_labels else \
            (lambda texts: [{} for _ in texts])  # generating answers only to find no label in them: skipped
        write_reference(out, cfg.task, predict, splits)
    write_json(out / LOG_HISTORY_FILE, log_history)
    atomic_write(out / REPORT_FILE, "\n".join(sections) + "\n")
    write_card(out, cfg, task, labels, data_report, metrics)
    write_json(out / METRICS_FILE, metrics)  # last: marks the run as finished
    return metrics


def write_run(out: Path, cfg: Config, task, model, tokenizer, labels, splits, data_report: dict, train_metrics: dict,
              log_history: list[dict], bf16: bool, progress: bool = True) -> dict:
    """A finished run directory: weights, tokenizer, the resolved config, labels, the data report, then
    write_outputs (metrics.json last). A method returns its model and numbers; only this writes files."""
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out))  # weights (safetensors) and the Hugging Face config
    tokenizer.save_pretrained(str(out))
    save_config(cfg, out / CONFIG_FILE)
    write_json(out / LABELS_FILE, labels)
    write_json(out / DATA_REPORT_FILE, data_report)
    train_metrics = {**train_metrics, "auto_choices": data_report.get("auto_choices", [])}  # what the data decided
    return write_outputs(out, cfg, task, model, tokenizer, labels, splits, data_report, train_metrics, log_history,
                         bf16, progress)
