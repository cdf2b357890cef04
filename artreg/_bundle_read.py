"""Reading a bundle stream: every record validated and every blob checked, before anything is imported.

``BundleReader.read()`` goes through the stream once, in order, without seeking (so stdin
works). Records are checked field by field with artreg's own name rules, and against one
another: every reference points at an earlier record, nothing is named twice (a version,
an origin, an index, a manifest path, a blob), each manifest adds up to its version's
file count, size and digest. Their normalised form is kept in a scratch database
(``staging_db``), with the manifests. Each blob goes to a ``BlobSink``: ``verify_bundle``'s
only hashes it, an import's also stages it for the registry. At ``end.json`` the counts and
the sha256 of all record bytes must match, so a bundle cut short anywhere, or altered in a
record, is refused, and so is one that lacks a blob its entries name.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO, Protocol

import apsw

from ._access import check_role, check_visibility
from ._bundle import (
    END_MEMBER,
    ENTRIES_PER_RECORD,
    FORMAT,
    FORMAT_VERSION,
    HEADER_MEMBER,
    HISTORY_PER_RECORD,
    RECORDS_LIMIT,
    RECORDS_MEMBER,
    RUN_CHECKS,
    BundleSummary,
    Fields,
    check_digest,
    check_metadata_object,
    check_ref,
    check_time,
    check_ttl,
    check_uuid,
    decode,
    dump_extra,
    member_digest,
    metrics_text,
    staging_db,
)
from ._draft import _check_description
from ._errors import IntegrityError, InvalidName, NotFound
from ._names import (
    REGISTRY_PROJECT_PREFIX,
    check_alias,
    check_aliases,
    check_artifact_name,
    check_project,
    check_tags,
    check_type,
    dump_json,
    normalize_path,
)
from ._progress import ProgressCallback, Tracker
from ._tar import TarReader
from .storage._blobs import copy_hashing
from .storage._manifest import DIGEST_HEADER

# A logical path that normalize_path would leave as it is, unless a segment starts with "."
# (then "." and ".." segments are told apart the full way).
_PLAIN_PATH = re.compile(r"[^/\\\x00-\x1f\x7f-\x9f\ud800-\udfff]+(?:/[^/\\\x00-\x1f\x7f-\x9f\ud800-\udfff]+)*")
_DIGEST = re.compile(r"[0-9a-f]{64}")
HEADER_LIMIT = 1 << 20
READ_BUFFER = 1 << 20
# Where each kind may come: a record never comes before one of a lower rank (collections
# also come among links, for registry collections).
RANKS = {"registry": 0, "collection": 1, "version": 1, "entries": 1, "link": 2, "run": 3, "history": 3, "receiver_blobs": 4}

SCHEMA = """
CREATE TABLE records (seq INTEGER PRIMARY KEY, kind TEXT NOT NULL, body TEXT NOT NULL);
CREATE TABLE entries (version INTEGER NOT NULL, path TEXT NOT NULL, digest TEXT NOT NULL, size INTEGER NOT NULL,
                      ref TEXT, extra TEXT NOT NULL, PRIMARY KEY (version, path)) WITHOUT ROWID;
-- Blobs the entries name: state 0 = the bundle carries it, 1 = the receiver holds it.
-- held = 1: the importing registry has it already.
CREATE TABLE need (digest TEXT PRIMARY KEY, size INTEGER NOT NULL, version INTEGER NOT NULL, path TEXT NOT NULL,
                   state INTEGER NOT NULL DEFAULT 0, held INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;
CREATE TABLE inline (digest TEXT PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE staged (digest TEXT PRIMARY KEY, path TEXT NOT NULL);
CREATE TABLE history (run INTEGER NOT NULL, step INTEGER NOT NULL, data TEXT NOT NULL, at TEXT NOT NULL,
                      PRIMARY KEY (run, step)) WITHOUT ROWID;
"""
INSERT_HISTORY = "INSERT INTO history(run, step, data, at) VALUES (?, ?, ?, ?)"
INSERT_ENTRY = "INSERT INTO entries(version, path, digest, size, ref, extra) VALUES (?, ?, ?, ?, ?, ?)"
INSERT_NEED = "INSERT INTO need(digest, size, version, path) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING"
SIZE_CONFLICT = """
SELECT e.version, e.path, e.digest FROM entries AS e JOIN need AS n ON n.digest = e.digest
WHERE e.ref IS NULL AND e.size != n.size LIMIT 1
"""


class BlobSink(Protocol):
    """Where the blobs of a bundle go once its records are read."""

    def prepare(self, reader: BundleReader) -> None:
        """Called once, after the last record and before the first blob."""
        ...

    def blob(self, digest: str, size: int, member: BinaryIO, where: str, held: bool) -> None:
        """Consume one blob member's bytes; raise IntegrityError unless they hash to ``digest``.

        ``held``: ``prepare`` marked it as one the registry has already.
        """
        ...


class VerifySink:
    """Checks each blob against its digest and keeps nothing."""

    def prepare(self, reader: BundleReader) -> None:
        pass

    def blob(self, digest: str, size: int, member: BinaryIO, where: str, held: bool) -> None:
        found, _ = copy_hashing(member, ignore_chunk)
        if found != digest:
            raise damaged_blob(digest, where)


def ignore_chunk(_chunk: memoryview) -> None:
    """A writer for ``copy_hashing`` that keeps nothing (to check bytes without storing them)."""



def damaged_blob(digest: str, where: str) -> IntegrityError:
    return IntegrityError(f"bundle is damaged: blob {digest} ({where}) does not match its digest", mismatched=[where])


@contextmanager
def bundle_input(source: str | os.PathLike[str] | BinaryIO) -> Iterator[BinaryIO]:
    """A binary stream to read a bundle from: a file object as given, or a path opened with a 1 MiB buffer."""
    if not isinstance(source, (str, os.PathLike)):
        if not hasattr(source, "read") or isinstance(source, io.TextIOBase):
            raise InvalidName(f"a bundle comes from a path or a binary file object, not {type(source).__name__}")
        yield source
        return
    try:
        handle = open(os.fspath(source), "rb", buffering=READ_BUFFER)  # noqa: SIM115 - closed below
    except FileNotFoundError as exc:
        raise NotFound(f"no such bundle: {os.fspath(source)!r}") from exc
    except OSError as exc:
        raise InvalidName(f"cannot read the bundle {os.fspath(source)!r}: {exc.strerror or exc}") from exc
    with handle:
        yield handle


class BundleReader:
    """One pass over a bundle stream; afterwards ``staging`` holds its records and manifests for an import."""

    def __init__(self, src: BinaryIO, sink: BlobSink, progress: ProgressCallback | None = None) -> None:
        self.staging = staging_db()
        self.staging.execute(SCHEMA)
        self._tar = TarReader(src)
        self._sink = sink
        self._progress = progress
        self.header: dict[str, Any] = {}
        self.labels: dict[int, str] = {}  # bundle version id -> "project/name:vN"
        self.collections: dict[int, tuple[str, str | None]] = {}  # bundle id -> ("project/name", registry)
        self.registries: set[str] = set()
        self.versions: set[int] = set()
        self.links: set[int] = set()
        self.runs: set[int] = set()
        self.known = 0
        self._keys: set[str] = set()  # names, indices and origins seen, to refuse repeats
        self._rank = 0
        self._records = 0
        self._open: _OpenVersion | None = None
        self._run_open: tuple[int, int] | None = None  # (bundle id, last step) of the run whose history may follow
        self._hasher = hashlib.sha256()
        self._members = 0
        self._where = ""
        self._expected: Iterator[tuple[str, int, int, str, int]] = iter(())  # the blobs to come, in digest order
        self._next: tuple[str, int, int, str, int] | None = None

    def close(self) -> None:
        self.staging.close()

    # -- the stream --------------------------------------------------------------------

    def read(self) -> BundleSummary:
        """Read and check the whole bundle; raises IntegrityError (or NotFound, from the sink) when it is bad."""
        self._header()
        self.staging.execute("BEGIN")
        blobs = blob_bytes = 0
        tracker: Tracker | None = None
        while True:
            member = self._tar.next()
            if member is None:
                raise IntegrityError(f"bundle is truncated: its archive ends at byte {self._tar.offset:,} without {END_MEMBER}")
            name, size = member
            if name == RECORDS_MEMBER.format(self._members):
                if tracker is not None:
                    raise IntegrityError(f"bundle is damaged: record member {name} comes after blobs")
                self._record_member(name, size)
                continue
            digest = member_digest(name)
            if tracker is None and (digest is not None or name == END_MEMBER):
                tracker = self._end_records()
            if digest is not None:
                assert tracker is not None
                self._blob(digest, size)
                blobs += 1
                blob_bytes += size
                tracker.advance(size)
            elif name == END_MEMBER:
                self._end(size, blobs, blob_bytes)
                break
            else:
                raise IntegrityError(f"bundle is damaged or not an artreg bundle: unexpected member {name!r}")
        self.staging.execute("COMMIT")
        if self._tar.next() is not None or not self._tar.rest_is_zero():
            raise IntegrityError(f"bundle is damaged: it goes on after {END_MEMBER}")
        (receiver_blobs,) = self.staging.execute("SELECT count(*) FROM need WHERE state = 1").fetchone()  # type: ignore[misc]
        return BundleSummary(
            source=self.header["source"], created_at=self.header["created_at"], created_by=self.header["created_by"],
            versions=len(self.versions) - self.known, links=len(self.links), runs=len(self.runs), blobs=blobs, bytes=blob_bytes,
            receiver_versions=self.known, receiver_blobs=receiver_blobs,
        )

    def _header(self) -> None:
        member = self._tar.next()
        if member is None or member[0] != HEADER_MEMBER or member[1] > HEADER_LIMIT:
            raise IntegrityError(f"not an artreg bundle: it does not start with {HEADER_MEMBER}")
        header = decode(self._tar.read_small(), HEADER_MEMBER)
        fields = Fields(header, HEADER_MEMBER)
        if header.get("format") != FORMAT:
            raise IntegrityError(f"not an artreg bundle: {HEADER_MEMBER} names format {header.get('format')!r}")
        version = fields.integer("version", 1)
        if version > FORMAT_VERSION:
            raise IntegrityError(f"the bundle has format version {version}; this artreg reads up to {FORMAT_VERSION}: upgrade it")
        fields.checked("source", lambda v: check_uuid(v, fields))
        fields.time("created_at")
        fields.user("created_by")
        fields.flag("basis")
        self.header = header

    def _record_member(self, name: str, size: int) -> None:
        if size > RECORDS_LIMIT:
            raise IntegrityError(f"bundle is damaged: record member {name} claims {size:,} bytes")
        data = self._tar.read_small()
        self._hasher.update(data)
        self._members += 1
        lines = data.split(b"\n")
        if lines[-1]:
            raise IntegrityError(f"bundle is damaged: record member {name} does not end with a whole line")
        for number, line in enumerate(lines[:-1], 1):
            self._where = f"{name} line {number}"
            self._record(decode(line, self._where))

    def _end_records(self) -> Tracker:
        self._close_version()
        conflict = self.staging.execute(SIZE_CONFLICT).fetchone()
        if conflict is not None:
            version, path, digest = conflict
            raise IntegrityError(f"bundle is damaged: entry {path!r} of {self.labels[version]} gives blob {digest} another size")
        self._sink.prepare(self)
        (count, total), = self.staging.execute("SELECT count(*), coalesce(sum(size), 0) FROM need WHERE state = 0")
        # Blobs come in digest order, each once: a merge with the sorted list of those the
        # entries name, with no lookup per blob and no list of them in memory.
        self._expected = self.staging.execute("SELECT digest, size, version, path, held FROM need WHERE state = 0 ORDER BY digest")
        self._next = next(self._expected, None)
        return Tracker(self._progress, count, total)

    def _blob(self, digest: str, size: int) -> None:
        expected = self._next
        if expected is None or digest < expected[0]:
            raise self._unexpected(digest)
        if digest > expected[0]:
            raise self._lacking(expected)
        _, wanted, version, path, held = expected
        where = f"{self.labels[version]} {path!r}"
        if size != wanted:
            raise IntegrityError(f"bundle is damaged: blob {digest} ({where}) has {size:,} bytes, its entry says {wanted:,}")
        self._sink.blob(digest, size, self._tar.member(), where, bool(held))
        self._next = next(self._expected, None)

    def _unexpected(self, digest: str) -> IntegrityError:
        row = self.staging.execute("SELECT state, version, path FROM need WHERE digest = ?", (digest,)).fetchone()
        if row is None:
            return IntegrityError(f"bundle is damaged: it holds blob {digest}, which no entry names")
        where = f"{self.labels[row[1]]} {row[2]!r}"
        if row[0] == 1:
            return IntegrityError(f"bundle is damaged: blob {digest} ({where}) is declared as held by the receiver, yet it is carried")
        return IntegrityError(f"bundle is damaged: it holds blob {digest} ({where}) twice, or out of digest order")

    def _lacking(self, expected: tuple[str, int, int, str, int]) -> IntegrityError:
        digest, _, version, path, _ = expected
        return IntegrityError(f"bundle is damaged: it lacks blob {digest} of {self.labels[version]} {path!r}", missing=[path])

    def _end(self, size: int, blobs: int, blob_bytes: int) -> None:
        if size > HEADER_LIMIT:
            raise IntegrityError(f"bundle is damaged: {END_MEMBER} claims {size:,} bytes")
        end = Fields(decode(self._tar.read_small(), END_MEMBER), END_MEMBER)
        if self._next is not None:
            raise self._lacking(self._next)
        found = {"records": self._records, "record_members": self._members, "records_sha256": self._hasher.hexdigest(),
                 "blobs": blobs, "blob_bytes": blob_bytes}
        for key, value in found.items():
            if end.get(key) != value:
                raise IntegrityError(f"bundle is damaged: {END_MEMBER} says {key} is {end.get(key)!r}, the bundle has {value!r}")

    # -- records -----------------------------------------------------------------------

    def _record(self, record: dict[str, Any]) -> None:
        kind = record.get("kind")
        handler = _HANDLERS.get(kind) if isinstance(kind, str) else None
        if handler is None:
            raise IntegrityError(f"bundle is damaged: {self._where} has an unknown kind of record ({kind!r})")
        rank = RANKS[kind]  # type: ignore[index]
        if kind == "collection" and self._rank == 2:
            rank = 2
        if rank < self._rank:
            raise IntegrityError(f"bundle is damaged: {self._where} ({kind}) is out of order")
        self._rank = rank
        if kind != "entries":
            self._close_version()
        if kind != "history":
            self._run_open = None
        self._records += 1
        body = handler(self, Fields(record, f"{self._where} ({kind})"))
        if body is not None:
            self.staging.execute("INSERT INTO records(kind, body) VALUES (?, ?)", (kind, dump_json(body)))

    def _unique(self, key: str, fields: Fields, what: str) -> None:
        if key in self._keys:
            raise fields.fail(f"{what} is named twice in the bundle")
        self._keys.add(key)

    def _id(self, fields: Fields, seen: set[int], what: str) -> int:
        bid = fields.integer("id")
        if bid in seen:
            raise fields.fail(f"{what} id {bid} is used twice in the bundle")
        seen.add(bid)
        return bid

    def _registry(self, fields: Fields) -> dict[str, Any]:
        name = fields.checked("name", lambda v: check_project(v, kind="registry name"))
        self._unique(f"registry {name}", fields, f"registry {name!r}")
        self.registries.add(name)
        types = fields.get("artifact_types")
        return {
            "name": name,
            "description": fields.checked("description", _check_description),
            "artifact_types": None if types is None else fields.each("artifact_types", check_type),
            "visibility": fields.checked("visibility", check_visibility),
            "default_role": fields.checked("default_role", check_role),
            "protected_aliases": fields.each("protected_aliases", check_alias),
        }

    def _collection(self, fields: Fields) -> dict[str, Any]:
        registry = fields.get("registry")
        if registry is not None:
            if registry not in self.registries:
                raise fields.fail(f"registry {registry!r} is not described before it")
            project = REGISTRY_PROJECT_PREFIX + registry
        else:
            project = fields.checked("project", check_project)
            if project.startswith(REGISTRY_PROJECT_PREFIX):
                raise fields.fail(f"project {project!r} names a registry, but the collection has no registry")
        name = fields.checked("name", check_artifact_name)
        self._unique(f"collection {project}/{name}", fields, f"collection {project}/{name}")
        bid = fields.integer("id")
        if bid in self.collections:
            raise fields.fail(f"collection id {bid} is used twice in the bundle")
        self.collections[bid] = (f"{project}/{name}", registry)
        return {
            "id": bid, "project": project, "registry": registry, "name": name, "type": fields.checked("type", check_type),
            "description": fields.checked("description", _check_description), "tags": fields.checked("tags", check_tags),
            "created_at": fields.time("created_at"),
        }

    def _collection_of(self, fields: Fields, *, registry: bool) -> tuple[int, str]:
        bid = fields.integer("collection")
        found = self.collections.get(bid)
        if found is None:
            raise fields.fail(f"collection {bid} is not described before it")
        if (found[1] is not None) != registry:
            raise fields.fail(f"collection {found[0]} is {'not ' if registry else ''}a registry collection")
        return bid, found[0]

    def _version(self, fields: Fields) -> dict[str, Any]:
        collection, name = self._collection_of(fields, registry=False)
        index = fields.integer("index")
        label = f"{name}:v{index}"
        fields.where = f"{self._where} (version {label})"
        self._unique(f"version {collection} {index}", fields, f"version {label}")
        bid = self._id(fields, self.versions, "version")
        origins = fields.origins()
        for item in origins:
            self._unique(f"origin {item}", fields, f"version {label} (origin {item})")
        self.labels[bid] = label
        body = {
            "id": bid, "origins": origins, "collection": collection, "index": index, "digest": fields.digest("digest"),
            "size": fields.integer("size"), "file_count": fields.integer("file_count"),
            "description": fields.checked("description", _check_description), "metadata": fields.checked("metadata", check_metadata_object),
            "created_at": fields.time("created_at"), "created_by": fields.user("created_by"), "ttl": fields.checked("ttl", check_ttl),
            "aliases": fields.checked("aliases", check_aliases), "tags": fields.checked("tags", check_tags), "known": fields.flag("known"),
        }
        if body["known"]:
            self.known += 1
        else:
            self._open = _OpenVersion(bid, label, body["file_count"], body["size"], body["digest"])
        return body

    def _entries(self, fields: Fields) -> None:
        current = self._open
        version = fields.integer("version")
        if current is None or current.id != version:
            raise fields.fail(f"entries of version {version} do not follow that version's record")
        fields.where = f"{self._where} (entries of {current.label})"
        rows = fields.items("rows")
        if not rows or len(rows) > ENTRIES_PER_RECORD:
            raise fields.fail(f"an entries record holds 1-{ENTRIES_PER_RECORD:,} rows, not {len(rows):,}")
        out = []
        text = []
        last, total = current.last, 0
        # This loop runs once per manifest entry; the common case (a plain path, no reference,
        # no extra) is checked with a few cheap tests, and anything else the full way.
        for row in rows:
            if type(row) is not list or len(row) != 5:
                raise fields.fail(f"a manifest row is [path, digest, size, ref, extra], not {row!r}")
            path, digest, size, ref, extra = row
            if type(path) is not str or not (_PLAIN_PATH.fullmatch(path) and "/." not in "/" + path) and (
                fields.apply("rows", path, normalize_path) != path
            ):
                raise fields.fail(f"manifest path {path!r} is not a normalised logical path")
            if last is not None and path <= last:
                raise fields.fail(f"manifest path {path!r} repeats or is out of order")
            last = path
            if type(digest) is not str or not _DIGEST.fullmatch(digest):
                check_digest(digest, fields)
            if type(size) is not int or size < 0:
                raise fields.fail(f"entry {path!r} has size {size!r}")
            if ref is not None and (type(ref) is not str or not ref or fields.apply("rows", ref, check_ref) != ref):
                raise fields.fail(f"entry {path!r} has reference {ref!r}")
            if type(extra) is not dict:
                raise fields.fail(f"entry {path!r} has extra {extra!r}, not an object")
            out.append((version, path, digest, size, ref, fields.apply("rows", extra, dump_extra) if extra else "{}"))
            text.append(f"{path}:{digest}\n")
            total += size
        current.last = last
        current.count += len(rows)
        current.size += total
        current.hasher.update("".join(text).encode())
        self.staging.executemany(INSERT_ENTRY, out)
        self.staging.executemany(INSERT_NEED, ((d, s, v, p) for v, p, d, s, r, _x in out if r is None))
        return None

    def _close_version(self) -> None:
        current, self._open = self._open, None
        if current is None:
            return
        problem = None
        if current.count != current.file_count:
            problem = f"has {current.count:,} manifest entries, its record says {current.file_count:,}"
        elif current.size != current.total:
            problem = f"has entries of {current.size:,} bytes, its record says {current.total:,}"
        elif current.hasher.hexdigest() != current.digest:
            problem = "has a manifest that does not hash to its digest"
        if problem:
            raise IntegrityError(f"bundle is damaged: version {current.label} {problem}")

    def _link(self, fields: Fields) -> dict[str, Any]:
        collection, name = self._collection_of(fields, registry=True)
        index = fields.integer("index")
        label = f"{name}:v{index}"
        fields.where = f"{self._where} (link {label})"
        self._unique(f"version {collection} {index}", fields, f"link {label}")
        bid = self._id(fields, self.links, "link")
        source = fields.integer("source")
        if source not in self.versions:
            raise fields.fail(f"its source, version {source}, is not described before it")
        self._unique(f"link {collection} {source}", fields, f"the link of {self.labels[source]} in {name}")
        origins = fields.origins()
        for item in origins:
            self._unique(f"origin {item}", fields, f"link {label} (origin {item})")
        return {
            "id": bid, "origins": origins, "collection": collection, "index": index, "source": source,
            "created_at": fields.time("created_at"), "created_by": fields.user("created_by"),
            "aliases": fields.checked("aliases", check_aliases),
        }

    def _run(self, fields: Fields) -> dict[str, Any]:
        bid = self._id(fields, self.runs, "run")
        origins = fields.origins()
        for item in origins:
            self._unique(f"run origin {item}", fields, f"run {bid} (origin {item})")
        values = fields.get("fields")
        if not isinstance(values, dict):
            raise fields.fail("fields must be an object")
        run = Fields(values, f"{fields.where} fields")
        checked = {name: check(run, name) for name, check in RUN_CHECKS.items()}
        edges = {}
        for key in ("outputs", "inputs"):
            ids = fields.ids(key)
            unknown = [v for v in ids if v not in self.versions]
            if unknown or len(set(ids)) != len(ids):
                raise fields.fail(f"{key} must name versions described before it, once each")
            edges[key] = ids
        project = fields.checked("project", check_project)
        self._unique(f"run id {project}/{checked['run_key']}", fields, f"run {project}/{checked['run_key']}")
        self._run_open = (bid, -1)
        return {"id": bid, "origins": origins, "project": project, "fields": checked, **edges}

    def _history(self, fields: Fields) -> None:
        run = fields.integer("run")
        if self._run_open is None or self._run_open[0] != run:
            raise fields.fail(f"the history of run {run} does not follow that run's record")
        rows = fields.items("rows")
        if not rows or len(rows) > HISTORY_PER_RECORD:
            raise fields.fail(f"a history record holds 1-{HISTORY_PER_RECORD:,} rows, not {len(rows):,}")
        last = self._run_open[1]
        out = []
        for row in rows:
            if type(row) is not list or len(row) != 3:
                raise fields.fail(f"a history row is [step, values, time], not {row!r}")
            step, data, at = row
            if type(step) is not int or step <= last:
                raise fields.fail(f"history step {step!r} repeats, is out of order or is not an integer >= 0")
            last = step
            out.append((run, step, metrics_text(data, fields, f"step {step}"), check_time(at, fields, f"step {step} time")))
        self._run_open = (run, last)
        self.staging.executemany(INSERT_HISTORY, out)
        return None

    def _receiver_blobs(self, fields: Fields) -> None:
        for item in fields.items("blobs"):
            if not isinstance(item, list) or len(item) != 2:
                raise fields.fail(f"a receiver blob is [digest, size], not {item!r}")
            digest = check_digest(item[0], fields)
            row = self.staging.execute("SELECT size, state FROM need WHERE digest = ?", (digest,)).fetchone()
            if row is None or row[0] != item[1] or row[1] != 0:
                raise fields.fail(f"blob {digest} is not one the entries name once with that size")
            self.staging.execute("UPDATE need SET state = 1 WHERE digest = ?", (digest,))
        return None


class _OpenVersion:
    """The version whose manifest rows are being read: what they must add up to, and what they add up to so far."""

    def __init__(self, bid: int, label: str, file_count: int, total: int, digest: str) -> None:
        self.id = bid
        self.label = label
        self.file_count = file_count
        self.total = total
        self.digest = digest
        self.count = 0
        self.size = 0
        self.last: str | None = None
        self.hasher = hashlib.sha256(DIGEST_HEADER)


_HANDLERS: dict[str, Any] = {
    "registry": BundleReader._registry,
    "collection": BundleReader._collection,
    "version": BundleReader._version,
    "entries": BundleReader._entries,
    "link": BundleReader._link,
    "run": BundleReader._run,
    "history": BundleReader._history,
    "receiver_blobs": BundleReader._receiver_blobs,
}


def records(staging: apsw.Connection, kind: str | None = None) -> Iterator[tuple[str, dict[str, Any]]]:
    """The checked records an import replays, in bundle order (optionally of one kind)."""
    if kind is None:
        rows = staging.execute("SELECT kind, body FROM records ORDER BY seq")
    else:
        rows = staging.execute("SELECT kind, body FROM records WHERE kind = ? ORDER BY seq", (kind,))
    for found, body in rows:
        yield found, json.loads(body)
