"""Turning a draft's entries into stored blobs, ready for the version's transaction.

Runs outside any transaction, under the store lock held shared. For each local file the
stat cache is consulted first: an unchanged file whose blob is already stored is not read
at all. Everything else is read once, hashed while it is stored.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import apsw

from ._blobs import BlobStore, Stored
from ._draft import BlobSource, DraftEntry, FileSource
from ._errors import ArtregError, IntegrityError, NotFound

# A file whose mtime is this close to the moment we read it might be rewritten within the
# same timestamp tick without its stat changing; such files are not put in the stat cache.
RACY_NS = 50_000_000
# Inline bytes waiting for the version's transaction are written early above this.
FLUSH_BYTES = 64 << 20

SELECT_STAT = """
SELECT s.dev, s.ino, s.size, s.mtime_ns, s.digest
FROM json_each(?) AS j JOIN stat_cache AS s ON s.dev = j.value ->> 0 AND s.ino = j.value ->> 1
"""
SELECT_PRESENT = "SELECT digest, size, data IS NULL FROM blobs WHERE digest IN (SELECT value FROM json_each(?))"
INSERT_BLOB = """
INSERT INTO blobs(digest, size, data) VALUES (?, ?, ?)
ON CONFLICT(digest) DO UPDATE SET data = excluded.data WHERE blobs.data IS NULL AND excluded.data IS NOT NULL
"""
UPSERT_STAT = """
INSERT INTO stat_cache(dev, ino, size, mtime_ns, digest) VALUES (?, ?, ?, ?, ?)
ON CONFLICT(dev, ino) DO UPDATE SET size = excluded.size, mtime_ns = excluded.mtime_ns, digest = excluded.digest
"""


@dataclass
class Ingested:
    """What the version transaction must write besides the version itself."""

    entries: list[tuple[str, str, int]] = field(default_factory=list)  # (path, digest, size)
    blobs: dict[str, tuple[int, bytes | None]] = field(default_factory=dict)  # digest -> (size, inline data)
    stat_rows: list[tuple[int, int, int, int, str]] = field(default_factory=list)
    pending_bytes: int = 0

    def write(self, con: apsw.Connection) -> None:
        """Insert the blob rows and stat-cache rows (inside the caller's transaction)."""
        con.executemany(INSERT_BLOB, [(d, size, data) for d, (size, data) in self.blobs.items()])
        con.executemany(UPSERT_STAT, self.stat_rows)


def ingest(store: BlobStore, entries: Iterable[DraftEntry]) -> Ingested:
    """Store the bytes of every entry; the caller holds ``store.lock(exclusive=False)``."""
    entries = list(entries)
    files = [e for e in entries if isinstance(e.source, FileSource)]
    cached = _stat_cache(store, [e.source for e in files])  # type: ignore[misc]
    known = {e.path: (e.known_digest or cached.get(_stat_key(e.source))) for e in files}  # type: ignore[arg-type]
    present = _present(store, [d for d in known.values() if d] + [e.source.digest for e in entries if isinstance(e.source, BlobSource)])
    out = Ingested()
    for entry in entries:
        if isinstance(entry.source, FileSource):
            _ingest_file(store, entry, entry.source, known[entry.path], present, out)
        else:
            _ingest_blob(store, entry, entry.source, present, out)
        if out.pending_bytes > FLUSH_BYTES:
            _flush(store, out)
    return out


def _ingest_file(
    store: BlobStore, entry: DraftEntry, source: FileSource, digest: str | None, present: set[str], out: Ingested
) -> None:
    try:
        st = os.stat(source.path)
    except FileNotFoundError as exc:
        raise NotFound(f"{source.path!r} (draft entry {entry.path!r}) was removed before the draft was logged") from exc
    if not source.same_stat(st):
        raise ArtregError(f"{source.path!r} (draft entry {entry.path!r}) changed after it was added; add it again")
    if digest is not None and digest in present:
        out.entries.append((entry.path, digest, source.size))
        return
    started = time.time_ns()
    try:
        stored = store.ingest_file(source.path)
    except FileNotFoundError as exc:
        raise NotFound(f"{source.path!r} (draft entry {entry.path!r}) was removed before the draft was logged") from exc
    if stored.size != source.size or (entry.known_digest is not None and stored.digest != entry.known_digest):
        raise ArtregError(f"{source.path!r} (draft entry {entry.path!r}) changed while it was being logged; add it again")
    if source.mtime_ns < started - RACY_NS:
        out.stat_rows.append((source.dev, source.ino, source.size, source.mtime_ns, stored.digest))
    _record(out, entry.path, stored, present)


def _ingest_blob(store: BlobStore, entry: DraftEntry, source: BlobSource, present: set[str], out: Ingested) -> None:
    if source.digest in present:
        out.entries.append((entry.path, source.digest, source.size))
        return
    if source.store is store:
        raise IntegrityError(f"blob {source.digest} of draft entry {entry.path!r} is no longer in the registry")
    with source.store.open(source.digest, source.size) as reader:
        stored = store.ingest_stream(reader)  # type: ignore[arg-type]
    _record(out, entry.path, stored, present)


def _record(out: Ingested, path: str, stored: Stored, present: set[str]) -> None:
    out.entries.append((path, stored.digest, stored.size))
    if stored.digest not in out.blobs:
        out.blobs[stored.digest] = (stored.size, stored.data)
        out.pending_bytes += len(stored.data or b"")
    present.add(stored.digest)


def _flush(store: BlobStore, out: Ingested) -> None:
    """Write waiting inline blobs early so memory stays bounded; gc is held off by the lock."""
    with store.db.write() as con:
        out.write(con)
    out.blobs.clear()
    out.stat_rows.clear()
    out.pending_bytes = 0


def _stat_key(source: FileSource) -> tuple[int, int, int, int]:
    return (source.dev, source.ino, source.size, source.mtime_ns)


def _stat_cache(store: BlobStore, sources: list[FileSource]) -> dict[tuple[int, int, int, int], str]:
    if not sources:
        return {}
    keys = json.dumps([[s.dev, s.ino] for s in sources])
    with store.db.read() as con:
        return {(dev, ino, size, mtime): digest for dev, ino, size, mtime, digest in con.execute(SELECT_STAT, (keys,))}


def _present(store: BlobStore, digests: list[str]) -> set[str]:
    """The digests whose blob is stored: a row, and for a file blob the file itself."""
    if not digests:
        return set()
    with store.db.read() as con:
        rows = list(con.execute(SELECT_PRESENT, (json.dumps(sorted(set(digests))),)))
    return {digest for digest, size, is_file in rows if not is_file or store.file_present(digest, size)}
