"""Content-addressed blob storage: sha256-named bytes, inline in the catalog or in an object store.

The seam: ``BlobStore`` is the catalog's side (inline rows, the row that proves a blob is
stored, the store lock) and delegates every blob above the inline limit to one
``ObjectStore``: ``LocalFiles`` (the registry's own ``objects/`` folder, here) or
``S3Files`` (a bucket prefix with ``objects/`` as its bounded cache, ``_s3_store``). Both
lay files out as ``<folder>/ab/cdef…``, so downloads link or copy from either alike.
``BlobStore.identity`` tells two registries that share one physical store (a copy between
them records blobs with ``adopt`` instead of sending them).

Write order (as in diskcache): a blob is stored (a file written to ``objects/tmp``, fsynced,
made read-only and renamed to ``objects/ab/cdef...``; or uploaded) *before* the transaction
that references it, so a crash leaves at worst an orphan. Blobs are removed only after the
commit that stops referencing them (``gc``).

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
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from .._errors import ArtregError, Conflict, DiskError, IntegrityError
from .._hashing import CHUNK, sha256_stream
from . import _blob_rows as blob_rows
from ._db import Database

# Buffers in flight while a blob file is written: one being hashed, one being written, one
# being read into. A buffer is refilled only once its hash is done.
PIPELINE = 3
# After this many bytes of a blob file are written the kernel is asked to start writing them
# back, so that the fsync at the end waits for the tail only instead of the whole file.
WRITEBACK = 64 << 20
READ_ONLY = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH



@dataclass(frozen=True)
class Staged:
    """A blob on its way in: a file written and fsynced under ``objects/tmp``, not yet under its
    name (``path``); or, for a remote store, on its way up (``path`` empty, nothing to place):
    ``pending`` must finish before a commit names it."""

    digest: str
    size: int
    path: str
    pending: Future[Any] | None = None


@dataclass(frozen=True)
class Stored:
    """A blob as ingested: its digest and size, its bytes when it belongs inline, and the
    upload still under way (a remote store) that must finish before a commit names it."""

    digest: str
    size: int
    data: bytes | None
    pending: Future[Any] | None = None


class ObjectStore(Protocol):
    """Where blobs above the inline limit live: a local folder, or a bucket with a local cache.

    Both keep files laid out as ``<folder>/ab/cdef…`` (``folder``): the store itself when
    local, the cache of the bucket when remote, so downloads link or copy from it alike.
    Implementations: ``LocalFiles`` here, ``S3Files`` in ``_s3_store``. The catalog side
    (inline rows, the blob rows that prove presence, the lock) is ``BlobStore``'s.
    """

    folder: Path
    remote: bool

    @property
    def identity(self) -> str:
        """Equal for two registries whose blobs live in the same physical store (a copy between them moves no bytes)."""
        ...

    @property
    def url(self) -> str:
        """Where the blobs are, for people: a folder path or ``s3://bucket/prefix``."""
        ...

    def store(self, src: BinaryIO, expect: int | None, name: object, want: str | None = None) -> Stored:
        """Hash ``src`` while storing it; a remote store returns with the upload pending.

        With ``want``, bytes that hash otherwise are neither kept nor sent: the Stored comes
        back with the digest they have, and the caller refuses them.
        """
        ...

    def present(self, digest: str, size: int) -> bool:
        """Whether a blob whose row exists is really there (remote: the row is the proof)."""
        ...

    def local_file(self, digest: str, size: int) -> Path:
        """A local, read-only file of the blob: fetched and verified first when remote; IntegrityError if missing."""
        ...

    def open(self, digest: str, size: int) -> BinaryIO:
        """The blob's bytes as a raw stream (unverified: BlobStore wraps it); IntegrityError if missing."""
        ...

    def adopt(self, digest: str, size: int) -> Stored:
        """Take a blob already in this physical store (named by another registry sharing it) without moving bytes."""
        ...

    def discard(self, digests: Iterable[str]) -> None:
        """After the commit that dropped their rows: remove the local files of these blobs."""
        ...

    def state(self, digest: str, size: int) -> str:
        """``ok``, ``missing`` or ``corrupt``, by reading the blob's bytes in the store itself."""
        ...

    def writing(self) -> AbstractContextManager[None]:
        """Held by a log from its first blob to its commit (a remote store keeps its claims in mind meanwhile)."""
        ...

    def just_verified(self, digest: str) -> bool:
        """Whether this thread's last ``local_file`` call fetched and hashed this blob (no need to hash it again)."""
        ...

    def check_cache(self, known: dict[str, int], *, fix: bool) -> list[str]:
        """Digests of cached copies whose bytes are wrong (removed with ``fix``); a local store has no cache."""
        ...

    def close(self) -> None:
        """Let go of threads and connections."""
        ...


class BlobStore:
    """sha256-addressed bytes of one registry: inline rows in the catalog, the rest in ``files``."""

    def __init__(self, db: Database, objects: Path | None, inline_limit: int, files: ObjectStore | None = None, *,
                 create: bool = True) -> None:
        self.db = db
        self.objects = objects
        self.inline_limit = inline_limit
        self._memory_lock = _ReadWriteLock()
        if objects is not None and create:
            try:
                (objects / "tmp").mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise storage_error(exc, objects) from exc
        self.files: ObjectStore | None = files if files is not None else None if objects is None else LocalFiles(objects)

    def is_inline(self, size: int) -> bool:
        return self.objects is None or size <= self.inline_limit

    def object_path(self, digest: str) -> Path:
        """Where the blob's local file is (or would be): the store's, or the cache's."""
        assert self.objects is not None
        return self.objects / digest[:2] / digest[2:]

    @property
    def identity(self) -> str | None:
        """The physical store's identity (None for ``:memory:``): registries that share one need not copy blobs."""
        return None if self.files is None else self.files.identity

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
            if exclusive:
                yield
                return
            self._check_location()
            assert self.files is not None
            with self.files.writing():
                yield
        finally:
            os.close(fd)  # closing the descriptor releases the flock

    def _check_location(self) -> None:
        """Refuse to write or fetch through a store the registry has moved away from (``blobs move``)."""
        now = self.db.setting("blobs")
        mine = self.files.url if self.files is not None and self.files.remote else None
        if now != mine:
            raise Conflict(f"this registry's blobs moved to {now} after it was opened here; open it again")

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
        """Store a blob file; with ``expect``, a stream of another length is refused and nothing is kept."""
        assert self.files is not None
        return self.files.store(src, expect, name)

    def adopt(self, digest: str, size: int) -> Stored:
        """A blob another registry sharing this physical store already holds: recorded without moving bytes."""
        assert self.files is not None
        return self.files.adopt(digest, size)

    def stage(self, src: BinaryIO, expect: int | None = None, name: object = None, *, want: str | None = None) -> Staged:
        """Take a blob file in without naming it yet: ``place`` names it, ``discard_staged`` drops it.

        Locally the bytes wait, fsynced, in ``objects/tmp`` (an import checks a whole bundle
        before any of its blobs gets a name). A remote store has no rename: the blob goes up
        now (claimed, conditionally, checksummed; ``pending`` until done), and an import that
        then fails leaves an object nobody names once its claims lapse, which the prefix
        owner's gc sweeps after its grace period. With ``want``, bytes that hash otherwise
        are neither kept nor sent: the Staged has the digest they have and nothing to place.
        """
        assert self.files is not None and self.objects is not None
        if self.files.remote:
            stored = self.files.store(src, expect, name, want)
            return Staged(stored.digest, stored.size, "", stored.pending)
        staged = stage_blob_file(self.objects, src, expect, name)
        if want is not None and staged.digest != want:
            self.discard_staged(staged)
            return Staged(staged.digest, staged.size, "")
        return staged

    def place(self, staged: Staged) -> None:
        """Give a staged blob file its name ``objects/ab/cdef...``, durably (nothing to do for a remote store)."""
        if staged.path:
            assert self.objects is not None
            place_blob_file(self.objects, staged)

    @staticmethod
    def discard_staged(staged: Staged) -> None:
        """Remove a staged file that will not be placed."""
        if staged.path:
            Path(staged.path).unlink(missing_ok=True)

    def file_present(self, digest: str, size: int) -> bool:
        """True when the blob (whose row says it is not inline) is in the store."""
        return self.files is not None and self.files.present(digest, size)

    def local_file(self, digest: str, size: int) -> Path:
        """A local read-only file of a stored (not inline) blob; IntegrityError when it is missing."""
        assert self.files is not None
        return self.files.local_file(digest, size)

    # -- reading -----------------------------------------------------------------------

    def open(self, digest: str, size: int) -> BinaryIO:
        """A binary reader of the blob that raises IntegrityError at EOF if the bytes are wrong."""
        with self.db.read() as con:
            row = con.execute(blob_rows.SELECT_ONE, (digest,)).fetchone()
        if row is None:
            raise IntegrityError(f"blob {digest} is missing from the registry", missing=[digest])
        return self.reader(digest, size, row[1])

    def rows(self, digests: Iterable[str]) -> dict[str, bytes | None]:
        """digest -> inline bytes, or None for a file blob, in one query; stored digests only."""
        with self.db.read() as con:
            return dict(con.execute(blob_rows.SELECT_DATA, (json.dumps(sorted(set(digests))),)))

    def reader(self, digest: str, size: int, data: bytes | None) -> BinaryIO:
        """``open`` for a blob whose row is already read: its inline ``data``, or None for its file."""
        if data is not None:
            raw: BinaryIO = io.BytesIO(data)
        else:
            assert self.files is not None
            raw = self.files.open(digest, size)
        return VerifyingReader(raw, digest, size)  # type: ignore[return-value]


class LocalFiles:
    """Blob files in the registry's own ``objects/`` folder: the store itself, not a cache.

    Write order (as in diskcache): a blob file is written to ``objects/tmp``, fsynced, made
    read-only and renamed to ``objects/ab/cdef...`` before the transaction that names it.
    """

    remote = False

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @property
    def identity(self) -> str:
        return f"file:{os.path.realpath(self.folder)}"

    @property
    def url(self) -> str:
        return str(self.folder)

    def path(self, digest: str) -> Path:
        return self.folder / digest[:2] / digest[2:]

    def store(self, src: BinaryIO, expect: int | None, name: object, want: str | None = None) -> Stored:
        staged = stage_blob_file(self.folder, src, expect, name)
        if want is not None and staged.digest != want:
            Path(staged.path).unlink(missing_ok=True)
        else:
            place_blob_file(self.folder, staged)
        return Stored(staged.digest, staged.size, None)

    def present(self, digest: str, size: int) -> bool:
        try:
            return self.path(digest).stat().st_size == size
        except FileNotFoundError:
            return False

    def local_file(self, digest: str, size: int) -> Path:
        if not self.present(digest, size):
            raise IntegrityError(f"blob file for {digest} is missing or truncated in {self.folder}", missing=[digest])
        return self.path(digest)

    def open(self, digest: str, size: int) -> BinaryIO:
        try:
            return open(self.path(digest), "rb")  # noqa: SIM115 - returned to caller
        except FileNotFoundError as exc:
            raise IntegrityError(f"blob file for {digest} is missing from {self.folder}", missing=[digest]) from exc

    def adopt(self, digest: str, size: int) -> Stored:
        if not self.present(digest, size):
            raise IntegrityError(f"blob file for {digest} is missing from {self.folder}", missing=[digest])
        return Stored(digest, size, None)

    def discard(self, digests: Iterable[str]) -> None:
        for digest in digests:
            self.path(digest).unlink(missing_ok=True)

    def state(self, digest: str, size: int) -> str:
        try:
            with open(self.path(digest), "rb") as handle:
                return "ok" if sha256_stream(handle) == (digest, size) else "corrupt"
        except FileNotFoundError:
            return "missing"

    def writing(self) -> AbstractContextManager[None]:
        return nullcontext()

    def just_verified(self, digest: str) -> bool:
        return False

    def check_cache(self, known: dict[str, int], *, fix: bool) -> list[str]:
        return []

    def close(self) -> None:
        pass


def wait_all(futures: Iterable[Future[Any]]) -> None:
    """Wait for every future, then raise the first one's error, if any (none is left running)."""
    first: BaseException | None = None
    for future in futures:
        try:
            future.result()
        except BaseException as exc:  # noqa: BLE001 - re-raised below, after the others finish
            first = first or exc
    if first is not None:
        raise first


def stage_blob_file(folder: Path, src: BinaryIO, expect: int | None, name: object, parts: PartHasher | None = None) -> Staged:
    """Copy ``src`` to a fsynced, read-only temporary file in ``folder/tmp``, hashing it on the way.

    ``place_blob_file`` then gives it its name. Until then it is not a blob: ``gc`` (which
    waits for the store lock the caller holds shared) would sweep it.
    """
    try:
        fd, tmp_name = tempfile.mkstemp(dir=folder / "tmp", suffix=".tmp")
    except OSError as exc:
        raise storage_error(exc, folder) from exc
    try:
        try:
            digest, size = _copy_hashing(src, fd, parts)
            if expect is not None and size != expect:
                what = repr(name) if isinstance(name, str) else "the file"
                raise IntegrityError(f"{what} changed while it was being stored ({expect:,} bytes expected, {size:,} read); add it again")
            os.fsync(fd)
        finally:
            os.close(fd)
        os.chmod(tmp_name, READ_ONLY)
    except BaseException as exc:
        Path(tmp_name).unlink(missing_ok=True)
        if isinstance(exc, OSError) and not isinstance(exc, ArtregError):  # a StoreError or a source's error is already clear
            raise storage_error(exc, folder) from exc
        raise
    return Staged(digest, size, tmp_name)


def place_blob_file(folder: Path, staged: Staged) -> None:
    """Rename a staged file to ``folder/ab/cdef...`` (or drop it when that file is already there), durably."""
    try:
        final = folder / staged.digest[:2] / staged.digest[2:]
        if final.exists() and final.stat().st_size == staged.size:
            os.unlink(staged.path)
            return
        if not final.parent.is_dir():
            final.parent.mkdir(exist_ok=True)
            _fsync_dir(folder)  # the new folder's own entry must outlive a power cut too
        os.replace(staged.path, final)
        _fsync_dir(final.parent)
    except BaseException as exc:
        Path(staged.path).unlink(missing_ok=True)
        if isinstance(exc, OSError) and not isinstance(exc, ArtregError):
            raise storage_error(exc, folder) from exc
        raise


class PartHasher:
    """sha256 of each ``part_size`` slice of a stream, fed in pieces of any length."""

    def __init__(self, part_size: int) -> None:
        self.part_size = part_size
        self.digests: list[bytes] = []
        self._hasher = hashlib.sha256()
        self._filled = 0

    def update(self, view: memoryview) -> None:
        while view:
            take = min(len(view), self.part_size - self._filled)
            self._hasher.update(view[:take])
            self._filled += take
            view = view[take:]
            if self._filled == self.part_size:
                self.digests.append(self._hasher.digest())
                self._hasher = hashlib.sha256()
                self._filled = 0

    def finish(self) -> list[bytes]:
        """The digests of every part, the last (short) one included."""
        if self._filled:
            self.digests.append(self._hasher.digest())
            self._filled = 0
        return self.digests


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


def _copy_hashing(src: BinaryIO, fd: int, parts: PartHasher | None = None) -> tuple[str, int]:
    """Copy ``src`` to ``fd`` (see ``copy_hashing``), starting writeback every ``WRITEBACK`` bytes."""
    return copy_hashing(src, _FileWriter(fd), parts)


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


def copy_hashing(src: BinaryIO, write: Callable[[memoryview], object], parts: PartHasher | None = None) -> tuple[str, int]:
    """Copy ``src`` to ``write`` until EOF; returns the sha256 hex of exactly the bytes written, and their count.

    The hashing runs on a second thread: hashlib and ``os.write`` both release the GIL, so
    hashing one chunk overlaps writing it and reading the next (sha256 and the I/O take about
    as long as each other). Each chunk is hashed from the same buffer it is written from, and
    a buffer is refilled only after its hash is done: no byte is read twice. ``write`` must
    be done with a chunk when it returns. ``parts`` hashes the same buffers once more, on a
    third thread.
    """
    hasher = hashlib.sha256()
    views = [memoryview(bytearray(CHUNK)) for _ in range(PIPELINE)]
    hashing: list[Future[None] | None] = [None] * PIPELINE
    part_hashing: list[Future[None] | None] = [None] * PIPELINE
    size = slot = 0
    with ThreadPoolExecutor(1, thread_name_prefix="artreg-hash") as pool, \
            ThreadPoolExecutor(1, thread_name_prefix="artreg-hash-parts") as part_pool:
        while True:
            for waiting in (hashing, part_hashing):
                pending = waiting[slot]
                if pending is not None:
                    pending.result()
            n = _read_into(src, views[slot])
            if not n:
                break
            chunk = views[slot][:n]
            updates: list[tuple[Callable[[memoryview], None], list[Future[None] | None], ThreadPoolExecutor]]
            updates = [(hasher.update, hashing, pool)]
            if parts is not None:
                updates.append((parts.update, part_hashing, part_pool))
            for update, waiting, runner in updates:
                try:
                    if size:
                        waiting[slot] = runner.submit(update, chunk)
                    else:
                        update(chunk)  # a blob of one chunk never starts the thread
                except RuntimeError:  # the interpreter is exiting (an atexit handler logs): no new threads
                    for index, pending in enumerate(waiting):
                        if pending is not None:
                            pending.result()  # the chunks before this one, in order
                        waiting[index] = None
                    update(chunk)
            write(chunk)
            size += n
            slot = (slot + 1) % PIPELINE
        for pending in (*hashing, *part_hashing):
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
        if isinstance(exc, ArtregError):
            raise  # a store's own error (StoreError is an OSError too), already clear
        raise DiskError(f"cannot read the bytes to store: {exc.strerror or exc}", exc.errno) from exc


def storage_error(exc: OSError, folder: str | Path) -> ArtregError:
    """The ArtregError for a file that could not be written in ``folder`` (full disk, read-only folder, ...)."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return DiskError(f"the disk holding {str(folder)!r} is full, or a file size limit was reached: {exc.strerror}", exc.errno)
    return DiskError(f"cannot write in {str(folder)!r}: {exc.strerror or exc}", exc.errno)


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
