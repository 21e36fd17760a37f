"""The perturbed test-set copy: seeded, every text changed, each operation does what it says."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from tuneforge.data.perturb import NEIGHBOURS, perturb_examples, perturb_text, perturb_texts, perturb_word
from tuneforge.data.readers import TextExample

TEXTS = ["a gorgeous, witty film that never stops moving", "the plot is thin", "这部电影的剧情非常好看",
         "这个 movie 很好", "ok", "2024!"]


def test_seeded_and_every_text_with_letters_changes():
    a, b = perturb_texts(TEXTS, seed=3), perturb_texts(TEXTS, seed=3)
    assert a == b and perturb_texts(TEXTS, seed=4) != a
    for src, out in zip(TEXTS[:4], a[:4]):
        assert out != src
    assert a[4:] == TEXTS[4:]  # nothing of 3+ letters and no CJK: left alone


@pytest.mark.parametrize("op", ["typo", "swap", "delete", "case"])
def test_english_operations(op):
    rng = random.Random(0)
    for _ in range(50):
        out = perturb_word("movie", op, rng)
        if op == "typo":
            diff = [(x, y) for x, y in zip("movie", out) if x != y]
            assert len(out) == 5 and len(diff) == 1 and diff[0][1] in NEIGHBOURS[diff[0][0]]
        elif op == "swap":
            assert sorted(out) == sorted("movie") and sum(x != y for x, y in zip("movie", out)) == 2
        elif op == "delete":
            assert len(out) == 4 and all(c in "movie" for c in out)
        else:
            assert out.lower() == "movie" and out != "movie"


def test_chinese_swaps_or_deletes_characters_only():
    rng = random.Random(1)
    src = "这部电影的剧情非常好看"
    for _ in range(30):
        out = perturb_text(src, rng, rate=0.2, ops=("swap", "delete"))
        assert out != src and set(out) <= set(src)
        if len(out) == len(src):
            assert Counter(out) == Counter(src)  # swaps only: the same characters, another order


def test_examples_keep_their_labels():
    ex = [TextExample("the movie was good", "pos"), TextExample("awful plot", "neg")]
    out = perturb_examples(ex, seed=0)
    assert [e.label for e in out] == ["pos", "neg"] and [e.text for e in out] != [e.text for e in ex]
