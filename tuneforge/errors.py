"""The one user-facing error type.

Every problem a user can fix (bad config, bad data, missing package) is raised as a
TuneforgeError carrying *what* is wrong, *where* (file:line or config key) and *how to fix it*.
The CLI prints it as one short paragraph and exits non-zero, with no traceback.
"""

from __future__ import annotations


class TuneforgeError(Exception):
    def __init__(self, what: str, where: str | None = None, fix: str | None = None):
        self.what = what
        self.where = where
        self.fix = fix
        super().__init__(self.message())

    def message(self) -> str:
        head = f"{self.where}: {self.what}" if self.where else self.what
        return f"{head}\n  fix: {self.fix}" if self.fix else head
