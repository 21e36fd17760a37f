"""Token classification (NER): words in, one BIO tag per word out; scored at the entity level.

Alignment: a word's label sits on the first sub-token that carries the word. SentencePiece
tokenizers given pre-split words emit a bare '▁' piece before every word (for Chinese characters:
['▁','中','▁','国']), so "the first sub-token" would put every label on a '▁'. We drop such bare
'▁' pieces when the word has other pieces: the label lands on the character itself and the
sequence is half as long (Chinese text has no spaces between characters, so it is also closer to
what the model saw in pretraining).
"""

from __future__ import annotations

import re
from collections import Counter

import numpy as np
from seqeval.metrics import classification_report as entity_report
from seqeval.metrics import f1_score, precision_score, recall_score
from seqeval.scheme import IOB2
from sklearn.metrics import classification_report as token_report

from ..data.conll import split_tag, to_bio
from ..data.readers import TokenExample
from .base import Task, TaskDefaults, register_task

IGNORE = -100
_CJK = r"\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
_WORD_RE = re.compile(rf"[{_CJK}]|[^\s{_CJK}\W]+|[^\w\s]", re.UNICODE)


def split_words(text: str) -> list[tuple[str, int, int]]:
    """Raw text → (word, start, end): CJK characters one by one, otherwise word runs and punctuation."""
    return [(m.group(), m.start(), m.end()) for m in _WORD_RE.finditer(text)]


def repair_bio(tags: list[str]) -> list[str]:
    """Make a predicted tag sequence valid IOB2: an I- that does not continue its type becomes B-."""
    return to_bio([split_tag(t) for t in tags])[0]


def entities(tags: list[str]) -> list[tuple[str, int, int]]:
    """(type, first word, last word + 1) for each entity of a valid BIO sequence."""
    out, start, typ = [], None, None
    for i, t in enumerate(tags + ["O"]):
        if t == "O" or t.startswith("B-") or (t.startswith("I-") and t[2:] != typ):
            if start is not None:
                out.append((typ, start, i))
            start, typ = (i, t[2:]) if t != "O" else (None, None)
    return out


@register_task("token-classification")
class TokenClassificationTask(Task):
    metric_for_best = "entity_f1"
    confusion_title = "Test confusion (entity type per word)"
    headline_metrics = ("entity_f1", "entity_precision", "entity_recall", "token_accuracy")
    validation_metrics = ("entity_f1", "entity_precision", "entity_recall")
    label_kind = "entity types"
    input_kind = "tokens"
    peft_task_type = "TOKEN_CLS"
    # Measured on MSRA with multilingual-e5-small (BENCHMARKS.md; ../shared/ASSETS.md's probe): the
    # top layers of a contrastive sentence encoder are the worst for tokens, one shared rate leaves
    # NER on the all-'O' plateau, and dropout slows escape from it.
    defaults = TaskDefaults(learning_rate=1.5e-4, head_learning_rate=3e-3, num_layers=8, dropout=0.0)

    def summarize(self, pred: dict) -> tuple[str | None, float | None]:
        """The sorted entity types found (or 'O') and their mean confidence."""
        ents = pred.get("entities", [])
        scores = [e["confidence"] for e in ents if e.get("confidence") is not None]
        return (",".join(sorted({e["type"] for e in ents})) or "O"), (sum(scores) / len(scores) if scores else None)

    def card_parts(self, cfg, labels: list[str]) -> dict:
        return super().card_parts(cfg, labels) | {
            "headline": "entity-level F1 (seqeval, strict IOB2)",
            "example": ('{"text": "...", "entities": [{"type": "PER", "text": "...", "start": 0, "end": 2, '
                        '"confidence": 0.98}]}'),
            "hf": f'`AutoModelForTokenClassification.from_pretrained("{cfg.output_dir}")`',
        }

    def known_labels(self, labels: list[str]) -> set[str]:
        return {l[2:] for l in labels if l[:2] in ("B-", "I-")}

    @property
    def model_class(self):
        from transformers import AutoModelForTokenClassification
        return AutoModelForTokenClassification

    def labels(self, train: list[TokenExample]) -> list[str]:
        types = sorted({t[2:] for e in train for t in e.tags if t != "O"})
        return ["O"] + [f"{p}-{t}" for t in types for p in ("B", "I")]

    def collator(self, tokenizer):
        from transformers import DataCollatorForTokenClassification
        return DataCollatorForTokenClassification(tokenizer, label_pad_token_id=IGNORE)

    # -- alignment -----------------------------------------------------------------------------
    @staticmethod
    def _bare_ids(tokenizer) -> set[int]:
        cache = getattr(tokenizer, "_tuneforge_bare_ids", None)
        if cache is None:
            cache = {i for tok, i in tokenizer.get_vocab().items() if tok == "\u2581"}
            tokenizer._tuneforge_bare_ids = cache
        return cache

    def _align(self, tokenizer, sentences: list[list[str]], max_length: int):
        """Per sentence: (input_ids, index of the labeled piece per word or None if truncated)."""
        bare = self._bare_ids(tokenizer)
        start_id = tokenizer.cls_token_id if tokenizer.cls_token_id is not None else tokenizer.bos_token_id
        end_id = tokenizer.sep_token_id if tokenizer.sep_token_id is not None else tokenizer.eos_token_id
        budget = max_length - 2
        enc = tokenizer(sentences, is_split_into_words=True, add_special_tokens=False)
        out = []
        for s, words in enumerate(sentences):
            pieces: list[list[int]] = [[] for _ in words]
            for tok_id, w in zip(enc["input_ids"][s], enc.word_ids(s)):
                if w is not None:
                    pieces[w].append(tok_id)
            ids, first = [start_id], []
            for w, p in enumerate(pieces):
                if len(p) > 1 and p[0] in bare:
                    p = p[1:]
                if not p:  # the tokenizer dropped the word (e.g. a control character)
                    p = [tokenizer.unk_token_id]
                if len(ids) - 1 + len(p) > budget:
                    first.extend([None] * (len(words) - w))  # truncated: these words get 'O'
                    break
                first.append(len(ids))
                ids.extend(p)
            ids.append(end_id)
            out.append((ids, first))
        return out

    def encode(self, tokenizer, examples: list[TokenExample], labels: list[str], max_length: int) -> list[dict]:
        index = {l: i for i, l in enumerate(labels)}
        feats = []
        for ex, (ids, first) in zip(examples, self._align(tokenizer, [e.tokens for e in examples], max_length)):
            lab = [IGNORE] * len(ids)
            for pos, tag in zip(first, ex.tags):
                if pos is not None and tag in index:
                    lab[pos] = index[tag]
            feats.append({"input_ids": ids, "attention_mask": [1] * len(ids), "labels": lab})
        return feats

    def length_of(self, tokenizer, examples: list[TokenExample]) -> list[int]:
        return [len(ids) for ids, _ in self._align(tokenizer, [e.tokens for e in examples], 10**9)]

    # -- metrics -------------------------------------------------------------------------------
    def compute_metrics(self, labels: list[str]):
        def fn(pred):
            preds, gold = np.asarray(pred.predictions), np.asarray(pred.label_ids)
            y_true, y_pred = [], []
            for p_row, g_row in zip(preds, gold):
                keep = g_row != IGNORE
                y_true.append([labels[i] for i in g_row[keep]])
                y_pred.append(repair_bio([labels[i] for i in p_row[keep]]))
            return self._entity_metrics(y_true, y_pred)
        return fn

    @staticmethod
    def preprocess_logits(logits, labels):
        return logits.argmax(-1)

    @staticmethod
    def _entity_metrics(y_true, y_pred) -> dict:
        kw = dict(mode="strict", scheme=IOB2, zero_division=0)
        return {"entity_f1": float(f1_score(y_true, y_pred, **kw)),
                "entity_precision": float(precision_score(y_true, y_pred, **kw)),
                "entity_recall": float(recall_score(y_true, y_pred, **kw))}

    def _predict_tags(self, model, tokenizer, sentences, labels, max_length, batch_size, bf16, progress=False):
        aligned = self._align(tokenizer, sentences, max_length)
        feats = [{"input_ids": ids, "attention_mask": [1] * len(ids)} for ids, _ in aligned]
        logits = self.batched_logits(model, feats, self.collator(tokenizer), batch_size, bf16, progress)
        tags, truncated = [], 0
        for (ids, first), lg in zip(aligned, logits):
            probs = lg.softmax(-1)
            best = probs.argmax(-1).tolist()
            row = [labels[best[p]] if p is not None else "O" for p in first]
            truncated += sum(p is None for p in first)
            tags.append((repair_bio(row), [float(probs[p].max()) if p is not None else None for p in first]))
        return tags, truncated

    def evaluate(self, model, tokenizer, examples: list[TokenExample], labels: list[str], max_length: int,
                 batch_size: int, bf16: bool, progress: bool = True) -> dict:
        tagged, truncated = self._predict_tags(model, tokenizer, [e.tokens for e in examples], labels,
                                               max_length, batch_size, bf16, progress)
        y_true = [e.tags for e in examples]
        y_pred = [t for t, _ in tagged]
        metrics = self._entity_metrics(y_true, y_pred)
        flat_t = [t for s in y_true for t in s]
        flat_p = [t for s in y_pred for t in s]
        metrics.update({"token_accuracy": float(np.mean([a == b for a, b in zip(flat_t, flat_p)])),
                        "n": len(examples), "truncated_words": truncated})
        report = ("Entity level (seqeval, strict IOB2)\n"
                  + entity_report(y_true, y_pred, mode="strict", scheme=IOB2, digits=4, zero_division=0)
                  + "\nToken level (word tags; flatters: O dominates)\n"
                  + token_report(flat_t, flat_p, labels=sorted(set(flat_t) | set(flat_p)), digits=4,
                                 zero_division=0))
        types = sorted({t[2:] for t in labels if t != "O"})
        # Entity-type confusion over words (O included): where do the tags go wrong?
        kinds = ["O"] + types
        conf = Counter((a[2:] or "O", b[2:] or "O") for a, b in zip(flat_t, flat_p))
        confusion = [[conf[(a, b)] for b in kinds] for a in kinds]
        predictions = [{"tokens": e.tokens, "tags": e.tags, "predicted": p}
                       for e, p in zip(examples, y_pred)]
        return {"metrics": metrics, "report": report, "confusion": confusion, "confusion_labels": kinds,
                "predictions": predictions}

    def predict(self, model, tokenizer, texts: list[str], labels: list[str], max_length: int,
                batch_size: int, bf16: bool) -> list[dict]:
        words = [split_words(t) for t in texts]
        tagged, _ = self._predict_tags(model, tokenizer, [[w for w, _, _ in ws] or ["."] for ws in words],
                                       labels, max_length, batch_size, bf16)
        out = []
        for text, ws, (tags, conf) in zip(texts, words, tagged):
            ents = []
            for typ, a, b in entities(tags[:len(ws)]):
                start, end = ws[a][1], ws[b - 1][2]
                scores = [c for c in conf[a:b] if c is not None]
                ents.append({"type": typ, "text": text[start:end], "start": start, "end": end,
                             "confidence": round(float(np.mean(scores)), 6) if scores else None})
            out.append({"text": text, "entities": ents})
        return out
