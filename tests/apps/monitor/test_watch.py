"""--watch DIR: each new file is counted once, across a restart of the watcher and under a copied name; a
bad file is logged and remembered, and read again once it is corrected; half-written names are left alone."""

from __future__ import annotations

import logging
import shutil

import pytest

from tuneforge.apps.monitor.pipeline import Monitor
from tuneforge.apps.monitor.store import load_trends
from tuneforge.apps.monitor.watch import Watcher
from tuneforge.errors import TuneforgeError

from .conftest import stream, write_jsonl


def total(db) -> int:
    return sum(w["total"] for w in load_trends(db)["windows"])


def test_restart_does_not_double_count(tmp_path, caplog):
    inbox, db = tmp_path / "inbox", tmp_path / "m.db"
    inbox.mkdir()
    items = stream(6, per_hour=10, seed=1)
    write_jsonl(inbox / "a.jsonl", items[:60])
    write_jsonl(inbox / "b.jsonl", items[60:])
    (inbox / ".c.jsonl").write_text('{"time": 1, "text": "half-written, hidden"}\n')
    write_jsonl(inbox / "d.jsonl.tmp", items[:5])  # not a .jsonl yet: still being written
    first = Watcher(Monitor(db), inbox, settle_s=0)
    assert sorted(p.name for p, r in first.poll() if r and r.ingested) == ["a.jsonl", "b.jsonl"]
    assert total(db) == len(items) and first.poll() == []

    restarted = Watcher(Monitor(db), inbox, settle_s=0)  # a new process: only the database remembers
    shutil.copy(inbox / "a.jsonl", inbox / "a-again.jsonl")  # the same content under another name
    assert restarted.poll() == [] and total(db) == len(items)

    (inbox / "bad.jsonl").write_text('{"time": "later", "text": "x"}\n')
    with caplog.at_level(logging.ERROR, logger="tuneforge.apps.monitor"):
        assert [(p.name, r) for p, r in restarted.poll()] == [("bad.jsonl", None)]
        assert Watcher(Monitor(db), inbox, settle_s=0).poll() == []  # remembered: not retried every poll
    assert sum("bad.jsonl:1" in r.getMessage() for r in caplog.records) == 1
    write_jsonl(inbox / "bad.jsonl", items[:3])  # corrected: new content, read again
    assert [(p.name, r.ingested) for p, r in restarted.poll()] == [("bad.jsonl", 3)]
    assert total(db) == len(items) + 3


def test_unsettled_files_wait(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    write_jsonl(inbox / "a.jsonl", stream(1, per_hour=2))
    assert Watcher(Monitor(tmp_path / "m.db"), inbox, settle_s=3600).poll() == []


def test_watch_needs_a_directory(tmp_path):
    with pytest.raises(TuneforgeError, match="not a directory"):
        Watcher(Monitor(tmp_path / "m.db"), tmp_path / "nowhere")
