"""Drafts: an ``Artifact`` being assembled before it is logged.

A draft records *where* each entry's bytes are (a local file, or a blob already in a
registry, or an external object for a reference) and the file's stat at the time it was
added. Hashing waits until the draft is logged, where the registry's stat cache can skip it
and the bytes are hashed while they are stored, in one pass; nothing is copied to a staging
area. A ``file://`` reference with a checksum is hashed the same lazy way, but not stored.

A draft from ``ArtifactVersion.new_draft()`` holds no copy of its version's entries
(``_based``): it keeps what was added or replaced in its own entries, and the version and
what was removed from it apart, reading the version's entries in place when an edit needs
them.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import stat
import tempfile
import threading
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from types import MappingProxyType
from typing import IO, TYPE_CHECKING, Any, BinaryIO, NamedTuple, overload

from ._errors import AlreadyExists, Conflict, IntegrityError, InvalidName, NotFound
from ._hashing import CHUNK
from ._lifecycle import INHERIT, TtlValue, ttl_columns
from ._localfiles import hash_file
from ._names import check_artifact_name, check_metadata, check_tags, check_text, check_type, normalize_path
from ._references import default_name, list_objects

if TYPE_CHECKING:
    from ._based import Based, Edits
    from ._blobs import BlobStore
    from ._versions import ArtifactVersion

# ``new_file`` keeps up to this many bytes in memory, then spills to an unnamed temporary file.
SPOOL_BYTES = 1 << 20
# new_file's modes, as W&B takes them: x refuses a path already there, w replaces it.
_NEW_FILE_MODES = ("x", "w", "xb", "wb", "xt", "wt")
# What a directory entry's name may not contain (scandir never yields "", "." or ".."); lone
# surrogates are the bytes of a name that is not UTF-8, as os.fsdecode hands them over.
_BAD_NAME = re.compile(r"[\x00-\x1f\x7f-\x9f\\\ud800-\udfff]")


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


class _Scratch:
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

    def __init__(self, data: bytes | None, scratch: _Scratch | None = None, extents: Sequence[tuple[int, int]] = ()) -> None:
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

# One file found by ``add_dir``: (logical path, dev, ino, size, mtime_ns, ctime_ns).
FileRow = tuple[str, int, int, int, int, int]


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
            self._digest = _hash_file(source)[0]
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


class FileRows(Sequence[DraftEntry]):
    """The files of one ``add_dir`` walk as plain tuples; DraftEntry objects are made on first use.

    A tree of 1,000,000 files would otherwise cost 1,000,000 entry and source objects, and
    re-logging an unchanged tree needs none of them. A row's local file is ``base`` followed
    by its logical path after the first ``cut`` characters (the ``name`` prefix).
    """

    __slots__ = ("base", "cut", "rows", "_made")

    def __init__(self, root: str, prefix: str, rows: list[FileRow]) -> None:
        self.base = root if root.endswith(os.sep) else root + os.sep
        self.cut = len(prefix)
        self.rows = rows
        self._made: list[DraftEntry] | None = None

    def local(self, logical: str) -> str:
        """The local path of the file at ``logical``."""
        return self.base + logical[self.cut:]

    def made(self) -> list[DraftEntry]:
        """The rows as draft entries, made once."""
        if self._made is None:
            base, cut = self.base, self.cut
            self._made = [
                DraftEntry(path, size, FileSource(base + path[cut:], dev, ino, size, mtime, ctime))
                for path, dev, ino, size, mtime, ctime in self.rows
            ]
        return self._made

    def subset(self, rows: list[FileRow]) -> FileRows:
        """The same tree's files limited to ``rows``."""
        part = FileRows.__new__(FileRows)
        part.base, part.cut, part.rows, part._made = self.base, self.cut, rows, None
        return part

    def __len__(self) -> int:
        return len(self.rows)

    @overload
    def __getitem__(self, index: int) -> DraftEntry: ...
    @overload
    def __getitem__(self, index: slice) -> list[DraftEntry]: ...

    def __getitem__(self, index: int | slice) -> DraftEntry | list[DraftEntry]:
        return self.made()[index]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FileRows):
            return self.made() == other.made()
        return self.made() == other if isinstance(other, list) else NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(self.made())


class Artifact:
    """A draft artifact: add files, then log it to a registry to get a version.

    ``description``, ``metadata``, ``tags`` and ``ttl`` may be edited until it is logged.
    """

    def __init__(
        self,
        name: str,
        type: str,
        description: str | None = None,
        metadata: dict[str, Any] | None = None,
        *,
        tags: list[str] | None = None,
        ttl: TtlValue = INHERIT,
    ) -> None:
        self.name = check_artifact_name(name)
        self.type = check_type(type)
        self.description = _check_description(description)
        self.metadata: dict[str, Any] = check_metadata(metadata)
        self.tags: list[str] = check_tags(tags)
        ttl_columns(ttl)
        self.ttl: TtlValue = ttl
        self._entries: dict[str, DraftEntry] = {}
        self._tree: FileRows | None = None  # an add_dir into the empty draft, before its entries are made
        self._dirs: dict[str, int] | None = {}  # folder -> entries under it; None = rebuild
        self._logged: ArtifactVersion | None = None
        self._scratch: _Scratch | None = None  # where large new_file entries wait
        # A draft from new_draft(): its version's entries (unless ``_entries`` replaces them or
        # they were removed), read where they are.
        self._based: Based | None = None

    def __repr__(self) -> str:
        count = len(self._tree) if self._tree is not None else len(self._entries)
        if self._logged:
            state = f"logged as {self._logged.name}"
        elif self._based is not None:
            state = f"from {self._based.base.name}, {count} added or replaced, {self._based.removals} removed"
        else:
            state = f"{count} entries"
        return f"<Artifact {self.name!r} type={self.type!r} {state}>"

    # -- reading the draft -------------------------------------------------------------

    @property
    def entries(self) -> MappingProxyType[str, DraftEntry]:
        """Logical path -> entry, read-only (for a draft from ``new_draft()``, as it is now)."""
        return MappingProxyType(self._all())

    @property
    def logged_version(self) -> ArtifactVersion | None:
        """The version this draft became when logged (None before)."""
        return self._logged

    # -- editing -----------------------------------------------------------------------

    def add_file(self, local_path: str | os.PathLike[str], name: str | None = None, *, overwrite: bool = False) -> DraftEntry:
        """Add one local file under ``name`` (default: its file name).

        The same path twice: same content is a no-op, other content raises
        :class:`AlreadyExists` unless ``overwrite=True``.
        """
        self._check_editable()
        path = os.path.abspath(os.fspath(local_path))
        try:
            st = os.stat(path)
        except FileNotFoundError as exc:
            raise NotFound(f"no such file: {os.fspath(local_path)!r}") from exc
        if not stat.S_ISREG(st.st_mode):
            raise InvalidName(f"not a regular file: {os.fspath(local_path)!r}")
        logical = normalize_path(os.path.basename(path) if name is None else name)
        entry = DraftEntry(logical, st.st_size, FileSource.of(path, st))
        return self._put([entry], overwrite=overwrite)[0]

    def add_dir(self, local_path: str | os.PathLike[str], name: str | None = None, *, overwrite: bool = False) -> Sequence[DraftEntry]:
        """Add every file under the folder ``local_path``, at ``name/<relative path>`` (or the relative path).

        Symlinks are followed only when their target lies inside ``local_path``; one that
        points outside, or dangles, is refused and nothing is added.
        """
        self._check_editable()
        root = os.path.abspath(os.fspath(local_path))
        if not os.path.isdir(root):
            raise NotFound(f"no such directory: {os.fspath(local_path)!r}")
        prefix = "" if name is None else normalize_path(name) + "/"
        tree = FileRows(root, prefix, _walk(root, prefix))
        if not self._entries and self._tree is None and self._based is None:
            # A walk yields each path once and never a file where it yields a folder, so an
            # empty draft takes the rows as they are, without the per-path conflict checks.
            self._tree = tree
            self._dirs = None
            return tree
        return self._put(tree.made(), overwrite=overwrite)

    def add_reference(
        self,
        uri: str,
        name: str | None = None,
        checksum: bool = True,
        max_objects: int | None = None,
        *,
        overwrite: bool = False,
    ) -> list[DraftEntry]:
        """Add entries that point at external data instead of storing it (SPEC §10).

        ``uri`` is ``file:///path`` (a file, or a folder walked like ``add_dir``),
        ``http(s)://...`` (one object), or ``s3://bucket/key`` (an object; ``?versionId=``
        pins a version) or ``s3://bucket/prefix`` (every object under it). One object lands
        at ``name`` (default: the URI's last segment); the objects of a folder or prefix at
        ``name/<relative path>`` (default: the relative path).

        ``checksum=True`` records a content digest: sha256 of a file's bytes; an HTTP ETag,
        else the sha256 of the body; an S3 ETag and version id. ``checksum=False`` records
        the location only, as W&B does, so versions of such entries dedup by URI: one entry
        per file of a ``file://`` folder, and one entry for a whole ``s3://`` URI (at its
        key, without asking S3), whose ``ref`` is the prefix to copy from. More objects than
        ``max_objects`` (default 10,000,000) raise InvalidName. Any error adds nothing.
        """
        self._check_editable()
        prefix = "" if name is None else normalize_path(name) + "/"
        objects = list_objects(uri, checksum=checksum, max_objects=max_objects)
        entries = []
        for obj in objects:
            path = normalize_path(prefix + obj.rel if obj.rel else (name if name is not None else obj.path or default_name(obj.uri)))
            entries.append(DraftEntry(path, obj.size, RefSource(obj.uri, obj.extra, obj.file), obj.digest))
        return self._put(entries, overwrite=overwrite)

    @contextmanager
    def new_file(
        self, name: str, mode: str = "x", encoding: str | None = None, *, overwrite: bool | None = None
    ) -> Iterator[IO[Any]]:
        """Write a new file into the draft: ``with art.new_file("notes.txt") as f: f.write(...)``.

        ``mode`` is W&B's: ``"x"`` (the default) and ``"w"`` open a text file (``encoding``,
        default UTF-8), ``"xb"`` and ``"wb"`` a binary one. ``x`` refuses a path the draft
        already holds with other content (AlreadyExists); ``w`` replaces it. ``overwrite``
        overrides what the mode says. The entry is added when the block ends without an
        error. Its bytes stay in memory up to 1 MiB, else in the draft's one unnamed
        temporary file (one open descriptor per draft until the draft is gone); either way
        nothing outlives the process.
        """
        self._check_editable()
        logical = normalize_path(name)
        if mode not in _NEW_FILE_MODES:
            raise InvalidName(f"new_file mode must be one of {', '.join(_NEW_FILE_MODES)}, not {mode!r}")
        replace = "w" in mode if overwrite is None else overwrite
        if self._scratch is None:
            self._scratch = _Scratch()
        spool = _Spool(SPOOL_BYTES, self._scratch)
        writer = io.BufferedWriter(spool)
        handle: IO[Any] = writer if "b" in mode else io.TextIOWrapper(writer, encoding=encoding or "utf-8")
        try:
            try:
                yield handle
            finally:
                handle.close()  # flushes; a write after the block raises, as for any closed file
            source, size, digest = spool.finish()
        except BaseException:
            spool.discard()
            raise
        try:
            self._put([DraftEntry(logical, size, source, digest)], overwrite=replace)
        except BaseException:
            spool.discard()
            raise

    def remove(self, path: str) -> None:
        """Remove an entry, or every entry under a folder prefix."""
        self._check_editable()
        logical = normalize_path(path)
        self._made()
        if self._based is not None:
            self._remove_based(self._based, logical)
            return
        doomed = [logical] if logical in self._entries else [p for p in self._entries if p.startswith(logical + "/")]
        if not doomed:
            raise NotFound(f"draft {self.name!r} has no entry or folder {logical!r}")
        for p in doomed:
            self._forget(p)

    # -- internals ---------------------------------------------------------------------

    def _made(self) -> dict[str, DraftEntry]:
        """The entries, made from a pending ``add_dir`` tree first if there is one (a based draft: its own only)."""
        if self._tree is not None:
            self._entries = {entry.path: entry for entry in self._tree.made()}
            self._tree = None
        return self._entries

    def _all(self) -> dict[str, DraftEntry]:
        """Every entry, the base's included (read from the base version for a based draft)."""
        made = self._made()
        return made if self._based is None else self._based.all(made)

    def _content(self) -> FileRows | list[DraftEntry] | Edits:
        """What to log: the pending tree when that is the whole draft, the edits of a based draft, else every entry."""
        if self._tree is not None:
            return self._tree
        if self._based is not None:
            return self._based.edits(list(self._entries.values()))
        return list(self._entries.values())

    def _put(self, entries: list[DraftEntry], *, overwrite: bool) -> list[DraftEntry]:
        """Add entries all-or-nothing after checking every conflict."""
        self._made()
        based: dict[str, DraftEntry] = {}  # the base's entries at these paths and their parents
        if self._based is not None:
            wanted = {entry.path for entry in entries}
            for entry in entries:
                wanted.update(_parents(entry.path))
            based = self._based.entries(wanted - self._entries.keys())
        replaced: list[str] = []
        result: list[DraftEntry] = []
        batch: dict[str, DraftEntry] = {}
        batch_dirs: set[str] = set()
        for entry in entries:
            old = self._entries.get(entry.path) or batch.get(entry.path) or based.get(entry.path)
            if old is not None:
                if _same_content(old, entry):
                    result.append(old)
                    continue
                if not overwrite:
                    raise AlreadyExists(f"draft {self.name!r} already has {entry.path!r} with other content (pass overwrite=True)")
                replaced.append(entry.path)
            self._check_shape(entry.path, batch, batch_dirs, based, old is not None)
            batch[entry.path] = entry
            batch_dirs.update(_parents(entry.path))
            result.append(entry)
        for path in replaced:
            if path in self._entries:
                self._forget(path)
        folders = self._folders()
        for path, entry in batch.items():
            self._entries[path] = entry
            for parent in _parents(path):
                folders[parent] = folders.get(parent, 0) + 1
        return result

    def _remove_based(self, based: Based, logical: str) -> None:
        """``remove`` on a draft from ``new_draft()``: base entries are hidden, never loaded."""
        in_base = bool(based.entries([logical]))
        if logical in self._entries or in_base:
            if logical in self._entries:
                self._forget(logical)
            if in_base:
                based.removed.add(logical)
            return
        doomed = [p for p in self._entries if p.startswith(logical + "/")]
        in_base = based.folder(logical)
        if not doomed and not in_base:
            raise NotFound(f"draft {self.name!r} has no entry or folder {logical!r}")
        for p in doomed:
            self._forget(p)
        if in_base:
            based.removed_dirs.add(logical)

    def _folders(self) -> dict[str, int]:
        if self._dirs is None:
            self._dirs = {}
            for path in self._entries:
                for parent in _parents(path):
                    self._dirs[parent] = self._dirs.get(parent, 0) + 1
        return self._dirs

    def _check_shape(
        self, path: str, batch: dict[str, DraftEntry], batch_dirs: set[str], based: dict[str, DraftEntry], is_file: bool
    ) -> None:
        """A path cannot be both a file and a folder of other entries (``based``: the base's entries near it)."""
        for parent in _parents(path):
            if parent in self._entries or parent in batch or parent in based:
                raise AlreadyExists(f"{path!r} would sit inside {parent!r}, which is a file in draft {self.name!r}")
        if self._folders().get(path) or path in batch_dirs or (not is_file and self._based is not None and self._based.folder(path)):
            raise AlreadyExists(f"{path!r} is a folder of other entries in draft {self.name!r}")

    def _forget(self, path: str) -> None:
        folders = self._folders()
        del self._entries[path]
        for parent in _parents(path):
            count = folders[parent] - 1
            if count:
                folders[parent] = count
            else:
                del folders[parent]

    def _check_editable(self) -> None:
        if self._logged is not None:
            raise Conflict(f"draft {self.name!r} was logged as {self._logged.name} and is frozen; use new_draft()")

    def _freeze(self, version: ArtifactVersion) -> None:
        self._logged = version


class _Spool(io.RawIOBase):
    """Where ``new_file`` writes: memory up to ``limit`` bytes, then the draft's scratch file.

    Closing it (the caller may close the handle inside the ``with``) keeps what was written.
    """

    def __init__(self, limit: int, scratch: _Scratch) -> None:
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


def _check_description(description: object) -> str | None:
    if description is None:
        return None
    if not isinstance(description, str):
        raise InvalidName(f"description must be a string or None, not {type(description).__name__}")
    return check_text(description, "description")


def _parents(path: str) -> Iterator[str]:
    index = path.find("/")
    while index != -1:
        yield path[:index]
        index = path.find("/", index + 1)


def _same_content(a: DraftEntry, b: DraftEntry) -> bool:
    if isinstance(a.source, FileSource) and isinstance(b.source, FileSource) and a.source == b.source:
        return True
    if a.ref != b.ref:
        return False  # stored bytes and a reference (or two references) are different entries
    return a.size == b.size and a.digest == b.digest


def _hash_file(source: FileSource) -> tuple[str, os.stat_result]:
    """The sha256 of a draft's local file, and its stat just before it was read."""
    try:
        return hash_file(source.path, source.identity, repr(source.path))
    except NotFound as exc:
        raise NotFound(f"{source.path!r} was removed after it was added to the draft") from exc


def _walk(root: str, prefix: str) -> list[FileRow]:
    """A row for each file under ``root`` at ``prefix + relative path``, in directory order.

    Symlinks are followed only to targets inside ``root``; symlinked folders are walked
    once per path (a cycle is refused). This loop runs once per file of a tree, so it
    avoids per-file work that a whole folder can share: one stat and one tuple per file.
    """
    real_root = os.path.realpath(root)
    seen_dirs: set[tuple[int, int]] = set()
    out: list[FileRow] = []
    append = out.append
    is_dir, is_reg, stat_at = stat.S_ISDIR, stat.S_ISREG, os.stat

    def visit(folder: str, rel: str) -> None:
        # Stats relative to the folder's descriptor spare the kernel a walk of the full path per file.
        # The descriptor is closed before descending, so a deep tree does not hold one per level.
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            st = os.fstat(fd)
            key = (st.st_dev, st.st_ino)
            if key in seen_dirs:
                raise InvalidName(f"symlink cycle at {os.path.join(root, rel)!r}")
            with os.scandir(fd) as it:
                items = list(it)
            if _BAD_NAME.search("/".join(item.name for item in items)):
                for item in items:
                    normalize_path(rel + item.name)  # raises InvalidName with the standard message
            here = folder if folder.endswith(os.sep) else folder + os.sep
            children = []
            for item in items:
                name = item.name
                if item.is_symlink():
                    _check_link(here + name, rel + name, root, real_root)
                try:
                    children.append((name, stat_at(name, dir_fd=fd)))
                except FileNotFoundError as exc:
                    raise NotFound(f"{here + name!r} vanished while walking {root!r}") from exc
        finally:
            os.close(fd)
        seen_dirs.add(key)
        base = prefix + rel
        for name, child in children:
            if is_reg(child.st_mode):
                append((base + name, child.st_dev, child.st_ino, child.st_size, child.st_mtime_ns, child.st_ctime_ns))
            elif is_dir(child.st_mode):
                visit(here + name, f"{rel}{name}/")
            else:
                raise InvalidName(f"{rel + name!r} in {root!r} is not a regular file or folder")
        seen_dirs.discard(key)

    visit(root, "")
    return out


def _check_link(path: str, rel: str, root: str, real_root: str) -> None:
    target = os.path.realpath(path)
    if target != real_root and not target.startswith(real_root + os.sep):
        raise InvalidName(f"symlink {rel!r} points outside {root!r}")
    if not os.path.exists(target):
        raise NotFound(f"symlink {rel!r} in {root!r} dangles")
