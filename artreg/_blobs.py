"""Content-addressed blob storage: sha256-named bytes, inline in SQLite or as files.

Write order (as in diskcache): a blob file is written to ``objects/tmp``, fsynced, made
read-only and renamed to ``objects/ab/cdef...`` *before* the transaction that references
it, so a crash leaves at worst an orphan file. Files are removed only after the commit
that stops referencing them (``gc``).

Loggers hold the store lock shared from the first blob they write until their commit;
``gc`` holds it exclusively, so it never sweeps a blob an in-flight log is about to name.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import io
import json
import os
import stat
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ._db import Database
from ._errors import ArtregError, IntegrityError

CHUNK = 1 << 20
# Buffers in flight while a blob file is written: one being hashed, one being written, one
# being read into. A buffer is refilled only once its hash is done.
PIPELINE = 3
# After this many bytes of a blob file are written the kernel is asked to start writing them
# back, so that the fsync at the end waits for the tail only instead of the whole file.
WRITEBACK = 64 << 20
READ_ONLY = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH

SELECT_ROWS = "SELECT digest, data FROM blobs WHERE digest IN (SELECT value FROM json_each(?))"


@dataclass(frozen=True)
class Staged:
    """A blob file written and fsynced under ``objects/tmp``, not yet under its name."""

    digest: str
    size: int
    path: str


@dataclass(frozen=True)
class Stored:
    """A blob as ingested: its digest and size, and its bytes when it belongs inline."""

    digest: str
    size: int
    data: bytes | None


class BlobStore:
    """sha256-addressed bytes of one registry."""

    def __init__(self, db: Database, objects: Path | None, inline_limit: int) -> None:
        self.db = db
        self.objects = objects
        self.inline_limit = inline_limit
        self._memory_lock = _ReadWriteLock()
        if objects is not None:
            (objects / "tmp").mkdir(parents=True, exist_ok=True)

    def is_inline(self, size: int) -> bool:
        return self.objects is None or size <= self.inline_limit

    def object_path(self, digest: str) -> Path:
        assert self.objects is not None
        return self.objects / digest[:2] / digest[2:]

    # -- locking -----------------------------------------------------------------------

    @contextmanager
    def lock(self, *, exclusive: bool) -> Iterator[None]:
        """The store lock: shared for loggers, exclusive for gc (across processes)."""
        if self.objects is None:
            with self._memory_lock.hold(exclusive=exclusive):
                yield
            return
        try:
            # Read-only is enough for flock, and works where the lock file is not ours to write.
            fd = os.open(self.objects / "lock", os.O_RDONLY | os.O_CREAT, 0o644)
        except OSError as exc:
            raise storage_error(exc, self.objects) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the flock

    # -- writing -----------------------------------------------------------------------

    def ingest_open_file(self, src: BinaryIO, size: int) -> Stored:
        """Hash an open file while storing it; inline blobs come back as bytes for the caller's transaction."""
        if self.is_inline(size):
            data = src.read(size + 1)  # one read() for a small file, where _read_all takes two
            if len(data) == size + 1 or len(data) < size:
                data += _read_all(src)
            if self.is_inline(len(data)):
                return Stored(hashlib.sha256(data).hexdigest(), len(data), data)
            return self._ingest_stream(io.BytesIO(data), size, getattr(src, "name", None))
        return self._ingest_stream(src, size, getattr(src, "name", None))

    def ingest_bytes(self, data: bytes) -> Stored:
        """Store bytes held in memory (inline, or as a file when above the limit)."""
        if self.is_inline(len(data)):
            return Stored(hashlib.sha256(data).hexdigest(), len(data), bytes(data))
        return self._ingest_stream(io.BytesIO(data))

    def ingest_stream(self, stream: BinaryIO) -> Stored:
        """Store a readable stream of unknown length."""
        head = stream.read(self.inline_limit + 1)
        if self.objects is None:
            head += _read_all(stream)  # no blob files: everything is inline, however long
        if self.is_inline(len(head)):
            return Stored(hashlib.sha256(head).hexdigest(), len(head), head)
        return self._ingest_stream(_Chain(head, stream))

    def _ingest_stream(self, src: BinaryIO, expect: int | None = None, name: object = None) -> Stored:
        """Write a blob file; with ``expect``, a stream of another length is refused and nothing is kept."""
        staged = self.stage(src, expect, name)
        self.place(staged)
        return Stored(staged.digest, staged.size, None)

    def stage(self, src: BinaryIO, expect: int | None = None, name: object = None) -> Staged:
        """Copy a stream to a fsynced, read-only temporary file in ``objects/tmp``, hashing it on the way.

        ``place`` then gives it its name; ``discard`` removes it. Until then it is not a blob:
        ``gc`` (which waits for the store lock the caller holds shared) would sweep it.
        """
        assert self.objects is not None
        tmp_dir = self.objects / "tmp"
        try:
            fd, tmp_name = tempfile.mkstemp(dir=tmp_dir, suffix=".tmp")
        except OSError as exc:
            raise storage_error(exc, self.objects) from exc
        try:
            try:
                digest, size = copy_hashing(src, _FileWriter(fd))
                if expect is not None and size != expect:
                    what = repr(name) if isinstance(name, str) else "the file"
                    raise ArtregError(f"{what} changed while it was being stored ({expect:,} bytes expected, {size:,} read); add it again")
                os.fsync(fd)
            finally:
                os.close(fd)
            os.chmod(tmp_name, READ_ONLY)
        except BaseException as exc:
            Path(tmp_name).unlink(missing_ok=True)
            if isinstance(exc, OSError):
                raise storage_error(exc, self.objects) from exc
            raise
        return Staged(digest, size, tmp_name)

    def place(self, staged: Staged) -> None:
        """Rename a staged file to ``objects/ab/cdef...`` (or drop it when that file is already there), durably."""
        assert self.objects is not None
        try:
            final = self.object_path(staged.digest)
            if final.exists() and final.stat().st_size == staged.size:
                os.unlink(staged.path)
                return
            if not final.parent.is_dir():
                final.parent.mkdir(exist_ok=True)
                _fsync_dir(self.objects)  # the new folder's own entry must outlive a power cut too
            os.replace(staged.path, final)
            _fsync_dir(final.parent)
        except BaseException as exc:
            self.discard(staged)
            if isinstance(exc, OSError):
                raise storage_error(exc, self.objects) from exc
            raise

    @staticmethod
    def discard(staged: Staged) -> None:
        """Remove a staged file that will not be placed."""
        Path(staged.path).unlink(missing_ok=True)

    def file_present(self, digest: str, size: int) -> bool:
        """True when the blob file exists with the expected size."""
        try:
            return self.object_path(digest).stat().st_size == size
        except FileNotFoundError:
            return False

    # -- reading -----------------------------------------------------------------------

    def open(self, digest: str, size: int) -> BinaryIO:
        """A binary reader of the blob that raises IntegrityError at EOF if the bytes are wrong."""
        with self.db.read() as con:
            row = con.execute("SELECT size, data FROM blobs WHERE digest = ?", (digest,)).fetchone()
        if row is None:
            raise IntegrityError(f"blob {digest} is missing from the registry", missing=[digest])
        return self.reader(digest, size, row[1])

    def rows(self, digests: Iterable[str]) -> dict[str, bytes | None]:
        """digest -> inline bytes, or None for a file blob, in one query; stored digests only."""
        with self.db.read() as con:
            return dict(con.execute(SELECT_ROWS, (json.dumps(sorted(set(digests))),)))

    def reader(self, digest: str, size: int, data: bytes | None) -> BinaryIO:
        """``open`` for a blob whose row is already read: its inline ``data``, or None for its file."""
        if data is not None:
            raw: BinaryIO = io.BytesIO(data)
        else:
            try:
                raw = open(self.object_path(digest), "rb")  # noqa: SIM115 - returned to caller
            except FileNotFoundError as exc:
                raise IntegrityError(f"blob file for {digest} is missing from {self.objects}", missing=[digest]) from exc
        return VerifyingReader(raw, digest, size)  # type: ignore[return-value]


def check_bytes(digest: str, size: int, data: bytes) -> None:
    """Raise IntegrityError unless ``data`` is the blob ``digest`` of ``size`` bytes."""
    if len(data) != size or hashlib.sha256(data).hexdigest() != digest:
        raise IntegrityError(f"blob {digest} is corrupt: its bytes do not match their digest")


class VerifyingReader(io.RawIOBase):
    """Streams a blob and checks its sha256 and size when a sequential read reaches EOF."""

    def __init__(self, raw: BinaryIO, digest: str, size: int) -> None:
        self._raw = raw
        self._digest = digest
        self._size = size
        self._hasher: hashlib._Hash | None = hashlib.sha256()
        self._seen = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        n = self._raw.readinto(buffer)  # type: ignore[attr-defined]
        if self._hasher is not None:
            if n:
                self._hasher.update(memoryview(buffer)[:n])
                self._seen += n
            elif len(buffer):
                self._check()
        return int(n)

    def _check(self) -> None:
        assert self._hasher is not None
        ok = self._seen == self._size and self._hasher.hexdigest() == self._digest
        self._hasher = None
        if not ok:
            raise IntegrityError(f"blob {self._digest} is corrupt: its bytes do not match their digest")

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        position = self._raw.seek(offset, whence)
        if position != self._seen:
            self._hasher = None  # random access: the digest can no longer be checked here
        return position

    def tell(self) -> int:
        return self._raw.tell()

    def close(self) -> None:
        self._raw.close()
        super().close()


class _Chain(io.RawIOBase, BinaryIO):
    """``head`` followed by the rest of ``tail``, as one readable stream."""

    def __init__(self, head: bytes, tail: BinaryIO) -> None:
        self._head = memoryview(head)
        self._tail = tail

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._tail.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class _ReadWriteLock:
    """Shared/exclusive lock for one process (``:memory:`` registries have no lock file)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False

    @contextmanager
    def hold(self, *, exclusive: bool) -> Iterator[None]:
        with self._cond:
            while self._writer or (exclusive and self._readers):
                self._cond.wait()
            if exclusive:
                self._writer = True
            else:
                self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                if exclusive:
                    self._writer = False
                else:
                    self._readers -= 1
                self._cond.notify_all()


def write_all(fd: int, data: memoryview) -> None:
    """Write every byte: ``os.write`` may write only part (a disk filling up, a file size
    limit), and then the next call raises the error the short write stood for."""
    while data:
        data = data[os.write(fd, data):]


class _FileWriter:
    """Writes chunks to a file descriptor, asking the kernel to start writeback every ``WRITEBACK`` bytes."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.size = 0
        self.written_back = 0

    def __call__(self, chunk: memoryview) -> None:
        write_all(self.fd, chunk)
        self.size += len(chunk)
        if self.size - self.written_back >= WRITEBACK:
            _start_writeback(self.fd, self.written_back, self.size - self.written_back)
            self.written_back = self.size


def copy_hashing(src: BinaryIO, write: Callable[[memoryview], object]) -> tuple[str, int]:
    """Copy ``src`` to ``write`` until EOF; returns the sha256 hex of exactly the bytes written, and their count.

    The hashing runs on a second thread: hashlib and ``os.write`` both release the GIL, so
    hashing one chunk overlaps writing it and reading the next (sha256 and the I/O take about
    as long as each other). Each chunk is hashed from the same buffer it is written from, and
    a buffer is refilled only after its hash is done: no byte is read twice. ``write`` must
    be done with a chunk when it returns.
    """
    hasher = hashlib.sha256()
    views = [memoryview(bytearray(CHUNK)) for _ in range(PIPELINE)]
    hashing: list[Future[None] | None] = [None] * PIPELINE
    size = slot = 0
    with ThreadPoolExecutor(1, thread_name_prefix="artreg-hash") as pool:
        while True:
            pending = hashing[slot]
            if pending is not None:
                pending.result()
            n = _read_into(src, views[slot])
            if not n:
                break
            chunk = views[slot][:n]
            try:
                if size:
                    hashing[slot] = pool.submit(hasher.update, chunk)
                else:
                    hasher.update(chunk)  # a blob of one chunk never starts the thread
            except RuntimeError:  # the interpreter is exiting (an atexit handler logs): no new threads
                for pending in hashing:
                    if pending is not None:
                        pending.result()  # the chunks before this one, in order
                hashing = [None] * PIPELINE
                hasher.update(chunk)
            write(chunk)
            size += n
            slot = (slot + 1) % PIPELINE
        for pending in hashing:
            if pending is not None:
                pending.result()
    return hasher.hexdigest(), size


def _start_writeback(fd: int, offset: int, length: int) -> None:
    """Ask the kernel to start writing a range of ``fd`` back, without waiting for it.

    On Linux ``POSIX_FADV_DONTNEED`` starts writeback of the range's dirty pages (and drops
    only pages that are already clean), which Python offers where ``sync_file_range`` is
    missing. It is a hint: nothing depends on it, and its failure is ignored.
    """
    advise = getattr(os, "posix_fadvise", None)
    if advise is None:
        return
    with suppress(OSError):
        advise(fd, offset, length, os.POSIX_FADV_DONTNEED)


def _read_into(src: BinaryIO, view: memoryview) -> int:
    """``src.readinto``, with a read error told apart from the write errors around it."""
    try:
        return int(src.readinto(view))  # type: ignore[attr-defined]
    except OSError as exc:
        raise ArtregError(f"cannot read the bytes to store: {exc.strerror or exc}") from exc


def storage_error(exc: OSError, folder: str | Path) -> ArtregError:
    """The ArtregError for a file that could not be written in ``folder`` (full disk, read-only folder, ...)."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return ArtregError(f"the disk holding {str(folder)!r} is full, or a file size limit was reached: {exc.strerror}")
    return ArtregError(f"cannot write in {str(folder)!r}: {exc.strerror or exc}")


def _read_all(src: BinaryIO) -> bytes:
    chunks = []
    while chunk := src.read(CHUNK):
        chunks.append(chunk)
    return b"".join(chunks)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
