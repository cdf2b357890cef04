"""Versions, collections and aliases: logging a draft, resolving references, editing.

Alias rules (SPEC §6) live here: an alias is one row keyed by (collection, alias), so it is
held by at most one version; ``latest`` is a row too, moved by logging; ``vN`` is the
version's index and never stored as an alias.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import apsw

from ._download import download, verify
from ._draft import Artifact, BlobSource, DraftEntry, RefSource, _check_description
from ._errors import InvalidName, NotFound, TypeMismatch
from ._ingest import Ingested, ingest, known_digests
from ._manifest import ManifestEntry, version_digest
from ._names import (
    DEFAULT_PROJECT,
    LATEST,
    check_aliases,
    check_artifact_name,
    check_metadata,
    check_project,
    check_tags,
    dump_json,
    is_reserved_alias,
    normalize_path,
    parse_ref,
    version_index,
)
from ._references import open_reference

if TYPE_CHECKING:
    from ._registry import Registry

TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"

UPSERT_PROJECT = """
INSERT INTO projects(name, created_at) VALUES (?, ?)
ON CONFLICT(name) DO UPDATE SET name = excluded.name RETURNING id
"""
SELECT_COLLECTION = """
SELECT c.id, c.type FROM collections AS c JOIN projects AS p ON p.id = c.project_id
WHERE p.name = ? AND c.name = ?
"""
INSERT_COLLECTION = "INSERT INTO collections(project_id, name, type, created_at) VALUES (?, ?, ?, ?) RETURNING id"
SELECT_ALIAS = """
SELECT v.id, v.digest FROM aliases AS a JOIN versions AS v ON v.id = a.version_id
WHERE a.collection_id = ? AND a.alias = ?
"""
NEXT_INDEX = "UPDATE collections SET next_index = next_index + 1 WHERE id = ? RETURNING next_index - 1"
INSERT_VERSION = """
INSERT INTO versions(collection_id, idx, digest, size, file_count, description, metadata, created_at, created_by)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id
"""
INSERT_ENTRY = "INSERT INTO entries(version_id, path, digest, size, ref, extra) VALUES (?, ?, ?, ?, ?, ?)"
SET_ALIAS = """
INSERT INTO aliases(collection_id, alias, version_id) VALUES (?, ?, ?)
ON CONFLICT(collection_id, alias) DO UPDATE SET version_id = excluded.version_id
"""
DELETE_ALIAS = "DELETE FROM aliases WHERE collection_id = ? AND alias = ? AND version_id = ?"
INSERT_TAG = "INSERT INTO version_tags(version_id, tag) VALUES (?, ?) ON CONFLICT DO NOTHING"
DELETE_TAG = "DELETE FROM version_tags WHERE version_id = ? AND tag = ?"
SELECT_VERSION = """
SELECT v.id, v.idx, v.digest, v.size, v.file_count, v.description, v.metadata, v.created_at, v.created_by,
       v.state, c.id, c.name, c.type, p.name
FROM versions AS v JOIN collections AS c ON c.id = v.collection_id JOIN projects AS p ON p.id = c.project_id
WHERE v.id = ?
"""
SELECT_BY_INDEX = "SELECT id FROM versions WHERE collection_id = ? AND idx = ? AND state = 'committed'"
SELECT_BY_ALIAS = "SELECT version_id FROM aliases WHERE collection_id = ? AND alias = ?"
SELECT_ENTRIES = "SELECT path, digest, size, ref, extra FROM entries WHERE version_id = ? ORDER BY path"
SELECT_ENTRY = "SELECT path, digest, size, ref, extra FROM entries WHERE version_id = ? AND path = ?"


def format_time(moment: datetime) -> str:
    """UTC ISO-8601 with microseconds: sorts as text in time order."""
    return moment.astimezone(timezone.utc).strftime(TIME_FORMAT)


def parse_time(text: str) -> datetime:
    return datetime.strptime(text, TIME_FORMAT).replace(tzinfo=timezone.utc)


# -- writing ----------------------------------------------------------------------------


def log_draft(
    reg: Registry,
    draft: Artifact,
    *,
    project: str | None,
    aliases: Sequence[str] | None,
    tags: Sequence[str] | None,
) -> ArtifactVersion:
    """Store a draft's bytes, then create its version in one transaction (or dedup to ``latest``)."""
    project_name = check_project(project or DEFAULT_PROJECT)
    alias_list = check_aliases(aliases)
    tag_list = check_tags([*draft.tags, *check_tags(tags)])
    metadata = dump_json(check_metadata(draft.metadata))
    description = _check_description(draft.description)
    name, type_ = check_artifact_name(draft.name), draft.type
    entries = list(draft.entries.values())
    with reg._store.lock(exclusive=False):
        known = known_digests(reg._store, entries)
        stored: Ingested | None = None
        if None in known:
            stored = ingest(reg._store, entries, known)
        while True:
            if stored is None:
                pairs = [(e.path, d) for e, d in zip(entries, known, strict=False) if d is not None]
            else:
                pairs = [(row[0], row[1]) for row in stored.entries]
            digest = version_digest(pairs)
            now = format_time(reg._now())
            with reg._db.write() as con:
                project_id = con.execute(UPSERT_PROJECT, (project_name, now)).fetchone()[0]  # type: ignore[index]
                collection_id = _collection_for(con, project_id, project_name, name, type_, now)
                latest = con.execute(SELECT_ALIAS, (collection_id, LATEST)).fetchone()
                if latest is not None and latest[1] == digest:
                    version_id = latest[0]
                    if stored is not None:
                        stored.write(con)
                elif stored is None:
                    # Everything came from the stat cache but it is new content: presence
                    # of each blob must be checked (and missing ones stored) after all.
                    version_id = None
                else:
                    stored.write(con)
                    version_id = _insert_version(con, collection_id, digest, stored, description, metadata, now, reg.user)
                if version_id is not None:
                    for alias in alias_list:
                        set_alias(con, collection_id, alias, version_id)
                    con.executemany(INSERT_TAG, ((version_id, tag) for tag in tag_list))
            if version_id is not None:
                break
            stored = ingest(reg._store, entries, known)
    version = ArtifactVersion(reg, version_id)
    draft._freeze(version)
    return version


def _insert_version(
    con: apsw.Connection,
    collection_id: int,
    digest: str,
    stored: Ingested,
    description: str | None,
    metadata: str,
    now: str,
    user: str,
) -> int:
    """A new version row at the collection's next index, with its entries; it becomes ``latest``."""
    index = con.execute(NEXT_INDEX, (collection_id,)).fetchone()[0]  # type: ignore[index]
    size = sum(row[2] for row in stored.entries)
    row = (collection_id, index, digest, size, len(stored.entries), description, metadata, now, user)
    version_id = int(con.execute(INSERT_VERSION, row).fetchone()[0])  # type: ignore[index]
    con.executemany(INSERT_ENTRY, ((version_id, *row) for row in stored.entries))
    set_alias(con, collection_id, LATEST, version_id)
    return version_id


def _collection_for(con: apsw.Connection, project_id: int, project: str, name: str, type_: str, now: str) -> int:
    row = con.execute(SELECT_COLLECTION, (project, name)).fetchone()
    if row is None:
        return int(con.execute(INSERT_COLLECTION, (project_id, name, type_, now)).fetchone()[0])  # type: ignore[index]
    if row[1] != type_:
        raise TypeMismatch(f"collection {project}/{name} holds type {row[1]!r}, not {type_!r}")
    return int(row[0])


def set_alias(con: apsw.Connection, collection_id: int, alias: str, version_id: int) -> None:
    """Point ``alias`` at a version, moving it from whichever version held it."""
    con.execute(SET_ALIAS, (collection_id, alias, version_id))


# -- reading ----------------------------------------------------------------------------


def resolve(reg: Registry, ref: str, *, project: str | None = None) -> ArtifactVersion:
    """The live version a reference names (``[entity/][project/]name[:vN|alias]``)."""
    parsed = parse_ref(ref)
    if parsed.registry is not None:
        raise NotFound(f"no registry named {parsed.registry!r} in this registry file")
    project_name = parsed.project or check_project(project or DEFAULT_PROJECT)
    with reg._db.read() as con:
        row = con.execute(SELECT_COLLECTION, (project_name, parsed.name)).fetchone()
        if row is None:
            raise NotFound(f"no artifact {project_name}/{parsed.name}")
        selector = parsed.selector
        index = version_index(selector)
        if index is not None:
            found = con.execute(SELECT_BY_INDEX, (row[0], index)).fetchone()
        else:
            found = con.execute(SELECT_BY_ALIAS, (row[0], selector)).fetchone()
        if found is None:
            raise NotFound(f"{project_name}/{parsed.name} has no version {selector!r}")
        return ArtifactVersion(reg, found[0], con=con)


class ArtifactVersion:
    """An immutable logged version; ``description``, ``metadata``, ``tags`` and ``aliases`` are editable, then ``save()``."""

    def __init__(self, reg: Registry, version_id: int, *, con: apsw.Connection | None = None) -> None:
        self._reg = reg
        self.id = version_id
        if con is None:
            with reg._db.read() as fresh:
                self._load(fresh)
        else:
            self._load(con)

    def _load(self, con: apsw.Connection) -> None:
        row = con.execute(SELECT_VERSION, (self.id,)).fetchone()
        if row is None:
            raise NotFound(f"no version with id {self.id}")
        (_, self.index, self.digest, self.size, self.file_count, description, metadata, created_at,
         self.created_by, self.state, self._collection_id, self.collection_name, self.type, self.project) = row
        self.created_at = parse_time(created_at)
        aliases = [r[0] for r in con.execute("SELECT alias FROM aliases WHERE version_id = ? ORDER BY alias", (self.id,))]
        tags = [r[0] for r in con.execute("SELECT tag FROM version_tags WHERE version_id = ? ORDER BY tag", (self.id,))]
        self._saved: dict[str, Any] = {"description": description, "metadata": json.loads(metadata), "aliases": aliases, "tags": tags}
        self._description: str | None = description
        self._metadata: dict[str, Any] = json.loads(metadata)
        self._aliases: list[str] = list(aliases)
        self._tags: list[str] = list(tags)

    def __repr__(self) -> str:
        return f"<ArtifactVersion {self.project}/{self.name} type={self.type!r}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ArtifactVersion) and other._reg is self._reg and other.id == self.id

    def __hash__(self) -> int:
        return hash((id(self._reg), self.id))

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

    def save(self) -> None:
        """Write edits of description, metadata, tags and aliases in one transaction.

        Only what changed since the version was loaded is written, so concurrent edits of
        other fields are kept. Adding an alias held elsewhere in the collection moves it.
        ``latest`` and ``vN`` cannot be added; leaving ``latest`` out changes nothing.
        """
        description = _check_description(self._description)
        metadata = check_metadata(self._metadata)
        tags = check_tags(self._tags)
        wanted = check_aliases(self._aliases, allow_reserved=True)
        saved = self._saved
        for alias in wanted:
            if is_reserved_alias(alias) and alias not in saved["aliases"]:
                raise InvalidName(f"alias {alias!r} is reserved: artreg assigns 'latest' and 'v<N>' itself")
        add_aliases = [a for a in wanted if a not in saved["aliases"]]
        drop_aliases = [a for a in saved["aliases"] if a not in wanted and a != LATEST]
        with self._reg._db.write() as con:
            state = con.execute("SELECT state FROM versions WHERE id = ?", (self.id,)).fetchone()
            if state is None or state[0] != "committed":
                raise NotFound(f"{self.qualified_name} has been deleted")
            if description != saved["description"]:
                con.execute("UPDATE versions SET description = ? WHERE id = ?", (description, self.id))
            if metadata != saved["metadata"]:
                con.execute("UPDATE versions SET metadata = ? WHERE id = ?", (dump_json(metadata), self.id))
            con.executemany(INSERT_TAG, ((self.id, t) for t in tags if t not in saved["tags"]))
            con.executemany(DELETE_TAG, ((self.id, t) for t in saved["tags"] if t not in tags))
            for alias in add_aliases:
                set_alias(con, self._collection_id, alias, self.id)
            con.executemany(DELETE_ALIAS, ((self._collection_id, a, self.id) for a in drop_aliases))
            self._load(con)

    def refresh(self) -> None:
        """Reload from the database, dropping unsaved edits."""
        with self._reg._db.read() as con:
            self._load(con)

    # -- contents ----------------------------------------------------------------------

    def files(self) -> Iterator[ManifestEntry]:
        """The manifest entries in path order, streamed from the database."""
        con = self._reg._db.connection()
        for path, digest, size, ref, extra in con.execute(SELECT_ENTRIES, (self.id,)):
            yield ManifestEntry(path, digest, size, ref, json.loads(extra))

    def get_entry(self, path: str) -> ManifestEntry:
        """The entry at a logical path; raises NotFound."""
        logical = normalize_path(path)
        with self._reg._db.read() as con:
            row = con.execute(SELECT_ENTRY, (self.id, logical)).fetchone()
        if row is None:
            raise NotFound(f"{self.qualified_name} has no entry {logical!r}")
        return ManifestEntry(row[0], row[1], row[2], row[3], json.loads(row[4]))

    def open(self, path: str) -> Any:
        """A binary reader of one entry, streamed from the store (a reference: from its source); checks the digest at EOF."""
        entry = self.get_entry(path)
        if entry.ref is not None:
            return io.BufferedReader(open_reference(entry))
        return io.BufferedReader(self._reg._store.open(entry.digest, entry.size))

    def download(
        self,
        root: str | None = None,
        *,
        link: str = "copy",
        path_prefix: str | None = None,
        allow_missing_references: bool = False,
    ) -> str:
        """Materialise the files under ``root`` (default ``./artifacts/<name>``); returns the root.

        Reference entries are fetched from their source and checked against their digest
        (IntegrityError when it changed). A source that is gone raises NotFound, or with
        ``allow_missing_references=True`` is skipped with a warning.
        """
        return download(self, root, link=link, path_prefix=path_prefix, prune=False, allow_missing=allow_missing_references)

    def checkout(self, root: str | None = None, *, link: str = "copy", allow_missing_references: bool = False) -> str:
        """Like download, and also remove files under ``root`` that are not in the manifest."""
        return download(self, root, link=link, path_prefix=None, prune=True, allow_missing=allow_missing_references)

    def verify(self, root: str | None = None) -> None:
        """Rehash a downloaded tree (or the stored blobs, and the sources of references); raises IntegrityError listing what differs."""
        verify(self, root)

    def new_draft(self) -> Artifact:
        """A draft with this version's entries, description and metadata, for the next version."""
        draft = Artifact(self.collection_name, self.type, self._saved["description"], self._saved["metadata"])
        store = self._reg._store
        draft._put(
            [DraftEntry(e.path, e.size, BlobSource(store, e.digest, e.size) if e.ref is None else RefSource(e.ref, e.extra), e.digest)
             for e in self.files()],
            overwrite=False,
        )
        return draft


class Collection:
    """All versions logged under one name in one project."""

    def __init__(self, reg: Registry, collection_id: int) -> None:
        self._reg = reg
        self.id = collection_id
        self.refresh()

    def refresh(self) -> None:
        """Reload from the database, dropping unsaved edits."""
        with self._reg._db.read() as con:
            row = con.execute(
                "SELECT c.name, c.type, c.description, c.created_at, p.name FROM collections AS c "
                "JOIN projects AS p ON p.id = c.project_id WHERE c.id = ?",
                (self.id,),
            ).fetchone()
            if row is None:
                raise NotFound(f"no collection with id {self.id}")
            self.name, self.type, description, created_at, self.project = row
            self.created_at = parse_time(created_at)
            tags = [r[0] for r in con.execute("SELECT tag FROM collection_tags WHERE collection_id = ? ORDER BY tag", (self.id,))]
            self.aliases: list[str] = [
                r[0] for r in con.execute("SELECT alias FROM aliases WHERE collection_id = ? ORDER BY alias", (self.id,))
            ]
        self._saved = {"description": description, "tags": tags}
        self.description: str | None = description
        self.tags: list[str] = list(tags)

    def __repr__(self) -> str:
        return f"<Collection {self.project}/{self.name} type={self.type!r}>"

    def versions(self) -> list[ArtifactVersion]:
        """Live versions, newest first."""
        with self._reg._db.read() as con:
            ids = [r[0] for r in con.execute(
                "SELECT id FROM versions WHERE collection_id = ? AND state = 'committed' ORDER BY idx DESC", (self.id,)
            )]
            return [ArtifactVersion(self._reg, i, con=con) for i in ids]

    def save(self) -> None:
        """Write edits of description and tags in one transaction."""
        description = _check_description(self.description)
        tags = check_tags(self.tags)
        saved = self._saved
        with self._reg._db.write() as con:
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
        self.refresh()


def find_collection(reg: Registry, project: str, name: str) -> Collection:
    with reg._db.read() as con:
        row = con.execute(SELECT_COLLECTION, (check_project(project), check_artifact_name(name))).fetchone()
    if row is None:
        raise NotFound(f"no artifact collection {project}/{name}")
    return Collection(reg, row[0])


def list_collections(reg: Registry, project: str | None, type_: str | None) -> list[Collection]:
    sql = "SELECT c.id FROM collections AS c JOIN projects AS p ON p.id = c.project_id WHERE 1"
    args: list[Any] = []
    if project is not None:
        sql += " AND p.name = ?"
        args.append(check_project(project))
    if type_ is not None:
        sql += " AND c.type = ?"
        args.append(type_)
    with reg._db.read() as con:
        ids = [r[0] for r in con.execute(sql + " ORDER BY p.name, c.name", args)]
    return [Collection(reg, i) for i in ids]

