"""Logging a draft: store its bytes, then create the version in one transaction.

Within that transaction: the project and collection (created on first use, type checked),
dedup against ``latest``, the next index, the entries, ``latest`` and the given aliases,
tags, the producer edge of a run, and the collection's retention policy.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import apsw

from ._aliases import set_alias
from ._audit import Actor, record
from ._clock import format_time
from ._draft import Artifact, DraftEntry, FileRows, _check_description
from ._errors import InvalidName, TypeMismatch
from ._events import VersionCreated, emit
from ._ingest import Ingested, cached_tree, ingest, known_digests, remember_tree, tree_fingerprint, tree_settled
from ._lifecycle import apply_retention, ttl_columns
from ._manifest import sorted_digest, version_digest
from ._names import (
    DEFAULT_PROJECT,
    LATEST,
    REGISTRY_PROJECT_PREFIX,
    check_artifact_name,
    check_metadata,
    check_project,
    check_tags,
    dump_json,
    given_aliases,
)
from ._progress import ProgressCallback
from ._projects import INSERT_TAG, SELECT_COLLECTION, ensure_project, next_index
from ._runs import INSERT_OUTPUT
from ._versions import ArtifactVersion

if TYPE_CHECKING:
    from ._registry import Registry

INSERT_COLLECTION = "INSERT INTO collections(project_id, name, type, created_at) VALUES (?, ?, ?, ?) RETURNING id"
SELECT_ALIAS = """
SELECT v.id, v.digest FROM aliases AS a JOIN versions AS v ON v.id = a.version_id
WHERE a.collection_id = ? AND a.alias = ?
"""
SELECT_LATEST_DIGEST = """
SELECT v.digest FROM projects AS p JOIN collections AS c ON c.project_id = p.id
JOIN aliases AS a ON a.collection_id = c.id JOIN versions AS v ON v.id = a.version_id
WHERE p.name = ? AND c.name = ? AND a.alias = ?
"""
INSERT_VERSION = """
INSERT INTO versions(collection_id, idx, digest, size, file_count, description, metadata, created_at, created_by,
                     ttl_policy, ttl_seconds)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id
"""
INSERT_ENTRY = "INSERT INTO entries(version_id, path, digest, size, ref, extra) VALUES (?, ?, ?, ?, ?, ?)"


def log_draft(
    reg: Registry,
    draft: Artifact,
    *,
    project: str | None,
    aliases: Sequence[str] | None,
    tags: Sequence[str] | None,
    run_id: int | None = None,
    progress: ProgressCallback | None = None,
) -> ArtifactVersion:
    """Store a draft's bytes, then create its version in one transaction (or dedup to ``latest``)."""
    project_name = check_project(project or DEFAULT_PROJECT)
    if project_name.startswith(REGISTRY_PROJECT_PREFIX):
        raise InvalidName(f"project {project_name!r} names a registry: log into a project, then link the version there")
    alias_list = given_aliases(aliases)
    tag_list = check_tags([*draft.tags, *check_tags(tags)])
    metadata = dump_json(check_metadata(draft.metadata))
    description = _check_description(draft.description)
    name, type_ = check_artifact_name(draft.name), draft.type
    ttl = ttl_columns(draft.ttl)
    content = draft._content()
    started = time.time_ns()
    with reg._store.lock(exclusive=False):
        tree: str | None = None  # the draft's fingerprint when it is one add_dir tree
        digest: str | None = None
        if isinstance(content, FileRows):
            tree = tree_fingerprint(content)
            digest = cached_tree(reg._store, tree)
            if digest is not None or not tree_settled(content, started):
                # Known already; or a file changed so recently that it might change again
                # unseen (_localfiles), and such a tree is never remembered.
                tree = None
        known: list[str | None] | None = None
        stored: Ingested | None = None
        if digest is None:
            known = known_digests(reg._store, content)
            if None in known:
                stored = ingest(reg._store, content, known, progress)
            else:
                digest = version_digest(_known_pairs(content, known))
        if stored is None and _latest_digest(reg, project_name, name) != digest:
            # New content: store it before taking the write lock, rather than find that out
            # inside a write transaction, roll it back and take the lock a second time.
            # (The transaction checks ``latest`` again, so a race only costs a retry.)
            if known is None:
                known = known_digests(reg._store, content)
            stored = ingest(reg._store, content, known, progress)
        while True:
            if stored is not None:
                digest = sorted_digest(stored.entries)
            elif digest is None:
                assert known is not None
                digest = version_digest(_known_pairs(content, known))
            if stored is not None:
                stored.wait()  # a remote store's uploads: in the bucket before the commit that names them
            now = format_time(reg._now())
            actor = Actor(reg.user, now)
            try:
                with reg._db.write() as con:
                    project_id = ensure_project(con, project_name, now)
                    collection_id = _collection_for(con, project_id, project_name, name, type_, now)
                    latest = con.execute(SELECT_ALIAS, (collection_id, LATEST)).fetchone()
                    if latest is not None and latest[1] == digest:
                        version_id = latest[0]
                        if stored is not None:
                            stored.write(con)
                    elif stored is None:
                        # Every digest is known (stat or tree cache) but it is new content: presence
                        # of each blob must be checked (and missing ones stored) after all. Rolled
                        # back, so a log that then fails has not created the project or collection.
                        raise _Ingest
                    else:
                        stored.write(con)
                        row = (collection_id, digest, description, metadata, now, reg.user, *ttl)
                        version_id = _insert_version(con, actor, row, stored)
                    if version_id is not None:
                        if tree is not None:
                            remember_tree(con, tree, digest)
                        for alias in alias_list:
                            set_alias(con, actor, collection_id, alias, version_id)
                        _add_tags(con, actor, version_id, tag_list)
                        if run_id is not None:
                            con.execute(INSERT_OUTPUT, (run_id, version_id))
                        apply_retention(con, actor, collection_id)
            except _Ingest:
                version_id = None
            if version_id is not None:
                break
            if known is None:
                known = known_digests(reg._store, content)
            stored = ingest(reg._store, content, known, progress)
    version = ArtifactVersion(reg, version_id)
    draft._freeze(version)
    return version


def _latest_digest(reg: Registry, project: str, name: str) -> str | None:
    """The digest of the collection's ``latest`` version, if there is one (one read, no write lock)."""
    con = reg._db.connection()
    with reg._db.guard():
        row = con.execute(SELECT_LATEST_DIGEST, (project, name, LATEST)).fetchone()
    return None if row is None else str(row[0])


class _Ingest(Exception):
    """Raised inside the version transaction to roll it back: the draft's bytes must be stored first."""


def _known_pairs(content: FileRows | list[DraftEntry], known: list[str | None]) -> list[tuple[str, str]]:
    """(path, digest) of every entry, when every digest is known."""
    paths = [row[0] for row in content.rows] if isinstance(content, FileRows) else [e.path for e in content]
    return [(path, digest) for path, digest in zip(paths, known, strict=True) if digest is not None]


def _add_tags(con: apsw.Connection, actor: Actor, version_id: int, tags: Sequence[str]) -> None:
    held = set(_tags_of(con, version_id))
    added = [t for t in tags if t not in held]
    if added:
        con.executemany(INSERT_TAG, ((version_id, tag) for tag in added))
        record(con, actor, "tags_changed", version_id=version_id, before=sorted(held), after=sorted(held | set(added)))


def _tags_of(con: apsw.Connection, version_id: int) -> list[str]:
    return [r[0] for r in con.execute("SELECT tag FROM version_tags WHERE version_id = ? ORDER BY tag", (version_id,))]


def _insert_version(con: apsw.Connection, actor: Actor, row: tuple[Any, ...], stored: Ingested) -> int:
    """A new version row at the collection's next index, with its entries; it becomes ``latest``.

    ``row`` is (collection_id, digest, description, metadata, created_at, created_by, ttl_policy, ttl_seconds).
    """
    collection_id = row[0]
    index = next_index(con, collection_id)
    size = sum(row[2] for row in stored.entries)
    version_id = int(con.execute(INSERT_VERSION, (collection_id, index, row[1], size, len(stored.entries), *row[2:])).fetchone()[0])  # type: ignore[index]
    con.executemany(INSERT_ENTRY, ((version_id, *row) for row in stored.entries))
    record(con, actor, "version_logged", collection_id=collection_id, version_id=version_id, digest=row[1], index=index)
    emit(con, actor, VersionCreated(collection_id, version_id))
    set_alias(con, actor, collection_id, LATEST, version_id)
    return version_id


def _collection_for(con: apsw.Connection, project_id: int, project: str, name: str, type_: str, now: str) -> int:
    row = con.execute(SELECT_COLLECTION, (project, name)).fetchone()
    if row is None:
        return int(con.execute(INSERT_COLLECTION, (project_id, name, type_, now)).fetchone()[0])  # type: ignore[index]
    if row[1] != type_:
        raise TypeMismatch(f"collection {project}/{name} holds type {row[1]!r}, not {type_!r}")
    if row[2] is not None:
        # Logging into a deleted collection revives it; indices continue, never reused.
        con.execute("UPDATE collections SET deleted_at = NULL WHERE id = ?", (row[0],))
    return int(row[0])
