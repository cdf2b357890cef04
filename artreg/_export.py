"""Writing a bundle: the selected versions, their links, runs and bytes, as one tar stream.

The records are read in one snapshot of the registry, so a bundle never mixes states. The
store lock is held shared from the first record to the last blob, so ``gc`` cannot remove
a blob the records name before it is sent. Memory stays flat: each blob is streamed, and
the set of blobs to send lives in a scratch database (``staging_db``), not in memory.

What the receiver already holds (an ``Inventory``: a registry being copied into, or the
bundles given as a basis) is left out: such a version travels as ``known`` (its aliases and
tags only), and such a blob is declared in ``receiver_blobs`` instead of being sent.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from itertools import islice
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol

import apsw

from ._access import role_of
from ._bundle import (
    BLOB_PREFIX,
    END_MEMBER,
    ENTRIES_PER_RECORD,
    FORMAT,
    FORMAT_VERSION,
    HEADER_MEMBER,
    HISTORY_PER_RECORD,
    JSON_RUN_FIELDS,
    RECORDS_BYTES,
    RUN_FIELDS,
    Copied,
    CopyReport,
    RecordWriter,
    blob_member,
    digest_batches,
    encode,
    origin,
    staging_db,
)
from ._clock import format_time
from ._errors import Conflict, DiskError, IntegrityError, InvalidName
from ._progress import ProgressCallback, Tracker
from ._tar import TarWriter
from .storage import _blob_rows as blob_rows
from .storage import _chunks as chunks
from .storage._blobs import BlobStore, copy_hashing

if TYPE_CHECKING:
    from ._context import Context

# Versions asked of an Inventory at once, and blob rows read from the registry at once.
BATCH = 500

VERSIONS = """
SELECT v.id, v.collection_id, v.idx, v.digest, v.size, v.file_count, v.description, v.metadata, v.created_at, v.created_by,
       v.ttl_policy, v.ttl_seconds, v.source_id,
       (SELECT json_group_array(alias) FROM (SELECT alias FROM aliases WHERE version_id = v.id AND alias != 'latest' ORDER BY alias)),
       (SELECT json_group_array(tag) FROM (SELECT tag FROM version_tags WHERE version_id = v.id ORDER BY tag)),
       (SELECT json_group_array(origin) FROM (SELECT origin FROM version_origins WHERE version_id = v.id ORDER BY origin))
FROM versions AS v WHERE v.id IN (SELECT value FROM json_each(?)) AND v.state = 'committed' ORDER BY v.collection_id, v.idx
"""
# A version chosen for a bundle: (its id, the id of the version it links to, or None).
Chosen = tuple[int, int | None]
ALL_VERSIONS = "SELECT id FROM versions WHERE state = 'committed' AND source_id IS NULL ORDER BY id"
ALL_LINKS = """
SELECT v.id, r.id FROM versions AS v JOIN collections AS c ON c.id = v.collection_id JOIN registries AS r ON r.project_id = c.project_id
WHERE v.state = 'committed' AND v.source_id IS NOT NULL ORDER BY v.id
"""
LINKS_OF = """
SELECT v.id, r.id FROM versions AS v JOIN collections AS c ON c.id = v.collection_id JOIN registries AS r ON r.project_id = c.project_id
WHERE v.source_id = ? AND v.state = 'committed'
"""
COLLECTION = """
SELECT c.name, c.type, c.description, c.created_at, p.name, r.name,
       (SELECT json_group_array(tag) FROM (SELECT tag FROM collection_tags WHERE collection_id = c.id ORDER BY tag))
FROM collections AS c JOIN projects AS p ON p.id = c.project_id LEFT JOIN registries AS r ON r.project_id = p.id WHERE c.id = ?
"""
REGISTRY = """
SELECT r.name, r.description, r.all_types, r.visibility, r.default_role, r.created_at, r.created_by,
       (SELECT json_group_array(type) FROM (SELECT type FROM registry_types WHERE registry_id = r.id ORDER BY type)),
       (SELECT json_group_array(alias) FROM (SELECT alias FROM protected_aliases WHERE registry_id = r.id ORDER BY alias))
FROM registries AS r WHERE r.id = ?
"""
OUTPUTS = "SELECT o.run_id, o.version_id FROM json_each(? /* bigint */) AS j JOIN run_outputs AS o ON o.version_id = j.value"
INPUTS = "SELECT i.run_id, i.version_id FROM json_each(? /* bigint */) AS j JOIN run_inputs AS i ON i.version_id = j.value"
RUNS = f"""
SELECT r.id, p.name, {", ".join(f"r.{f}" for f in RUN_FIELDS)},
       (SELECT json_group_array(origin) FROM (SELECT origin FROM run_origins WHERE run_id = r.id ORDER BY origin))
FROM runs AS r JOIN projects AS p ON p.id = r.project_id WHERE r.id IN (SELECT value FROM json_each(?)) ORDER BY r.id
"""
HISTORY = "SELECT step, data, at FROM run_history WHERE run_id = ? ORDER BY step"

NEED_SCHEMA = """
CREATE TABLE need (digest TEXT PRIMARY KEY, size INTEGER NOT NULL, version INTEGER NOT NULL, path TEXT NOT NULL,
                   held INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;
"""
INSERT_NEED = "INSERT INTO need(digest, size, version, path) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING"


class Inventory(Protocol):
    """What the receiver of a bundle holds already, so that the bundle can leave it out."""

    def held_versions(self, candidates: Sequence[tuple[Sequence[str], str]]) -> list[bool]:
        """For each (origins, digest): whether the receiver holds that version (with that content)."""
        ...

    def held_blobs(self, digests: Sequence[str]) -> set[str]:
        """The digests among ``digests`` whose bytes the receiver holds."""
        ...


class Nothing:
    """The inventory of a receiver assumed to hold nothing: the bundle is self-contained."""

    def held_versions(self, candidates: Sequence[tuple[Sequence[str], str]]) -> list[bool]:
        return [False] * len(candidates)

    def held_blobs(self, digests: Sequence[str]) -> set[str]:
        return set()


@contextmanager
def bundle_output(target: str | os.PathLike[str] | BinaryIO) -> Iterator[BinaryIO]:
    """A binary stream to write a bundle to: a file object as given, or a path.

    A path is written as a temporary file beside it, fsynced and renamed into place only
    when the bundle is complete, so a failed export leaves no partial bundle behind.
    """
    if not isinstance(target, (str, os.PathLike)):
        if not hasattr(target, "write") or isinstance(target, io.TextIOBase):
            raise InvalidName(f"a bundle goes to a path or a binary file object, not {type(target).__name__}")
        yield target
        return
    path = os.path.abspath(os.fspath(target))
    folder, name = os.path.split(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")
    except OSError as exc:
        raise DiskError(f"cannot write the bundle {os.fspath(target)!r}: {exc.strerror or exc}", exc.errno) from exc
    try:
        with open(fd, "wb") as out:
            yield out
            try:
                out.flush()
                os.fsync(out.fileno())
                os.replace(tmp, path)
            except OSError as exc:
                raise DiskError(f"cannot write the bundle {os.fspath(target)!r}: {exc.strerror or exc}", exc.errno) from exc
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_bundle(
    ctx: Context,
    out: BinaryIO,
    chosen: Sequence[Chosen] | None,
    inventory: Inventory,
    *,
    basis: bool,
    progress: ProgressCallback | None = None,
) -> CopyReport:
    """Write the bundle of the ``chosen`` versions (None: every live version and link) to ``out``; see ``Registry.export_bundle``."""
    from ._version import __version__

    now = ctx.now()
    with ctx.store.lock(exclusive=False):
        tar = TarWriter(out, int(now.timestamp()))
        header = {
            "format": FORMAT, "version": FORMAT_VERSION, "source": ctx.uuid, "created_at": format_time(now),
            "created_by": ctx.user, "artreg": __version__, "basis": basis,
        }
        tar.add(HEADER_MEMBER, encode(header))
        writer = _Writer(ctx, tar, inventory)
        try:
            with ctx.read() as con:  # one snapshot: the selection and every record agree
                versions, links, registries = _select(ctx, chosen)
                writer.records(con, versions, links, registries)
            writer.receiver_blobs()
            writer.out.flush()
            writer.blobs(progress)
            end = {
                "records": writer.out.records, "record_members": writer.out.members, "records_sha256": writer.out.digest(),
                "blobs": writer.blobs_sent, "blob_bytes": writer.bytes_sent,
            }
            tar.add(END_MEMBER, encode(end))
            tar.close()
        finally:
            writer.staging.close()
    return CopyReport(blobs_sent=writer.blobs_sent, bytes_sent=writer.bytes_sent, copied=tuple(writer.copied))


def _select(ctx: Context, chosen_versions: Sequence[Chosen] | None) -> tuple[list[int], list[int], list[int]]:
    """(version ids, link ids, registry ids) to export; links only from registries the user can see."""
    with ctx.read() as con:
        visible: dict[int, bool] = {}

        def can_see(registry_id: int) -> bool:
            if registry_id not in visible:
                visible[registry_id] = role_of(con, registry_id, ctx.user) is not None
            return visible[registry_id]

        if chosen_versions is None:
            versions = [r[0] for r in con.execute(ALL_VERSIONS)]
            links = [link for link, registry in con.execute(ALL_LINKS) if can_see(registry)]
            registries = [r[0] for r in con.execute("SELECT id FROM registries ORDER BY name") if can_see(r[0])]
            return versions, links, registries
        chosen: dict[int, None] = {}
        linked: dict[int, None] = {}
        for version_id, source_id in chosen_versions:
            if source_id is not None:
                linked[version_id] = None
                chosen[source_id] = None
            else:
                chosen[version_id] = None
                for link, registry in con.execute(LINKS_OF, (version_id,)):
                    if can_see(registry):
                        linked[link] = None
        registry_ids = sorted({
            r[0] for r in con.execute(
                "SELECT DISTINCT r.id FROM versions AS v JOIN collections AS c ON c.id = v.collection_id "
                "JOIN registries AS r ON r.project_id = c.project_id WHERE v.id IN (SELECT value FROM json_each(?))",
                (json.dumps(list(linked)),),
            )
        })
    return list(chosen), list(linked), registry_ids


class _Writer:
    """The state of one export: bundle ids given so far, the blobs to send, the report."""

    def __init__(self, ctx: Context, tar: TarWriter, inventory: Inventory) -> None:
        self.ctx = ctx
        self.tar = tar
        self.out = RecordWriter(tar)
        self.inventory = inventory
        self.uuid = ctx.uuid
        self.staging = staging_db()
        self.staging.execute(NEED_SCHEMA)
        self.collections: dict[int, int] = {}  # local collection id -> bundle id
        self.names: dict[int, str] = {}  # local collection id -> "project/name"
        self.links = 0
        self.runs = 0
        self.versions: dict[int, int] = {}  # local version id -> bundle id
        self.labels: list[str] = []  # bundle version id -> name, for messages
        self.copied: list[Copied] = []
        self.blobs_sent = 0
        self.bytes_sent = 0

    # -- records -----------------------------------------------------------------------

    def records(self, con: apsw.Connection, versions: list[int], links: list[int], registries: list[int]) -> None:
        for registry_id in registries:
            self._registry(con, registry_id)
        self.staging.execute("BEGIN")
        try:
            rows = con.execute(VERSIONS, (json.dumps(versions),))
            while batch := list(islice(rows, BATCH)):
                self._versions(con, batch)
            self.staging.execute("COMMIT")
        except BaseException:
            self.staging.execute("ROLLBACK")
            raise
        for row in con.execute(VERSIONS, (json.dumps(links),)):
            self._link(con, row)
        self._runs(con)

    def _registry(self, con: apsw.Connection, registry_id: int) -> None:
        row: Any = con.execute(REGISTRY, (registry_id,)).fetchone()
        name, description, all_types, visibility, default_role, created_at, created_by, types, protected = row
        self.out.add({
            "kind": "registry", "name": name, "description": description, "artifact_types": None if all_types else json.loads(types),
            "visibility": visibility, "default_role": default_role, "protected_aliases": json.loads(protected),
            "created_at": created_at, "created_by": created_by,
        })

    def _collection(self, con: apsw.Connection, collection_id: int) -> int:
        found = self.collections.get(collection_id)
        if found is not None:
            return found
        bid = self.collections[collection_id] = len(self.collections)
        row: Any = con.execute(COLLECTION, (collection_id,)).fetchone()
        name, type_, description, created_at, project, registry, tags = row
        self.names[collection_id] = f"{project}/{name}"
        self.out.add({
            "kind": "collection", "id": bid, "project": None if registry else project, "registry": registry, "name": name,
            "type": type_, "description": description, "tags": json.loads(tags), "created_at": created_at,
        })
        return bid

    def _versions(self, con: apsw.Connection, batch: list[Any]) -> None:
        candidates = [([origin(self.uuid, row[0]), *json.loads(row[15])], row[3]) for row in batch]
        held = self.inventory.held_versions(candidates)
        for row, (origins, _digest), known in zip(batch, candidates, held, strict=True):
            (version_id, collection_id, index, digest, size, file_count, description, metadata, created_at, created_by,
             ttl_policy, ttl_seconds, _source, aliases, tags, _origins) = row
            collection = self._collection(con, collection_id)
            bid = self.versions[version_id] = len(self.labels)
            label = f"{self.names[collection_id]}:v{index}"
            self.labels.append(label)
            self.out.add({
                "kind": "version", "id": bid, "origins": origins, "collection": collection, "index": index, "digest": digest,
                "size": size, "file_count": file_count, "description": description, "metadata": json.loads(metadata),
                "created_at": created_at, "created_by": created_by, "ttl": _ttl(ttl_policy, ttl_seconds),
                "aliases": json.loads(aliases), "tags": json.loads(tags), "known": known,
            })
            self.copied.append(Copied(label, None, "known" if known else "sent"))
            if not known:
                self._entries(con, version_id, bid)

    def _entries(self, con: apsw.Connection, version_id: int, bid: int) -> None:
        cursor = chunks.scan(con, version_id)  # in path order, inside the export's one snapshot
        while chunk := list(islice(cursor, ENTRIES_PER_RECORD)):
            rows = [[path, digest, size, ref, {} if extra == "{}" else json.loads(extra)] for path, digest, size, ref, extra in chunk]
            self._rows_record("entries", "version", bid, rows)
            self.staging.executemany(INSERT_NEED, ((r[1], r[2], bid, r[0]) for r in chunk if r[3] is None))

    def _rows_record(self, kind: str, owner: str, bid: int, rows: list[list[Any]]) -> None:
        """One record of rows (``entries`` of a version, ``history`` of a run), or several when long values make it large."""
        line = encode({"kind": kind, owner: bid, "rows": rows})
        if len(line) > 4 * RECORDS_BYTES and len(rows) > 1:
            half = len(rows) // 2
            self._rows_record(kind, owner, bid, rows[:half])
            self._rows_record(kind, owner, bid, rows[half:])
        else:
            self.out.add_line(line)

    def _link(self, con: apsw.Connection, row: Any) -> None:
        link_id, collection_id, index, _digest, _size, _count, _d, _m, created_at, created_by, _p, _s, source_id, aliases, _t, origins = row
        collection = self._collection(con, collection_id)
        label = f"{self.names[collection_id]}:v{index}"
        source = self.versions.get(source_id)
        if source is None:  # every link's source is selected with it, and a deleted version has no live links
            raise Conflict(f"link {label} lost its source while it was being exported")
        self.links += 1
        self.out.add({
            "kind": "link", "id": self.links - 1, "origins": [origin(self.uuid, link_id), *json.loads(origins)], "collection": collection,
            "index": index, "source": source, "created_at": created_at, "created_by": created_by, "aliases": json.loads(aliases),
        })
        self.copied.append(Copied(label, None, "sent"))

    def _runs(self, con: apsw.Connection) -> None:
        ids = json.dumps(list(self.versions))
        edges: dict[int, tuple[list[int], list[int]]] = {}
        for run_id, version_id in con.execute(OUTPUTS, (ids,)):
            edges.setdefault(run_id, ([], []))[0].append(self.versions[version_id])
        for run_id, version_id in con.execute(INPUTS, (ids,)):
            edges.setdefault(run_id, ([], []))[1].append(self.versions[version_id])
        for row in con.execute(RUNS, (json.dumps(sorted(edges)),)):
            run_id, project = row[0], row[1]
            values = dict(zip(RUN_FIELDS, row[2:-1], strict=True))
            for name in JSON_RUN_FIELDS:
                values[name] = json.loads(values[name])
            outputs, inputs = edges[run_id]
            bid = self.runs
            self.runs += 1
            self.out.add({
                "kind": "run", "id": bid, "origins": [origin(self.uuid, run_id), *json.loads(row[-1])], "project": project,
                "fields": values, "outputs": sorted(outputs), "inputs": sorted(inputs),
            })
            history = con.execute(HISTORY, (run_id,))
            while chunk := [list(r) for r in islice(history, HISTORY_PER_RECORD)]:
                self._rows_record("history", "run", bid, chunk)

    def receiver_blobs(self) -> None:
        """Ask the inventory which blobs it holds; declare those instead of sending them."""
        any_held = False
        with self.staging:
            for batch in digest_batches(self.staging, BATCH):
                held = self.inventory.held_blobs(batch)
                self.staging.executemany("UPDATE need SET held = 1 WHERE digest = ?", ((d,) for d in held))
                any_held = any_held or bool(held)
        if not any_held:
            return
        rows = self.staging.execute("SELECT digest, size FROM need WHERE held = 1 ORDER BY digest")
        while chunk := [list(r) for r in islice(rows, ENTRIES_PER_RECORD)]:
            self.out.add({"kind": "receiver_blobs", "blobs": chunk})

    # -- blobs -------------------------------------------------------------------------

    def blobs(self, progress: ProgressCallback | None) -> None:
        (count, total), = self.staging.execute("SELECT count(*), coalesce(sum(size), 0) FROM need WHERE held = 0")
        tracker = Tracker(progress, count, total)
        store = self.ctx.store
        add, sha256 = self.tar.add, hashlib.sha256  # this loop runs once per blob: 10,000 times for 10,000 small files
        advance = tracker.advance if progress is not None else None
        cursor = self.staging.execute("SELECT digest, size, version, path FROM need WHERE held = 0 ORDER BY digest")
        while batch := list(islice(cursor, BATCH)):
            with self.ctx.read() as con:
                rows = {d: (s, data) for d, s, data in con.execute(blob_rows.SELECT_SIZED, (json.dumps([b[0] for b in batch]),))}
            for digest, size, bid, path in batch:
                found = rows.get(digest)
                if found is None or found[0] != size:
                    raise IntegrityError(f"cannot export {self._where(bid, path)}: its blob {digest} is missing from the registry",
                                         missing=[digest])
                data = found[1]
                if data is None:
                    self._file_blob(store, digest, size, self._where(bid, path))
                elif len(data) != size or sha256(data).hexdigest() != digest:
                    raise IntegrityError(f"cannot export {self._where(bid, path)}: its blob {digest} is corrupt in the registry")
                else:
                    add(f"{BLOB_PREFIX}{digest[:2]}/{digest[2:]}", data)  # blob_member(), inlined
                if advance is not None:
                    advance(size)
            self.blobs_sent += len(batch)
            self.bytes_sent += sum(b[1] for b in batch)

    def _where(self, bid: int, path: str) -> str:
        return f"{self.labels[bid]} {path!r}"

    def _file_blob(self, store: BlobStore, digest: str, size: int, where: str) -> None:
        """Stream a blob kept as a file into the bundle, hashed on the way: from ``objects/``, or
        for a registry whose blobs are in a bucket, from its cached copy or else from the bucket
        (without filling the cache)."""
        files = store.files
        assert files is not None
        try:
            if files.remote:
                handle: Any = files.open(digest, size)
            else:
                handle = open(store.object_path(digest), "rb", buffering=0)  # noqa: SIM115 - closed below
        except FileNotFoundError as exc:
            raise IntegrityError(f"cannot export {where}: its blob file {digest} is missing", missing=[digest]) from exc
        except IntegrityError as exc:
            raise IntegrityError(f"cannot export {where}: {exc}", missing=[digest]) from exc
        with handle:
            self.tar.begin(blob_member(digest), size)
            found, copied = copy_hashing(_Bounded(handle, size), self.tar.write)  # type: ignore[arg-type]
        if copied != size or found != digest:
            # The member is already under way: the bundle is left without its end and will be refused.
            where_from = f"in {files.url} or its cached copy" if files.remote else "in the registry"
            raise IntegrityError(f"cannot export {where}: its blob {digest} is corrupt {where_from} "
                                 f"({copied:,} of {size:,} bytes read); `artreg check` tells which")
        self.tar.end(size)


class _Bounded:
    """At most ``size`` bytes of a raw file, through ``readinto``."""

    def __init__(self, raw: Any, size: int) -> None:
        self._raw = raw
        self._left = size

    def readinto(self, view: memoryview) -> int:
        if not self._left:
            return 0
        n = int(self._raw.readinto(view[: min(len(view), self._left)]))
        self._left -= n
        return n


def _ttl(policy: str, seconds: float | None) -> str | float | None:
    """A version's TTL as a record holds it: ``"inherit"``, null (never expires) or seconds."""
    return "inherit" if policy == "inherit" else None if policy == "never" else seconds

