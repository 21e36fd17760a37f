"""What the assistant remembers, in SQLite (or a shared PostgreSQL, through tuneforge.store.db): chat
sessions with their slot values, every turn, and the questions it handed to a human (candidate FAQ entries).

Turns are stored as typed except for bank-card and national-ID numbers (TRANSCRIPT_REDACTED): this is the
transcript a human agent picks the conversation up from (readable only with the session's token or the
operator's API key), so the contact details an agent needs to call back (phones, e-mails) stay, and the
secrets nobody may keep (a card number, PCI DSS) never reach the disk. Handed-off questions (candidates) are stored and
listed with PII redacted (`tuneforge.data.redact`, every kind: card numbers, phones, e-mails, IDs, URLs, IPs);
rows written raw by an older version are redacted when listed. A session's token is stored only as its
sha256. Don't point it at a database that must not hold customer text.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sqlite3
import time
from pathlib import Path

from ...data.redact import KINDS, redact_text
from ...errors import TuneforgeError
from ...store.db import open_database

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS support_sessions (session_id TEXT PRIMARY KEY, created DOUBLE PRECISION, "
    "updated DOUBLE PRECISION, slots TEXT NOT NULL, turns INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS support_turns (session_id TEXT NOT NULL, turn INTEGER NOT NULL, "
    "ts DOUBLE PRECISION, message TEXT, answer TEXT, matched_question TEXT, confidence DOUBLE PRECISION, "
    "handoff INTEGER, PRIMARY KEY (session_id, turn))",
    "CREATE TABLE IF NOT EXISTS support_candidates (ts DOUBLE PRECISION, session_id TEXT, question TEXT NOT NULL, "
    "best_question TEXT, confidence DOUBLE PRECISION)",
    "CREATE INDEX IF NOT EXISTS support_candidates_q ON support_candidates (question)",
)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


# Never stored in a transcript; older rows are redacted when read.
TRANSCRIPT_REDACTED = ("bank_card", "id_card")


class UnknownSession(TuneforgeError):
    pass


class SupportStore:
    def __init__(self, url_or_path: str | Path):
        self.where = str(url_or_path)
        try:
            self.db = open_database(url_or_path)
            with self.db.transaction() as tx:
                for sql in SCHEMA:
                    tx.execute(sql)
            self._migrate()
        except TuneforgeError:
            raise
        except (sqlite3.Error, OSError) as e:
            raise TuneforgeError(f"cannot open or upgrade the support database: {e}", where=self.where,
                                 fix="make the file (and its directory) writable, or pass another --db") from None

    def _migrate(self) -> None:
        """Stores written before session tokens have no token_hash column: add it (NULL: an old session,
        readable and continued only with the operator's API key). Nothing is rewritten or dropped."""
        try:
            self.db.query("SELECT token_hash FROM support_sessions LIMIT 1")
            return
        except Exception:  # sqlite3.OperationalError / psycopg UndefinedColumn: an older store
            pass
        with self.db.transaction() as tx:
            tx.execute("ALTER TABLE support_sessions ADD COLUMN token_hash TEXT")

    def new_session(self, session_id: str, token: str) -> None:
        now = time.time()
        with self.db.transaction(lock=f"support:{session_id}") as tx:
            tx.execute("INSERT INTO support_sessions (session_id, created, updated, slots, turns, token_hash) "
                       "VALUES (?, ?, ?, ?, ?, ?)", (session_id, now, now, "{}", 0, token_hash(token)))

    def exists(self, session_id: str) -> bool:
        return bool(self.db.query("SELECT 1 FROM support_sessions WHERE session_id = ?", (session_id,)))

    def token_ok(self, session_id: str, token: str) -> bool:
        """Constant-time check of a session's token against its stored sha256 (an old session has none)."""
        rows = self.db.query("SELECT token_hash FROM support_sessions WHERE session_id = ?", (session_id,))
        stored = rows[0][0] if rows and rows[0][0] else "!" * 64
        return hmac.compare_digest(token_hash(token).encode(), stored.encode()) and bool(rows and rows[0][0])

    def slots(self, session_id: str) -> dict[str, str]:
        rows = self.db.query("SELECT slots FROM support_sessions WHERE session_id = ?", (session_id,))
        return json.loads(rows[0][0]) if rows else {}

    def record_turn(self, session_id: str, new_slots: dict[str, str], message: str, reply: dict | None,
                    render=None) -> tuple[dict, int]:
        """Merge `new_slots` into the session, then store the turn; `render(slots)` makes the reply from the
        merged slots inside the same transaction, so two requests of one session never lose a slot.
        Returns (the reply, the turn number)."""
        now = time.time()
        with self.db.transaction(lock=f"support:{session_id}") as tx:
            rows = tx.execute("SELECT slots, turns FROM support_sessions WHERE session_id = ?", (session_id,))
            if not rows:  # session ids are the server's: an unknown one is refused, never created
                raise UnknownSession(f"no session {session_id!r}", where="session_id",
                                     fix="omit session_id to start a new conversation (the reply carries its "
                                         "session_id and session_token)")
            slots, turns = json.loads(rows[0][0]), rows[0][1]
            slots.update(new_slots)
            reply = render(slots) if render else reply
            turn = turns + 1
            tx.execute("UPDATE support_sessions SET updated = ?, slots = ?, turns = ? WHERE session_id = ?",
                       (now, json.dumps(slots, ensure_ascii=False), turn, session_id))
            tx.execute("INSERT INTO support_turns VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       (session_id, turn, now, redact_text(message, TRANSCRIPT_REDACTED), reply["answer"],
                        reply["matched_question"],
                        reply["confidence"], int(reply["handoff"])))
            if reply["handoff"]:
                tx.execute("INSERT INTO support_candidates VALUES (?, ?, ?, ?, ?)",
                           (now, session_id, redact_text(message, KINDS), reply["matched_question"],
                            reply["confidence"]))
        return reply, turn

    def history(self, session_id: str) -> list[dict]:
        rows = self.db.query("SELECT turn, ts, message, answer, matched_question, confidence, handoff FROM support_turns "
                             "WHERE session_id = ? ORDER BY turn", (session_id,))
        keys = ("turn", "ts", "message", "answer", "matched_question", "confidence", "handoff")
        return [dict(zip(keys, r)) | {"message": redact_text(r[2], TRANSCRIPT_REDACTED) if r[2] else r[2], "handoff": bool(r[6])}
                for r in rows]

    def candidates(self, limit: int = 100) -> list[dict]:
        """Handed-off questions, the most often asked first: the FAQ's missing entries."""
        rows = self.db.query("SELECT question, COUNT(*), MAX(ts), MAX(confidence) FROM support_candidates "
                             "GROUP BY question")
        merged: dict[str, dict] = {}  # redacted again: rows an older version stored raw; equal once redacted: one
        for q, n, ts, c in rows:
            q = redact_text(q, KINDS)
            m = merged.setdefault(q, {"question": q, "times": 0, "last_asked": ts, "best_confidence": c})
            m["times"] += n
            m["last_asked"] = max(m["last_asked"] or 0, ts or 0)
            m["best_confidence"] = max(m["best_confidence"] or 0, c or 0)
        out = sorted(merged.values(), key=lambda m: (-m["times"], -(m["last_asked"] or 0)))
        return out[:limit]
