"""Does instruction tuning teach a small decoder a real FAQ's answers? Fine-tuned vs untuned, same prompts, same run
(issue 19).

Data: ChatterBot's FAQ (`tuneforge datasets chatterbot-faq`: 718 English, 345 Chinese question/answer groups; each
row is a group's first question). Two splits, both seeded, neither with a test question's text in training:

  paraphrases  the realistic case. Training: every FAQ row. Validation: synonym and typo variants of a seeded 10 %
               of the rows. Test: the groups' real other questions (heldout_<lang>.jsonl, "natural") and synonym
               and typo variants of a disjoint seeded 15 % of the rows (benchmarks/app_support.py's generator,
               tuneforge.data.augment / tuneforge.data.perturb), each answered with its group's answer.
  groups       the hard case. Whole groups held out: 80 / 10 / 10 % of the rows, seeded; test answers never trained.

Each arm is one plain `tuneforge train` (task text-generation; backbone smollm2-135m-instruct for English,
gemma-3-270m for Chinese with --lang zh; train.epochs and bf16 as given here, everything else the defaults), which
scores its test answers and the untuned backbone's answers to the same prompts (ROUGE-L and chrF per answer). The
comparison is paired: the per-question difference fine-tuned − untuned, its mean and its bootstrap standard error
(2,000 resamples of the questions, seeded); the claim holds when the mean exceeds three standard errors for both
scores.

    .venv/bin/python benchmarks/faq_generation.py --arms paraphrases groups        # English, ~1 h on 2 cores
    .venv/bin/python benchmarks/faq_generation.py --arms groups --epochs 1 --limit 40  # a smoke run
    .venv/bin/python benchmarks/faq_generation.py --table

Results: benchmarks/results/faq_generation/<lang>-<arm>.json (runs in bench_runs/faq_generation/, never committed).
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
RESULTS = ROOT / "benchmarks" / "results" / "faq_generation"
WORK = ROOT / "bench_runs" / "faq_generation"
BACKBONES = {"en": "smollm2-135m-instruct", "zh": "gemma-3-270m"}
SEED = 42


def faq(lang: str) -> list[dict]:
    from tuneforge.apps.support.chatterbot import NAME  # registers the data set (the support app's)
    from tuneforge.data.datasets_fetch import prepare
    path = prepare(NAME, progress=False) / f"faq_{lang}.csv"
    with open(path, encoding="utf-8", newline="") as f:
        return [{"question": r["question"], "answer": r["answer"]} for r in csv.DictReader(f)]


def splits(lang: str, arm: str, limit: int | None) -> dict[str, list[dict]]:
    rows = faq(lang)
    order = list(range(len(rows)))
    random.Random(SEED).shuffle(order)
    if arm == "groups":
        n_val, n_test = len(rows) // 10, len(rows) // 10
        parts = {"test": order[:n_test], "validation": order[n_test:n_test + n_val], "train": order[n_test + n_val:]}
        out = {k: [rows[i] for i in sorted(v)] for k, v in parts.items()}
    else:
        from app_support import make_queries  # the support benchmark's seeded synonym and typo variants
        from tuneforge.apps.support.chatterbot import heldout
        by_question = {r["question"]: r["answer"] for r in rows}
        n_val, n_test = len(rows) // 10, len(rows) * 15 // 100
        val_q = [rows[i]["question"] for i in order[:n_val]]
        test_q = [rows[i]["question"] for i in order[n_val:n_val + n_test]]
        variants = lambda qs, seed: [q for q in make_queries(qs, lang, seed) if q["kind"] != "natural"]  # noqa: E731
        trained = set(by_question)
        natural = [q for q in heldout(lang) if q["target"] in by_question and q["query"] not in trained]
        out = {"train": rows,
               "validation": [{"question": q["query"], "answer": by_question[q["target"]]}
                              for q in variants(val_q, SEED + 1) if q["query"] not in trained],
               "test": [{"question": q["query"], "answer": by_question[q["target"]], "kind": q["kind"]}
                        for q in natural + variants(test_q, SEED + 2) if q["query"] not in trained]}
    if limit:
        out = {k: v[:limit] for k, v in out.items()}
    return out


def write_csv(path: Path, rows: list[dict]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["question", "answer"])
        w.writerows([r["question"], r["answer"]] for r in rows)


def paired(fine: list[float], base: list[float], rng: np.random.Generator, n: int = 2000) -> dict:
    d = np.asarray(fine) - np.asarray(base)
    means = d[rng.integers(0, len(d), size=(n, len(d)))].mean(axis=1)
    se = float(means.std(ddof=1))
    return {"fine_tuned": float(np.mean(fine)), "untuned": float(np.mean(base)), "diff": float(d.mean()),
            "bootstrap_se": se, "diff_over_se": float(d.mean() / se) if se > 0 else None}


def cpu() -> dict:
    from tuneforge.tasks.base import cpu_description  # the record export --format auto writes too
    return cpu_description()


def run_arm(lang: str, arm: str, epochs: float, limit: int | None, bf16: str) -> dict:
    work = WORK / f"{lang}-{arm}"
    work.mkdir(parents=True, exist_ok=True)
    parts = splits(lang, arm, limit)
    for name, rows in parts.items():
        write_csv(work / f"{name}.csv", rows)
    cfg = {"task": "text-generation", "backbone": BACKBONES[lang], "output_dir": str(work / "run"),
           "data": {k: str(work / f"{k}.csv") for k in ("train", "validation", "test")},
           "train": {"epochs": epochs, "seed": SEED, "bf16": bf16},
           "generate": {"max_new_tokens": 64, "eval_limit": len(parts["test"])}}
    (work / "config.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
    t0 = time.time()
    subprocess.run([sys.executable, "-m", "tuneforge.cli", "train", str(work / "config.yaml"), "--overwrite"],
                   check=True, cwd=ROOT)
    run = work / "run"
    read = lambda f: [json.loads(x) for x in (run / f).read_text(encoding="utf-8").splitlines() if x.strip()]  # noqa: E731
    fine, base = read("test_predictions.jsonl"), read("baseline_untuned_predictions.jsonl")
    assert [r["text"] for r in fine] == [r["text"] for r in base], "the two answer files are not the same questions"
    rng = np.random.default_rng(SEED)
    metrics = json.loads((run / "metrics.json").read_text())
    res = {"lang": lang, "arm": arm, "backbone": BACKBONES[lang], "epochs": epochs, "bf16": bf16,
           "n_train": len(parts["train"]), "n_validation": len(parts["validation"]), "n_test": len(fine),
           "seconds": round(time.time() - t0, 1), "cpu": cpu(),
           "rouge_l": paired([r["rouge_l"] for r in fine], [r["rouge_l"] for r in base], rng),
           "chrf": paired([r["chrf"] for r in fine], [r["chrf"] for r in base], rng),
           "test_loss": {"fine_tuned": metrics["test"]["loss"], "untuned": metrics["baseline_untuned"]["test"]["loss"]},
           "samples": [{"question": f["text"], "reference": f["reference"], "fine_tuned": f["generated"],
                        "untuned": b["generated"]} for f, b in list(zip(fine, base))[:5]]}
    if arm == "paraphrases":  # the real rephrasings apart from the generated variants
        kinds = [r.get("kind") for r in parts["test"]]
        res["by_kind"] = {k: paired([f["rouge_l"] for f, kk in zip(fine, kinds) if kk == k],
                                    [b["rouge_l"] for b, kk in zip(base, kinds) if kk == k], rng)
                          for k in sorted(set(kinds))}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{lang}-{arm}.json").write_text(json.dumps(res, indent=1, ensure_ascii=False), encoding="utf-8")
    return res


def table() -> None:
    print(f"{'arm':<16}{'n test':>7}  {'ROUGE-L tuned/untuned (diff/SE)':>34}  {'chrF tuned/untuned (diff/SE)':>32}")
    for f in sorted(RESULTS.glob("*.json")):
        r = json.loads(f.read_text())
        cell = lambda m: f"{m['fine_tuned']:.3f}/{m['untuned']:.3f} ({m['diff_over_se']:.1f})"  # noqa: E731
        print(f"{r['lang'] + '-' + r['arm']:<16}{r['n_test']:>7}  {cell(r['rouge_l']):>34}  {cell(r['chrf']):>32}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lang", choices=sorted(BACKBONES), default="en")
    ap.add_argument("--arms", nargs="+", choices=("paraphrases", "groups"), default=["paraphrases", "groups"])
    ap.add_argument("--epochs", type=float, default=3.0)
    ap.add_argument("--bf16", default="false", help="train.bf16 (false: the same numbers on every CPU)")
    ap.add_argument("--limit", type=int, help="at most this many rows per split (a smoke run)")
    ap.add_argument("--table", action="store_true", help="print the stored results only")
    a = ap.parse_args()
    if not a.table:
        for arm in a.arms:
            run_arm(a.lang, arm, a.epochs, a.limit, a.bf16)
    table()


if __name__ == "__main__":
    main()
