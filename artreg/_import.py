"""Importing a bundle: check all of it, stage its bytes, then replay it in one transaction.

First the whole stream is read and checked (``BundleReader``) while ``ImportSink`` stages
each blob the registry lacks: small ones in the reader's scratch database, large ones as
fsynced files in ``objects/tmp``. Nothing in the registry changes until the stream has
been read to its verified end, so a damaged, truncated or inconsistent bundle changes
nothing. Then one write transaction replays the records through the same statements a log,
a link or a run uses, with the importing user's rights: registries and collections found or
made, each version found (by provenance, or by equal content in its collection) or created
at the collection's next index, aliases moved (audit-logged), links, runs and lineage edges,
and provenance rows so that a second import finds everything and changes nothing. The staged
files get their names last, inside that transaction, so a refusal (a missing right, a type
that differs) also leaves the store as it was. The store lock is held shared throughout, so
``gc`` never sweeps a staged file or a blob the import counts on.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from contextlib import suppress
from typing import TYPE_CHECKING, Any, BinaryIO

import apsw

from ._access import is_protected, require
from ._aliases import HOLDER, set_alias
from ._audit import record
from ._bundle import JSON_RUN_FIELDS, RUN_FIELDS, Copied, CopyReport, digest_batches, origin
from ._bundle_read import BundleReader, damaged_blob, ignore_chunk, records
from ._errors import IntegrityError, NotFound, PermissionDenied, TypeMismatch
from ._events import VersionCreated, emit
from ._lifecycle import apply_retention
from ._links import add_link, check_accepts, keep_source, live_link
from ._log_artifact import INSERT_VERSION
from ._names import LATEST, dump_json
from ._progress import ProgressCallback
from ._projects import INSERT_TAG, collection_row, ensure_project, next_index
from ._run_rows import INSERT_INPUT, INSERT_OUTPUT, new_run_key
from .storage import _blob_rows as blob_rows
from .storage._blobs import Staged, copy_hashing, wait_all
from .storage._chunks import write_sorted

if TYPE_CHECKING:
    from ._context import Context, Transaction

BATCH = 500
REHEARSE_BYTES = 64 << 20  # blob bytes still to come above which the replay is rehearsed first
INLINE_MEMORY = 32 << 20  # with the scratch database's 32 MiB cache, an import stays under 100 MiB
VERSIONS_BY_ORIGIN = """
SELECT v.id, v.collection_id, v.digest, v.source_id FROM versions AS v WHERE v.state = 'committed' AND (
    v.id IN (SELECT version_id FROM version_origins WHERE origin IN (SELECT value FROM json_each(:origins)))
    OR v.id IN (SELECT value FROM json_each(:own)))
"""
SAME_CONTENT = """
SELECT id FROM versions WHERE collection_id = ? AND digest = ? AND state = 'committed' AND source_id IS NULL ORDER BY idx DESC
"""
RUN_BY_ORIGIN = "SELECT run_id FROM run_origins WHERE origin IN (SELECT value FROM json_each(?)) ORDER BY run_id"
OWN_RUNS = "SELECT id, started_at FROM runs WHERE id IN (SELECT value FROM json_each(?)) ORDER BY id"
INSERT_VERSION_ORIGIN = """
INSERT INTO version_origins(origin, version_id) VALUES (?, ?)
ON CONFLICT(origin) DO UPDATE SET version_id = excluded.version_id WHERE version_origins.version_id != excluded.version_id
"""
FINISH_RUN = "UPDATE runs SET state = ?1, error = ?2, finished_at = ?3 WHERE id = ?4 AND state = 'running' AND ?1 != 'running'"
INSERT_RUN_ORIGIN = "INSERT INTO run_origins(origin, run_id) VALUES (?, ?) ON CONFLICT(origin) DO NOTHING"
KEY_TAKEN = "SELECT 1 FROM runs WHERE project_id = ? AND run_key = ?"
BUNDLE_HISTORY = "SELECT step, data, at FROM history WHERE run = ? ORDER BY step"
INSERT_STEP = "INSERT INTO run_history(run_id, step, data, at) VALUES (?, ?, ?, ?)"
INSERT_NEW_STEP = f"{INSERT_STEP} ON CONFLICT(run_id, step) DO NOTHING"
CATCH_UP_RUN = "UPDATE runs SET summary = ?2, config = ?3 WHERE id = ?1 AND (summary != ?2 OR config != ?3)"
INSERT_RUN = f"INSERT INTO runs(project_id, {', '.join(RUN_FIELDS)}) VALUES (?, {', '.join('?' for _ in RUN_FIELDS)}) RETURNING id"
INSERT_COLLECTION = """
INSERT INTO collections(project_id, name, type, description, created_at) VALUES (?, ?, ?, ?, ?) RETURNING id
"""
INSERT_COLLECTION_TAG = "INSERT INTO collection_tags(collection_id, tag) VALUES (?, ?) ON CONFLICT DO NOTHING"
# The blobs the created versions name that the registry lacked: kept inline, or staged as files.
NEEDED = "n.held = 0 AND n.digest IN (SELECT e.digest FROM entries AS e JOIN created AS c ON c.version = e.version WHERE e.ref IS NULL)"
CREATED_BLOBS = f"""
SELECT n.digest, n.size, i.data, s.path, n.state FROM need AS n LEFT JOIN inline AS i ON i.digest = n.digest
LEFT JOIN staged AS s ON s.digest = n.digest WHERE {NEEDED}
"""
TTL_POLICIES = {"inherit": ("inherit", None), None: ("never", None)}
# A blob the bundle leaves out as the receiver's, which this registry neither holds nor adopts.
LACKING = """
SELECT digest, version, path FROM need WHERE state = 1 AND held = 0 AND digest NOT IN (SELECT digest FROM staged) LIMIT 1
"""


class ImportSink:
    """Stages the blobs of a bundle that a registry lacks, after checking each against its digest.

    ``shared``: the bundle comes from a registry whose blobs are in the same physical store
    (``copy_to`` between two registries on one bucket prefix): the blobs it declares as the
    receiver's but this catalog lacks are adopted there (claimed, checked present) instead.
    """

    def __init__(self, ctx: Context, keep_destination_aliases: bool, *, shared: bool = False) -> None:
        self._ctx = ctx
        self._keep = keep_destination_aliases
        self._store = ctx.store
        self._uuid = ctx.uuid
        self._shared = shared
        self._reader: BundleReader | None = None
        # Small blobs stay in memory up to INLINE_MEMORY bytes (most bundles), beyond that in the
        # scratch database: either way they reach the registry in the import's transaction.
        self.inline: dict[str, bytes] = {}
        self._inline_bytes = 0
        # A bucket's uploads and adoptions under way: done before the commit that names them.
        self._uploads: list[Future[Any]] = []

    def prepare(self, reader: BundleReader) -> None:
        """Mark the blobs the registry holds already; refuse when one the bundle leaves out is not among them."""
        self._reader = reader
        staging = reader.staging
        for batch in digest_batches(staging):
            with self._store.db.read() as con:
                rows = blob_rows.present(con, batch)
            held = [d for d, size, is_file in rows if not is_file or self._store.file_present(d, size)]
            staging.executemany("UPDATE need SET held = 1 WHERE digest = ?", ((d,) for d in held))
        adopted = self._shared_blobs(staging) if self._shared else []
        lacking = staging.execute(LACKING).fetchone()
        if lacking is not None:
            digest, version, path = lacking
            raise NotFound(
                f"the bundle was made against a basis: it leaves out blob {digest} of {reader.labels[version]} {path!r}, "
                "which this registry does not hold; import the bundles it was based on first"
            )
        # Versions it leaves out: refused now rather than after all its bytes are read (the
        # replay checks again, in its transaction).
        with self._store.db.read() as con:
            for _kind, body in records(staging, "version"):
                if body["known"] and not self._holds(con, body["origins"], body["digest"]):
                    raise missing_version(reader.labels[body["id"]], body["digest"])
        (coming,) = staging.execute("SELECT coalesce(sum(size), 0) FROM need WHERE state = 0 AND held = 0").fetchone()  # type: ignore[misc]
        if coming > REHEARSE_BYTES:
            # A refusal (a missing right, a collection of another type) should come before a
            # long stream of bytes, not after it: replay the records now and roll them back.
            _Replay(self._ctx, reader, self, self._keep).run(rehearse=True)
        for digest, size in adopted:  # claimed and checked present, no byte moved (after every refusal above)
            self._track(self._store.adopt(digest, size).pending)

    def _shared_blobs(self, staging: apsw.Connection) -> list[tuple[str, int]]:
        """The blobs the source left out because they are in the store both registries share (and
        that are files here too): staged with nothing to place, so the transaction names them."""
        rows = staging.execute("SELECT digest, size FROM need WHERE state = 1 AND held = 0 ORDER BY digest")
        adopted = [(str(d), int(size)) for d, size in rows if not self._store.is_inline(int(size))]
        staging.executemany("INSERT INTO staged(digest, path) VALUES (?, '')", ((d,) for d, _ in adopted))
        return adopted

    def _track(self, pending: Future[Any] | None) -> None:
        """Keep an upload (or adoption) under way; raise at once if one already failed."""
        if pending is None:
            return
        self._uploads.append(pending)
        if len(self._uploads) >= 64:
            done = [f for f in self._uploads if f.done()]
            self._uploads = [f for f in self._uploads if not f.done()]
            wait_all(done)

    def wait_uploads(self) -> None:
        """Return once every blob this import sent to (or adopted in) a bucket is there: before the commit."""
        uploads, self._uploads = self._uploads, []
        wait_all(uploads)

    def _holds(self, con: apsw.Connection, origins: Sequence[str], digest: str) -> bool:
        own = [int(o.rpartition(":")[2]) for o in origins if o.rpartition(":")[0] == self._uuid]
        found = con.execute(VERSIONS_BY_ORIGIN, {"origins": json.dumps(list(origins)), "own": json.dumps(own)})
        return any(row[2] == digest and row[3] is None for row in found)

    def blob(self, digest: str, size: int, member: BinaryIO, where: str, held: bool) -> None:
        assert self._reader is not None
        staging = self._reader.staging
        if held:
            found, _ = copy_hashing(member, ignore_chunk)  # checked all the same: a damaged bundle is refused whole
        elif self._store.is_inline(size):
            data = member.read(size)
            found = hashlib.sha256(data).hexdigest()
            if found == digest:
                self.inline[digest] = data
                self._inline_bytes += size
                if self._inline_bytes > INLINE_MEMORY:
                    self._spill()
        else:
            # Checked before it is named (locally) or sent (to a bucket, under this import's claims).
            staged = self._store.stage(member, size, where, want=digest)
            found = staged.digest
            if found == digest:
                staging.execute("INSERT INTO staged(digest, path) VALUES (?, ?)", (digest, staged.path))
                self._track(staged.pending)
        if found != digest:
            raise damaged_blob(digest, where)

    def _spill(self) -> None:
        """Move the small blobs held in memory to the scratch database (written to the registry from there)."""
        assert self._reader is not None
        self._reader.staging.executemany("INSERT INTO inline(digest, data) VALUES (?, ?)", self.inline.items())
        self.inline, self._inline_bytes = {}, 0

    def discard_all(self) -> None:
        """Remove every staged file not placed (after a failure, or the ones an import did not need).

        Uploads still under way (after a failure) are waited for, not abandoned: they end while
        the import still holds its claims, and what they sent is an object nobody names.
        """
        uploads, self._uploads = self._uploads, []
        for future in uploads:
            with suppress(BaseException):
                future.result()
        if self._reader is None:
            return
        for (path,) in self._reader.staging.execute("SELECT path FROM staged"):
            self._store.discard_staged(Staged("", 0, path))


def import_stream(
    ctx: Context, src: BinaryIO, *, keep_destination_aliases: bool, progress: ProgressCallback | None = None,
    shared: bool = False,
) -> CopyReport:
    """Read, check and stage a bundle from ``src``, then replay it (see ``Registry.import_bundle``).

    The store lock is held shared throughout, which for a bucket also keeps this import's
    claims in force (``ObjectStore.writing``) from its first upload to its commit: no gc on
    any machine deletes a blob it sent or found there meanwhile.
    """
    with ctx.store.lock(exclusive=False):
        sink = ImportSink(ctx, keep_destination_aliases, shared=shared)
        reader = BundleReader(src, sink, progress)
        try:
            summary = reader.read()
            sink.wait_uploads()
            replay = _Replay(ctx, reader, sink, keep_destination_aliases)
            replay.run()
            return replay.report(summary.blobs, summary.bytes)
        finally:
            sink.discard_all()
            reader.close()


class _Replay:
    """One import's transaction: the records of a checked bundle applied through the write path."""

    def __init__(self, ctx: Context, reader: BundleReader, sink: ImportSink, keep: bool) -> None:
        self.ctx = ctx
        self.sink = sink
        self.staging = reader.staging
        self.labels = reader.labels
        self.source = reader.header["source"]
        self.keep = keep
        self.uuid = ctx.uuid
        self.actor = ctx.actor()  # one timestamp for the rehearsal and the replay
        self.tx: Transaction  # the replay's, while it runs
        self.registries: dict[str, int] = {}  # name -> id
        self.collections: dict[int, tuple[int, str, int | None, str]] = {}  # bundle id -> (id, "project/name", registry id, type)
        self.versions: dict[int, int] = {}  # bundle version id -> local version id
        self.touched: set[int] = set()  # collections that got new versions
        self.counts = dict.fromkeys(("versions_created", "versions_reused", "links_created", "links_reused",
                                     "runs_created", "runs_reused", "aliases_moved"), 0)
        self.kept: list[str] = []
        self.renamed: list[str] = []
        self.shared = 0
        self.copied: list[Copied] = []
        self.placed: list[Staged] = []
        self.created: set[int] = set()  # bundle ids of the versions this import creates

    def report(self, blobs: int, size: int) -> CopyReport:
        return CopyReport(**self.counts, aliases_kept=tuple(self.kept), blobs_sent=blobs, bytes_sent=size,
                          blobs_shared=self.shared, runs_renamed=tuple(self.renamed), copied=tuple(self.copied))

    def run(self, *, rehearse: bool = False) -> None:
        """Replay the records in one transaction. ``rehearse``: without the blobs (not all read
        yet), in a transaction rolled back at the end, to raise what the replay would raise."""
        self.staging.execute("CREATE TABLE IF NOT EXISTS created (version INTEGER PRIMARY KEY); DELETE FROM created")
        try:
            with self.ctx.write(actor=self.actor) as tx:
                self.tx = tx
                self._replay(tx.con, rehearse)
        except _Rehearsed:
            return
        self.staging.execute("DELETE FROM staged WHERE digest IN (SELECT value FROM json_each(?))",
                             (json.dumps([s.digest for s in self.placed]),))

    def _replay(self, con: apsw.Connection, rehearse: bool) -> None:
        before = con.total_changes()
        for kind, body in records(self.staging):
            getattr(self, f"_{kind}")(con, body)
        for collection_id in sorted(self.touched):
            apply_retention(self.tx, collection_id)
        if rehearse:
            raise _Rehearsed
        self._blobs(con)
        if con.total_changes() != before:
            record(self.tx, "bundle_imported", source=self.source, counts={
                k: v for k, v in self.counts.items() if k.endswith("created") or k == "aliases_moved"
            })
        for staged in self.placed:  # last: a refusal above leaves the store untouched
            self.ctx.store.place(staged)

    # -- registries and collections ----------------------------------------------------

    def _registry(self, con: apsw.Connection, body: dict[str, Any]) -> None:
        name = body["name"]
        row = con.execute("SELECT id FROM registries WHERE name = ? COLLATE NOCASE", (name,)).fetchone()
        if row is not None:
            self.registries[name] = row[0]
            return
        who = self.actor
        types = body["artifact_types"]
        project_id = ensure_project(con, f"wandb-registry-{name}", who.at)
        registry_id = con.execute(
            "INSERT INTO registries(name, project_id, description, all_types, visibility, default_role, created_at, created_by) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (name, project_id, body["description"], int(types is None), body["visibility"], body["default_role"], who.at, who.user),
        ).fetchone()[0]  # type: ignore[index]
        con.executemany("INSERT INTO registry_types(registry_id, type) VALUES (?, ?)", ((registry_id, t) for t in types or ()))
        con.execute("INSERT INTO registry_members(registry_id, user, role) VALUES (?, ?, 'admin')", (registry_id, who.user))
        record(self.tx, "registry_created", registry_id=registry_id, name=name, types=types, visibility=body["visibility"],
               source=self.source)
        for alias in body["protected_aliases"]:
            con.execute("INSERT INTO protected_aliases(registry_id, alias) VALUES (?, ?)", (registry_id, alias))
            record(self.tx, "alias_protected", registry_id=registry_id, alias=alias)
        self.registries[name] = registry_id

    def _collection(self, con: apsw.Connection, body: dict[str, Any]) -> None:
        project, name, type_ = body["project"], body["name"], body["type"]
        registry_id = None if body["registry"] is None else self.registries[body["registry"]]
        row = collection_row(con, project, name)
        if row is None:
            project_id = ensure_project(con, project, self.actor.at)
            collection_id = int(con.execute(
                INSERT_COLLECTION, (project_id, name, type_, body["description"], body["created_at"])
            ).fetchone()[0])  # type: ignore[index]
            con.executemany(INSERT_COLLECTION_TAG, ((collection_id, t) for t in body["tags"]))
        else:
            collection_id = row[0]
            if row[1] != type_:
                raise TypeMismatch(f"collection {project}/{name} holds type {row[1]!r} here, not {type_!r} as in the bundle")
            self._fill_collection(con, collection_id, registry_id, body)
        self.collections[body["id"]] = (collection_id, f"{project}/{name}", registry_id, type_)

    def _fill_collection(self, con: apsw.Connection, collection_id: int, registry_id: int | None, body: dict[str, Any]) -> None:
        """Give an existing collection the bundle's description if it has none, and the bundle's tags it lacks."""
        description = con.execute("SELECT description FROM collections WHERE id = ?", (collection_id,)).fetchone()[0]  # type: ignore[index]
        held = {r[0] for r in con.execute("SELECT tag FROM collection_tags WHERE collection_id = ?", (collection_id,))}
        new_tags = [t for t in body["tags"] if t not in held]
        fill = description is None and body["description"] is not None
        if not (fill or new_tags):
            return
        if registry_id is not None:
            require(con, registry_id, self.actor.user, "member", f"editing {body['project']}/{body['name']}")
        if fill:
            con.execute("UPDATE collections SET description = ? WHERE id = ?", (body["description"], collection_id))
        con.executemany(INSERT_COLLECTION_TAG, ((collection_id, t) for t in new_tags))
        record(self.tx, "collection_edited", registry_id=registry_id, collection_id=collection_id, source=self.source)

    # -- versions and links ------------------------------------------------------------

    def _version(self, con: apsw.Connection, body: dict[str, Any]) -> None:
        collection_id, name, _registry, _type = self.collections[body["collection"]]
        label = self.labels[body["id"]]
        local = self._by_origin(con, body["origins"], collection_id, body["digest"], None)
        if local is None and body["known"]:
            raise missing_version(label, body["digest"])
        if local is None:
            found = con.execute(SAME_CONTENT, (collection_id, body["digest"])).fetchone()
            local = None if found is None else int(found[0])
            if local is None:
                local = self._create_version(con, collection_id, body)
            self._origins(con, body["origins"], local)
        outcome = "created" if body["id"] in self.created else "reused"
        self.counts[f"versions_{outcome}"] += 1
        self.versions[body["id"]] = local
        self._aliases(con, collection_id, name, None, local, body["aliases"])
        self._tags(con, local, body["tags"])
        self.copied.append(Copied(label, self._name(con, local), outcome))

    def _create_version(self, con: apsw.Connection, collection_id: int, body: dict[str, Any]) -> int:
        _revive(con, collection_id)
        index = next_index(con, collection_id)
        ttl = TTL_POLICIES.get(body["ttl"], ("set", body["ttl"]))
        version_id = int(con.execute(INSERT_VERSION, (
            collection_id, index, body["digest"], body["size"], body["file_count"], body["description"], dump_json(body["metadata"]),
            body["created_at"], body["created_by"], *ttl,
        )).fetchone()[0])  # type: ignore[index]
        rows = self.staging.execute("SELECT path, digest, size, ref, extra FROM entries WHERE version = ? ORDER BY path", (body["id"],))
        # Streamed into shared chunks: those the registry holds already (an earlier version
        # of the same files) are stored once. The reader checked that the rows add up.
        digest, count, size = write_sorted(con, version_id, rows)
        if (digest, count, size) != (body["digest"], body["file_count"], body["size"]):
            raise IntegrityError(f"{self.labels[body['id']]} does not add up to the digest, file count and size its record gives")
        self.staging.execute("INSERT INTO created(version) VALUES (?)", (body["id"],))
        self.created.add(body["id"])
        record(self.tx, "version_logged", collection_id=collection_id, version_id=version_id, digest=body["digest"],
               index=index, origin=body["origins"][0])
        emit(self.tx, VersionCreated(collection_id, version_id))
        set_alias(self.tx, collection_id, LATEST, version_id)
        self.touched.add(collection_id)
        return version_id

    def _link(self, con: apsw.Connection, body: dict[str, Any]) -> None:
        collection_id, name, registry_id, type_ = self.collections[body["collection"]]
        assert registry_id is not None
        source = self.versions[body["source"]]
        label = f"{name}:v{body['index']}"
        local = self._by_origin(con, body["origins"], collection_id, None, source)
        outcome = "reused"
        if local is None:
            local = live_link(con, collection_id, source)
            if local is None:
                local = self._create_link(con, collection_id, registry_id, type_, source, body)
                outcome = "created"
            self._origins(con, body["origins"], local)
        self.counts[f"links_{outcome}"] += 1
        self._aliases(con, collection_id, name, registry_id, local, body["aliases"])
        self.copied.append(Copied(label, self._name(con, local), outcome))

    def _create_link(
        self, con: apsw.Connection, collection_id: int, registry_id: int, type_: str, source: int, body: dict[str, Any]
    ) -> int:
        who = self.actor
        registry = con.execute("SELECT name, all_types FROM registries WHERE id = ?", (registry_id,)).fetchone()
        assert registry is not None
        require(con, registry_id, who.user, "member", f"linking into registry {registry[0]!r}")
        check_accepts(con, registry_id, registry[0], bool(registry[1]), type_)
        _revive(con, collection_id)
        link_id = add_link(self.tx, registry_id, collection_id, source, created_at=body["created_at"], created_by=body["created_by"],
                           origin=body["origins"][0])
        keep_source(self.tx, source)
        return link_id

    def _by_origin(self, con: apsw.Connection, origins: Sequence[str], collection_id: int, digest: str | None,
                   source: int | None) -> int | None:
        """The live local row that one of ``origins`` names, in this collection with this content (or link source).

        A row found by origin but with other content is not taken: the origin then cannot
        be trusted (a registry file copied whole shares its UUID with the original).
        """
        own = [int(o.rpartition(":")[2]) for o in origins if o.rpartition(":")[0] == self.uuid]
        for version_id, found_collection, found_digest, found_source in con.execute(
            VERSIONS_BY_ORIGIN, {"origins": json.dumps(list(origins)), "own": json.dumps(own)}
        ):
            if found_collection == collection_id and found_source == source and (source is not None or found_digest == digest):
                return int(version_id)
        return None

    def _origins(self, con: apsw.Connection, origins: Sequence[str], local: int) -> None:
        """Remember the identities a row was found or made under. Not needed for a row found by one
        of them: a registry passes on every origin it knows, so the one that matched comes again."""
        con.executemany(INSERT_VERSION_ORIGIN, ((o, local) for o in origins if o.rpartition(":")[0] != self.uuid))

    def _aliases(self, con: apsw.Connection, collection_id: int, name: str, registry_id: int | None, local: int,
                 aliases: Sequence[str]) -> None:
        for alias in aliases:
            held = con.execute(HOLDER, (collection_id, alias)).fetchone()
            if held is not None and held[0] == local:
                continue
            if held is not None and self.keep:
                self.kept.append(f"{name}:{alias}")
                continue
            if registry_id is not None:
                role = require(con, registry_id, self.actor.user, "member", f"moving alias {alias!r} in {name}")
                if role != "admin" and is_protected(con, registry_id, alias):
                    raise PermissionDenied(f"only registry admins may add protected aliases ({alias}) in {name}")
            set_alias(self.tx, collection_id, alias, local)
            self.counts["aliases_moved"] += 1

    def _tags(self, con: apsw.Connection, version_id: int, tags: Sequence[str]) -> None:
        held = sorted(r[0] for r in con.execute("SELECT tag FROM version_tags WHERE version_id = ?", (version_id,)))
        added = [t for t in tags if t not in held]
        if added:
            con.executemany(INSERT_TAG, ((version_id, t) for t in added))
            record(self.tx, "tags_changed", version_id=version_id, before=held, after=sorted({*held, *added}))

    def _name(self, con: apsw.Connection, version_id: int) -> str:
        row: Any = con.execute(
            "SELECT p.name, c.name, v.idx FROM versions AS v JOIN collections AS c ON c.id = v.collection_id "
            "JOIN projects AS p ON p.id = c.project_id WHERE v.id = ?", (version_id,),
        ).fetchone()
        return f"{row[0]}/{row[1]}:v{row[2]}"

    # -- runs --------------------------------------------------------------------------

    def _run(self, con: apsw.Connection, body: dict[str, Any]) -> None:
        values = body["fields"]
        local = self._run_by_origin(con, body["origins"], values["started_at"])
        if local is None:
            project, key = body["project"], values["run_key"]
            project_id = ensure_project(con, project, self.actor.at)
            if con.execute(KEY_TAKEN, (project_id, key)).fetchone() is not None:
                # Another run has this id here (ids made by hand, or the row ids older files got):
                # this one keeps its history and lineage under a fresh id, and the report says so.
                values = {**values, "run_key": new_run_key(con, project)}
                self.renamed.append(f"{project}/{key} -> {project}/{values['run_key']}")
            row = [dump_json(values[f]) if f in JSON_RUN_FIELDS else values[f] for f in RUN_FIELDS]
            local = int(con.execute(INSERT_RUN, (project_id, *row)).fetchone()[0])  # type: ignore[index]
            con.executemany(INSERT_RUN_ORIGIN, ((o, local) for o in body["origins"] if o.rpartition(":")[0] != self.uuid))
            con.executemany(INSERT_STEP, ((local, *step) for step in self.staging.execute(BUNDLE_HISTORY, (body["id"],))))
            self.counts["runs_created"] += 1
        else:
            if origin(self.uuid, local) not in body["origins"]:  # a copy here, not this registry's own run
                self._catch_up(con, local, body)
            self.counts["runs_reused"] += 1
        con.executemany(INSERT_OUTPUT, ((local, self.versions[v]) for v in body["outputs"]))
        con.executemany(INSERT_INPUT, ((local, self.versions[v]) for v in body["inputs"]))

    def _catch_up(self, con: apsw.Connection, local: int, body: dict[str, Any]) -> None:
        """A run copied here while it was running: a later copy brings what it did since (its new
        history steps, summary and config, its end). A copy that is no longer running is left as it is."""
        state = con.execute("SELECT state FROM runs WHERE id = ?", (local,)).fetchone()
        if state is None or state[0] != "running":
            return
        values = body["fields"]
        con.executemany(INSERT_NEW_STEP, ((local, *step) for step in self.staging.execute(BUNDLE_HISTORY, (body["id"],))))
        con.execute(CATCH_UP_RUN, (local, values["summary"], dump_json(values["config"])))
        con.execute(FINISH_RUN, (values["state"], values["error"], values["finished_at"], local))

    def _run_by_origin(self, con: apsw.Connection, origins: Sequence[str], started_at: str) -> int | None:
        """The local run one of ``origins`` names. A run of this registry itself (its own UUID) must
        also have started at the same moment: a registry file copied whole shares its UUID."""
        found = con.execute(RUN_BY_ORIGIN, (json.dumps(list(origins)),)).fetchone()
        if found is not None:
            return int(found[0])
        own = [int(o.rpartition(":")[2]) for o in origins if o.rpartition(":")[0] == self.uuid]
        for run_id, started in con.execute(OWN_RUNS, (json.dumps(own),)):
            if started == started_at:
                return int(run_id)
        return None

    # -- blobs -------------------------------------------------------------------------

    def _blobs(self, con: apsw.Connection) -> None:
        """Blob rows for what the created versions name and the registry lacked; files to place at the end."""
        blob_rows.insert(con, self._blob_rows())  # a generator: rows are streamed, never all in a list

    def _blob_rows(self) -> Iterator[tuple[str, int, bytes | None]]:
        held = self.sink.inline
        for digest, size, data, path, state in self.staging.execute(CREATED_BLOBS):
            if path is not None:
                self.placed.append(Staged(digest, size, path))
                self.shared += state == 1  # adopted from the store the source shares: no byte came
            elif data is None:
                data = held.get(digest)
                if data is None:  # the reader ruled this out
                    raise IntegrityError(f"blob {digest} was neither in the bundle nor in the registry")
            yield digest, size, data


class _Rehearsed(Exception):
    """Raised at the end of a rehearsal to roll its transaction back."""


def missing_version(label: str, digest: str) -> NotFound:
    return NotFound(
        f"the bundle was made against a basis: it needs {label} (digest {digest[:12]}…), which this registry "
        "does not hold; import the bundles it was based on first"
    )


def _revive(con: apsw.Connection, collection_id: int) -> None:
    """Logging or linking into a deleted collection revives it; its indices go on, never reused."""
    con.execute("UPDATE collections SET deleted_at = NULL WHERE id = ? AND deleted_at IS NOT NULL", (collection_id,))
