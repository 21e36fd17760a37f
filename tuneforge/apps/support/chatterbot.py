"""A real FAQ to run and measure the assistant on: the chatterbot-corpus package's English and Chinese
conversation files (BSD), fetched and prepared like `tuneforge datasets` does (pinned wheel, sha256,
read in memory, atomic install into the data cache as `chatterbot-faq/`).

How the FAQ and its held-out questions are made (one pass, file order, per language):
  * every conversation's first line is a question and its second line the answer;
  * questions that share an answer, or answers that share a question, are one *entry* (connected
    components of the question-answer graph, comparing text without case, punctuation or spacing);
  * the FAQ (faq_LANG.csv) holds, per entry, only its first question, its first answer and the file's
    category; braces in answers are escaped ({{ }}) so code answers are not read as slots;
  * the entry's other questions go to heldout_LANG.jsonl ({"query", "target", "kind": "natural"}): real
    rephrasings the index never saw. They are few (about 30 English, 17 Chinese) and some share only a
    generic answer ("Thank you."), so benchmarks/app_support.py adds synonym and typo variants of every
    FAQ question (seeded) and reports each kind apart.
"""

from __future__ import annotations

import json
from pathlib import Path

from ...data.datasets_fetch import DatasetSpec, _register, prepare, read_text
from ...errors import TuneforgeError
from .faq import normalise

NAME = "chatterbot-faq"
LANGS = {"en": "english", "zh": "chinese"}
PACKAGED_FAQS = {f"chatterbot-{lang}": f"faq_{lang}.csv" for lang in LANGS}  # accepted by --faq


def _files(archive: Path, folder: str) -> list[str]:
    import zipfile
    with zipfile.ZipFile(archive) as zf:
        return sorted(n for n in zf.namelist() if n.startswith(f"chatterbot_corpus/data/{folder}/") and n.endswith(".yml"))


def build_language(archive: Path, folder: str) -> tuple[list[dict], list[dict], dict]:
    import yaml
    pairs = []  # (question, answer, category, file)
    for member in _files(archive, folder):
        doc = yaml.safe_load(read_text(archive, member)) or {}
        category = str((doc.get("categories") or [Path(member).stem])[0])
        for conv in doc.get("conversations") or []:
            if isinstance(conv, list) and len(conv) >= 2 and conv[0] is not None and conv[1] is not None:
                q, a = str(conv[0]).strip(), str(conv[1]).strip()
                if q and a:
                    pairs.append((q, a, category, member))
    parent: dict = {}

    def find(x):
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def key(kind, text):
        return kind, normalise(text) or text.strip().lower()  # ":)" normalises to nothing: keep it as typed

    for q, a, _, _ in pairs:
        parent[find(key("q", q))] = find(key("a", a))
    entries: dict = {}  # component root -> {"questions": [...], "answer", "category"}; insertion = file order
    for q, a, cat, _ in pairs:
        e = entries.setdefault(find(key("q", q)), {"questions": [], "answer": a, "category": cat})
        if key("q", q) not in {key("q", x) for x in e["questions"]}:
            e["questions"].append(q)
    faq, held = [], []
    for e in entries.values():
        first = e["questions"][0]
        faq.append({"question": first, "answer": e["answer"].replace("{", "{{").replace("}", "}}"),
                    "category": e["category"]})
        held += [{"query": q, "target": first, "kind": "natural"} for q in e["questions"][1:]]
    return faq, held, {"pairs": len(pairs), "faq_entries": len(faq), "natural_heldout": len(held)}


@_register(DatasetSpec(
    # "chatterbot_corpus": the wheel file is named with an underscore, and datasets_fetch finds the
    # downloaded archive by "<package>-<version>" (pip accepts either spelling of the name)
    NAME, "chatterbot_corpus", "1.3.3", "wheel",
    "ChatterBot's English and Chinese conversation YAML as an FAQ (first question of each question/answer "
    "group) plus the group's other questions as held-out rephrasings", "en+zh", "faq-retrieval",
    "chatterbot-corpus: BSD-3-Clause", "86de5300afb9a80826386339d3bec79c0a72eb0358abb8327e2ecef5ae0ce154"))
def _chatterbot_faq(archive: Path, out: Path) -> dict:
    import csv
    info = {}
    for lang, folder in LANGS.items():
        faq, held, counts = build_language(archive, folder)
        with open(out / f"faq_{lang}.csv", "w", encoding="utf-8", newline="") as f:
            w = csv.DictWriter(f, ["question", "answer", "category"], lineterminator="\n")
            w.writeheader()
            w.writerows(faq)
        (out / f"heldout_{lang}.jsonl").write_text("".join(json.dumps(h, ensure_ascii=False) + "\n" for h in held),
                                                  encoding="utf-8")
        info[lang] = {"from": f"chatterbot_corpus/data/{folder}/*.yml", **counts}
    return info


def resolve_faq(faq: str) -> str:
    """A packaged FAQ name (chatterbot-en, chatterbot-zh) -> its prepared CSV; a path stays a path."""
    if faq in PACKAGED_FAQS and not Path(faq).exists():
        return str(prepare(NAME) / PACKAGED_FAQS[faq])
    return faq


def heldout(lang: str) -> list[dict]:
    if lang not in LANGS:
        raise TuneforgeError(f"unknown language {lang!r}", where="lang", fix=f"use one of {', '.join(LANGS)}")
    path = prepare(NAME, progress=False) / f"heldout_{lang}.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]

