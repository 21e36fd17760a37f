"""Inputs to predict (`tuneforge predict --input`, `zero-shot --input`): read as strictly as training data,
every problem a TuneforgeError with file:line and a fix."""

from __future__ import annotations

import pytest

from tuneforge.data.inputs import read_inputs
from tuneforge.errors import TuneforgeError


def write(path, text: str):
    path.write_text(text, encoding="utf-8")
    return path


def fails(path, column="text") -> TuneforgeError:
    with pytest.raises(TuneforgeError) as e:
        read_inputs(path, column)
    return e.value


def test_good_inputs_of_every_kind(tmp_path):
    assert read_inputs(write(tmp_path / "a.txt", "one\n\n two \n"), "text") == ["one", " two "]
    assert read_inputs(write(tmp_path / "a.jsonl", '{"text": "x", "id": 1}\n\n"bare"\n'), "text") == ["x", "bare"]
    assert read_inputs(write(tmp_path / "a.csv", 'id,body\n1,"a, b"\n2,"two\nlines"\n'), "body") == ["a, b", "two\nlines"]
    assert read_inputs(write(tmp_path / "a.tsv", "text\nx y\n"), "text") == ["x y"]


def test_unclosed_quote_does_not_swallow_the_rest(tmp_path):
    p = write(tmp_path / "a.csv", 'text\nfirst\n"second\nthird\nfourth\n')
    e = fails(p)
    assert e.where == f"{p}:3" and "never closed" in e.what and e.fix


def test_row_without_its_text_cell(tmp_path):
    p = write(tmp_path / "a.csv", "id,text\n1,fine\n2\n")
    e = fails(p)
    assert e.where == f"{p}:3" and "1 fields where the header has 2" in e.what


def test_empty_text_cell(tmp_path):
    p = write(tmp_path / "a.csv", "id,text\n1,fine\n2,  \n")
    e = fails(p)
    assert e.where == f"{p}:3" and "empty" in e.what


def test_missing_column_and_duplicate_column(tmp_path):
    e = fails(write(tmp_path / "a.csv", "id,body\n1,x\n"))
    assert "'text' is missing (found: body, id)" in e.what and "--text-column" in e.fix
    e = fails(write(tmp_path / "b.csv", "text,text\nx,y\n"))
    assert "appears twice" in e.what and e.where.endswith(":1")


@pytest.mark.parametrize("line, what", [
    ('{"text": null}', "null"),
    ("null", "null"),
    ('{"body": "x"}', "no key 'text'"),
    ('{"text": ["a"]}', "list"),
    ("42", "number"),
    ('{"text": "a"', "not valid JSON"),
    ('{"text": "   "}', "empty"),
])
def test_bad_jsonl_lines(tmp_path, line, what):
    p = write(tmp_path / "a.jsonl", '{"text": "ok"}\n' + line + "\n")
    e = fails(p)
    assert e.where == f"{p}:2" and what in e.what and e.fix


def test_empty_and_missing_files(tmp_path):
    assert fails(write(tmp_path / "a.txt", "\n \n")).what == "the file is empty"
    assert fails(tmp_path / "nope.txt").what == "input file not found"
