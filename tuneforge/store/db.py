"""The one database seam of serving: the registry, the traffic split and the request log all speak
this small interface, so the embedded SQLite default and a shared PostgreSQL run the same SQL.

SQL is written once with `?` placeholders and portable types (TEXT, INTEGER, BIGINT, DOUBLE PRECISION,
`INSERT ... ON CONFLICT ... DO UPDATE`); the PostgreSQL adapter only rewrites `?` to `%s`.
A connection is opened per transaction: SQLite connections may not cross threads, and the server
touches the database from the event loop, the admin thread pool and the request-log writer.
"""

from __future__ import annotations

import re
import sqlite3
import zlib
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Iterator, Protocol

from ..errors import TuneforgeError


class Tx(Protocol):
    def execute(self, sql: str, params: tuple = ()) -> list[tuple]: ...


class Database(Protocol):
    url: str

    def transaction(self, lock: str | None = None) -> AbstractContextManager[Tx]: ...

    def query(self, sql: str, params: tuple = ()) -> list[tuple]: ...


class _SqliteTx:
    def __init__(self, con: sqlite3.Connection):
        self.con = con

    def execute(self, sql: str, params: tuple = ()) -> list[tuple]:
        return self.con.execute(sql, params).fetchall()


def _damaged(path: Path, e: Exception) -> TuneforgeError:
    if path.name == "registry.db":
        return TuneforgeError(f"the registry database is damaged or not a database: {e}", where=str(path),
                              fix="restore registry.db from a backup; or move it aside and add the versions again "
                                  "with `tuneforge registry add` (their directories are beside it)")
    return TuneforgeError(f"the database is damaged or not a database: {e}", where=str(path),
                          fix=f"restore {path.name} from a backup, or move it aside to start a new one")


def _is_corrupt(e: sqlite3.Error) -> bool:
    # "file is not a database", "database disk image is malformed": plain DatabaseError. Its subclass
    # OperationalError (locked, busy, disk I/O) is raised as it is.
    return type(e) is sqlite3.DatabaseError or "malformed" in str(e) or "not a database" in str(e)


@contextmanager
def _named(path: Path) -> Iterator[None]:
    """SQLite's errors for a garbled or truncated file, as a TuneforgeError naming it."""
    try:
        yield
    except sqlite3.Error as e:
        if _is_corrupt(e):
            raise _damaged(path, e) from None
        raise


class SqliteDatabase:
    """`registry.db` in WAL mode: readers (the server) never block the writer (a CLI promote).

    `create=False` opens only a database that is already there (reading commands must not leave an
    empty registry behind a mistyped path)."""

    def __init__(self, path: Path, create: bool = True):
        self.path = Path(path)
        self.url = f"sqlite:///{self.path}"
        if not create and not self.path.is_file():
            raise TuneforgeError(f"no registry database at {self.path}", where=str(self.path),
                                 fix="check --registry / $TUNEFORGE_REGISTRY; `tuneforge registry add` creates one")
        if create:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        with _named(self.path), self._connect() as con:
            # WAL is a property of the file, set once; it persists for every later connection.
            con.execute("PRAGMA journal_mode=WAL")
            # A truncated file can still open: read the schema, which touches every table's root page.
            con.execute("SELECT name, sql FROM sqlite_master").fetchall()

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, one transaction per change.
        # timeout: a second writer (two `registry add` at once) waits for the lock instead of failing.
        return sqlite3.connect(self.path, timeout=60, isolation_level=None)

    @contextmanager
    def transaction(self, lock: str | None = None) -> Iterator[_SqliteTx]:
        with _named(self.path):
            con = self._connect()
            try:
                # IMMEDIATE takes the write lock up front: read-then-write (next version number) cannot race,
                # and two writers never deadlock upgrading a shared lock. `lock` needs nothing more here.
                con.execute("BEGIN IMMEDIATE")
                try:
                    yield _SqliteTx(con)
                except BaseException:
                    con.execute("ROLLBACK")
                    raise
                con.execute("COMMIT")
            finally:
                con.close()

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        with _named(self.path):
            con = self._connect()
            try:
                return con.execute(sql, params).fetchall()
            finally:
                con.close()


class _PgTx:
    def __init__(self, cur):
        self.cur = cur

    def execute(self, sql: str, params: tuple = ()) -> list[tuple]:
        self.cur.execute(sql.replace("?", "%s"), params)
        return self.cur.fetchall() if self.cur.description else []


def redact(url: str) -> str:
    """The URL with its password masked, for messages and logs."""
    return re.sub(r"://([^:/@]*):[^@]*@", r"://\1:***@", url)


class PostgresDatabase:
    """The same SQL on a shared PostgreSQL (several server replicas, one registry). psycopg is loaded
    only when a postgresql:// URL is given."""

    def __init__(self, url: str):
        try:
            import psycopg
        except ImportError:
            raise TuneforgeError("a postgresql:// registry database needs the psycopg package", where=redact(url),
                                 fix='pip install "psycopg[binary]==3.3.9"') from None
        self._psycopg = psycopg
        self.url = url
        try:
            psycopg.connect(url, connect_timeout=10).close()
        except psycopg.OperationalError as e:
            raise TuneforgeError(f"cannot connect to the registry database: {str(e).strip()}", where=redact(url),
                                 fix="check the URL, that the server runs, and the credentials") from None

    @contextmanager
    def transaction(self, lock: str | None = None) -> Iterator[_PgTx]:
        with self._psycopg.connect(self.url) as con:  # commits on success, rolls back on an exception
            with con.cursor() as cur:
                if lock is not None:
                    # SQLite's BEGIN IMMEDIATE serialises all writers; here only writers of the same name.
                    cur.execute("SELECT pg_advisory_xact_lock(%s)", (zlib.crc32(lock.encode()),))
                yield _PgTx(cur)

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self._psycopg.connect(self.url) as con, con.cursor() as cur:
            cur.execute(sql.replace("?", "%s"), params)
            return cur.fetchall() if cur.description else []


def open_database(url_or_path: str | Path, create: bool = True) -> Database:
    """A `postgresql://` URL, a `sqlite:///path` URL, or a plain file path (SQLite). `create=False`:
    a SQLite file must already exist."""
    s = str(url_or_path)
    if s.startswith(("postgresql://", "postgres://")):
        return PostgresDatabase(s)
    if s.startswith("sqlite:///"):
        s = s[len("sqlite:///"):]
    return SqliteDatabase(Path(s), create=create)
