"""What every reference scheme shares: the recorded checksum kinds, the scheme interface, timeouts.

A scheme (one module of this package each) subclasses ``Scheme``: ``list`` finds the objects
under a URI with their digests, ``open`` streams one recorded object (NotFound when it is
gone, IntegrityError when its ETag no longer matches), ``check`` re-checks one without keeping
its bytes. ``open_checked`` wraps ``open`` so that the size, and a sha256 digest, are checked
when the stream ends, and a fetch that runs past its deadline is stopped.
"""

from __future__ import annotations

import hashlib
import io
import os
import time
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from .._errors import ArtregError, IntegrityError, InvalidName, SourceError
from .._hashing import CHUNK
from .._sources import FileSource
from ..storage._manifest import ManifestEntry

DEFAULT_MAX_OBJECTS = 10_000_000
DEFAULT_TIMEOUT = 60.0
TIMEOUT_ENV = "ARTREG_REFERENCE_TIMEOUT"
DEFAULT_DEADLINE = 3600.0
DEADLINE_ENV = "ARTREG_REFERENCE_DEADLINE"
SHA256, ETAG, NONE = "sha256", "etag", "none"


@dataclass(frozen=True)
class RefObject:
    """One object found under a reference URI.

    ``rel`` is its path below the listed folder or prefix ("" when the URI names this one
    object). ``digest`` is None for a local file to be hashed when the draft is logged
    (``file`` then holds its stat, as for ``add_file``).
    """

    uri: str
    rel: str
    size: int
    digest: str | None
    extra: dict[str, Any] = field(default_factory=dict)
    file: FileSource | None = None
    path: str | None = None  # the entry's logical path when no name is given (default: the URI's last segment)


def checksum_kind(entry: ManifestEntry) -> str:
    """How a reference entry's digest was made: ``sha256``, ``etag`` or ``none``."""
    return str(entry.extra.get("checksum", SHA256))


def reference_timeout() -> float:
    """Seconds a network call may wait for progress: ``$ARTREG_REFERENCE_TIMEOUT``, else 60."""
    return _seconds(TIMEOUT_ENV, DEFAULT_TIMEOUT)


def reference_deadline() -> float:
    """Seconds one reference fetch may take in all: ``$ARTREG_REFERENCE_DEADLINE``, else 3600."""
    return _seconds(DEADLINE_ENV, DEFAULT_DEADLINE)


def _seconds(env: str, default: float) -> float:
    text = os.environ.get(env)
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        raise InvalidName(f"${env} must be a positive number of seconds, not {text!r}")
    return value


class Deadline:
    """When a fetch of one object must be done by (``$ARTREG_REFERENCE_DEADLINE`` from now)."""

    def __init__(self, what: str) -> None:
        self.seconds = reference_deadline()
        self.what = what
        self._end = time.monotonic() + self.seconds

    def check(self) -> None:
        """Raise ArtregError once the deadline has passed."""
        if time.monotonic() > self._end:
            raise SourceError(
                f"fetching {self.what} took longer than {self.seconds:g} s (${DEADLINE_ENV}); the source is too slow"
            )


def read_some(raw: Any, size: int) -> bytes:
    """Up to ``size`` bytes, returning as soon as some arrive (``read1``) where the stream can.

    ``read(size)`` of an HTTP response waits for all ``size`` bytes, so a source dripping
    a byte a minute would keep one call going for days, past any deadline check.
    """
    read1 = getattr(raw, "read1", None)
    return bytes(read1(size) if read1 is not None else raw.read(size))


def too_many(uri: str, limit: int) -> InvalidName:
    return InvalidName(f"{uri!r} holds more than max_objects={limit:,} objects; nothing was added (pass a larger max_objects)")


def uri_digest(location: str) -> str:
    """The digest of a ``checksum=False`` entry: sha256 of its location."""
    return hashlib.sha256(location.encode()).hexdigest()


def etag_digest(etag: str, version_id: str | None = None) -> str:
    """The digest of an ETag-checked entry."""
    text = f"etag:{etag}\n" + (f"version_id:{version_id}\n" if version_id else "")
    return hashlib.sha256(text.encode()).hexdigest()


def open_checked(scheme: Scheme, entry: ManifestEntry) -> BinaryIO:
    """``open_reference`` for an entry whose scheme is known: the reader checks size and digest at the end."""
    deadline = Deadline(f"{entry.ref!r} (entry {entry.path!r})")
    raw = scheme.open(entry)
    try:
        deadline.check()
    except BaseException:
        raw.close()
        raise
    return _CheckedReader(raw, entry, deadline)  # type: ignore[return-value]


class Scheme:
    """What every scheme provides; ``check`` defaults to opening (and for sha256, reading) the object."""

    def parse(self, uri: str) -> None:
        raise NotImplementedError

    def default_name(self, uri: str) -> str:
        raise NotImplementedError

    def list(self, uri: str, *, checksum: bool, max_objects: int) -> list[RefObject]:
        raise NotImplementedError

    def open(self, entry: ManifestEntry) -> BinaryIO:
        raise NotImplementedError

    def check(self, entry: ManifestEntry) -> None:
        with open_checked(self, entry) as reader:
            if checksum_kind(entry) == SHA256:
                while reader.read(CHUNK):
                    pass


class _CheckedReader(io.RawIOBase):
    """Streams a referenced object; at EOF checks its size and, for sha256 entries, its digest.

    An entry with a checksum has a recorded size, and more bytes than that are never read:
    the reader asks for at most one byte beyond it and raises IntegrityError when it comes.
    """

    def __init__(self, raw: BinaryIO, entry: ManifestEntry, deadline: Deadline) -> None:
        self._raw = raw
        self._entry = entry
        self._deadline = deadline
        self._kind = checksum_kind(entry)
        self._hasher = hashlib.sha256() if self._kind == SHA256 else None
        self._seen = 0
        self._checked = self._kind == NONE
        self._limit = None if self._kind == NONE else entry.size + 1

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        want = len(buffer) if self._limit is None else min(len(buffer), self._limit - self._seen)
        try:
            data = read_some(self._raw, want)
        except ArtregError:
            raise
        except Exception as exc:
            # The raw stream is a file, an HTTP response or a botocore body, each with its own
            # errors (timeouts, cut connections); callers see one ArtregError naming the source.
            raise SourceError(f"cannot read {self._entry.ref!r} (entry {self._entry.path!r}): {exc}") from exc
        self._deadline.check()
        n = len(data)
        buffer[:n] = data
        if n:
            self._seen += n
            if self._limit is not None and self._seen >= self._limit:
                entry = self._entry
                raise IntegrityError(
                    f"reference {entry.ref!r} (entry {entry.path!r}) changed: it sends more than the {entry.size:,} bytes recorded",
                    mismatched=[entry.path],
                )
            if self._hasher is not None:
                self._hasher.update(data)
        elif len(buffer) and not self._checked:
            self._check()
        return n

    def _check(self) -> None:
        self._checked = True
        entry = self._entry
        if self._seen != entry.size:
            raise IntegrityError(
                f"reference {entry.ref!r} (entry {entry.path!r}) changed: {self._seen} bytes, {entry.size} recorded",
                mismatched=[entry.path],
            )
        if self._hasher is not None and self._hasher.hexdigest() != entry.digest:
            raise IntegrityError(
                f"reference {entry.ref!r} (entry {entry.path!r}) changed: its sha256 differs from the recorded one",
                mismatched=[entry.path],
            )

    def close(self) -> None:
        self._raw.close()
        super().close()
