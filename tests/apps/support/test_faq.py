"""The FAQ file: every bad input names its line; templates fill slots and refuse stray braces."""

from __future__ import annotations

import pytest

from tuneforge.apps.support.faq import parse_slots, parse_template, read_faq
from tuneforge.errors import TuneforgeError

from .conftest import FAQ_EN, write_faq


def test_reads_entries_with_categories_and_line_numbers(faq_en):
    entries = read_faq(faq_en)
    assert [e.question for e in entries] == [q for q, _, _ in FAQ_EN]
    assert entries[0].category == "people" and entries[0].line == 2
    assert entries[2].template.slots == ("name",)


def test_category_is_optional_and_multiline_answers_keep_their_line(tmp_path):
    p = tmp_path / "f.csv"
    p.write_text('question,answer\nhi,"line one\nline two"\nbye,ciao\n', encoding="utf-8")
    entries = read_faq(p)
    assert entries[0].answer == "line one\nline two" and entries[0].category is None
    assert entries[1].line == 4


def test_template_slots_defaults_and_escapes():
    t = parse_template("Hi {name|there}, order {order} is {{shipped}}", "x")
    assert t.render({"name": "Ann", "order": "42"}) == ("Hi Ann, order 42 is {shipped}", [])
    assert t.render({}) == ("Hi there, order  is {shipped}", ["order"])


@pytest.mark.parametrize("answer", ["Hi {name", "Hi name}", "Hi {1x}", "Hi {na me}", "{}"])
def test_stray_braces_are_refused_with_the_line(tmp_path, answer):
    p = write_faq(tmp_path / "f.csv", [("ok", "fine", "a"), ("q", answer, "a")])
    with pytest.raises(TuneforgeError) as e:
        read_faq(p)
    assert e.value.where == f"{p}:3" and "{slot|default}" in e.value.fix


@pytest.mark.parametrize("content, where_line, words", [
    ("", None, "empty"),
    ("question,category\nq,c\n", 1, "no 'answer' column"),
    ("answer\nfine\n", 1, "no 'question' column"),
    ("question,answer\n", None, "no entries"),
    ("question,answer\nq1,a1\nq2,\n", 3, "empty answer"),
    ("question,answer\n  ,a1\n", 2, "empty question"),
    ("question,answer\nq1,a1,extra\n", 2, "3 fields"),
    ("question,answer\nWhere is it?,a1\nwhere is it,a2\n", 3, "already on line 2"),
])
def test_bad_files(tmp_path, content, where_line, words):
    p = tmp_path / "f.csv"
    p.write_text(content, encoding="utf-8")
    with pytest.raises(TuneforgeError) as e:
        read_faq(p)
    assert words in e.value.what
    assert e.value.where == (f"{p}:{where_line}" if where_line else str(p))
    assert e.value.fix


def test_missing_file_and_wrong_encoding(tmp_path):
    with pytest.raises(TuneforgeError, match="not found"):
        read_faq(tmp_path / "nope.csv")
    p = tmp_path / "gbk.csv"
    p.write_bytes("question,answer\nq,a\n北京,上海\n".encode("gbk"))
    with pytest.raises(TuneforgeError) as e:
        read_faq(p)
    assert "not UTF-8" in e.value.what and e.value.where == f"{p}:3"


def test_unterminated_quote_is_a_malformed_csv(tmp_path):
    p = tmp_path / "f.csv"
    p.write_text('question,answer\nq,"never closed\n', encoding="utf-8")
    # a lenient csv reader would take the rest of the file as one answer; this must be an error
    with pytest.raises(TuneforgeError, match="malformed CSV"):
        read_faq(p)


def test_parse_slots():
    assert parse_slots(["name=Ann", "order=a=b"]) == {"name": "Ann", "order": "a=b"}
    for bad in (["name"], ["1x=2"], ["=v"]):
        with pytest.raises(TuneforgeError, match="NAME=VALUE"):
            parse_slots(bad)
