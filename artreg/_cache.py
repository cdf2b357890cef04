"""The registry's cache: bytes made into local files for ``path()``, ``snapshot()`` and ``artreg://``.

Blob files are read where they are. Only bytes that have no file of their own are written
here, once: inline blobs, references fetched from their source (and blobs kept in remote
storage). It lives in ``objects/cache/`` of a registry with blob files, and in a private
temporary folder for a ``:memory:`` registry (removed by ``close()``)::

    sha256/ab/cdef...          bytes whose sha256 is their name (inline blobs, sha256-checked references)
    refs/ab/cdef...            a reference whose digest is not a hash of its bytes (an ETag, or only
                               its location), named by the entry's digest
    snapshots/<version digest> the default roots of ``snapshot()``: folders of symbolic links
    tmp/                       files and folders being made

A file is written under ``tmp/``, checked (its size, and its sha256 where the name is one),
fsynced, made read-only and only then renamed into place: a reader never sees a partial or
unchecked file, and a power cut cannot leave a named file whose bytes were lost. Writers hold
the store lock shared, as loggers do; ``gc`` holds it exclusively while it evicts what no live
version names, so it never removes a file being made. Nothing here is the only copy of
anything: a file that is gone is made again on its next use.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import tempfile
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import BinaryIO

from ._errors import ArtregError, IntegrityError
from ._hashing import CHUNK, sha256_file
from .references import NONE, SHA256, checksum_kind, open_reference
from .storage._blobs import READ_ONLY, check_bytes, storage_error, write_all
from .storage._manifest import ManifestEntry

CACHE_DIR = "cache"  # the folder's name inside objects/
CONTENT, REFS, SNAPSHOTS, TMP = "sha256", "refs", "snapshots", "tmp"

StoreLock = Callable[..., AbstractContextManager[None]]


class Cache:
    """Files made from bytes that have no file of their own, under one folder of the registry."""

    def __init__(self, folder: Path | None, lock: StoreLock) -> None:
        self._folder = folder
        self._lock = lock
        self._private: str | None = None
        self._made = threading.Lock()
        self._build = threading.Lock()  # snapshot builds of this object's threads (see build_lock)

    @property
    def root(self) -> Path:
        """The cache folder, created on first use (a private temporary folder without objects/)."""
        if self._folder is None:
            with self._made:
                if self._private is None:
                    self._private = tempfile.mkdtemp(prefix="artreg-cache-")
                    weakref.finalize(self, shutil.rmtree, self._private, True)
            return Path(self._private)
        return self._folder

    def close(self) -> None:
        """Remove a private (``:memory:``) cache folder; a registry's own stays for next time."""
        with self._made:
            private, self._private = self._private, None
        if private is not None:
            shutil.rmtree(private, ignore_errors=True)

    def lock(self) -> AbstractContextManager[None]:
        """The store lock, shared: held while files are made here, so gc cannot evict them meanwhile."""
        return self._lock(exclusive=False)

    # -- where things go ---------------------------------------------------------------

    def content_path(self, digest: str) -> Path:
        return self.root / CONTENT / digest[:2] / digest[2:]

    def reference_path(self, entry: ManifestEntry) -> Path:
        if checksum_kind(entry) == SHA256:
            return self.content_path(entry.digest)
        return self.root / REFS / entry.digest[:2] / entry.digest[2:]

    def snapshot_path(self, version_digest: str) -> str:
        return str(self.root / SNAPSHOTS / version_digest)

    def temp_folder(self) -> Path:
        tmp = self.root / TMP
        tmp.mkdir(parents=True, exist_ok=True)
        return tmp

    # -- making files (callers hold ``lock()``) ----------------------------------------

    def inline(self, digest: str, size: int, data: bytes) -> str:
        """The cached file of an inline blob, written (after checking ``data``) when missing."""
        final = self.content_path(digest)
        if _present(final, size):
            return str(final)
        check_bytes(digest, size, data)
        with self._writing(final) as fd:
            write_all(fd, memoryview(data))
        return str(final)

    def stream(self, digest: str, size: int, reader: BinaryIO) -> str:
        """The cached file of blob ``digest``, copied from ``reader`` when missing and checked before it appears."""
        final = self.content_path(digest)
        if _present(final, size):
            return str(final)
        with self._writing(final) as fd:
            got, seen = _copy(reader, fd)
            if seen != size or got != digest:
                raise IntegrityError(f"blob {digest} is corrupt: the bytes read ({seen:,}) do not match their digest")
        return str(final)

    def reference(self, entry: ManifestEntry) -> str:
        """The cached file of a reference entry, fetched from its source when missing.

        The fetch is checked against the entry as ``download()`` checks it (size, and the
        sha256 or the ETag recorded). A location-only entry (``checksum=False``) records
        no content, so a cached copy could be stale: it is fetched again on every call.
        """
        final = self.reference_path(entry)
        kind = checksum_kind(entry)
        if kind != NONE and _present(final, entry.size):
            return str(final)
        with self._writing(final) as fd, open_reference(entry) as reader:
            got, seen = _copy(reader, fd)
            if kind != NONE and seen != entry.size:  # open_reference checks too; a name must never lie
                raise IntegrityError(f"reference {entry.ref!r} changed: {seen:,} bytes, {entry.size:,} recorded")
            if kind == SHA256 and got != entry.digest:
                raise IntegrityError(f"reference {entry.ref!r} changed: its sha256 differs from the recorded one")
        return str(final)

    @contextmanager
    def _writing(self, final: Path) -> Iterator[int]:
        """A descriptor of a new temporary file that becomes ``final`` when the block ends without error."""
        try:
            fd, tmp = tempfile.mkstemp(dir=self.temp_folder(), suffix=".tmp")
        except OSError as exc:
            raise storage_error(exc, self.root) from exc
        try:
            try:
                yield fd
                os.fsync(fd)  # the bytes are on disk before the name is: never a named file of lost bytes
            finally:
                os.close(fd)
            os.chmod(tmp, READ_ONLY)
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, final)
        except BaseException as exc:
            Path(tmp).unlink(missing_ok=True)
            if isinstance(exc, OSError) and not isinstance(exc, ArtregError):
                raise storage_error(exc, self.root) from exc
            raise

    @contextmanager
    def build_lock(self) -> Iterator[None]:
        """Serialises snapshot builds of this registry, across threads and processes."""
        with self._build:
            if self._folder is None:
                yield
                return
            self.root.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.root / "lock", os.O_RDONLY | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)

    # -- gc and check (callers hold the store lock exclusively) ------------------------

    def cached(self) -> list[tuple[str, Path]]:
        """(digest, path) of every cached copy (content and references)."""
        if not self._exists():
            return []
        return [(p.parent.name + p.name, p) for p in self._files()]

    def snapshots(self) -> list[tuple[str, Path]]:
        """(version digest, path) of every folder in ``snapshots/`` (leftovers of builds included)."""
        return [(p.name, p) for p in _children(self.root / SNAPSHOTS)] if self._exists() else []

    def leftovers(self) -> list[Path]:
        """What interrupted writes left in ``tmp/``: only safe to remove under the exclusive store lock."""
        return _children(self.root / TMP) if self._exists() else []

    @staticmethod
    def remove(paths: list[Path], *, dry_run: bool) -> tuple[int, int]:
        """Remove files and folders of the cache; (count, bytes) of what goes (or would go)."""
        freed = sum(_du(p) for p in paths)
        if not dry_run:
            for path in paths:
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
        return len(paths), freed

    def corrupt(self, *, fix: bool) -> list[str]:
        """Cached content files whose bytes no longer hash to their name (removed with ``fix``)."""
        if not self._exists():
            return []
        bad = []
        for path in _children_files(self.root / CONTENT):
            if sha256_file(path)[0] != path.parent.name + path.name:
                bad.append(str(path))
                if fix:
                    path.unlink(missing_ok=True)
        return bad

    def _exists(self) -> bool:
        return (self._folder is not None and self._folder.is_dir()) or self._private is not None

    def _files(self) -> Iterator[Path]:
        yield from _children_files(self.root / CONTENT)
        yield from _children_files(self.root / REFS)


def _present(path: Path, size: int) -> bool:
    try:
        return path.stat().st_size == size
    except FileNotFoundError:
        return False


def _copy(reader: BinaryIO, fd: int) -> tuple[str, int]:
    """Copy ``reader`` to ``fd`` to its end; the sha256 hex of the bytes and their count."""
    hasher = hashlib.sha256()
    buf = memoryview(bytearray(CHUNK))
    seen = 0
    while n := reader.readinto(buf):  # type: ignore[attr-defined]
        hasher.update(buf[:n])
        write_all(fd, buf[:n])
        seen += n
    return hasher.hexdigest(), seen


def _children(folder: Path) -> list[Path]:
    try:
        return sorted(folder.iterdir())
    except FileNotFoundError:
        return []


def _children_files(top: Path) -> Iterator[Path]:
    """The files of a two-level ``ab/cdef...`` fan-out folder."""
    for fan in _children(top):
        if fan.is_dir() and not fan.is_symlink():
            yield from (p for p in _children(fan) if not p.is_dir())


def _du(path: Path) -> int:
    """Bytes of a file, or of the files in a folder (a snapshot's links count as their own few bytes)."""
    try:
        if not path.is_dir() or path.is_symlink():
            return path.lstat().st_size
        return sum(os.lstat(os.path.join(top, name)).st_size for top, _, names in os.walk(path) for name in names)
    except FileNotFoundError:
        return 0


