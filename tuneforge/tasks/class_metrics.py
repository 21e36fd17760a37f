"""Metrics shared by the classification tasks: accuracy and macro-F1 over every class of the label map for
single-label tasks (text and image), micro/macro-F1 and exact-set accuracy for label sets (multi-label), during
training (Trainer), in the final evaluation and for the TF-IDF baseline."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, f1_score


def accuracy_macro_f1(y_true, y_pred, n_labels: int) -> dict:
    # labels= every class: a class absent from this split still counts (as F1 0) instead of vanishing
    ids = list(range(n_labels))
    return {"accuracy": float(accuracy_score(y_true, y_pred)),
            "macro_f1": float(f1_score(y_true, y_pred, average="macro", labels=ids, zero_division=0))}


def label_matrix(label_sets: list, labels: list[str]) -> np.ndarray:
    """Label sets as a 0/1 matrix, one row per example, one column per label (a label not in `labels` is left out:
    the model cannot say it)."""
    index = {l: i for i, l in enumerate(labels)}
    y = np.zeros((len(label_sets), len(labels)), dtype=int)
    for r, labs in enumerate(label_sets):
        for l in labs:
            if l in index:
                y[r, index[l]] = 1
    return y


def label_set_f1(y_true, y_pred) -> dict:
    """Multi-label scores from 0/1 matrices (examples x labels): micro-F1 (every yes/no decision pooled: the
    headline), macro-F1 (each label's F1 averaged: rare labels count as much as common ones) and exact-set accuracy
    (the whole set right)."""
    y_true, y_pred = np.asarray(y_true, dtype=int), np.asarray(y_pred, dtype=int)
    return {"micro_f1": float(f1_score(y_true, y_pred, average="micro", zero_division=0)),
            "macro_f1": float(f1_score(y_true, y_pred, average="macro", zero_division=0)),
            "exact_match": float((y_true == y_pred).all(axis=1).mean()) if len(y_true) else 0.0}


def label_set_confusion(true_sets: list, pred_sets: list, labels: list[str]) -> tuple[list[str], list[list[int]]]:
    """A square table over the labels plus "(none)" for label sets (after Heydarian et al.'s multi-label confusion
    matrix, 2022). For each text and each of its true labels: the diagonal when it was predicted, else each wrongly
    predicted label's column, else "(none)" (missed, nothing in its place); a wrong label on a text whose true labels
    were all found counts in the "(none)" row."""
    kinds = list(labels) + sorted({l for s in (*true_sets, *pred_sets) for l in s} - set(labels)) + ["(none)"]
    index = {k: i for i, k in enumerate(kinds)}
    matrix = [[0] * len(kinds) for _ in kinds]
    for true, pred in zip(map(set, true_sets), map(set, pred_sets)):
        extra = sorted(pred - true)
        for t in sorted(true):
            for p in ([t] if t in pred else extra or ["(none)"]):
                matrix[index[t]][index[p]] += 1
        if true <= pred:
            for p in extra:
                matrix[index["(none)"]][index[p]] += 1
    return kinds, matrix


class ClassificationMetrics:
    """Mixin for a Task whose model outputs one logit per class."""

    headline_metrics = ("accuracy", "macro_f1")
    validation_metrics = ("accuracy", "macro_f1")
    single_label = True

    def compute_metrics(self, labels: list[str]):
        def fn(pred):
            return accuracy_macro_f1(np.asarray(pred.label_ids).reshape(-1), np.asarray(pred.predictions).reshape(-1),
                                     len(labels))
        return fn

    @staticmethod
    def preprocess_logits(logits, labels):
        return logits.argmax(-1)  # keep only the class id: evaluation memory stays O(examples)
