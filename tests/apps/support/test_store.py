"""A support database written by the version before session tokens (no token_hash column) still opens,
keeps every session, turn and candidate, and lists old raw candidates redacted; one that cannot be opened
or upgraded is a TuneforgeError naming it, not a traceback."""

from __future__ import annotations

import sqlite3

import pytest

from tuneforge.errors import TuneforgeError

OLD_SCHEMA = (
    "CREATE TABLE support_sessions (session_id TEXT PRIMARY KEY, created DOUBLE PRECISION, "
    "updated DOUBLE PRECISION, slots TEXT NOT NULL, turns INTEGER NOT NULL)",
    "CREATE TABLE support_turns (session_id TEXT NOT NULL, turn INTEGER NOT NULL, "
    "ts DOUBLE PRECISION, message TEXT, answer TEXT, matched_question TEXT, confidence DOUBLE PRECISION, "
    "handoff INTEGER, PRIMARY KEY (session_id, turn))",
    "CREATE TABLE support_candidates (ts DOUBLE PRECISION, session_id TEXT, question TEXT NOT NULL, "
    "best_question TEXT, confidence DOUBLE PRECISION)",
)


def old_store(path):
    con = sqlite3.connect(path)
    for sql in OLD_SCHEMA:
        con.execute(sql)
    con.execute("INSERT INTO support_sessions VALUES ('cust-1', 1.0, 2.0, '{\"name\": \"Ann\"}', 1)")
    con.execute("INSERT INTO support_turns VALUES ('cust-1', 1, 2.0, 'my card 4111 1111 1111 1111', 'hand-off', "
                "NULL, 0.1, 1)")
    con.execute("INSERT INTO support_candidates VALUES (2.0, 'cust-1', 'my card 4111 1111 1111 1111', NULL, 0.1)")
    con.execute("INSERT INTO support_candidates VALUES (3.0, 'cust-2', 'my card 5500 0000 0000 0004', NULL, 0.2)")
    con.commit()
    con.close()
    return path


def test_a_store_from_the_previous_version_opens_and_keeps_everything(tmp_path):
    from tuneforge.apps.support.store import SupportStore
    store = SupportStore(old_store(tmp_path / "old.db"))
    assert store.slots("cust-1") == {"name": "Ann"} and [t["turn"] for t in store.history("cust-1")] == [1]
    assert store.candidates() == [{"question": "my card [BANK_CARD]", "times": 2, "last_asked": 3.0,
                                   "best_confidence": 0.2}]  # old raw rows: redacted when listed, merged
    assert not store.token_ok("cust-1", "")  # an old session has no token: only the operator continues it
    reply, turn = store.record_turn("cust-1", {}, "hi", {"answer": "a", "matched_question": "q", "confidence": 1.0,
                                                        "handoff": False})
    assert turn == 2 and len(store.history("cust-1")) == 2
    SupportStore(tmp_path / "old.db")  # and opens again, upgraded


def test_a_store_that_cannot_be_opened_is_a_clear_error(tmp_path):
    from tuneforge.apps.support.store import SupportStore
    (tmp_path / "garbage.db").write_bytes(b"not a database at all" * 100)
    (tmp_path / "dir.db").mkdir()
    for bad in (tmp_path / "garbage.db", tmp_path / "dir.db"):
        with pytest.raises(TuneforgeError) as e:
            SupportStore(bad)
        assert str(bad) in e.value.message() and "fix:" in e.value.message()
