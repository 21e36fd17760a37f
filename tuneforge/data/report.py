"""The data report: counts, labels, duplicates, leakage between splits, lengths, truncation, drops.

`tuneforge check-data CONFIG` prints it; training writes it into the run directory and the model
card, so the numbers a model was trained on travel with it.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from .readers import TokenExample
from .splits import Splits, key_of, labels_in


CHARS_PER_TOKEN = 8  # a generous first guess: English runs ~4 characters a token, Chinese ~1
FALLBACK_BOUND = 8192  # tokens, for a tokenizer that does not say how long a model's input can be


def token_lengths(tokenizer, texts: list[str], bound: int | None = None) -> list[int]:
    """Tokens per text (special tokens included), as `tokenizer(texts)` would count them, at a cost bounded
    by `bound` (the longest input worth measuring exactly; default the tokenizer's model_max_length)
    instead of the text's size. A text longer than bound * CHARS_PER_TOKEN characters is measured on a
    prefix cut at a space; when the prefix already holds more than `bound` tokens, the text is over any
    max_length <= bound (so the truncation count is right) and its length is estimated from the
    prefix's tokens per character. Otherwise the prefix grows x4 until it decides or is the whole text."""
    if bound is None:
        bound = getattr(tokenizer, "model_max_length", None)
        bound = bound if isinstance(bound, int) and 0 < bound <= 10**6 else FALLBACK_BOUND
    first = bound * CHARS_PER_TOKEN
    out = [0] * len(texts)
    short = [i for i, t in enumerate(texts) if len(t) <= first]
    if short:  # one batched call for the ordinary texts: exact
        ids = tokenizer([texts[i] for i in short], truncation=False, verbose=False)["input_ids"]
        for i, x in zip(short, ids):
            out[i] = len(x)
    for i, text in enumerate(texts):
        if len(text) <= first:
            continue
        chars = first
        while True:
            prefix = text[:chars]
            cut = prefix.rfind(" ", chars - chars // 8)  # do not measure half a word as two
            if 0 < cut and chars < len(text):
                prefix = prefix[:cut]
            n = len(tokenizer(prefix, truncation=False, verbose=False)["input_ids"])
            if len(prefix) >= len(text):
                out[i] = n
                break
            if n > bound:
                out[i] = max(n, round(n * len(text) / len(prefix)))
                break
            chars = min(chars * 4, len(text))
    return out


def build_report(splits: Splits, lengths: dict[str, list[int]] | None, max_length: int) -> dict:
    rep: dict = {"splits": {}, "notes": list(splits.notes), "files": {}}
    for path, st in splits.stats.items():
        rep["files"][path] = {"rows": st.rows, "dropped": dict(st.dropped), "tag_scheme": st.scheme,
                              "repaired_tags": st.repaired_tags}
    rep["dropped_while_cleaning"] = dict(splits.dropped)
    rep["redacted"] = dict(splits.redacted)  # PII replaced per type (data.redact), all splits
    rep["augmented"] = dict(splits.augmented)  # augmented train copies per operation (data.augment)
    train_keys = {key_of(e) for e in splits.train}
    for name, ex in splits.items():
        keys = [key_of(e) for e in ex]
        counts = Counter(keys)
        entry = {"examples": len(ex), "labels": dict(sorted(labels_in(ex).items())),
                 "duplicates": sum(c - 1 for c in counts.values())}
        if ex and isinstance(ex[0], TokenExample):
            entry["tokens"] = sum(len(e.tokens) for e in ex)
        if name != "train":
            entry["overlap_with_train"] = sum(1 for k in keys if k in train_keys)
        if lengths and lengths.get(name):
            arr = np.asarray(lengths[name])
            entry["length_tokens"] = {"mean": round(float(arr.mean()), 1), "p50": int(np.percentile(arr, 50)),
                                      "p95": int(np.percentile(arr, 95)), "max": int(arr.max())}
            entry["truncated_share"] = round(float((arr > max_length).mean()), 4)
        rep["splits"][name] = entry
    return rep


def warnings_for(rep: dict, max_length: int) -> list[str]:
    out = []
    for name, s in rep["splits"].items():
        if s.get("overlap_with_train"):
            out.append(f"{s['overlap_with_train']} {name} examples also occur in train: scores on {name} "
                       f"will be optimistic; remove them from one side")
        if s.get("truncated_share", 0) > 0.05:
            out.append(f"{s['truncated_share']:.1%} of {name} examples exceed max_length={max_length} and "
                       f"are truncated; raise train.max_length if the end of a text matters")
        if s["duplicates"] and name != "train":
            out.append(f"{name} has {s['duplicates']} repeated examples")
    train_labels = rep["splits"]["train"]["labels"]
    if train_labels:
        top = max(train_labels.values())
        low = min(train_labels.values())
        if low * 10 < top:
            out.append(f"labels are imbalanced in train ({low} vs {top}); macro F1 is the metric to watch")
        rare = [l for l, c in train_labels.items() if c < 8]
        if rare:
            out.append(f"labels with fewer than 8 training examples: {', '.join(rare)}")
    for path, f in rep["files"].items():
        if f["repaired_tags"]:
            out.append(f"{path}: {f['repaired_tags']} inside-tags did not continue an entity and were "
                       f"turned into B- tags")
    return out


def format_report(rep: dict, max_length: int) -> str:
    lines = ["Data report", "==========="]
    for path, f in rep["files"].items():
        dropped = ", ".join(f"{v} {k}" for k, v in f["dropped"].items()) or "none"
        scheme = f"; tags {f['tag_scheme']} → BIO" if f["tag_scheme"] else ""
        lines.append(f"{path}: {f['rows']} rows read; dropped: {dropped}{scheme}")
    cleaned = ", ".join(f"{v} {k}" for k, v in rep["dropped_while_cleaning"].items()) or "none"
    lines.append(f"dropped while cleaning train: {cleaned}")
    if rep.get("redacted"):
        lines.append("redacted (all splits): " + ", ".join(f"{v} {k}" for k, v in rep["redacted"].items()))
    if rep.get("augmented"):
        lines.append(f"augmented copies in train: {sum(rep['augmented'].values())} ("
                     + ", ".join(f"{v} {k}" for k, v in sorted(rep["augmented"].items())) + ")")
    lines += [f"note: {n}" for n in rep["notes"]]
    lines.append("")
    header = f"{'split':<12}{'examples':>9}{'dups':>6}{'overlap':>9}{'len p50':>9}{'p95':>6}{'max':>6}{'>max_len':>10}"
    lines += [header, "-" * len(header)]
    for name, s in rep["splits"].items():
        lt = s.get("length_tokens", {})
        lines.append(f"{name:<12}{s['examples']:>9}{s['duplicates']:>6}{s.get('overlap_with_train', '-'):>9}"
                     f"{lt.get('p50', '-'):>9}{lt.get('p95', '-'):>6}{lt.get('max', '-'):>6}"
                     f"{(format(s['truncated_share'], '.1%') if 'truncated_share' in s else '-'):>10}")
    lines.append(f"(lengths in tokens of the backbone's tokenizer, special tokens included; max_length={max_length}; "
                 f"a very long text is measured on its start and its length estimated)")
    lines.append("")
    lines.append("Labels" + (" (entities by type)" if "tokens" in rep["splits"]["train"] else ""))
    names = sorted({l for s in rep["splits"].values() for l in s["labels"]})
    for l in names:
        cells = "".join(f"{rep['splits'][n]['labels'].get(l, 0):>11}" for n in rep["splits"])
        lines.append(f"  {l:<20}{cells}")
    lines.append(f"  {'':<20}" + "".join(f"{n:>11}" for n in rep["splits"]))
    warn = warnings_for(rep, max_length)
    if warn:
        lines.append("")
        lines += [f"warning: {w}" for w in warn]
    return "\n".join(lines)
