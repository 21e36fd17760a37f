"""Which tokens of a text longer than max_length a classifier reads: its head, or its head and its tail.

`train.truncation: head+tail` keeps the first quarter of the token budget from the start of the text and the rest
from its end (Sun et al., 2019, "How to Fine-Tune BERT for Text Classification?": on IMDb reviews 128 head + 382
tail tokens beat the first 510). A review's verdict is often in its last lines, which head-only truncation never
reads. The cut is made on the text, at token boundaries, so every later step (the special tokens, padding, the
tokenizer's own post-processing) is the tokenizer's usual path, and training, evaluation, predict, serve and every
export read the same tokens: they all tokenize through `tokenize` with the mode the run's config saved.
"""

from __future__ import annotations

HEAD_SHARE = 0.25  # of the token budget; Sun et al.'s 128 of 510
_ATTR = "tuneforge_truncation"  # set on a loaded tokenizer by the task (Task.configure_processor)


def set_mode(tokenizer, mode: str) -> None:
    setattr(tokenizer, _ATTR, mode)


def head_and_tail(tokenizer, texts: list[str], max_length: int) -> list[str]:
    """`texts` with each one longer than `max_length` tokens (special tokens included) cut to its head and tail."""
    budget = max_length - tokenizer.num_special_tokens_to_add()
    if budget < 2:
        return texts
    head = max(1, int(budget * HEAD_SHARE))
    tail = budget - head
    if not getattr(tokenizer, "is_fast", False):  # no offsets from a slow tokenizer: cut by decoding the kept ids
        enc = tokenizer(texts, add_special_tokens=False)["input_ids"]
        return [t if len(ids) <= budget else
                tokenizer.decode(ids[:head]) + " " + tokenizer.decode(ids[len(ids) - tail:])
                for t, ids in zip(texts, enc)]
    enc = tokenizer(texts, add_special_tokens=False, return_offsets_mapping=True)
    out = []
    for text, ids, offsets in zip(texts, enc["input_ids"], enc["offset_mapping"]):
        if len(ids) <= budget:
            out.append(text)
            continue
        keep = tail
        for _ in range(4):  # joining the two parts can re-tokenize into a few more pieces: shrink the tail by them
            cut = text[:offsets[head - 1][1]] + " " + text[offsets[len(ids) - keep][0]:]
            over = len(tokenizer(cut, add_special_tokens=False)["input_ids"]) - budget
            if over <= 0 or keep <= over:
                break
            keep -= over
        out.append(cut)
    return out


def tokenize(tokenizer, texts: list[str], max_length: int):
    """The tokenizer's encoding of `texts` at `max_length`, cut the way the run was trained to read them."""
    if getattr(tokenizer, _ATTR, "head") == "head+tail":
        texts = head_and_tail(tokenizer, texts, max_length)
    return tokenizer(texts, truncation=True, max_length=max_length)
