"""Splits: 80/10/10, stratified and seeded; given files used as is; limits; train cleaning; the report."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from tuneforge.config import load_config
from tuneforge.data.readers import TextExample
from tuneforge.data.report import build_report, format_report, warnings_for
from tuneforge.data.splits import Splits, load_splits
from tuneforge.errors import TuneforgeError


def write_csv(path: Path, rows) -> Path:
    path.write_text("text,label\n" + "".join(f"{t},{l}\n" for t, l in rows), encoding="utf-8")
    return path


def rows(n: int, labels: dict[str, int] | None = None, prefix: str = "text") -> list[tuple[str, str]]:
    """n unique texts; labels {'a': 70, 'b': 30} gives those counts (in a mixed order)."""
    labels = labels or {"a": n // 2, "b": n - n // 2}
    assert sum(labels.values()) == n
    seq = [l for l, c in labels.items() for _ in range(c)]
    seq = seq[::2] + seq[1::2]
    return [(f"{prefix} {i}", l) for i, l in enumerate(seq)]


def splits_for(tmp_path, files: dict[str, list], *overrides, task="text-classification") -> Splits:
    ov = [f"task={task}"]
    for name, content in files.items():
        ov.append(f"data.{name}={write_csv(tmp_path / f'{name}.csv', content)}")
    return load_splits(load_config(None, ov + list(overrides)))


def texts(examples) -> list[str]:
    return [e.text for e in examples]


def label_counts(examples) -> dict[str, int]:
    return dict(Counter(e.label for e in examples))


# ---------------------------------------------------------------- one file: 80/10/10

def test_one_file_split_80_10_10_disjoint(tmp_path):
    data = rows(100)
    s = splits_for(tmp_path, {"train": data})
    assert (len(s.train), len(s.validation), len(s.test)) == (80, 10, 10)
    all_texts = texts(s.train) + texts(s.validation) + texts(s.test)
    assert sorted(all_texts) == sorted(t for t, _ in data)  # disjoint and complete
    assert any("80%/10%/10%" in n and "stratified" in n for n in s.notes)


def test_stratified_label_shares_preserved(tmp_path):
    s = splits_for(tmp_path, {"train": rows(100, {"a": 70, "b": 30})})
    assert label_counts(s.train) == {"a": 56, "b": 24}
    assert label_counts(s.validation) == {"a": 7, "b": 3}
    assert label_counts(s.test) == {"a": 7, "b": 3}


def test_stratified_three_labels(tmp_path):
    s = splits_for(tmp_path, {"train": rows(200, {"x": 100, "y": 60, "z": 40})})
    assert label_counts(s.validation) == {"x": 10, "y": 6, "z": 4}
    assert label_counts(s.test) == {"x": 10, "y": 6, "z": 4}


def test_custom_shares(tmp_path):
    s = splits_for(tmp_path, {"train": rows(100)}, "data.split=[0.6, 0.3, 0.1]")
    assert (len(s.train), len(s.validation), len(s.test)) == (60, 30, 10)


@pytest.mark.parametrize("split, sizes", [("[0.9, 0, 0.1]", (36, 0, 4)), ("[0.9, 0.1, 0]", (36, 4, 0)),
                                          ("[1, 0, 0]", (40, 0, 0))])
def test_zero_shares(tmp_path, split, sizes):
    s = splits_for(tmp_path, {"train": rows(40)}, f"data.split={split}")
    assert (len(s.train), len(s.validation), len(s.test)) == sizes


def test_seeded(tmp_path):
    data = {"train": rows(100)}
    a = splits_for(tmp_path, data, "train.seed=7")
    b = splits_for(tmp_path, data, "train.seed=7")
    c = splits_for(tmp_path, data, "train.seed=8")
    assert texts(a.test) == texts(b.test) and texts(a.validation) == texts(b.validation)
    assert texts(a.train) == texts(b.train)
    assert set(texts(a.test)) != set(texts(c.test))


def test_ner_single_file_split_is_random_but_seeded(tmp_path):
    p = tmp_path / "train.txt"
    p.write_text("".join(f"w{i} B-PER\nx O\n\n" for i in range(50)), encoding="utf-8")
    cfg = load_config(None, ["task=token-classification", f"data.train={p}"])
    s, s2 = load_splits(cfg), load_splits(cfg)
    assert (len(s.train), len(s.validation), len(s.test)) == (40, 5, 5)
    assert [e.tokens for e in s.test] == [e.tokens for e in s2.test]
    assert any("random" in n for n in s.notes)


# ---------------------------------------------------------------- given files

def test_separate_files_used_as_given(tmp_path):
    train, val, test = rows(30, prefix="tr"), rows(8, prefix="va"), rows(6, prefix="te")
    s = splits_for(tmp_path, {"train": train, "validation": val, "test": test})
    assert texts(s.train) == [t for t, _ in train]  # same rows, same order
    assert texts(s.validation) == [t for t, _ in val]
    assert texts(s.test) == [t for t, _ in test]
    assert s.notes == [] and not s.dropped
    assert set(s.stats) == {str(tmp_path / f"{n}.csv") for n in ("train", "validation", "test")}


def test_validation_carved_from_train_when_train_and_test_given(tmp_path):
    train, test = rows(90, {"a": 60, "b": 30}, prefix="tr"), rows(12, prefix="te")
    s = splits_for(tmp_path, {"train": train, "test": test})
    assert texts(s.test) == [t for t, _ in test]
    assert (len(s.train), len(s.validation)) == (80, 10)  # 0.1 / (0.1 + 0.8) of 90
    assert set(texts(s.train)) | set(texts(s.validation)) == {t for t, _ in train}
    assert not set(texts(s.train)) & set(texts(s.validation))
    assert label_counts(s.validation) == {"a": 7, "b": 3}  # stratified: 2/3 of 10, rounded
    assert any("validation carved out" in n for n in s.notes)


def test_test_carved_from_train_when_train_and_validation_given(tmp_path):
    s = splits_for(tmp_path, {"train": rows(90, prefix="tr"), "validation": rows(10, prefix="va")})
    assert (len(s.train), len(s.validation), len(s.test)) == (80, 10, 10)
    assert all(t.startswith("va") for t in texts(s.validation))
    assert all(t.startswith("tr") for t in texts(s.test))
    assert any("test carved out" in n for n in s.notes)


# ---------------------------------------------------------------- limits

def test_train_limit_stratified_and_seeded(tmp_path):
    data = {"train": rows(100, {"a": 70, "b": 30})}
    s = splits_for(tmp_path, data, "data.train_limit=20")
    assert len(s.train) == 20 and label_counts(s.train) == {"a": 14, "b": 6}
    assert (len(s.validation), len(s.test)) == (10, 10)  # limits apply after the split
    assert texts(s.train) == texts(splits_for(tmp_path, data, "data.train_limit=20").train)
    assert any("train limited to 20 of 80" in n for n in s.notes)


def test_validation_and_test_limits(tmp_path):
    files = {"train": rows(40, prefix="tr"), "validation": rows(30, prefix="va"), "test": rows(50, prefix="te")}
    s = splits_for(tmp_path, files, "data.validation_limit=8", "data.test_limit=10")
    assert (len(s.train), len(s.validation), len(s.test)) == (40, 8, 10)
    assert set(texts(s.validation)) <= {t for t, _ in files["validation"]}
    assert set(texts(s.test)) <= {t for t, _ in files["test"]}
    assert label_counts(s.test) == {"a": 5, "b": 5}
    assert any("validation limited to 8 of 30" in n for n in s.notes)
    assert any("test limited to 10 of 50" in n for n in s.notes)


def test_limits_larger_than_the_data_change_nothing(tmp_path):
    files = {"train": rows(20, prefix="tr"), "validation": rows(4, prefix="va"), "test": rows(6, prefix="te")}
    s = splits_for(tmp_path, files, "data.train_limit=100", "data.validation_limit=4", "data.test_limit=7")
    assert (len(s.train), len(s.validation), len(s.test)) == (20, 4, 6)
    assert texts(s.test) == [t for t, _ in files["test"]] and s.notes == []


# ---------------------------------------------------------------- cleaning train

def test_duplicates_and_conflicts_dropped_from_train_and_counted(tmp_path):
    train = [("good film", "pos"), ("bad film", "neg"), ("good film", "pos"), ("good film", "pos"),
             ("so so", "pos"), ("so so", "neg"), ("so so", "pos"), ("fine", "pos"), ("awful", "neg")]
    test = [("good film", "pos"), ("good film", "pos"), ("nice", "pos")]
    s = splits_for(tmp_path, {"train": train, "validation": [("meh", "neg")], "test": test})
    assert [(e.text, e.label) for e in s.train] == [("good film", "pos"), ("bad film", "neg"),
                                                    ("fine", "pos"), ("awful", "neg")]
    assert dict(s.dropped) == {"duplicate row": 2, "text with conflicting labels": 3}
    assert texts(s.test) == ["good film", "good film", "nice"]  # test is never changed ...
    rep = build_report(s, None, 128)
    assert rep["dropped_while_cleaning"] == {"duplicate row": 2, "text with conflicting labels": 3}
    assert rep["splits"]["test"]["duplicates"] == 1  # ... but its problems are reported
    assert rep["splits"]["test"]["overlap_with_train"] == 2
    assert rep["splits"]["train"]["duplicates"] == 0


def test_dropped_rows_from_reading_reach_the_report(tmp_path):
    p = tmp_path / "train.csv"
    p.write_text("text,label\n" + "".join(f"t{i},{'ab'[i % 2]}\n" for i in range(20)) + ",a\nx,\nq,r,s\n",
                 encoding="utf-8")
    s = load_splits(load_config(None, [f"data.train={p}", "data.bad_rows=skip"]))
    rep = build_report(s, None, 128)
    assert rep["files"][str(p)]["dropped"] == {"malformed line": 1, "empty text": 1, "missing label": 1}
    assert rep["files"][str(p)]["rows"] == 23  # rows read = kept + dropped
    assert sum(e["examples"] for e in rep["splits"].values()) == 20
    assert f"{p}: 23 rows read; dropped: 1 malformed line, 1 empty text, 1 missing label" in format_report(rep, 128)


# ---------------------------------------------------------------- label checks

def test_label_unseen_in_train_names_file_and_line(tmp_path):
    test = [("t1", "a"), ("t2", "b"), ("t3", "neutral")]
    with pytest.raises(TuneforgeError) as e:
        splits_for(tmp_path, {"train": rows(20), "validation": rows(4, prefix="v"), "test": test})
    assert e.value.where == f"{tmp_path / 'test.csv'}:4"
    assert "'neutral'" in e.value.what and "test" in e.value.what and e.value.fix


def test_one_label_only(tmp_path):
    with pytest.raises(TuneforgeError) as e:
        splits_for(tmp_path, {"train": rows(20, {"a": 20})})
    assert "only one label (a)" in e.value.what


def test_ner_without_entities(tmp_path):
    p = tmp_path / "train.txt"
    p.write_text("".join(f"w{i} O\n\n" for i in range(10)), encoding="utf-8")
    with pytest.raises(TuneforgeError) as e:
        load_splits(load_config(None, ["task=token-classification", f"data.train={p}"]))
    assert "no entities" in e.value.what


# ---------------------------------------------------------------- the report: overlap and truncation

def make_splits(train, validation, test) -> Splits:
    ex = lambda pairs, name: [TextExample(t, l, f"{name}.csv:{i + 2}") for i, (t, l) in enumerate(pairs)]
    return Splits(ex(train, "train"), ex(validation, "validation"), ex(test, "test"))


def test_overlap_reported(tmp_path):
    s = make_splits([("a", "x"), ("b", "y"), ("c", "x")], [("a", "x"), ("d", "y")], [("b", "y"), ("c", "x"), ("e", "x")])
    rep = build_report(s, None, 128)
    assert rep["splits"]["validation"]["overlap_with_train"] == 1
    assert rep["splits"]["test"]["overlap_with_train"] == 2
    assert "overlap_with_train" not in rep["splits"]["train"]
    warnings = warnings_for(rep, 128)
    assert any(w.startswith("2 test examples also occur in train") for w in warnings)
    assert any(w.startswith("1 validation examples also occur in train") for w in warnings)


def test_truncation_share_from_lengths():
    s = make_splits([(f"t{i}", "ab"[i % 2]) for i in range(8)], [("v", "a"), ("w", "b")], [("u", "a")])
    lengths = {"train": [10, 20, 129, 128, 300, 40, 50, 60], "validation": [5, 7], "test": [1000]}
    rep = build_report(s, lengths, 128)
    tr = rep["splits"]["train"]
    assert tr["truncated_share"] == 0.25  # 129 and 300 exceed 128; exactly 128 fits
    assert tr["length_tokens"] == {"mean": 92.1, "p50": 55, "p95": 240, "max": 300}
    assert rep["splits"]["validation"]["truncated_share"] == 0.0
    assert rep["splits"]["test"]["truncated_share"] == 1.0
    warnings = warnings_for(rep, 128)
    assert any("25.0% of train examples exceed max_length=128" in w for w in warnings)
    assert not any("of validation examples exceed" in w for w in warnings)
    text = format_report(rep, 128)
    assert "25.0%" in text and "100.0%" in text


def test_report_without_lengths_has_no_truncation():
    rep = build_report(make_splits([("a", "x"), ("b", "y")], [], []), None, 128)
    assert "truncated_share" not in rep["splits"]["train"] and rep["splits"]["test"]["examples"] == 0
