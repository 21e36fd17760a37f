"""Interactions and item text for the recommender, read and checked line by line.

Two layouts are accepted, told apart by the file suffix:
- RecBole atomic files (what `tuneforge datasets movielens-100k` prepares): tab-separated, a typed header
  such as `user_id:token  item_id:token  rating:float  timestamp:float`; the `:type` part is ignored.
- `.csv` with a plain header (`user_id,item_id,rating,timestamp`; `item_id,title,year,genres`).
Interactions need user_id, item_id, timestamp; `rating` is optional (without it every row is a click).
Items need item_id and a title (`movie_title` or `title`); year (`release_year` | `year`) and genres
(`class` | `genres`, separated by spaces or `|`) are added to the text when present.
"""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from tuneforge.data.datasets_fetch import natural_title
from tuneforge.errors import TuneforgeError

TITLE_COLS, YEAR_COLS, GENRE_COLS = ("movie_title", "title"), ("release_year", "year"), ("class", "genres")
# MovieLens files titles as "Misérables, Les": the encoder reads the natural order better.


@dataclass(frozen=True)
class Event:
    user: str
    item: str
    rating: float
    ts: float
    line: int  # 1-based line in the interactions file: the tie-breaker for equal timestamps


@dataclass
class RecData:
    events: list[Event]
    item_text: dict[str, str]  # item id -> the text both towers read
    click_threshold: float
    sources: dict = field(default_factory=dict)

    def clicks(self) -> list[Event]:
        return [e for e in self.events if e.rating >= self.click_threshold]


def _read_table(path: Path, what: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    if not path.is_file():
        raise TuneforgeError(f"{what} file {path} does not exist", where=str(path),
                             fix="check the path, or run `tuneforge datasets movielens-100k` for the packaged data")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise TuneforgeError(f"not UTF-8 ({e.reason} at byte {e.start})", where=str(path),
                             fix="save the file as UTF-8") from None
    if path.suffix.lower() == ".csv":
        reader = csv.reader(io.StringIO(text, newline=""))
    else:  # RecBole TSV: titles hold quotes and apostrophes that are not CSV quoting
        reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t", quoting=csv.QUOTE_NONE)
    rows = [(reader.line_num, r) for r in reader if r and any(c.strip() for c in r)]
    if not rows:
        raise TuneforgeError(f"{what} file is empty", where=str(path), fix="give a file with a header line and rows")
    header = [c.split(":", 1)[0].strip().lower() for c in rows[0][1]]  # `item_id:token` -> item_id
    if len(rows) == 1:
        raise TuneforgeError(f"{what} file has a header but no rows", where=f"{path}:1", fix="add rows")
    for line, r in rows[1:]:
        if len(r) != len(header):
            raise TuneforgeError(f"expected {len(header)} fields ({', '.join(header)}), got {len(r)}",
                                 where=f"{path}:{line}",
                                 fix="one row per line; separate fields with tabs (.inter/.item/.tsv) or commas (.csv)")
    return header, rows[1:]


def _col(header: list[str], names: tuple[str, ...], path: Path, required: bool) -> int | None:
    for n in names:
        if n in header:
            return header.index(n)
    if required:
        raise TuneforgeError(f"column {' or '.join(repr(n) for n in names)} is missing (header: {', '.join(header)})",
                             where=f"{path}:1", fix="rename the column in the header line")
    return None


def _number(value: str, path: Path, line: int, column: str) -> float:
    try:
        x = float(value)
    except ValueError:
        x = math.nan
    if not math.isfinite(x):
        raise TuneforgeError(f"{column} {value!r} is not a number", where=f"{path}:{line}",
                             fix=f"write {column} as a number (timestamps as Unix seconds)")
    return x


def item_text(title: str, year: str = "", genres: str = "") -> str:
    """'Misérables, Les' 1995 'Drama Musical' -> 'Les Misérables (1995). Drama, Musical'."""
    title = natural_title(title)
    text = f"{title} ({year.strip()})" if year.strip() else title
    names = [g.replace("_", " ") for g in re.split(r"[|\s]+", genres.strip()) if g]
    return f"{text}. {', '.join(names)}" if names else text


def read_items(path: str | Path) -> dict[str, str]:
    path = Path(path)
    header, rows = _read_table(path, "items")
    i_id = _col(header, ("item_id",), path, True)
    i_title = _col(header, TITLE_COLS, path, True)
    i_year, i_genre = _col(header, YEAR_COLS, path, False), _col(header, GENRE_COLS, path, False)
    items: dict[str, str] = {}
    for line, r in rows:
        iid, title = r[i_id].strip(), r[i_title].strip()
        if not iid or not title:
            raise TuneforgeError(f"empty {'item_id' if not iid else 'title'}", where=f"{path}:{line}",
                                 fix="every item needs an id and a title")
        if iid in items:
            raise TuneforgeError(f"item_id {iid!r} appears twice", where=f"{path}:{line}", fix="keep one row per item")
        items[iid] = item_text(title, r[i_year] if i_year is not None else "",
                               r[i_genre] if i_genre is not None else "")
    return items


def read_interactions(path: str | Path, items: dict[str, str]) -> list[Event]:
    path = Path(path)
    header, rows = _read_table(path, "interactions")
    i_u, i_i = _col(header, ("user_id",), path, True), _col(header, ("item_id",), path, True)
    i_t, i_r = _col(header, ("timestamp",), path, True), _col(header, ("rating",), path, False)
    events = []
    for line, r in rows:
        u, it = r[i_u].strip(), r[i_i].strip()
        if not u or not it:
            raise TuneforgeError("empty user_id or item_id", where=f"{path}:{line}", fix="fill in both ids")
        if it not in items:
            raise TuneforgeError(f"item_id {it!r} is not in the items file", where=f"{path}:{line}",
                                 fix="add the item (id, title) to the items file, or drop the row")
        rating = _number(r[i_r], path, line, "rating") if i_r is not None else math.inf  # implicit: all clicks
        events.append(Event(u, it, rating, _number(r[i_t], path, line, "timestamp"), line))
    return events


def load(interactions: str | Path, items: str | Path, click_threshold: float = 4.0) -> RecData:
    item_map = read_items(items)
    events = read_interactions(interactions, item_map)
    data = RecData(events, item_map, click_threshold, {"interactions": str(interactions), "items": str(items)})
    if not data.clicks():
        raise TuneforgeError(f"no interaction has rating >= {click_threshold}, so there is nothing to learn from",
                             where=str(interactions), fix="lower --click-threshold, or check the rating column")
    return data


def resolve_paths(data_dir: str | None, interactions: str | None, items: str | None) -> tuple[Path, Path]:
    """--interactions/--items, else the RecBole pair in --data DIR, else the packaged MovieLens-100K."""
    if (interactions is None) != (items is None):
        raise TuneforgeError("give both --interactions and --items, or neither", where="command line",
                             fix="--interactions ratings.csv --items movies.csv (or --data DIR)")
    if interactions:
        return Path(interactions), Path(items)
    if data_dir is None:
        from tuneforge.data.datasets_fetch import prepare
        d = prepare("movielens-100k")
    else:
        d = Path(data_dir)
        if not d.is_dir():
            raise TuneforgeError(f"data directory {d} does not exist", where="--data",
                                 fix="give a folder holding NAME.inter and NAME.item (RecBole atomic files)")
    inter, item = sorted(d.glob("*.inter")), sorted(d.glob("*.item"))
    if len(inter) != 1 or len(item) != 1:
        raise TuneforgeError(f"expected exactly one *.inter and one *.item file in {d}, found "
                             f"{len(inter)} and {len(item)}", where="--data",
                             fix="use --interactions FILE --items FILE to name them")
    return inter[0], item[0]
