"""Augmentation (EDA): the four operations with the packaged thesauri, determinism under a seed,
train-only copies with their labels, Chinese staying Chinese, config errors, the back-translation hook."""

from __future__ import annotations

import csv
import random
import re
from collections import Counter
from pathlib import Path

import pytest

from tuneforge.config import load_config
from tuneforge.data import augment
from tuneforge.data.augment import (OPS, Words, augment_examples, chinese_thesaurus, english_synonyms,
                                    random_deletion, random_insertion, random_swap, synonym_replacement)
from tuneforge.data.readers import TextExample
from tuneforge.data.report import build_report, format_report
from tuneforge.data.splits import load_splits
from tuneforge.errors import TuneforgeError

EN = "The movie was terrible but the music was lovely and the cast worked hard"
ZH = "这本书的内容非常精彩，我们都很喜欢，强烈推荐给大家！"
CJK = re.compile(r"[\u4e00-\u9fff]")


# ---------------------------------------------------------------- thesauri

def test_english_wordnet_synonyms_offline():
    assert {"film", "picture", "flick"} <= set(english_synonyms("movie"))
    assert "film" in english_synonyms("movies")      # inflected forms find their base form (morphy)
    assert "operate" in english_synonyms("ran")         # irregular forms through WordNet's exception lists
    assert english_synonyms("the") == ()             # stop words are left alone, as in EDA
    assert english_synonyms("xyzzyq") == ()


def test_chinese_cilin_synonyms_offline():
    table, longest = chinese_thesaurus()
    assert len(table) > 20_000 and longest >= 4
    assert "咱们" in table["我们"]
    assert all(len(w) >= 2 for w in table["我们"])


def test_chinese_text_is_cut_into_dictionary_words_and_characters():
    units = Words(ZH).units
    assert "".join(units) == ZH
    assert {"内容", "我们", "喜欢", "推荐"} <= set(units)
    assert "，" in units and "书" in units


# ---------------------------------------------------------------- the operations

def test_swap_and_delete_keep_the_words():
    rng = random.Random(0)
    swapped = random_swap(EN, 0.2, rng)
    assert swapped != EN and sorted(swapped.split()) == sorted(EN.split())
    deleted = random_deletion(EN, 0.3, random.Random(0))
    assert deleted != EN and Counter(deleted.split()) <= Counter(EN.split())
    assert random_deletion("one", 0.9, rng) == "one"            # a one-word text is left alone
    assert random_deletion("two words", 1.0, rng) in ("two", "words")  # never every word


def test_synonym_and_insert_use_the_thesaurus():
    rng = random.Random(3)
    replaced = synonym_replacement("a great movie", 0.5, rng)
    new = set(replaced.split()) - {"a", "great", "movie"}
    assert new, replaced
    inserted = random_insertion("a great movie", 0.5, random.Random(3))
    assert len(inserted.split()) > 3 and set("a great movie".split()) <= set(inserted.split())


def test_capitalisation_and_punctuation_survive_synonym_replacement():
    out = synonym_replacement("Movie, please.", 1.0, random.Random(1))
    assert out != "Movie, please." and out[0].isupper() and out.endswith(", please.")  # "please": a stop word


def test_chinese_stays_chinese():
    for name in ("synonym", "insert", "swap", "delete"):
        for seed in range(5):
            out = OPS[name](ZH, 0.2, random.Random(seed))
            assert out and not re.search(r"[A-Za-z]", out), (name, out)
            assert len(CJK.findall(out)) >= 0.5 * len(CJK.findall(ZH)), (name, out)
            assert CJK.search(out)
    # swap moves whole dictionary words: each of them is still there, intact
    swapped = random_swap(ZH, 0.2, random.Random(0))
    assert swapped != ZH and all(w in swapped for w in ("内容", "我们", "喜欢", "推荐"))


def test_chinese_synonym_replaces_a_dictionary_word():
    out = synonym_replacement("我们喜欢", 1.0, random.Random(0))
    assert out != "我们喜欢" and CJK.fullmatch(out[0])


# ---------------------------------------------------------------- copies of the training split

def examples(texts_labels) -> list[TextExample]:
    return [TextExample(t, l, f"f.csv:{i + 2}") for i, (t, l) in enumerate(texts_labels)]


def test_deterministic_under_a_seed_and_labels_preserved():
    data = examples([(EN, "neg"), ("a gorgeous witty film with a great cast", "pos"), (ZH, "pos")])
    a, made_a = augment_examples(data, list(OPS)[:4], 4, 0.1, seed=7)
    b, made_b = augment_examples(data, list(OPS)[:4], 4, 0.1, seed=7)
    c, _ = augment_examples(data, list(OPS)[:4], 4, 0.1, seed=8)
    assert [(e.text, e.label) for e in a] == [(e.text, e.label) for e in b] and made_a == made_b
    assert [e.text for e in a] != [e.text for e in c]
    assert a[:3] == data and len(a) == 3 + sum(made_a.values()) and sum(made_a.values()) > 6
    by_source = {e.source: e.label for e in data}
    for e in a[3:]:
        src = e.source.split(" (augmented")[0]
        assert e.label == by_source[src]
    # an example's copies do not depend on the other examples
    alone, _ = augment_examples(data[:1], list(OPS)[:4], 4, 0.1, seed=7)
    assert [e.text for e in alone[1:]] == [e.text for e in a[3:] if e.source.startswith("f.csv:2 ")]


def test_no_op_copies_are_not_added():
    data = examples([("word", "a")])
    out, made = augment_examples(data, ["swap", "delete"], 5, 0.5, seed=1)
    assert out == data and not made


def write_rows(path: Path, rows) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        w.writerows(rows)
    return path


POS = ["a gorgeous witty film", "great acting and a lovely score", "an excellent funny movie",
       "a warm and moving story", "the cast is superb", "brilliant direction and fine music"]
NEG = ["a dull boring plot", "the acting was awful", "a terrible waste of time",
       "poor writing and bad music", "the movie is a mess", "an ugly tedious film"]


def corpus(n: int = 60):
    return [(f"{random.Random(i).choice(POS if i % 2 else NEG)} number {i}", "pos" if i % 2 else "neg")
            for i in range(n)]


def test_load_splits_augments_train_only(tmp_path):
    path = write_rows(tmp_path / "d.csv", corpus())
    plain = load_splits(load_config(None, [f"data.train={path}"]))
    aug = load_splits(load_config(None, [f"data.train={path}", "data.augment.per_example=3"]))
    assert [e.text for e in aug.validation] == [e.text for e in plain.validation]
    assert [e.text for e in aug.test] == [e.text for e in plain.test]
    assert aug.train[:len(plain.train)] == plain.train
    copies = aug.train[len(plain.train):]
    assert len(copies) == sum(aug.augmented.values()) > len(plain.train)
    assert all("(augmented: " in e.source for e in copies)
    originals = {e.source: e.label for e in plain.train}
    assert all(originals[e.source.split(" (augmented")[0]] == e.label for e in copies)
    held_out = {e.text for e in plain.validation + plain.test}
    assert not any(e.source.split(" (augmented")[0] in {x.source for x in plain.validation + plain.test}
                   for e in copies) and held_out
    rep = build_report(aug, None, 128)
    assert rep["augmented"] == dict(aug.augmented)
    assert rep["splits"]["train"]["examples"] == len(aug.train)
    text = format_report(rep, 128)
    assert f"augmented copies in train: {len(copies)}" in text and "EDA copies" in text


def test_augment_after_train_limit_and_seeded(tmp_path):
    path = write_rows(tmp_path / "d.csv", corpus())
    ov = [f"data.train={path}", "data.train_limit=10", "data.augment.per_example=2", "data.augment.ops=[swap,delete]"]
    one = load_splits(load_config(None, ov))
    two = load_splits(load_config(None, ov))
    other = load_splits(load_config(None, ov + ["data.augment.seed=99"]))
    assert [e.text for e in one.train] == [e.text for e in two.train]
    assert [e.text for e in one.train] != [e.text for e in other.train]
    assert 10 < len(one.train) <= 30 and set(one.augmented) <= {"swap", "delete"}


# ---------------------------------------------------------------- config errors and the hooks

def config_error(*overrides) -> TuneforgeError:
    with pytest.raises(TuneforgeError) as e:
        load_config(None, ["data.train=x.csv", *overrides])
    return e.value


def test_unknown_op_is_a_config_error_with_a_suggestion():
    e = config_error("data.augment.per_example=2", "data.augment.ops=[swap,synonim]")
    assert "data.augment.ops" in e.what and "synonim" in e.what and "synonym" in e.fix


@pytest.mark.parametrize("prob", ["0", "-0.1", "1.5"])
def test_bad_probability_is_a_config_error(prob):
    e = config_error("data.augment.per_example=2", f"data.augment.prob={prob}")
    assert "data.augment.prob" in e.what and "(0, 1]" in e.fix


def test_other_config_errors():
    assert "per_example" in config_error("data.augment.per_example=-1").what
    assert "is empty" in config_error("data.augment.per_example=1", "data.augment.ops=[]").what
    e = config_error("task=token-classification", "data.augment.per_example=2")
    assert "token-classification" in e.what and "per_example=0" in e.fix
    e = config_error("data.augment.per_example=2", "data.augment.ops=[swap,delete]", "data.augment.probability=0.2")
    assert "unknown config key" in e.what and "prob" in e.fix


def test_off_by_default(tmp_path):
    cfg = load_config(None, ["data.train=x.csv"])
    assert cfg.data.augment.per_example == 0 and cfg.data.redact == []


def test_back_translation_is_a_documented_hook(tmp_path):
    path = write_rows(tmp_path / "d.csv", corpus(20))
    cfg = load_config(None, [f"data.train={path}", "data.augment.per_example=1", "data.augment.ops=[back_translation]"])
    with pytest.raises(TuneforgeError) as e:
        load_splits(cfg)
    assert "translation model" in e.value.what and "register_op" in e.value.fix


def test_register_op_plugs_in_a_new_operation(tmp_path):
    augment.register_op("shout", lambda text, prob, rng: text.upper())
    try:
        path = write_rows(tmp_path / "d.csv", corpus(20))
        s = load_splits(load_config(None, [f"data.train={path}", "data.augment.per_example=1",
                                           "data.augment.ops=[shout]"]))
    finally:
        del augment.OPS["shout"]
    assert s.augmented == Counter(shout=16) and s.train[-1].text.isupper()
