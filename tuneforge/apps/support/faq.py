"""The FAQ file and its answer templates.

FAQ file: CSV (or .tsv) with a header row holding `question` and `answer`, and optionally `category`
(what an intent classifier run predicts, for `--intents`). UTF-8. One entry per row; a question may
appear once.

Answer templates fill slots from the chat session (`POST /v1/chat {"slots": {...}}`, `--slot k=v`):
    {name}              the session's value of slot `name`; left empty (and reported in
                        `missing_slots`) when the session has none
    {name|there}        the same, with "there" when the session has no `name`
    {{  }}              literal braces
Slot names are letters, digits and underscores, not starting with a digit. Any other brace is an error
reported with its line, so a typo never reaches a customer as a raw "{nmae}".
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

from ...errors import TuneforgeError

# one token of a template: an escaped brace, a slot (with an optional default), or a stray brace
_TOKEN = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)(?:\|([^{}]*))?\}|[{}]")
MAX_FAQ_ROWS = 100_000  # an index that size still embeds in minutes; far past that, the wrong tool


@dataclass(frozen=True)
class Template:
    parts: tuple  # str (literal) or (slot, default or None)

    @property
    def slots(self) -> tuple[str, ...]:
        return tuple(p[0] for p in self.parts if isinstance(p, tuple))

    def render(self, slots: dict[str, str]) -> tuple[str, list[str]]:
        """(text, slots that had no value and no default)."""
        out, missing = [], []
        for p in self.parts:
            if isinstance(p, str):
                out.append(p)
                continue
            name, default = p
            value = slots.get(name)
            if value is None or value == "":
                if default is None:
                    missing.append(name)
                out.append(default or "")
            else:
                out.append(str(value))
        return "".join(out), missing


def parse_template(text: str, where: str) -> Template:
    parts: list = []
    pos = 0
    for m in _TOKEN.finditer(text):
        if m.start() > pos:
            parts.append(text[pos:m.start()])
        tok = m.group(0)
        if tok in ("{{", "}}"):
            parts.append(tok[0])
        elif m.group(1):
            parts.append((m.group(1), m.group(2)))
        else:
            raise TuneforgeError(f"stray {tok!r} at character {m.start() + 1} of the answer template {text[:60]!r}",
                                 where=where, fix="write {slot} or {slot|default} for a slot, {{ and }} for a "
                                                  "literal brace")
        pos = m.end()
    if pos < len(text):
        parts.append(text[pos:])
    return Template(tuple(parts))


@dataclass(frozen=True)
class FaqEntry:
    question: str
    answer: str
    category: str | None
    line: int  # where it is in the file, for messages
    template: Template = field(repr=False, compare=False)


def _read_text(path: Path) -> str:
    if not path.is_file():
        raise TuneforgeError(f"FAQ file not found: {path}", where="--faq",
                             fix="give a CSV with a header row question,answer[,category]")
    try:
        return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = path.read_bytes()[:e.start].count(b"\n") + 1
        raise TuneforgeError(f"not UTF-8 ({e.reason} at byte {e.start})", where=f"{path}:{line}",
                             fix="save the file as UTF-8 (e.g. iconv -f GBK -t UTF-8 in.csv > out.csv)") from None


def read_faq(path: str | Path) -> list[FaqEntry]:
    """Every FAQ entry, checked: columns, empty cells, repeated questions, template syntax."""
    path = Path(path)
    text = _read_text(path)
    if not text.strip():
        raise TuneforgeError("the FAQ file is empty", where=str(path), fix="add a header row question,answer and entries")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t" if path.suffix.lower() == ".tsv" else ",",
                        strict=True)  # strict: an unclosed quote is an error, not the rest of the file as one field
    try:
        header = [h.strip().lower() for h in next(reader)]
        for col in ("question", "answer"):
            if col not in header:
                raise TuneforgeError(f"no {col!r} column (header: {', '.join(header) or 'empty'})",
                                     where=f"{path}:1", fix="the first row must name the columns: "
                                                            "question,answer and optionally category")
        qi, ai = header.index("question"), header.index("answer")
        ci = header.index("category") if "category" in header else None
        entries, seen = [], {}
        for row in reader:
            line = reader.line_num  # the line the row ends on: right for multi-line quoted answers too
            if not any(c.strip() for c in row):
                continue  # a blank line
            where = f"{path}:{line}"
            if len(row) != len(header):
                raise TuneforgeError(f"{len(row)} fields, the header has {len(header)}", where=where,
                                     fix="quote a field that holds a comma (\"...\"), or fill the missing cells")
            q, a = row[qi].strip(), row[ai].strip()
            if not q or not a:
                raise TuneforgeError(f"empty {'question' if not q else 'answer'}", where=where,
                                     fix="fill it in or delete the row")
            key = normalise(q)
            if key in seen:
                raise TuneforgeError(f"the question {q!r} is already on line {seen[key]}", where=where,
                                     fix="keep one entry per question (merge the answers)")
            seen[key] = line
            cat = (row[ci].strip() or None) if ci is not None else None
            entries.append(FaqEntry(q, a, cat, line, parse_template(a, where)))
            if len(entries) > MAX_FAQ_ROWS:
                raise TuneforgeError(f"more than {MAX_FAQ_ROWS} entries", where=where,
                                     fix="split the FAQ, or use a search engine for a document collection")
    except csv.Error as e:
        raise TuneforgeError(f"malformed CSV: {e}", where=f"{path}:{reader.line_num}",
                             fix="check the quotes on that line (a quote inside a field is written twice: \"\")") from None
    if not entries:
        raise TuneforgeError("the FAQ file has a header but no entries", where=str(path), fix="add question,answer rows")
    return entries


def normalise(text: str) -> str:
    """Case, punctuation and spacing do not make two questions different."""
    return " ".join(re.sub(r"[^\w]+", " ", text.lower()).split())


def parse_slots(pairs: list[str] | None, where: str = "--slot") -> dict[str, str]:
    out = {}
    for p in pairs or []:
        name, eq, value = p.partition("=")
        if not eq or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name.strip()):
            raise TuneforgeError(f"expected NAME=VALUE, got {p!r}", where=where, fix='e.g. --slot name=Ann')
        out[name.strip()] = value
    return out
