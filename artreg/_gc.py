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

import errno
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from .storage import _blob_rows as blob_rows
from .storage._blobs import storage_error
from .storage._chunkcheck import damaged_manifests
from .storage._s3_gc import DEFAULT_GRACE, RemoteSweep, sweep

if TYPE_CHECKING:
    from ._cache import Cache
    from .storage._blobs import BlobStore

# The chunks live versions' manifests list; a chunk several versions share is marked once.
LIVE_CHUNKS = "SELECT m.chunk_id FROM manifests AS m JOIN versions AS v ON v.id = m.version_id WHERE v.state = 'committed'"
# Blobs that no live version names; entries of deleted versions do not keep a blob, those of a
# pending distributed version (SPEC §15.1) do. NOT IN builds the set of live digests once
# (chunk_entries has no index on digest, to keep logs fast).
UNREFERENCED = f"""
SELECT b.digest, b.size, typeof(b.data) = 'null' FROM blobs AS b
WHERE b.digest NOT IN (
    SELECT e.digest FROM chunk_entries AS e WHERE e.chunk_id IN ({LIVE_CHUNKS})
    UNION ALL SELECT digest FROM pending_entries
)
"""
# Of the digests given, those the cache must keep: a blob's, or a live reference entry's.
KEPT_IN_CACHE = f"""
SELECT value FROM json_each(? /* text */) WHERE value IN (SELECT digest FROM blobs) OR value IN (
    SELECT e.digest FROM chunk_entries AS e WHERE e.chunk_id IN ({LIVE_CHUNKS}) AND e.ref IS NOT NULL
)
"""
LIVE_VERSION_DIGESTS = "SELECT value FROM json_each(? /* text */) WHERE value IN (SELECT digest FROM versions WHERE state = 'committed')"
REFERENCED = f"SELECT DISTINCT e.digest, e.size FROM chunk_entries AS e WHERE e.chunk_id IN ({LIVE_CHUNKS}) AND e.ref IS NULL"
# The manifests of deleted versions go with their blobs, and the chunks no manifest lists
# any more with them (a deleted version's entries can no longer be read afterwards).
DROP_DELETED_MANIFESTS = "DELETE FROM manifests WHERE version_id IN (SELECT id FROM versions WHERE state = 'deleted')"
UNLISTED_CHUNKS = "SELECT id FROM chunks WHERE id NOT IN (SELECT chunk_id FROM manifests)"
DROP_CHUNK = ["DELETE FROM chunk_entries WHERE chunk_id = ?", "DELETE FROM chunks WHERE id = ?"]
DROP_STALE_CHUNK_CACHE = "DELETE FROM chunk_cache WHERE chunk_key NOT IN (SELECT key FROM chunks)"
# The names artreg gives blob files: objects/<2 hex>/<62 hex>.
_FOLDER = re.compile(r"[0-9a-f]{2}")
_BLOB_NAME = re.compile(r"[0-9a-f]{62}")


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
    # With blobs in a bucket: objects deleted there, unreferenced ones kept (younger than the
    # grace period, or claimed by a log or by another catalog), and what gc says about it.
    remote_objects: int = 0
    remote_bytes: int = 0
    remote_kept: int = 0
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class CheckReport:
    """What ``check`` found; ``ok`` when nothing is wrong."""

    integrity: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    corrupt: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)
    removed_orphans: list[str] = field(default_factory=list)
    # Cached copies whose bytes are wrong: of the bucket's blobs (objects/ab/…) and of what
    # path() and snapshot() materialise (objects/cache/…); removed with fix=True.
    cache_corrupt: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.integrity or self.missing or self.corrupt or self.orphans or self.cache_corrupt)


def gc(store: BlobStore, cache: Cache, *, dry_run: bool = False, now: datetime | None = None,
       grace: timedelta = DEFAULT_GRACE) -> GcReport:
    """Remove every blob no live version references, orphan files, and cache copies and
    snapshots no live version names; report counts and bytes.

    A bucket is swept after the catalog's commit (``_s3_gc.sweep``), under the same lock.
    """
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
                # Rows go only if their files can go too: else a read-only folder would leave
                # the files behind after the commit, and gc would fail every time after.
                _check_removable(store, [store.object_path(d) for d, _, is_file in doomed if is_file])
                blob_rows.delete(con, (d for d, _, _ in doomed))
                con.execute(DROP_DELETED_MANIFESTS)
                unlisted = cast(list[Any], con.execute(UNLISTED_CHUNKS).fetchall())
                for statement in DROP_CHUNK:
                    con.executemany(statement, unlisted)
                con.execute(DROP_STALE_CHUNK_CACHE)
                con.execute("DELETE FROM stat_cache WHERE digest NOT IN (SELECT digest FROM blobs)")
                con.execute("DELETE FROM tree_cache WHERE digest NOT IN (SELECT digest FROM versions)")
        freed_files = [d for d, _, is_file in doomed if is_file]
        if not dry_run and store.files is not None:
            if store.files.remote:
                store.files.discard(freed_files)  # cached copies; the bucket is swept below
            else:
                for digest in freed_files:
                    _unlink(store.object_path(digest))
        orphans = _orphans(store)
        orphan_bytes = sum(_size(p) for p in orphans)
        if not dry_run:
            _check_removable(store, orphans)
            for path in orphans:
                _unlink(path)
        cache_files, cache_bytes = _evict(store, cache, {d for d, _, _ in doomed}, dry_run=dry_run)
        remote = RemoteSweep()
        if store.files is not None and store.files.remote:
            with store.db.read() as con:
                known = {d for d, _ in blob_rows.file_blobs(con)}
            known -= set(freed_files)  # a dry run has not deleted their rows
            remote = sweep(store.files, known, now=now or datetime.now().astimezone(), grace=grace, dry_run=dry_run)  # type: ignore[arg-type]
    return GcReport(
        blobs=len(doomed),
        bytes=sum(size for _, size, _ in doomed),
        orphan_files=len(orphans),
        orphan_bytes=orphan_bytes,
        dry_run=dry_run,
        cache_files=cache_files,
        cache_bytes=cache_bytes,
        remote_objects=remote.deleted,
        remote_bytes=remote.deleted_bytes,
        remote_kept=remote.kept_young + remote.kept_claimed,
        notes=(remote.note,) if remote.note else (),
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
    with store.lock(exclusive=False):  # gc waits: no blob named in this snapshot goes away meanwhile
        integrity = store.db.integrity_check()
        with store.db.read() as con:
            integrity += damaged_manifests(con)  # values SQLite cannot judge: chunks against their rows, manifests against digests
            referenced: list[Any] = con.execute(REFERENCED).fetchall()
        missing: list[str] = []
        corrupt: list[str] = []
        for digest, size in referenced:
            state = _blob_state(store, digest, size)
            if state == "missing":
                missing.append(digest)
            elif state == "corrupt":
                corrupt.append(digest)
    # Exclusive, like gc's sweep: no log in any process is then between writing a blob file
    # and committing the version that names it, so every file no row names is an orphan; and
    # no path() or download is making a cached copy while the cache is checked.
    with store.lock(exclusive=True):
        cache_corrupt: list[str] = []
        if store.files is not None:
            with store.db.read() as con:
                known = dict(blob_rows.file_blobs(con))
            cache_corrupt = [str(store.object_path(d)) for d in store.files.check_cache(known, fix=fix)]
        cache_corrupt += cache.corrupt(fix=fix)
        orphans = _orphans(store)
        removed = list(cache_corrupt) if fix else []
        if fix:
            _check_removable(store, orphans)
            for path in orphans:
                _unlink(path)
                removed.append(str(path))
    return CheckReport(
        integrity=integrity,
        missing=missing,
        corrupt=corrupt,
        orphans=[] if fix else [str(p) for p in orphans],
        removed_orphans=removed,
        cache_corrupt=[] if fix else cache_corrupt,
    )


def _blob_state(store: BlobStore, digest: str, size: int) -> str:
    with store.db.read() as con:
        row = con.execute(blob_rows.SELECT_STATE, (digest,)).fetchone()
    if row is None:
        return "missing"
    if row[1]:
        assert store.files is not None
        return store.files.state(digest, size)
    ok = len(row[0]) == size and hashlib.sha256(row[0]).hexdigest() == digest
    return "ok" if ok else "corrupt"


def _orphans(store: BlobStore) -> list[Path]:
    """Files under objects/ that no blob row names, and leftovers of interrupted writes.

    Only what artreg could have written counts: regular files named like a blob in the
    two-hex-digit folders, and regular files in ``tmp/``. Anything else (a stray folder, a
    symlink, a file of another name) is not ours to judge or remove, and is left alone.
    Called under the exclusive lock: no writer is between its temporary file and its commit.
    The cache folder is the cache's own (``_evict``), never orphans.
    """
    if store.objects is None:
        return []
    with store.db.read() as con:
        known = {d for d, _ in blob_rows.file_blobs(con)}
    found: list[Path] = []
    with os.scandir(store.objects) as top:
        for folder in top:
            temporary = folder.name == "tmp"
            if not folder.is_dir(follow_symlinks=False) or not (temporary or _FOLDER.fullmatch(folder.name)):
                continue
            with os.scandir(folder.path) as inner:
                for item in inner:
                    if not item.is_file(follow_symlinks=False):
                        continue
                    if temporary or (_BLOB_NAME.fullmatch(item.name) and folder.name + item.name not in known):
                        found.append(Path(item.path))
    return sorted(found)


def _check_removable(store: BlobStore, paths: list[Path]) -> None:
    """Raise ArtregError, naming the folder, unless each path's folder lets this process remove files."""
    for folder in sorted({path.parent for path in paths}):
        if folder.is_dir() and not os.access(folder, os.W_OK | os.X_OK):
            raise storage_error(PermissionError(errno.EACCES, "permission denied"), folder)


def _unlink(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        raise storage_error(exc, path.parent) from exc


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0
