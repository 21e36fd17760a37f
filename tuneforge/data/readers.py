"""Readers: labeled files → examples, with every problem reported as file:line plus a fix.

Text classification reads CSV, TSV and JSONL. NER reads token-per-line files (token and tag
separated by spaces or a tab; extra middle columns, as in CoNLL-2003, are ignored; a blank line
ends a sentence) in BIO, BIOES or BMES, and converts every scheme to BIO (IOB2).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import TuneforgeError

CONLL_SUFFIXES = {".txt", ".conll", ".bio", ".bmes", ".bioes", ".iob", ".tsv_ner"}


@dataclass
class TextExample:
    text: str
    label: str
    source: str = ""  # "file:line", so later checks can point back at the row


@dataclass
class TokenExample:
    tokens: list[str]
    tags: list[str]
    source: str = ""


@dataclass
class ReadStats:
    """What a reader saw and what cleaning dropped; every dropped row is counted here."""
    rows: int = 0  # rows (NER: sentences) read, the dropped ones included
    dropped: Counter = field(default_factory=Counter)
    repaired_tags: int = 0
    scheme: str | None = None


def detect_format(path: Path, fmt: str | None) -> str:
    if fmt:
        return fmt
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".tsv", ".tab"):
        return "tsv"
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if suffix in CONLL_SUFFIXES:
        return "conll"
    raise TuneforgeError(f"cannot tell the format of {path.name} from its extension", where=str(path),
                         fix="set data.format to csv, tsv, jsonl or conll")


def read_text(path: Path, encoding: str) -> str:
    """The whole file as text; a decoding error names the line and byte where it happened."""
    if not path.is_file():
        raise TuneforgeError("file not found", where=str(path), fix="check data.train/validation/test paths")
    raw = path.read_bytes()
    if not raw.strip():
        raise TuneforgeError("the file is empty", where=str(path), fix="point the config at a file with labeled rows")
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise TuneforgeError(f"cannot decode byte {raw[e.start]:#04x} as {encoding}", where=f"{path}:{line}",
                             fix=f"re-save the file as UTF-8, or set data.encoding (e.g. gb18030, latin-1)") from None
    except LookupError:
        raise TuneforgeError(f"unknown encoding {encoding!r}", where="data.encoding",
                             fix="use a Python codec name such as utf-8 or gb18030") from None
    return text.lstrip("\ufeff")  # Excel writes a BOM; it would otherwise stick to the first column name


def _bad_row(stats: ReadStats, skip: bool, reason: str, where: str, what: str, fix: str) -> None:
    if skip:
        stats.dropped[reason] += 1
        return
    raise TuneforgeError(what, where=where, fix=fix + " (or set data.bad_rows=skip to drop and count such rows)")


def read_classification(path: Path, fmt: str | None, text_column: str, label_column: str,
                        encoding: str = "utf-8", skip_bad: bool = False) -> tuple[list[TextExample], ReadStats]:
    path = Path(path)
    fmt = detect_format(path, fmt)
    if fmt == "conll":
        raise TuneforgeError("a token-per-line file was given to a text-classification task", where=str(path),
                             fix="use a CSV/TSV/JSONL file, or set task: token-classification")
    text = read_text(path, encoding)
    stats = ReadStats()
    rows: list[tuple[int, dict]] = []
    if fmt == "jsonl":
        for i, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                stats.rows += 1
                _bad_row(stats, skip_bad, "malformed line", f"{path}:{i}", f"not valid JSON ({e.msg})",
                         "make every line one JSON object")
                continue
            if not isinstance(obj, dict):
                stats.rows += 1
                _bad_row(stats, skip_bad, "malformed line", f"{path}:{i}", "line is not a JSON object",
                         f'write {{"{text_column}": "...", "{label_column}": "..."}}')
                continue
            rows.append((i, obj))
        columns = set().union(*(r.keys() for _, r in rows)) if rows else set()
    else:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter="," if fmt == "csv" else "\t")
        try:
            header = next(reader)
        except csv.Error as e:
            raise TuneforgeError(f"malformed header ({e})", where=f"{path}:1", fix="fix the first line") from None
        header = [h.strip() for h in header]
        columns = set(header)
        try:
            end = reader.line_num
            for row in reader:
                # a quoted cell may span lines: report the line the row starts on, not the one it ends on
                line, end = end + 1, reader.line_num
                if not row or all(not c.strip() for c in row):
                    continue
                if len(row) != len(header):
                    stats.rows += 1
                    spans = f" (the row runs on to line {end}: is a quote left open?)" if end > line else ""
                    _bad_row(stats, skip_bad, "malformed line", f"{path}:{line}",
                             f"{len(row)} fields where the header has {len(header)}{spans}",
                             "quote fields that contain the delimiter")
                    continue
                rows.append((line, dict(zip(header, row))))
        except csv.Error as e:
            raise TuneforgeError(f"malformed line ({e})", where=f"{path}:{reader.line_num}",
                                 fix="close the open quote or remove the stray character") from None
    for col, key in ((text_column, "data.text_column"), (label_column, "data.label_column")):
        if col not in columns:
            found = ", ".join(sorted(map(str, columns))) or "none"
            raise TuneforgeError(f"column {col!r} is missing (found: {found})", where=str(path),
                                 fix=f"set {key} to one of the found columns")
    examples = []
    for line, row in rows:
        stats.rows += 1
        where = f"{path}:{line}"
        raw_text, raw_label = row.get(text_column), row.get(label_column)
        nested = [c for c, v in ((text_column, raw_text), (label_column, raw_label)) if isinstance(v, (list, dict))]
        if nested:  # JSONL: a list/object would otherwise become a label like "['a', 'b']"
            _bad_row(stats, skip_bad, "malformed line", where, f"{nested[0]!r} holds a JSON "
                     f"{'list' if isinstance(row[nested[0]], list) else 'object'}, not a single value",
                     "give one text and one label (a string) per line; multi-label data is not supported")
            continue
        text_value = "" if raw_text is None else str(raw_text)
        text_value = " ".join(text_value.split())  # collapse whitespace runs; newlines in a cell are not labels
        label = "" if raw_label is None else str(raw_label).strip()
        if not text_value:
            _bad_row(stats, skip_bad, "empty text", where, f"empty text in column {text_column!r}",
                     "fill in or delete the row")
            continue
        if not label:
            _bad_row(stats, skip_bad, "missing label", where, f"missing label in column {label_column!r}",
                     "label the row or delete it")
            continue
        examples.append(TextExample(text_value, label, where))
    if not examples:
        raise TuneforgeError("no usable rows", where=str(path), fix="check the columns and that rows have text and label")
    return examples, stats


# ------------------------------------------------------------------ NER

_TAG_RE = re.compile(r"^(?:(?P<p>[BIMES])[-_](?P<t>.+)|(?P<t2>.+?)[-_](?P<p2>[BIMES])|(?P<o>O))$")


def split_tag(tag: str) -> tuple[str, str | None]:
    """'B-PER' / 'B_PER' / 'PER-B' → ('B', 'PER'); 'O' → ('O', None)."""
    m = _TAG_RE.match(tag)
    if not m:
        raise ValueError(tag)
    if m.group("o"):
        return "O", None
    if m.group("p"):
        return m.group("p"), m.group("t")
    return m.group("p2"), m.group("t2")


SCHEME_PREFIXES = {"BIO": {"B", "I"}, "BIOES": {"B", "I", "E", "S"}, "BMES": {"B", "M", "E", "S"}}


def detect_scheme(prefixes: set[str]) -> str:
    if "M" in prefixes:
        return "BMES"
    if prefixes & {"E", "S"}:
        return "BIOES"
    return "BIO"


def to_bio(prefix_types: list[tuple[str, str | None]]) -> tuple[list[str], int]:
    """Any of BIO/BIOES/BMES → strict BIO (IOB2). An inside tag that does not continue an entity of
    its own type starts a new one (counted as a repair)."""
    out, repaired, prev_type = [], 0, None
    for p, t in prefix_types:
        if p == "O" or t is None:
            out.append("O")
            prev_type = None
            continue
        if p in ("B", "S"):
            out.append(f"B-{t}")
        elif prev_type == t:  # I, M, E continuing the same entity
            out.append(f"I-{t}")
        else:
            out.append(f"B-{t}")
            repaired += 1
        prev_type = None if p in ("E", "S") else t
    return out, repaired


def read_conll(path: Path, scheme: str = "auto", encoding: str = "utf-8",
               skip_bad: bool = False) -> tuple[list[TokenExample], ReadStats]:
    path = Path(path)
    text = read_text(path, encoding)
    stats = ReadStats()
    sentences: list[tuple[int, list[str], list[tuple[str, str | None]]]] = []
    tokens, tags, start, broken = [], [], 0, False

    def flush():
        nonlocal tokens, tags, broken
        if tokens or broken:
            stats.rows += 1
            if broken:  # with bad_rows=skip a malformed line drops its whole sentence, counted once
                stats.dropped["sentence with a malformed line"] += 1
            else:
                sentences.append((start, tokens, tags))
        tokens, tags, broken = [], [], False

    for i, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("-DOCSTART-"):
            flush()
            continue
        parts = line.split()
        if not tokens:
            start = i
        if len(parts) < 2:
            if not skip_bad:
                _bad_row(stats, False, "malformed line", f"{path}:{i}",
                         f"expected 'token tag', got {line.strip()!r}", "put the token and its tag on one line, "
                         "separated by a space or tab, and a blank line between sentences")
            broken = True
            continue
        try:
            pt = split_tag(parts[-1])
        except ValueError:
            if not skip_bad:
                _bad_row(stats, False, "malformed line", f"{path}:{i}", f"unreadable tag {parts[-1]!r}",
                         "use tags like O, B-PER, I-PER (BIO), E-/S- (BIOES) or M- (BMES)")
            broken = True
            continue
        tokens.append(parts[0])
        tags.append(pt)
    flush()
    if not sentences:
        raise TuneforgeError("no sentences found", where=str(path), fix="write one 'token tag' per line")
    prefixes = {p for _, _, ts in sentences for p, _ in ts if p != "O"}
    found = detect_scheme(prefixes)
    # the declared scheme only has to allow every prefix seen: BMES data whose entities are all one or
    # two characters long has no M- tag and looks like BIOES, BIOES data without E-/S- looks like BIO
    if scheme != "auto" and not prefixes <= SCHEME_PREFIXES[scheme]:
        raise TuneforgeError(f"data.tag_scheme is {scheme} but the tags look like {found}", where=str(path),
                             fix=f"set data.tag_scheme to {found} or auto")
    stats.scheme = found if scheme == "auto" else scheme
    examples = []
    for line, toks, pts in sentences:
        bio, repaired = to_bio(pts)
        stats.repaired_tags += repaired
        examples.append(TokenExample(toks, bio, f"{path}:{line}"))
    return examples, stats
