"""A support database written by the version before session tokens (no token_hash column) still opens,
keeps every session, turn and candidate, and lists old raw candidates redacted; one that cannot be opened
or upgraded is a TuneforgeError naming it, not a traceback."""

from __future__ import annotations

import sqlite3

import pytest

from serve.conftest import postgres_url  # noqa: F401  (fixture)

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
    assert store.history("cust-1")[0]["message"] == "my card [BANK_CARD]"  # an old raw row: redacted when read
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


def test_a_transcript_keeps_contact_details_but_never_a_card_or_id_number(tmp_path):
    from tuneforge.apps.support.store import SupportStore
    store = SupportStore(tmp_path / "s.db")
    store.new_session("s1", "tok")
    message = "card 4111 1111 1111 1111, ID 11010519491231002X, call 415-555-2671 or ann@example.com"
    store.record_turn("s1", {}, message, {"answer": "a", "matched_question": None, "confidence": 0.1, "handoff": True})
    raw = sqlite3.connect(tmp_path / "s.db").execute("SELECT message FROM support_turns").fetchone()[0]
    assert "4111" not in raw and "11010519491231002X" not in raw  # never on disk
    assert "415-555-2671" in raw and "ann@example.com" in raw  # the agent taking over can call back
    assert store.history("s1")[0]["message"] == raw


def test_a_postgresql_store_from_the_previous_version_is_upgraded(postgres_url):
    import psycopg
    from tuneforge.apps.support.store import SupportStore
    with psycopg.connect(postgres_url, autocommit=True) as con:
        for table in ("support_sessions", "support_turns", "support_candidates"):
            con.execute(f"DROP TABLE IF EXISTS {table}")
        for sql in OLD_SCHEMA:
            con.execute(sql)
        con.execute("INSERT INTO support_sessions VALUES ('cust-1', 1.0, 2.0, '{\"name\": \"Ann\"}', 1)")
        con.execute("INSERT INTO support_turns VALUES ('cust-1', 1, 2.0, 'my card 4111 1111 1111 1111', 'hand-off', "
                    "NULL, 0.1, 1)")
    store = SupportStore(postgres_url)
    assert store.slots("cust-1") == {"name": "Ann"} and store.history("cust-1")[0]["message"] == "my card [BANK_CARD]"
    assert not store.token_ok("cust-1", "")
    store.new_session("s-new", "tok")
    assert store.token_ok("s-new", "tok") and not store.token_ok("s-new", "other")
    _, turn = store.record_turn("cust-1", {"city": "Paris"}, "hi", {"answer": "a", "matched_question": "q",
                                                                     "confidence": 1.0, "handoff": False})
    assert turn == 2 and store.slots("cust-1") == {"name": "Ann", "city": "Paris"}
    SupportStore(postgres_url)  # and opens again, upgraded
