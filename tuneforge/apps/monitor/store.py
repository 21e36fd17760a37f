"""The monitor's SQLite database: counts per (topic, time window), a few negative example texts per window,
the alerts that fired, and the files already ingested.

    ingest(db, items, classify=...)   count items (classifying them first), detect surges, return new alerts
    load_trends(db)                   windows and alerts as plain dicts (the dashboard's and the report's input)

One ingest is one transaction: the counts, the file it came from and the alerts it raised commit together, so a
crash never leaves a file half counted and a restarted watcher never counts a file twice. Alerts are delivered
(log + webhook) after the commit.
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable, Sequence

from ...errors import TuneforgeError
from ...store.db import SqliteDatabase
from .detect import DetectorOptions, Window, detect
from .items import Item, parse_item

NEGATIVE_LABELS = ("negative", "neg")
DEFAULT_TOPIC = "general"  # items without a topic (and no topic run) are counted here
EXAMPLE_CHARS = 500  # an example text in an alert is cut here: enough to read, not a document dump

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS windows (topic TEXT NOT NULL, start BIGINT NOT NULL, total INTEGER NOT NULL, "
    "negative INTEGER NOT NULL, PRIMARY KEY (topic, start))",
    "CREATE TABLE IF NOT EXISTS examples (topic TEXT NOT NULL, start BIGINT NOT NULL, text TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS examples_window ON examples (topic, start)",
    "CREATE TABLE IF NOT EXISTS alerts (id INTEGER PRIMARY KEY, topic TEXT NOT NULL, start BIGINT NOT NULL, "
    "share DOUBLE PRECISION, baseline DOUBLE PRECISION, score DOUBLE PRECISION, total INTEGER, negative INTEGER, "
    "method TEXT, examples TEXT, fired_at DOUBLE PRECISION, delivered INTEGER, UNIQUE (topic, start))",
    "CREATE TABLE IF NOT EXISTS files (sha256 TEXT PRIMARY KEY, path TEXT NOT NULL, items INTEGER, "
    "error TEXT, processed_at DOUBLE PRECISION)",
)


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class IngestResult:
    ingested: int = 0
    negative: int = 0
    topics: dict[str, int] = field(default_factory=dict)
    alerts: list[dict] = field(default_factory=list)  # the alerts this ingest raised (see alert_dict)
    skipped_file: bool = False  # the source file was ingested before


def open_store(db_path: str | Path, create: bool = True) -> SqliteDatabase:
    path = Path(db_path)
    if not create and not path.is_file():
        raise TuneforgeError("no monitor database here", where=str(path),
                             fix="give the --db that `tuneforge app monitor --db ...` wrote")
    if path.is_dir():
        raise TuneforgeError("is a directory, not a database file", where=str(path), fix="give a file path, e.g. monitor.db")
    try:
        db = SqliteDatabase(path)
        with db.transaction() as tx:
            for sql in SCHEMA:
                tx.execute(sql)
    except sqlite3.DatabaseError as e:
        raise TuneforgeError(f"not a monitor database ({e})", where=str(path),
                             fix="point --db at a new file or one this monitor wrote") from None
    return db


def _check_window(tx, window_s: float, db_path) -> None:
    """A database holds one window width: counts per hour cannot be re-read as counts per day."""
    row = tx.execute("SELECT value FROM meta WHERE key = 'window_s'")
    if not row:
        tx.execute("INSERT INTO meta (key, value) VALUES ('window_s', ?)", (repr(float(window_s)),))
    elif float(row[0][0]) != float(window_s):
        raise TuneforgeError(f"this database counts windows of {float(row[0][0]):g} s, not {window_s:g} s",
                             where=str(db_path), fix="use the database's --window, or a new --db for another width")


def _negatives(items: Sequence[Item], classify, negative_labels) -> list[bool]:
    if classify is not None:
        flags = list(classify([it.text for it in items]))
        if len(flags) != len(items):
            raise RuntimeError(f"classify returned {len(flags)} answers for {len(items)} texts")
        return [bool(f) for f in flags]
    neg = {l.lower() for l in negative_labels}
    out = []
    for i, it in enumerate(items):
        if it.label is None:
            raise TuneforgeError("the item has no sentiment label and no classifier was given", where=f"item {i}",
                                 fix="pass --model RUN (or classify=...), or give each item a 'label'")
        out.append(it.label.lower() in neg)
    return out


def ingest(db_path: str | Path, items: Iterable[Item | dict], classify: Callable[[list[str]], list[bool]] | None = None,
           *, window_s: float = 3600.0, detector: DetectorOptions | None = None,
           topic_classify: Callable[[list[str]], list[str]] | None = None,
           negative_labels: Sequence[str] = NEGATIVE_LABELS, examples: int = 5,
           source: tuple[str, str] | None = None, deliver: Callable[[dict], bool | None] | None = None,
           now: float | None = None) -> IngestResult:
    """Count `items` into the database at `db_path` and return the alerts they raise.

    classify(texts) -> is-negative flags (a finished run: classify.run_classifier); None: each item's own
    `label` decides (negative when it is one of `negative_labels`). topic_classify(texts) -> topics for items
    without one. `source` = (sha256, path) of the file the items came from: a file already ingested is
    skipped, and the file is recorded in the same transaction as its counts. `deliver(alert)` sends each new
    alert (alerting.Deliverer) and says whether its webhook took it.
    """
    detector = (detector or DetectorOptions()).validate()
    items = [it if isinstance(it, Item) else parse_item(it, f"items[{i}]") for i, it in enumerate(items)]
    res = IngestResult()
    db = open_store(db_path)
    if source is not None and db.query("SELECT 1 FROM files WHERE sha256 = ? AND error IS NULL", (source[0],)):
        res.skipped_file = True
        return res
    if topic_classify is not None:
        missing = [i for i, it in enumerate(items) if it.topic is None]
        for i, t in zip(missing, topic_classify([items[i].text for i in missing]) if missing else []):
            items[i].topic = str(t)
    flags = _negatives(items, classify, negative_labels)  # before the transaction: a model call is slow

    counts: dict[tuple[str, int], list] = defaultdict(lambda: [0, 0, []])
    for it, neg in zip(items, flags):
        key = (it.topic or DEFAULT_TOPIC, int(math.floor(it.ts / window_s) * window_s))
        c = counts[key]
        c[0] += 1
        if neg:
            c[1] += 1
            if len(c[2]) < examples:
                c[2].append(it.text[:EXAMPLE_CHARS])
    now = time.time() if now is None else now
    with db.transaction() as tx:
        _check_window(tx, window_s, db_path)
        if source is not None:
            if tx.execute("SELECT 1 FROM files WHERE sha256 = ? AND error IS NULL", (source[0],)):
                res.skipped_file = True  # another process took it between our look and our lock
                return res
            tx.execute("INSERT INTO files (sha256, path, items, error, processed_at) VALUES (?, ?, ?, NULL, ?) "
                       "ON CONFLICT (sha256) DO UPDATE SET path = excluded.path, items = excluded.items, "
                       "error = NULL, processed_at = excluded.processed_at", (source[0], source[1], len(items), now))
        for (topic, start), (total, neg, texts) in counts.items():
            tx.execute("INSERT INTO windows (topic, start, total, negative) VALUES (?, ?, ?, ?) ON CONFLICT "
                       "(topic, start) DO UPDATE SET total = total + excluded.total, negative = negative + excluded.negative",
                       (topic, start, total, neg))
            have = tx.execute("SELECT COUNT(*) FROM examples WHERE topic = ? AND start = ?", (topic, start))[0][0]
            for text in texts[: max(0, examples - have)]:
                tx.execute("INSERT INTO examples (topic, start, text) VALUES (?, ?, ?)", (topic, start, text))
        for topic in sorted({t for t, _ in counts}):
            res.alerts += _new_alerts(tx, topic, window_s, detector, now)
    res.ingested, res.negative = len(items), sum(flags)
    for (topic, _), c in counts.items():
        res.topics[topic] = res.topics.get(topic, 0) + c[0]
    if deliver is not None:
        for a in res.alerts:
            ok = deliver(a)
            if ok is not None:
                with db.transaction() as tx:
                    tx.execute("UPDATE alerts SET delivered = ? WHERE topic = ? AND start = ?",
                               (int(ok), a["topic"], int(a["start_s"])))
    return res


def _new_alerts(tx, topic: str, window_s: float, opts: DetectorOptions, now: float) -> list[dict]:
    """Run the detector over the topic's whole series; record and return alarms not alerted before. An alarm
    within the cooldown of an alert already recorded (possibly raised on fewer data) is the same surge."""
    series = [Window(float(s), t, n) for s, t, n in
              tx.execute("SELECT start, total, negative FROM windows WHERE topic = ? ORDER BY start", (topic,))]
    fired = [float(r[0]) for r in tx.execute("SELECT start FROM alerts WHERE topic = ?", (topic,))]
    out = []
    for a in detect(series, opts, window_s):
        if any(abs(a.start - f) <= opts.cooldown * window_s for f in fired):
            continue
        texts = [r[0] for r in tx.execute("SELECT text FROM examples WHERE topic = ? AND start = ? LIMIT 3",
                                          (topic, int(a.start)))]
        tx.execute("INSERT INTO alerts (topic, start, share, baseline, score, total, negative, method, examples, "
                   "fired_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   (topic, int(a.start), a.share, a.baseline, a.score, a.total, a.negative, opts.method,
                    json.dumps(texts, ensure_ascii=False), now))
        fired.append(a.start)
        out.append(alert_dict(topic, a.start, a.share, a.baseline, a.score, a.total, a.negative, opts.method,
                              texts, window_s, now))
    return out


def alert_dict(topic, start, share, baseline, score, total, negative, method, examples, window_s, fired_at) -> dict:
    """The alert as the webhook receives it (and the HTTP ingest answers it)."""
    return {"alert": "negative-surge", "topic": topic, "at": iso(start), "start_s": float(start),
            "window_s": window_s, "negative_share": round(share, 4), "baseline": round(baseline, 4),
            "score": round(score, 2), "method": method, "total": total, "negative": negative,
            "examples": examples, "fired_at": iso(fired_at)}


def mark_failed(db_path: str | Path, sha256: str, path: str, error: str) -> None:
    """Remember a file that could not be ingested (so the watcher does not retry it every poll; a corrected
    file has another checksum and is read again)."""
    db = open_store(db_path)
    with db.transaction() as tx:
        tx.execute("INSERT INTO files (sha256, path, items, error, processed_at) VALUES (?, ?, 0, ?, ?) "
                   "ON CONFLICT (sha256) DO NOTHING", (sha256, path, error, time.time()))


def seen_files(db_path: str | Path) -> set[str]:
    """Checksums of files ingested or failed."""
    return {r[0] for r in open_store(db_path).query("SELECT sha256 FROM files")}


def load_trends(db_path: str | Path) -> dict:
    """{"windows": [{"start", "topic", "total", "negative", "negative_share"}],
        "alerts": [{"at", "topic", "negative_share", "baseline", "examples"}]}, both in time order."""
    db = open_store(db_path, create=False)
    windows = [{"start": iso(s), "topic": t, "total": int(n), "negative": int(k),
                "negative_share": round(k / n, 6) if n else 0.0}
               for s, t, n, k in db.query("SELECT start, topic, total, negative FROM windows ORDER BY start, topic")]
    alerts = [{"at": iso(s), "topic": t, "negative_share": round(float(sh), 4), "baseline": round(float(b), 4),
               "examples": json.loads(ex or "[]")}
              for s, t, sh, b, ex in db.query("SELECT start, topic, share, baseline, examples FROM alerts "
                                              "ORDER BY start, topic")]
    return {"windows": windows, "alerts": alerts}
