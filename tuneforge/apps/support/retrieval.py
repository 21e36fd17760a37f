"""Finding the FAQ entry a message asks about: BM25 (lexical) and a sentence encoder (dense), fused by
reciprocal rank fusion.

BM25 is `rank_bm25.BM25Okapi` (k1=1.5, b=0.75) over the FAQ *questions*. Tokens: Latin-script words
lower-cased (no stemming, no stop list: IDF already discounts "the"), and for Chinese, which has no spaces,
every character *and* every adjacent character pair of a CJK run ("退款吗" -> 退 款 吗 退款 款吗): single
characters match a reworded question, bigrams reward the words it shares, and no segmenter (jieba) has to
be right about word boundaries in a three-word question.

Dense: mean-pooled, L2-normalised last hidden states of a packaged sentence encoder, the pooling both
packaged encoders were trained for (tuneforge.methods.zero_shot_embed). multilingual-e5 was trained with
role prefixes: question and message are both embedded as "query: ..." (e5's advice for symmetric tasks).

Fusion: RRF (Cormack et al. 2009), score = sum over the two rankings of 1 / (k + rank), k = 60. It needs
no score calibration between BM25 (unbounded) and cosines, which is why it is the usual hybrid default. An
entry with no word in common with the message is left out of the BM25 ranking instead of being ranked
by the arbitrary order of zero scores.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ...errors import TuneforgeError

RRF_K = 60
MODES = ("fused", "dense", "bm25")
_CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_WORD = re.compile(r"[^\W_]+")  # letters and digits of any script; CJK runs are cut out first


def tokenize(text: str) -> list[str]:
    """BM25 tokens: lower-cased words; for CJK runs, characters plus character bigrams."""
    tokens: list[str] = []
    pos = 0
    for m in _CJK_RUN.finditer(text):
        tokens += _WORD.findall(text[pos:m.start()].lower())
        run = m.group(0)
        tokens += list(run) + [run[i:i + 2] for i in range(len(run) - 1)]
        pos = m.end()
    tokens += _WORD.findall(text[pos:].lower())
    return tokens


class BM25Index:
    def __init__(self, docs: list[str]):
        from rank_bm25 import BM25Okapi
        toks = [tokenize(d) for d in docs]
        # BM25Okapi divides by the mean document length: an index of texts with no word at all would be 0/0
        if not any(toks):
            raise TuneforgeError("no FAQ question has a word or character BM25 can index", where="--faq",
                                 fix="write the questions as text")
        self.bm25 = BM25Okapi([t or ["\x00"] for t in toks])  # a question of only punctuation matches nothing
        self.n = len(docs)

    def scores(self, query: str) -> np.ndarray:
        q = tokenize(query)
        return self.bm25.get_scores(q) if q else np.zeros(self.n)


def needs_e5_prefix(backbone: str, path: str) -> bool:
    from ...methods.zero_shot_embed import needs_e5_prefixes
    return needs_e5_prefixes(backbone, path)


class Encoder:
    """A packaged sentence encoder (or any local BERT-like directory, such as a tuned retriever) that embeds
    texts into unit vectors. `prefix`: prepended to every text; None: "query: " for e5 encoders."""

    def __init__(self, backbone: str, batch_size: int = 64, max_length: int = 128, bf16: bool | None = None,
                 prefix: str | None = None):
        from transformers import AutoModel, AutoTokenizer

        from ...backbones.registry import resolve_backbone
        from ...tasks.base import bf16_supported
        path = resolve_backbone(backbone)
        self.tok = AutoTokenizer.from_pretrained(path)
        self.model = AutoModel.from_pretrained(path)
        self.model.eval()
        self.prefix = prefix if prefix is not None else "query: " if needs_e5_prefix(backbone, path) else ""
        self.batch_size, self.max_length = batch_size, max_length
        self.bf16 = bf16_supported() if bf16 is None else bf16

    def forward(self, texts: list[str], max_length: int | None = None):
        """Unit vectors [len(texts), hidden] as a tensor, with gradients when the caller trains."""
        import torch

        from ...methods.zero_shot_embed import mean_pool
        enc = self.tok([self.prefix + t for t in texts], padding=True, truncation=True,
                       max_length=max_length or self.max_length, return_tensors="pt")
        hidden = self.model(**enc).last_hidden_state.float()
        return torch.nn.functional.normalize(mean_pool(hidden, enc["attention_mask"]), dim=-1)

    def embed(self, texts: list[str]) -> np.ndarray:
        import torch

        from ...tasks.base import autocast
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # similar lengths pad little
        out = np.zeros((len(texts), self.model.config.hidden_size), dtype=np.float32)
        with torch.inference_mode(), autocast(self.bf16):
            for s in range(0, len(order), self.batch_size):
                idx = order[s:s + self.batch_size]
                out[idx] = self.forward([texts[i] for i in idx]).numpy()
        return out

    def save(self, path) -> None:
        self.model.save_pretrained(path)
        self.tok.save_pretrained(path)


@dataclass
class Hit:
    index: int  # position in the FAQ
    score: float  # the ranking's own score: RRF, cosine or BM25
    cosine: float | None  # the message's cosine with the entry's question (None in BM25-only mode)
    bm25_rank: int | None  # 1-based; None: no word in common
    dense_rank: int | None


def _ranks(scores: np.ndarray, allowed: np.ndarray, positive_only: bool) -> np.ndarray:
    """1-based rank of every entry (0: not ranked). Stable: ties keep FAQ order."""
    keep = allowed & (scores > 0) if positive_only else allowed.copy()
    idx = np.flatnonzero(keep)
    order = idx[np.argsort(-scores[idx], kind="stable")]
    ranks = np.zeros(len(scores), dtype=np.int64)
    ranks[order] = np.arange(1, len(order) + 1)
    return ranks


class Retriever:
    """BM25 + dense over FAQ questions. `search(messages)` ranks for many messages at once (one encoder
    batch), which is what both the chat endpoint (one message) and the benchmark (hundreds) need."""

    def __init__(self, questions: list[str], backbone: str | None = "minilm-l6", encoder: Encoder | None = None,
                 rrf_k: int = RRF_K, dense_weight: float = 0.5):
        self.questions = questions
        self.bm25 = BM25Index(questions)
        self.encoder = encoder or (Encoder(backbone) if backbone else None)
        self.vectors = self.encoder.embed(questions) if self.encoder else None
        self.rrf_k = rrf_k
        # the dense ranking's share of the fused score: 0.5 is plain RRF; a tuned retriever's run chooses it on
        # validation (a dense ranking tuned on the FAQ may deserve more than half)
        self.dense_weight = dense_weight

    def search(self, messages: list[str], mode: str = "fused", top_k: int = 3,
               allowed: list[np.ndarray | None] | None = None, vectors: np.ndarray | None = None) -> list[list[Hit]]:
        """Top `top_k` entries per message. `allowed`: per message, a mask of the entries it may match
        (intent routing). `vectors`: the messages' embeddings when already computed (the benchmark ranks the
        same messages three ways)."""
        if mode not in MODES:
            raise TuneforgeError(f"unknown retrieval mode {mode!r}", where="mode", fix=f"use one of {', '.join(MODES)}")
        if mode != "bm25" and self.encoder is None:
            raise TuneforgeError(f"mode {mode!r} needs a sentence encoder", where="backbone",
                                 fix="give a backbone (minilm-l6, multilingual-e5-small) or use mode bm25")
        n = len(self.questions)
        if mode != "bm25":
            cos = (self.encoder.embed(messages) if vectors is None else vectors) @ self.vectors.T
        else:
            cos = None
        out = []
        for i, msg in enumerate(messages):
            ok = allowed[i] if allowed is not None and allowed[i] is not None else np.ones(n, dtype=bool)
            bm = self.bm25.scores(msg) if mode != "dense" else np.zeros(n)
            br = _ranks(bm, ok, positive_only=True)
            dr = _ranks(cos[i], ok, positive_only=False) if cos is not None else np.zeros(n, dtype=np.int64)
            if mode == "fused":
                w = self.dense_weight
                score = (2 * (1 - w) * np.where(br > 0, 1.0 / (self.rrf_k + br), 0.0)
                         + 2 * w * np.where(dr > 0, 1.0 / (self.rrf_k + dr), 0.0))
            else:
                score = bm if mode == "bm25" else cos[i]
            ranked = br if mode == "bm25" else dr if mode == "dense" else _ranks(score, ok, positive_only=True)
            top = np.flatnonzero(ranked)
            top = top[np.argsort(ranked[top], kind="stable")][:top_k]
            out.append([Hit(int(j), float(score[j]), float(cos[i, j]) if cos is not None else None,
                            int(br[j]) or None, int(dr[j]) or None) for j in top])
        return out
