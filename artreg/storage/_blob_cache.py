"""A bounded local cache of remote blobs: ``objects/ab/cdef…`` files, least recently used leaving first.

The files keep the local store's layout (read-only, named by their sha256), so downloads
hard-link, symlink, reflink or copy from the cache exactly as they do from a local store.
A file enters the cache only once its bytes were hashed and found equal to its name.

The index is a small SQLite file of its own (``cache.db`` in the folder): digest, size and
last use. It is not the registry's database, because reads must not take the registry's
write lock just to say "used", and because several registries may point at one cache
folder. A row is written *before* its file is renamed into place, so the index is always a
superset of the files and the sum of its sizes never understates what the folder holds:
the bound holds even after a crash. Files found without a row (a folder adopted from a
local store, a crash) are counted in by ``usage()`` and ``prune()``, which scan.

Concurrency: any process may evict any entry at any time. A reader that loses the race
finds the file gone and fetches again (``S3Files.local_file``); an open descriptor keeps
reading an unlinked file.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import apsw

from .._errors import DiskError, InvalidName
from .._hashing import sha256_file

SCHEMA = """
-- boot: '' once the file is known to be on disk as verified (fsynced, or read back and
-- hashed after a reboot); else the boot id of the kernel that wrote it without an fsync.
CREATE TABLE IF NOT EXISTS entries (
    digest TEXT PRIMARY KEY,
    size   INTEGER NOT NULL,
    used   REAL NOT NULL,
    boot   TEXT NOT NULL DEFAULT ''
) STRICT, WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS entries_by_use ON entries(used);
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
"""
UPSERT = """
INSERT INTO entries(digest, size, used, boot) VALUES (?, ?, ?, ?)
ON CONFLICT(digest) DO UPDATE SET size = excluded.size, used = excluded.used, boot = excluded.boot
"""
USE = "UPDATE entries SET used = ? WHERE digest = ? RETURNING boot"
OLDEST = "SELECT digest, size FROM entries ORDER BY used LIMIT 256"
TOTAL = "SELECT count(*), total(size) FROM entries"
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?)b?\s*", re.IGNORECASE)
_UNITS = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4, "p": 5}
_HEX = frozenset("0123456789abcdef")


def boot_id() -> str | None:
    """This kernel's boot id (Linux), or None where there is none to read."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as handle:
            return handle.read().strip() or None
    except OSError:
        return None


BOOT = boot_id()
# Marks a file found in the folder without a row: its bytes are checked before first use.
UNVERIFIED = "?"


def parse_size(value: object) -> int | None:
    """Bytes from an int or a text like ``"50GB"``, ``"500MiB"`` or ``"2g"`` (None stays None).

    KB/MB/GB are powers of 1000 and KiB/MiB/GiB powers of 1024, as disks and ``du -h`` write them.
    """
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise InvalidName(f"cache_size must not be negative: {value!r}")
        return value
    match = _SIZE.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise InvalidName(f"cache_size must be a number of bytes or a size like '50GB' or '500MiB', not {value!r}")
    number, unit, binary = match.groups()
    return int(float(number) * (1024 if binary else 1000) ** _UNITS[unit.lower()])


@dataclass(frozen=True)
class CacheUsage:
    """What a blob cache holds: ``files`` and ``bytes``, against its bound (None: unbounded)."""

    folder: str
    files: int
    bytes: int
    limit: int | None
    removed_files: int = 0
    removed_bytes: int = 0


class BlobCache:
    """Verified blob files on local disk, with an LRU bound."""

    def __init__(self, folder: Path, limit: int | None) -> None:
        self.folder = folder
        self.tmp = folder / "tmp"
        try:
            self.tmp.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DiskError(f"cannot create the blob cache {str(folder)!r}: {exc.strerror or exc}", exc.errno) from exc
        self._lock = threading.Lock()
        self._con: apsw.Connection | None = None
        self._pid = os.getpid()
        if limit is not None:
            with self._db() as con:
                con.execute("INSERT INTO settings(key, value) VALUES ('limit', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                            (str(limit),))

    # -- the index ---------------------------------------------------------------------

    def _connection(self) -> apsw.Connection:
        if self._con is None or self._pid != os.getpid():
            self._pid = os.getpid()
            con = apsw.Connection(str(self.folder / "cache.db"))
            con.set_busy_timeout(60_000)
            con.execute("PRAGMA journal_mode = WAL").fetchall()
            # Losing the last few "used" stamps in a power cut costs only a slightly wrong LRU order.
            con.execute("PRAGMA synchronous = OFF")
            con.execute(SCHEMA)
            self._con = con
        return self._con

    def _db(self) -> _Held:
        return _Held(self)

    @property
    def limit(self) -> int | None:
        """The bound in bytes, as last set by ``cache_size=`` on this folder (None: unbounded)."""
        with self._db() as con:
            row = con.execute("SELECT value FROM settings WHERE key = 'limit'").fetchone()
        return None if row is None else int(str(row[0]))

    def close(self) -> None:
        with self._lock:
            if self._con is not None and self._pid == os.getpid():
                self._con.close()
            self._con = None

    # -- entries -----------------------------------------------------------------------

    def path(self, digest: str) -> Path:
        return self.folder / digest[:2] / digest[2:]

    @property
    def needs_fsync(self) -> bool:
        """Whether a file must be fsynced before it enters: only where no boot id tells a reboot apart."""
        return BOOT is None

    def lookup(self, digest: str, size: int) -> Path | None:
        """The cached file of a blob, marked used; None when it is not here (or has the wrong size).

        A file written without an fsync by a kernel that has since rebooted may have lost its
        bytes in a power cut: it is hashed once before it is trusted again (and dropped when wrong).
        """
        path = self.path(digest)
        try:
            if path.stat().st_size != size:
                return None
        except FileNotFoundError:
            return None
        with self._db() as con:
            row = con.execute(USE, (time.time(), digest)).fetchone()
            if row is None:
                con.execute(UPSERT, (digest, size, time.time(), UNVERIFIED))
        boot = UNVERIFIED if row is None else str(row[0])
        if boot and boot != BOOT:
            if not _holds(path, digest, size):
                self.forget([digest])
                path.unlink(missing_ok=True)
                return None
            with self._db() as con:
                con.execute("UPDATE entries SET boot = '' WHERE digest = ?", (digest,))
        return path

    def admit(self, tmp: str, digest: str, size: int) -> Path:
        """Move a verified temporary file into the cache (read-only), then keep to the bound.

        Written without an fsync where the boot id says which kernel wrote it (``lookup``
        checks such files after a reboot); fsynced by the caller elsewhere (``needs_fsync``).
        The index row goes first, so a crash can leave a row without its file, never a file
        the bound does not count.
        """
        final = self.path(digest)
        with self._db() as con:
            con.execute(UPSERT, (digest, size, time.time(), BOOT or ""))
        try:
            os.chmod(tmp, 0o444)
            final.parent.mkdir(exist_ok=True)
            os.replace(tmp, final)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self.evict(keep=digest)
        return final

    def record(self, items: Iterable[tuple[str, int]]) -> None:
        """Index files already in place and on disk (a local store's fsynced folder becoming a cache)."""
        now = time.time()
        with self._db() as con:
            con.executemany(UPSERT, ((d, s, now, "") for d, s in items))
        self.evict()

    def forget(self, digests: Iterable[str]) -> None:
        """Drop entries whose files were removed (by gc)."""
        with self._db() as con:
            con.executemany("DELETE FROM entries WHERE digest = ?", ((d,) for d in digests))

    def evict(self, *, keep: str | None = None, limit: int | None = None) -> tuple[int, int]:
        """Remove least recently used entries until the cache fits ``limit`` (default: its bound).

        ``keep`` (the entry just added) goes last of all, even when it alone exceeds the
        bound: the caller is about to use it. Returns (files, bytes) removed.
        """
        bound = self.limit if limit is None else limit
        if bound is None:
            return 0, 0
        removed = freed = 0
        while True:
            with self._db() as con:
                _, total = con.execute(TOTAL).fetchone() or (0, 0.0)
                if total <= bound:
                    return removed, freed
                victims = [(d, s) for d, s in con.execute(OLDEST) if d != keep]
                if not victims:
                    return removed, freed
                over = int(total) - bound
                chosen = []
                for digest, size in victims:
                    chosen.append((digest, size))
                    over -= size
                    if over <= 0:
                        break
                con.executemany("DELETE FROM entries WHERE digest = ?", ((d,) for d, _ in chosen))
            for digest, size in chosen:
                self.path(digest).unlink(missing_ok=True)
                removed += 1
                freed += size

    def usage(self) -> CacheUsage:
        """Files and bytes in the cache, after indexing any file found without a row and
        dropping rows whose file is gone."""
        self._reconcile()
        with self._db() as con:
            files, total = con.execute(TOTAL).fetchone() or (0, 0.0)
        return CacheUsage(str(self.folder), int(files), int(total), self.limit)

    def prune(self, limit: int | None = None) -> CacheUsage:
        """Evict down to ``limit`` bytes (default: the bound; 0 empties the cache)."""
        self._reconcile()
        bound = self.limit if limit is None else limit
        if bound is None:
            raise InvalidName("this cache has no bound (cache_size=); give the size to prune down to, 0 to empty it")
        removed, freed = self.evict(limit=bound)
        now = self.usage()
        return CacheUsage(now.folder, now.files, now.bytes, now.limit, removed, freed)

    def _reconcile(self) -> None:
        found = dict(self.files())
        with self._db() as con:
            known = {d: s for d, s in con.execute("SELECT digest, size FROM entries")}
            con.executemany("DELETE FROM entries WHERE digest = ?", ((d,) for d in known if d not in found))
            stamp = time.time()
            con.executemany(UPSERT, ((d, s, stamp, UNVERIFIED) for d, s in found.items() if known.get(d) != s))

    def files(self) -> Iterator[tuple[str, int]]:
        """(digest, size) of every blob file in the folder (temporary files and strays excluded)."""
        try:
            top = os.scandir(self.folder)
        except FileNotFoundError:
            return
        with top:
            for folder in top:
                if len(folder.name) != 2 or not folder.is_dir(follow_symlinks=False):
                    continue
                with os.scandir(folder.path) as inner:
                    for item in inner:
                        digest = folder.name + item.name
                        if len(digest) == 64 and _HEX.issuperset(digest) and item.is_file(follow_symlinks=False):
                            yield digest, item.stat(follow_symlinks=False).st_size


def _holds(path: Path, digest: str, size: int) -> bool:
    """Whether the file holds exactly the blob (sha256 and size)."""
    try:
        return sha256_file(path) == (digest, size)
    except FileNotFoundError:
        return False


class _Held:
    """The cache index's connection inside one transaction, serialised between this process's threads."""

    def __init__(self, cache: BlobCache) -> None:
        self._cache = cache

    def __enter__(self) -> apsw.Connection:
        self._cache._lock.acquire()
        try:
            con = self._cache._connection()
            con.execute("BEGIN IMMEDIATE")
        except BaseException as exc:
            self._cache._lock.release()
            if isinstance(exc, apsw.Error):
                raise DiskError(f"the blob cache index {str(self._cache.folder / 'cache.db')!r} failed: {exc}") from exc
            raise
        self._con = con
        return con

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        try:
            self._con.execute("ROLLBACK" if exc is not None else "COMMIT")
        finally:
            self._cache._lock.release()
