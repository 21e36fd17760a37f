"""The customer-service assistant: a message in, an FAQ answer (or a hand-off to a human) out.

    message -> [intent run: restrict to the predicted category when it is sure] -> BM25 + dense, fused
            -> confidence = cosine of the message with the best entry's question
            -> below the threshold: hand-off reply, the message logged as a candidate FAQ entry
            -> otherwise: the entry's answer template filled from the session's slots

Confidence is the dense cosine, not the RRF score: RRF says how much two rankings agree, not how close the
best entry is, so an off-topic message would still get a confident first place. Cosines are comparable for
one encoder, not across encoders: e5's sit higher (unrelated sentences already score ~0.8), hence one
default threshold per packaged encoder, measured by benchmarks/app_support.py.
"""

from __future__ import annotations

import re
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...errors import TuneforgeError
from .faq import FaqEntry, read_faq

DEFAULT_BACKBONE = {"en": "minilm-l6", "zh": "multilingual-e5-small"}
# Cosine below which the reply is a hand-off, read off benchmarks/results/app-support.json (chatterbot FAQ):
# minilm-l6 at 0.5 keeps 89% of right answers and hands off every off-topic message (movie reviews) and 59%
# of wrong answers; e5 at 0.9 keeps 97% of right answers, hands off 97% of off-topic product reviews, 18% of
# wrong answers. Another FAQ may want another trade: --threshold.
DEFAULT_THRESHOLD = {"minilm-l6": 0.5, "multilingual-e5-small": 0.9}
FALLBACK_THRESHOLD = 0.5  # another encoder directory: measure its own with the benchmark and pass --threshold
HANDOFF = {"en": "I'm not sure I have the right answer for that, so I'm passing you to a colleague who will "
                 "reply shortly.",
           "zh": "抱歉，这个问题我不能确定答案，正在为您转接人工客服，请稍候。"}
MAX_MESSAGE_CHARS = 2000
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def detect_language(texts: list[str]) -> str:
    """zh when most questions hold more CJK characters than Latin words, else en."""
    zh = sum(len(_CJK.findall(t)) >= max(1, len(re.findall(r"[A-Za-z]+", t))) for t in texts)
    return "zh" if zh * 2 > len(texts) else "en"


@dataclass
class AssistantOptions:
    faq: str
    lang: str = "auto"  # auto | en | zh: picks the default encoder and the hand-off message
    backbone: str | None = None  # None: DEFAULT_BACKBONE[lang]
    retriever: str | None = None  # a `tuneforge app support train` run: its tuned encoder and its threshold
    threshold: float | None = None  # None: DEFAULT_THRESHOLD of the encoder
    intents: str | None = None  # a text-classification run (or export) whose labels are FAQ categories
    intent_threshold: float = 0.8  # route only when the classifier is at least this sure
    db: str | None = None  # SQLite path or postgresql:// URL; None: <cache>/apps/support/support.db
    handoff_message: str | None = None
    top_k: int = 3


def default_db() -> Path:
    from ...paths import cache_dir
    return cache_dir() / "apps" / "support" / "support.db"


def check_message(message, where: str = "message") -> str:
    if not isinstance(message, str) or not message.strip():
        raise TuneforgeError("the message is empty", where=where, fix="send the customer's question as text")
    if len(message) > MAX_MESSAGE_CHARS:
        raise TuneforgeError(f"the message has {len(message)} characters; the limit is {MAX_MESSAGE_CHARS}",
                             where=where, fix="send one question, not a document")
    return message.strip()


class IntentRouter:
    """A fine-tuned intent classifier run: its predicted label picks the FAQ category to search in."""

    def __init__(self, run: str, entries: list[FaqEntry], threshold: float):
        from ...export import load_predictor
        if not 0 < threshold <= 1:
            raise TuneforgeError(f"--intent-threshold {threshold} is not in (0, 1]", where="--intent-threshold",
                                 fix="a probability such as 0.8")
        cats = {e.category for e in entries if e.category}
        if not cats:
            raise TuneforgeError("--intents needs a category per FAQ entry, and the FAQ has no category column "
                                 "(or it is empty)", where="--faq", fix="add a category column whose values are "
                                                                         "the intent run's labels, or drop --intents")
        self.predictor = load_predictor(run)
        if not self.predictor.task.classifies_texts:
            raise TuneforgeError(f"{run} is a {self.predictor.cfg.task} run, not an intent classifier",
                                 where="--intents", fix="train a text-classification run on intents")
        labels = set(self.predictor.labels)
        if not labels & cats:
            raise TuneforgeError(f"none of the run's labels ({', '.join(sorted(labels))}) is an FAQ category "
                                 f"({', '.join(sorted(cats))})", where="--intents",
                                 fix="train the intent run on the FAQ's categories, or fix the category column")
        self.threshold = threshold
        self.masks = {c: np.array([e.category == c for e in entries]) for c in labels & cats}

    def route(self, message: str) -> tuple[dict, np.ndarray | None]:
        pred = self.predictor.predict([message])[0]
        label, prob = max(pred["probabilities"].items(), key=lambda kv: kv[1])
        mask = self.masks.get(label) if prob >= self.threshold else None
        return {"label": label, "probability": round(prob, 4), "routed": mask is not None}, mask


class Assistant:
    def __init__(self, opts: AssistantOptions, store=None):
        from .retrieval import Retriever
        from .store import SupportStore
        self.opts = opts
        self.entries = read_faq(opts.faq)
        if opts.lang not in ("auto", "en", "zh"):
            raise TuneforgeError(f"unknown language {opts.lang!r}", where="--lang", fix="use auto, en or zh")
        self.lang = detect_language([e.question for e in self.entries]) if opts.lang == "auto" else opts.lang
        run = None
        if opts.retriever:
            from .support_run import load_support_run
            if opts.backbone:
                raise TuneforgeError("--backbone and --retriever both name the encoder", where="--backbone",
                                     fix="drop --backbone: the run's tuned encoder is used")
            run = load_support_run(opts.retriever)
        self.backbone = run["path"] if run else opts.backbone or DEFAULT_BACKBONE[self.lang]
        self.threshold = (opts.threshold if opts.threshold is not None else run["threshold"] if run
                          else DEFAULT_THRESHOLD.get(self.backbone, FALLBACK_THRESHOLD))
        if not -1 <= self.threshold <= 1:
            raise TuneforgeError(f"--threshold {self.threshold} is not a cosine (between -1 and 1)", where="--threshold",
                                 fix="e.g. 0.6 for minilm-l6")
        if opts.top_k < 1:
            raise TuneforgeError(f"top_k {opts.top_k} < 1", where="--top-k", fix="at least 1")
        self.router = IntentRouter(opts.intents, self.entries, opts.intent_threshold) if opts.intents else None
        self.handoff_message = opts.handoff_message or HANDOFF[self.lang]
        from .retrieval import Encoder
        encoder = Encoder(self.backbone, prefix=run["prefix"] if run else None)  # a tuned e5 keeps its prefix
        self.retriever = Retriever([e.question for e in self.entries], encoder=encoder,
                                   dense_weight=run["dense_weight"] if run else 0.5)
        self.store = store or SupportStore(opts.db or default_db())  # last: a bad option writes nothing
        self._lock = threading.Lock()  # one model call at a time: two at once only fight over the same cores

    def retrieve(self, message: str) -> tuple[list, dict | None]:
        with self._lock:
            intent, mask = self.router.route(message) if self.router else (None, None)
            hits = self.retriever.search([message], "fused", self.opts.top_k, allowed=[mask])[0]
        return hits, intent

    def reply(self, message: str, session_id: str | None = None, slots: dict | None = None) -> dict:
        """A turn of `session_id` (which must exist: the caller checked its token), or of a new session when
        None: its server-issued id and its secret `session_token` (stored only hashed) are in the reply."""
        message = check_message(message)
        hits, intent = self.retrieve(message)
        token = None
        if session_id is None:  # created once the model has answered: a failed turn leaves no empty session
            session_id, token = secrets.token_hex(16), secrets.token_urlsafe(32)
            self.store.new_session(session_id, token)
        best = hits[0] if hits else None
        confidence = round(best.cosine, 4) if best else 0.0
        handoff = best is None or confidence < self.threshold

        def render(session_slots: dict) -> dict:
            missing: list[str] = []
            if handoff:
                answer = self.handoff_message
            else:
                answer, missing = self.entries[best.index].template.render(session_slots)
            e = self.entries[best.index] if best else None
            return {"answer": answer, "confidence": confidence,
                    "matched_question": None if handoff else e.question, "handoff": handoff,
                    "category": None if handoff or e is None else e.category, "missing_slots": missing,
                    "alternatives": [{"question": self.entries[h.index].question, "confidence": round(h.cosine, 4),
                                      "bm25_rank": h.bm25_rank, "dense_rank": h.dense_rank} for h in hits],
                    **({"intent": intent} if intent else {})}

        out, turn = self.store.record_turn(session_id, dict(slots or {}), message, None, render=render)
        return {**out, "session_id": session_id, "turn": turn, **({"session_token": token} if token else {})}
