"""Few-shot text classification, SetFit-style: `train.method: setfit` (and what `auto` picks for few examples).

Two phases, as in the SetFit paper (Tunstall et al., 2022):
1. Contrastive tuning of the sentence encoder. Pairs of training sentences with the same label are pulled
   together, pairs with different labels pushed apart: cosine similarity of the mean-pooled embeddings,
   squared error against 1 (same label) or 0 (different) — sentence-transformers' CosineSimilarityLoss.
2. A light head on the tuned, frozen embeddings: logistic regression (SetFit's default head), copied into
   the model's linear classifier, or a few epochs of that linear layer alone (`setfit.head`).

Pairs are *sampled*, never enumerated: each example gets `setfit.pairs_per_example` positive and as many
negative partners (SetFit's num_iterations), so pairs grow as 2·R·n, not n² (setfit #472, #628), with
`setfit.max_pairs` as a hard cap; positives and negatives are kept balanced and everything is seeded.

The result is an ordinary run directory: the task's own `*ForSequenceClassification` model with mean
pooling (tuneforge.tasks.pooling), whose body is the contrastively tuned encoder and whose classifier is the
head, so predict, evaluate, export and serve load it like any other run. The `setfit` package itself is not
used: it would add datasets, pyarrow, pandas, evaluate and aiohttp, and it saves a SentenceTransformer
plus a pickled scikit-learn head, which no later tuneforge stage loads.
"""

from __future__ import annotations

import math
import os
import random
import time
from collections import Counter

import torch
from transformers import AutoConfig

from ..config import Config, register_check
from ..errors import TuneforgeError
from ..tasks import truncation
from ..tasks.base import autocast, get_task
from ..tasks.pooling import mean_pool
from ..train.auto import IMBALANCE_RATIO
from .registry import Fitted, MethodSpec, peak_rss_mb, register_method

# `train.method: auto` picks setfit when the training set has fewer examples per class (on average) than
# this, full fine-tuning otherwise. Measured by `benchmarks/fewshot_polarity.py` (polarity, minilm-l6, the same
# N per class for both arms, 3 seeds, 400 test sentences; BENCHMARKS.md): setfit led full fine-tuning by 10.1,
# 3.1, 7.9 and 3.6 points at 8, 16, 32 and 64 per class and tied at 128 (0.745 vs 0.736, within a seed's
# spread) while taking 24x the training time (~520 s vs ~22 s). The switch sits between the last clear win
# and the tie.
SETFIT_BELOW_PER_CLASS = 100
# ... and only on balanced data. Its pairs and head see a small class as rarely as full tuning does, without the
# validation-chosen decision bias: on uncertainty-en with 270 + 30 training sentences (issue 17's benchmark) a forced
# SetFit scored macro-F1 0.378 against full tuning's 0.605, in 7x the time (4,158 s vs 573 s). So from the ratio at
# which the loss is class-weighted (train/auto.py), auto keeps full tuning.
# SetFit's body learning rate (its TrainingArguments.body_learning_rate default). Full fine-tuning's 1e-4
# is tuned for thousands of steps on real labels; a few hundred pair steps at that rate overfit the pairs.
DEFAULT_LEARNING_RATE = 2e-5
HEADS = ("logistic", "linear")


# ---------------------------------------------------------------- choosing the method

def examples_per_class(train_examples) -> float:
    counts = Counter(e.label for e in train_examples)
    return len(train_examples) / max(1, len(counts))


def imbalance(train_examples) -> float:
    """Largest over smallest training class (1 for balanced data)."""
    counts = Counter(e.label for e in train_examples).values()
    return max(counts) / min(counts) if counts else 1.0


def is_decoder(backbone_path: str | None) -> bool:
    """A causal LM checkpoint (SmolLM2, Gemma): its head reads the last token, not a mean-pooled sentence vector."""
    if backbone_path is None:
        return False
    return any(a.endswith("ForCausalLM") for a in AutoConfig.from_pretrained(backbone_path).architectures or [])


def resolve_method(cfg: Config, train_examples, backbone_path: str | None = None) -> None:
    """Turn `train.method: auto` into the method actually used, and fill setfit's own defaults, so the config
    saved in the run directory shows what ran. Called once the training split is known."""
    t = cfg.train
    task = get_task(cfg.task)
    decoder = is_decoder(backbone_path)
    if t.method == "setfit" and decoder:
        raise TuneforgeError(f"`train.method` is 'setfit', which tunes mean-pooled sentence embeddings, but "
                             f"{cfg.backbone} is a decoder", where="train.method",
                             fix="use train.method=lora (or full) for a decoder backbone")
    if t.method == "auto" and task.takes_text:
        # (image-classification keeps its own `auto`: full, or a linear probe with image.linear_probe)
        few = (task.classifies_texts and examples_per_class(train_examples) < SETFIT_BELOW_PER_CLASS
               and imbalance(train_examples) < IMBALANCE_RATIO and not decoder
               # keys setfit refuses (config.validate) mean the user asked for something full tuning does
               and t.adversarial == "none" and t.pooling != "cls")
        t.method = "setfit" if few else "full"
    if t.method != "setfit":
        return
    if t.pooling == "auto":
        t.pooling = "mean"  # the contrastive loss is defined on mean-pooled embeddings; the head must see the same
    if t.learning_rate is None:
        t.learning_rate = DEFAULT_LEARNING_RATE


@register_check("setfit")
def check_options(cfg: Config, bad) -> None:
    """Validation of the `setfit:` section and of setfit's combinations with other keys (config.validate)."""
    s = cfg.setfit
    if s.pairs_per_example < 1:
        bad("setfit.pairs_per_example", f"is {s.pairs_per_example}",
            "use at least 1 (SetFit's default num_iterations is 20)")
    if s.max_pairs < 2:
        bad("setfit.max_pairs", f"is {s.max_pairs}", "allow at least one positive and one negative pair, e.g. 10000")
    if s.epochs <= 0:
        bad("setfit.epochs", f"is {s.epochs}", "use a positive number of passes over the pairs (1 is SetFit's default)")
    if s.head not in HEADS:
        bad("setfit.head", f"is {s.head!r}", f"use one of: {', '.join(HEADS)}")
    if s.head_epochs < 1:
        bad("setfit.head_epochs", f"is {s.head_epochs}", "use a positive number of epochs for the linear head")
    if s.head_c <= 0:
        bad("setfit.head_c", f"is {s.head_c}", "use a positive inverse regularisation strength such as 1.0")
    if cfg.train.method == "setfit":
        if not get_task(cfg.task).classifies_texts:
            bad("train.method", f"is 'setfit', which classifies whole texts, but the task is {cfg.task}",
                "use train.method=full (or lora) for this task")
        if cfg.train.pooling == "cls":
            bad("train.pooling", "is 'cls', but setfit tunes and classifies mean-pooled sentence embeddings",
                "set train.pooling=mean (or auto)")


# ---------------------------------------------------------------- pairs

def make_pairs(labels: list, pairs_per_example: int, max_pairs: int, seed: int) -> list[tuple[int, int, float]]:
    """(i, j, target) index pairs: target 1.0 for the same label, 0.0 for different labels.

    Each of `pairs_per_example` rounds gives every example one positive partner (another example of its
    class) and one negative partner (drawn uniformly from the other classes), so the work is O(R·n) time
    and memory. Positives and negatives are then cut to the same count, at most max_pairs // 2 each, by a
    seeded sample. A class with a single example has no positive partner (it still gets negatives)."""
    rng = random.Random(seed)
    order = sorted(range(len(labels)), key=lambda i: str(labels[i]))  # each class one contiguous block
    start: dict = {}
    size = Counter(labels)
    for pos, i in enumerate(order):
        start.setdefault(labels[i], pos)
    n = len(labels)
    positives, negatives = [], []
    for _ in range(pairs_per_example):
        for i, y in enumerate(labels):
            s, k = start[y], size[y]
            if k > 1:
                j = order[s + rng.randrange(k - 1)]
                if j == i:
                    j = order[s + k - 1]  # uniform over the k-1 others: the last slot stands in for i itself
                positives.append((i, j, 1.0))
            if k < n:
                r = rng.randrange(n - k)  # uniform over the examples outside y's block
                negatives.append((i, order[r if r < s else r + k], 0.0))
    m = min(len(positives), len(negatives), max_pairs // 2)
    if m == 0:
        raise TuneforgeError("setfit found no contrastive pairs: it needs two labels and at least two examples "
                             "of one label", where="data.train",
                             fix="add examples (a few per label), or use train.method=full")
    pairs = rng.sample(positives, m) + rng.sample(negatives, m)
    rng.shuffle(pairs)
    return pairs


# ---------------------------------------------------------------- phase 1: contrastive tuning

def _embed(body, batch: dict) -> torch.Tensor:
    out = body(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    return mean_pool(out.last_hidden_state.float(), batch["attention_mask"])


def contrastive_tune(model, tokenizer, texts: list[str], pairs: list[tuple[int, int, float]], cfg: Config,
                     bf16: bool, progress: bool = False) -> list[dict]:
    """Tune the model's encoder body on the pairs with CosineSimilarityLoss; returns a Trainer-like log history."""
    from torch.nn import functional as F
    from tqdm.auto import tqdm
    from transformers import DataCollatorWithPadding, get_linear_schedule_with_warmup

    t, s = cfg.train, cfg.setfit
    body = model.base_model
    enc = truncation.tokenize(tokenizer, texts, t.max_length)  # tokenized once; pairs only index into it
    collate = DataCollatorWithPadding(tokenizer)
    decay, no_decay = [], []
    for name, p in body.named_parameters():
        if p.requires_grad:  # frozen word embeddings / unused pooler stay out of the optimizer
            (no_decay if p.ndim < 2 else decay).append(p)  # as the Trainer does: no decay on biases, LayerNorm
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": t.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=t.learning_rate)
    per_epoch = math.ceil(len(pairs) / t.batch_size)
    total = max(1, math.ceil(per_epoch * s.epochs))
    sched = get_linear_schedule_with_warmup(opt, int(t.warmup_ratio * total), total)
    rng = random.Random(t.seed)
    history, running, step = [], [], 0
    body.train()
    bar = tqdm(total=total, desc="setfit pairs", disable=not progress, unit="step")
    while step < total:
        order = pairs[:]
        rng.shuffle(order)
        for b in range(0, len(order), t.batch_size):
            if step >= total:
                break
            chunk = order[b:b + t.batch_size]
            # each distinct sentence is encoded once per batch, however many pairs it is in
            uniq = sorted({i for a, c, _ in chunk for i in (a, c)})
            where = {i: k for k, i in enumerate(uniq)}
            batch = collate([{"input_ids": enc["input_ids"][i], "attention_mask": enc["attention_mask"][i]}
                             for i in uniq])
            batch = {k: v.to(model.device) for k, v in batch.items()}
            with autocast(bf16):
                emb = _embed(body, batch)
            a = emb[[where[i] for i, _, _ in chunk]]
            c = emb[[where[j] for _, j, _ in chunk]]
            target = torch.tensor([y for _, _, y in chunk], device=emb.device)
            loss = F.mse_loss(F.cosine_similarity(a, c), target)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(decay + no_decay, t.max_grad_norm)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            step += 1
            running.append(loss.item())
            bar.update(1)
            if step % t.logging_steps == 0 or step == total:
                history.append({"loss": round(sum(running) / len(running), 6), "epoch": round(step / per_epoch, 4),
                                "step": step, "learning_rate": sched.get_last_lr()[0]})
                running = []
    bar.close()
    model.eval()
    return history


# ---------------------------------------------------------------- phase 2: the head

@torch.inference_mode()
def embed_texts(model, tokenizer, texts: list[str], max_length: int, batch_size: int, bf16: bool) -> torch.Tensor:
    """Mean-pooled embeddings exactly as the saved model's classifier sees them (eval mode, no dropout)."""
    from transformers import DataCollatorWithPadding

    model.eval()
    enc = truncation.tokenize(tokenizer, texts, max_length)
    collate = DataCollatorWithPadding(tokenizer)
    order = sorted(range(len(texts)), key=lambda i: len(enc["input_ids"][i]))  # little padding per batch
    out = torch.empty(len(texts), model.config.hidden_size)
    for b in range(0, len(order), batch_size):
        idx = order[b:b + batch_size]
        batch = collate([{"input_ids": enc["input_ids"][i], "attention_mask": enc["attention_mask"][i]} for i in idx])
        batch = {k: v.to(model.device) for k, v in batch.items()}
        with autocast(bf16):
            out[idx] = _embed(model.base_model, batch).cpu()
    return out


def fit_head(model, emb: torch.Tensor, y: list[int], cfg: Config) -> None:
    """Set model.classifier from the training embeddings, in place."""
    s = cfg.setfit
    n_labels = model.classifier.out_features
    # Embeddings are divided by their mean norm first and the weights by it afterwards (the same linear map):
    # the regularisation strength then means the same for every backbone, whatever its embedding scale.
    scale = emb.norm(dim=1).mean().clamp(min=1e-6)
    x = (emb / scale).double().numpy()
    # train.class_weight (auto: balanced at 3:1 imbalance, train/auto.py) weighs the head's loss per class as for
    # full tuning: unweighted, 100 ham and 11 spam mails gave a head that called 8 of 10 test spams ham.
    balanced = cfg.train.class_weight == "balanced"
    if s.head == "logistic":
        from sklearn.linear_model import LogisticRegression
        clf = LogisticRegression(C=s.head_c, max_iter=2000, random_state=cfg.train.seed,
                                 class_weight="balanced" if balanced else None).fit(x, y)
        w = torch.as_tensor(clf.coef_, dtype=torch.float32)
        b = torch.as_tensor(clf.intercept_, dtype=torch.float32)
        full_w = torch.zeros(n_labels, w.shape[1])
        full_b = torch.zeros(n_labels)
        if len(clf.classes_) == 2:
            # one logit z = w·x + b for class 1; softmax over (-z/2, z/2) is sigmoid(z), the same probabilities
            c0, c1 = (int(c) for c in clf.classes_)
            full_w[c0], full_w[c1], full_b[c0], full_b[c1] = -w[0] / 2, w[0] / 2, -b[0] / 2, b[0] / 2
        else:
            # labels missing from training (none here: labels come from train) keep zero rows
            for row, c in enumerate(clf.classes_):
                full_w[int(c)], full_b[int(c)] = w[row], b[row]
    else:
        g = torch.Generator().manual_seed(cfg.train.seed)
        lin = torch.nn.Linear(emb.shape[1], n_labels)
        torch.nn.init.normal_(lin.weight, std=0.02, generator=g)
        torch.nn.init.zeros_(lin.bias)
        opt = torch.optim.AdamW(lin.parameters(), lr=cfg.train.head_learning_rate, weight_decay=cfg.train.weight_decay)
        xt, yt = torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y)
        counts = torch.bincount(yt, minlength=n_labels).clamp(min=1)
        weight = (len(yt) / (n_labels * counts)).float() if balanced else None  # sklearn's "balanced"
        for _ in range(s.head_epochs):
            perm = torch.randperm(len(yt), generator=g)
            for b in range(0, len(yt), cfg.train.batch_size):
                idx = perm[b:b + cfg.train.batch_size]
                loss = torch.nn.functional.cross_entropy(lin(xt[idx]), yt[idx], weight=weight)
                loss.backward()
                opt.step()
                opt.zero_grad()
        full_w, full_b = lin.weight.detach(), lin.bias.detach()
    with torch.no_grad():
        model.classifier.weight.copy_(full_w / scale)
        model.classifier.bias.copy_(full_b)


# ---------------------------------------------------------------- the run

def fit(cfg: Config, task, model, tokenizer, labels: list[str], splits, bf16: bool,
        progress: bool = True) -> Fitted | None:
    """Both phases; the train layer writes the same run directory as for full fine-tuning. None on the
    processes other than the first under `accelerate launch`: few-shot work is small, one process trains."""
    if int(os.environ.get("RANK", "0")) != 0:
        return None
    # The device the Trainer would use for full tuning; autocast (tasks/base.py) already assumes it.
    model.to("cuda" if torch.cuda.is_available() else "cpu")
    index = {l: i for i, l in enumerate(labels)}
    texts = [e.text for e in splits.train]
    y = [index[e.label] for e in splits.train]
    t0 = time.perf_counter()
    pairs = make_pairs(y, cfg.setfit.pairs_per_example, cfg.setfit.max_pairs, cfg.train.seed)
    history = contrastive_tune(model, tokenizer, texts, pairs, cfg, bf16, progress)
    t1 = time.perf_counter()
    emb = embed_texts(model, tokenizer, texts, cfg.train.max_length, cfg.train.eval_batch_size, bf16)
    fit_head(model, emb, y, cfg)
    runtime = time.perf_counter() - t0
    total = sum(p.numel() for p in model.parameters())
    body_trainable = sum(p.numel() for p in model.base_model.parameters() if p.requires_grad)
    trainable = body_trainable + sum(p.numel() for p in model.classifier.parameters())
    train_metrics = {
        "samples_per_second": round(2 * len(pairs) * cfg.setfit.epochs / max(1e-9, t1 - t0), 3),  # sentences
        "runtime_s": round(runtime, 2),
        "contrastive_s": round(t1 - t0, 2),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "steps": history[-1]["step"] if history else 0,
        "epochs": cfg.setfit.epochs,
        "pairs": len(pairs),
        "bf16": bf16,
        "processes": 1,
        "resumed_from": None,
        "method": "setfit",
        "head": cfg.setfit.head,
        "trainable_parameters": trainable,
        "total_parameters": total,
        "trainable_share": round(trainable / max(1, total), 6),
    }
    return Fitted(model, train_metrics, history)


register_method(MethodSpec(
    name="setfit", summary="contrastive few-shot tuning of the sentence encoder on sampled pairs, then a light head "
                           "(settings under setfit:)",
    takes=lambda task: task.classifies_texts, learning_rate=DEFAULT_LEARNING_RATE, fit=fit))
