"""What every way in (a file, a watched directory, an HTTP request) shares: the database, the classifiers,
the window, the detector and the alert delivery, bound once."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from ...errors import TuneforgeError
from .detect import DetectorOptions
from .items import Fields, Item, read_items
from .store import NEGATIVE_LABELS, IngestResult, ingest, mark_failed

log = logging.getLogger("tuneforge.apps.monitor")


@dataclass
class Monitor:
    db: Path
    classify: Callable[[list[str]], list[bool]] | None = None
    topic_classify: Callable[[list[str]], list[str]] | None = None
    window_s: float = 3600.0
    detector: DetectorOptions = field(default_factory=DetectorOptions)
    negative_labels: Sequence[str] = NEGATIVE_LABELS
    examples: int = 5
    deliver: Callable[[dict], bool | None] | None = None
    fields: Fields = field(default_factory=Fields)

    def ingest(self, items: list[Item], source: tuple[str, str] | None = None) -> IngestResult:
        return ingest(self.db, items, self.classify, window_s=self.window_s, detector=self.detector,
                      topic_classify=self.topic_classify, negative_labels=self.negative_labels,
                      examples=self.examples, source=source, deliver=self.deliver)

    def ingest_file(self, path: Path, remember_failure: bool = False) -> IngestResult:
        """Read, classify and count one file, recorded by its checksum: the same content is never counted
        twice (a restart, a copy under another name). A bad file raises; with remember_failure (the
        watcher) it is also recorded so it is not retried until its content changes."""
        sha = file_sha256(path)
        try:
            items = read_items(path, self.fields)
        except TuneforgeError as e:
            if remember_failure:
                mark_failed(self.db, sha, str(path), e.message())
            raise
        return self.ingest(items, source=(sha, str(path)))


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    except FileNotFoundError:
        raise TuneforgeError("file not found", where=str(path), fix="check the path") from None
    except IsADirectoryError:
        raise TuneforgeError("is a directory", where=str(path), fix="give a .jsonl or .csv file (or --watch DIR)") from None
    return h.hexdigest()
