"""The packaged FAQ: groups of questions that share an answer become one entry (its first question), the
others held out; braces in answers are escaped so code answers are not read as slots."""

from __future__ import annotations

import zipfile

from tuneforge.apps.support.chatterbot import build_language
from tuneforge.apps.support.faq import parse_template

YML = """categories:
- shop
conversations:
- - Where is my order?
  - It ships tomorrow.
- - where is my ORDER
  - It ships in two days.
- - When does it ship
  - It ships tomorrow.
- - Show code
  - "def f(): return {1: 2}"
- - Hello
  - Hi
  - How are you?
- - lonely question
"""


def test_groups_heldout_and_escaped_braces(tmp_path):
    wheel = tmp_path / "chatterbot_corpus-1.3.3-py2.py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("chatterbot_corpus/data/english/shop.yml", YML)
        zf.writestr("chatterbot_corpus/data/chinese/other.yml", "conversations:\n- - 你好\n  - 你好\n")
    faq, held, counts = build_language(wheel, "english")
    # "where is my ORDER" is the same question (case, punctuation); "When does it ship" shares an answer
    assert [(e["question"], e["category"]) for e in faq] == [("Where is my order?", "shop"), ("Show code", "shop"),
                                                             ("Hello", "shop")]
    assert faq[0]["answer"] == "It ships tomorrow."
    assert held == [{"query": "When does it ship", "target": "Where is my order?", "kind": "natural"}]
    assert faq[1]["answer"] == "def f(): return {{1: 2}}"
    assert parse_template(faq[1]["answer"], "x").render({}) == ("def f(): return {1: 2}", [])
    assert counts == {"pairs": 5, "faq_entries": 3, "natural_heldout": 1}
