"""Link rows: the versions of a registry collection that name a logged version (SPEC §8).

A link is a row of ``versions`` with ``source_id`` set. It takes its source's digest, size
and file count and the next index of its registry collection, never expires, and keeps its
source from expiring while it lives. ``ArtifactVersion.link`` and a bundle's import both
write links here, with the audit entry, the ``VersionLinked`` event and ``latest``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import apsw

from ._aliases import set_alias
from ._audit import record
from ._errors import TypeMismatch
from ._events import VersionLinked, emit
from ._names import LATEST
from ._projects import next_index

if TYPE_CHECKING:
    from ._context import Transaction

INSERT_LINK = """
INSERT INTO versions(collection_id, idx, digest, size, file_count, created_at, created_by, ttl_policy, source_id)
SELECT ?, ?, digest, size, file_count, ?, ?, 'never', id FROM versions WHERE id = ? RETURNING id
"""
SAME_LINK = "SELECT id FROM versions WHERE collection_id = ? AND source_id = ? AND state = 'committed'"
ACCEPTS = "SELECT 1 FROM registry_types WHERE registry_id = ? AND type = ?"
# fetchall: a RETURNING cursor left open would block the COMMIT ("statements in progress").
CLEAR_SOURCE_TTL = "UPDATE versions SET ttl_policy = 'never', ttl_seconds = NULL WHERE id = ? AND ttl_policy != 'never' RETURNING 1"


def live_link(con: apsw.Connection, collection_id: int, source_id: int) -> int | None:
    """The live link of ``source_id`` in a registry collection, if there is one."""
    row = con.execute(SAME_LINK, (collection_id, source_id)).fetchone()
    return None if row is None else int(row[0])


def check_accepts(con: apsw.Connection, registry_id: int, registry: str, all_types: bool, type_: str) -> None:
    """TypeMismatch unless the registry accepts versions of ``type_``."""
    if not all_types and con.execute(ACCEPTS, (registry_id, type_)).fetchone() is None:
        raise TypeMismatch(f"registry {registry!r} does not accept artifacts of type {type_!r}")


def add_link(
    tx: Transaction, registry_id: int, collection_id: int, source_id: int, *, created_at: str, created_by: str, **detail: Any
) -> int:
    """A new link at the collection's next index; it becomes ``latest`` (a ``VersionLinked`` event, then ``AliasAdded``)."""
    con = tx.con
    index = next_index(con, collection_id)
    link_id = int(con.execute(INSERT_LINK, (collection_id, index, created_at, created_by, source_id)).fetchone()[0])  # type: ignore[index]
    record(tx, "version_linked", registry_id=registry_id, collection_id=collection_id, version_id=link_id,
           source_id=source_id, index=index, **detail)
    emit(tx, VersionLinked(collection_id, link_id))
    set_alias(tx, collection_id, LATEST, link_id)
    return link_id


def keep_source(tx: Transaction, source_id: int) -> None:
    """A linked version never expires: clear its TTL (and say so in the audit log) if it had one."""
    if tx.con.execute(CLEAR_SOURCE_TTL, (source_id,)).fetchall():
        record(tx, "ttl_changed", version_id=source_id, before="cleared by link", after="None")


__all__ = ["add_link", "check_accepts", "keep_source", "live_link"]
