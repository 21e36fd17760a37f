"""What the assistant remembers, in SQLite (or a shared PostgreSQL, through tuneforge.serve.db): chat
sessions with their slot values, every turn, and the questions it handed to a human (candidate FAQ entries).

Messages are stored as typed: this is the transcript a human agent picks the conversation up from, and the
candidate list is meant to be read by whoever writes the next FAQ. Don't point it at a database that must
not hold customer text.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from ...serve.db import open_database

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


class SupportStore:
    def __init__(self, url_or_path: str | Path):
        self.db = open_database(url_or_path)
        with self.db.transaction() as tx:
            for sql in SCHEMA:
                tx.execute(sql)

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
            slots, turns = (json.loads(rows[0][0]), rows[0][1]) if rows else ({}, 0)
            slots.update(new_slots)
            reply = render(slots) if render else reply
            turn = turns + 1
            tx.execute("INSERT INTO support_sessions (session_id, created, updated, slots, turns) VALUES (?, ?, ?, ?, ?) "
                       "ON CONFLICT (session_id) DO UPDATE SET updated = excluded.updated, slots = excluded.slots, "
                       "turns = excluded.turns", (session_id, now, now, json.dumps(slots, ensure_ascii=False), turn))
            tx.execute("INSERT INTO support_turns VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       (session_id, turn, now, message, reply["answer"], reply["matched_question"],
                        reply["confidence"], int(reply["handoff"])))
            if reply["handoff"]:
                tx.execute("INSERT INTO support_candidates VALUES (?, ?, ?, ?, ?)",
                           (now, session_id, message, reply["matched_question"], reply["confidence"]))
        return reply, turn

    def history(self, session_id: str) -> list[dict]:
        rows = self.db.query("SELECT turn, ts, message, answer, matched_question, confidence, handoff FROM support_turns "
                             "WHERE session_id = ? ORDER BY turn", (session_id,))
        keys = ("turn", "ts", "message", "answer", "matched_question", "confidence", "handoff")
        return [dict(zip(keys, r)) | {"handoff": bool(r[6])} for r in rows]

    def candidates(self, limit: int = 100) -> list[dict]:
        """Handed-off questions, the most often asked first: the FAQ's missing entries."""
        rows = self.db.query("SELECT question, COUNT(*), MAX(ts), MAX(confidence) FROM support_candidates "
                             "GROUP BY question ORDER BY COUNT(*) DESC, MAX(ts) DESC LIMIT ?", (limit,))
        return [{"question": q, "times": n, "last_asked": ts, "best_confidence": c} for q, n, ts, c in rows]
