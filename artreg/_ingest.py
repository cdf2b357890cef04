"""Turning a draft's entries into stored blobs, ready for the version's transaction.

Runs outside any transaction, under the store lock held shared. First every local file is
looked up in the stat cache (``known_digests``); when that gives the whole manifest and it
equals the collection's ``latest``, nothing is read at all. Otherwise ``ingest`` stores
what is missing, reading each file once and hashing it while it is stored.

Reference entries (SPEC §10) store nothing: they pass through with the digest recorded when
they were added, except ``file://`` ones with a checksum, which are hashed here like local
files (the stat cache applies to them too).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field

import apsw

from ._blobs import BlobStore, Stored
from ._draft import BlobSource, DraftEntry, FileSource, RefSource, Source
from ._errors import ArtregError, IntegrityError, NotFound
from ._names import dump_json
from ._progress import ProgressCallback, Tracker

# A file whose mtime is this close to the moment we read it might be rewritten within the
# same timestamp tick without its stat changing; such files are not put in the stat cache.
RACY_NS = 50_000_000
# Inline bytes waiting for the version's transaction are written early above this.
FLUSH_BYTES = 64 << 20

SELECT_STAT = """
SELECT s.dev, s.ino, s.size, s.mtime_ns, s.digest
FROM json_each(?) AS j JOIN stat_cache AS s ON s.dev = j.value ->> 0 AND s.ino = j.value ->> 1
"""
SELECT_STAT_RANGE = "SELECT dev, ino, size, mtime_ns, digest FROM stat_cache WHERE dev = ? AND ino BETWEEN ? AND ?"
# typeof() reads only the record header; "data IS NULL" would load every blob's bytes.
SELECT_PRESENT = """
SELECT digest, size, typeof(data) = 'null' FROM blobs WHERE digest IN (SELECT value FROM json_each(?))
"""
INSERT_BLOB = """
INSERT INTO blobs(digest, size, data) VALUES (?, ?, ?)
ON CONFLICT(digest) DO UPDATE SET data = excluded.data WHERE blobs.data IS NULL AND excluded.data IS NOT NULL
"""
UPSERT_STAT = """
INSERT INTO stat_cache(dev, ino, size, mtime_ns, digest) VALUES (?, ?, ?, ?, ?)
ON CONFLICT(dev, ino) DO UPDATE SET size = excluded.size, mtime_ns = excluded.mtime_ns, digest = excluded.digest
"""


# A manifest row as the version transaction writes it: (path, digest, size, ref, extra JSON).
EntryRow = tuple[str, str, int, str | None, str]
NO_EXTRA = "{}"


@dataclass
class Ingested:
    """What the version transaction must write besides the version itself."""

    entries: list[EntryRow] = field(default_factory=list)
    blobs: dict[str, tuple[int, bytes | None]] = field(default_factory=dict)  # digest -> (size, inline data)
    stat_rows: list[tuple[int, int, int, int, str]] = field(default_factory=list)
    pending_bytes: int = 0

    def write(self, con: apsw.Connection) -> None:
        """Insert the blob rows and stat-cache rows (inside the caller's transaction)."""
        con.executemany(INSERT_BLOB, [(d, size, data) for d, (size, data) in self.blobs.items()])
        con.executemany(UPSERT_STAT, self.stat_rows)


def known_digests(store: BlobStore, entries: list[DraftEntry]) -> list[str | None]:
    """Each entry's digest as far as it is known without reading: memo, blob source or stat cache."""
    missing = [source for e in entries if e.known_digest is None and (source := _local_file(e.source)) is not None]
    cached = _stat_cache(store, missing)
    return [e.known_digest or _cached(cached, e.source) for e in entries]


def _local_file(source: Source) -> FileSource | None:
    """The local file whose bytes an entry's digest is the sha256 of, if any."""
    return source.file if isinstance(source, RefSource) else source if isinstance(source, FileSource) else None


def _cached(cached: dict[tuple[int, int], tuple[int, int, str]], source: Source) -> str | None:
    local = _local_file(source)
    if local is None:
        return None
    hit = cached.get((local.dev, local.ino))
    return hit[2] if hit is not None and hit[0] == local.size and hit[1] == local.mtime_ns else None


def ingest(
    store: BlobStore, entries: list[DraftEntry], known: list[str | None], progress: ProgressCallback | None = None
) -> Ingested:
    """Store the bytes of every entry not already stored; the caller holds the store lock shared."""
    candidates = [d for e, d in zip(entries, known, strict=False) if d is not None and not isinstance(e.source, RefSource)]
    present = _present(store, candidates)
    out = Ingested()
    tracker = Tracker(progress, len(entries), sum(e.size for e in entries))
    for entry, digest in zip(entries, known, strict=False):
        _ingest_entry(store, entry, digest, present, out)
        tracker.advance(entry.size)
    return out


def _ingest_entry(store: BlobStore, entry: DraftEntry, digest: str | None, present: set[str], out: Ingested) -> None:
    if isinstance(entry.source, RefSource):
        out.entries.append(_reference_row(entry, entry.source, digest, out))
        return
    if digest is not None and digest in present:
        out.entries.append((entry.path, digest, entry.size, None, NO_EXTRA))
        return
    if isinstance(entry.source, FileSource):
        stored = _store_file(store, entry, entry.source, out)
    else:
        stored = _store_blob(store, entry, entry.source)
    out.entries.append((entry.path, stored.digest, stored.size, None, NO_EXTRA))
    if stored.digest not in out.blobs:
        out.blobs[stored.digest] = (stored.size, stored.data)
        out.pending_bytes += len(stored.data or b"")
    present.add(stored.digest)
    if out.pending_bytes > FLUSH_BYTES:
        _flush(store, out)


def _store_file(store: BlobStore, entry: DraftEntry, source: FileSource, out: Ingested) -> Stored:
    started = time.time_ns()
    try:
        with open(source.path, "rb", buffering=0) as handle:
            if not source.same_stat(os.fstat(handle.fileno())):
                raise ArtregError(f"{source.path!r} (draft entry {entry.path!r}) changed after it was added; add it again")
            stored = store.ingest_open_file(handle, source.size)
    except FileNotFoundError as exc:
        raise NotFound(f"{source.path!r} (draft entry {entry.path!r}) was removed before the draft was logged") from exc
    if stored.size != source.size or (entry.known_digest is not None and stored.digest != entry.known_digest):
        raise ArtregError(f"{source.path!r} (draft entry {entry.path!r}) changed while it was being logged; add it again")
    if source.mtime_ns < started - RACY_NS:
        out.stat_rows.append((source.dev, source.ino, source.size, source.mtime_ns, stored.digest))
    return stored


def _reference_row(entry: DraftEntry, source: RefSource, digest: str | None, out: Ingested) -> EntryRow:
    """A reference's manifest row; a ``file://`` one not found in the stat cache is hashed (and cached)."""
    if digest is None:
        started = time.time_ns()
        digest = entry.digest
        local = source.file
        if local is not None and local.mtime_ns < started - RACY_NS:
            out.stat_rows.append((local.dev, local.ino, local.size, local.mtime_ns, digest))
    return (entry.path, digest, entry.size, source.uri, dump_json(source.extra))


def _store_blob(store: BlobStore, entry: DraftEntry, source: BlobSource) -> Stored:
    if source.store is store:
        raise IntegrityError(f"blob {source.digest} of draft entry {entry.path!r} is no longer in the registry")
    with source.store.open(source.digest, source.size) as reader:
        stored = store.ingest_stream(reader)
    if stored.digest != source.digest:
        raise IntegrityError(f"blob {source.digest} of draft entry {entry.path!r} is corrupt in its registry")
    return stored


def _flush(store: BlobStore, out: Ingested) -> None:
    """Write waiting inline blobs early so memory stays bounded; gc is held off by the lock."""
    with store.db.write() as con:
        out.write(con)
    out.blobs.clear()
    out.stat_rows.clear()
    out.pending_bytes = 0


def _stat_cache(store: BlobStore, sources: list[FileSource]) -> dict[tuple[int, int], tuple[int, int, str]]:
    """(dev, ino) -> (size, mtime_ns, digest) for the sources the cache knows."""
    if not sources:
        return {}
    devices = {s.dev for s in sources}
    inodes = [s.ino for s in sources]
    low, high = min(inodes), max(inodes)
    with store.db.read() as con:
        if len(devices) == 1 and high - low < 4 * len(inodes):
            # Files of one tree usually have clustered inode numbers: one range scan of the
            # primary key beats a join against a list of 10,000 keys by half.
            rows = con.execute(SELECT_STAT_RANGE, (devices.pop(), low, high))
        else:
            rows = con.execute(SELECT_STAT, (json.dumps([[s.dev, s.ino] for s in sources]),))
        return {(dev, ino): (size, mtime, digest) for dev, ino, size, mtime, digest in rows}


def _present(store: BlobStore, digests: list[str]) -> set[str]:
    """The digests whose blob is stored: a row, and for a file blob the file itself."""
    if not digests:
        return set()
    with store.db.read() as con:
        rows = list(con.execute(SELECT_PRESENT, (json.dumps(sorted(set(digests))),)))
    return {digest for digest, size, is_file in rows if not is_file or store.file_present(digest, size)}
