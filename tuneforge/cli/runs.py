"""The run's life: train, check its data, evaluate, predict, export."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from ..errors import TuneforgeError
from ..rundir import CONFIG_FILE, METRICS_FILE, PREDICTIONS_FILE, REPORT_FILE
from .options import points, read_inputs
from .verb import Verb


def cmd_train(a) -> int:
    from ..config import load_config
    from ..train.run import leave_process_group, train
    cfg = load_config(a.config, a.overrides)
    out = train(cfg, progress=not a.quiet, overwrite=a.overwrite,
                verbosity="quiet" if a.quiet else "verbose" if a.verbose else "normal")
    leave_process_group()
    if int(os.environ.get("RANK", "0")) != 0:
        return 0
    metrics = json.loads((out / METRICS_FILE).read_text(encoding="utf-8"))
    print((out / REPORT_FILE).read_text(encoding="utf-8"))
    print(json.dumps({k: metrics[k] for k in ("test", "baseline_majority", "baseline_untuned", "train") if k in metrics},
                     indent=2))
    from ..evaluation.baseline import verdict
    for c in metrics.get("train", {}).get("auto_choices", []):
        print(f"auto: {c['key']} = {c['value']} ({c['why']})")
    tb = metrics.get("baseline_tfidf", {})
    if "test" in tb and "test" in metrics:
        key = tb.get("metric", "macro_f1")
        print(f"test {key} {metrics['test'].get(key)} vs TF-IDF baseline {tb['test'].get(key)}")
    warning = verdict(metrics)
    if warning:
        print(f"WARNING: {warning}")
    preds = [json.loads(l) for l in (out / PREDICTIONS_FILE).read_text(encoding="utf-8").splitlines()[:5]]
    print("\nA few test predictions:")
    for p in preds:
        if "generated" in p:  # text generation: the question and the answer given
            print(f"  {p['text'][:60]!r}  →  {p['generated'][:80]!r}")
        elif "text" in p or "image" in p:
            mark = "ok " if p["label"] == p["predicted"] else "ERR"
            print(f"  [{mark}] {p['predicted']:<10} ({p['confidence']:.2f})  true={p['label']:<10} "
                  f"{p.get('text', p.get('image', ''))[:80]}")
        else:
            print(f"  {''.join(p['tokens'])[:60]}  →  {' '.join(t for t in p['predicted'] if t != 'O')[:60]}")
    print(f"\nrun directory: {out}  (model card: {out / 'README.md'})")
    return 0


def cmd_check_data(a) -> int:
    from ..config import load_config
    from ..data.report import format_report
    from ..train.run import prepare
    cfg = load_config(a.config, a.overrides)
    *_, report = prepare(cfg, progress=False)
    print(format_report(report, cfg.train.max_length))
    for c in report.get("auto_choices", []):
        print(f"auto: {c['key']} = {c['value']} ({c['why']})")
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    return 0


def cmd_evaluate(a) -> int:
    from ..data.splits import read_file
    from ..evaluation.outputs import headline
    from ..rundir import check_known_labels, load_run
    from ..writing import atomic_write, check_output_file
    if a.output and Path(a.output).resolve() == Path(a.data).resolve():
        raise TuneforgeError("--output would overwrite --data", where=a.output, fix="choose another output file")
    if a.output:
        check_output_file(a.output)
    run = load_run(a.run)
    examples, stats = read_file(run.cfg, a.data)
    check_known_labels(run, examples, a.data)  # before the model runs, not a KeyError after it
    res = run.task.evaluate(run.model, run.tokenizer, examples, run.labels, run.cfg.train.max_length,
                            run.cfg.train.eval_batch_size, run.bf16, progress=not a.quiet)
    print(res["report"])
    dropped = dict(stats.dropped)
    out = headline(run.task, res["metrics"]) | ({"dropped": dropped} if dropped else {})
    print(json.dumps(out, indent=2))
    if a.output:
        atomic_write(a.output, json.dumps(out, indent=2))
    return 0


def _run_task(run: str) -> str | None:
    """The task a run (or export) directory was trained for, read from its config without loading it."""
    import yaml
    try:
        return (yaml.safe_load((Path(run) / CONFIG_FILE).read_text(encoding="utf-8")) or {}).get("task")
    except (OSError, ValueError, yaml.YAMLError, AttributeError):
        return None  # load_predictor below reports what is wrong with the directory


def cmd_predict(a) -> int:
    from ..export import load_predictor  # a run directory or any `tuneforge export` directory
    if (a.text is None) == (a.input is None):
        raise TuneforgeError("give exactly one of --text or --input", where="command line",
                             fix='tuneforge predict RUN --text "..."  or  --input FILE --output FILE')
    from ..tasks.base import find_task  # here, not at the top: `tuneforge --help` must not wait for torch
    task = find_task(_run_task(a.run))
    if task is not None and not task.takes_text:  # --input is an image or a folder of images
        from ..data.images import image_files
        if a.text is not None:
            raise TuneforgeError("this run classifies images; --text does not apply", where="command line",
                                 fix="tuneforge predict RUN --input image.png  (or a folder of images)")
        texts = [str(f) for f in image_files(a.input)]
    else:
        texts = [a.text] if a.text is not None else read_inputs(Path(a.input), a.text_column)
    if a.input and a.output and Path(a.output).resolve() == Path(a.input).resolve():
        raise TuneforgeError("--output would overwrite --input", where=a.output, fix="choose another output file")
    if a.output:
        from ..writing import check_output_file
        check_output_file(a.output)
    run = load_predictor(a.run)
    preds = run.predict(texts)
    lines = [json.dumps(p, ensure_ascii=False) for p in preds]
    if a.output:
        from ..writing import atomic_write
        atomic_write(a.output, "\n".join(lines) + "\n")
        print(f"wrote {len(lines)} predictions to {a.output}", file=sys.stderr)
    else:
        print("\n".join(lines))
    return 0


def cmd_export(a) -> int:
    from ..export import export_run
    from ..train.console import NORMAL, transformers_output
    with transformers_output(NORMAL):  # transformers' loading bars and warnings silenced; the passes' bars shown
        out, info = export_run(a.run, a.format, a.output, force=a.force, overwrite=a.overwrite, max_drop=a.max_drop,
                               progress=True)
    m, main, sp = info["metrics"], info["main_metric"], info["speed"]
    print(f"{info['format']} export: {out}\n"
          f"  size {info['size_mb']} MB (fp32 {info['fp32_size_mb']} MB)\n"
          f"  speed {sp['export_samples_per_s']} vs {sp['fp32_samples_per_s']} samples/s fp32 ({sp['ratio']}x) "
          f"on {info['evaluated_on']['examples']} {info['evaluated_on']['split']} examples\n"
          f"  {main} {m['export'][main]:.4f} vs {m['fp32'][main]:.4f} fp32 "
          f"({m['delta_points'][main]:+.2f} points){'  [forced]' if info['forced'] else ''}")
    if "auto" in info:
        auto = info["auto"]
        print(f"  auto: {auto['rule']}, on {auto['cpu']['model_name']} ({auto['cpu']['torch_cpu_capability']}):")
        for f, c in auto["candidates"].items():
            print(f"    {'*' if f == auto['chosen'] else ' '} {f:<11} {c['speed_ratio']:>6}x fp32  "
                  f"{c['delta_points']:+.2f} points")
    return 0


def _train_args(s: argparse.ArgumentParser) -> None:
    s.add_argument("config")
    s.add_argument("overrides", nargs="*", help="dotted.key=value, e.g. train.epochs=2")
    s.add_argument("--overwrite", action="store_true", help="replace a finished run in output_dir")
    loud = s.add_mutually_exclusive_group()
    loud.add_argument("--quiet", action="store_true", help="no progress bars or validation lines: the final summary only")
    loud.add_argument("--verbose", action="store_true",
                      help="the Trainer's raw log dicts and transformers' warnings and loading reports (debugging)")


def _check_data_args(s: argparse.ArgumentParser) -> None:
    s.add_argument("config")
    s.add_argument("overrides", nargs="*")
    s.add_argument("--json", help="also write the report as JSON to this file")


def _evaluate_args(s: argparse.ArgumentParser) -> None:
    s.add_argument("run")
    s.add_argument("--data", required=True)
    s.add_argument("--output", help="write the metrics JSON here")
    s.add_argument("--quiet", action="store_true")


def _predict_args(s: argparse.ArgumentParser) -> None:
    s.add_argument("run")
    s.add_argument("--text")
    s.add_argument("--input", help=".txt (one text per line), .jsonl or .csv/.tsv; image runs: an image or a folder")
    s.add_argument("--output", help="JSONL file (default: stdout)")
    s.add_argument("--text-column", default="text")


# Written out, not read from export.formats: that imports torch, and the CLI starts without it (0.16 s).
# tests/test_cli_verbs.py fails when this and the registry disagree.
FORMAT_HELP = "onnx | onnx-int8 | torch-int8 | bf16 | gguf | gguf-q8_0"


def _export_args(s: argparse.ArgumentParser) -> None:
    s.add_argument("run")
    s.add_argument("--format", required=True,
                   help=f"{FORMAT_HELP} | auto (classifiers: each measured here, the fastest within 0.5 points of "
                        f"fp32; gguf: a text-generation run for llama.cpp)")
    s.add_argument("--output", help="export directory (default: RUN/exports/FORMAT, RUN/exports/auto for auto)")
    s.add_argument("--force", action="store_true", help="keep an export that loses more than --max-drop points")
    s.add_argument("--overwrite", action="store_true", help="replace an existing export directory")
    s.add_argument("--max-drop", type=points, default=1.0,
                   help="points of the main metric (macro_f1 / micro_f1 / entity_f1 / rouge_l) an export may lose "
                        "(default 1)")


VERBS = (
    Verb('train', 'fine-tune a backbone from a YAML config',
         _train_args, cmd_train),
    Verb('check-data', 'report counts, labels, duplicates, overlap, lengths, truncation',
         _check_data_args, cmd_check_data),
    Verb('evaluate', 'score a finished run on a labeled file',
         _evaluate_args, cmd_evaluate),
    Verb('predict', 'predict with a finished run; JSON lines out',
         _predict_args, cmd_predict),
    Verb('export',
         'export a run (onnx, onnx-int8, torch-int8, bf16; gguf, gguf-q8_0 for text generation), scored against fp32',
         _export_args, cmd_export),
)
