"""Multi-label text classification: a text in, any number of labels out, each with its own probability.

The data's label cell holds a set (`comedy|drama`, split on data.label_separator: the data layer reads it as a
LabelSetExample). The model is a text classifier whose head gives one logit per label, trained with binary
cross-entropy (transformers' problem_type "multi_label_classification", which plain Hugging Face loading and its
pipeline read back: sigmoid scores, not softmax). A label is predicted when its logit is above 0; the per-label
thresholds chosen on validation (train.decision_bias) are folded into the head's bias, so every format and plain
transformers agree. Headline: micro-F1 (every yes/no decision pooled), macro-F1 (rare labels count as much as common
ones), and exact-set accuracy.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.metrics import classification_report

from ..data.readers import LabelSetExample
from .base import register_task
from .class_metrics import label_matrix, label_set_confusion, label_set_f1
from .text_classification import TextClassificationTask

PROBLEM_TYPE = "multi_label_classification"


def decision_confidence(probs: np.ndarray) -> float:
    """How sure the least sure yes/no decision of one text is: a set is only as certain as its weakest label."""
    return float(np.maximum(probs, 1 - probs).min()) if len(probs) else 1.0


@register_task("multi-label-classification")
class MultiLabelClassificationTask(TextClassificationTask):
    metric_for_best = "micro_f1"
    headline_metrics = ("micro_f1", "macro_f1", "exact_match")
    validation_metrics = ("micro_f1", "macro_f1", "exact_match")
    single_label = False
    multi_label = True
    input_kind = "text-multilabel"
    confusion_title = "Test labels: true (rows) against predicted (columns)"

    def build_model(self, backbone_path: str, labels: list[str], cfg):
        model, fresh = super().build_model(backbone_path, labels, cfg)
        model.config.problem_type = PROBLEM_TYPE  # read at forward time (the loss) and saved into config.json
        return model, fresh

    def labels(self, train: list[LabelSetExample]) -> list[str]:
        return sorted({l for e in train for l in e.labels})

    def known_labels(self, labels: list[str]) -> set[str]:
        return set(labels)

    def encode(self, tokenizer, examples, labels: list[str], max_length: int) -> list[dict]:
        feats = super().encode(tokenizer, examples, [], max_length)  # text features only
        if not labels:
            return feats
        index = {l: i for i, l in enumerate(labels)}
        for f, e in zip(feats, examples):
            hot = [0.0] * len(labels)  # float: binary cross-entropy's targets
            for l in getattr(e, "labels", ()):
                if l in index:
                    hot[index[l]] = 1.0
            f["labels"] = hot
        return feats

    def compute_metrics(self, labels: list[str]):
        def fn(pred):
            return label_set_f1(np.asarray(pred.label_ids) > 0.5, np.asarray(pred.predictions))
        return fn

    @staticmethod
    def preprocess_logits(logits, labels):
        return (logits > 0).to(torch.int8)  # the decisions only: evaluation memory stays small


    def evaluate(self, model, tokenizer, examples, labels: list[str], max_length: int, batch_size: int, bf16: bool,
                 progress: bool = True) -> dict:
        feats = self.encode(tokenizer, examples, [], max_length)
        logits = torch.stack(self.batched_logits(model, feats, self.collator(tokenizer), batch_size, bf16, progress))
        probs = logits.sigmoid().numpy()
        y_pred = (logits > 0).numpy().astype(int)
        y_true = label_matrix([e.labels for e in examples], labels)
        metrics = {**label_set_f1(y_true, y_pred), "n": len(examples)}
        report = classification_report(y_true, y_pred, target_names=labels, digits=4, zero_division=0)
        predicted = [[labels[j] for j in np.flatnonzero(row)] for row in y_pred]
        kinds, confusion = label_set_confusion([e.labels for e in examples], predicted, labels)
        predictions = [{"text": e.text, "label": e.label, "labels": list(e.labels), "predicted": "|".join(p),
                        "predicted_labels": p, "confidence": decision_confidence(probs[i])}
                       for i, (e, p) in enumerate(zip(examples, predicted))]
        return {"metrics": metrics, "report": report, "confusion": confusion, "confusion_labels": kinds,
                "predictions": predictions}

    def class_scores(self, model, tokenizer, examples, max_length: int, batch_size: int, bf16: bool) -> np.ndarray:
        """Each label's logit per example (train/decision_bias.py chooses per-label thresholds on these)."""
        logits = self.batched_logits(model, self.encode(tokenizer, examples, [], max_length),
                                     self.collator(tokenizer), batch_size, bf16)
        return torch.stack(logits).cpu().numpy()

    def predict(self, model, tokenizer, texts: list[str], labels: list[str], max_length: int, batch_size: int,
                bf16: bool) -> list[dict]:
        feats = self.encode_texts(tokenizer, texts, max_length)
        out = []
        for text, lg in zip(texts, self.batched_logits(model, feats, self.collator(tokenizer), batch_size, bf16)):
            p = lg.sigmoid().tolist()
            out.append({"text": text, "labels": [l for l, v in zip(labels, lg.tolist()) if v > 0],
                        "probabilities": {l: round(v, 6) for l, v in zip(labels, p)}})
        return out

    def summarize(self, pred: dict) -> tuple[str | None, float | None]:
        """Drift counts label sets as one value each ("(none)" when no label applies), with the least sure
        decision's confidence."""
        if "labels" not in pred:
            return None, None
        probs = np.array(list(pred.get("probabilities", {}).values()), dtype=float)
        return "|".join(pred["labels"]) or "(none)", decision_confidence(probs)

    def card_parts(self, cfg, labels: list[str]) -> dict:
        parts = super().card_parts(cfg, labels)
        o = cfg.output_dir
        parts["headline"] = "micro F1 (every label decision pooled), macro F1 (per label, averaged), exact-set accuracy"
        parts["example"] = '{"text": "...", "labels": ["%s"], "probabilities": {...}}' % labels[0]
        parts["hf"] += (f"; its config says problem_type multi_label_classification, so read the scores with a sigmoid "
                        f"(`pipeline(\"text-classification\", model=\"{o}\", top_k=None)` does): a label applies when "
                        f"its probability is above 0.5 (the validation-chosen thresholds are in the head's bias)")
        parts["limits"] += "; a label seen on few training texts is predicted rarely (see its row in report.txt)"
        return parts
