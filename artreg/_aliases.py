"""Alias rows: the one place that points, moves and drops aliases (SPEC §6).

An alias is a row keyed by (collection, alias), so it is held by at most one version.
``latest`` is a row too; ``reset_latest`` moves it to the newest live version.
"""

from __future__ import annotations

import apsw

from ._names import LATEST

SET_ALIAS = """
INSERT INTO aliases(collection_id, alias, version_id) VALUES (?, ?, ?)
ON CONFLICT(collection_id, alias) DO UPDATE SET version_id = excluded.version_id
"""
DELETE_ALIAS = "DELETE FROM aliases WHERE collection_id = ? AND alias = ? AND version_id = ?"
NEWEST_LIVE = "SELECT id FROM versions WHERE collection_id = ? AND state = 'committed' ORDER BY idx DESC LIMIT 1"


def set_alias(con: apsw.Connection, collection_id: int, alias: str, version_id: int) -> None:
    """Point ``alias`` at a version, moving it from whichever version held it."""
    con.execute(SET_ALIAS, (collection_id, alias, version_id))


def drop_alias(con: apsw.Connection, collection_id: int, alias: str, version_id: int) -> None:
    """Remove ``alias`` if (and only if) this version still holds it."""
    con.execute(DELETE_ALIAS, (collection_id, alias, version_id))


def aliases_of(con: apsw.Connection, version_id: int) -> list[str]:
    return [r[0] for r in con.execute("SELECT alias FROM aliases WHERE version_id = ? ORDER BY alias", (version_id,))]


def reset_latest(con: apsw.Connection, collection_id: int) -> None:
    """Give ``latest`` to the newest live version of the collection (or to none)."""
    row = con.execute(NEWEST_LIVE, (collection_id,)).fetchone()
    if row is None:
        con.execute("DELETE FROM aliases WHERE collection_id = ? AND alias = ?", (collection_id, LATEST))
    else:
        set_alias(con, collection_id, LATEST, row[0])
