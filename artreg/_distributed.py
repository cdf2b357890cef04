"""Distributed versions (SPEC §15.1): several runs upsert parts of one version, one run finishes it.

``upsert`` stores a draft's bytes (outside any transaction, under the store lock held
shared, as a log does), then in one transaction adds its entries to the *pending version*
keyed by (project, artifact name, distributed id), and records the run as a contributor. A
path already added with other content is refused at that upsert (AlreadyExists) and the
upsert changes nothing. ``finish`` adds the finishing draft's entries the same way and, in
the same transaction, turns everything pending into one version of the collection (one
index, ``latest`` moves once; or, when the content equals ``latest``, that version), records
every contributor as a producer, applies the aliases and tags gathered, and drops the
pending rows. An upsert with the same distributed id after that starts a new pending
version.

Pending rows are not versions: no reader, listing, search or filter sees them. ``gc``
counts their digests as referenced, so it never sweeps the blobs of a pending version.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import apsw

from ._aliases import set_alias
from ._based import Edits
from ._draft import Artifact, _check_description
from ._errors import AlreadyExists, InvalidName, TypeMismatch
from ._ingest import ingest, known_digests
from ._lifecycle import apply_retention, ttl_columns
from ._log_artifact import _add_tags, _insert_version
from ._names import (
    LATEST,
    REGISTRY_PROJECT_PREFIX,
    check_artifact_name,
    check_metadata,
    check_project,
    check_tags,
    dump_json,
    given_aliases,
)
from ._projects import collection_row, ensure_collection, ensure_project
from ._run_rows import INSERT_OUTPUT
from ._versions import ArtifactVersion
from .storage._chunks import from_rows
from .storage._manifest import EntryRow

if TYPE_CHECKING:
    from ._context import Transaction
    from ._registry import Registry

SELECT_PENDING = """
SELECT id, type, description, metadata, aliases, tags FROM pending_versions
WHERE project_id = ? AND name = ? AND distributed_id = ?
"""
INSERT_PENDING = """
INSERT INTO pending_versions(project_id, name, type, distributed_id, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?) RETURNING id
"""
UPDATE_PENDING = "UPDATE pending_versions SET description = ?, metadata = ?, aliases = ?, tags = ? WHERE id = ?"
SELECT_PENDING_ENTRY = "SELECT digest, size, ref FROM pending_entries WHERE pending_id = ? AND path = ?"
# A file of the pending version under ``path/`` (``/`` + 1 is ``0``): then ``path`` is a folder.
SELECT_UNDER = "SELECT path FROM pending_entries WHERE pending_id = ? AND path > ? AND path < ? LIMIT 1"
INSERT_PENDING_ENTRY = "INSERT INTO pending_entries(pending_id, path, digest, size, ref, extra) VALUES (?, ?, ?, ?, ?, ?)"
INSERT_CONTRIBUTOR = "INSERT INTO pending_producers(pending_id, run_id) VALUES (?, ?) ON CONFLICT DO NOTHING"
SELECT_PENDING_ENTRIES = "SELECT path, digest, size, ref, extra FROM pending_entries WHERE pending_id = ? ORDER BY path"
SELECT_CONTRIBUTORS = "SELECT run_id FROM pending_producers WHERE pending_id = ? ORDER BY run_id"
SELECT_LATEST = """
SELECT v.id, v.digest FROM aliases AS a JOIN versions AS v ON v.id = a.version_id WHERE a.collection_id = ? AND a.alias = ?
"""
DROP_PENDING = (
    "DELETE FROM pending_entries WHERE pending_id = ?",
    "DELETE FROM pending_producers WHERE pending_id = ?",
    "DELETE FROM pending_versions WHERE id = ?",
)


def check_distributed_id(value: object) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= 256 or any(ord(c) < 32 for c in value):
        raise InvalidName(f"distributed_id must be 1-256 characters without control characters, not {value!r}")
    return value


def upsert(
    reg: Registry, draft: Artifact, *, project: str, distributed_id: str, aliases: Sequence[str] | None, run_id: int | None
) -> None:
    """Add a draft's entries to the pending version ``(project, draft.name, distributed_id)``."""
    _commit(reg, draft, project=project, distributed_id=distributed_id, aliases=aliases, run_id=run_id, finish=False)


def finish(
    reg: Registry, draft: Artifact, *, project: str, distributed_id: str, aliases: Sequence[str] | None, run_id: int | None
) -> ArtifactVersion:
    """Add a draft's entries, then commit the pending version as one version of its collection."""
    version_id = _commit(reg, draft, project=project, distributed_id=distributed_id, aliases=aliases, run_id=run_id, finish=True)
    assert version_id is not None
    version = ArtifactVersion(reg, version_id)
    draft._freeze(version)
    return version


def _commit(
    reg: Registry,
    draft: Artifact,
    *,
    project: str,
    distributed_id: str,
    aliases: Sequence[str] | None,
    run_id: int | None,
    finish: bool,
) -> int | None:
    project_name = check_project(project)
    if project_name.startswith(REGISTRY_PROJECT_PREFIX):
        raise InvalidName(f"project {project_name!r} names a registry: log into a project, then link the version there")
    dist = check_distributed_id(distributed_id)
    name, type_ = check_artifact_name(draft.name), draft.type
    alias_list = given_aliases(aliases)
    tag_list = check_tags(draft.tags)
    metadata = check_metadata(draft.metadata)
    description = _check_description(draft.description)
    ttl = ttl_columns(draft.ttl)
    content = draft._content()
    if isinstance(content, Edits):
        # A pending version collects rows, not chunks: the base's entries are among its parts.
        content = list(draft._all().values())
    with reg._store.lock(exclusive=False):
        stored = ingest(reg._store, content, known_digests(reg._store, content))
        stored.wait()  # a remote store's uploads: in the bucket before the commit that names them
        with reg._ctx.write() as tx:
            con, now = tx.con, tx.at
            project_id = ensure_project(con, project_name, now)
            existing = collection_row(con, project_name, name)
            if existing is not None and existing[1] != type_:
                raise TypeMismatch(f"collection {project_name}/{name} holds type {existing[1]!r}, not {type_!r}")
            pending = _pending(con, project_id, name, type_, dist, now, reg.user, project_name)
            _merge_fields(con, pending, description, metadata, alias_list, tag_list)
            stored.write(con)
            _add_entries(con, pending[0], stored.entries, f"{project_name}/{name} ({dist!r})")
            if run_id is not None:
                con.execute(INSERT_CONTRIBUTOR, (pending[0], run_id))
            if not finish:
                return None
            return _finish(tx, project_id, project_name, name, type_, pending[0], ttl)


def _pending(
    con: apsw.Connection, project_id: int, name: str, type_: str, dist: str, now: str, user: str, project: str
) -> tuple[Any, ...]:
    row = con.execute(SELECT_PENDING, (project_id, name, dist)).fetchone()
    if row is None:
        pending_id = con.execute(INSERT_PENDING, (project_id, name, type_, dist, now, user)).fetchone()[0]  # type: ignore[index]
        return (pending_id, type_, None, "{}", "[]", "[]")
    if row[1] != type_:
        raise TypeMismatch(f"the pending version {project}/{name} ({dist!r}) holds type {row[1]!r}, not {type_!r}")
    return tuple(row)


def _merge_fields(
    con: apsw.Connection, pending: tuple[Any, ...], description: str | None, metadata: dict[str, Any], aliases: list[str], tags: list[str]
) -> None:
    """Description: the last one given; metadata: merged key by key; aliases and tags: every one given."""
    pending_id, _, old_description, old_metadata, old_aliases, old_tags = pending
    merged = {**json.loads(old_metadata), **metadata}
    check_metadata(merged)
    alias_list = list(dict.fromkeys([*json.loads(old_aliases), *aliases]))
    tag_list = list(dict.fromkeys([*json.loads(old_tags), *tags]))
    con.execute(
        UPDATE_PENDING,
        (description if description is not None else old_description, dump_json(merged), json.dumps(alias_list),
         json.dumps(tag_list), pending_id),
    )


def _add_entries(con: apsw.Connection, pending_id: int, rows: list[EntryRow], what: str) -> None:
    """Insert entries, refusing a path held with other content, a file under a file, or a file over a folder."""
    fresh: list[EntryRow] = []
    for row in rows:
        path, digest, size, ref, _extra = row
        held = con.execute(SELECT_PENDING_ENTRY, (pending_id, path)).fetchone()
        if held is not None:
            if tuple(held) != (digest, size, ref):
                raise AlreadyExists(f"{path!r} of the pending version {what} was already added with other content")
            continue
        for parent in _parents(path):
            if con.execute(SELECT_PENDING_ENTRY, (pending_id, parent)).fetchone() is not None:
                raise AlreadyExists(f"{path!r} would sit inside {parent!r}, a file of the pending version {what}")
        if con.execute(SELECT_UNDER, (pending_id, path + "/", path + "0")).fetchone() is not None:
            raise AlreadyExists(f"{path!r} is a folder of other entries of the pending version {what}")
        fresh.append(row)
    con.executemany(INSERT_PENDING_ENTRY, ((pending_id, *row) for row in fresh))


def _parents(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


def _finish(
    tx: Transaction,
    project_id: int,
    project: str,
    name: str,
    type_: str,
    pending_id: int,
    ttl: tuple[str, float | None],
) -> int:
    con, actor = tx.con, tx.actor
    row = con.execute("SELECT description, metadata, aliases, tags FROM pending_versions WHERE id = ?", (pending_id,)).fetchone()
    assert row is not None
    description, metadata, aliases_json, tags_json = row
    entries: list[EntryRow] = [tuple(r) for r in con.execute(SELECT_PENDING_ENTRIES, (pending_id,))]
    contributors = [r[0] for r in con.execute(SELECT_CONTRIBUTORS, (pending_id,))]
    manifest = from_rows(entries)
    digest = manifest.digest
    collection_id = ensure_collection(con, project_id, name, type_, actor.at, f"collection {project}/{name}")
    latest = con.execute(SELECT_LATEST, (collection_id, LATEST)).fetchone()
    if latest is not None and latest[1] == digest:
        version_id = int(latest[0])
    else:
        values = (collection_id, digest, description, metadata, actor.at, actor.user, *ttl)
        version_id = _insert_version(tx, values, manifest)
    for alias in json.loads(aliases_json):
        set_alias(tx, collection_id, alias, version_id)
    _add_tags(tx, version_id, json.loads(tags_json))
    con.executemany(INSERT_OUTPUT, ((run_id, version_id) for run_id in contributors))
    apply_retention(tx, collection_id)
    for statement in DROP_PENDING:
        con.execute(statement, (pending_id,))
    return version_id
