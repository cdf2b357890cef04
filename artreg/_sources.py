"""What a draft's entries point at, before they are logged: the sources and ``DraftEntry``.

A source records *where* an entry's bytes are: a local file with its stat at the time it
was added (``FileSource``), a blob already in a registry (``BlobSource``), an external object
for a reference (``RefSource``), or bytes written with ``new_file`` (``DataSource``, in
memory or in the draft's one scratch file). A ``DraftEntry`` is one logical path, its size
and its source; its digest waits until it is needed, so a local file is hashed once, while
it is stored.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO, NamedTuple

from ._errors import IntegrityError, NotFound
from ._hashing import CHUNK
from ._localfiles import hash_file

if TYPE_CHECKING:
    from .storage._blobs import BlobStore

class FileSource(NamedTuple):
    """A local file and its stat when it was added (a tuple: drafts hold millions of them).

    ``ctime_ns`` is part of what the stat cache compares (see ``_localfiles``); a file whose
    other four fields changed after it was added is refused when the draft is logged.
    """

    path: str
    dev: int
    ino: int
    size: int
    mtime_ns: int
    ctime_ns: int

    @classmethod
    def of(cls, path: str, st: os.stat_result) -> FileSource:
        return cls(path, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)

    @property
    def identity(self) -> tuple[int, int, int, int]:
        """(dev, ino, size, mtime_ns): what must not change between adding and logging."""
        return (self.dev, self.ino, self.size, self.mtime_ns)


@dataclass(frozen=True)
class BlobSource:
    """Bytes already stored in a registry's blob store (from ``new_draft``)."""

    store: BlobStore
    digest: str
    size: int


@dataclass(frozen=True)
class RefSource:
    """External data (SPEC §10): the object's URI and what was recorded about it (``extra``).

    ``file`` is set for a ``file://`` object whose sha256 is computed when the draft is
    logged, as for ``add_file``; other references carry their digest from the start.
    """

    uri: str
    extra: dict[str, Any]
    file: FileSource | None = None


class Scratch:
    """One unnamed temporary file per draft holding the bytes of all its spilled ``new_file`` entries.

    Unnamed (``tempfile.TemporaryFile``), so the kernel frees it when the process ends
    however it ends: a draft killed with SIGKILL leaves nothing behind in the temp folder.
    One file for the whole draft, not one per entry: a draft of thousands of large entries
    would otherwise hold thousands of descriptors and fail with "Too many open files".
    """

    __slots__ = ("file", "end", "_lock", "__weakref__")

    def __init__(self) -> None:
        self.file: BinaryIO | None = None
        self.end = 0
        self._lock = threading.Lock()

    def append(self, data: memoryview) -> int:
        """Write ``data`` at the file's end; returns where it starts."""
        with self._lock:
            if self.file is None:
                self.file = tempfile.TemporaryFile()  # noqa: SIM115 - closed by the finalizer
                weakref.finalize(self, self.file.close)
            offset, self.end = self.end, self.end + len(data)
        fd = self.file.fileno()
        done = 0
        while done < len(data):
            done += os.pwrite(fd, data[done:], offset + done)
        return offset


class DataSource:
    """Bytes written with ``new_file``: in memory, or extents of the draft's scratch file when large."""

    __slots__ = ("data", "scratch", "extents")

    def __init__(self, data: bytes | None, scratch: Scratch | None = None, extents: Sequence[tuple[int, int]] = ()) -> None:
        self.data = data
        self.scratch = scratch
        self.extents = list(extents)  # (offset, length) in ``scratch``, in order

    def reader(self) -> BinaryIO:
        """The bytes from the start."""
        if self.scratch is None or self.scratch.file is None:
            return io.BytesIO(self.data or b"")
        return io.BufferedReader(_ExtentReader(self.scratch.file.fileno(), self.extents), CHUNK)


class _ExtentReader(io.RawIOBase):
    """Reads extents of a file by offset (``pread``): no shared file position to disturb."""

    def __init__(self, fd: int, extents: list[tuple[int, int]]) -> None:
        self._fd = fd
        self._extents = extents
        self._at = 0  # index of the current extent
        self._done = 0  # bytes of it already read

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        while self._at < len(self._extents):
            offset, length = self._extents[self._at]
            if self._done < length:
                n = os.preadv(self._fd, [view[: length - self._done]], offset + self._done)
                if not n:
                    raise IntegrityError("the scratch file of a new_file entry was cut short")
                self._done += n
                return n
            self._at, self._done = self._at + 1, 0
        return 0


Source = FileSource | BlobSource | RefSource | DataSource


class DraftEntry:
    """One logical path of a draft. ``digest`` is computed on first access."""

    __slots__ = ("path", "size", "source", "_digest")

    def __init__(self, path: str, size: int, source: Source, digest: str | None = None) -> None:
        self.path = path
        self.size = size
        self.source = source
        self._digest = digest if digest is not None else (source.digest if isinstance(source, BlobSource) else None)

    @property
    def digest(self) -> str:
        """sha256 hex of the entry's bytes (hashes the local file the first time)."""
        if self._digest is None:
            source = self.source.file if isinstance(self.source, RefSource) else self.source
            assert isinstance(source, FileSource)
            self._digest = hash_source(source)[0]
        return self._digest

    @property
    def ref(self) -> str | None:
        """The external URI of a reference entry, else None."""
        return self.source.uri if isinstance(self.source, RefSource) else None

    @property
    def known_digest(self) -> str | None:
        return self._digest

    def hashed(self, digest: str) -> None:
        """Record the digest of a local file hashed elsewhere (while logging)."""
        self._digest = digest

    def __repr__(self) -> str:
        return f"DraftEntry(path={self.path!r}, size={self.size})"



class Spool(io.RawIOBase):
    """Where ``new_file`` writes: memory up to ``limit`` bytes, then the draft's scratch file.

    Closing it (the caller may close the handle inside the ``with``) keeps what was written.
    """

    def __init__(self, limit: int, scratch: Scratch) -> None:
        self._limit = limit
        self._memory = bytearray()
        self._scratch = scratch
        self._extents: list[tuple[int, int]] | None = None
        self._hasher = hashlib.sha256()
        self._size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        if self._extents is None and self._size + len(view) > self._limit:
            self._extents = []
            self._spill(memoryview(self._memory))
            self._memory = bytearray()
        if self._extents is None:
            self._memory += view
        else:
            self._spill(view)
        self._hasher.update(view)
        self._size += len(view)
        return len(view)

    def _spill(self, view: memoryview) -> None:
        assert self._extents is not None
        if not view:
            return
        offset = self._scratch.append(view)
        if self._extents and sum(self._extents[-1]) == offset:
            self._extents[-1] = (self._extents[-1][0], self._extents[-1][1] + len(view))
        else:
            self._extents.append((offset, len(view)))

    def finish(self) -> tuple[DataSource, int, str]:
        """The bytes written as a draft source, their size and their sha256."""
        extents = self._extents
        source = DataSource(bytes(self._memory)) if extents is None else DataSource(None, self._scratch, extents)
        return source, self._size, self._hasher.hexdigest()

    def discard(self) -> None:
        """Forget what was written (spilled bytes stay in the scratch file until the draft is gone)."""
        self._memory = bytearray()



def hash_source(source: FileSource) -> tuple[str, os.stat_result]:
    """The sha256 of a draft's local file, and its stat just before it was read."""
    try:
        return hash_file(source.path, source.identity, repr(source.path))
    except NotFound as exc:
        raise NotFound(f"{source.path!r} was removed after it was added to the draft") from exc

