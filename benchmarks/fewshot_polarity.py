"""Few-shot polarity: SetFit-style contrastive tuning (`train.method: setfit`) against full fine-tuning at
N examples per class, and where `train.method: auto` should switch from one to the other.

The 80/10/10 split of examples/polarity-en.yaml (its seed, 42) is made once; its test split (all 400
sentences of the 4,000-sentence Pang & Lee sample) scores every run. Each (N, seed) draws N training sentences
per class from that split's train part with `seed`; both arms train on exactly those sentences through the
ordinary `tuneforge train` pipeline and are scored by its metrics.json:

  setfit   train.method=setfit with its defaults (setfit.* keys; body rate 2e-5)
  full     train.method=full, the task's defaults (body 1e-4, head 1e-3), but at least --min-steps optimizer
           steps (epochs = max(3, min_steps * batch / n)): the config's 3 epochs over 16 sentences would be
           3 steps, a strawman. Early stopping on the validation sample, patience 3, one evaluation per epoch.

Both arms see the same validation sample (--val-per-class sentences per class of the split's validation
part): full fine-tuning uses it for early stopping, setfit ignores it (it has no epochs to choose).

`--heads` also compares the two setfit heads on the same contrastively tuned encoder (one contrastive run
per seed; logistic regression vs the linear layer trained alone), plus logistic regression on the untuned
encoder: what the contrastive phase buys.

    .venv/bin/python benchmarks/fewshot_polarity.py                       # everything (see --help)
    .venv/bin/python benchmarks/fewshot_polarity.py --sizes 8 --seeds 0 1 2 --arms setfit --heads
    .venv/bin/python benchmarks/fewshot_polarity.py --quick               # smoke: 8/class, 1 seed, 100 test
Results: benchmarks/results/fewshot-polarity.json (rewritten after every run, so a partial sweep keeps what
finished; rerunning skips the (arm, N, seed) cells already there).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import platform
import random
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results" / "fewshot-polarity.json"


def write_csv(path: Path, examples) -> str:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        for e in examples:
            w.writerow([e.text, e.label])
    return str(path)


def per_class(examples, n: int, seed: int) -> list:
    by = defaultdict(list)
    for e in examples:
        by[e.label].append(e)
    rng = random.Random(seed)
    picked = [e for label in sorted(by) for e in rng.sample(by[label], n)]
    rng.shuffle(picked)
    return picked


def run_arm(args, arm: str, n: int, seed: int, files: dict, work: Path) -> dict:
    from tuneforge.config import load_config
    from tuneforge.train.run import train
    ov = [f"data.train={files[(n, seed)]}", f"data.validation={files['validation']}", f"data.test={files['test']}",
          f"train.method={arm}", f"train.seed={seed}", f"output_dir={work / f'{arm}-{n}-{seed}'}", *args.override]
    if arm == "full":
        epochs = max(3.0, math.ceil(args.min_steps * 16 / (2 * n)))  # batch 16, two classes
        ov += [f"train.epochs={epochs}", "train.evals_per_epoch=1", "train.early_stopping_patience=3"]
    cfg = load_config(args.config, ov)
    t0 = time.perf_counter()
    out = train(cfg, progress=False, overwrite=True)
    m = json.loads((out / "metrics.json").read_text())
    return {"arm": arm, "per_class": n, "seed": seed, "test_accuracy": m["test"]["accuracy"],
            "test_macro_f1": m["test"]["macro_f1"], "n_test": m["test"]["n"],
            "validation_accuracy": m.get("validation", {}).get("accuracy"),
            "majority_accuracy": m.get("baseline_majority", {}).get("accuracy"),
            "steps": m["train"]["steps"], "pairs": m["train"].get("pairs"), "train_runtime_s": m["train"]["runtime_s"],
            "wall_s": round(time.perf_counter() - t0, 1), "method_saved": cfg.train.method}


def run_heads(args, n: int, seed: int, splits_train, test, cfg_path: str) -> list[dict]:
    """One contrastive run, then both heads on the same embeddings (and logistic on the untuned encoder)."""
    import copy

    import torch
    from sklearn.metrics import accuracy_score
    from transformers import set_seed

    from tuneforge.backbones.registry import resolve_backbone
    from tuneforge.config import load_config
    from tuneforge.methods.setfit import (contrastive_tune, embed_texts, fit_head, make_pairs, resolve_method)
    from tuneforge.tasks.base import get_task
    cfg = load_config(cfg_path, [f"train.method=setfit", f"train.seed={seed}", *args.override])
    task = get_task(cfg.task)
    resolve_method(cfg, splits_train)
    path = resolve_backbone(cfg.backbone)
    from tuneforge.train.run import resolve_defaults
    resolve_defaults(cfg, task, path)
    tok = task.load_processor(path) if hasattr(task, "load_processor") else __import__("transformers").AutoTokenizer.from_pretrained(path)
    labels = sorted({e.label for e in splits_train})
    idx = {l: i for i, l in enumerate(labels)}
    train_ex = per_class(splits_train, n, seed)
    x_text, y = [e.text for e in train_ex], [idx[e.label] for e in train_ex]
    t_text, t_y = [e.text for e in test], [idx[e.label] for e in test]
    set_seed(seed)
    model, _ = task.build_model(path, labels, cfg)
    rows = []

    def score(name, m):
        with torch.inference_mode():
            logits = m.classifier(embed_texts(m, tok, t_text, cfg.train.max_length, 64, False))
        rows.append({"arm": name, "per_class": n, "seed": seed,
                     "test_accuracy": round(float(accuracy_score(t_y, logits.argmax(-1).numpy())), 4)})
        print(json.dumps(rows[-1]), flush=True)

    emb = embed_texts(model, tok, x_text, cfg.train.max_length, 64, False)
    fit_head(model, emb, y, cfg)
    score("untuned+logistic", model)
    pairs = make_pairs(y, cfg.setfit.pairs_per_example, cfg.setfit.max_pairs, seed)
    contrastive_tune(model, tok, x_text, pairs, cfg, False)
    emb = embed_texts(model, tok, x_text, cfg.train.max_length, 64, False)
    for head in ("logistic", "linear"):
        c = copy.deepcopy(cfg)
        c.setfit.head = head
        fit_head(model, emb, y, c)
        score(f"setfit+{head}", model)
    return rows


def summarise(runs: list[dict]) -> dict:
    cells = defaultdict(list)
    for r in runs:
        cells[(r["arm"], r["per_class"])].append(r["test_accuracy"])
    table = []
    for (arm, n), accs in sorted(cells.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        table.append({"arm": arm, "per_class": n, "seeds": len(accs), "mean_test_accuracy": round(statistics.mean(accs), 4),
                      "stdev": round(statistics.stdev(accs), 4) if len(accs) > 1 else None,
                      "min": min(accs), "max": max(accs)})
    return {"table": table}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("config", nargs="?", default=str(ROOT / "examples" / "polarity-en.yaml"))
    ap.add_argument("override", nargs="*", help="dotted config overrides for every run")
    ap.add_argument("--sizes", type=int, nargs="+", default=[8, 16, 32, 64, 128])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--arms", nargs="+", default=["setfit", "full"], choices=["setfit", "full"])
    ap.add_argument("--heads", action="store_true", help="also compare setfit heads (at the smallest size)")
    ap.add_argument("--min-steps", type=int, default=30)
    ap.add_argument("--val-per-class", type=int, default=50)
    ap.add_argument("--quick", action="store_true", help="smoke test: 8/class, seed 0, 100 test sentences")
    ap.add_argument("--results", default=str(RESULTS))
    args = ap.parse_args()
    if args.quick:
        args.sizes, args.seeds, args.results = [8], [0], "/tmp/fewshot-polarity-quick.json"

    from tuneforge.config import load_config
    from tuneforge.data.splits import load_splits
    base = load_config(args.config, args.override)
    splits = load_splits(base)  # the config's own seeded 80/10/10 split
    test = per_class(splits.test, 50, 0) if args.quick else splits.test
    results_path = Path(args.results)
    done = json.loads(results_path.read_text()) if results_path.is_file() else {}
    runs = [r for r in done.get("runs", []) if not args.quick]
    have = {(r["arm"], r["per_class"], r["seed"]) for r in runs}
    work = Path(tempfile.mkdtemp(prefix="fewshot-"))
    files = {"validation": write_csv(work / "validation.csv", per_class(splits.validation, args.val_per_class, 0)),
             "test": write_csv(work / "test.csv", test)}

    def save():
        res = {"config": args.config, "overrides": args.override, "split_seed": base.train.seed,
               "n_test": len(test), "n_validation": 2 * args.val_per_class, "min_steps_full": args.min_steps,
               "machine": platform.processor() or platform.machine(), "runs": runs} | summarise(runs)
        results_path.parent.mkdir(parents=True, exist_ok=True)
        results_path.write_text(json.dumps(res, indent=2) + "\n")

    if args.heads:
        for seed in args.seeds:
            if ("setfit+logistic", min(args.sizes), seed) not in have:
                runs += run_heads(args, min(args.sizes), seed, splits.train, test, args.config)
                save()
    for n in args.sizes:
        for seed in args.seeds:
            files[(n, seed)] = write_csv(work / f"train-{n}-{seed}.csv", per_class(splits.train, n, seed))
            for arm in args.arms:
                if (arm, n, seed) in have:
                    continue
                r = run_arm(args, arm, n, seed, files, work)
                print(json.dumps(r), flush=True)
                runs.append(r)
                save()
    save()
    for row in summarise(runs)["table"]:
        print(f"{row['arm']:>18} {row['per_class']:>4}/class  {row['mean_test_accuracy']:.4f} ± {row['stdev']}  (n={row['seeds']})")


if __name__ == "__main__":
    main()
