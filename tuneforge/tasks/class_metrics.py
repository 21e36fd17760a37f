"""Metrics shared by the single-label classification tasks (text and image): accuracy and macro-F1 over
every class of the label map, during training (Trainer) and in the final evaluation."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, f1_score


def accuracy_macro_f1(y_true, y_pred, n_labels: int) -> dict:
    # labels= every class: a class absent from this split still counts (as F1 0) instead of vanishing
    ids = list(range(n_labels))
    return {"accuracy": float(accuracy_score(y_true, y_pred)),
            "macro_f1": float(f1_score(y_true, y_pred, average="macro", labels=ids, zero_division=0))}


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
