"""Turning a draft's entries into stored blobs, ready for the version's transaction.

Runs outside any transaction, under the store lock held shared. A draft that is one
``add_dir`` tree is first looked up whole in the tree cache (``cached_tree``): a tree whose
every path and stat is as when it was last logged needs one lookup, not one per file. Else
every local file is looked up in the stat cache (``known_digests``); when that gives the
whole manifest and it equals the collection's ``latest``, nothing is read at all. Otherwise
``ingest`` stores what is missing, reading each file once and hashing it while it is stored.

Reference entries (SPEC §10) store nothing: they pass through with the digest recorded when
they were added, except ``file://`` ones with a checksum, which are hashed here like local
files (the stat cache applies to them too).
"""

from __future__ import annotations

import hashlib
import json
import marshal
import os
import time
from collections.abc import Iterable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import apsw

from ._errors import IntegrityError, NotFound
from ._localfiles import RACY_NS, SECOND_NS, open_regular, settled, short_read_error
from ._names import dump_json
from ._progress import ProgressCallback, Tracker
from ._sources import BlobSource, DataSource, DraftEntry, FileSource, RefSource, Source, hash_source
from ._walk import FileRow, FileRows
from .storage import _blob_rows as blob_rows
from .storage._blobs import BlobStore, Stored, wait_all
from .storage._manifest import EntryRow
from .storage._pg_sql import override

# Inline blobs waiting for the version's transaction are written early above this many
# bytes or rows, so a log's memory stays bounded however many files it stores.
FLUSH_BYTES = 64 << 20
FLUSH_ROWS = 50_000
TREE_HEADER = b"artreg-tree-v1\n"

SELECT_STAT = """
SELECT s.dev, s.ino, s.size, s.mtime_ns, s.ctime_ns, s.digest
FROM json_each(?) AS j JOIN stat_cache AS s ON s.dev = j.value ->> 0 AND s.ino = j.value ->> 1
"""
SELECT_STAT_RANGE = "SELECT dev, ino, size, mtime_ns, ctime_ns, digest FROM stat_cache WHERE dev = ? AND ino BETWEEN ? AND ?"
SELECT_TREE = "SELECT digest FROM tree_cache WHERE fingerprint = ?"
UPSERT_TREE = "INSERT INTO tree_cache(fingerprint, digest) VALUES (?, ?) ON CONFLICT(fingerprint) DO UPDATE SET digest = excluded.digest"
UPSERT_STAT = """
INSERT INTO stat_cache(dev, ino, size, mtime_ns, ctime_ns, digest) VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT(dev, ino) DO UPDATE
SET size = excluded.size, mtime_ns = excluded.mtime_ns, ctime_ns = excluded.ctime_ns, digest = excluded.digest
"""
# A catalog in PostgreSQL is shared by machines, and these caches describe one machine's
# files: its device numbers are stored XOR its salt, its tree fingerprints suffixed with it
# (artreg_machine(), see _pg.machine_salt), so no machine ever reads another's entries.
override(SELECT_STAT, """
SELECT s.dev # artreg_machine(), s.ino, s.size, s.mtime_ns, s.ctime_ns, s.digest
FROM jsonb_array_elements(CAST(? AS jsonb)) AS j(value)
JOIN stat_cache AS s ON s.dev = CAST(j.value ->> 0 AS bigint) # artreg_machine() AND s.ino = CAST(j.value ->> 1 AS bigint)
""")
override(SELECT_STAT_RANGE, "SELECT dev # artreg_machine(), ino, size, mtime_ns, ctime_ns, digest FROM stat_cache "
                            "WHERE dev = CAST(? AS bigint) # artreg_machine() AND ino BETWEEN ? AND ?")
override(UPSERT_STAT, UPSERT_STAT.replace("VALUES (?, ", "VALUES (CAST(? AS bigint) # artreg_machine(), "))
override(SELECT_TREE, "SELECT digest FROM tree_cache WHERE fingerprint = CAST(? AS text) || ':' || artreg_machine()")
override(UPSERT_TREE, UPSERT_TREE.replace("VALUES (?, ?)", "VALUES (CAST(? AS text) || ':' || artreg_machine(), ?)"))


NO_EXTRA = "{}"
# (dev, ino) -> (size, mtime_ns, ctime_ns, digest) of the stat cache's rows for a draft's files.
StatHits = dict[tuple[int, int], tuple[int, int, int, str]]
# A stat cache row: (dev, ino, size, mtime_ns, ctime_ns, digest).
StatRow = tuple[int, int, int, int, int, str]


@dataclass
class Ingested:
    """What the version transaction must write besides the version itself.

    ``entries`` is sorted by path once ``ingest`` returns, as the version digest wants it.
    """

    entries: list[EntryRow] = field(default_factory=list)
    blobs: dict[str, tuple[int, bytes | None]] = field(default_factory=dict)  # digest -> (size, inline data)
    stat_rows: list[StatRow] = field(default_factory=list)
    pending_bytes: int = 0
    uploads: list[Future[Any]] = field(default_factory=list)  # a remote store's uploads under way

    def wait(self) -> None:
        """Return once every upload has finished (raising the first failure): before any row names them."""
        uploads, self.uploads = self.uploads, []
        wait_all(uploads)

    def write(self, con: apsw.Connection) -> None:
        """Insert the blob rows and stat-cache rows (inside the caller's transaction, after ``wait``)."""
        assert not self.uploads, "blob rows are written only once their uploads are done"
        blob_rows.insert(con, ((d, size, data) for d, (size, data) in self.blobs.items()))
        con.executemany(UPSERT_STAT, self.stat_rows)


def tree_fingerprint(tree: FileRows) -> str:
    """sha256 of a tree's rows (logical path, dev, ino, size, mtime_ns, ctime_ns).

    marshal (format 2, no back-references) round-trips, so two different row lists never
    give the same bytes; the same rows nearly always do, and when they do not the tree is
    merely not found. Rows are hashed in slices so no copy of a big tree is made at once.
    """
    hasher = hashlib.sha256(TREE_HEADER)
    rows = tree.rows
    for start in range(0, len(rows), 4096):
        hasher.update(marshal.dumps(rows[start : start + 4096], 2))
    return hasher.hexdigest()


def tree_settled(tree: FileRows, started_ns: int) -> bool:
    """True when no file of the tree could change after ``started_ns`` without its stat changing.

    Only such a tree may be remembered in the tree cache. The newest timestamp answers for
    nearly every tree at once; files within two seconds of it are looked at one by one, since
    how near is too near depends on each one's timestamp granularity.
    """
    rows = tree.rows
    if not rows:
        return True
    newest = max(max([row[4] for row in rows]), max([row[5] for row in rows]))
    if newest + 2 * SECOND_NS + RACY_NS <= started_ns:
        return True
    return all(settled(row[4], row[5], started_ns) for row in rows)


def cached_tree(store: BlobStore, fingerprint: str) -> str | None:
    """The version digest last logged for a tree with this fingerprint, if any."""
    with store.db.read() as con:
        row = con.execute(SELECT_TREE, (fingerprint,)).fetchone()
    return None if row is None else str(row[0])


def remember_tree(con: apsw.Connection, fingerprint: str, digest: str) -> None:
    """Record a tree's version digest (inside the caller's transaction)."""
    con.execute(UPSERT_TREE, (fingerprint, digest))


def known_digests(store: BlobStore, content: FileRows | list[DraftEntry]) -> list[str | None]:
    """Each entry's digest as far as it is known without reading: memo, blob source or stat cache."""
    if isinstance(content, FileRows):
        rows = content.rows
        hits = _stat_cache(store, {row[1] for row in rows}, [row[2] for row in rows], rows)
        get = hits.get
        known: list[str | None] = []
        append = known.append
        for _path, dev, ino, size, mtime, ctime in rows:
            hit = get((dev, ino))
            append(hit[3] if hit is not None and hit[0] == size and hit[1] == mtime and hit[2] == ctime else None)
        return known
    missing = [source for e in content if e.known_digest is None and (source := _local_file(e.source)) is not None]
    hits = _stat_cache(store, {s.dev for s in missing}, [s.ino for s in missing], ((None, s.dev, s.ino) for s in missing))
    return [e.known_digest or _cached(hits, e.source) for e in content]


def _local_file(source: Source) -> FileSource | None:
    """The local file whose bytes an entry's digest is the sha256 of, if any."""
    return source.file if isinstance(source, RefSource) else source if isinstance(source, FileSource) else None


def _cached(hits: StatHits, source: Source) -> str | None:
    local = _local_file(source)
    if local is None:
        return None
    hit = hits.get((local.dev, local.ino))
    if hit is None or (hit[0], hit[1], hit[2]) != (local.size, local.mtime_ns, local.ctime_ns):
        return None
    return hit[3]


def ingest(
    store: BlobStore, content: FileRows | list[DraftEntry], known: list[str | None], progress: ProgressCallback | None = None
) -> Ingested:
    """Store the bytes of every entry not already stored; the caller holds the store lock shared."""
    out = Ingested()
    if isinstance(content, FileRows):
        present = _present(store, [d for d in known if d is not None])
        tracker = Tracker(progress, len(content.rows), sum(row[3] for row in content.rows))
        for row, digest in zip(content.rows, known, strict=True):
            _ingest_row(store, content, row, digest, present, out)
            tracker.advance(row[3])
    else:
        present = _present(store, [d for e, d in zip(content, known, strict=True) if d is not None and not isinstance(e.source, RefSource)])
        tracker = Tracker(progress, len(content), sum(e.size for e in content))
        for entry, digest in zip(content, known, strict=True):
            _ingest_entry(store, entry, digest, present, out)
            tracker.advance(entry.size)
    out.entries.sort()
    return out


def _ingest_row(store: BlobStore, tree: FileRows, row: FileRow, digest: str | None, present: set[str], out: Ingested) -> None:
    path, dev, ino, size, mtime, _ctime = row
    if digest is not None and digest in present:
        out.entries.append((path, digest, size, None, NO_EXTRA))
        return
    local = tree.local(path)
    stored = _store_file(store, path, local, (dev, ino, size, mtime), digest, out)
    _add_stored(store, path, stored, present, out)


def _ingest_entry(store: BlobStore, entry: DraftEntry, digest: str | None, present: set[str], out: Ingested) -> None:
    if isinstance(entry.source, RefSource):
        out.entries.append(_reference_row(entry, entry.source, digest, out))
        return
    if digest is not None and digest in present:
        out.entries.append((entry.path, digest, entry.size, None, NO_EXTRA))
        return
    if isinstance(entry.source, FileSource):
        source = entry.source
        stored = _store_file(store, entry.path, source.path, source.identity, entry.known_digest, out)
    elif isinstance(entry.source, DataSource):
        stored = _store_data(store, entry, entry.source)
    else:
        stored = _store_blob(store, entry, entry.source)
    _add_stored(store, entry.path, stored, present, out)


def _add_stored(store: BlobStore, path: str, stored: Stored, present: set[str], out: Ingested) -> None:
    out.entries.append((path, stored.digest, stored.size, None, NO_EXTRA))
    if stored.pending is not None:
        out.uploads.append(stored.pending)
    if stored.digest not in out.blobs:
        out.blobs[stored.digest] = (stored.size, stored.data)
        out.pending_bytes += len(stored.data or b"")
    present.add(stored.digest)
    if out.pending_bytes > FLUSH_BYTES or len(out.blobs) > FLUSH_ROWS:
        _flush(store, out)


def _store_file(
    store: BlobStore, logical: str, local: str, identity: tuple[int, int, int, int], expected: str | None, out: Ingested
) -> Stored:
    """Store one local file whose (dev, ino, size, mtime_ns) were ``identity`` when it was added.

    The stat cache row it leaves is the stat taken just before the bytes were read, and only
    when that stat is settled (``_localfiles.settled``).
    """
    what = f"{local!r} (draft entry {logical!r})"
    started = time.time_ns()
    try:
        fd, st = open_regular(local, what)
    except NotFound as exc:
        raise NotFound(f"{what} was removed before the draft was logged") from exc
    try:
        if (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns) != identity:
            raise IntegrityError(f"{what} changed after it was added; add it again")
        size = identity[2]
        data = os.read(fd, size + 1) if store.is_inline(size) else None
        if data is not None and len(data) == size:
            # A small file in one read(), without a file object: most of a tree's files.
            stored = Stored(hashlib.sha256(data).hexdigest(), size, data)
        else:
            with open(fd, "rb", buffering=0, closefd=False) as handle:
                if data is not None:
                    handle.seek(0)
                stored = store.ingest_open_file(handle, size)
        if stored.size != size:
            raise short_read_error(fd, what, size, stored.size)
    finally:
        os.close(fd)
    if expected is not None and stored.digest != expected:
        raise IntegrityError(f"{what} changed while it was being logged; add it again")
    if settled(st.st_mtime_ns, st.st_ctime_ns, started):
        out.stat_rows.append((st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, stored.digest))
    return stored


def _reference_row(entry: DraftEntry, source: RefSource, digest: str | None, out: Ingested) -> EntryRow:
    """A reference's manifest row; a ``file://`` one not found in the stat cache is hashed (and cached)."""
    if digest is None:
        local = source.file
        if local is None:
            digest = entry.digest
        else:
            started = time.time_ns()
            digest, st = hash_source(local)
            entry.hashed(digest)
            if settled(st.st_mtime_ns, st.st_ctime_ns, started):
                out.stat_rows.append((st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, digest))
    return (entry.path, digest, entry.size, source.uri, dump_json(source.extra))


def _store_blob(store: BlobStore, entry: DraftEntry, source: BlobSource) -> Stored:
    if source.store is store:
        raise IntegrityError(f"blob {source.digest} of draft entry {entry.path!r} is no longer in the registry")
    if not store.is_inline(source.size) and store.identity is not None and store.identity == source.store.identity \
            and source.store.rows([source.digest]).get(source.digest, b"") is None:
        return store.adopt(source.digest, source.size)  # both registries keep their blobs in one store: no bytes move
    with source.store.open(source.digest, source.size) as reader:
        stored = store.ingest_stream(reader)
    if stored.digest != source.digest:
        raise IntegrityError(f"blob {source.digest} of draft entry {entry.path!r} is corrupt in its registry")
    return stored


def _store_data(store: BlobStore, entry: DraftEntry, source: DataSource) -> Stored:
    stored = store.ingest_bytes(source.data) if source.data is not None else store.ingest_stream(source.reader())
    if stored.digest != entry.known_digest:
        raise IntegrityError(f"the bytes written to draft entry {entry.path!r} changed before it was logged")
    return stored


def _flush(store: BlobStore, out: Ingested) -> None:
    """Write waiting inline blobs early so memory stays bounded; gc is held off by the lock."""
    out.wait()
    with store.db.write() as con:
        out.write(con)
    out.blobs.clear()
    out.stat_rows.clear()
    out.pending_bytes = 0


def _stat_cache(store: BlobStore, devices: set[int], inodes: list[int], keys: Iterable[tuple[Any, ...]]) -> StatHits:
    """The stat cache's rows for the given files (and maybe others).

    ``keys`` yields tuples whose [1] and [2] are a file's dev and ino, read only when the
    inode numbers are not clustered.
    """
    if not inodes:
        return {}
    low, high = min(inodes), max(inodes)
    with store.db.read() as con:
        if len(devices) == 1 and high - low < 4 * len(inodes):
            # Files of one tree usually have clustered inode numbers: one range scan of the
            # primary key beats a join against a list of 10,000 keys by half.
            rows = con.execute(SELECT_STAT_RANGE, (next(iter(devices)), low, high))
        else:
            rows = con.execute(SELECT_STAT, (json.dumps([[key[1], key[2]] for key in keys]),))
        return {(dev, ino): (size, mtime, ctime, digest) for dev, ino, size, mtime, ctime, digest in rows}


def _present(store: BlobStore, digests: list[str]) -> set[str]:
    """The digests whose blob is stored: a row, and for a file blob the file itself."""
    if not digests:
        return set()
    with store.db.read() as con:
        rows = blob_rows.present(con, sorted(set(digests)))
    return {digest for digest, size, is_file in rows if not is_file or store.file_present(digest, size)}
