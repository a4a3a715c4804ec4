"""Append-only storage of leaves and signed checkpoints: SQLite (default) or PostgreSQL (a URL).

Both refuse UPDATE and DELETE (and TRUNCATE) of stored rows with triggers, and commit every batch durably before
``append`` returns (SQLite: WAL with ``synchronous=FULL``; PostgreSQL: a committed transaction). A batch is one
transaction, so a crash leaves all of it or none. The triggers stop mistakes and casual edits by anyone using the
database normally; they are not the trust anchor (someone who owns the file can drop them): the signed, witnessed
checkpoints are.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol



def _paged(fetch: Callable[[int], Sequence[Sequence[Any]]], start: int) -> Iterator[bytes]:
    """Every leaf hash from index ``start`` on, read ``CHUNK`` rows at a time (``fetch(at)``: the rows from ``at``);
    the one paging loop of both stores."""
    while True:
        rows = fetch(start)
        for (h,) in rows:
            yield bytes(h)
        if len(rows) < CHUNK:
            return
        start += len(rows)

class StoreError(RuntimeError):
    """The database refused or failed; the message is one line."""


class Store(Protocol):
    def size(self) -> int: ...
    def append(self, rows: Sequence[tuple[bytes, bytes]]) -> int: ...  # (leaf, leaf hash) -> first new index
    def leaf_hashes(self, start: int = 0) -> Iterator[bytes]: ...
    def leaves(self, start: int, end: int) -> list[bytes]: ...
    def add_checkpoint(self, size: int, note: str) -> None: ...
    def latest_checkpoint(self) -> str | None: ...
    def close(self) -> None: ...


_SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (idx INTEGER PRIMARY KEY, leaf BLOB NOT NULL, leaf_hash BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS checkpoints (id INTEGER PRIMARY KEY AUTOINCREMENT, size INTEGER NOT NULL, note TEXT NOT NULL);
CREATE TRIGGER IF NOT EXISTS entries_no_update BEFORE UPDATE ON entries
  BEGIN SELECT RAISE(ABORT, 'append-only log: entries cannot be updated'); END;
CREATE TRIGGER IF NOT EXISTS entries_no_delete BEFORE DELETE ON entries
  BEGIN SELECT RAISE(ABORT, 'append-only log: entries cannot be deleted'); END;
CREATE TRIGGER IF NOT EXISTS checkpoints_no_update BEFORE UPDATE ON checkpoints
  BEGIN SELECT RAISE(ABORT, 'append-only log: checkpoints cannot be updated'); END;
CREATE TRIGGER IF NOT EXISTS checkpoints_no_delete BEFORE DELETE ON checkpoints
  BEGIN SELECT RAISE(ABORT, 'append-only log: checkpoints cannot be deleted'); END;
"""

CHUNK = 50_000


class SqliteStore:
    def __init__(self, path: Path, *, create: bool = False) -> None:
        if not create and not path.is_file():
            raise StoreError(f"{path}: no log database here (create one with `python -m provenance init`)")
        self.conn = sqlite3.connect(str(path), isolation_level=None, timeout=30)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")  # a commit is on disk before append returns
        if create:
            self.conn.executescript(_SQLITE_SCHEMA)

    def size(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM entries").fetchone()[0])

    def append(self, rows: Sequence[tuple[bytes, bytes]]) -> int:
        c = self.conn
        try:
            c.execute("BEGIN IMMEDIATE")  # one writer at a time: the next index is ours until commit
            start = int(c.execute("SELECT COALESCE(MAX(idx) + 1, 0) FROM entries").fetchone()[0])
            c.executemany("INSERT INTO entries (idx, leaf, leaf_hash) VALUES (?, ?, ?)",
                          ((start + i, leaf, h) for i, (leaf, h) in enumerate(rows)))
            c.execute("COMMIT")
        except sqlite3.Error as e:
            if c.in_transaction:
                c.execute("ROLLBACK")
            raise StoreError(f"append failed, nothing was written: {e}") from None
        return start

    def leaf_hashes(self, start: int = 0) -> Iterator[bytes]:
        return _paged(lambda at: self.conn.execute(
            "SELECT leaf_hash FROM entries WHERE idx >= ? ORDER BY idx LIMIT ?", (at, CHUNK)).fetchall(), start)

    def leaves(self, start: int, end: int) -> list[bytes]:
        return [bytes(r[0]) for r in self.conn.execute(
            "SELECT leaf FROM entries WHERE idx >= ? AND idx < ? ORDER BY idx", (start, end))]

    def add_checkpoint(self, size: int, note: str) -> None:
        self.conn.execute("INSERT INTO checkpoints (size, note) VALUES (?, ?)", (size, note))

    def latest_checkpoint(self) -> str | None:
        row = self.conn.execute("SELECT note FROM checkpoints ORDER BY id DESC LIMIT 1").fetchone()
        return None if row is None else str(row[0])

    def close(self) -> None:
        self.conn.close()


_PG_SCHEMA = """
CREATE TABLE IF NOT EXISTS prov_entries (idx BIGINT PRIMARY KEY, leaf BYTEA NOT NULL, leaf_hash BYTEA NOT NULL);
CREATE TABLE IF NOT EXISTS prov_checkpoints (id BIGSERIAL PRIMARY KEY, size BIGINT NOT NULL, note TEXT NOT NULL);
CREATE OR REPLACE FUNCTION prov_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN RAISE EXCEPTION 'append-only log: % on % refused', TG_OP, TG_TABLE_NAME; END $$;
DROP TRIGGER IF EXISTS prov_entries_append_only ON prov_entries;
CREATE TRIGGER prov_entries_append_only BEFORE UPDATE OR DELETE ON prov_entries
  FOR EACH ROW EXECUTE FUNCTION prov_refuse();
DROP TRIGGER IF EXISTS prov_entries_no_truncate ON prov_entries;
CREATE TRIGGER prov_entries_no_truncate BEFORE TRUNCATE ON prov_entries
  FOR EACH STATEMENT EXECUTE FUNCTION prov_refuse();
DROP TRIGGER IF EXISTS prov_checkpoints_append_only ON prov_checkpoints;
CREATE TRIGGER prov_checkpoints_append_only BEFORE UPDATE OR DELETE ON prov_checkpoints
  FOR EACH ROW EXECUTE FUNCTION prov_refuse();
DROP TRIGGER IF EXISTS prov_checkpoints_no_truncate ON prov_checkpoints;
CREATE TRIGGER prov_checkpoints_no_truncate BEFORE TRUNCATE ON prov_checkpoints
  FOR EACH STATEMENT EXECUTE FUNCTION prov_refuse();
"""


class PostgresStore:
    """The same log in PostgreSQL (``postgresql://...``), for a team; needs psycopg2."""

    def __init__(self, url: str, *, create: bool = False) -> None:
        try:
            import psycopg2
        except ImportError:
            raise StoreError("a PostgreSQL log needs psycopg2 (pip install psycopg2-binary)") from None
        self._errors: type[Exception] = psycopg2.Error
        try:
            self.conn: Any = psycopg2.connect(url)
        except psycopg2.Error as e:
            raise StoreError(f"cannot connect to the log database: {str(e).strip().splitlines()[0]}") from None
        if create:
            with self.conn, self.conn.cursor() as cur:
                cur.execute(_PG_SCHEMA)

    def _run(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        try:
            with self.conn, self.conn.cursor() as cur:
                cur.execute(sql, args)
                return list(cur.fetchall()) if cur.description else []
        except self._errors as e:
            raise StoreError(f"log database: {str(e).strip().splitlines()[0]}") from None

    def size(self) -> int:
        return int(self._run("SELECT COUNT(*) FROM prov_entries")[0][0])

    def append(self, rows: Sequence[tuple[bytes, bytes]]) -> int:
        from psycopg2.extras import execute_values

        try:
            with self.conn, self.conn.cursor() as cur:  # one transaction, committed on exit
                cur.execute("LOCK TABLE prov_entries IN EXCLUSIVE MODE")
                cur.execute("SELECT COALESCE(MAX(idx) + 1, 0) FROM prov_entries")
                start = int(cur.fetchone()[0])
                execute_values(cur, "INSERT INTO prov_entries (idx, leaf, leaf_hash) VALUES %s",
                               [(start + i, leaf, h) for i, (leaf, h) in enumerate(rows)], page_size=1000)
        except self._errors as e:
            raise StoreError(f"append failed, nothing was written: {str(e).strip().splitlines()[0]}") from None
        return start

    def leaf_hashes(self, start: int = 0) -> Iterator[bytes]:
        return _paged(lambda at: self._run(
            "SELECT leaf_hash FROM prov_entries WHERE idx >= %s ORDER BY idx LIMIT %s", (at, CHUNK)), start)

    def leaves(self, start: int, end: int) -> list[bytes]:
        return [bytes(r[0]) for r in self._run(
            "SELECT leaf FROM prov_entries WHERE idx >= %s AND idx < %s ORDER BY idx", (start, end))]

    def add_checkpoint(self, size: int, note: str) -> None:
        self._run("INSERT INTO prov_checkpoints (size, note) VALUES (%s, %s)", (size, note))

    def latest_checkpoint(self) -> str | None:
        rows = self._run("SELECT note FROM prov_checkpoints ORDER BY id DESC LIMIT 1")
        return None if not rows else str(rows[0][0])

    def close(self) -> None:
        self.conn.close()


def open_store(db: str, log_dir: Path, *, create: bool = False) -> Store:
    """``db``: ``sqlite`` (``LOG/log.sqlite``) or a ``postgresql://`` URL."""
    if db == "sqlite":
        return SqliteStore(log_dir / "log.sqlite", create=create)
    if db.startswith(("postgresql://", "postgres://")):
        return PostgresStore(db, create=create)
    raise StoreError(f"unknown log database {db!r}: use sqlite or a postgresql:// URL")
