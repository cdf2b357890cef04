"""Garbage collection and consistency checks of the blob store (SPEC §8).

``gc`` is mark-and-sweep under the store lock held exclusively, so no log in any process
is between writing a blob (or reading the chunks it will share) and committing the version
that names it. It marks the chunks of live versions' manifests, each once however many
versions share it, and the blobs their entries name; it drops deleted versions' manifests
and the chunks no manifest lists any more. Rows go in one
transaction; files are unlinked only after it commits and is fsynced (a crash in between
leaves orphan files, which the next ``gc`` removes).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from ._blobs import CHUNK
from ._cache import CACHE_DIR

if TYPE_CHECKING:
    from ._blobs import BlobStore
    from ._cache import Cache

# The chunks live versions' manifests list; a chunk several versions share is marked once.
LIVE_CHUNKS = "SELECT m.chunk_id FROM manifests AS m JOIN versions AS v ON v.id = m.version_id WHERE v.state = 'committed'"
# Blobs that no live version names; entries of deleted versions do not keep a blob. NOT IN
# builds the set of live digests once (chunk_entries has no index on digest, to keep logs fast).
UNREFERENCED = f"""
SELECT b.digest, b.size, typeof(b.data) = 'null' FROM blobs AS b
WHERE b.digest NOT IN (SELECT e.digest FROM chunk_entries AS e WHERE e.chunk_id IN ({LIVE_CHUNKS}))
"""
# Of the digests given, those the cache must keep: a blob's, or a live reference entry's.
KEPT_IN_CACHE = f"""
SELECT value FROM json_each(?) WHERE value IN (SELECT digest FROM blobs) OR value IN (
    SELECT e.digest FROM chunk_entries AS e WHERE e.chunk_id IN ({LIVE_CHUNKS}) AND e.ref IS NOT NULL
)
"""
LIVE_VERSION_DIGESTS = "SELECT value FROM json_each(?) WHERE value IN (SELECT digest FROM versions WHERE state = 'committed')"
REFERENCED = f"SELECT DISTINCT e.digest, e.size FROM chunk_entries AS e WHERE e.chunk_id IN ({LIVE_CHUNKS}) AND e.ref IS NULL"
# The manifests of deleted versions go with their blobs, and the chunks no manifest lists
# any more with them (a deleted version's entries can no longer be read afterwards).
DROP_DELETED_MANIFESTS = "DELETE FROM manifests WHERE version_id IN (SELECT id FROM versions WHERE state = 'deleted')"
UNLISTED_CHUNKS = "SELECT id FROM chunks WHERE id NOT IN (SELECT chunk_id FROM manifests)"
DROP_CHUNK = ["DELETE FROM chunk_entries WHERE chunk_id = ?", "DELETE FROM chunks WHERE id = ?"]
DROP_STALE_CHUNK_CACHE = "DELETE FROM chunk_cache WHERE chunk_key NOT IN (SELECT key FROM chunks)"


@dataclass(frozen=True)
class GcReport:
    """What ``gc`` removed (or, with ``dry_run``, would remove)."""

    blobs: int = 0
    bytes: int = 0
    orphan_files: int = 0
    orphan_bytes: int = 0
    dry_run: bool = False
    cache_files: int = 0
    cache_bytes: int = 0


@dataclass(frozen=True)
class CheckReport:
    """What ``check`` found; ``ok`` when nothing is wrong."""

    integrity: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    corrupt: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)
    removed_orphans: list[str] = field(default_factory=list)
    cache_corrupt: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.integrity or self.missing or self.corrupt or self.orphans or self.cache_corrupt)


def gc(store: BlobStore, cache: Cache, *, dry_run: bool = False) -> GcReport:
    """Remove every blob no live version references, orphan files, and cache copies and
    snapshots no live version names; report counts and bytes."""
    with store.lock(exclusive=True):
        doomed: list[Any]
        if dry_run:
            with store.db.read() as con:
                doomed = cast(list[Any], con.execute(UNREFERENCED).fetchall())
        else:
            # Durable before the files go: a power cut must not take back this commit (or the
            # deletions before it) while the removal of the files survives.
            with store.db.write(durable=True) as con:
                doomed = cast(list[Any], con.execute(UNREFERENCED).fetchall())
                con.executemany("DELETE FROM blobs WHERE digest = ?", ((d,) for d, _, _ in doomed))
                con.execute(DROP_DELETED_MANIFESTS)
                unlisted = cast(list[Any], con.execute(UNLISTED_CHUNKS).fetchall())
                for statement in DROP_CHUNK:
                    con.executemany(statement, unlisted)
                con.execute(DROP_STALE_CHUNK_CACHE)
                con.execute("DELETE FROM stat_cache WHERE digest NOT IN (SELECT digest FROM blobs)")
                con.execute("DELETE FROM tree_cache WHERE digest NOT IN (SELECT digest FROM versions)")
        freed_files = [d for d, _, is_file in doomed if is_file]
        if not dry_run:
            for digest in freed_files:
                store.object_path(digest).unlink(missing_ok=True)
        orphans = _orphans(store)
        orphan_bytes = sum(_size(p) for p in orphans)
        if not dry_run:
            for path in orphans:
                path.unlink(missing_ok=True)
        cache_files, cache_bytes = _evict(store, cache, {d for d, _, _ in doomed}, dry_run=dry_run)
    return GcReport(
        blobs=len(doomed),
        bytes=sum(size for _, size, _ in doomed),
        orphan_files=len(orphans),
        orphan_bytes=orphan_bytes,
        dry_run=dry_run,
        cache_files=cache_files,
        cache_bytes=cache_bytes,
    )


def _evict(store: BlobStore, cache: Cache, doomed: set[str], *, dry_run: bool) -> tuple[int, int]:
    """Remove cached copies no live version names, snapshots of versions gone, and leftovers.

    Called under the exclusive store lock: no ``path()`` or ``snapshot()`` is making files.
    ``doomed`` are the blobs this gc removes (still in the database on a dry run).
    """
    cached = cache.cached()
    snapshots = cache.snapshots()
    with store.db.read() as con:
        keep = {r[0] for r in con.execute(KEPT_IN_CACHE, (json.dumps([d for d, _ in cached]),))} - doomed if cached else set()
        live = {r[0] for r in con.execute(LIVE_VERSION_DIGESTS, (json.dumps([d for d, _ in snapshots]),))} if snapshots else set()
    gone = [p for d, p in cached if d not in keep] + [p for d, p in snapshots if d not in live] + cache.leftovers()
    return cache.remove(gone, dry_run=dry_run)


def check(store: BlobStore, cache: Cache, *, fix: bool = False) -> CheckReport:
    """Integrity-check the database, rehash every referenced blob and cached copy, list orphan files.

    ``fix=True`` removes orphan files and damaged cached copies (made again on next use);
    corrupt or missing blobs are reported, never deleted, since a version still names them.
    """
    with store.lock(exclusive=fix):
        with store.db.read() as con:
            integrity = [r[0] for r in con.execute("PRAGMA integrity_check")]
            referenced: list[Any] = con.execute(REFERENCED).fetchall()
        missing: list[str] = []
        corrupt: list[str] = []
        for digest, size in referenced:
            state = _blob_state(store, digest, size)
            if state == "missing":
                missing.append(digest)
            elif state == "corrupt":
                corrupt.append(digest)
        orphans = _orphans(store)
        cache_corrupt = cache.corrupt(fix=fix)
        removed = []
        if fix:
            for path in orphans:
                path.unlink(missing_ok=True)
                removed.append(str(path))
    return CheckReport(
        integrity=[] if integrity == ["ok"] else integrity,
        missing=missing,
        corrupt=corrupt,
        orphans=[] if fix else [str(p) for p in orphans],
        removed_orphans=removed,
        cache_corrupt=[] if fix else cache_corrupt,
    )


def _blob_state(store: BlobStore, digest: str, size: int) -> str:
    with store.db.read() as con:
        row = con.execute("SELECT data, typeof(data) = 'null' FROM blobs WHERE digest = ?", (digest,)).fetchone()
    if row is None:
        return "missing"
    hasher = hashlib.sha256()
    if not row[1]:
        hasher.update(row[0])
        seen = len(row[0])
    else:
        try:
            with open(store.object_path(digest), "rb") as handle:
                seen = 0
                while chunk := handle.read(CHUNK):
                    hasher.update(chunk)
                    seen += len(chunk)
        except FileNotFoundError:
            return "missing"
    return "ok" if seen == size and hasher.hexdigest() == digest else "corrupt"


def _orphans(store: BlobStore) -> list[Path]:
    """Files under objects/ that no blob row names, and leftovers of interrupted writes.

    Called under the exclusive lock: no writer is between its temporary file and its commit.
    The cache folder is the cache's own (``_evict``), never orphans.
    """
    if store.objects is None:
        return []
    with store.db.read() as con:
        known = {r[0] for r in con.execute("SELECT digest FROM blobs WHERE typeof(data) = 'null'")}
    found: list[Path] = []
    with os.scandir(store.objects) as top:
        for folder in top:
            if not folder.is_dir(follow_symlinks=False) or folder.name == CACHE_DIR:
                continue
            with os.scandir(folder.path) as inner:
                for item in inner:
                    if folder.name == "tmp" or folder.name + item.name not in known:
                        found.append(Path(item.path))
    return sorted(found)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0
