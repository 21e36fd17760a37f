"""The in-run TF-IDF + logistic regression baseline: word or character n-grams by script, C chosen on
validation only, and the plain verdict when fine-tuning does not beat it."""

from __future__ import annotations

import random

import pytest

from tuneforge.data.readers import TextExample
from tuneforge.evaluation import baseline as bl

POS, NEG = ["good", "great", "lovely"], ["bad", "awful", "boring"]


def sentiment(n: int, seed: int, flip: float = 0.0) -> list[TextExample]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        lab = rng.choice(["pos", "neg"])
        word = rng.choice(POS if lab == "pos" else NEG)
        if rng.random() < flip:
            lab = "neg" if lab == "pos" else "pos"
        out.append(TextExample(f"the {rng.choice(['movie', 'plot'])} was {word} {i}", lab))
    return out


def test_script_decides_words_or_characters():
    assert bl.vectorizer(["the movie was good"] * 3)[1] == "word 1-2-grams"
    assert bl.vectorizer(["这部电影很好看", "服务太差了"])[1] == "character 1-3-grams"
    assert bl.vectorizer(["この映画はとても良かった"])[1] == "character 1-3-grams"
    assert bl.unsegmented_share(["good 好"]) == pytest.approx(1 / 5)


def test_baseline_learns_a_word_pattern_and_reports_both_splits():
    res = bl.tfidf_baseline(sentiment(200, 0), sentiment(60, 1), sentiment(60, 2), ["neg", "pos"])
    assert res["test"]["macro_f1"] >= 0.95 and res["validation"]["n"] == res["test"]["n"] == 60
    assert res["C"] in bl.C_GRID and res["chosen_on"] == "validation macro-F1"


def test_chinese_characters_are_features():
    rows = [("这个很好", "pos"), ("非常好看", "pos"), ("太差了", "neg"), ("很差劲", "neg")] * 20
    ex = [TextExample(t + str(i), l) for i, (t, l) in enumerate(rows)]
    res = bl.tfidf_baseline(ex[:60], ex[60:70], ex[70:], ["neg", "pos"])
    assert "character" in res["model"] and res["test"]["macro_f1"] == 1.0


def test_choices_are_made_on_validation_and_never_see_test(monkeypatch):
    """The chosen C must depend only on validation: a test set with inverted labels changes the test score,
    never the choice."""
    train, val = sentiment(120, 0, flip=0.15), sentiment(60, 1, flip=0.15)
    a = bl.tfidf_baseline(train, val, sentiment(60, 2), ["neg", "pos"])
    inverted = [TextExample(e.text, "neg" if e.label == "pos" else "pos") for e in sentiment(60, 2)]
    b = bl.tfidf_baseline(train, val, inverted, ["neg", "pos"])
    assert (a["C"], a["class_weight"], a["decision_bias"]) == (b["C"], b["class_weight"], b["decision_bias"])
    assert a["validation"] == b["validation"]
    assert b["test"]["macro_f1"] < 0.5 < a["test"]["macro_f1"]


def test_the_choice_is_the_best_on_validation_of_the_whole_grid():
    rng = random.Random(3)

    def rows(n):  # ~10 % pos; the rare class shares words with the common one, so weighting matters
        out = []
        for _ in range(n):
            lab = "pos" if rng.random() < 0.1 else "neg"
            word = rng.choice(["fine", "ok", "good"] if lab == "pos" else ["fine", "ok", "bad"])
            out.append(TextExample(f"{word} {rng.choice(['movie', 'plot', 'cast'])}", lab))
        return out
    train, val = rows(300), rows(100)
    res = bl.tfidf_baseline(train, val, rows(100), ["neg", "pos"])
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score

    from tuneforge.evaluation.logit_offsets import MIN_GAIN, choose_offsets
    vec = TfidfVectorizer(ngram_range=(1, 2), token_pattern=r"(?u)\b\w+\b", sublinear_tf=True)
    x, xv = vec.fit_transform([e.text for e in train]), vec.transform([e.text for e in val])
    y_val = np.array([e.label == "pos" for e in val], dtype=int)

    def after_offsets(c, w):  # each candidate scored with its own validation-chosen offsets
        logp = LogisticRegression(C=c, class_weight=w, max_iter=2000, solver="liblinear").fit(
            x, [e.label == "pos" for e in train]).predict_log_proba(xv)
        off, before, after = choose_offsets(logp, y_val)
        return after if after - before >= MIN_GAIN else before
    plain = max(f1_score(y_val, LogisticRegression(C=c, class_weight=w, max_iter=2000, solver="liblinear")
                         .fit(x, [e.label == "pos" for e in train]).predict(xv), average="macro", zero_division=0)
                for c in bl.C_GRID for w in bl.WEIGHTS)
    best = max(after_offsets(c, w) for c in bl.C_GRID for w in bl.WEIGHTS)
    assert res["validation"]["macro_f1"] == pytest.approx(best, abs=1e-4)
    assert best >= plain  # the offsets never make the grid's best candidate worse on validation
    assert res["decision_bias"] == "none" or res["decision_bias"].startswith("pos ")


def test_without_validation_the_defaults_are_used_and_said():
    res = bl.tfidf_baseline(sentiment(100, 0), [], sentiment(30, 2), ["neg", "pos"])
    assert res["C"] == 1.0 and "no validation" in res["chosen_on"] and "validation" not in {"validation"} & res.keys()


def test_verdict_only_when_not_beaten_on_validation():
    m = {"validation": {"macro_f1": 0.6}, "baseline_tfidf": {"validation": {"macro_f1": 0.7}}}
    assert bl.beaten(m) is False and "does not beat the TF-IDF baseline" in bl.verdict(m)
    m["validation"]["macro_f1"] = 0.71
    assert bl.beaten(m) is True and bl.verdict(m) is None
    assert bl.beaten({"validation": {"macro_f1": 0.5}}) is None  # baseline off: nothing to say


@pytest.mark.parametrize("on", [True, False])
def test_a_run_reports_the_baseline_beside_the_model_or_not_when_turned_off(tmp_path, tiny_bert, on):
    import json
    from factories import make_config, write_sentiment
    from tuneforge.config import load_config
    from tuneforge.train.run import train
    data = write_sentiment(tmp_path / "reviews.csv", 120)
    cfg = load_config(make_config(tmp_path, tiny_bert, "text-classification",
                                  {"train": str(data), "text_column": "review", "label_column": "stars"},
                                  epochs=1, baseline=on))
    out = train(cfg, progress=False)
    m = json.loads((out / "metrics.json").read_text())
    card, report = (out / "README.md").read_text(), (out / "report.txt").read_text()
    if not on:
        assert "baseline_tfidf" not in m and "TF-IDF" not in card and "TF-IDF" not in report
        return
    tb = m["baseline_tfidf"]
    assert tb["test"]["n"] == m["test"]["n"] and tb["validation"]["n"] == m["validation"]["n"]
    assert tb["beaten_on_validation"] is (m["validation"]["macro_f1"] > tb["validation"]["macro_f1"])
    assert f"macro_f1 {tb['test']['macro_f1']}" in card and "TF-IDF (word 1-2-grams)" in report
    assert ("does not beat the TF-IDF baseline" in card) is (not tb["beaten_on_validation"])
