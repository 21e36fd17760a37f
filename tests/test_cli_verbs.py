"""One table of verbs (tuneforge.cli.VERBS); the parser, the README's command table and the table agree."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tuneforge.cli import VERB, VERBS, build_parser, main

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_parser_offers_exactly_the_table_in_its_order():
    sub = build_parser()._subparsers._group_actions[0]
    assert list(sub.choices) == [v.name for v in VERBS]
    assert {a.dest: a.help for a in sub._choices_actions} == {v.name: v.help for v in VERBS}
    assert len(VERB) == len(VERBS)  # no name twice


def test_the_readme_lists_every_verb_with_the_same_words():
    rows = re.findall(r"^\| `tuneforge ([a-z-]+)` \| (.+?) \|$", README.read_text(encoding="utf-8"), re.M)
    assert rows == [(v.name, v.help) for v in VERBS]


@pytest.mark.parametrize("name", [v.name for v in VERBS])
def test_every_verb_has_help(name, capsys):
    with pytest.raises(SystemExit) as e:
        build_parser().parse_args([name, "--help"])
    assert e.value.code == 0 and f"tuneforge {name}" in capsys.readouterr().out


def test_main_runs_the_verbs_call(monkeypatch):
    got = []
    monkeypatch.setattr(VERB["models"], "run", lambda a: got.append(a.verb) or 0)
    assert main(["models"]) == 0 and got == ["models"]


def test_export_help_names_the_registered_formats():
    from tuneforge.cli.runs import FORMAT_HELP
    from tuneforge.export.formats import EXPORT_FORMATS
    assert FORMAT_HELP.split(" | ") == list(EXPORT_FORMATS)
