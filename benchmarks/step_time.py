"""Where tuneforge's training speed comes from, one change at a time, on one minilm-l6 training step
(forward, backward, AdamW) with random token ids: the step-level companion of train_throughput.py.

    .venv/bin/python benchmarks/step_time.py          # ~2 min on 2 cores; writes benchmarks/results/step-time.json

Rows: the source recipe's step (16 x 128 tokens, for-each AdamW); the same step at Pang & Lee's length
(16 x 32: what per-batch padding with length-grouped batches feeds the model); + fused AdamW; + frozen
word embeddings (tuneforge's text-classification defaults).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
ARMS = [  # name, batch, tokens, fused AdamW, frozen embeddings, bf16 autocast
    ("source: padded to 128", 16, 128, False, False, False),
    ("per-batch padding (32 tokens)", 16, 32, False, False, False),
    ("+ fused AdamW", 16, 32, True, False, False),
    ("+ frozen word embeddings", 16, 32, True, True, False),
    # what train.bf16: auto adds where the CPU has native bf16 (AVX512-BF16 or AMX): is it faster *here*?
    ("+ bf16 autocast", 16, 32, True, True, True),
    ("+ bf16 autocast, padded to 128", 16, 128, True, True, True),
    ("fp32, padded to 128, fused, frozen", 16, 128, True, True, False),
]


def step_time(path: str, batch: int, tokens: int, fused: bool, frozen: bool, bf16: bool, steps: int) -> float:
    from transformers import AutoModelForSequenceClassification
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=2)
    if frozen:
        model.get_input_embeddings().weight.requires_grad_(False)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5, fused=fused)
    x, y = torch.randint(1000, 20000, (batch, tokens)), torch.randint(0, 2, (batch,))

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = model(input_ids=x, labels=y).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
    for _ in range(2):  # warm-up: allocator and kernel selection
        step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - t0) / steps


def main() -> None:
    from tuneforge.backbones.registry import resolve_backbone
    path = resolve_backbone("minilm-l6")
    rows = []
    for name, batch, tokens, fused, frozen, bf16 in ARMS:
        dt = step_time(path, batch, tokens, fused, frozen, bf16, steps=6 if tokens > 64 else 20)
        rows.append({"arm": name, "batch": batch, "tokens": tokens, "step_ms": dt * 1000, "samples_per_second": batch / dt})
    base = rows[0]["samples_per_second"]
    print("| step | batch x tokens | ms/step | samples/s | x source |\n|---|---|---|---|---|")
    for r in rows:
        r["speedup"] = r["samples_per_second"] / base
        print(f"| {r['arm']} | {r['batch']} x {r['tokens']} | {r['step_ms']:.0f} | {r['samples_per_second']:.1f} | "
              f"{r['speedup']:.2f} |")
    out = ROOT / "benchmarks" / "results" / "step-time.json"
    from tuneforge.tasks.base import cpu_description
    out.write_text(json.dumps({"threads": torch.get_num_threads(), "cpu": cpu_description(), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
