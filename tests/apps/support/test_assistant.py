"""The assistant end to end on a tiny FAQ: answers with slots, hand-off below the threshold logs a candidate
in a real SQLite file, sessions keep slots, intent routing restricts the candidates, bad options."""

from __future__ import annotations

import sqlite3

import pytest

from tuneforge.apps.support.assistant import HANDOFF, detect_language
from tuneforge.errors import TuneforgeError

from .conftest import make_assistant, write_faq


def test_answers_and_fills_slots_from_the_session(faq_en, tiny_bert, tmp_path):
    a = make_assistant(faq_en, tiny_bert, tmp_path / "s.db", threshold=-1.0)
    r = a.reply("is the movie good", None, {"name": "Ann"})
    s1 = r["session_id"]  # the assistant's id, with its token
    assert (r["matched_question"], r["answer"], r["handoff"], r["turn"]) == \
        ("is the movie good", "The movie is very good, Ann!", False, 1)
    assert r["category"] == "movies" and r["missing_slots"] == [] and len(r["alternatives"]) == 3
    assert a.store.token_ok(s1, r["session_token"]) and not a.store.token_ok(s1, r["session_token"] + "x")
    # the slot stays with the session; a default covers a slot the session never set
    assert a.reply("where does mary live", s1)["answer"] == "Mary lives in Paris, Ann."
    assert a.reply("where does mary live")["answer"] == "Mary lives in Paris, friend."
    r = a.reply("is the movie good")
    assert r["answer"] == "The movie is very good, !" and r["missing_slots"] == ["name"]
    assert a.reply("was the music awful", r["session_id"])["answer"] == "The music was not awful {really}."
    assert [t["turn"] for t in a.store.history(s1)] == [1, 2]
    assert a.store.slots(s1) == {"name": "Ann"}
    with pytest.raises(TuneforgeError, match="omit session_id"):  # ids are the assistant's, never the caller's
        a.reply("where does mary live", "s1")


def test_handoff_below_threshold_logs_a_candidate(faq_en, tiny_bert, tmp_path):
    db = tmp_path / "s.db"
    a = make_assistant(faq_en, tiny_bert, db, threshold=0.9999)
    r = a.reply("can i pay with a card")
    assert r["handoff"] is True and r["answer"] == HANDOFF["en"] and r["matched_question"] is None
    assert r["confidence"] < 0.9999
    a.reply("can i pay with a card")
    assert a.reply("is the movie good")["handoff"] is False  # its own question: cosine 1
    assert a.store.candidates() == [{"question": "can i pay with a card", "times": 2,
                                     "last_asked": pytest.approx(a.store.candidates()[0]["last_asked"]),
                                     "best_confidence": r["confidence"]}]
    with sqlite3.connect(db) as con:  # a real file another process (a human agent's tool) can read
        assert con.execute("SELECT COUNT(*) FROM support_candidates").fetchone() == (2,)
        assert con.execute("SELECT COUNT(*) FROM support_turns WHERE handoff = 1").fetchone() == (2,)


def test_chinese_faq_language_and_handoff_message(faq_zh, tiny_bert, tmp_path):
    a = make_assistant(faq_zh, tiny_bert, tmp_path / "s.db", threshold=0.9999)
    assert a.lang == "zh" and a.handoff_message == HANDOFF["zh"]
    assert a.reply("退货怎么办")["handoff"] is True
    a = make_assistant(faq_zh, tiny_bert, tmp_path / "s.db", threshold=-1.0)
    r = a.reply("张三在什么公司上班")
    assert r["matched_question"] == "张三在哪个公司" and r["answer"] == "张三在人民日报。"
    assert detect_language(["where is it", "北京在中国吗"]) == "en"  # a tie is not a majority


def test_bad_options_and_messages(faq_en, tiny_bert, tmp_path):
    db = tmp_path / "s.db"
    for kw, match in (({"threshold": 2.0}, "not a cosine"), ({"lang": "fr"}, "unknown language"),
                      ({"top_k": 0}, "top_k"), ({"backbone": str(tmp_path / "no-model")}, "does not exist")):
        with pytest.raises(TuneforgeError, match=match):
            make_assistant(faq_en, kw.pop("backbone", tiny_bert), db, **kw)
    a = make_assistant(faq_en, tiny_bert, db)
    for msg in ("", "   ", "x" * 2001):
        with pytest.raises(TuneforgeError):
            a.reply(msg)


def test_intents_need_categories_and_a_run(tmp_path, tiny_bert):
    no_cat = write_faq(tmp_path / "nocat.csv", [("q one", "a"), ("q two", "b")], header=("question", "answer"))
    with pytest.raises(TuneforgeError, match="no category column"):
        make_assistant(no_cat, tiny_bert, tmp_path / "s.db", intents=str(tmp_path))
    with_cat = write_faq(tmp_path / "cat.csv", [("q one", "a", "x")])
    with pytest.raises(TuneforgeError, match="not a finished tuneforge run"):
        make_assistant(with_cat, tiny_bert, tmp_path / "s.db", intents=str(tmp_path))
    with pytest.raises(TuneforgeError, match="intent-threshold"):
        make_assistant(with_cat, tiny_bert, tmp_path / "s.db", intents=str(tmp_path), intent_threshold=0)
