"""The two towers: one shared sentence encoder reads the item text (item tower) and the texts of the
user's most recent clicked items joined by "; " (user tower); the score is their cosine.

Sharing the encoder keeps both sides in the space the packaged encoder (all-MiniLM-L6-v2) was trained
for, so the untuned encoder is already a zero-shot arm, and fine-tuning moves both towers together.
Training is next-click prediction with in-batch negatives: for each (recent clicks before t, click t)
pair in a batch the other pairs' targets are the negatives, softmax cross-entropy at temperature 0.05
(sentence-transformers' MultipleNegativesRankingLoss scale). In-batch negatives are drawn in proportion
to popularity, so the learnt score is roughly log p(i|u) - log p(i): popularity is divided out, which
is why the hybrid arm adds a popularity prior back with a weight chosen on validation.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch

from tuneforge.methods.zero_shot_embed import mean_pool
from tuneforge.tasks.base import autocast, bf16_supported

from .baselines import View


@dataclass
class TowerSettings:
    # Cost: ~1.5 CPU-s per step at these defaults in fp32 on this repository's AVX2 EPYC (no native bf16),
    # about 3x less with `layers=3`; the user text (4 titles, ~55 tokens) is most of it.
    steps: int = 200              # optimizer steps (6,400 pairs of the ~50,000 in MovieLens-100K's train split)
    batch_size: int = 32          # = in-batch negatives per pair + 1
    lr: float = 5e-5
    warmup: float = 0.1           # share of steps with linear warm-up, then linear decay to 0
    temperature: float = 0.05
    recent: int = 4               # clicked items in the user text, newest first
    user_max_len: int = 64        # tokens: 4 titles with year and genres fit in ~55
    item_max_len: int = 32        # tokens: one title, year and genres
    layers: int | None = None     # keep only the first N encoder layers (faster, weaker); None: all
    max_minutes: float | None = None  # stop early at this wall time (the schedule is then cut short)
    seed: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def user_text(item_texts: list[str], recent: list[int], n: int) -> str:
    return "; ".join(item_texts[j] for j in recent[:n])


class Encoder:
    def __init__(self, path: str, layers: int | None = None, bf16: bool | None = None):
        from transformers import AutoModel, AutoTokenizer
        self.tok = AutoTokenizer.from_pretrained(path)
        self.model = AutoModel.from_pretrained(path)
        if layers is not None and layers < self.model.config.num_hidden_layers:
            self.model.encoder.layer = self.model.encoder.layer[:layers]  # the lower layers carry most of it
            self.model.config.num_hidden_layers = layers
        self.model.eval()
        self.bf16 = bf16_supported() if bf16 is None else bf16

    def forward(self, texts: list[str], max_len: int) -> torch.Tensor:
        enc = self.tok(texts, padding=True, truncation=True, max_length=max_len, return_tensors="pt")
        hidden = self.model(**enc).last_hidden_state.float()
        return torch.nn.functional.normalize(mean_pool(hidden, enc["attention_mask"]), dim=-1)

    def embed(self, texts: list[str], max_len: int, batch_size: int = 64) -> np.ndarray:
        """L2-normalised embeddings [len(texts), hidden]; an empty text (no clicks yet) gets a zero vector."""
        out = np.zeros((len(texts), self.model.config.hidden_size), dtype=np.float32)
        order = sorted((i for i, t in enumerate(texts) if t), key=lambda i: len(texts[i]))  # little padding
        self.model.eval()
        with torch.inference_mode(), autocast(self.bf16):
            for s in range(0, len(order), batch_size):
                idx = order[s:s + batch_size]
                out[idx] = self.forward([texts[i] for i in idx], max_len).numpy()
        return out

    def save(self, path) -> None:
        self.model.save_pretrained(path)
        self.tok.save_pretrained(path)


def training_pairs(view: View) -> list[tuple[int, list[int], int]]:
    """(row, clicks before t newest first, click t) for every click after a user's first."""
    pairs = []
    for r, recent in enumerate(view.recent):
        chrono = recent[::-1]
        pairs += [(r, chrono[:t][::-1], chrono[t]) for t in range(1, len(chrono))]
    return pairs


def train_towers(enc: Encoder, item_texts: list[str], view: View, cfg: TowerSettings, progress=None) -> dict:
    """Fine-tune `enc` in place on the clicks in `view` (the training history only). Returns statistics."""
    pairs = training_pairs(view)
    if not pairs:
        return {"steps": 0, "pairs_available": 0, "note": "no user has two clicks: nothing to train on"}
    rng = random.Random(cfg.seed)
    torch.manual_seed(cfg.seed)
    opt = torch.optim.AdamW(enc.model.parameters(), lr=cfg.lr, weight_decay=0.01)
    warm = max(1, int(cfg.warmup * cfg.steps))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warm, max(0.0, (cfg.steps - s) / max(1, cfg.steps - warm))))
    enc.model.train()
    started, losses, order, pos = time.monotonic(), [], [], 0
    step = 0
    for step in range(cfg.steps):
        if pos + cfg.batch_size > len(order):  # reshuffle each pass over the pairs
            order, pos = rng.sample(range(len(pairs)), len(pairs)), 0
        batch = [pairs[i] for i in order[pos:pos + cfg.batch_size]]
        pos += cfg.batch_size
        targets = [t for _, _, t in batch]
        with autocast(enc.bf16):
            u = enc.forward([user_text(item_texts, ctx, cfg.recent) for _, ctx, _ in batch], cfg.user_max_len)
            v = enc.forward([item_texts[t] for t in targets], cfg.item_max_len)
        logits = (u @ v.T) / cfg.temperature
        # Another pair's target is no negative when it is this pair's own target (a duplicate in the
        # batch) or an item already in this user's history (it is never recommended anyway).
        mask = torch.zeros_like(logits, dtype=torch.bool)
        for i, (_, ctx, t) in enumerate(batch):
            known = set(ctx) | {t}
            for j, tj in enumerate(targets):
                mask[i, j] = j != i and tj in known
        loss = torch.nn.functional.cross_entropy(logits.masked_fill(mask, -1e4), torch.arange(len(batch)))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(enc.model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        losses.append(loss.item())
        if progress and (step + 1) % 20 == 0:
            progress(f"step {step + 1}/{cfg.steps} loss {np.mean(losses[-20:]):.3f} ({time.monotonic() - started:.0f} s)")
        if cfg.max_minutes is not None and time.monotonic() - started > 60 * cfg.max_minutes:
            break
    enc.model.eval()
    secs = time.monotonic() - started
    done = step + 1
    return {"steps": done, "pairs_available": len(pairs), "pairs_seen": done * cfg.batch_size,
            "runtime_s": round(secs, 1), "pairs_per_s": round(done * cfg.batch_size / max(secs, 1e-9), 1),
            "loss_first20": round(float(np.mean(losses[:20])), 4), "loss_last20": round(float(np.mean(losses[-20:])), 4),
            "chance_loss": round(math.log(cfg.batch_size), 4), "bf16": enc.bf16}
