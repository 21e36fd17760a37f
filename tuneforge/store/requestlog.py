"""The request log: one row per served text, written off the request path.

Inputs are stored only as a keyed hash of the text (HMAC-SHA256 with a server secret, in the column
`input_sha256`) and its length in characters, never the text itself. A plain sha256 of a short input (a
phone number, an id) is reversed by hashing every candidate; without the secret nobody can. The secret is
$TUNEFORGE_LOG_SECRET, else `request-log.secret` in the registry directory, created once (mode 0600) and
shared by every replica and restart, so equal inputs keep equal hashes (the A/B report pairs shadow and
primary answers by them). The A/B report and monitoring (drift, alerts: tuneforge/monitor) read this table. Rows are queued by the server and written by one thread in
batches, one transaction per batch, so a request never waits on the database.
"""

from __future__ import annotations

import hashlib
from collections import Counter
import hmac
import logging
import os
import queue
import secrets
import threading
import time
from dataclasses import astuple, dataclass, field
from pathlib import Path

from ..errors import TuneforgeError
from ..evaluation.reference import summarize  # noqa: F401  (what is logged per text)
from .db import Database

log = logging.getLogger("tuneforge.serve")

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS request_log (
        ts DOUBLE PRECISION NOT NULL, request_id TEXT NOT NULL, name TEXT NOT NULL, version INTEGER NOT NULL,
        shadow INTEGER NOT NULL, latency_ms DOUBLE PRECISION NOT NULL, label TEXT, confidence DOUBLE PRECISION,
        input_sha256 TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS request_log_name_ts ON request_log (name, ts)",
)
# Columns added after the first release: (name, type). ensure_schema adds any an older database lacks;
# rows written before then read back as NULL (None).
ADDED_COLUMNS = (("input_chars", "INTEGER"),)  # input length in characters: drift of the input distribution
COLUMNS = ("ts", "request_id", "name", "version", "shadow", "latency_ms", "label", "confidence", "input_sha256",
           *(c for c, _ in ADDED_COLUMNS))


@dataclass
class LogRow:
    ts: float
    request_id: str  # one per text: pairs a shadow answer with the primary answer to the same input
    name: str
    version: int
    shadow: int  # 1: a shadow copy, never returned to the caller
    latency_ms: float
    label: str | None
    confidence: float | None
    input_sha256: str
    input_chars: int | None = None  # None: a row logged before this column existed


SECRET_ENV = "TUNEFORGE_LOG_SECRET"
SECRET_FILE = "request-log.secret"


def text_sha256(text: str | bytes) -> str:
    """Plain sha256 of a text's UTF-8 or an image's bytes (not what the server logs: see input_hmac)."""
    return hashlib.sha256(text if isinstance(text, bytes) else text.encode("utf-8")).hexdigest()


def input_hmac(secret: bytes, text: str | bytes) -> str:
    """What the request log stores for an input: HMAC-SHA256 of a text's UTF-8 or an image's bytes."""
    return hmac.new(secret, text if isinstance(text, bytes) else text.encode("utf-8"), hashlib.sha256).hexdigest()


def log_secret(directory: str | Path) -> bytes:
    """The request log's hashing key: $TUNEFORGE_LOG_SECRET, else the file `request-log.secret` in
    `directory` (the registry), created on first use with 64 random hex digits, readable by its owner only.
    Created by a hard link from a complete temporary file, so replicas starting at once agree on one secret
    and none ever reads a half-written one."""
    env = os.environ.get(SECRET_ENV)
    if env:
        return env.encode("utf-8")
    path = Path(directory) / SECRET_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{SECRET_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="ascii") as f:
                f.write(secrets.token_hex(32) + "\n")
                f.flush()
                os.fsync(f.fileno())
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass  # another replica made it first: use theirs
        except OSError as e:
            raise TuneforgeError(f"cannot create the request log's secret: {e}", where=str(path),
                                 fix=f"make the registry directory writable, or set ${SECRET_ENV} "
                                     "(the same value on every replica)") from None
        finally:
            tmp.unlink(missing_ok=True)
    try:
        secret = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as e:
        raise TuneforgeError(f"cannot read the request log's secret: {e}", where=str(path),
                             fix=f"make it readable by the server's user, or set ${SECRET_ENV}") from None
    if len(secret) < 32:
        raise TuneforgeError("the request log's secret is damaged (under 32 characters)", where=str(path),
                             fix=f"delete the file (hashes logged so far will no longer match new ones) or set "
                                 f"${SECRET_ENV}")
    return secret.encode("ascii")


def ensure_schema(db: Database) -> None:
    with db.transaction(lock="tuneforge-schema") as tx:
        for ddl in SCHEMA:
            tx.execute(ddl)
        # Migration of a database made by an older tuneforge: under the schema lock, so two replicas
        # starting at once do not both add the column. (CREATE TABLE above already has none of them.)
        if db.url.startswith("sqlite"):
            have = {r[1] for r in tx.execute("PRAGMA table_info(request_log)")}
        else:
            have = {r[0] for r in tx.execute("SELECT column_name FROM information_schema.columns "
                                              "WHERE table_name = 'request_log' AND table_schema = current_schema()")}
        for col, typ in ADDED_COLUMNS:
            if col not in have:
                tx.execute(f"ALTER TABLE request_log ADD COLUMN {col} {typ}")


class RequestLog:
    def __init__(self, db: Database, max_queue: int = 100_000, batch_s: float = 0.2):
        self.db, self.batch_s = db, batch_s
        ensure_schema(db)
        # Bounded: if the database stalls, the server drops log rows (counted) rather than memory growing.
        self._q: queue.Queue = queue.Queue(maxsize=max_queue)
        self.dropped = 0
        self._thread = threading.Thread(target=self._run, name="tuneforge-requestlog", daemon=True)
        self._thread.start()

    def record(self, rows: list[LogRow]) -> None:
        for r in rows:
            try:
                self._q.put_nowait(r)
            except queue.Full:
                self.dropped += 1

    def flush(self, timeout: float = 30.0) -> None:
        """Block until every row recorded before this call is in the database."""
        done = threading.Event()
        self._q.put(done, timeout=timeout)
        done.wait(timeout)

    def close(self) -> None:
        self.flush()
        self._q.put(None)
        self._thread.join(timeout=30)

    def _run(self) -> None:
        sql = f"INSERT INTO request_log ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
        while True:
            item = self._q.get()
            batch, waiters, stop = [], [], False
            # Rows that arrive within `batch_s` of the first share one transaction: each commit costs an fsync
            # (and, with no other connection open, a WAL checkpoint), which under load would take more of
            # the machine than the rows themselves. A flush or close writes at once.
            until = time.monotonic() + self.batch_s
            while True:
                if item is None:
                    stop = True
                elif isinstance(item, threading.Event):
                    waiters.append(item)
                else:
                    batch.append(item)
                if len(batch) >= 1000 or waiters or stop:
                    break
                try:
                    item = self._q.get(timeout=max(0.0, until - time.monotonic()))
                except queue.Empty:
                    break
            if batch:
                try:
                    with self.db.transaction() as tx:
                        for r in batch:
                            tx.execute(sql, astuple(r))
                except Exception:  # a log write must never take the server down
                    log.exception("request log: dropped %d rows", len(batch))
                    self.dropped += len(batch)
            for w in waiters:
                w.set()
            if stop:
                return


@dataclass
class WindowStats:
    """What drift needs from a window of request-log rows, as counts: the server's periodic check reads these
    from SQL aggregates (window_stats), so its memory does not grow with the traffic in a window
    (it once read every row of the last hour into Python each minute: at 140 requests/s the high-water mark
    climbed by ~4 MB a minute)."""
    n: int = 0
    labels: Counter = field(default_factory=Counter)  # predicted label ("-" for none) -> rows
    lengths: Counter = field(default_factory=Counter)  # input characters -> rows (rows without a length: none)
    confidence_sum: float = 0.0
    confidence_n: int = 0

    @classmethod
    def of_rows(cls, rows) -> "WindowStats":
        st = cls()
        for r in rows:
            st.add(r.label, getattr(r, "input_chars", None), r.confidence)
        return st

    def add(self, label, chars, confidence, count: int = 1, confidence_sum: float | None = None,
            confidence_n: int | None = None) -> None:
        """One row, or (count > 1) a group of rows with this label and length and their confidence sum/count."""
        self.n += count
        self.labels[label if label is not None else "-"] += count
        if chars is not None:
            self.lengths[int(chars)] += count
        if confidence_sum is not None:
            self.confidence_sum += confidence_sum
            self.confidence_n += confidence_n or 0
        elif confidence is not None:
            self.confidence_sum += confidence * count
            self.confidence_n += count


def window_stats(db: Database, name: str, since: float) -> dict:
    """{version: WindowStats} of a model's rows since `since`, aggregated in the database: the result has
    one row per (version, label, input length), however many requests the window holds."""
    out: dict = {}
    for version, label, chars, n, conf_sum, conf_n in db.query(
            "SELECT version, label, input_chars, COUNT(*), SUM(confidence), COUNT(confidence) FROM request_log "
            "WHERE name = ? AND ts >= ? GROUP BY version, label, input_chars", (name, since)):
        out.setdefault(int(version), WindowStats()).add(label, chars, None, count=int(n),
                                                        confidence_sum=float(conf_sum or 0.0), confidence_n=int(conf_n))
    return out


def read_rows(db: Database, name: str, since: float | None = None) -> list[LogRow]:
    sql = f"SELECT {', '.join(COLUMNS)} FROM request_log WHERE name = ?"
    params: tuple = (name,)
    if since is not None:
        sql += " AND ts >= ?"
        params += (since,)
    return [LogRow(*r) for r in db.query(sql + " ORDER BY ts", params)]
