"""Project and collection rows: the few statements logging, linking, runs and automations share."""

from __future__ import annotations

import apsw

SELECT_PROJECT = "SELECT id FROM projects WHERE name = ?"
INSERT_PROJECT = "INSERT INTO projects(name, created_at) VALUES (?, ?) RETURNING id"
SELECT_COLLECTION = """
SELECT c.id, c.type, c.deleted_at FROM collections AS c JOIN projects AS p ON p.id = c.project_id
WHERE p.name = ? AND c.name = ?
"""
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


def next_index(con: apsw.Connection, collection_id: int) -> int:
    """Take the collection's next version index (never reused, even after deletion)."""
    return int(con.execute(NEXT_INDEX, (collection_id,)).fetchone()[0])  # type: ignore[index]


def canonical_project(con: apsw.Connection, project: str) -> str:
    """``wandb-registry-<name>`` with the registry's own spelling of ``name``; other projects as given."""
    if not project.startswith(REGISTRY_PREFIX):
        return project
    row = con.execute(SELECT_REGISTRY_PROJECT, (project[len(REGISTRY_PREFIX):],)).fetchone()
    return project if row is None else str(row[0])
