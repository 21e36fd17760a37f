"""Items the monitor ingests: a time (ISO-8601 or epoch seconds), a text and an optional topic, from JSONL,
CSV/TSV files or an HTTP body. Every malformed item is a TuneforgeError naming the file and line (or the
item's index in a request) and the fix; nothing of a bad file is counted.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ...data.readers import csv_header, read_bounded
from ...errors import TuneforgeError

SUFFIXES = (".jsonl", ".ndjson", ".csv", ".tsv")
MAX_EPOCH_S = 1e11  # year 5138: a larger number is almost surely milliseconds, which we refuse to guess at
MAX_TEXT_CHARS = 20000


@dataclass(frozen=True)
class Fields:
    """Names of the fields (JSONL keys / CSV columns) that hold the time, the text and the topic."""
    time: str = "time"
    text: str = "text"
    topic: str = "topic"


@dataclass
class Item:
    ts: float  # epoch seconds, UTC
    text: str
    topic: str | None = None
    label: str | None = None  # a sentiment label already known (tests, replays): no classifier needed


def parse_time(value, where: str) -> float:
    """Epoch seconds from an ISO-8601 string (a time without an offset is UTC) or a number of seconds."""
    fix = 'write ISO-8601 ("2026-11-20T08:15:00Z", "2026-11-20 08:15:00+08:00") or epoch seconds (1763626500)'
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d+(\.\d+)?\s*", value):
        value = float(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value) or value < 0:
            raise TuneforgeError(f"time {value!r} is not a valid epoch time", where=where, fix=fix)
        if value >= MAX_EPOCH_S:
            raise TuneforgeError(f"time {value!r} looks like epoch milliseconds", where=where,
                                 fix="give epoch seconds (divide by 1000) or an ISO-8601 string")
        return float(value)
    if isinstance(value, str) and value.strip():
        try:
            dt = datetime.fromisoformat(value.strip())
        except ValueError:
            raise TuneforgeError(f"time {value!r} is neither ISO-8601 nor epoch seconds", where=where, fix=fix) from None
        return (dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)).timestamp()
    raise TuneforgeError(f"time {value!r} is missing or not a time", where=where, fix=fix)


def parse_item(obj, where: str, fields: Fields = Fields()) -> Item:
    if not isinstance(obj, dict):
        raise TuneforgeError(f"expected an object with {fields.time!r} and {fields.text!r}, got {type(obj).__name__}",
                             where=where, fix=f'write e.g. {{"{fields.time}": "2026-11-20T08:15:00Z", '
                                              f'"{fields.text}": "...", "{fields.topic}": "payments"}}')
    if obj.get(fields.time) in (None, ""):
        raise TuneforgeError(f"no {fields.time!r}", where=where,
                             fix=f"give every item a {fields.time!r} (ISO-8601 or epoch seconds), or name the "
                                 "field with --time-field")
    ts = parse_time(obj[fields.time], where)
    text = obj.get(fields.text)
    if not isinstance(text, str) or not text.strip():
        raise TuneforgeError(f"{fields.text!r} is missing or empty", where=where,
                             fix=f"give every item a non-empty {fields.text!r} string, or name the field with --text-field")
    if len(text) > MAX_TEXT_CHARS:
        raise TuneforgeError(f"text of {len(text)} characters (more than {MAX_TEXT_CHARS})", where=where,
                             fix="split long documents into paragraphs or sentences first")
    topic = obj.get(fields.topic)
    if topic is not None and not isinstance(topic, (str, int)) or isinstance(topic, bool):
        raise TuneforgeError(f"{fields.topic!r} must be a string, got {type(topic).__name__}", where=where,
                             fix="write the topic as a string, or leave it out")
    topic = str(topic).strip() if topic is not None and str(topic).strip() else None
    label = obj.get("label")
    return Item(ts, text, topic, str(label) if label is not None and str(label) != "" else None)


def parse_items(body, fields: Fields = Fields(), where: str = "request") -> list[Item]:
    """An HTTP body: a JSON list of items, or {"items": [...]}."""
    items = body.get("items") if isinstance(body, dict) else body
    if not isinstance(items, list):
        raise TuneforgeError("expected a JSON list of items (or {\"items\": [...]})", where=where,
                             fix='POST [{"time": "2026-11-20T08:15:00Z", "text": "...", "topic": "payments"}]')
    return [parse_item(obj, f"{where} item {i}", fields) for i, obj in enumerate(items)]


def _decode(path: Path) -> str:
    if not path.is_file():
        raise TuneforgeError("file not found", where=str(path), fix="check the path")
    raw = read_bounded(path)  # a line over the size limit stops the read with file:line
    if not raw.strip():
        raise TuneforgeError("the file is empty", where=str(path), fix="write one item per line (JSONL) or per row (CSV)")
    try:
        return raw.decode("utf-8").lstrip("\ufeff")  # a BOM would stick to the first column name
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise TuneforgeError(f"cannot decode byte {raw[e.start]:#04x} as UTF-8", where=f"{path}:{line}",
                             fix="re-save the file as UTF-8") from None


def read_items(path: str | Path, fields: Fields = Fields()) -> list[Item]:
    """Every item of a .jsonl/.ndjson or .csv/.tsv file, or the first problem with file:line."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise TuneforgeError(f"cannot read {suffix or 'a file without a suffix'}", where=str(path),
                             fix=f"give a {', '.join(SUFFIXES)} file")
    text = _decode(path)
    out: list[Item] = []
    if suffix in (".jsonl", ".ndjson"):
        for i, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise TuneforgeError(f"not valid JSON: {e.msg}", where=f"{path}:{i}",
                                     fix="write one JSON object per line") from None
            out.append(parse_item(obj, f"{path}:{i}", fields))
        return out
    # the training readers' CSV checks: a quote left open (which would swallow the rest of the file as one
    # text), a cell over the size limit, a column named twice
    columns, rows = csv_header(path, text, "," if suffix == ".csv" else "\t")
    for need, flag in ((fields.time, "--time-field"), (fields.text, "--text-field")):
        if need not in columns:
            raise TuneforgeError(f"no column {need!r} (columns: {', '.join(columns)})", where=f"{path}:1",
                                 fix=f"add a {need!r} column to the header, or name the column with {flag}")
    for line, cells, err in rows:
        if err is not None:
            raise TuneforgeError(err.what, where=f"{path}:{line}", fix=err.fix)
        if not any(c.strip() for c in cells):
            continue  # a blank line
        if len(cells) > len(columns):
            raise TuneforgeError(f"{len(cells)} cells but {len(columns)} columns",
                                 where=f"{path}:{line}", fix="quote cells that contain the delimiter")
        row = dict(zip(columns, cells))
        out.append(parse_item(row, f"{path}:{line}", fields))
    return out
