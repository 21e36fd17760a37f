"""`tuneforge app support train`: the support run directory, written once, whole.

    RUN/support.json   what was trained on (the FAQ's path and sha256), the settings, the validation curve,
                       the chosen epoch and the hand-off threshold chosen on validation
    RUN/retriever/     the tuned sentence encoder (plain Hugging Face: AutoModel + AutoTokenizer)
    RUN/README.md      the card
    RUN/handoff.png    validation cosines of right answers, wrong answers and off-topic messages, and the threshold

The run is built in a hidden sibling folder and renamed into place at the end (tuneforge.writing.dir_written_whole),
so an interrupted or failed run leaves no half-written directory behind and a finished one is never overwritten
without --overwrite.
"""

from __future__ import annotations

import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

from ...errors import TuneforgeError
from ...writing import dir_written_whole
from .retriever_tuning import (Pair, RetrieverTuning, choose_threshold, cosines, handoff_rates, history_pairs,
                               read_offtopic, read_validation, top1, tune_retriever, variants)

RUN_FILE = "support.json"
KIND = "support-retriever"
OFFTOPIC_N = 300
DENSE_WEIGHTS = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0)  # 0.5: plain RRF; 1.0: the tuned encoder alone


def synthetic_validation(entries, lang: str, cfg: RetrieverTuning) -> list[Pair]:
    """Variants drawn with a seed training never uses, minus any text a training epoch draws."""
    from .faq import normalise
    seen = {normalise(p.anchor) for e in range(1, cfg.epochs + 1)
            for p in variants(entries, lang, cfg.variants_per_question, cfg.seed * 1000 + e)}
    return [p for p in variants(entries, lang, 2, cfg.seed * 1000 + 997) if normalise(p.anchor) not in seen]


def train_support(faq: str, output: str | Path, *, lang: str = "auto", backbone: str | None = None,
                  tuning: RetrieverTuning | None = None, history: str | None = None, validation: str | None = None,
                  offtopic: str | None = None, overwrite: bool = False, progress: bool = True) -> tuple[Path, dict]:
    from ...paths import sha256_file
    from ...tasks.base import cpu_description
    from .assistant import DEFAULT_BACKBONE, detect_language
    from .faq import read_faq
    from .retrieval import Encoder, Retriever
    t0 = time.monotonic()

    def say(m: str) -> None:
        if progress:
            print(f"[support {time.monotonic() - t0:5.0f}s] {m}", file=sys.stderr, flush=True)

    tuning, output = tuning or RetrieverTuning(), Path(output)
    entries = read_faq(faq)
    if len(entries) < 2:
        raise TuneforgeError(f"the FAQ has {len(entries)} entry; a retriever learns to tell entries apart",
                             where="--faq", fix="add entries (at least 2; a few dozen to be useful)")
    if lang not in ("auto", "en", "zh"):
        raise TuneforgeError(f"unknown language {lang!r}", where="--lang", fix="use auto, en or zh")
    lang = detect_language([e.question for e in entries]) if lang == "auto" else lang
    backbone = backbone or DEFAULT_BACKBONE[lang]
    extra, history_info = history_pairs(history, entries) if history else ([], None)
    val = read_validation(validation, entries) if validation else synthetic_validation(entries, lang, tuning)
    if not val:
        raise TuneforgeError("no validation message could be drawn from the FAQ (no question has a word to "
                             "reword)", where="--faq", fix="give real validation messages with --validation")
    off, off_source = read_offtopic(offtopic, lang, OFFTOPIC_N, tuning.seed)
    enc = Encoder(backbone)  # an unknown backbone fails here, before the run folder exists
    with dir_written_whole(output, RUN_FILE, "support run", overwrite, where="--output") as tmp:
        say(f"{len(entries)} FAQ entries ({lang}), {backbone}; {len(val)} validation messages "
            f"({'from ' + str(validation) if validation else 'synthetic'}); {len(extra)} history pairs")
        retriever = Retriever([e.question for e in entries], encoder=enc)
        train = tune_retriever(retriever, entries, lang, tuning, val, extra, say=say, progress=progress)
        vecs = enc.embed([p.anchor for p in val])
        by_weight = {}
        for w in DENSE_WEIGHTS:  # the first best wins: plain RRF unless more weight measures better
            retriever.dense_weight = w
            by_weight[w] = top1(retriever, val, vecs)
        retriever.dense_weight = max(DENSE_WEIGHTS, key=lambda w: by_weight[w][0]["fused"])
        m, hits = by_weight[retriever.dense_weight]
        right, wrong = cosines(val, hits)
        off_cos = np.array([h[0].cosine for h in retriever.search(off, "fused", top_k=1) if h])
        chosen = choose_threshold(right, np.concatenate([wrong, off_cos]))
        say(f"kept epoch {train['chosen_epoch']}, dense weight {retriever.dense_weight}: validation fused top-1 "
            f"{m['fused']:.3f}; hand-off threshold "
            f"{chosen['threshold']} (keeps {chosen['right_kept']:.0%} of right answers, hands off "
            f"{chosen['bad_handed_off']:.0%} of wrong and off-topic)")
        enc.save(tmp / "retriever")
        record = {
            "kind": KIND, "lang": lang, "backbone": backbone, "prefix": enc.prefix, "threshold": chosen["threshold"],
            "dense_weight": retriever.dense_weight,
            "faq": {"path": str(Path(faq).resolve()), "sha256": sha256_file(Path(faq)), "entries": len(entries)},
            "tuning": tuning.to_dict(), "history": history_info,
            "validation": {"source": str(validation) if validation else "synthetic", "messages": len(val),
                           "fused_top1": m["fused"], "dense_top1": m["dense"], "offtopic_source": off_source,
                           "fused_top1_by_dense_weight": {str(w): r[0]["fused"] for w, r in by_weight.items()},
                           "offtopic_messages": len(off), "threshold_choice": chosen,
                           "handoff": handoff_rates(right, wrong, off_cos, chosen["threshold"])},
            "train": train,
            "machine": {"python": platform.python_version(), "cpu": cpu_description()},
            "runtime_s": round(time.monotonic() - t0, 1)}
        (tmp / RUN_FILE).write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        from ...evaluation.plots import threshold_histogram_png
        threshold_histogram_png({"right answers": right, "wrong answers": wrong, "off-topic": off_cos},
                                chosen["threshold"], tmp / "handoff.png",
                                "Validation: the best entry's cosine, and the hand-off threshold", "cosine")
        (tmp / "README.md").write_text(card(record), encoding="utf-8")
    return output, record


def card(r: dict) -> str:
    v, t = r["validation"], r["train"]
    h = v["handoff"]
    curve = "\n".join(f"| {c['epoch']} | {c['fused_top1']:.3f} | {c['dense_top1']:.3f} | {c.get('train_loss', '–')} |"
                      for c in t["curve"])
    synthetic = v["source"] == "synthetic"
    return f"""# Support assistant retriever ({r['lang']})

A sentence encoder ({r['backbone']}) fine-tuned to find the FAQ entry a customer message asks about, for
`tuneforge app support --faq FAQ --retriever THIS_RUN`. The FAQ: `{r['faq']['path']}`
({r['faq']['entries']} entries, sha256 `{r['faq']['sha256'][:16]}…`). Retrieval fuses BM25 and this encoder
(reciprocal rank fusion); the reply's confidence is the encoder's cosine with the best entry's question.

## Trained on
FAQ questions reworded ({r['tuning']['variants_per_question']} synonym/typo variants per question and epoch),
{'answer → question pairs, ' if r['tuning']['answer_pairs'] else ''}{(str(r['history']['pairs']) + ' past messages from ' + r['history']['file'] + ', ') if r['history'] else ''}in-batch negatives{' and BM25 hard negatives' if r['tuning']['hard_negatives'] else ''};
{t['steps']} steps in {t['runtime_s']} s{' (bf16 autocast)' if t['bf16'] else ''}.

## Validation ({v['messages']} messages, {'synthetic rewordings never trained on' if synthetic else 'from ' + v['source']})
| epoch | fused top-1 | dense top-1 | training loss |
|---|---|---|---|
{curve}

Kept: epoch {t['chosen_epoch']} of {t['epochs_run']} run (epoch 0 is the untuned encoder: tuning is kept only when it
helps on validation){f"; stopped early, {r['tuning']['patience']} epochs without a better score (at most {r['tuning']['epochs']})" if t['stopped_early'] else ''}.
Fusion: the dense ranking's weight {r['dense_weight']} (0.5 is plain reciprocal rank fusion), chosen on validation
(fused top-1 {v['fused_top1']:.3f}).
{'Synthetic validation rewordings resemble the training ones: real messages (--validation) say more.' if synthetic else ''}

## Hand-off
Threshold **{r['threshold']}** (cosine), chosen on validation to balance right answers kept against wrong
answers and off-topic messages ({v['offtopic_source']}, {v['offtopic_messages']} messages) handed off. On validation it
keeps {h['right_kept']:.0%} of right answers and hands off {_pct(h['wrong']['recall'])} of wrong answers and
{_pct(h['offtopic']['recall'])} of off-topic messages (`handoff.png`). These are validation numbers, the data the
threshold was chosen on: `benchmarks/app_support.py --tune` reports them on a separate test part.

![hand-off threshold](handoff.png)

Reproduce: `tuneforge app support train --faq {r['faq']['path']} --output RUN` (seed {r['tuning']['seed']}).
"""


def _pct(x) -> str:
    return "–" if x is None else f"{x:.0%}"


def load_support_run(run: str | Path) -> dict:
    run = Path(run)
    for name in (RUN_FILE, "retriever/config.json"):
        if not (run / name).is_file():
            raise TuneforgeError(f"{run} is not a finished support run (no {name})", where="--retriever",
                                 fix="point --retriever at the --output of `tuneforge app support train`")
    try:
        record = json.loads((run / RUN_FILE).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise TuneforgeError(f"{run / RUN_FILE} is damaged ({e})", where="--retriever",
                             fix="train the run again") from None
    if (not isinstance(record, dict) or record.get("kind") != KIND
            or not all(isinstance(record.get(k), (int, float)) for k in ("threshold", "dense_weight"))):
        raise TuneforgeError(f"{run / RUN_FILE} is not a support retriever record", where="--retriever",
                             fix="train the run again with `tuneforge app support train`")
    return record | {"path": str(run / "retriever")}
