"""Logging a draft: store its bytes, then create the version in one transaction.

Within that transaction: the project and collection (created on first use, type checked),
dedup against ``latest``, the next index, the entries, ``latest`` and the given aliases,
tags, the producer edge of a run, and the collection's retention policy.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import apsw

from ._aliases import set_alias
from ._audit import record
from ._based import Base, Edits
from ._chunkcache import TreePlan, plan_tree
from ._draft import Artifact, _check_description
from ._errors import InvalidName, NotFound
from ._events import VersionCreated, emit
from ._ingest import Ingested, cached_tree, ingest, known_digests, remember_tree, tree_fingerprint, tree_settled
from ._lifecycle import apply_retention, ttl_columns
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
from ._projects import INSERT_TAG, ensure_collection, ensure_project, next_index
from ._run_rows import INSERT_OUTPUT
from ._sources import DraftEntry
from ._walk import FileRows
from .storage._chunks import Manifest, from_base, from_rows, has_manifest
from .storage._chunks import write as write_manifest
from .storage._manifest import EntryRow, version_digest

if TYPE_CHECKING:
    from ._context import Context, Transaction

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
# What a draft logs: a walked tree, the edits of a draft from new_draft(), or its entries.
Content = FileRows | list[DraftEntry] | Edits


def log_draft(
    ctx: Context,
    draft: Artifact,
    *,
    project: str | None,
    aliases: Sequence[str] | None,
    tags: Sequence[str] | None,
    run_id: int | None = None,
    progress: ProgressCallback | None = None,
) -> int:
    """Store a draft's bytes, then create its version in one transaction (or dedup to ``latest``); its id.

    The caller makes the handle and freezes the draft with it.
    """
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
    if isinstance(content, Edits) and not _same_registry(content.base, ctx):
        content = list(draft._all().values())  # another registry: its blobs are copied, its manifest written afresh
    started = time.time_ns()
    with ctx.store.lock(exclusive=False):
        quick, tree = _quick_plan(ctx, content, started, project_name, name)
        plan = quick if quick is not None else _plan(ctx, content, started, progress)
        while True:
            plan.wait()  # a remote store's uploads: in the bucket before the commit that names them
            try:
                with ctx.write() as tx:
                    con, now = tx.con, tx.at
                    project_id = ensure_project(con, project_name, now)
                    collection_id = ensure_collection(con, project_id, name, type_, now, f"collection {project_name}/{name}")
                    latest = con.execute(SELECT_ALIAS, (collection_id, LATEST)).fetchone()
                    if latest is not None and latest[1] == plan.digest:
                        version_id = latest[0]
                        plan.write(con)
                    elif plan.manifest is None:
                        # The digest came from a cache and matched ``latest`` before the
                        # transaction, but ``latest`` has moved since: plan it whole after all.
                        # Rolled back, so a log that then fails has not created the project
                        # or collection.
                        raise _Replan
                    else:
                        plan.write(con)
                        row = (collection_id, plan.digest, description, metadata, now, tx.user, *ttl)
                        version_id = _insert_version(tx, row, plan.manifest)
                    if tree is not None:
                        remember_tree(con, tree, plan.digest)
                    for alias in alias_list:
                        set_alias(tx, collection_id, alias, version_id)
                    _add_tags(tx, version_id, tag_list)
                    if run_id is not None:
                        con.execute(INSERT_OUTPUT, (run_id, version_id))
                    apply_retention(tx, collection_id)
            except _Replan:
                plan = _plan(ctx, content, started, progress)
                continue
            break
    return int(version_id)


@dataclass
class _Plan:
    """What a log writes: the version digest, its manifest, and the rows beside it.

    ``manifest`` is None when the digest was found without storing anything (a cache says
    the content is ``latest``'s): then the log can only dedup.
    """

    digest: str
    manifest: Manifest | None = None
    stored: Ingested | None = None
    tree_plan: TreePlan | None = None

    def wait(self) -> None:
        """Return once the stored blobs' uploads (to a remote store) have finished."""
        if self.tree_plan is not None:
            self.tree_plan.stored.wait()
        elif self.stored is not None:
            self.stored.wait()

    def write(self, con: apsw.Connection) -> None:
        """The blobs, stat cache and chunk cache rows that go with the version (or with the dedup)."""
        if self.tree_plan is not None:
            self.tree_plan.write(con)
        elif self.stored is not None:
            self.stored.write(con)


def _quick_plan(ctx: Context, content: Content, started: int, project: str, name: str) -> tuple[_Plan | None, str | None]:
    """(a plan that stores nothing, when a cache gives the digest and it is ``latest``'s, else None;
    the fingerprint of a walked tree to remember with its digest, if it should be)."""
    digest: str | None = None
    tree: str | None = None
    if isinstance(content, FileRows):
        tree = tree_fingerprint(content)
        digest = cached_tree(ctx.store, tree)
        if digest is not None or not tree_settled(content, started):
            # Known already; or a file changed so recently that it might change again unseen
            # (_localfiles), and such a tree is never remembered.
            tree = None
    elif isinstance(content, list):
        known = known_digests(ctx.store, content)
        if None not in known:
            digest = version_digest((e.path, d) for e, d in zip(content, known, strict=True) if d is not None)
    if digest is not None and digest == _latest_digest(ctx, project, name):
        return _Plan(digest), tree
    return None, tree


def _plan(ctx: Context, content: Content, started: int, progress: ProgressCallback | None) -> _Plan:
    """Store what the content needs and build its manifest: a walked tree by its chunks
    (``_chunkcache``), a draft from ``new_draft()`` as edits of its base, else afresh."""
    store = ctx.store
    if isinstance(content, FileRows):
        tree_plan = plan_tree(store, content, started, progress)
        return _Plan(tree_plan.manifest.digest, tree_plan.manifest, tree_plan=tree_plan)
    if isinstance(content, Edits):
        stored = ingest(store, content.entries, known_digests(store, content.entries), progress)
        changes: dict[str, EntryRow | None] = dict.fromkeys(content.removed)
        changes.update((row[0], row) for row in stored.entries)
        with ctx.read() as con:
            if not has_manifest(con, content.base.version_id) and content.base.file_count:
                raise NotFound(f"{content.base.name}, which this draft was made from, was deleted and gc has collected its manifest")
            manifest = from_base(con, content.base.version_id, sorted(changes.items()), content.removed_dirs)
        return _Plan(manifest.digest, manifest, stored)
    stored = ingest(store, content, known_digests(store, content), progress)
    manifest = from_rows(stored.entries)
    return _Plan(manifest.digest, manifest, stored)


def _same_registry(base: Base, ctx: Context) -> bool:
    """Whether a draft's base version lives in this registry's database (its chunks can be shared)."""
    return base.db.same(ctx.db)


def _latest_digest(ctx: Context, project: str, name: str) -> str | None:
    """The digest of the collection's ``latest`` version, if there is one (one read, no write lock)."""
    con = ctx.db.connection()
    with ctx.db.guard():
        row = con.execute(SELECT_LATEST_DIGEST, (project, name, LATEST)).fetchone()
    return None if row is None else str(row[0])


class _Replan(Exception):
    """Raised inside the version transaction to roll it back: the content must be stored and planned whole."""


def _add_tags(tx: Transaction, version_id: int, tags: Sequence[str]) -> None:
    con = tx.con
    held = set(_tags_of(con, version_id))
    added = [t for t in tags if t not in held]
    if added:
        con.executemany(INSERT_TAG, ((version_id, tag) for tag in added))
        record(tx, "tags_changed", version_id=version_id, before=sorted(held), after=sorted(held | set(added)))


def _tags_of(con: apsw.Connection, version_id: int) -> list[str]:
    return [r[0] for r in con.execute("SELECT tag FROM version_tags WHERE version_id = ? ORDER BY tag", (version_id,))]


def _insert_version(tx: Transaction, row: tuple[Any, ...], manifest: Manifest) -> int:
    """A new version row at the collection's next index, with its manifest; it becomes ``latest``.

    ``row`` is (collection_id, digest, description, metadata, created_at, created_by, ttl_policy, ttl_seconds).
    """
    con, collection_id = tx.con, row[0]
    index = next_index(con, collection_id)
    version_id = int(con.execute(INSERT_VERSION, (collection_id, index, row[1], manifest.size, manifest.count, *row[2:])).fetchone()[0])  # type: ignore[index]
    write_manifest(con, version_id, manifest)
    record(tx, "version_logged", collection_id=collection_id, version_id=version_id, digest=row[1], index=index)
    emit(tx, VersionCreated(collection_id, version_id))
    set_alias(tx, collection_id, LATEST, version_id)
    return version_id

