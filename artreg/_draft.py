"""Drafts: an ``Artifact`` being assembled before it is logged.

A draft records *where* each entry's bytes are (``_sources``: a local file, or a blob
already in a registry, or an external object for a reference) and the file's stat at the
time it was added. Hashing waits until the draft is logged, where the registry's stat cache
can skip it and the bytes are hashed while they are stored, in one pass; nothing is copied
to a staging area. A ``file://`` reference with a checksum is hashed the same lazy way, but
not stored. ``add_dir`` keeps its walk (``_walk``) as rows until entries are asked for.

A draft from ``ArtifactVersion.new_draft()`` holds no copy of its version's entries
(``_based``): it keeps what was added or replaced in its own entries, and the version and
what was removed from it apart, reading the version's entries in place when an edit needs
them.
"""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import MappingProxyType
from typing import IO, TYPE_CHECKING, Any

from ._errors import AlreadyExists, Conflict, InvalidName, NotFound
from ._lifecycle import INHERIT, TtlValue, ttl_columns
from ._names import check_artifact_name, check_metadata, check_tags, check_text, check_type, normalize_path
from ._sources import DraftEntry, FileSource, RefSource, Scratch, Spool
from ._walk import FileRows, walk
from .references import default_name, list_objects

if TYPE_CHECKING:
    from ._based import Based, Edits
    from ._versions import ArtifactVersion

# ``new_file`` keeps up to this many bytes in memory, then spills to an unnamed temporary file.
SPOOL_BYTES = 1 << 20
# new_file's modes, as W&B takes them: x refuses a path already there, w replaces it.
_NEW_FILE_MODES = ("x", "w", "xb", "wb", "xt", "wt")


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
        self._scratch: Scratch | None = None  # where large new_file entries wait
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
        tree = FileRows(root, prefix, walk(root, prefix))
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
            self._scratch = Scratch()
        spool = Spool(SPOOL_BYTES, self._scratch)
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
