"""Renaming and retyping a collection: ``Collection.edit(name=..., type=...)``.

A collection's versions, aliases and tags belong to it by id, so a rename is one row
changed; references by the old name stop resolving, as in W&B. The type is the
collection's (versions carry none), but a registry's links keep the type they were
linked with, so a collection whose versions are linked somewhere is not retyped until
they are unlinked; a registry collection's type is that of what it links and is fixed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._access import require
from ._audit import record
from ._errors import AlreadyExists, TypeMismatch
from ._names import check_artifact_name, check_type

if TYPE_CHECKING:
    from ._versions import Collection

NAME_TAKEN = """
SELECT deleted_at IS NOT NULL FROM collections WHERE project_id = (SELECT project_id FROM collections WHERE id = ?) AND name = ?
"""
LINKED_ELSEWHERE = """
SELECT DISTINCT p.name || '/' || c.name FROM versions AS v
JOIN versions AS l ON l.source_id = v.id AND l.state = 'committed'
JOIN collections AS c ON c.id = l.collection_id JOIN projects AS p ON p.id = c.project_id
WHERE v.collection_id = ? AND v.state = 'committed' ORDER BY 1
"""
RENAME = "UPDATE collections SET name = ? WHERE id = ?"
RETYPE = "UPDATE collections SET type = ? WHERE id = ?"


def edit_collection(collection: Collection, *, name: str | None = None, type: str | None = None) -> None:
    """Rename and/or retype in one transaction; every check passes before anything changes."""
    new_name = collection.name if name is None else check_artifact_name(name)
    new_type = collection.type if type is None else check_type(type)
    if new_type != collection.type and collection._registry_id is not None:
        raise TypeMismatch(f"{collection.project}/{collection.name} is a registry collection: its type is that of what it "
                           "links and cannot be changed (only a project's collection of logged versions can be retyped)")
    with collection._reg._ctx.write() as tx:
        con, who = tx.con, tx.actor
        if collection._registry_id is not None:
            require(con, collection._registry_id, who.user, "member", f"editing {collection.project}/{collection.name}")
        if new_name != collection.name:
            taken = con.execute(NAME_TAKEN, (collection.id, new_name)).fetchone()
            if taken is not None:
                held = "was used by a deleted collection (its indices stay reserved)" if taken[0] else "is taken"
                raise AlreadyExists(f"{collection.project}/{new_name} {held}; {collection.name} keeps its name")
            con.execute(RENAME, (new_name, collection.id))
            record(tx, "collection_renamed", registry_id=collection._registry_id, collection_id=collection.id,
                   before=collection.name, after=new_name)
        if new_type != collection.type:
            linked = [r[0] for r in con.execute(LINKED_ELSEWHERE, (collection.id,))]
            if linked:
                raise TypeMismatch(f"{collection.project}/{collection.name} has versions linked in {', '.join(linked)} as "
                                   f"{collection.type!r}; unlink them before changing its type")
            con.execute(RETYPE, (new_type, collection.id))
            record(tx, "collection_retyped", collection_id=collection.id, before=collection.type, after=new_type)
    collection.refresh()


__all__ = ["edit_collection"]
