"""`tuneforge VERB ...`: each verb is a thin shell over a library call.

A TuneforgeError is printed as one short paragraph (what, where, fix) with exit status 2; no traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .errors import TuneforgeError


def cmd_train(a) -> int:
    from .config import load_config
    from .train.run import train
    cfg = load_config(a.config, a.overrides)
    out = train(cfg, progress=not a.quiet, overwrite=a.overwrite)
    if int(os.environ.get("RANK", "0")) != 0:
        return 0
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    print((out / "report.txt").read_text(encoding="utf-8"))
    print(json.dumps({k: metrics[k] for k in ("test", "baseline_majority", "train") if k in metrics}, indent=2))
    preds = [json.loads(l) for l in (out / "test_predictions.jsonl").read_text(encoding="utf-8").splitlines()[:5]]
    print("\nA few test predictions:")
    for p in preds:
        if "text" in p:
            mark = "ok " if p["label"] == p["predicted"] else "ERR"
            print(f"  [{mark}] {p['predicted']:<10} ({p['confidence']:.2f})  true={p['label']:<10} {p['text'][:80]}")
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
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    return 0


def cmd_evaluate(a) -> int:
    from .data.splits import read_file
    from .evaluation.outputs import headline
    from .rundir import load_run
    if a.output and Path(a.output).resolve() == Path(a.data).resolve():
        raise TuneforgeError("--output would overwrite --data", where=a.output, fix="choose another output file")
    run = load_run(a.run)
    examples, stats = read_file(run.cfg, a.data)
    res = run.task.evaluate(run.model, run.tokenizer, examples, run.labels, run.cfg.train.max_length,
                            run.cfg.train.eval_batch_size, run.bf16, progress=not a.quiet)
    print(res["report"])
    dropped = dict(stats.dropped)
    out = headline(run.cfg.task, res["metrics"]) | ({"dropped": dropped} if dropped else {})
    print(json.dumps(out, indent=2))
    if a.output:
        Path(a.output).write_text(json.dumps(out, indent=2), encoding="utf-8")
    return 0


def _read_inputs(path: Path, text_column: str) -> list[str]:
    from .data.readers import read_text
    text = read_text(path, "utf-8")
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        out = []
        for i, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                out.append(str(obj[text_column]) if isinstance(obj, dict) else str(obj))
            except (json.JSONDecodeError, KeyError):
                raise TuneforgeError(f"expected a JSON object with key {text_column!r}", where=f"{path}:{i}",
                                     fix="write one JSON object per line, or use a .txt file with one text per line") from None
        return out
    if path.suffix.lower() in (".csv", ".tsv"):
        import csv
        import io
        rows = list(csv.DictReader(io.StringIO(text), delimiter="," if path.suffix.lower() == ".csv" else "\t"))
        if rows and text_column not in rows[0]:
            raise TuneforgeError(f"column {text_column!r} is missing", where=str(path),
                                 fix="pass --text-column with the right column name")
        return [r[text_column] for r in rows]
    return [l for l in text.splitlines() if l.strip()]


def cmd_predict(a) -> int:
    from .export import load_predictor  # a run directory or any `tuneforge export` directory
    if (a.text is None) == (a.input is None):
        raise TuneforgeError("give exactly one of --text or --input", where="command line",
                             fix='tuneforge predict RUN --text "..."  or  --input FILE --output FILE')
    texts = [a.text] if a.text is not None else _read_inputs(Path(a.input), a.text_column)
    if a.input and a.output and Path(a.output).resolve() == Path(a.input).resolve():
        raise TuneforgeError("--output would overwrite --input", where=a.output, fix="choose another output file")
    run = load_predictor(a.run)
    preds = run.predict(texts)
    lines = [json.dumps(p, ensure_ascii=False) for p in preds]
    if a.output:
        tmp = Path(a.output + ".tmp")
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
        os.replace(tmp, a.output)
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
    names = a.names or ([] if a.list else [d.name for d in list_datasets()])
    if a.list or not names:
        for d in list_datasets():
            print(f"{d.name:<20}{d.task:<22}{d.language:<6}{d.package}=={d.version}  {d.description}")
        return 0
    for name in names:
        print(f"{name}: {prepare(name, force=a.force)}")
    return 0


def cmd_config(a) -> int:
    from .config import describe
    for key, default, help_text in describe():
        print(f"{key:<32}{default:<22}{help_text}")
    return 0


def cmd_serve(a) -> int:
    from .serve.app import ServeOptions, serve
    serve(ServeOptions(registry=a.registry, db_url=a.db_url, api_key_env=a.api_key_env, max_batch=a.max_batch,
                       max_wait_ms=a.max_wait_ms, sub_batch=a.sub_batch, max_texts=a.max_texts,
                       max_chars=a.max_chars, poll_s=a.poll_s), host=a.host, port=a.port, log_level=a.log_level)
    return 0


def cmd_registry(a) -> int:
    from .serve.registry import Registry, format_versions
    reg = Registry(a.registry, a.db_url)
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
    from .serve.registry import Registry
    reg = Registry(a.registry, a.db_url)
    rep = report(reg.db, a.name, since=time.time() - a.since_hours * 3600 if a.since_hours else None)
    print(json.dumps(rep, indent=2) if a.json else format_report(rep))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tuneforge", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="verb", required=True)

    s = sub.add_parser("train", help="fine-tune a backbone from a YAML config")
    s.add_argument("config")
    s.add_argument("overrides", nargs="*", help="dotted.key=value, e.g. train.epochs=2")
    s.add_argument("--overwrite", action="store_true", help="replace a finished run in output_dir")
    s.add_argument("--quiet", action="store_true", help="no progress bars")
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
    s.add_argument("--input", help=".txt (one text per line), .jsonl or .csv/.tsv")
    s.add_argument("--output", help="JSONL file (default: stdout)")
    s.add_argument("--text-column", default="text")
    s.set_defaults(fn=cmd_predict)

    s = sub.add_parser("export", help="export a run (onnx, onnx-int8, torch-int8, bf16), scored against fp32")
    s.add_argument("run")
    s.add_argument("--format", required=True, help="onnx | onnx-int8 | torch-int8 | bf16")
    s.add_argument("--output", help="export directory (default: RUN/exports/FORMAT)")
    s.add_argument("--force", action="store_true", help="keep an export that loses more than --max-drop points")
    s.add_argument("--overwrite", action="store_true", help="replace an existing export directory")
    s.add_argument("--max-drop", type=float, default=1.0,
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

    s = sub.add_parser("serve", parents=[reg_opts], help="HTTP server for registered models (FastAPI + uvicorn)")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--api-key-env", default="TUNEFORGE_API_KEY",
                   help="environment variable holding the admin API key (unset: admin endpoints disabled)")
    s.add_argument("--max-batch", type=int, default=32, help="most texts per micro-batch")
    s.add_argument("--max-wait-ms", type=float, default=5.0, help="longest a request waits for company in a batch")
    s.add_argument("--sub-batch", type=int, default=16, help="texts per model call after sorting a batch by length")
    s.add_argument("--max-texts", type=int, default=64, help="most texts per request (more: 413)")
    s.add_argument("--max-chars", type=int, default=2000, help="most characters per text (more: 413)")
    s.add_argument("--poll-s", type=float, default=2.0, help="look for registry changes made elsewhere this often; 0: never")
    s.add_argument("--log-level", default="info")
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
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.fn(args)
    except TuneforgeError as e:
        print(f"error: {e.message()}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; a later `tuneforge train` with the same output_dir resumes from the last checkpoint",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
