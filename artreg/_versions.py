"""Reading and editing versions and collections; resolving references.

A version of a registry collection is a *link*: a row whose ``source_id`` names the
version it links. Its index, aliases and ``latest`` are its own; its content,
description, metadata and tags are the source's, read and written through the source.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

import apsw

from ._access import is_protected, require
from ._aliases import drop_alias, set_alias
from ._audit import AliasChange, record
from ._based import Base, Based
from ._clock import parse_time
from ._diff import VersionDiff, diff_versions
from ._download import download, verify
from ._draft import Artifact, _check_description
from ._errors import FileNotFound, InvalidName, NotFound, PermissionDenied
from ._handle import Handle
from ._lifecycle import INHERIT, PROTECTED_LINKS, TtlValue, delete_version, soft_delete, ttl_columns, ttl_value
from ._lineage import LineageGraph, lineage
from ._names import (
    DEFAULT_PROJECT,
    LATEST,
    check_aliases,
    check_artifact_name,
    check_metadata,
    check_page,
    check_project,
    check_tags,
    dump_json,
    is_reserved_alias,
    normalize_path,
    parse_ref,
    version_index,
)
from ._paths import local_files
from ._progress import ProgressCallback
from ._projects import INSERT_TAG, NOT_A_REGISTRY, canonical_project, collection_row
from ._rows import select_list
from ._runs import Run, runs_of
from ._suggest import no_artifact, no_collection, no_registry
from .references import open_reference
from .storage import _chunks as chunks
from .storage._manifest import ManifestEntry, folder_range
from .storage._pg_sql import override

if TYPE_CHECKING:
    from ._registry import Registry

DELETE_TAG = "DELETE FROM version_tags WHERE version_id = ? AND tag = ?"


class VersionRow(NamedTuple):
    """Everything a version object shows (``VERSION_COLUMNS``); JSON columns still as text."""

    id: int
    idx: int
    digest: str
    size: int
    file_count: int
    description: str | None
    metadata: str
    created_at: str
    created_by: str
    state: str
    collection_id: int
    collection_name: str
    type: str
    project: str
    ttl_policy: str
    ttl_seconds: int | None
    default_ttl_seconds: int | None
    source_id: int | None
    registry_id: int | None
    aliases: str
    tags: str


# Everything a version object shows, in one statement (resolve is a hot path). A link shows
# its source's description, metadata and tags (a link's own columns stay empty).
VERSION_COLUMNS = "SELECT " + select_list(VersionRow, {
    "id": "v.id", "idx": "v.idx", "digest": "v.digest", "size": "v.size", "file_count": "v.file_count",
    "description": "iif(s.id IS NULL, v.description, s.description)",
    "metadata": "iif(s.id IS NULL, v.metadata, s.metadata)",
    "created_at": "v.created_at", "created_by": "v.created_by", "state": "v.state",
    "collection_id": "c.id", "collection_name": "c.name", "type": "c.type", "project": "p.name",
    "ttl_policy": "v.ttl_policy", "ttl_seconds": "v.ttl_seconds", "default_ttl_seconds": "p.default_ttl_seconds",
    "source_id": "v.source_id", "registry_id": "r.id",
    "aliases": "(SELECT json_group_array(alias) FROM (SELECT alias FROM aliases WHERE version_id = v.id ORDER BY alias))",
    "tags": "(SELECT json_group_array(tag) FROM "
            "(SELECT tag FROM version_tags WHERE version_id = coalesce(v.source_id, v.id) ORDER BY tag))",
}) + """
FROM versions AS v JOIN collections AS c ON c.id = v.collection_id JOIN projects AS p ON p.id = c.project_id
LEFT JOIN versions AS s ON s.id = v.source_id LEFT JOIN registries AS r ON r.project_id = p.id
"""
SELECT_VERSION = VERSION_COLUMNS + "WHERE v.id = ?"


class CollectionRow(NamedTuple):
    """What a collection object shows (``SELECT_COLLECTION_ROW``), besides its tags and aliases."""

    name: str
    type: str
    description: str | None
    created_at: str
    project: str
    registry_id: int | None
    registry: str | None


SELECT_COLLECTION_ROW = "SELECT " + select_list(CollectionRow, {
    "name": "c.name", "type": "c.type", "description": "c.description", "created_at": "c.created_at",
    "project": "p.name", "registry_id": "r.id", "registry": "r.name",
}) + """
FROM collections AS c JOIN projects AS p ON p.id = c.project_id LEFT JOIN registries AS r ON r.project_id = p.id
WHERE c.id = ?
"""
RESOLVE = VERSION_COLUMNS + """WHERE v.id = (
    SELECT iif(:index IS NULL,
               (SELECT version_id FROM aliases WHERE collection_id = c2.id AND alias = :selector),
               (SELECT id FROM versions WHERE collection_id = c2.id AND idx = :index AND state = 'committed'))
    FROM collections AS c2 JOIN projects AS p2 ON p2.id = c2.project_id
    WHERE p2.name = :project AND c2.name = :name AND c2.deleted_at IS NULL
)"""
# PostgreSQL cannot type a bare ":index IS NULL" when the index is None: say what it is.
override(RESOLVE, RESOLVE.replace("iif(:index IS NULL", "iif(CAST(:index AS bigint) IS NULL"))
SELECT_LIVE_PAGE = "SELECT id FROM versions WHERE collection_id = ? AND state = 'committed' ORDER BY idx DESC LIMIT ? OFFSET ?"
COUNT_LIVE = "SELECT count(*) FROM versions WHERE collection_id = ? AND state = 'committed'"
LIVE_LINKS = "SELECT count(*) FROM versions WHERE source_id = ? AND state = 'committed'"


# -- reading ----------------------------------------------------------------------------


def resolve(reg: Registry, ref: str, *, project: str | None = None) -> ArtifactVersion:
    """The live version a reference names (``[entity/][project/]name[:vN|alias]``).

    Outside registries the row is remembered until the database next changes (``memo()``),
    so resolving the same reference again costs one ``PRAGMA data_version`` and no query;
    each call still builds a version object of its own.
    """
    memo = reg._db.memo()
    key = ("resolve", ref, project)
    row = None if memo is None else memo.get(key)
    if row is not None:
        return ArtifactVersion(reg, row.id, con=reg._db.connection(), row=row)
    parsed = parse_ref(ref)
    project_name = parsed.project or check_project(project or DEFAULT_PROJECT)
    selector = parsed.selector
    args = {"project": project_name, "name": parsed.name, "selector": selector, "index": version_index(selector)}
    if parsed.registry is None:
        # One statement is its own consistent snapshot: no BEGIN/COMMIT on this hot path.
        con = reg._db.connection()
        with reg._db.guard():
            found = con.execute(RESOLVE, args).fetchone()
        if found is not None:
            row = VersionRow._make(found)
            version = ArtifactVersion(reg, row.id, con=con, row=row)
            if memo is not None and row.registry_id is None:  # a registry's rows are read with its access check
                memo[key] = row
            return version
    with reg._db.read() as con:
        if parsed.registry is not None:
            found_registry = con.execute(
                "SELECT r.id, p.name FROM registries AS r JOIN projects AS p ON p.id = r.project_id WHERE r.name = ? COLLATE NOCASE",
                (parsed.registry,),
            ).fetchone()
            if found_registry is None:
                raise no_registry(con, reg.user, parsed.registry)
            project_name = args["project"] = found_registry[1]
            require(con, found_registry[0], reg.user, "restricted_viewer", f"reading {project_name}/{parsed.name}")
        found = con.execute(RESOLVE, args).fetchone()
        if found is None:
            raise no_artifact(con, reg.user, ref, parsed, project_name)
        return ArtifactVersion(reg, found[0], con=con, row=VersionRow._make(found))


class ArtifactVersion(Handle):
    """An immutable logged version (or a link to one in a registry).

    ``description``, ``metadata``, ``tags``, ``aliases`` and ``ttl`` are editable, then ``save()``.
    """

    def __init__(
        self, reg: Registry, version_id: int, *, con: apsw.Connection | None = None, row: VersionRow | None = None
    ) -> None:
        self._reg = reg
        self.id = version_id
        if con is None:
            with reg._db.read() as fresh:
                self._load(fresh)
        else:
            self._load(con, row)

    def _load(self, con: apsw.Connection, row: VersionRow | None = None) -> None:
        if row is None:
            found = con.execute(SELECT_VERSION, (self.id,)).fetchone()
            if found is None:
                raise NotFound(f"no version with id {self.id}")
            row = VersionRow._make(found)
        self.index: int = row.idx
        self.digest: str = row.digest
        self.size: int = row.size
        self.file_count: int = row.file_count
        self.created_by: str = row.created_by
        self.state: str = row.state
        self._collection_id: int = row.collection_id
        self.collection_name: str = row.collection_name
        self.type: str = row.type
        self.project: str = row.project
        self._source_id: int | None = row.source_id
        self._registry_id: int | None = row.registry_id
        if self._registry_id is not None:
            require(con, self._registry_id, self._reg.user, "restricted_viewer", f"reading {self.project}/{self.collection_name}")
        self._content_id: int = self._source_id or self.id
        default_ttl = row.default_ttl_seconds
        self._default_ttl = None if default_ttl is None else timedelta(seconds=default_ttl)
        self.created_at = parse_time(row.created_at)
        description, metadata = row.description, row.metadata
        aliases: list[str] = json.loads(row.aliases)
        tags: list[str] = json.loads(row.tags)
        ttl = ttl_value(row.ttl_policy, row.ttl_seconds)
        self._saved: dict[str, Any] = {
            "description": description, "metadata": json.loads(metadata), "aliases": aliases, "tags": tags, "ttl": ttl,
        }
        self._ttl: TtlValue = ttl
        self._description: str | None = description
        self._metadata: dict[str, Any] = json.loads(metadata)
        self._aliases: list[str] = list(aliases)
        self._tags: list[str] = list(tags)

    _kind = "version"

    def _row_id(self) -> int:
        return self.id

    def _label(self) -> str:
        return f"{self.project}/{self.name} type={self.type!r}"

    # -- identity ----------------------------------------------------------------------

    @property
    def version(self) -> str:
        """``v<index>``."""
        return f"v{self.index}"

    @property
    def name(self) -> str:
        """``<collection>:v<index>``."""
        return f"{self.collection_name}:{self.version}"

    @property
    def qualified_name(self) -> str:
        """``<project>/<collection>:v<index>``, a reference that always names this version."""
        return f"{self.project}/{self.name}"

    @property
    def collection(self) -> Collection:
        return Collection(self._reg, self._collection_id)

    @property
    def source_version(self) -> ArtifactVersion | None:
        """For a link in a registry, the version it links; None for a logged version."""
        return None if self._source_id is None else ArtifactVersion(self._reg, self._source_id)

    @property
    def is_link(self) -> bool:
        return self._source_id is not None

    # -- editable fields ---------------------------------------------------------------

    @property
    def description(self) -> str | None:
        return self._description

    @description.setter
    def description(self, value: str | None) -> None:
        self._description = _check_description(value)

    @property
    def metadata(self) -> dict[str, Any]:
        """The metadata dict; change it in place or assign a new one, then ``save()``."""
        return self._metadata

    @metadata.setter
    def metadata(self, value: dict[str, Any]) -> None:
        self._metadata = check_metadata(value)

    @property
    def aliases(self) -> list[str]:
        """Aliases held, sorted, including ``latest``; edit the list, then ``save()``."""
        return self._aliases

    @aliases.setter
    def aliases(self, value: Sequence[str]) -> None:
        self._aliases = check_aliases(value, allow_reserved=True)

    @property
    def tags(self) -> list[str]:
        return self._tags

    @tags.setter
    def tags(self, value: Sequence[str]) -> None:
        self._tags = check_tags(value)

    @property
    def ttl(self) -> TtlValue:
        """The version's TTL: a timedelta, None (never expires) or ``artreg.INHERIT``; edit, then ``save()``."""
        return self._ttl

    @ttl.setter
    def ttl(self, value: TtlValue) -> None:
        ttl_columns(value)
        self._ttl = value

    @property
    def expires_at(self) -> datetime | None:
        """When ``expire()`` will delete this version (the TTL, or the project default, after ``created_at``)."""
        ttl = self._default_ttl if self._saved["ttl"] is INHERIT else self._saved["ttl"]
        return None if ttl is None else self.created_at + ttl

    def save(self) -> None:
        """Write edits of description, metadata, tags, aliases and ttl in one transaction.

        Only what changed since the version was loaded is written, so concurrent edits of
        other fields are kept. Adding an alias held elsewhere in the collection moves it.
        ``latest`` and ``vN`` cannot be added; leaving ``latest`` out changes nothing. On a
        link, description, metadata and tags are the source's and change there.
        """
        description = _check_description(self._description)
        metadata = check_metadata(self._metadata)
        tags = check_tags(self._tags)
        ttl_policy, ttl_seconds = ttl_columns(self._ttl)
        wanted = check_aliases(self._aliases, allow_reserved=True)
        saved = self._saved
        for alias in wanted:
            if is_reserved_alias(alias) and alias not in saved["aliases"]:
                raise InvalidName(f"alias {alias!r} is reserved: artreg assigns 'latest' and 'v<N>' itself")
        add_aliases = [a for a in wanted if a not in saved["aliases"]]
        drop_aliases = [a for a in saved["aliases"] if a not in wanted and a != LATEST]
        with self._reg._ctx.write() as tx:
            con, who = tx.con, tx.actor
            self._check_live(con)
            if self._registry_id is not None:
                role = require(con, self._registry_id, who.user, "member", f"editing {self.qualified_name}")
                self._check_protected(con, role, add_aliases + drop_aliases, "add or remove")
            if self._ttl != saved["ttl"]:
                linked = self._registry_id is not None or con.execute(LIVE_LINKS, (self.id,)).fetchone() != (0,)
                if ttl_policy != "never" and linked:
                    raise PermissionDenied(f"{self.qualified_name} is linked into a registry and cannot have a TTL")
                con.execute("UPDATE versions SET ttl_policy = ?, ttl_seconds = ? WHERE id = ?", (ttl_policy, ttl_seconds, self.id))
                record(tx, "ttl_changed", version_id=self.id, before=repr(saved["ttl"]), after=repr(self._ttl))
            edited = []
            if description != saved["description"]:
                con.execute("UPDATE versions SET description = ? WHERE id = ?", (description, self._content_id))
                edited.append("description")
            if metadata != saved["metadata"]:
                con.execute("UPDATE versions SET metadata = ? WHERE id = ?", (dump_json(metadata), self._content_id))
                edited.append("metadata")
            if edited:
                record(tx, "version_edited", version_id=self._content_id, fields=edited)
            if tags != saved["tags"]:
                con.executemany(INSERT_TAG, ((self._content_id, t) for t in tags if t not in saved["tags"]))
                con.executemany(DELETE_TAG, ((self._content_id, t) for t in saved["tags"] if t not in tags))
                record(tx, "tags_changed", version_id=self._content_id, before=saved["tags"], after=sorted(tags))
            for alias in add_aliases:
                set_alias(tx, self._collection_id, alias, self.id)
            for alias in drop_aliases:
                drop_alias(tx, self._collection_id, alias, self.id)
            self._load(con)

    def _check_live(self, con: apsw.Connection) -> None:
        state = con.execute("SELECT state FROM versions WHERE id = ?", (self.id,)).fetchone()
        if state is None or state[0] != "committed":
            raise NotFound(f"{self.qualified_name} has been deleted")

    def _check_protected(self, con: apsw.Connection, role: str, aliases: Sequence[str], action: str) -> None:
        protected = [a for a in aliases if is_protected(con, self._registry_id, a)]
        if protected and role != "admin":
            raise PermissionDenied(
                f"only registry admins may {action} protected aliases ({', '.join(protected)}) of {self.qualified_name}"
            )

    def refresh(self) -> None:
        """Reload from the database, dropping unsaved edits."""
        with self._reg._db.read() as con:
            self._load(con)

    def delete(self, *, delete_aliases: bool = False) -> None:
        """Soft-delete this version: its index stays reserved and it leaves every lookup.

        Refused with Conflict while it holds aliases (``latest`` included) unless
        ``delete_aliases=True``, and with PermissionDenied while a registry links it under
        a protected alias.
        ``latest`` moves back to the newest live version; links to it go with it. On a
        link, only the link is removed (``unlink``).
        """
        if self._source_id is not None:
            self.unlink()
            return
        with self._reg._ctx.write() as tx:
            con = tx.con
            self._check_live(con)
            delete_version(tx, self._collection_id, self.id, self.qualified_name, delete_aliases=delete_aliases)
            self._load(con)

    def link(self, target_path: str, aliases: Sequence[str] | None = None) -> ArtifactVersion:
        """Link into a registry collection, ``[org/]wandb-registry-<registry>/<collection>``; returns the link.

        The registry's name matches in any case. ``latest`` among ``aliases`` is accepted
        (a new link gets it anyway).
        """
        from ._catalog import link_version

        return link_version(self, target_path, aliases)

    def unlink(self) -> None:
        """Remove this link from its registry; the source version stays."""
        if self._source_id is None:
            raise InvalidName(f"{self.qualified_name} is not a link; use delete() to delete a version")
        with self._reg._ctx.write() as tx:
            con, who = tx.con, tx.actor
            self._check_live(con)
            assert self._registry_id is not None
            role = require(con, self._registry_id, who.user, "member", f"unlinking {self.qualified_name}")
            held = [r[0] for r in con.execute("SELECT alias FROM aliases WHERE version_id = ?", (self.id,))]
            self._check_protected(con, role, held, "unlink a version holding")
            soft_delete(tx, self._collection_id, [self.id], "version_unlinked")
            self._load(con)

    def _require_download(self) -> None:
        if self._registry_id is not None:
            with self._reg._db.read() as con:
                require(con, self._registry_id, self._reg.user, "viewer", f"downloading {self.qualified_name}")

    # -- lineage -----------------------------------------------------------------------

    def logged_by(self) -> list[Run]:
        """Runs that logged this version (several when identical content was logged again), oldest first."""
        return runs_of(self._reg, self._content_id, producers=True)

    def used_by(self) -> list[Run]:
        """Runs that used this version, oldest first."""
        return runs_of(self._reg, self._content_id, producers=False)

    def lineage(self, direction: str = "both", depth: int | None = None) -> LineageGraph:
        """The runs and versions upstream and/or downstream of this one, ``depth`` hops at most."""
        return lineage(self._reg._ctx, self._content_id, direction=direction, depth=depth)

    # -- contents ----------------------------------------------------------------------

    def diff(self, other: ArtifactVersion, *, unchanged: bool = False) -> VersionDiff:
        """What changes going from this version to ``other``: files, metadata keys, aliases, tags.

        Files are compared by merging the two path-ordered manifests inside SQLite, so only
        differing entries are loaded (1,000,000 entries take well under a second). Nested
        metadata is compared key by key where both sides hold an object (``config.lr``).
        ``unchanged=True`` also lists the entries both hold alike. Compares what is saved.
        """
        if not isinstance(other, ArtifactVersion) or other._reg._db is not self._reg._db:
            raise InvalidName(f"diff needs another version of the same registry, not {other!r}")
        # One read transaction: both rows and both merges see the same snapshot, and what is
        # compared is what is saved (not unsaved edits of either object).
        with self._reg._db.read() as con:
            was, now = type(self)(self._reg, self.id, con=con), type(other)(other._reg, other.id, con=con)
            return diff_versions(con, was, now, was._content_id, now._content_id, unchanged=unchanged)

    def files(self, prefix: str | None = None, *, offset: int = 0, limit: int | None = None) -> Iterator[ManifestEntry]:
        """The manifest entries in path order, streamed from the database.

        ``prefix`` keeps the entries under one folder (``"images"`` or ``"images/"``);
        ``offset`` and ``limit`` page through them (``count_files(prefix)`` says how many).
        Read a chunk of the manifest at a time (at most a few thousand entries), each in a
        short read transaction of its own: memory stays constant, and a write made inside
        the caller's loop waits for the lock like any other. Bad arguments raise InvalidName
        here, not when the iterator is first used.
        """
        low, high = folder_range(prefix)
        offset, limit = check_page(offset, limit)
        return self._stream(low, high, offset, None if limit < 0 else limit)

    def _stream(self, low: str, high: str | None, offset: int, limit: int | None) -> Iterator[ManifestEntry]:
        empty = True
        for path, digest, size, ref, extra in chunks.stream(self._reg._db, self._content_id, low, high, offset=offset, limit=limit):
            empty = False
            yield ManifestEntry(path, digest, size, ref, json.loads(extra))
        if empty and self.file_count:
            self._check_manifest()

    def _check_manifest(self) -> None:
        """Raise NotFound when this version's manifest is gone: it was deleted and ``gc`` collected it."""
        with self._reg._db.read() as con:
            if not chunks.has_manifest(con, self._content_id):
                raise NotFound(f"{self.qualified_name} was deleted and gc has collected its manifest")

    def count_files(self, prefix: str | None = None) -> int:
        """How many entries the manifest holds under the folder ``prefix`` (all of them: ``file_count``)."""
        low, high = folder_range(prefix)
        if high is None:
            return int(self.file_count)
        with self._reg._db.read() as con:
            return chunks.count(con, self._content_id, low, high)

    def get_entry(self, path: str) -> ManifestEntry:
        """The entry at a logical path; raises FileNotFound (a NotFound and a FileNotFoundError)."""
        logical = normalize_path(path)
        with self._reg._db.read() as con:
            row = chunks.entry(con, self._content_id, logical)
        if row is None:
            raise FileNotFound(f"{self.qualified_name} has no entry {logical!r}")
        return ManifestEntry.of_row(row)

    def open(self, path: str) -> Any:
        """A binary reader of one entry, streamed from the store (a reference: from its source); checks the digest at EOF."""
        self._require_download()
        entry = self.get_entry(path)
        if entry.ref is not None:
            return io.BufferedReader(open_reference(entry))
        return io.BufferedReader(self._reg._store.open(entry.digest, entry.size))

    def path(self, name: str) -> str:
        """A local, read-only path holding one entry's bytes, without copying them.

        A stored blob file is handed out as it is (its size checked, its bytes not reread).
        An inline blob, or a reference fetched from its source, is written once into the
        registry's cache and checked against its digest before it appears there; a
        ``checksum=False`` reference records no content and is fetched again on each call.
        The file belongs to the registry: never write to it (it is read-only), and expect a
        cached copy to go when ``gc`` finds no live version naming it. Raises FileNotFound
        for a missing entry, IntegrityError when stored bytes are missing or damaged.
        """
        self._require_download()
        entry = self.get_entry(name)
        ctx = self._reg._ctx
        return next(local_files(ctx.store, ctx.cache, [entry]))[1]

    def download(
        self,
        root: str | None = None,
        *,
        link: str = "copy",
        path_prefix: str | None = None,
        allow_missing_references: bool = False,
        progress: ProgressCallback | None = None,
    ) -> str:
        """Materialise the files under ``root`` (default ``./artifacts/<name>``); returns the root.

        Reference entries are fetched from their source and checked against their digest
        (IntegrityError when it changed). A source that is gone raises NotFound, or with
        ``allow_missing_references=True`` is skipped with a warning.
        """
        self._require_download()
        return download(
            self._reg._store, self, root, link=link, path_prefix=path_prefix, prune=False, allow_missing=allow_missing_references,
            progress=progress,
        )

    def checkout(self, root: str | None = None, *, link: str = "copy", allow_missing_references: bool = False) -> str:
        """Like download, and also remove files under ``root`` that are not in the manifest."""
        self._require_download()
        return download(self._reg._store, self, root, link=link, path_prefix=None, prune=True, allow_missing=allow_missing_references)

    def verify(self, root: str | None = None) -> None:
        """Rehash a downloaded tree (or the stored blobs, and the sources of references); raises IntegrityError listing what differs."""
        self._require_download()
        verify(self._reg._store, self, root)

    def new_draft(self) -> Artifact:
        """A draft with this version's entries, description and metadata, for the next version.

        The entries are not copied: the draft reads this version's manifest where it is and
        keeps only what is added, replaced or removed, so logging it writes only the parts of
        the manifest those edits touch (SPEC §22). Keep the registry open until the draft is
        logged. Raises NotFound for a deleted version whose manifest gc has collected.
        The draft holds the version's bytes, so a link's needs the right to download them.
        """
        self._require_download()
        name = self.collection_name if self._source_id is None else self.source_version.collection_name  # type: ignore[union-attr]
        if self.file_count:
            self._check_manifest()
        draft = Artifact(name, self.type, self._saved["description"], self._saved["metadata"])
        draft._based = Based(Base(self._reg._db, self._reg._store, self._content_id, self.qualified_name, self.file_count))
        return draft


class Collection(Handle):
    """All versions logged under one name in one project, or the links of a registry collection."""

    def __init__(self, reg: Registry, collection_id: int) -> None:
        self._reg = reg
        self.id = collection_id
        self.refresh()

    def refresh(self) -> None:
        """Reload from the database, dropping unsaved edits."""
        with self._reg._db.read() as con:
            found = con.execute(SELECT_COLLECTION_ROW, (self.id,)).fetchone()
            if found is None:
                raise NotFound(f"no collection with id {self.id}")
            row = CollectionRow._make(found)
            self.name: str = row.name
            self.type: str = row.type
            self.project: str = row.project
            self._registry_id: int | None = row.registry_id
            self.registry: str | None = row.registry
            description = row.description
            if self._registry_id is not None:
                require(con, self._registry_id, self._reg.user, "restricted_viewer", f"reading {self.project}/{self.name}")
            self.created_at = parse_time(row.created_at)
            tags = [r[0] for r in con.execute("SELECT tag FROM collection_tags WHERE collection_id = ? ORDER BY tag", (self.id,))]
            self.aliases: list[str] = [
                r[0] for r in con.execute("SELECT alias FROM aliases WHERE collection_id = ? ORDER BY alias", (self.id,))
            ]
        self._saved: dict[str, Any] = {"description": description, "tags": tags}
        self.description: str | None = description
        self.tags: list[str] = list(tags)

    _kind = "collection"

    def _row_id(self) -> int:
        return self.id

    def _label(self) -> str:
        return f"{self.project}/{self.name} type={self.type!r}"

    def versions(self, *, offset: int = 0, limit: int | None = None) -> list[ArtifactVersion]:
        """Live versions (or links), newest first; ``offset`` and ``limit`` take one page of them."""
        offset, limit = check_page(offset, limit)
        with self._reg._db.read() as con:
            ids = [r[0] for r in con.execute(SELECT_LIVE_PAGE, (self.id, limit, offset))]
            return [ArtifactVersion(self._reg, i, con=con) for i in ids]

    def version_count(self) -> int:
        """How many live versions (or links) the collection holds."""
        with self._reg._db.read() as con:
            return int(con.execute(COUNT_LIVE, (self.id,)).fetchone()[0])  # type: ignore[index]

    def alias_history(self, alias: str, *, last: int | None = None) -> list[AliasChange]:
        """Every change of ``alias`` in this collection (or the ``last`` N), oldest first: what it pointed at, when, by whom."""
        name = check_aliases([alias], allow_reserved=True)[0]
        entries = self._reg.audit.entries(collection_id=self.id, alias=name, last=last)
        return [AliasChange(e.at, e.user, e.action, alias, e.detail.get("before"), e.detail.get("after")) for e in entries]

    def delete(self) -> None:
        """Delete every version of the collection (aliases included); indices stay reserved.

        Refused while a protected alias is involved: in a registry collection, non-admins
        cannot delete one holding a protected alias; nobody can delete a collection whose
        versions a registry links under a protected alias.
        """
        with self._reg._ctx.write() as tx:
            con, who = tx.con, tx.actor
            live = [r[0] for r in con.execute("SELECT id FROM versions WHERE collection_id = ? AND state = 'committed'", (self.id,))]
            if self._registry_id is not None:
                role = require(con, self._registry_id, who.user, "member", f"deleting {self.project}/{self.name}")
                held = [r[0] for r in con.execute(PROTECTED_HELD, (self.id, self._registry_id))]
                if held and role != "admin":
                    raise PermissionDenied(
                        f"{self.project}/{self.name} holds protected aliases ({', '.join(held)}); only registry admins may delete it"
                    )
            else:
                for version_id in live:
                    protected = con.execute(PROTECTED_LINKS, (version_id,)).fetchall()
                    if protected:
                        names = ", ".join(f"{r[0]}:{r[1]}" for r in protected)
                        raise PermissionDenied(f"{self.project}/{self.name} has versions linked under protected aliases ({names})")
            soft_delete(tx, self.id, live, "version_deleted")
            con.execute("UPDATE collections SET deleted_at = ? WHERE id = ?", (who.at, self.id))
            record(tx, "collection_deleted", registry_id=self._registry_id, collection_id=self.id)
        self.refresh()

    def edit(self, *, name: str | None = None, type: str | None = None) -> None:
        """Rename and/or retype the collection in one transaction (see ``_collection_edit``); nothing changes on an error."""
        from ._collection_edit import edit_collection

        edit_collection(self, name=name, type=type)

    def save(self) -> None:
        """Write edits of description and tags in one transaction."""
        description = _check_description(self.description)
        tags = check_tags(self.tags)
        saved = self._saved
        with self._reg._ctx.write() as tx:
            con, who = tx.con, tx.actor
            if self._registry_id is not None:
                require(con, self._registry_id, who.user, "member", f"editing {self.project}/{self.name}")
            if description != saved["description"]:
                con.execute("UPDATE collections SET description = ? WHERE id = ?", (description, self.id))
            con.executemany(
                "INSERT INTO collection_tags(collection_id, tag) VALUES (?, ?) ON CONFLICT DO NOTHING",
                ((self.id, t) for t in tags if t not in saved["tags"]),
            )
            con.executemany(
                "DELETE FROM collection_tags WHERE collection_id = ? AND tag = ?",
                ((self.id, t) for t in saved["tags"] if t not in tags),
            )
            if description != saved["description"] or tags != saved["tags"]:
                record(tx, "collection_edited", registry_id=self._registry_id, collection_id=self.id)
        self.refresh()


PROTECTED_HELD = """
SELECT a.alias FROM aliases AS a JOIN protected_aliases AS pa ON pa.alias = a.alias
WHERE a.collection_id = ? AND pa.registry_id = ?
"""
def find_collection(reg: Registry, project: str, name: str) -> Collection:
    with reg._db.read() as con:
        row = collection_row(con, canonical_project(con, check_project(project)), check_artifact_name(name))
        if row is None or row[2] is not None:
            raise no_collection(con, reg.user, project, name)
    return Collection(reg, row[0])


def list_collections(reg: Registry, project: str | None, type_: str | None) -> list[Collection]:
    sql = "SELECT c.id FROM collections AS c JOIN projects AS p ON p.id = c.project_id WHERE c.deleted_at IS NULL"
    args: list[Any] = []
    with reg._db.read() as con:
        if project is not None:
            sql += " AND p.name = ?"
            args.append(canonical_project(con, check_project(project)))
        else:
            sql += f" AND {NOT_A_REGISTRY}"
        if type_ is not None:
            sql += " AND c.type = ?"
            args.append(type_)
        ids = [r[0] for r in con.execute(sql + " ORDER BY p.name, c.name", args)]
    return [Collection(reg, i) for i in ids]
