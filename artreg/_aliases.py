"""Alias rows: the one place that points, moves and drops aliases (SPEC §6).

An alias is a row keyed by (collection, alias), so it is held by at most one version.
``latest`` is a row too; ``reset_latest`` moves it to the newest live version. Every change
is written to the audit log in the same transaction, which is what
``Collection.alias_history`` reads; pointing or moving an alias also emits an
``AliasAdded`` event (``_events``), which automations hear.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import apsw

from ._audit import record
from ._events import AliasAdded, emit
from ._names import LATEST

if TYPE_CHECKING:
    from ._context import Transaction

SET_ALIAS = """
INSERT INTO aliases(collection_id, alias, version_id) VALUES (?, ?, ?)
ON CONFLICT(collection_id, alias) DO UPDATE SET version_id = excluded.version_id
"""
HOLDER = "SELECT version_id FROM aliases WHERE collection_id = ? AND alias = ?"
NEWEST_LIVE = "SELECT id FROM versions WHERE collection_id = ? AND state = 'committed' ORDER BY idx DESC LIMIT 1"


def _label(con: apsw.Connection, version_id: int | None) -> str | None:
    if version_id is None:
        return None
    row = con.execute("SELECT idx FROM versions WHERE id = ?", (version_id,)).fetchone()
    return None if row is None else f"v{row[0]}"


def set_alias(tx: Transaction, collection_id: int, alias: str, version_id: int) -> None:
    """Point ``alias`` at a version, moving it from whichever version held it (an ``AliasAdded`` event)."""
    con = tx.con
    held = con.execute(HOLDER, (collection_id, alias)).fetchone()
    before = None if held is None else held[0]
    if before == version_id:
        return
    con.execute(SET_ALIAS, (collection_id, alias, version_id))
    record(
        tx, "alias_added" if before is None else "alias_moved",
        collection_id=collection_id, version_id=version_id, alias=alias,
        before=_label(con, before), after=_label(con, version_id),
    )
    emit(tx, AliasAdded(collection_id, version_id, alias))


def drop_alias(tx: Transaction, collection_id: int, alias: str, version_id: int) -> None:
    """Remove ``alias`` if (and only if) this version still holds it."""
    con = tx.con
    held = con.execute(HOLDER, (collection_id, alias)).fetchone()
    if held is None or held[0] != version_id:
        return
    con.execute("DELETE FROM aliases WHERE collection_id = ? AND alias = ?", (collection_id, alias))
    record(
        tx, "alias_removed",
        collection_id=collection_id, version_id=version_id, alias=alias, before=_label(con, version_id), after=None,
    )


def drop_all(tx: Transaction, collection_id: int, version_id: int) -> None:
    """Remove every alias a version holds."""
    for alias in aliases_of(tx.con, version_id):
        drop_alias(tx, collection_id, alias, version_id)


def aliases_of(con: apsw.Connection, version_id: int) -> list[str]:
    return [r[0] for r in con.execute("SELECT alias FROM aliases WHERE version_id = ? ORDER BY alias", (version_id,))]


def reset_latest(tx: Transaction, collection_id: int) -> None:
    """Give ``latest`` to the newest live version of the collection (or to none)."""
    con = tx.con
    row = con.execute(NEWEST_LIVE, (collection_id,)).fetchone()
    if row is not None:
        set_alias(tx, collection_id, LATEST, row[0])
        return
    held = con.execute(HOLDER, (collection_id, LATEST)).fetchone()
    if held is not None:
        drop_alias(tx, collection_id, LATEST, held[0])
