"""`tuneforge app support` from the command line: one-shot answers, the candidate list, bad input as one
paragraph with exit status 2 and no traceback."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tuneforge.cli import main

from .conftest import write_faq


def faq2(path, rows=(("q", "a"),)):
    return write_faq(path / "f.csv", rows, header=("question", "answer"))


def run(capsys, *args) -> tuple[int, str, str]:
    rc = main(["app", "support", *map(str, args)])
    out, err = capsys.readouterr()
    return rc, out, err


def test_ask_prints_the_reply_json_and_keeps_the_session(capsys, faq_en, tiny_bert, tmp_path):
    db = tmp_path / "s.db"
    common = ("--faq", faq_en, "--backbone", tiny_bert, "--db", db, "--threshold", "-1")
    rc, out, _ = run(capsys, *common, "--ask", "is the movie good", "--slot", "name=Ann")
    reply = json.loads(out)
    assert rc == 0 and reply["answer"] == "The movie is very good, Ann!" and reply["turn"] == 1
    assert len(reply["session_id"]) == 32 and reply["session_token"]  # the server's id, and its secret
    rc, out, _ = run(capsys, *common, "--ask", "is the movie good", "--session", reply["session_id"])
    assert json.loads(out)["answer"] == "The movie is very good, Ann!" and json.loads(out)["turn"] == 2
    rc, out, err = run(capsys, *common, "--ask", "is the movie good", "--session", "c1")  # ids are not chosen
    assert rc == 2 and out == "" and "no session 'c1'" in err and "omit" in err


def test_candidates_lists_handed_off_questions(capsys, faq_en, tiny_bert, tmp_path):
    db = tmp_path / "s.db"
    rc, out, _ = run(capsys, "--faq", faq_en, "--backbone", tiny_bert, "--db", db, "--threshold", "0.9999",
                     "--ask", "do you deliver on sunday")
    assert rc == 0 and json.loads(out)["handoff"] is True
    rc, out, _ = run(capsys, "--faq", faq_en, "--db", db, "--candidates")
    assert rc == 0 and [json.loads(l)["question"] for l in out.splitlines()] == ["do you deliver on sunday"]


@pytest.mark.parametrize("make, extra, words", [
    (lambda p: p / "missing.csv", ("--ask", "hi"), "FAQ file not found"),
    (lambda p: faq2(p, [("q", "a {oops")]), ("--ask", "hi"), "f.csv:2"),
    (lambda p: write_faq(p / "f.csv", [("q", "a")], header=("q", "answer")), ("--ask", "hi"), "no 'question' column"),
    (lambda p: faq2(p), ("--ask", "  "), "--ask: the message is empty"),
    (lambda p: faq2(p), ("--ask", "hi", "--slot", "oops"), "NAME=VALUE"),
    (lambda p: faq2(p), ("--ask", "hi", "--intents", "nope-run"), "no category"),
    (lambda p: faq2(p), ("--ask", "hi", "--backbone", "no-such-model"), "unknown backbone"),
])
def test_bad_input_is_one_paragraph_exit_2(capsys, tmp_path, make, extra, words):
    rc, out, err = run(capsys, "--faq", make(tmp_path), "--db", tmp_path / "s.db", *extra)
    assert rc == 2 and out == ""
    assert err.startswith("error: ") and words in err and "fix:" in err and "Traceback" not in err


def test_a_mode_is_required(capsys, faq_en):
    with pytest.raises(SystemExit) as e:
        main(["app", "support", "--faq", str(faq_en)])
    assert e.value.code == 2 and "--ask" in capsys.readouterr().err


def test_cli_module_imports_no_torch():
    code = "import sys, tuneforge.apps.support.cli; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"
