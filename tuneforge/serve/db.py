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


class SqliteDatabase:
    """`registry.db` in WAL mode: readers (the server) never block the writer (a CLI promote)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.url = f"sqlite:///{self.path}"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as con:
            # WAL is a property of the file, set once; it persists for every later connection.
            con.execute("PRAGMA journal_mode=WAL")

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, one transaction per change.
        # timeout: a second writer (two `registry add` at once) waits for the lock instead of failing.
        return sqlite3.connect(self.path, timeout=60, isolation_level=None)

    @contextmanager
    def transaction(self, lock: str | None = None) -> Iterator[_SqliteTx]:
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


def open_database(url_or_path: str | Path) -> Database:
    """A `postgresql://` URL, a `sqlite:///path` URL, or a plain file path (SQLite)."""
    s = str(url_or_path)
    if s.startswith(("postgresql://", "postgres://")):
        return PostgresDatabase(s)
    if s.startswith("sqlite:///"):
        s = s[len("sqlite:///"):]
    return SqliteDatabase(Path(s))
