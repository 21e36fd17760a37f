"""Methods with their own verbs: zero-shot classification, hyperparameter search, distillation."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from ..errors import TuneforgeError
from ..rundir import METRICS_FILE
from .options import read_inputs
from .verb import Verb


def cmd_zero_shot(a) -> int:
    from ..config import ZeroShotConfig, load_config
    from ..methods import zero_shot as zsl
    given = [f for f, v in (("--text", a.text), ("--input", a.input), ("--data", a.data)) if v is not None]
    if len(given) > 1 or (not given and not a.config):
        raise TuneforgeError(f"give exactly one of --text, --input or --data (got {', '.join(given) or 'none'})",
                             where="command line", fix='tuneforge zero-shot --labels "positive,negative" --text "..."; '
                                                       "or --config CONFIG alone to score the config's test split")
    if a.overrides and not a.config:
        raise TuneforgeError(f"override {a.overrides[0]!r} needs --config", where="command line",
                             fix="use flags (--method, --template ...) without a config")
    cfg = load_config(a.config, a.overrides) if a.config else None
    zs = zsl.with_flags(cfg.zero_shot if cfg else ZeroShotConfig(), method=a.method, backbone=a.backbone,
                        labels=zsl.parse_labels(a.labels) if a.labels is not None else None, template=a.template,
                        descriptions=zsl.parse_pairs(a.describe, "--describe"), batch_size=a.batch_size,
                        verbalizers=zsl.parse_pairs(a.verbalizer, "--verbalizer"),
                        calibrate=False if a.no_calibrate else None)
    if not given:  # the config's own test split, labels from its training data unless given
        cfg.zero_shot = zs
        res, _ = zsl.evaluate_config(cfg)
    else:
        if not zs.labels:
            raise TuneforgeError("no labels to choose from", where="command line",
                                 fix='give --labels "positive,negative" (or zero_shot.labels in --config)')
        backbone = cfg.backbone if cfg else "minilm-l6"
        if a.data:
            if a.output and Path(a.output).resolve() == Path(a.data).resolve():
                raise TuneforgeError("--output would overwrite --data", where=a.output, fix="choose another file")
            examples = zsl.read_labeled(a.data, a.text_column, a.label_column)
            res = zsl.evaluate(zsl.build_classifier(zs, zs.labels, backbone), examples)
        else:
            if a.input and not Path(a.input).is_file():
                raise TuneforgeError(f"input file not found: {a.input}", where=a.input, fix="check the path")
            if a.input and a.output and Path(a.output).resolve() == Path(a.input).resolve():
                raise TuneforgeError("--output would overwrite --input", where=a.output, fix="choose another file")
            texts = [a.text] if a.text is not None else read_inputs(Path(a.input), a.text_column)
            lines = [json.dumps(p, ensure_ascii=False) for p in zsl.predict(zsl.build_classifier(zs, zs.labels, backbone), texts)]
            if not a.output:
                print("\n".join(lines))
                return 0
            Path(a.output + ".tmp").write_text("\n".join(lines) + "\n", encoding="utf-8")
            os.replace(a.output + ".tmp", a.output)
            print(f"wrote {len(lines)} predictions to {a.output}", file=sys.stderr)
            return 0
    print(res.pop("report"))
    res.pop("predictions")
    print(json.dumps(res | {"method": zs.method}, indent=2, ensure_ascii=False))
    if a.output:
        Path(a.output).write_text(json.dumps(res | {"method": zs.method}, indent=2), encoding="utf-8")
    return 0


def cmd_tune(a) -> int:
    from ..config import load_config
    from ..methods.tune import format_summary, tune
    cfg = load_config(a.config, a.overrides)
    print(format_summary(tune(cfg, a.trials, study_name=a.study, timeout=a.timeout, progress=not a.quiet)))
    return 0


def cmd_distill(a) -> int:
    from ..methods.distill import distill
    out = distill(a.teacher_run, student=a.student, student_layers=a.student_layers, temperature=a.temperature,
                  alpha=a.alpha, output=a.output, overrides=a.overrides, progress=not a.quiet, overwrite=a.overwrite)
    d = json.loads((out / METRICS_FILE).read_text(encoding="utf-8"))["distillation"]
    print(f"student run: {out}\n  test accuracy {d['student_test_accuracy']} vs teacher {d['teacher_test_accuracy']} "
          f"({d['accuracy_retained']} retained), {d['student_layers']} layers vs {d['teacher_layers']}")
    return 0


def _zero_shot_args(s: argparse.ArgumentParser) -> None:
    s.add_argument("overrides", nargs="*", help="dotted.key=value for --config, e.g. zero_shot.method=llm")
    s.add_argument("--labels", help='comma-separated, e.g. "positive,negative"')
    s.add_argument("--method", help="embedding (default) | llm")
    s.add_argument("--backbone", help="embedding: sentence encoder (minilm-l6, multilingual-e5-small, a directory); "
                                      "llm: causal LM directory (default: the packaged smollm2-135m-instruct)")
    s.add_argument("--template", help="embedding: description with {label}; llm: prompt with {text} [and {labels}]")
    s.add_argument("--describe", action="append", metavar="LABEL=TEXT", help="embedding: a label's description")
    s.add_argument("--verbalizer", action="append", metavar="LABEL=TEXT", help="llm: the answer scored for a label")
    s.add_argument("--no-calibrate", action="store_true", help="llm: keep the model's label prior")
    s.add_argument("--batch-size", type=int)
    s.add_argument("--config", help="YAML with a zero_shot: section; alone, scores the config's test split")
    s.add_argument("--text")
    s.add_argument("--input", help=".txt (one text per line), .jsonl or .csv/.tsv")
    s.add_argument("--data", help="labeled file (CSV/TSV/JSONL): accuracy and macro-F1 beside the majority baseline")
    s.add_argument("--output", help="--input: JSONL predictions (default: stdout); --data/--config: metrics JSON")
    s.add_argument("--text-column", default="text")
    s.add_argument("--label-column", default="label")


def _tune_args(s: argparse.ArgumentParser) -> None:
    s.add_argument("config")
    s.add_argument("overrides", nargs="*", help="dotted.key=value, applied to every trial")
    s.add_argument("--trials", type=int, required=True,
                   help="finished trials the study should hold; a resumed study runs only the missing ones")
    s.add_argument("--study", help="study name in the study directory's study.db (default: tune)")
    s.add_argument("--timeout", type=float, help="start no new trial after this many seconds")
    s.add_argument("--quiet", action="store_true", help="no per-trial log")


def _distill_args(s: argparse.ArgumentParser) -> None:
    s.add_argument("teacher_run")
    s.add_argument("overrides", nargs="*", help="dotted.key=value on top of the teacher's config, e.g. train.epochs=2")
    who = s.add_mutually_exclusive_group(required=True)
    who.add_argument("--student", help="student backbone: packaged name (paraphrase-minilm-l3), directory or hub id")
    who.add_argument("--student-layers", type=int, help="student = the teacher truncated to its first N layers")
    s.add_argument("--temperature", type=float, default=2.0, help="softmax temperature of the soft targets (default 2)")
    s.add_argument("--alpha", type=float, default=0.5, help="weight of the soft (teacher) loss; 1-alpha on hard labels")
    s.add_argument("--output", help="student run directory (default: TEACHER_RUN-student-NAME beside the teacher)")
    s.add_argument("--overwrite", action="store_true", help="replace a finished run in --output")
    s.add_argument("--quiet", action="store_true", help="no progress bars or validation lines: the final summary only")


VERBS = (
    Verb('zero-shot', "classify with no training: label-description similarity or an LM's label likelihood; JSON lines out, or metrics with --data",
         _zero_shot_args, cmd_zero_shot),
    Verb('tune', "hyperparameter search (Optuna TPE + median pruning) over the config's tune.space",
         _tune_args, cmd_tune),
    Verb('distill', 'distil a finished run into a smaller student (KL on soft logits + hard labels)',
         _distill_args, cmd_distill),
)
