"""Readers: labeled files → examples, with every problem reported as file:line plus a fix.

Text classification reads CSV, TSV and JSONL here; NER's token-per-line files are read by conll.py with
the same bounded reading and the same error style.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
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
class LabelSetExample(TextExample):
    """A text with a set of labels (multi-label tasks). `label` is the set as one sorted `a|b` string: what
    deduplication, reports and messages show; `labels` the names themselves."""
    labels: tuple[str, ...] = ()


def label_sets(examples: list[TextExample], separator: str, stats: "ReadStats",
               skip_bad: bool = False) -> list[LabelSetExample]:
    """Read each label cell as a set: split on `separator`, names stripped, repeats and empty parts dropped, sorted.
    A cell that names no label (only separators) is a bad row (data.bad_rows): a row without labels is a
    labelling gap, not a statement that none apply."""
    out = []
    for e in examples:
        names = tuple(sorted({p.strip() for p in e.label.split(separator)} - {""}))
        if not names and skip_bad:
            stats.dropped["label cell names no label"] += 1
            continue
        if not names:
            raise TuneforgeError(f"the label cell {e.label!r} names no label", where=e.source,
                                 fix=f"write one or more labels separated by {separator!r}, e.g. "
                                     f"`comedy{separator}drama`")
        out.append(LabelSetExample(e.text, "|".join(names), e.source, names))
    return out


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
    redacted: Counter = field(default_factory=Counter)  # PII replaced per type (data.redact), see splits.read_file


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


# Sizes are bounded while reading, never after: a file is read in blocks, and a line (a CSV cell, which may
# span lines, too) longer than MAX_LINE_BYTES stops the read at that point with its file:line. The
# environment variables raise the limits for a file that really needs more.
MAX_LINE_BYTES = int(float(os.environ.get("TUNEFORGE_MAX_LINE_MB", "64")) * 2**20)
MAX_FILE_BYTES = int(float(os.environ.get("TUNEFORGE_MAX_FILE_MB", "4096")) * 2**20)
READ_BLOCK = 2**22


def read_bounded(path: Path) -> bytes:
    """The file's bytes, read in blocks; stops with file:line at the first line over MAX_LINE_BYTES and
    with the file named once MAX_FILE_BYTES are exceeded, before reading any further."""
    line_limit, file_limit = MAX_LINE_BYTES, MAX_FILE_BYTES
    blocks, total, newlines, since_nl = [], 0, 0, 0
    with path.open("rb") as f:
        while True:
            block = f.read(READ_BLOCK)
            if not block:
                break
            total += len(block)
            if total > file_limit:
                raise TuneforgeError(f"the file is larger than {file_limit:,} bytes", where=str(path),
                                     fix="split it into several files, or raise the limit with the environment "
                                         f"variable TUNEFORGE_MAX_FILE_MB (now {file_limit / 2**20:g})")
            first = block.find(b"\n")
            gaps = [since_nl + (len(block) if first < 0 else first)]
            if first >= 0:
                last = block.rfind(b"\n")
                if last > first:
                    gaps.append(max(map(len, block[first + 1:last].split(b"\n"))))
                since_nl = len(block) - last - 1
                gaps.append(since_nl)
            else:
                since_nl = gaps[0]
            if max(gaps) > line_limit:
                # the offending line: count newlines up to where its run of bytes passes the limit
                pos = 0
                if gaps[0] <= line_limit:
                    pos = first + 1
                    while True:
                        nxt = block.find(b"\n", pos)
                        if (len(block) if nxt < 0 else nxt) - pos > line_limit:
                            break
                        pos = nxt + 1
                line = newlines + block[:pos].count(b"\n") + 1
                raise TuneforgeError(f"a line longer than {line_limit:,} bytes", where=f"{path}:{line}",
                                     fix="split the text into shorter records (a model reads at most train.max_length "
                                         "tokens of it), or raise the limit with the environment variable "
                                         f"TUNEFORGE_MAX_LINE_MB (now {line_limit / 2**20:g})")
            newlines += block.count(b"\n")
            blocks.append(block)
    return b"".join(blocks)


def decode(raw: bytes, path: Path | str, encoding: str, fix: str) -> str:
    """`raw` as text; a decoding error names the file, the line and the byte."""
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise TuneforgeError(f"cannot decode byte {raw[e.start]:#04x} as {encoding}", where=f"{path}:{line}",
                             fix=fix) from None


def read_text(path: Path, encoding: str) -> str:
    """The whole file as text; a decoding error names the line and byte where it happened. Sizes are
    bounded while reading (MAX_LINE_BYTES per line, MAX_FILE_BYTES per file)."""
    path = Path(path)
    if not path.is_file():
        raise TuneforgeError("file not found", where=str(path), fix="check data.train/validation/test paths")
    raw = read_bounded(path)
    if not raw.strip():
        raise TuneforgeError("the file is empty", where=str(path), fix="point the config at a file with labeled rows")
    try:
        text = decode(raw, path, encoding, "re-save the file as UTF-8, or set data.encoding (e.g. gb18030, latin-1)")
    except LookupError:
        raise TuneforgeError(f"unknown encoding {encoding!r}", where="data.encoding",
                             fix="use a Python codec name such as utf-8 or gb18030") from None
    return text.lstrip("\ufeff")  # Excel writes a BOM; it would otherwise stick to the first column name


class _Lines:
    """The lines csv.reader consumes, remembered until the row they make is taken (to re-check it)."""

    def __init__(self, text: str):
        self._it = iter(io.StringIO(text, newline=""))
        self.buf: list[str] = []

    def __iter__(self):
        return self

    def __next__(self) -> str:
        line = next(self._it)
        self.buf.append(line)
        return line


class CsvRowError(Exception):
    """A malformed row a reader may skip (bad_rows=skip): where, what, fix."""

    def __init__(self, line: int, what: str, fix: str):
        super().__init__(what)
        self.line, self.what, self.fix = line, what, fix


def csv_header(path: Path, text: str, delimiter: str):
    """(stripped header, row iterator) for a CSV/TSV text. The iterator yields (line, row, error): the line
    a row starts on, its cells, and a CsvRowError for a malformed row (a quote that is never closed or
    closed in the wrong place, which silently merges rows). A cell over the size limit, a duplicated
    column name and a malformed header raise TuneforgeError at once."""
    limit = MAX_LINE_BYTES
    csv.field_size_limit(max(limit, 1))  # process-wide in Python; every reader here sets the same bound
    lines = _Lines(text)
    reader = csv.reader(lines, delimiter=delimiter)

    def too_long(start: int) -> TuneforgeError:
        spans = f" (the cell runs on from line {start} to line {reader.line_num}: is a quote left open?)" \
            if reader.line_num > start else ""
        return TuneforgeError(f"a cell longer than {limit:,} characters{spans}", where=f"{path}:{start}",
                              fix="shorten the text (a model reads at most train.max_length tokens of it), or raise "
                                  f"the limit with the environment variable TUNEFORGE_MAX_LINE_MB (now {limit / 2**20:g})")

    try:
        header = next(reader)
    except StopIteration:
        header = []
    except csv.Error as e:
        if "field limit" in str(e):
            raise too_long(1) from None
        raise TuneforgeError(f"malformed header ({e})", where=f"{path}:1", fix="fix the first line") from None
    header = [h.strip() for h in header]
    seen = set()
    for h in header:
        if h and h in seen:
            raise TuneforgeError(f"column {h!r} appears twice in the header", where=f"{path}:1",
                                 fix="give every column its own name (rename or delete one of them)")
        seen.add(h)
    lines.buf.clear()

    def rows():
        end = reader.line_num
        while True:
            start = end + 1
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as e:
                if "field limit" in str(e):
                    raise too_long(start) from None
                raise TuneforgeError(f"malformed line ({e})", where=f"{path}:{reader.line_num}",
                                     fix="close the open quote or remove the stray character") from None
            end = reader.line_num
            raw, lines.buf[:] = "".join(lines.buf), []
            err = None
            if end > start:  # a row over several lines: its quotes must open and close where a cell does
                try:
                    list(csv.reader(io.StringIO(raw, newline=""), delimiter=delimiter, strict=True))
                except csv.Error as e:
                    what = (f"a quote opened on line {start} is never closed: the row runs on to the end of the file"
                            if "end of data" in str(e) else
                            f"a quote on line {start} is not closed where its cell ends: the row runs on to line {end}")
                    err = CsvRowError(start, what + " (is a quote left open?)",
                                      'close the quote, or double a quote inside a quoted cell ("")')
            yield start, row, err

    return header, rows()


def csv_records(path: Path, header: list[str], rows, stats: ReadStats, skip_bad: bool):
    """The usable rows of csv_header's iterator as (line, cells): blank rows left out, and a malformed row or one
    not as wide as the header counted and reported here (bad_row); the caller counts the rows it is given."""
    for line, row, err in rows:
        if err is not None:
            stats.rows += 1
            bad_row(stats, skip_bad, "malformed line", f"{path}:{line}", err.what, err.fix)
            continue
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != len(header):
            stats.rows += 1
            bad_row(stats, skip_bad, "malformed line", f"{path}:{line}",
                    f"{len(row)} fields where the header has {len(header)}", "quote fields that contain the delimiter")
            continue
        yield line, row


def bad_row(stats: ReadStats, skip: bool, reason: str, where: str, what: str, fix: str) -> None:
    if skip:
        stats.dropped[reason] += 1
        return
    raise TuneforgeError(what, where=where, fix=fix + " (or set data.bad_rows=skip to drop and count such rows)")


# Label values. A label is a class name: a string, or a JSON integer (1.0 counts as 1; "1.0" in a CSV too,
# which is how pandas writes an integer column holding a NaN). Missing-value spellings (empty, NaN, None,
# null, <NA>) are missing labels, not a class. JSON booleans are the classes "true"/"false", but one file
# mixing booleans and numbers is refused: is `true` meant to be 1?
MISSING_LABELS = {"", "nan", "none", "null", "<na>"}
_INTEGRAL = re.compile(r"[+-]?\d+\.0+")
_LABEL_FIX = "write every label the same way: class names as strings, or integers (0, 1, 2 ...)"


class _MissingLabel(Exception):
    def __init__(self, detail: str = ""):
        self.detail = detail


def normalize_label(value, kinds: dict[str, int] | None = None, line: int = 0) -> str:
    """A raw label value → its class name. Raises _MissingLabel for a missing value, ValueError for a
    value that is not a class name (a fraction, a list) or a boolean in a file of numbers (or back)."""
    if value is None:
        raise _MissingLabel()
    if isinstance(value, bool):
        kind, label = "boolean", "true" if value else "false"
    elif isinstance(value, (int, float)):
        if isinstance(value, float) and math.isnan(value):
            raise _MissingLabel(" (NaN)")
        if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
            raise ValueError(f"label {value!r} is not a class name: labels are strings or integers")
        kind, label = "number", str(int(value))
    else:
        label = str(value).strip()
        if label.lower() in MISSING_LABELS:
            raise _MissingLabel(f" ({label!r} is a missing value)" if label else "")
        if _INTEGRAL.fullmatch(label):
            label = str(int(float(label)))
        return label
    if kinds is not None:
        other = "number" if kind == "boolean" else "boolean"
        if other in kinds:
            raise ValueError(f"label {label if kind == 'number' else str(value).lower()} is a {kind} but line "
                             f"{kinds[other]} has a {other} label: mixing booleans and numbers makes separate classes "
                             "of true and 1")
        kinds.setdefault(kind, line)
    return label


def read_classification(path: Path, fmt: str | None, text_column: str, label_column: str,
                        encoding: str = "utf-8", skip_bad: bool = False,
                        list_separator: str | None = None) -> tuple[list[TextExample], ReadStats]:
    """`list_separator` (label sets): a JSONL label given as a list of strings is joined with it, for
    label_sets to split again."""
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
                bad_row(stats, skip_bad, "malformed line", f"{path}:{i}", f"not valid JSON ({e.msg})",
                         "make every line one JSON object")
                continue
            if not isinstance(obj, dict):
                stats.rows += 1
                bad_row(stats, skip_bad, "malformed line", f"{path}:{i}", "line is not a JSON object",
                         f'write {{"{text_column}": "...", "{label_column}": "..."}}')
                continue
            rows.append((i, obj))
        columns = set().union(*(r.keys() for _, r in rows)) if rows else set()
    else:
        header, csv_rows = csv_header(path, text, "," if fmt == "csv" else "\t")
        columns = set(header)
        for line, row in csv_records(path, header, csv_rows, stats, skip_bad):
            rows.append((line, dict(zip(header, row))))
    for col, key in ((text_column, "data.text_column"), (label_column, "data.label_column")):
        if col not in columns:
            found = ", ".join(sorted(map(str, columns))) or "none"
            raise TuneforgeError(f"column {col!r} is missing (found: {found})", where=str(path),
                                 fix=f"set {key} to one of the found columns")
    examples = []
    label_kinds: dict[str, int] = {}  # "boolean" / "number" -> the first line with such a JSON label
    for line, row in rows:
        stats.rows += 1
        where = f"{path}:{line}"
        raw_text, raw_label = row.get(text_column), row.get(label_column)
        if list_separator and isinstance(raw_label, list) and all(isinstance(v, str) for v in raw_label):
            raw_label = list_separator.join(raw_label)  # ["comedy", "drama"]: a label set
        nested = [c for c, v in ((text_column, raw_text), (label_column, raw_label)) if isinstance(v, (list, dict))]
        if nested:  # JSONL: a list/object would otherwise become a label like "['a', 'b']"
            bad_row(stats, skip_bad, "malformed line", where, f"{nested[0]!r} holds a JSON "
                     f"{'list' if isinstance(row[nested[0]], list) else 'object'}, not a single value",
                     "give one text and one label (a string) per line; for several labels per text use "
                     "task: multi-label-classification (a list of strings, or labels joined by data.label_separator)")
            continue
        text_value = "" if raw_text is None else str(raw_text)
        text_value = " ".join(text_value.split())  # collapse whitespace runs; newlines in a cell are not labels
        if not text_value:
            bad_row(stats, skip_bad, "empty text", where, f"empty text in column {text_column!r}",
                     "fill in or delete the row")
            continue
        try:
            label = normalize_label(raw_label, label_kinds, line)
        except _MissingLabel as m:
            bad_row(stats, skip_bad, "missing label", where, f"missing label in column {label_column!r}{m.detail}",
                     "label the row or delete it (a class really named like a missing value, e.g. 'None', "
                     "needs another name)")
            continue
        except ValueError as e:
            raise TuneforgeError(str(e), where=where, fix=_LABEL_FIX) from None
        examples.append(TextExample(text_value, label, where))
    if not examples:
        raise TuneforgeError("no usable rows", where=str(path), fix="check the columns and that rows have text and label")
    return examples, stats
