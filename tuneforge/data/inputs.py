"""Unlabeled texts to predict on (`tuneforge predict --input`, `tuneforge zero-shot --input`).

Read as strictly as training data (the same bounded reading and CSV checks as `readers`): .jsonl/.ndjson
(one JSON object with the text column per line, or a bare JSON string), .csv/.tsv (a header naming the
text column), anything else one text per line. A problem stops the read with file:line and a fix; a
bad row is never guessed at or skipped, because a prediction file must line up with its input.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import TuneforgeError
from .readers import csv_header, read_text

_JSON_TYPES = {list: "list", dict: "object", bool: "boolean", int: "number", float: "number", type(None): "null"}


def _jsonl(path: Path, text: str, column: str) -> list[str]:
    out = []
    fix = f'write one JSON object per line with a non-empty string under {column!r} ({{"{column}": "..."}}), ' \
          "or pass --text-column"
    for i, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}:{i}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise TuneforgeError(f"not valid JSON ({e.msg})", where=where, fix=fix) from None
        if isinstance(obj, dict):
            if column not in obj:
                found = ", ".join(sorted(map(str, obj))) or "none"
                raise TuneforgeError(f"no key {column!r} (found: {found})", where=where, fix=fix)
            value, what = obj[column], f"{column!r} is"
        else:
            value, what = obj, "the line is"
        if not isinstance(value, str):
            raise TuneforgeError(f"{what} a JSON {_JSON_TYPES.get(type(value), type(value).__name__)}, not a text",
                                 where=where, fix=fix)
        if not value.strip():
            raise TuneforgeError(f"{what} an empty text", where=where, fix="fill in or delete the line")
        out.append(value)
    return out


def _table(path: Path, text: str, column: str, delimiter: str) -> list[str]:
    header, rows = csv_header(path, text, delimiter)
    if column not in header:
        found = ", ".join(sorted(h for h in header if h)) or "none"
        raise TuneforgeError(f"column {column!r} is missing (found: {found})", where=str(path),
                             fix="pass --text-column with the right column name")
    k = header.index(column)
    out = []
    for line, row, err in rows:
        where = f"{path}:{line}"
        if err is not None:
            raise TuneforgeError(err.what, where=where, fix=err.fix)
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != len(header):
            raise TuneforgeError(f"{len(row)} fields where the header has {len(header)}", where=where,
                                 fix="quote cells that contain the delimiter, and give every row every column")
        if not row[k].strip():
            raise TuneforgeError(f"empty text in column {column!r}", where=where, fix="fill in or delete the row")
        out.append(row[k])
    return out


def read_inputs(path: str | Path, text_column: str = "text", encoding: str = "utf-8") -> list[str]:
    """The texts of an input file, in order, or a TuneforgeError naming file:line."""
    path = Path(path)
    if not path.is_file():
        raise TuneforgeError("input file not found", where=str(path), fix="check the --input path")
    try:
        text = read_text(path, encoding)
    except TuneforgeError as e:
        if e.what != "the file is empty":
            raise
        raise TuneforgeError("the file is empty", where=str(path), fix="give one text per line (or per row)") from None
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return _jsonl(path, text, text_column)
    if suffix in (".csv", ".tsv"):
        return _table(path, text, text_column, "," if suffix == ".csv" else "\t")
    return [line for line in text.splitlines() if line.strip()]
