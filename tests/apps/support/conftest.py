"""A tiny FAQ written in the test, and an assistant over it on the tiny random BERT (no downloads)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

FAQ_EN = [
    ("where does mary live", "Mary lives in Paris, {name|friend}.", "people"),
    ("where does john work", "John works at Acme Corp.", "people"),
    ("is the movie good", "The movie is very good, {name}!", "movies"),
    ("was the music awful", "The music was not awful {{really}}.", "movies"),
]
FAQ_ZH = [
    ("北京在中国吗", "是的，北京在中国。", "geo"),
    ("张三在哪个公司", "张三在人民日报。", "people"),
    ("上海是中国的吗", "上海是中国的。", "geo"),
]


def write_faq(path: Path, rows, header=("question", "answer", "category")) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


@pytest.fixture
def faq_en(tmp_path) -> Path:
    return write_faq(tmp_path / "faq.csv", FAQ_EN)


@pytest.fixture
def faq_zh(tmp_path) -> Path:
    return write_faq(tmp_path / "faq_zh.csv", FAQ_ZH)


def make_assistant(faq: Path, backbone: Path, db: Path, **kw):
    from tuneforge.apps.support.assistant import Assistant, AssistantOptions
    return Assistant(AssistantOptions(faq=str(faq), backbone=str(backbone), db=str(db), **kw))
