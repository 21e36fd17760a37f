"""`--watch DIR`: poll a directory and ingest each new .jsonl/.csv/.tsv file once.

Files are taken as immutable once they appear: write them elsewhere (or under a name starting with "." or
ending in ".tmp") and rename them in. A file is also left alone until it has not changed for `settle_s`,
for writers that append in place. Which files were ingested lives in the database (by checksum), so a
restarted watcher skips them; a file that fails to parse is logged, remembered, and read again only once
its content changes.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from ...errors import TuneforgeError
from .items import SUFFIXES
from .pipeline import Monitor, file_sha256
from .store import IngestResult, seen_files

log = logging.getLogger("tuneforge.apps.monitor")


def candidates(folder: Path, settle_s: float, now: float) -> list[Path]:
    out = []
    for p in folder.iterdir():
        if p.name.startswith(".") or p.suffix.lower() not in SUFFIXES or not p.is_file():
            continue
        try:
            if now - p.stat().st_mtime >= settle_s:
                out.append(p)
        except FileNotFoundError:  # renamed away between listing and looking
            continue
    return sorted(out, key=lambda p: (p.stat().st_mtime, p.name))


class Watcher:
    def __init__(self, monitor: Monitor, folder: str | Path, settle_s: float = 1.0):
        self.monitor, self.folder, self.settle_s = monitor, Path(folder), settle_s
        if not self.folder.is_dir():
            raise TuneforgeError("not a directory", where=str(self.folder), fix="create it, or give --watch an existing directory")
        self._known: dict[Path, tuple[int, int]] = {}  # path -> (size, mtime_ns) already handled: no re-hashing

    def poll(self) -> list[tuple[Path, IngestResult | None]]:
        """Ingest every new settled file now; (path, result or None when the file was bad) for each."""
        seen = seen_files(self.monitor.db)
        done = []
        for p in candidates(self.folder, self.settle_s, time.time()):
            st = p.stat()
            if self._known.get(p) == (st.st_size, st.st_mtime_ns):
                continue
            sha = file_sha256(p)
            self._known[p] = (st.st_size, st.st_mtime_ns)
            if sha in seen:
                continue
            try:
                res = self.monitor.ingest_file(p, remember_failure=True)
            except TuneforgeError as e:
                log.error("skipped %s: %s", p, e.message())
                done.append((p, None))
                continue
            if not res.skipped_file:
                log.info("ingested %s: %d texts, %d negative, %d alert(s)", p.name, res.ingested, res.negative,
                         len(res.alerts))
            done.append((p, res))
        return done

    def run(self, interval_s: float = 5.0, stop: threading.Event | None = None) -> None:
        stop = stop or threading.Event()
        while not stop.is_set():
            self.poll()
            stop.wait(interval_s)
