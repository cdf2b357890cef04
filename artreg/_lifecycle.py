"""Lifecycle (SPEC §8): TTL, soft deletion, retention by count and expiry.

Deletion is soft: the row stays (its index stays reserved), its aliases go, and ``latest``
moves back to the newest live version. Blobs are freed later by ``gc``.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from ._aliases import aliases_of, drop_all, reset_latest
from ._audit import record
from ._errors import Conflict, InvalidName, PermissionDenied

if TYPE_CHECKING:
    from ._context import Transaction


class TTL(enum.Enum):
    """``artreg.INHERIT``: take the project's default TTL."""

    INHERIT = "inherit"

    def __repr__(self) -> str:
        return "artreg.INHERIT"


INHERIT = TTL.INHERIT
TtlValue = timedelta | None | Literal[TTL.INHERIT]

EXPIRED = """
SELECT v.id, v.collection_id FROM versions AS v
JOIN collections AS c ON c.id = v.collection_id JOIN projects AS p ON p.id = c.project_id
WHERE v.state = 'committed' AND unixepoch(v.created_at, 'subsec') + CASE v.ttl_policy
    WHEN 'set' THEN v.ttl_seconds WHEN 'inherit' THEN p.default_ttl_seconds END <= ?
ORDER BY v.id
"""
# Retention never takes a version that holds an alias or is linked into a registry.
RETENTION_VICTIMS = """
SELECT v.id FROM versions AS v
WHERE v.collection_id = ? AND v.state = 'committed'
  AND NOT EXISTS (SELECT 1 FROM aliases AS a WHERE a.version_id = v.id)
  AND NOT EXISTS (SELECT 1 FROM versions AS l WHERE l.source_id = v.id AND l.state = 'committed')
ORDER BY v.idx DESC LIMIT -1 OFFSET ?
"""
LIVE_LINKS = "SELECT id, collection_id FROM versions WHERE source_id = ? AND state = 'committed'"
# (registry, alias) of protected aliases held by live links of a version.
PROTECTED_LINKS = """
SELECT r.name, a.alias FROM versions AS l
JOIN aliases AS a ON a.version_id = l.id
JOIN collections AS c ON c.id = l.collection_id
JOIN registries AS r ON r.project_id = c.project_id
JOIN protected_aliases AS pa ON pa.registry_id = r.id AND pa.alias = a.alias
WHERE l.source_id = ? AND l.state = 'committed'
"""
KEEP_FOR = """
SELECT iif(c.keep_own, c.keep_versions, p.keep_versions) FROM collections AS c JOIN projects AS p ON p.id = c.project_id
WHERE c.id = ?
"""


# Longer TTLs would put expiry dates past what datetime can hold (year 9999).
MAX_TTL = timedelta(days=1000 * 365)


def ttl_columns(ttl: object) -> tuple[str, float | None]:
    """(ttl_policy, ttl_seconds) for a TTL value; refuses anything but a positive timedelta, None or INHERIT."""
    if ttl is INHERIT:
        return "inherit", None
    if ttl is None:
        return "never", None
    if isinstance(ttl, timedelta) and ttl > timedelta(0):
        if ttl > MAX_TTL:
            raise InvalidName(f"ttl may be at most {MAX_TTL.days // 365:,} years (None never expires), not {ttl!r}")
        return "set", ttl.total_seconds()
    raise InvalidName(f"ttl must be a positive timedelta, None (never expires) or artreg.INHERIT, not {ttl!r}")


def ttl_value(policy: str, seconds: float | None) -> TtlValue:
    if policy == "inherit":
        return INHERIT
    if policy == "never" or seconds is None:
        return None
    return timedelta(seconds=seconds)


def soft_delete(tx: Transaction, collection_id: int, version_ids: Iterable[int], reason: str) -> list[int]:
    """Mark versions deleted, drop their aliases, move ``latest`` back; returns the ids.

    Live links to a deleted version are unlinked with it (the caller checked protection).
    """
    con = tx.con
    ids = list(version_ids)
    for version_id in ids:
        links: list[Any] = con.execute(LIVE_LINKS, (version_id,)).fetchall()
        for link_id, link_collection in links:
            soft_delete(tx, link_collection, [link_id], "version_unlinked")
        drop_all(tx, collection_id, version_id)
        con.execute("UPDATE versions SET state = 'deleted', deleted_at = ? WHERE id = ?", (tx.at, version_id))
        record(tx, reason, collection_id=collection_id, version_id=version_id)
    reset_latest(tx, collection_id)
    return ids


def delete_version(tx: Transaction, collection_id: int, version_id: int, name: str, *, delete_aliases: bool) -> None:
    """Soft-delete one version; refused while it holds aliases unless ``delete_aliases``."""
    con = tx.con
    held = aliases_of(con, version_id)
    if held and not delete_aliases:
        raise Conflict(f"{name} holds aliases {', '.join(held)}; pass delete_aliases=True to delete it anyway")
    protected = con.execute(PROTECTED_LINKS, (version_id,)).fetchall()
    if protected:
        names = ", ".join(f"{r[0]}:{r[1]}" for r in protected)
        raise PermissionDenied(f"{name} is linked under protected aliases ({names}); remove them before deleting it")
    soft_delete(tx, collection_id, [version_id], "version_deleted")


def apply_retention(tx: Transaction, collection_id: int) -> list[int]:
    """Delete the alias-free versions beyond the newest N that the collection's policy keeps."""
    con = tx.con
    row = con.execute(KEEP_FOR, (collection_id,)).fetchone()
    if row is None or row[0] is None:
        return []
    victims = [r[0] for r in con.execute(RETENTION_VICTIMS, (collection_id, row[0]))]
    return soft_delete(tx, collection_id, victims, "version_retired") if victims else []


def expire(tx: Transaction, now: datetime) -> list[int]:
    """Soft-delete every version whose TTL has run out at ``now``, then apply retention everywhere."""
    con = tx.con
    by_collection: dict[int, list[int]] = {}
    expired: list[Any] = con.execute(EXPIRED, (now.timestamp(),)).fetchall()
    for version_id, collection_id in expired:
        by_collection.setdefault(collection_id, []).append(version_id)
    deleted: list[int] = []
    for collection_id, ids in by_collection.items():
        deleted += soft_delete(tx, collection_id, ids, "version_expired")
    policies: list[Any] = con.execute(
        "SELECT c.id FROM collections AS c JOIN projects AS p ON p.id = c.project_id "
        "WHERE iif(c.keep_own, c.keep_versions, p.keep_versions) IS NOT NULL"
    ).fetchall()
    for (collection_id,) in policies:
        deleted += apply_retention(tx, collection_id)
    return deleted
