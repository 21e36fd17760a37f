"""Per-class offsets on the output logits, chosen on the validation split after training (`train.decision_bias`).

Why: on 300 training sentences with a 10 % minority class (uncertainty-en small, issue 17) the balanced class
weights did not survive training. The encoder fits all 300 examples (training loss 0.0003 by step 126), and a
model that fits every example sees the same gradient whatever the weights. On the balanced validation split it then
answered "certain" for 2 of 3 sentences, scoring macro-F1 0.51. Adding 3.0 to the minority logit, the offset
chosen on validation, raised validation to 0.67 and the untouched test split from 0.50 to 0.60. That is post-hoc
logit adjustment (Menon et al., 2021): a weighted loss changes nothing once the model interpolates the training data
(Byrd & Lipton, 2019), but a shift of the decision boundary still helps. It is a validation choice and as noisy as
the validation split: on reviews-nl small the offset (-4.6) added 5 points on validation and cost 1.2 on test
(BENCHMARKS.md).

The offsets are added to the classifier's output bias, so every later stage uses them without knowing about them:
predict, serve, each export format, and plain `transformers`. They are kept only when they raise the validation
macro-F1 (the selection metric) by at least MIN_GAIN, and each is the smallest shift that reaches its best score,
so that a validation split of a few dozen rows cannot move the boundary for a one-example gain. Offsets are in
log-probability units, relative to the first label, whose offset stays 0 (softmax ignores a common shift).
"""

from __future__ import annotations

import numpy as np
import torch

from ..config import Config
from ..evaluation.logit_offsets import MIN_GAIN, choose_label_offsets, choose_offsets
from ..tasks.class_metrics import label_matrix
from .auto import Choice


def output_layer(model, n_labels: int) -> torch.nn.Linear | None:
    """The last Linear with one output per label: the classifier (BERT, SetFit) or its out_proj (XLM-R). Under a
    PEFT adapter the head is a trained copy (modules_to_save) beside the untouched `original_module`, which never
    runs: the copy is the one to shift, and the adapter and the merged weights both save it."""
    found = [m for name, m in model.named_modules() if isinstance(m, torch.nn.Linear) and m.out_features == n_labels
             and "original_module" not in name.split(".")]
    return found[-1] if found else None


def apply_decision_bias(cfg: Config, task, model, processor, labels: list[str], validation, bf16: bool) -> Choice | None:
    """Choose offsets on validation and fold them into the model's output bias, in place; the choice is recorded."""
    if cfg.train.decision_bias != "auto" or not (task.single_label or task.multi_label) or len(labels) < 2:
        return None
    if not validation or not hasattr(task, "class_scores"):
        return None
    layer = output_layer(model, len(labels))
    if layer is None or layer.bias is None:
        return Choice("train.decision_bias", "none", "the model's output layer has no bias to shift")
    if task.multi_label:
        return _label_thresholds(cfg, task, model, processor, labels, validation, bf16, layer)
    index = {l: i for i, l in enumerate(labels)}
    y = np.array([index.get(e.label, -1) for e in validation])
    keep = y >= 0  # a validation label unseen in training cannot be predicted whatever the offsets
    scores = task.class_scores(model, processor, validation, cfg.train.max_length, cfg.train.eval_batch_size, bf16)
    offsets, before, after = choose_offsets(scores[keep], y[keep])
    return _fold(layer, labels, offsets, before, after, "macro-F1", f"{int(keep.sum())} validation examples",
                 "no offset", "the output logits", "the boundary moves toward the classes given positive offsets")


def _fold(layer: torch.nn.Linear, labels: list[str], offsets, before: float, after: float, metric: str, counts: str,
          none: str, where: str, meaning: str) -> Choice:
    """Add the offsets to the output bias when they raise the validation metric by MIN_GAIN; the choice says so."""
    if after - before < MIN_GAIN:
        return Choice("train.decision_bias", "none", f"{none} raises validation {metric} by {MIN_GAIN:.0%} "
                                                     f"({before:.4f} → at most {after:.4f}, {counts})")
    with torch.no_grad():
        layer.bias.add_(torch.as_tensor(offsets, dtype=layer.bias.dtype, device=layer.bias.device))
    shifted = ", ".join(f"{labels[c]} {offsets[c]:+.1f}" for c in range(len(labels)) if offsets[c])
    return Choice("train.decision_bias", shifted, f"added to {where}: validation {metric} {before:.4f} → {after:.4f} "
                                                  f"on {counts} ({meaning}; test data not used)")


def _label_thresholds(cfg: Config, task, model, processor, labels: list[str], validation, bf16: bool,
                      layer: torch.nn.Linear) -> Choice:
    """Label sets: one offset per label on its logit, i.e. a per-label threshold other than probability 0.5, kept
    when together they raise validation micro-F1 (the selection metric) by MIN_GAIN."""
    y = label_matrix([e.labels for e in validation], labels)
    scores = task.class_scores(model, processor, validation, cfg.train.max_length, cfg.train.eval_batch_size, bf16)
    offsets, before, after = choose_label_offsets(scores, y)
    return _fold(layer, labels, offsets, before, after, "micro-F1", f"{len(validation)} validation examples",
                 "no per-label threshold", "the label logits (a label is predicted above 0)",
                 "a positive offset lowers that label's threshold")
