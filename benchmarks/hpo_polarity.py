"""What does `tuneforge tune` buy? Hyperparameter search (Optuna TPE + median pruning) on polarity against the
config's own defaults, in one run, on one seeded split (the config's 80/10/10, train.seed):

  default         the tune config trained as written (its search space ignored), on the search subset
  study           `tuneforge tune CONFIG --trials N` (the same subset; each trial is scored on validation only)
  final-default   the config's defaults on the full training split (no train/validation limits)
  final-best      the study's best.yaml on the full training split: the workflow the example config describes

The study picks its best trial by validation score; the test set only reports. The best trial's validation score
is the maximum of N noisy draws and so biased upwards: the fair comparison is on test, default vs best, and
between the two final runs a paired exact McNemar test on the same 400 test sentences says whether the
difference is more than noise. Pruning is reported as the share of validation evaluations the study skipped
(a pruned trial stops at its last reported evaluation) and the study's wall time against its trials' run time.

    .venv/bin/python benchmarks/hpo_polarity.py                              # 12 trials, then the final pair
    .venv/bin/python benchmarks/hpo_polarity.py --trials 20                  # resumes the study, adds 8 trials
    .venv/bin/python benchmarks/hpo_polarity.py --quick --work /tmp/hpo-smoke --results /tmp   # smoke (minutes)
Results: benchmarks/results/hpo-polarity.json; the study itself (study.db, results.md, tune.png, best.yaml) in
bench_runs/hpo-polarity/study. A killed run resumes: finished arms are read back, the study resumes from SQLite.
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"
QUICK = ["data.train_limit=120", "data.validation_limit=40", "data.test_limit=60", "train.epochs=1",
         "train.max_length=48"]
FULL_DATA = ["data.train_limit=null", "data.validation_limit=null"]


def train_arm(config: str, overrides: list[str], out: Path) -> dict:
    """One `tuneforge train`, or the metrics of a finished one (a rerun after a kill skips it)."""
    from tuneforge.config import load_config
    from tuneforge.train.run import train
    if not (out / "metrics.json").is_file():
        cfg = load_config(config, overrides + [f"output_dir={out}"])
        train(cfg, progress=False, overwrite=True)
    m = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    return {"run_dir": str(out), "validation": m.get("validation", {}), "test": m["test"],
            "runtime_s": m["train"]["runtime_s"], "steps": m["train"].get("steps")}


def paired(a: Path, b: Path) -> dict:
    """Exact McNemar on the test sentences exactly one of the two runs gets right."""
    from scipy.stats import binomtest
    ra, rb = ([json.loads(l) for l in (p / "test_predictions.jsonl").read_text(encoding="utf-8").splitlines() if l]
              for p in (a, b))
    assert [r["text"] for r in ra] == [r["text"] for r in rb], "the two runs scored different test sets"
    only_a = sum(x["predicted"] == x["label"] != y["predicted"] for x, y in zip(ra, rb))
    only_b = sum(y["predicted"] == y["label"] != x["predicted"] for x, y in zip(ra, rb))
    p = binomtest(only_a, only_a + only_b, 0.5).pvalue if only_a + only_b else 1.0
    return {"only_first_right": only_a, "only_second_right": only_b, "mcnemar_exact_p_two_sided": round(float(p), 4)}


def study_stats(study_dir: Path, evals_planned: int) -> dict:
    rows = list(csv.DictReader((study_dir / "results.csv").open(encoding="utf-8")))
    state = [r["state"] for r in rows]
    evals = [int(r["evals"]) for r in rows if r.get("evals")]
    return {"trials": len(rows), "completed": state.count("complete"), "pruned": state.count("pruned"),
            "failed": state.count("fail"), "evaluations_run": sum(evals),
            "evaluations_planned": evals_planned * len(evals),
            "trial_seconds": round(sum(float(r["duration_s"] or 0) for r in rows), 1), "rows": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("config", nargs="?", default=str(ROOT / "examples" / "tune-polarity.yaml"))
    ap.add_argument("override", nargs="*", help="dotted config overrides for every arm")
    ap.add_argument("--trials", type=int, default=12)
    ap.add_argument("--work", default=str(ROOT / "bench_runs" / "hpo-polarity"))
    ap.add_argument("--no-final", action="store_true", help="skip the two full-data runs")
    ap.add_argument("--quick", action="store_true", help="smoke test: tiny subsets, 1 epoch, 3 trials")
    ap.add_argument("--results", default=str(RESULTS))
    args = ap.parse_intermixed_args()
    if args.quick:
        args.override = QUICK + args.override
        args.trials = min(args.trials, 3)
    from tuneforge.config import load_config
    from tuneforge.methods.tune import format_summary, tune

    work = Path(args.work)
    study_dir = work / "study"
    res: dict = {"config": args.config, "overrides": args.override, "trials": args.trials,
                 "machine": platform.processor() or platform.machine()}
    print("== default (the config as written, on the search subset)", flush=True)
    res["default"] = train_arm(args.config, args.override, work / "default")

    print(f"== study: {args.trials} trials", flush=True)
    cfg = load_config(args.config, args.override + [f"tune.output_dir={study_dir}"])
    t0 = time.perf_counter()
    tr = tune(cfg, args.trials, progress=True)
    wall = time.perf_counter() - t0
    print(format_summary(tr), flush=True)
    evals_planned = round(cfg.train.epochs * cfg.train.evals_per_epoch)
    st = study_stats(study_dir, evals_planned)
    best_row = next(r for r in st["rows"] if int(r["trial"]) == tr.best_number)
    res["study"] = {k: v for k, v in st.items() if k != "rows"} | {
        "wall_s_this_call": round(wall, 1), "metric": tr.metric, "best_trial": tr.best_number,
        "best_validation": round(tr.best_value, 4), "best_params": tr.best_params,
        "best_test_accuracy": float(best_row["test_accuracy"]), "best_test_macro_f1": float(best_row["test_macro_f1"]),
        "completed_test_accuracy": sorted(float(r["test_accuracy"]) for r in st["rows"] if r["state"] == "complete"),
        "study_dir": str(study_dir)}

    if not args.no_final:
        print("== final-default (full training split)", flush=True)
        res["final_default"] = train_arm(args.config, args.override + FULL_DATA, work / "final-default")
        print("== final-best (best.yaml on the full training split)", flush=True)
        res["final_best"] = train_arm(str(study_dir / "best.yaml"), args.override + FULL_DATA, work / "final-best")
        res["final_paired"] = paired(Path(res["final_best"]["run_dir"]), Path(res["final_default"]["run_dir"]))

    out = Path(args.results) / "hpo-polarity.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")
    m, s = tr.metric, res["study"]
    print(f"\nresults: {out}\n\n| arm | training set | validation {m} | test accuracy | test macro F1 |\n|---|---|---|---|---|")
    rows = [("default", "subset", res["default"]),
            (f"best of {s['trials']} trials (#{s['best_trial']})", "subset",
             {"validation": {m: s["best_validation"]},
              "test": {"accuracy": s["best_test_accuracy"], "macro_f1": s["best_test_macro_f1"]}})]
    if not args.no_final:
        rows += [("final-default", "full", res["final_default"]), ("final-best", "full", res["final_best"])]
    for name, data, r in rows:
        v = r["validation"].get(m)
        print(f"| {name} | {data} | {'' if v is None else format(v, '.4f')} | {r['test']['accuracy']:.4f} | "
              f"{r['test']['macro_f1']:.4f} |")
    print(f"\n{s['completed']} completed, {s['pruned']} pruned; {s['evaluations_run']} of {s['evaluations_planned']} "
          f"validation evaluations run; trials took {s['trial_seconds']:.0f} s")
    if "final_paired" in res:
        print(f"final-best vs final-default, paired on test: {res['final_paired']}")


if __name__ == "__main__":
    main()
