"""Reading items: ISO-8601 and epoch times, JSONL and CSV, and every bad input naming file:line and a fix."""

from __future__ import annotations

import pytest

from tuneforge.apps.monitor.items import Fields, parse_items, parse_time, read_items
from tuneforge.errors import TuneforgeError


def test_times_iso_offset_naive_and_epoch():
    assert parse_time("2026-03-01T00:00:00Z", "x") == 1772323200.0
    assert parse_time("2026-03-01 08:00:00+08:00", "x") == 1772323200.0
    assert parse_time("2026-03-01T00:00:00", "x") == 1772323200.0  # no offset: UTC
    assert parse_time(1772323200, "x") == parse_time("1772323200.0", "x") == 1772323200.0


@pytest.mark.parametrize("value, says", [("yesterday", "neither ISO-8601"), ("2026-13-01", "neither ISO-8601"),
                                         (1772323200000, "milliseconds"), (-5, "not a valid"), (True, "missing"),
                                         (float("nan"), "not a valid"), ([], "missing")])
def test_bad_times(value, says):
    with pytest.raises(TuneforgeError) as e:
        parse_time(value, "f.jsonl:3")
    assert says in e.value.what and e.value.where == "f.jsonl:3" and e.value.fix


def test_jsonl_and_csv(tmp_path):
    (tmp_path / "a.jsonl").write_text('{"time": "2026-03-01T00:10:00Z", "text": "bad", "topic": "app"}\n\n'
                                      '{"time": 1772323800, "text": "good"}\n', encoding="utf-8")
    items = read_items(tmp_path / "a.jsonl")
    assert [(i.ts, i.text, i.topic) for i in items] == [(1772323800.0, "bad", "app"), (1772323800.0, "good", None)]
    (tmp_path / "b.csv").write_text("\ufeffwhen,body,area\n2026-03-01T00:10:00Z,\"bad, really\",app\n", encoding="utf-8")
    got = read_items(tmp_path / "b.csv", Fields("when", "body", "area"))
    assert (got[0].text, got[0].topic) == ("bad, really", "app")


@pytest.mark.parametrize("name, content, where, says", [
    ("s.jsonl", '{"time": "2026-03-01T00:00:00Z", "text": "ok"}\n{"time": "soon", "text": "x"}\n', ":2", "neither ISO"),
    ("s.jsonl", '{"time": "2026-03-01T00:00:00Z"}\n', ":1", "'text' is missing"),
    ("s.jsonl", '{"time": "2026-03-01T00:00:00Z", "text": "   "}\n', ":1", "'text' is missing"),
    ("s.jsonl", '{"text": "no time"}\n', ":1", "no 'time'"),
    ("s.jsonl", '{"time": 1772323200, "text": "x"\n', ":1", "not valid JSON"),
    ("s.jsonl", '["a list"]\n', ":1", "expected an object"),
    ("s.jsonl", '{"time": 1772323200, "text": "x", "topic": {"a": 1}}\n', ":1", "'topic' must be a string"),
    ("s.csv", "time,body\n2026-03-01T00:00:00Z,x\n", ":1", "no column 'text'"),
    ("s.csv", "time,text\n2026-03-01T00:00:00Z,x\n2026-03-01T00:00:00Z,y,extra\n", ":3", "3 cells but 2 columns"),
    ("s.csv", "time,text\n,x\n", ":2", "no 'time'"),
    # issue 16: an unclosed quote used to swallow the rest of the file as one text; a duplicated column
    # name let the last one win
    ("s.csv", 'time,text\n2026-03-01T00:00:00Z,"open\n2026-03-01T00:01:00Z,y\n', ":2", "never closed"),
    ("s.csv", 'time,text\n2026-03-01T00:00:00Z,"open\n2026-03-01T00:01:00Z,"y",z\n', ":2", "not closed"),
    ("s.csv", "time,text,text\n2026-03-01T00:00:00Z,x,y\n", ":1", "'text' appears twice"),
    ("s.jsonl", "", "s.jsonl", "empty"),
    ("s.txt", "hello\n", "s.txt", "cannot read .txt"),
])
def test_bad_files_name_file_and_line(tmp_path, name, content, where, says):
    (tmp_path / name).write_text(content, encoding="utf-8")
    with pytest.raises(TuneforgeError) as e:
        read_items(tmp_path / name)
    assert e.value.where.endswith(where) and says in e.value.what and e.value.fix


def test_not_utf8_and_missing(tmp_path):
    (tmp_path / "g.csv").write_bytes("time,text\n1772323200,好\n".encode("gb18030"))
    with pytest.raises(TuneforgeError) as e:
        read_items(tmp_path / "g.csv")
    assert e.value.where.endswith("g.csv:2") and "UTF-8" in e.value.fix
    with pytest.raises(TuneforgeError, match="not found"):
        read_items(tmp_path / "missing.jsonl")


def test_http_body_shapes():
    assert len(parse_items({"items": [{"time": 1772323200, "text": "x"}]})) == 1
    with pytest.raises(TuneforgeError) as e:
        parse_items([{"time": 1772323200, "text": "x"}, {"time": 1772323200}])
    assert e.value.where == "request item 1"
    with pytest.raises(TuneforgeError, match="JSON list"):
        parse_items({"texts": []})
