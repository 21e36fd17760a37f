"""`tuneforge VERB ...`: each verb is a thin shell over a library call.

A TuneforgeError is printed as one short paragraph (what, where, fix) with exit status 2; no traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
import json
import os
import sys
from pathlib import Path

from .errors import TuneforgeError
from .rundir import CONFIG_FILE, METRICS_FILE, PREDICTIONS_FILE, REPORT_FILE


def add_options(parser: argparse.ArgumentParser, cls) -> None:
    """A flag per field of the options dataclass `cls`, its help from the field's metadata: `max_texts` is
    --max-texts; a boolean that defaults to True is turned off by --no-<name>."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        flag, help = "--" + f.name.replace("_", "-"), f.metadata.get("help")
        kind = hints[f.name]
        if kind is bool:
            if f.default is True:
                parser.add_argument("--no-" + f.name.replace("_", "-"), dest=f.name, action="store_false", help=help)
            else:
                parser.add_argument(flag, dest=f.name, action="store_true", help=help)
            continue
        inner = [t for t in typing.get_args(kind) if t is not type(None)] or [kind]  # X | None -> X
        parser.add_argument(flag, dest=f.name, type=inner[0], default=f.default,
                            help=f"{help} (default: {f.default})" if f.default is not None else help)


def options_from(a: argparse.Namespace, cls):
    """The options dataclass `cls` from parsed arguments (add_options' flags)."""
    return cls(**{f.name: getattr(a, f.name) for f in dataclasses.fields(cls)})


def cmd_train(a) -> int:
    from .config import load_config
    from .train.run import train
    cfg = load_config(a.config, a.overrides)
    out = train(cfg, progress=not a.quiet, overwrite=a.overwrite,
                verbosity="quiet" if a.quiet else "verbose" if a.verbose else "normal")
    if int(os.environ.get("RANK", "0")) != 0:
        return 0
    metrics = json.loads((out / METRICS_FILE).read_text(encoding="utf-8"))
    print((out / REPORT_FILE).read_text(encoding="utf-8"))
    print(json.dumps({k: metrics[k] for k in ("test", "baseline_majority", "train") if k in metrics}, indent=2))
    from .evaluation.baseline import verdict
    for c in metrics.get("train", {}).get("auto_choices", []):
        print(f"auto: {c['key']} = {c['value']} ({c['why']})")
    tb = metrics.get("baseline_tfidf", {})
    if "test" in tb and "test" in metrics:
        print(f"test macro_f1 {metrics['test'].get('macro_f1')} vs TF-IDF baseline {tb['test']['macro_f1']}")
    if verdict(metrics):
        print(f"WARNING: {verdict(metrics)}")
    preds = [json.loads(l) for l in (out / PREDICTIONS_FILE).read_text(encoding="utf-8").splitlines()[:5]]
    print("\nA few test predictions:")
    for p in preds:
        if "text" in p or "image" in p:
            mark = "ok " if p["label"] == p["predicted"] else "ERR"
            print(f"  [{mark}] {p['predicted']:<10} ({p['confidence']:.2f})  true={p['label']:<10} "
                  f"{p.get('text', p.get('image', ''))[:80]}")
        else:
            print(f"  {''.join(p['tokens'])[:60]}  →  {' '.join(t for t in p['predicted'] if t != 'O')[:60]}")
    print(f"\nrun directory: {out}  (model card: {out / 'README.md'})")
    return 0


def cmd_check_data(a) -> int:
    from .config import load_config
    from .data.report import format_report
    from .train.run import prepare
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
    from .data.splits import read_file
    from .evaluation.outputs import headline
    from .rundir import check_known_labels, load_run
    from .writing import atomic_write, check_output_file
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


def _read_inputs(path: Path, text_column: str) -> list[str]:
    from .data.inputs import read_inputs  # strict like training's readers: file:line, exit 2
    return read_inputs(path, text_column)


def _run_task(run: str) -> str | None:
    """The task a run (or export) directory was trained for, read from its config without loading it."""
    import yaml
    try:
        return (yaml.safe_load((Path(run) / CONFIG_FILE).read_text(encoding="utf-8")) or {}).get("task")
    except (OSError, ValueError, yaml.YAMLError, AttributeError):
        return None  # load_predictor below reports what is wrong with the directory


def cmd_predict(a) -> int:
    from .export import load_predictor  # a run directory or any `tuneforge export` directory
    if (a.text is None) == (a.input is None):
        raise TuneforgeError("give exactly one of --text or --input", where="command line",
                             fix='tuneforge predict RUN --text "..."  or  --input FILE --output FILE')
    if _run_task(a.run) == "image-classification":  # --input is an image or a folder of images
        from .data.images import image_files
        if a.text is not None:
            raise TuneforgeError("this run classifies images; --text does not apply", where="command line",
                                 fix="tuneforge predict RUN --input image.png  (or a folder of images)")
        texts = [str(f) for f in image_files(a.input)]
    else:
        texts = [a.text] if a.text is not None else _read_inputs(Path(a.input), a.text_column)
    if a.input and a.output and Path(a.output).resolve() == Path(a.input).resolve():
        raise TuneforgeError("--output would overwrite --input", where=a.output, fix="choose another output file")
    if a.output:
        from .writing import check_output_file
        check_output_file(a.output)
    run = load_predictor(a.run)
    preds = run.predict(texts)
    lines = [json.dumps(p, ensure_ascii=False) for p in preds]
    if a.output:
        from .writing import atomic_write
        atomic_write(a.output, "\n".join(lines) + "\n")
        print(f"wrote {len(lines)} predictions to {a.output}", file=sys.stderr)
    else:
        print("\n".join(lines))
    return 0


def cmd_export(a) -> int:
    from .export import export_run
    out, info = export_run(a.run, a.format, a.output, force=a.force, overwrite=a.overwrite, max_drop=a.max_drop)
    m, main, sp = info["metrics"], info["main_metric"], info["speed"]
    print(f"{info['format']} export: {out}\n"
          f"  size {info['size_mb']} MB (fp32 {info['fp32_size_mb']} MB)\n"
          f"  speed {sp['export_samples_per_s']} vs {sp['fp32_samples_per_s']} samples/s fp32 ({sp['ratio']}x) "
          f"on {info['evaluated_on']['examples']} {info['evaluated_on']['split']} examples\n"
          f"  {main} {m['export'][main]:.4f} vs {m['fp32'][main]:.4f} fp32 "
          f"({m['delta_points'][main]:+.2f} points){'  [forced]' if info['forced'] else ''}")
    return 0


def cmd_models(a) -> int:
    from .backbones.registry import BACKBONES
    if a.prepare:  # make every packaged backbone usable offline now (e5 is converted once)
        for s in BACKBONES.values():
            print(f"{s.name}: {s.locate()}")
        return 0
    print(f"{'name':<24}{'params':>8}  {'language':<28}{'package':<30}source")
    for s in BACKBONES.values():
        print(f"{s.name:<24}{s.params:>8}  {s.language:<28}{s.package:<30}{s.source}")
    print("\nAlso accepted: any local Hugging Face model directory, or a hub id (org/model) when online.")
    return 0


def cmd_datasets(a) -> int:
    from .data.datasets_fetch import list_datasets, prepare
    from .data.fashion_mnist import DESCRIPTION, NAME as FMNIST, prepare_fashion_mnist  # a Debian package
    from .apps.support import chatterbot  # noqa: F401  registers chatterbot-faq, the assistant's real FAQ
    names = a.names or ([] if a.list else [d.name for d in list_datasets()])
    if a.list or not names:
        for d in list_datasets():
            print(f"{d.name:<20}{d.task:<22}{d.language:<6}{d.package}=={d.version}  {d.description}")
        print(f"{FMNIST:<20}{'image-classification':<22}{'-':<6}{'debian:dataset-fashion-mnist'}  {DESCRIPTION}")
        return 0
    for name in names:
        print(f"{name}: {prepare_fashion_mnist(a.force) if name == FMNIST else prepare(name, force=a.force)}")
    return 0


def cmd_config(a) -> int:
    from .config import describe
    for key, default, help_text in describe():
        print(f"{key:<32}{default:<22}{help_text}")
    return 0


def cmd_serve(a) -> int:
    from .server import ServeOptions, serve
    serve(options_from(a, ServeOptions), host=a.host, port=a.port, log_level=a.log_level)
    return 0


def cmd_registry(a) -> int:
    from .store.registry import Registry, format_versions
    reg = Registry(a.registry, a.db_url, create=a.action == "add")  # only add makes a registry
    if a.action == "add":
        mv = reg.add(a.name, a.source, stage=a.stage)
        print(f"added {mv.name} v{mv.version} ({mv.stage}) at {mv.path}")
    elif a.action == "list":
        versions = reg.list(a.name)
        if a.json:
            print(json.dumps([{**v.__dict__, "path": str(v.path)} for v in versions], indent=2))
        else:
            print(format_versions(versions))
    elif a.action == "promote":
        mv = reg.promote(a.name, a.version, a.stage)
        print(f"{mv.name} v{mv.version} is now {mv.stage}")
    elif a.action == "rollback":
        mv = reg.rollback(a.name)
        print(f"rolled back: {mv.name} v{mv.version} is production again")
    return 0


def cmd_ab(a) -> int:
    import time
    from .serve.ab import format_report, report
    from .store.registry import Registry
    reg = Registry(a.registry, a.db_url, create=False)
    rep = report(reg.db, a.name, since=time.time() - a.since_hours * 3600 if a.since_hours else None)
    print(json.dumps(rep, indent=2) if a.json else format_report(rep))
    return 0


def cmd_monitor(a) -> int:
    if a.action == "reference":
        from .monitor.drift import reference_for_run
        path, ref = reference_for_run(a.run, overwrite=a.overwrite)
        print(f"wrote {path}: {ref['n']} {ref['split']} texts, labels {ref['labels']}, "
              f"mean confidence {ref['mean_confidence']}")
        return 0
    import time
    from .monitor.alerts import parse_duration
    from .monitor.drift import Thresholds
    from .monitor.report import format_report, monitor_report, parse_since, write_report
    from .store.registry import Registry
    if not 0 <= a.psi_warn <= a.psi_alert:
        raise TuneforgeError(f"--psi-warn {a.psi_warn} must be between 0 and --psi-alert {a.psi_alert}",
                             where="--psi-warn", fix="the conventional levels are 0.1 and 0.25")
    now = time.time()
    rep = monitor_report(Registry(a.registry, a.db_url, create=False), a.model, parse_since(a.since, now),
                         parse_duration(a.window, "--window"), Thresholds(a.psi_warn, a.psi_alert), now)
    print(json.dumps(rep, indent=2, ensure_ascii=False) if a.json else format_report(rep))
    if a.output:
        files = write_report(rep, a.output)
        print(f"wrote {', '.join(f.name for f in files)} to {a.output}", file=sys.stderr)
    return 0


def cmd_dashboard(a) -> int:
    from .dashboard.app import serve_dashboard
    serve_dashboard(a.runs, registry=a.registry, monitor_db=a.monitor_db, db_url=a.db_url, host=a.host, port=a.port,
                    log_level=a.log_level, api_key_env=a.api_key_env)
    return 0


def cmd_distill(a) -> int:
    from .methods.distill import distill
    out = distill(a.teacher_run, student=a.student, student_layers=a.student_layers, temperature=a.temperature,
                  alpha=a.alpha, output=a.output, overrides=a.overrides, progress=not a.quiet, overwrite=a.overwrite)
    d = json.loads((out / METRICS_FILE).read_text(encoding="utf-8"))["distillation"]
    print(f"student run: {out}\n  test accuracy {d['student_test_accuracy']} vs teacher {d['teacher_test_accuracy']} "
          f"({d['accuracy_retained']} retained), {d['student_layers']} layers vs {d['teacher_layers']}")
    return 0


def cmd_tune(a) -> int:
    from .config import load_config
    from .methods.tune import format_summary, tune
    cfg = load_config(a.config, a.overrides)
    print(format_summary(tune(cfg, a.trials, study_name=a.study, timeout=a.timeout, progress=not a.quiet)))
    return 0


def cmd_zero_shot(a) -> int:
    from .config import ZeroShotConfig, load_config
    from .methods import zero_shot as zsl
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
            texts = [a.text] if a.text is not None else _read_inputs(Path(a.input), a.text_column)
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


def _points(value: str) -> float:
    """--max-drop: a finite number of points >= 0 (NaN would switch the accuracy guard off)."""
    import math
    try:
        v = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of points, e.g. 1") from None
    if not math.isfinite(v) or v < 0:
        raise argparse.ArgumentTypeError(f"{value!r}: give a finite number of points >= 0, e.g. 1")
    return v


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tuneforge", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="verb", required=True)

    s = sub.add_parser("train", help="fine-tune a backbone from a YAML config")
    s.add_argument("config")
    s.add_argument("overrides", nargs="*", help="dotted.key=value, e.g. train.epochs=2")
    s.add_argument("--overwrite", action="store_true", help="replace a finished run in output_dir")
    loud = s.add_mutually_exclusive_group()
    loud.add_argument("--quiet", action="store_true", help="no progress bars or validation lines: the final summary only")
    loud.add_argument("--verbose", action="store_true",
                      help="the Trainer's raw log dicts and transformers' warnings and loading reports (debugging)")
    s.set_defaults(fn=cmd_train)

    s = sub.add_parser("check-data", help="report counts, labels, duplicates, overlap, lengths, truncation")
    s.add_argument("config")
    s.add_argument("overrides", nargs="*")
    s.add_argument("--json", help="also write the report as JSON to this file")
    s.set_defaults(fn=cmd_check_data)

    s = sub.add_parser("evaluate", help="score a finished run on a labeled file")
    s.add_argument("run")
    s.add_argument("--data", required=True)
    s.add_argument("--output", help="write the metrics JSON here")
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(fn=cmd_evaluate)

    s = sub.add_parser("predict", help="predict with a finished run; JSON lines out")
    s.add_argument("run")
    s.add_argument("--text")
    s.add_argument("--input", help=".txt (one text per line), .jsonl or .csv/.tsv; image runs: an image or a folder")
    s.add_argument("--output", help="JSONL file (default: stdout)")
    s.add_argument("--text-column", default="text")
    s.set_defaults(fn=cmd_predict)

    s = sub.add_parser("export", help="export a run (onnx, onnx-int8, torch-int8, bf16), scored against fp32")
    s.add_argument("run")
    s.add_argument("--format", required=True, help="onnx | onnx-int8 | torch-int8 | bf16")
    s.add_argument("--output", help="export directory (default: RUN/exports/FORMAT)")
    s.add_argument("--force", action="store_true", help="keep an export that loses more than --max-drop points")
    s.add_argument("--overwrite", action="store_true", help="replace an existing export directory")
    s.add_argument("--max-drop", type=_points, default=1.0,
                   help="points of the main metric (macro_f1 / entity_f1) an export may lose (default 1)")
    s.set_defaults(fn=cmd_export)

    s = sub.add_parser("models", help="list packaged backbones")
    s.add_argument("--prepare", action="store_true", help="locate/convert every packaged backbone now")
    s.set_defaults(fn=cmd_models)

    s = sub.add_parser("datasets", help="fetch and prepare the real example data sets into the data cache")
    s.add_argument("names", nargs="*")
    s.add_argument("--list", action="store_true")
    s.add_argument("--force", action="store_true")
    s.set_defaults(fn=cmd_datasets)

    s = sub.add_parser("config", help="list every config key with its default and meaning")
    s.set_defaults(fn=cmd_config)

    # --registry / --db-url on every registry-reading verb (after the verb, where users type them)
    reg_opts = argparse.ArgumentParser(add_help=False)
    reg_opts.add_argument("--registry", help="registry directory (default: $TUNEFORGE_REGISTRY or <cache>/registry)")
    reg_opts.add_argument("--db-url", help="postgresql://... for shared metadata (default: $TUNEFORGE_REGISTRY_DB "
                                           "or registry.db, SQLite, in the registry directory)")

    s = sub.add_parser("serve", help="HTTP server for registered models (FastAPI + uvicorn)")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--log-level", default="info")
    from .serve.options import ServeOptions  # light: no FastAPI or torch import to build the parser
    add_options(s, ServeOptions)  # one flag per field: a new option cannot be left off the command line
    s.set_defaults(fn=cmd_serve)

    s = sub.add_parser("registry", help="versioned models: add, list, promote, rollback")
    rsub = s.add_subparsers(dest="action", required=True)
    r = rsub.add_parser("add", parents=[reg_opts], help="copy a run or export directory in as the next version")
    r.add_argument("name")
    r.add_argument("source")
    r.add_argument("--stage", default="none", help="none | staging | production | archived")
    r = rsub.add_parser("list", parents=[reg_opts], help="versions, stages, metrics")
    r.add_argument("name", nargs="?")
    r.add_argument("--json", action="store_true")
    r = rsub.add_parser("promote", parents=[reg_opts], help="set a version's stage (one production per name)")
    r.add_argument("name")
    r.add_argument("version", type=int)
    r.add_argument("--stage", required=True, help="none | staging | production | archived")
    r = rsub.add_parser("rollback", parents=[reg_opts], help="put back the previous production version")
    r.add_argument("name")
    s.set_defaults(fn=cmd_registry)

    s = sub.add_parser("ab", help="A/B and shadow comparison from the request log")
    asub = s.add_subparsers(dest="action", required=True)
    r = asub.add_parser("report", parents=[reg_opts], help="agreement, confidence and latency per version")
    r.add_argument("name")
    r.add_argument("--since-hours", type=float, help="only requests from the last N hours")
    r.add_argument("--json", action="store_true")
    s.set_defaults(fn=cmd_ab)

    s = sub.add_parser("monitor", help="drift of served traffic against the training reference")
    msub = s.add_subparsers(dest="action", required=True)
    r = msub.add_parser("report", parents=[reg_opts], help="PSI (labels, input length) and confidence per version "
                                                            "and window; text + JSON, PNGs with --output")
    r.add_argument("--model", required=True, help="registered model name")
    r.add_argument("--since", help='"24h", "7d", a date (2026-11-20) or date-time (default: the whole log)')
    r.add_argument("--window", default="1h", help='width of each row of the table, e.g. "15m", "1h", "1d"')
    r.add_argument("--psi-warn", type=float, default=0.1)
    r.add_argument("--psi-alert", type=float, default=0.25)
    r.add_argument("--output", help="directory for report.json, report.txt, label_share.png, confidence.png, lengths.png")
    r.add_argument("--json", action="store_true", help="print JSON instead of the table")
    r = msub.add_parser("reference", help="write RUN/reference.json for a run trained before references existed")
    r.add_argument("run")
    r.add_argument("--overwrite", action="store_true")
    s.set_defaults(fn=cmd_monitor)

    s = sub.add_parser("zero-shot", help="classify with no training: label-description similarity or an LM's "
                                         "label likelihood; JSON lines out, or metrics with --data")
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
    s.set_defaults(fn=cmd_zero_shot)

    s = sub.add_parser("tune", help="hyperparameter search (Optuna TPE + median pruning) over the config's tune.space")
    s.add_argument("config")
    s.add_argument("overrides", nargs="*", help="dotted.key=value, applied to every trial")
    s.add_argument("--trials", type=int, required=True,
                   help="finished trials the study should hold; a resumed study runs only the missing ones")
    s.add_argument("--study", help="study name in the study directory's study.db (default: tune)")
    s.add_argument("--timeout", type=float, help="start no new trial after this many seconds")
    s.add_argument("--quiet", action="store_true", help="no per-trial log")
    s.set_defaults(fn=cmd_tune)

    s = sub.add_parser("distill", help="distil a finished run into a smaller student (KL on soft logits + hard labels)")
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
    s.set_defaults(fn=cmd_distill)

    s = sub.add_parser("dashboard", help="web dashboard for runs (and a registry, a monitor database) without "
                                         "serving models; `tuneforge serve` shows the same pages at /")
    s.add_argument("--runs", required=True, help="a run directory or a directory holding runs (searched 4 levels deep)")
    s.add_argument("--registry", help="registry directory: versions, stages, A/B split, drift of logged requests")
    s.add_argument("--db-url", help="postgresql://... when the registry's metadata is in PostgreSQL")
    s.add_argument("--monitor-db", help="the sentiment monitor's database (tuneforge app monitor): trends and alerts")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8050)
    s.add_argument("--api-key-env", default="TUNEFORGE_API_KEY",
                   help="environment variable holding the dashboard's key (unset: a random token, printed at start "
                        "as a login URL)")
    s.add_argument("--log-level", default="info")
    s.set_defaults(fn=cmd_dashboard)

    s = sub.add_parser("app", help="ready applications: support assistant, sentiment-risk monitor, recommender")
    from tuneforge.apps import register_all
    register_all(s.add_subparsers(dest="app", required=True))
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.fn(args)
    except TuneforgeError as e:
        print(f"error: {e.message()}", file=sys.stderr)
        return 2
    except OSError as e:  # the safety net under the early checks: a full disk, a path under a file, ...
        from .writing import os_error
        err = os_error(e)
        if err is None:
            raise
        print(f"error: {err.message()}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; a later `tuneforge train` with the same output_dir resumes from the last checkpoint",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
