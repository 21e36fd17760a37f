"""Parameter-efficient tuning vs full fine-tuning, in one run, on one seeded split:

  full   train.method=full  (every weight trains; tuneforge's defaults)
  lora   train.method=lora  (LoRA on PEFT's default target modules + the head; default rate and rank)
  ia3    train.method=ia3   (IA3 rescaling vectors + the head)
  lora@LR  extra LoRA arms at other body rates (--lora-lrs), to choose the default rate on *validation*

Each arm is `tuneforge train` in its own process (its own peak RSS), one after another, never in parallel;
--repeats N runs the arms N times in alternation (full, lora, ia3, full, ...) so a change in machine load
hits every arm alike; samples/s is reported as a ratio to the full arm of the same round. Reported per arm:
test accuracy, trainable parameters and their share, samples/s and its ratio. The issue's target: LoRA
within 1.5 points of full fine-tuning with under 2% of the parameters trainable.

    .venv/bin/python benchmarks/peft_polarity.py                      # examples/polarity-en.yaml, 3 arms
    .venv/bin/python benchmarks/peft_polarity.py --arms lora --lora-lrs 5e-4 2e-3 --name peft-polarity-lr
    # smoke test (a few minutes): small subsets, results in /tmp
    .venv/bin/python benchmarks/peft_polarity.py --quick --results /tmp --name smoke
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
QUICK = ["data.train_limit=240", "data.validation_limit=60", "data.test_limit=100", "train.epochs=1",
         "train.max_length=64"]


def arm_overrides(arm: str) -> list[str]:
    method, _, lr = arm.partition("@")
    return [f"train.method={method}"] + ([f"train.learning_rate={lr}"] if lr else [])


def child(args) -> None:
    from tuneforge.config import load_config
    from tuneforge.train.run import train
    cfg = load_config(args.config, args.override)
    cfg.output_dir = str(ROOT / "bench_runs" / f"{args.name}-{args.child}")
    out = train(cfg, progress=False, overwrite=True)
    m = json.loads((out / "metrics.json").read_text())
    t = m["train"]
    print("RESULT " + json.dumps({
        "test_accuracy": m["test"]["accuracy"], "test_macro_f1": m["test"]["macro_f1"],
        "validation_accuracy": m["validation"]["accuracy"], "n_test": m["test"]["n"],
        "majority_accuracy": m.get("baseline_majority", {}).get("accuracy"),
        "learning_rate": cfg.train.learning_rate, "head_learning_rate": cfg.train.head_learning_rate,
        "target_modules": cfg.peft.target_modules if cfg.train.method in ("lora", "ia3") else None,
        "trainable_parameters": t["trainable_parameters"], "total_parameters": t["total_parameters"],
        "trainable_share": t["trainable_parameters"] / t["total_parameters"],
        "samples_per_second": t["samples_per_second"], "train_only_samples_per_second": t["train_only_samples_per_second"],
        "steps": t["steps"], "epochs_run": t["epochs"], "runtime_s": t["runtime_s"], "peak_rss_mb": t["peak_rss_mb"]}))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config", nargs="?", default=str(ROOT / "examples" / "polarity-en.yaml"))
    p.add_argument("override", nargs="*", help="dotted config overrides applied to every arm")
    p.add_argument("--arms", nargs="+", default=["full", "lora", "ia3"])
    p.add_argument("--lora-lrs", nargs="*", default=[], help="extra LoRA arms at these body learning rates")
    p.add_argument("--repeats", type=int, default=1, help="rounds of all arms, alternating")
    p.add_argument("--quick", action="store_true", help="small subsets and one epoch: checks the script, not the claim")
    p.add_argument("--name", default="peft-polarity", help="results file stem")
    p.add_argument("--results", default=str(RESULTS), help="folder for the results JSON")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_intermixed_args()
    if args.quick:
        args.override = QUICK + args.override
    if args.child:
        return child(args)

    arms = list(args.arms) + [f"lora@{lr}" for lr in args.lora_lrs]
    runs: dict[str, list[dict]] = {a: [] for a in arms}
    for rnd in range(args.repeats):
        for arm in arms:
            ov = args.override + arm_overrides(arm)
            print(f"== {arm} (round {rnd + 1}): {' '.join(ov)}", flush=True)
            r = subprocess.run([sys.executable, __file__, args.config, *ov, "--name", args.name,
                                "--child", arm.replace("@", "-lr")], capture_output=True, text=True)
            line = [l for l in r.stdout.splitlines() if l.startswith("RESULT ")]
            if r.returncode or not line:
                sys.exit(f"{arm} failed:\n{r.stderr[-3000:]}")
            runs[arm].append(json.loads(line[0][7:]) | {"round": rnd + 1})
            print(json.dumps(runs[arm][-1]), flush=True)

    def ratio(arm: str, key: str) -> float | None:
        if "full" not in runs:
            return None
        # per round: each arm against the full arm measured next to it
        return round(statistics.mean(r[key] / f[key] for r, f in zip(runs[arm], runs["full"])), 3)

    summary = {"config": args.config, "overrides": args.override, "repeats": args.repeats, "quick": args.quick,
               "machine": platform.processor() or platform.machine(), "arms": {}}
    for arm, rs in runs.items():
        summary["arms"][arm] = {
            "test_accuracy": round(statistics.mean(r["test_accuracy"] for r in rs), 4),
            "validation_accuracy": round(statistics.mean(r["validation_accuracy"] for r in rs), 4),
            "trainable_share": rs[0]["trainable_share"],
            "samples_per_second_vs_full": ratio(arm, "samples_per_second"),
            "train_only_samples_per_second_vs_full": ratio(arm, "train_only_samples_per_second"),
            "runs": rs}
    if "full" in runs and "lora" in runs:
        gap = summary["arms"]["full"]["test_accuracy"] - summary["arms"]["lora"]["test_accuracy"]
        share = summary["arms"]["lora"]["trainable_share"]
        summary["target"] = {"lora_gap_points": round(100 * gap, 2), "lora_trainable_share": share,
                             "met": gap <= 0.015 and share < 0.02,
                             "rule": "LoRA within 1.5 points of full fine-tuning with < 2% of parameters trainable"}
    out = Path(args.results) / f"{args.name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2))
    n_test = next(iter(runs.values()))[0]["n_test"]
    print(f"\nresults: {out} (test n = {n_test})\n")
    print("| arm | body lr | trainable | share | validation acc | test acc | samples/s | × full | train-only × full | wall s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for arm, s in summary["arms"].items():
        rs = s["runs"]
        print(f"| {arm} | {rs[0]['learning_rate']:g} | {rs[0]['trainable_parameters']:,} | {s['trainable_share']:.2%} | "
              f"{s['validation_accuracy']:.4f} | {s['test_accuracy']:.4f} | "
              f"{statistics.mean(r['samples_per_second'] for r in rs):.1f} | {s['samples_per_second_vs_full']} | "
              f"{s['train_only_samples_per_second_vs_full']} | {sum(r['runtime_s'] for r in rs):.0f} |")
    if "target" in summary:
        t = summary["target"]
        print(f"\nLoRA: {t['lora_gap_points']} points below full, {t['lora_trainable_share']:.2%} trainable -> "
              f"target {'met' if t['met'] else 'NOT met'}")


if __name__ == "__main__":
    main()
