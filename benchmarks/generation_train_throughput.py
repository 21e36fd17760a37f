"""Instruction-tuning throughput: `tuneforge train` (task text-generation) against a plain Transformers Trainer that
pads every example to the longest in the data, same model, same examples, same run (issue 19).

Both arms train smollm2-135m-instruct, full fine-tuning, fp32 (train.bf16 false: the same arithmetic on every
CPU), batch 16, one epoch over the same rows of ChatterBot's English FAQ (benchmarks/faq_generation.py's
"groups" training split, the first --rows of it), each in its own process:

  trainer-padded  transformers.Trainer with tuneforge's own encoding of the rows (the same tokens, the same
                  answer-only labels), collated with padding="max_length" to the longest example in the data
  tuneforge       `tuneforge train` with its defaults for batching (length-grouped batches, each padded to its
                  own longest row); validation passes are subtracted (metrics.json train_only_samples_per_second),
                  checkpoint writes are not

The claim is the ratio of training throughput, in examples per second over the optimisation steps (the same
examples, so also the ratio of real, unpadded tokens per second).

    .venv/bin/python benchmarks/generation_train_throughput.py              # ~10 min on 2 cores
    .venv/bin/python benchmarks/generation_train_throughput.py --rows 64   # a smoke run

Results: benchmarks/results/generation-train-throughput.json and a table on stdout.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from faq_generation import RESULTS as _FAQ_RESULTS, ROOT, cpu, splits, write_csv  # noqa: E402

RESULTS = _FAQ_RESULTS.parent
WORK = ROOT / "bench_runs" / "generation_train_throughput"
BACKBONE = "smollm2-135m-instruct"


def config(rows: int) -> Path:
    WORK.mkdir(parents=True, exist_ok=True)
    parts = splits("en", "groups", None)
    write_csv(WORK / "train.csv", parts["train"][:rows])
    write_csv(WORK / "validation.csv", parts["validation"][:32])
    cfg = {"task": "text-generation", "backbone": BACKBONE, "output_dir": str(WORK / "run"),
           "data": {"train": str(WORK / "train.csv"), "validation": str(WORK / "validation.csv"),
                    "test": str(WORK / "validation.csv")},
           "train": {"method": "full", "epochs": 1, "batch_size": 16, "bf16": "false", "baseline": False,
                     "max_length": 256, "seed": 42, "evals_per_epoch": 1},
           "generate": {"eval_limit": 0}}
    path = WORK / "config.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path


def plain_trainer(config_path: Path) -> dict:
    """The baseline arm (run in its own process): what a Transformers user writes without length grouping."""
    import torch
    from transformers import DataCollatorForSeq2Seq, Trainer, TrainingArguments

    from tuneforge.backbones.registry import resolve_backbone
    from tuneforge.config import load_config
    from tuneforge.data.splits import read_file
    from tuneforge.tasks.base import get_task
    from tuneforge.tasks.text_generation import IGNORE
    cfg = load_config(config_path)
    task = get_task(cfg.task)
    examples, _ = read_file(cfg, cfg.data.train)
    tok = task.configure_processor(task.load_processor(resolve_backbone(cfg.backbone)), cfg)
    feats = task.encode(tok, examples, [], cfg.train.max_length)
    longest = max(len(f["input_ids"]) for f in feats)
    model, _ = task.build_model(resolve_backbone(cfg.backbone), [], cfg)
    args = TrainingArguments(output_dir=str(WORK / "plain"), num_train_epochs=1, per_device_train_batch_size=16,
                             learning_rate=cfg.train.learning_rate or task.defaults.learning_rate, save_strategy="no", report_to="none",
                             logging_steps=10**6, use_cpu=not torch.cuda.is_available(), seed=42,
                             remove_unused_columns=False, disable_tqdm=True)
    collator = DataCollatorForSeq2Seq(tok, padding="max_length", max_length=longest, label_pad_token_id=IGNORE)
    trainer = Trainer(model=model, args=args, train_dataset=feats, data_collator=collator)
    metrics = trainer.train().metrics
    tokens = sum(len(f["input_ids"]) for f in feats)
    return {"samples_per_second": metrics["train_samples_per_second"], "runtime_s": metrics["train_runtime"],
            "examples": len(feats), "real_tokens": tokens, "padded_to": longest,
            "padded_tokens": longest * len(feats), "max_length": cfg.train.max_length}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=320, help="training rows (20 steps of 16 at 320)")
    ap.add_argument("--plain", help=argparse.SUPPRESS)  # internal: run the baseline arm for this config
    a = ap.parse_args()
    if a.plain:
        print(json.dumps(plain_trainer(Path(a.plain))))
        return
    cfg = config(a.rows)
    t0 = time.time()
    out = subprocess.run([sys.executable, __file__, "--plain", str(cfg)], check=True, capture_output=True,
                         text=True, cwd=ROOT)
    plain = json.loads(out.stdout.strip().splitlines()[-1])
    plain["wall_s"] = round(time.time() - t0, 1)
    t0 = time.time()
    subprocess.run([sys.executable, "-m", "tuneforge.cli", "train", str(cfg), "--overwrite", "--quiet"], check=True,
                   cwd=ROOT)
    train = json.loads((WORK / "run" / "metrics.json").read_text())["train"]
    ours = {"samples_per_second": train["train_only_samples_per_second"], "steps": train["steps"],
            "wall_s": round(time.time() - t0, 1)}
    ratio = ours["samples_per_second"] / plain["samples_per_second"]
    res = {"backbone": BACKBONE, "rows": a.rows, "cpu": cpu(), "trainer_padded": plain, "tuneforge": ours,
           "ratio": ratio}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "generation-train-throughput.json").write_text(json.dumps(res, indent=1), encoding="utf-8")
    tok_s = lambda s: s * plain["real_tokens"] / plain["examples"]  # noqa: E731  real tokens per second
    print(f"| arm | examples/s | real tokens/s |\n|---|---|---|\n"
          f"| trainer-padded (to {plain['padded_to']} tokens) | {plain['samples_per_second']:.2f} | "
          f"{tok_s(plain['samples_per_second']):.0f} |\n"
          f"| tuneforge | {ours['samples_per_second']:.2f} | {tok_s(ours['samples_per_second']):.0f} |\n"
          f"ratio {ratio:.2f}x ({a.rows} rows, mean {plain['real_tokens'] / plain['examples']:.0f} tokens)")


if __name__ == "__main__":
    main()
