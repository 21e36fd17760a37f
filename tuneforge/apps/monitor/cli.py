"""`tuneforge app monitor`: the sentiment-risk monitor's command line (argparse only at import time).

    tuneforge app monitor --model RUN --input stream.jsonl [--topic-model RUN] [--window 1h] [--method cusum]
    tuneforge app monitor --model RUN --watch incoming/ --webhook http://alerts.internal:9000/hook
    tuneforge app monitor --model RUN --serve --port 8100          # POST /v1/ingest [{"time", "text", "topic"}]
    tuneforge app monitor report --db monitor.db --output trend.png
"""

from __future__ import annotations

import argparse

# Settings a flag or the --config YAML may give (flag wins), with their defaults. Detector keys mirror
# detect.DetectorOptions (kept literal here so `tuneforge --help` imports nothing heavy).
DEFAULTS = {"model": None, "topic_model": None, "negative_label": None, "db": "monitor.db", "window": "1h",
            "method": "cusum", "threshold": None, "min_count": 20, "pool": 4, "baseline": 48, "warmup": 12, "lam": 0.25,
            "slack": 0.6, "min_rise": 0.05, "cooldown": 6, "webhook": None, "examples": 5, "time_field": "time",
            "text_field": "text", "topic_field": "topic", "interval": "5s", "settle": "1s"}
DETECTOR_KEYS = ("method", "threshold", "min_count", "pool", "baseline", "warmup", "lam", "slack", "min_rise",
                 "cooldown")


def register(sub) -> None:
    p = sub.add_parser("monitor", help="sentiment-risk monitor: negative-share surges per topic, alerts, trend plot",
                       description="Ingest timestamped texts, classify their "
                       "sentiment with a finished run, count them per time window and topic in SQLite, and alert "
                       "(log line + webhook, with example texts) when the negative share surges above its rolling "
                       "baseline. `report` draws the trend.")
    p.add_argument("action", nargs="?", choices=["report"], help="report: print the summary and draw --output PNG")
    p.add_argument("--config", help="YAML with any of the settings below (underscored names); flags win")
    src = p.add_argument_group("input (one of)")
    src.add_argument("--input", nargs="+", metavar="FILE", help=".jsonl/.ndjson/.csv/.tsv with time, text[, topic]")
    src.add_argument("--watch", metavar="DIR", help="poll DIR and ingest each new file once (remembered in --db)")
    src.add_argument("--serve", action="store_true", help="HTTP: POST /v1/ingest, GET /v1/trends")
    p.add_argument("--model", help="finished sentiment run (or an export of it)")
    p.add_argument("--topic-model", help="finished run that predicts the topic of items that carry none")
    p.add_argument("--negative-label", action="append", help="label(s) of --model that count as negative "
                                                               "(default: those named like negative)")
    p.add_argument("--db", help="SQLite database (default monitor.db)")
    p.add_argument("--window", help='window width, e.g. "15m", "1h" (default), "1d"')
    det = p.add_argument_group("surge detector")
    det.add_argument("--method", choices=["cusum", "ewma", "zscore"],
                     help="cusum (default): adds up each window's rise, catches the smallest sustained rises; ewma: "
                          "smoothed shares; zscore: each window on its own (fastest on large, sudden surges)")
    det.add_argument("--threshold", type=float, help="alarm level (default 5.0 for cusum; standard deviations above "
                                                   "the baseline, 3.25 for ewma, 3.5 for zscore)")
    det.add_argument("--min-count", type=int, help="texts a window needs to be judged (default 20)")
    det.add_argument("--pool", type=int, help="quiet windows are pooled, at most this many, to reach --min-count "
                                              "(default 4; 1 skips them)")
    det.add_argument("--baseline", type=int, help="windows in the rolling baseline (default 48)")
    det.add_argument("--warmup", type=int, help="windows seen before the first alert (default 12)")
    det.add_argument("--lam", type=float, help="EWMA weight of the newest window (default 0.25)")
    det.add_argument("--slack", type=float, help="CUSUM: standard deviations a window must rise before it counts "
                                                 "(default 0.6)")
    det.add_argument("--min-rise", type=float, help="least rise of the negative share over the baseline (default 0.05)")
    det.add_argument("--cooldown", type=int, help="windows a topic stays silent after an alert (default 6)")
    p.add_argument("--webhook", help="POST each alert as JSON here (always also logged)")
    p.add_argument("--examples", type=int, help="negative example texts kept per window (default 5; 0: none)")
    p.add_argument("--time-field", help="field/column with the time (default time)")
    p.add_argument("--text-field", help="field/column with the text (default text)")
    p.add_argument("--topic-field", help="field/column with the topic (default topic)")
    p.add_argument("--interval", help="--watch: poll this often (default 5s)")
    p.add_argument("--settle", help="--watch: leave a file until unchanged this long (default 1s)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8100)
    p.add_argument("--output", help="report: the trend PNG")
    p.add_argument("--topic", action="append", help="report: only this topic (repeatable)")
    p.add_argument("--json", action="store_true", help="report: print load_trends() as JSON")
    p.set_defaults(fn=cmd_monitor)


def _settings(a) -> dict:
    """Flags over the --config file over DEFAULTS; the file's keys and types are checked."""
    from ...errors import TuneforgeError
    conf: dict = {}
    if a.config:
        import yaml
        try:
            conf = yaml.safe_load(open(a.config, encoding="utf-8")) or {}
        except OSError as e:
            raise TuneforgeError(f"cannot read the config: {e.strerror}", where=a.config, fix="check the path") from None
        except yaml.YAMLError as e:
            raise TuneforgeError(f"not valid YAML: {e}", where=a.config, fix="fix the YAML syntax") from None
        if not isinstance(conf, dict):
            raise TuneforgeError("the config must be a mapping", where=a.config, fix="write key: value lines")
        unknown = sorted(set(conf) - set(DEFAULTS))
        if unknown:
            raise TuneforgeError(f"unknown key(s) {', '.join(map(str, unknown))}", where=a.config,
                                 fix=f"use only {', '.join(DEFAULTS)}")
    out = {}
    for key, default in DEFAULTS.items():
        flag = getattr(a, key)
        value = flag if flag is not None else conf.get(key, default)
        if key in conf and flag is None and default is not None and value is not None:
            want = float if isinstance(default, float) else type(default)
            if isinstance(value, bool) or not isinstance(value, (want, int) if want is float else want):
                raise TuneforgeError(f"{key} {value!r} should be a {want.__name__}", where=f"{a.config}:{key}",
                                     fix=f"e.g. {key}: {default}")
        if key == "negative_label" and isinstance(value, str):
            value = [value]
        out[key] = value
    return out


def cmd_monitor(a) -> int:
    import json
    import logging
    import sys
    from pathlib import Path

    from ...errors import TuneforgeError
    from ...monitor.alerts import parse_duration
    from .store import load_trends

    s = _settings(a)
    if a.action == "report":
        from .report import format_summary, write_trend_png
        trends = load_trends(s["db"])
        print(json.dumps(trends, indent=2, ensure_ascii=False) if a.json else format_summary(trends))
        if a.output:
            print(f"wrote {write_trend_png(trends, a.output, a.topic)}", file=sys.stderr)
        return 0

    given = [f for f, v in (("--input", a.input), ("--watch", a.watch), ("--serve", a.serve or None)) if v]
    if len(given) != 1:
        raise TuneforgeError(f"give exactly one of --input, --watch or --serve (got {', '.join(given) or 'none'})",
                             where="command line", fix="tuneforge app monitor --model RUN --input stream.jsonl")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    from .alerting import Deliverer
    from .classify import run_classifier, topic_classifier
    from .detect import DetectorOptions
    from .items import Fields
    from .pipeline import Monitor
    from .store import NEGATIVE_LABELS

    detector = DetectorOptions(**{k: s[k] for k in DETECTOR_KEYS}).validate()
    if not isinstance(s["examples"], int) or s["examples"] < 0:
        raise TuneforgeError(f"--examples {s['examples']!r} must be a whole number >= 0", where="--examples", fix="e.g. 5")
    deliver = Deliverer(s["webhook"])  # checks the URL before any model is loaded
    window_s = parse_duration(s["window"], "--window")
    classify, negative = None, list(s["negative_label"] or NEGATIVE_LABELS)
    if s["model"]:
        classify, negative = run_classifier(s["model"], s["negative_label"])
        print(f"negative labels of {s['model']}: {', '.join(negative)}", file=sys.stderr)
    topics = topic_classifier(s["topic_model"]) if s["topic_model"] else None
    mon = Monitor(Path(s["db"]), classify, topics, window_s, detector, negative, s["examples"], deliver,
                  Fields(s["time_field"], s["text_field"], s["topic_field"]))

    if a.input:
        for f in a.input:
            res = mon.ingest_file(Path(f))
            if res.skipped_file:
                print(f"{f}: already ingested into {s['db']} (same content); skipped")
            else:
                print(f"{f}: {res.ingested} texts, {res.negative} negative, topics "
                      f"{', '.join(f'{t} {n}' for t, n in sorted(res.topics.items()))}; {len(res.alerts)} alert(s)")
        from .report import format_summary
        print(format_summary(load_trends(s["db"])))
        return 0
    if a.watch:
        from .watch import Watcher
        w = Watcher(mon, a.watch, parse_duration(s["settle"], "--settle") if s["settle"] not in (0, "0") else 0.0)
        print(f"watching {a.watch} every {s['interval']} (Ctrl-C stops; processed files are remembered in {s['db']})",
              file=sys.stderr)
        try:
            w.run(parse_duration(s["interval"], "--interval"))
        except KeyboardInterrupt:
            pass
        return 0
    from .server import serve
    serve(mon, a.host, a.port)
    return 0
