"""The audit log: every change, who made it and when, hash-chained (SPEC §6.6, §7).

Each row is written in the transaction of the change it records. Its hash covers the
previous row's hash and its own fields, and the head (last id and hash) is kept in
``settings`` too, so editing, deleting or reordering rows, or cutting off the tail, breaks
``verify()``. This makes tampering detectable among cooperating users; it does not stop
someone who can write the file from rewriting the whole chain.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ._clock import parse_time
from ._errors import IntegrityError, InvalidName
from ._names import at_most_int64, dump_json
from .storage._pg_sql import override

if TYPE_CHECKING:
    from ._context import Transaction
    from .storage._db import Database

GENESIS = "0" * 64
INSERT_AUDIT = """
INSERT INTO audit(id, at, user, action, registry_id, collection_id, version_id, alias, detail, hash)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""
SELECT_HEAD = "SELECT value FROM settings WHERE key = 'audit_head'"
# The head read by a write that appends. On PostgreSQL its row is locked until the commit: no
# two transactions can append after the same entry (writers are queued anyway; this holds
# without that queue).
APPEND_AFTER = override("SELECT value AS head FROM settings WHERE key = 'audit_head'",
                        "SELECT value AS head FROM settings WHERE key = 'audit_head' FOR UPDATE")
UPSERT_HEAD = """
INSERT INTO settings(key, value) VALUES ('audit_head', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value
"""
COLUMNS = "id, at, user, action, registry_id, collection_id, version_id, alias, detail, hash"


@dataclass(frozen=True)
class Actor:
    """Who makes a change, and the timestamp every row of that change carries."""

    user: str
    at: str


@dataclass(frozen=True)
class AuditEntry:
    """One recorded change. ``detail`` holds before/after values and names.

    ``registry``, ``collection`` (``project/name``) and ``version`` (``project/name:vN``)
    say what the change was about, by the names those have now (a renamed registry shows
    its new name); the ``*_id`` fields are the database's row ids.
    """

    id: int
    at: datetime
    user: str
    action: str
    registry_id: int | None
    collection_id: int | None
    version_id: int | None
    alias: str | None
    detail: dict[str, Any]
    registry: str | None = None
    collection: str | None = None
    version: str | None = None


@dataclass(frozen=True)
class AliasChange:
    """One change of an alias: ``before`` and ``after`` are version names (``v3``) or None."""

    at: datetime
    user: str
    action: str
    alias: str
    before: str | None
    after: str | None


def _row_hash(prev: str, row: tuple[Any, ...]) -> str:
    return hashlib.sha256(f"{prev}\n{dump_json(list(row))}".encode()).hexdigest()


def record(
    tx: Transaction,
    action: str,
    *,
    registry_id: int | None = None,
    collection_id: int | None = None,
    version_id: int | None = None,
    alias: str | None = None,
    **detail: Any,
) -> None:
    """Append one entry (inside the transaction of the change), with its actor and timestamp."""
    con, actor = tx.con, tx.actor
    head = con.execute(APPEND_AFTER).fetchone()
    last_id, prev = (0, GENESIS) if head is None else json.loads(head[0])
    row = (last_id + 1, actor.at, actor.user, action, registry_id, collection_id, version_id, alias, dump_json(detail))
    digest = _row_hash(prev, row)
    con.execute(INSERT_AUDIT, (*row, digest))
    con.execute(UPSERT_HEAD, (json.dumps([last_id + 1, digest]),))


# Each entry with the names of what it is about. A deleted registry's row is gone, so its
# name comes from the entry's own detail; versions and collections are never removed.
SELECT_ENTRIES = """
SELECT a.id, a.at, a.user, a.action, a.registry_id, a.collection_id, a.version_id, a.alias, a.detail,
       coalesce(r.name, rc.name, iif(a.action IN ('registry_created', 'registry_deleted'), json_extract(a.detail, '$.name'), NULL)),
       cp.name || '/' || c.name,
       vp.name || '/' || vc.name || ':v' || v.idx
FROM audit AS a
LEFT JOIN registries AS r ON r.id = a.registry_id
LEFT JOIN versions AS v ON v.id = a.version_id
LEFT JOIN collections AS vc ON vc.id = v.collection_id
LEFT JOIN projects AS vp ON vp.id = vc.project_id
LEFT JOIN collections AS c ON c.id = coalesce(a.collection_id, v.collection_id)
LEFT JOIN projects AS cp ON cp.id = c.project_id
LEFT JOIN registries AS rc ON rc.project_id = cp.id
"""


def _entry(row: tuple[Any, ...]) -> AuditEntry:
    return AuditEntry(row[0], parse_time(row[1]), row[2], row[3], row[4], row[5], row[6], row[7], json.loads(row[8]), *row[9:12])


class AuditLog:
    """``reg.audit``: read and verify the audit log."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def entries(
        self,
        *,
        action: str | None = None,
        collection_id: int | None = None,
        version_id: int | None = None,
        alias: str | None = None,
        limit: int | None = None,
        last: int | None = None,
    ) -> list[AuditEntry]:
        """Entries oldest first, optionally narrowed to an action, collection, version or alias.

        ``limit`` keeps the first N of them, ``last`` the last N (still oldest first).
        """
        clauses, args = [], []
        for column, value in (("action", action), ("collection_id", collection_id), ("version_id", version_id), ("alias", alias)):
            if value is not None:
                clauses.append(f"a.{column} = ?")
                args.append(value)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        if limit is not None:
            if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
                raise InvalidName(f"limit must be a non-negative number of entries or None, not {limit!r}")
            limit = at_most_int64(limit)
        tail = " LIMIT ?" if limit is not None else ""
        with self._db.read() as con:
            if last is not None:
                newest = con.execute(f"{SELECT_ENTRIES}{where} ORDER BY a.id DESC LIMIT ?", [*args, last]).fetchall()
                return [_entry(r) for r in reversed(newest)]
            rows = con.execute(f"{SELECT_ENTRIES}{where} ORDER BY a.id{tail}", [*args, *([limit] if limit is not None else [])])
            return [_entry(r) for r in rows]

    def __iter__(self) -> Iterator[AuditEntry]:
        return iter(self.entries())

    def head(self) -> tuple[int, str]:
        """(last id, its hash): keep it elsewhere to detect a rewrite of the whole chain later."""
        with self._db.read() as con:
            head = con.execute(SELECT_HEAD).fetchone()
        if head is None:
            return 0, GENESIS
        last_id, digest = json.loads(head[0])
        return int(last_id), str(digest)

    def verify(self) -> int:
        """Recompute the chain; raises IntegrityError at the first broken link. Returns the count."""
        prev, expected_id = GENESIS, 1
        with self._db.read() as con:
            for row in con.execute(f"SELECT {COLUMNS} FROM audit ORDER BY id"):
                if row[0] != expected_id:
                    raise IntegrityError(f"audit log: entry {expected_id} is missing (next is {row[0]})")
                if _row_hash(prev, row[:-1]) != row[-1]:
                    raise IntegrityError(f"audit log: entry {row[0]} ({row[3]} by {row[2]}) was altered")
                prev, expected_id = row[-1], expected_id + 1
            head = con.execute(SELECT_HEAD).fetchone()
        last = (0, GENESIS) if head is None else tuple(json.loads(head[0]))
        if last != (expected_id - 1, prev):
            raise IntegrityError(f"audit log: the chain ends at entry {expected_id - 1}, but entry {last[0]} was recorded last")
        return expected_id - 1
