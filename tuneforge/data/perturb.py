"""A perturbed copy of a test set: the noise real users type, to measure robustness (not to train on).

English, per word with probability `rate` (words of 3+ letters; numbers and punctuation left alone):
  typo    one letter replaced by a neighbour on a QWERTY keyboard ("movie" -> "moviw")
  swap    two adjacent letters exchanged ("movie" -> "mvoie")
  delete  one letter dropped ("movie" -> "movi")
  case    the word upper-cased or capitalised ("movie" -> "MOVIE"); an uncased model (minilm-l6) is
          immune to it by construction, a cased one is not
Chinese, per CJK character with probability `rate`: swapped with the next CJK character, or deleted.

Seeded: the same (texts, seed, rate) always gives the same copy, so two models are compared on identical
noise. Labels never change; token-classification data is not supported (deleting a character would move
it away from its tag).
"""

from __future__ import annotations

import random
import re
from dataclasses import replace

_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
NEIGHBOURS: dict[str, str] = {}
for _r, _row in enumerate(_ROWS):
    for _c, _ch in enumerate(_row):
        near = [_row[i] for i in (_c - 1, _c + 1) if 0 <= i < len(_row)]
        near += [_ROWS[rr][i] for rr in (_r - 1, _r + 1) if 0 <= rr < 3 for i in (_c, _c + 1)
                 if i < len(_ROWS[rr])]
        NEIGHBOURS[_ch] = "".join(near)

EN_OPS = ("typo", "swap", "delete", "case")
ZH_OPS = ("swap", "delete")
_WORD = re.compile(r"[A-Za-z]{3,}")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def _keep_case(new: str, old: str) -> str:
    return new.upper() if old.isupper() else new


def perturb_word(word: str, op: str, rng: random.Random) -> str:
    i = rng.randrange(len(word))
    if op == "typo":
        ch = word[i].lower()
        return word[:i] + _keep_case(rng.choice(NEIGHBOURS.get(ch, ch)), word[i]) + word[i + 1:]
    if op == "swap":
        i = rng.randrange(len(word) - 1)
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    if op == "delete":
        return word[:i] + word[i + 1:]
    if op == "case":
        return word.upper() if rng.random() < 0.5 else word[:1].upper() + word[1:]
    raise ValueError(f"unknown perturbation {op!r}")


def perturb_text(text: str, rng: random.Random, rate: float = 0.15, ops: tuple[str, ...] = EN_OPS + ZH_OPS) -> str:
    """One perturbed copy of `text`; at least one change when the text has anything to change."""
    en_ops = tuple(o for o in ops if o in EN_OPS)
    zh_ops = tuple(o for o in ops if o in ZH_OPS)
    words = list(_WORD.finditer(text)) if en_ops else []
    cjk = [m.start() for m in _CJK.finditer(text)] if zh_ops else []
    pick_w = [m for m in words if rng.random() < rate]
    pick_c = [i for i in cjk if rng.random() < rate]
    if not pick_w and not pick_c:  # a short text would often escape unchanged: force one edit
        if words and (not cjk or rng.random() < 0.5):
            pick_w = [rng.choice(words)]
        elif cjk:
            pick_c = [rng.choice(cjk)]
    edits = [(m.start(), m.end(), perturb_word(m.group(0), rng.choice(en_ops), rng)) for m in pick_w]
    for i in pick_c:
        op = rng.choice(zh_ops)
        if op == "swap" and i + 1 < len(text) and _CJK.match(text[i + 1]):
            edits.append((i, i + 2, text[i + 1] + text[i]))
        elif op == "delete" or len(cjk) > 1:  # no CJK neighbour to swap with: delete, unless it is the only one
            edits.append((i, i + 1, ""))
    kept, last_end = [], -1
    for start, end, new in sorted(edits):  # two edits never touch the same character
        if start >= last_end:
            kept.append((start, end, new))
            last_end = end
    for start, end, new in reversed(kept):  # right to left: earlier offsets stay valid
        text = text[:start] + new + text[end:]
    return text


def perturb_texts(texts: list[str], seed: int = 0, rate: float = 0.15, ops: tuple[str, ...] = EN_OPS + ZH_OPS
                  ) -> list[str]:
    rng = random.Random(seed)
    return [perturb_text(t, rng, rate, ops) for t in texts]


def perturb_examples(examples: list, seed: int = 0, rate: float = 0.15) -> list:
    """A perturbed copy of text-classification examples (TextExample), labels unchanged."""
    texts = perturb_texts([e.text for e in examples], seed, rate)
    return [replace(e, text=t) for e, t in zip(examples, texts)]
