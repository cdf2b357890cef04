"""The blobs table: every statement that reads or writes it, in one place.

A row is ``(digest, size, data)``: ``data`` holds the bytes of an inline blob and is NULL for
one kept as a file (in ``objects/`` or a bucket). The blob store reads rows here, logging and
importing insert them (in the transaction of the version that names them, once the bytes are
stored), gc deletes them. ``typeof(data)`` reads only a record's header, where ``data IS NULL``
would load every blob's bytes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import apsw

# Of the digests given (a JSON array), those stored: (digest, size, kept as a file).
SELECT_PRESENT = """
SELECT digest, size, typeof(data) = 'null' FROM blobs WHERE digest IN (SELECT value FROM json_each(?))
"""
# A file row for a blob already inline stays inline; an inline row fills a file row's data.
INSERT_BLOB = """
INSERT INTO blobs(digest, size, data) VALUES (?, ?, ?)
ON CONFLICT(digest) DO UPDATE SET data = excluded.data WHERE blobs.data IS NULL AND excluded.data IS NOT NULL
"""
DELETE_BLOB = "DELETE FROM blobs WHERE digest = ?"
SELECT_DATA = "SELECT digest, data FROM blobs WHERE digest IN (SELECT value FROM json_each(?))"
SELECT_SIZED = "SELECT digest, size, data FROM blobs WHERE digest IN (SELECT value FROM json_each(?))"
SELECT_ONE = "SELECT size, data FROM blobs WHERE digest = ?"
SELECT_STATE = "SELECT data, typeof(data) = 'null' FROM blobs WHERE digest = ?"
# The blobs kept as files, by digest.
FILE_BLOBS = "SELECT digest, size FROM blobs WHERE typeof(data) = 'null' ORDER BY digest"


def present(con: apsw.Connection, digests: Iterable[str]) -> list[tuple[str, int, bool]]:
    """(digest, size, kept as a file) of those of ``digests`` that have a row, in one query."""
    return [(str(d), int(s), bool(f)) for d, s, f in con.execute(SELECT_PRESENT, (json.dumps(list(digests)),))]


def insert(con: apsw.Connection, rows: Iterable[tuple[str, int, bytes | None]]) -> None:
    """Add blob rows (digest, size, inline bytes or None), in the caller's transaction; rows may stream."""
    con.executemany(INSERT_BLOB, rows)


def delete(con: apsw.Connection, digests: Iterable[str]) -> None:
    """Remove the rows of ``digests`` (gc, in its durable transaction, before it removes the files)."""
    con.executemany(DELETE_BLOB, ((d,) for d in digests))


def file_blobs(con: apsw.Connection) -> list[tuple[str, int]]:
    """(digest, size) of every blob kept as a file, by digest."""
    return [(str(d), int(s)) for d, s in con.execute(FILE_BLOBS)]


__all__ = [
    "DELETE_BLOB", "FILE_BLOBS", "INSERT_BLOB", "SELECT_DATA", "SELECT_ONE", "SELECT_PRESENT", "SELECT_SIZED", "SELECT_STATE",
    "delete", "file_blobs", "insert", "present",
]
