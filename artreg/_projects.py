"""Project and collection rows: the few statements logging, linking, importing, runs and automations share.

A collection is found by ``collection_row`` and made on first use by ``ensure_collection``,
whoever asks (a log, a link into a registry, a distributed version's finish).
"""

from __future__ import annotations

import apsw

from ._errors import TypeMismatch

SELECT_PROJECT = "SELECT id FROM projects WHERE name = ?"
INSERT_PROJECT = "INSERT INTO projects(name, created_at) VALUES (?, ?) RETURNING id"
SELECT_COLLECTION = """
SELECT c.id, c.type, c.deleted_at FROM collections AS c JOIN projects AS p ON p.id = c.project_id
WHERE p.name = ? AND c.name = ?
"""
SELECT_COLLECTION_IN = "SELECT id, type, deleted_at FROM collections WHERE project_id = ? AND name = ?"
INSERT_COLLECTION = "INSERT INTO collections(project_id, name, type, created_at) VALUES (?, ?, ?, ?) RETURNING id"
NEXT_INDEX = "UPDATE collections SET next_index = next_index + 1 WHERE id = ? RETURNING next_index - 1"
INSERT_TAG = "INSERT INTO version_tags(version_id, tag) VALUES (?, ?) ON CONFLICT DO NOTHING"
REGISTRY_PREFIX = "wandb-registry-"
# A WHERE term (over projects AS p) that leaves registries' projects out.
NOT_A_REGISTRY = f"substr(p.name, 1, {len(REGISTRY_PREFIX)}) != '{REGISTRY_PREFIX}'"
# Registry names match case-insensitively (W&B's documentation writes wandb-registry-Model).
SELECT_REGISTRY_PROJECT = """
SELECT p.name FROM registries AS r JOIN projects AS p ON p.id = r.project_id WHERE r.name = ? COLLATE NOCASE
"""


def ensure_project(con: apsw.Connection, name: str, now: str) -> int:
    """The id of project ``name``, created (inside the caller's transaction) when missing.

    A SELECT first: an upsert would rewrite the project's row, and dirty its page, every time.
    """
    row = con.execute(SELECT_PROJECT, (name,)).fetchone() or con.execute(INSERT_PROJECT, (name, now)).fetchone()
    return int(row[0])  # type: ignore[index]


def collection_row(con: apsw.Connection, project: str, name: str) -> tuple[int, str, str | None] | None:
    """(id, type, deleted_at) of collection ``project/name``, deleted or not; None when there is none."""
    row = con.execute(SELECT_COLLECTION, (project, name)).fetchone()
    return None if row is None else (int(row[0]), str(row[1]), row[2])


def ensure_collection(con: apsw.Connection, project_id: int, name: str, type_: str, now: str, label: str) -> int:
    """The id of collection ``name`` of a project, made with ``type_`` when missing (in the caller's transaction).

    TypeMismatch when it holds another type (``label`` names it in the message). Logging or
    linking into a deleted collection revives it; its indices continue, never reused.
    """
    row = con.execute(SELECT_COLLECTION_IN, (project_id, name)).fetchone()
    if row is None:
        return int(con.execute(INSERT_COLLECTION, (project_id, name, type_, now)).fetchone()[0])  # type: ignore[index]
    if row[1] != type_:
        raise TypeMismatch(f"{label} holds type {row[1]!r}, not {type_!r}")
    if row[2] is not None:
        con.execute("UPDATE collections SET deleted_at = NULL WHERE id = ?", (row[0],))
    return int(row[0])


def next_index(con: apsw.Connection, collection_id: int) -> int:
    """Take the collection's next version index (never reused, even after deletion)."""
    return int(con.execute(NEXT_INDEX, (collection_id,)).fetchone()[0])  # type: ignore[index]


def canonical_project(con: apsw.Connection, project: str) -> str:
    """``wandb-registry-<name>`` with the registry's own spelling of ``name``; other projects as given."""
    if not project.startswith(REGISTRY_PREFIX):
        return project
    row = con.execute(SELECT_REGISTRY_PROJECT, (project[len(REGISTRY_PREFIX):],)).fetchone()
    return project if row is None else str(row[0])
