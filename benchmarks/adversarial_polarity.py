"""Adversarial training against plain training on Pang & Lee polarity: clean test accuracy and accuracy on
a perturbed copy of the same test set (typos, adjacent-letter swaps, deletions, casing; seeded).

Both arms use examples/polarity-en.yaml (minilm-l6) with the same seed, split and settings; only
`train.adversarial` differs. The claim is the gap (clean minus perturbed accuracy) per arm: adversarial
training should narrow it. The test split is the run's own (the 10% held out by the seeded split).

    .venv/bin/python benchmarks/adversarial_polarity.py                 # full: 3 epochs each, ~40 min idle
    .venv/bin/python benchmarks/adversarial_polarity.py --quick         # 800 training sentences, 1 epoch
    .venv/bin/python benchmarks/adversarial_polarity.py --arms none fgm pgd train.epochs=2

Results: benchmarks/results/adversarial-polarity[-quick].json and a Markdown table on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

QUICK = ["data.train_limit=800", "train.epochs=1", "train.evals_per_epoch=1"]


def score(run_dir: Path, examples, perturbed) -> dict:
    from tuneforge.rundir import load_run
    run = load_run(run_dir)
    out = {}
    for name, ex in (("clean", examples), ("perturbed", perturbed)):
        res = run.task.evaluate(run.model, run.tokenizer, ex, run.labels, run.cfg.train.max_length,
                                run.cfg.train.eval_batch_size, run.bf16, progress=False)
        out[name] = round(res["metrics"]["accuracy"], 4)
    out["gap_points"] = round(100 * (out["clean"] - out["perturbed"]), 2)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("overrides", nargs="*", help="dotted.key=value for every arm")
    ap.add_argument("--config", default=str(ROOT / "examples" / "polarity-en.yaml"))
    ap.add_argument("--arms", nargs="+", default=["none", "fgm"], help="train.adversarial values to compare")
    ap.add_argument("--epsilon", type=float, default=0.25, help="train.adversarial_epsilon for fgm/pgd (tuneforge's default)")
    ap.add_argument("--rate", type=float, default=0.2, help="share of words perturbed in the test copy")
    ap.add_argument("--seed", type=int, default=0, help="seed of the perturbation")
    ap.add_argument("--quick", action="store_true", help=f"smoke setting: {' '.join(QUICK)}")
    ap.add_argument("--runs", default=str(ROOT / "bench_runs"), help="where the arms' run directories go")
    args = ap.parse_args()

    from tuneforge.config import load_config
    from tuneforge.data.perturb import perturb_examples
    from tuneforge.data.splits import load_splits
    from tuneforge.train.run import train

    tag = "adversarial-polarity" + ("-quick" if args.quick else "")
    overrides = (QUICK if args.quick else []) + list(args.overrides)
    results = {"config": args.config, "overrides": overrides, "perturbation": {"rate": args.rate, "seed": args.seed,
               "ops": "typo, swap, delete, case (case is a no-op for the uncased minilm-l6)"}, "arms": {}}
    test = perturbed = None
    for arm in args.arms:
        # the epsilon is in the name: a finished arm is reused below, and must not be one of another epsilon
        out_dir = Path(args.runs) / (f"{tag}-{arm}" + (f"-eps{args.epsilon:g}" if arm != "none" else ""))
        cfg = load_config(args.config, overrides + [f"train.adversarial={arm}", f"train.adversarial_epsilon={args.epsilon}",
                                                    f"output_dir={out_dir}"])
        if test is None:
            test = load_splits(cfg).test
            perturbed = perturb_examples(test, seed=args.seed, rate=args.rate)
            results["test_examples"] = len(test)
            results["perturbed_samples"] = [{"clean": a.text, "perturbed": b.text} for a, b in zip(test[:3], perturbed[:3])]
        t0 = time.perf_counter()
        if not (out_dir / "metrics.json").is_file():  # a finished arm is reused: rerun the script after a kill
            train(cfg, progress=False, overwrite=True)
        train_s = time.perf_counter() - t0
        m = json.loads((out_dir / "metrics.json").read_text(encoding="utf-8"))
        results["arms"][arm] = {**score(out_dir, test, perturbed), "epsilon": args.epsilon if arm != "none" else None,
                                "train_runtime_s": m["train"]["runtime_s"], "steps": m["train"]["steps"],
                                "wall_s_this_call": round(train_s, 1), "run": str(out_dir)}
        print(arm, results["arms"][arm], flush=True)
    base = results["arms"].get("none")
    if base:
        for arm, r in results["arms"].items():
            r["gap_narrowed_points"] = round(base["gap_points"] - r["gap_points"], 2)
            # a model that unlearned the task has no gap either: the narrowing counts only beside this
            r["clean_drop_points"] = round(100 * (base["clean"] - r["clean"]), 2)
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{tag}.json"
    path.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print("\n| arm | epsilon | clean acc | perturbed acc | gap (points) | clean drop (points) | train s |\n"
          "|---|---|---|---|---|---|---|")
    for arm, r in results["arms"].items():
        print(f"| {arm} | {r['epsilon'] or '-'} | {r['clean']:.4f} | {r['perturbed']:.4f} | {r['gap_points']:.2f} | "
              f"{r.get('clean_drop_points', '-')} | {r['train_runtime_s']} |")
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
