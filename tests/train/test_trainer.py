"""train/trainer.py's LengthBuckets: every example once an epoch, batches of near-equal length, a random batch
order that the Trainer's seed fixes."""

from __future__ import annotations

import random

import torch

from tuneforge.train.trainer import LengthBuckets


def epoch(lengths, batch_size=8, seed=0):
    torch.manual_seed(seed)
    order = list(LengthBuckets(lengths, batch_size))
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def test_every_example_once_in_batches_that_pad_little():
    rng = random.Random(0)
    lengths = [rng.choice([20, 30, 40]) + int(rng.paretovariate(1.5) * 10) for _ in range(203)]  # a long tail
    batches = epoch(lengths)
    assert sorted(i for b in batches for i in b) == list(range(203))
    spans = sorted((min(lengths[i] for i in b), max(lengths[i] for i in b)) for b in batches)
    assert all(hi <= next_lo for (_, hi), (next_lo, _) in zip(spans, spans[1:]))  # consecutive runs of the sorted order
    padded = sum(len(b) * max(lengths[i] for i in b) for b in batches)
    shuffled = list(range(203))
    rng.shuffle(shuffled)  # what batches of random companions pad to
    random_padded = sum(len(shuffled[s:s + 8]) * max(lengths[i] for i in shuffled[s:s + 8]) for s in range(0, 203, 8))
    assert padded < 0.8 * random_padded


def test_the_seed_fixes_the_order_and_epochs_differ():
    lengths = [i % 17 for i in range(100)]
    assert epoch(lengths, seed=1) == epoch(lengths, seed=1)
    torch.manual_seed(1)
    s = LengthBuckets(lengths, 8)
    first, second = list(s), list(s)
    assert first != second and sorted(first) == sorted(second)
