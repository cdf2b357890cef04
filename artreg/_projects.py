"""Project and collection rows: the few statements logging, linking, runs and automations share."""

from __future__ import annotations

import apsw

UPSERT_PROJECT = """
INSERT INTO projects(name, created_at) VALUES (?, ?)
ON CONFLICT(name) DO UPDATE SET name = excluded.name RETURNING id
"""
SELECT_COLLECTION = """
SELECT c.id, c.type, c.deleted_at FROM collections AS c JOIN projects AS p ON p.id = c.project_id
WHERE p.name = ? AND c.name = ?
"""
NEXT_INDEX = "UPDATE collections SET next_index = next_index + 1 WHERE id = ? RETURNING next_index - 1"
INSERT_TAG = "INSERT INTO version_tags(version_id, tag) VALUES (?, ?) ON CONFLICT DO NOTHING"


def ensure_project(con: apsw.Connection, name: str, now: str) -> int:
    """The id of project ``name``, created (inside the caller's transaction) when missing."""
    return int(con.execute(UPSERT_PROJECT, (name, now)).fetchone()[0])  # type: ignore[index]


def next_index(con: apsw.Connection, collection_id: int) -> int:
    """Take the collection's next version index (never reused, even after deletion)."""
    return int(con.execute(NEXT_INDEX, (collection_id,)).fetchone()[0])  # type: ignore[index]
