"""Materialising a version on disk (download, checkout) and checking a tree against it (verify).

Every path is checked before anything is written: an entry that would land outside the
root (through ``..``, an absolute path, or a symlinked folder inside the root) refuses
the whole download. Each file appears atomically (temporary name, then rename), and every
write goes through folder descriptors opened without following a symlink (``_root``), so
a folder swapped for one while the download runs redirects nothing.

Reference entries (SPEC §10) are copied from their source whatever the link mode, and
checked against their recorded digest before the rename; ``verify`` re-checks the source.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
import warnings
from collections.abc import Iterable, Iterator
from typing import Protocol

from ._errors import ArtregError, DiskError, FileNotFound, IntegrityError, InvalidName, NotFound
from ._hashing import CHUNK, sha256_stream
from ._names import normalize_path
from ._progress import ProgressCallback, Tracker
from .references import NONE, SHA256, check_reference, checksum_kind, open_reference
from .storage._blobs import BlobStore, VerifyingReader, check_bytes, storage_error, write_all
from .storage._manifest import ManifestEntry
from .storage._root import Root

LINK_MODES = ("copy", "hardlink", "symlink", "reflink", "auto")
FICLONE = 0x40049409  # linux/fs.h: _IOW(0x94, 9, int)
# Entries whose blob rows are read by one query, and the most bytes such a batch may hold.
BATCH = 512
BATCH_BYTES = 32 << 20


class Version(Protocol):
    """What downloading and verifying read of a version: its names and its entries (``ArtifactVersion`` is one)."""

    @property
    def qualified_name(self) -> str: ...

    @property
    def collection_name(self) -> str: ...

    @property
    def version(self) -> str: ...

    def files(self, prefix: str | None = None) -> Iterator[ManifestEntry]: ...

    def get_entry(self, path: str) -> ManifestEntry: ...


def default_root(version: Version) -> str:
    """``$ARTREG_ARTIFACT_DIR/<name>:<version>``, else ``./artifacts/<name>:<version>``."""
    base = os.environ.get("ARTREG_ARTIFACT_DIR") or os.path.join(".", "artifacts")
    return os.path.join(base, f"{version.collection_name}:{version.version}")


def download(
    store: BlobStore,
    version: Version,
    root: str | None,
    *,
    link: str,
    path_prefix: str | None,
    prune: bool,
    allow_missing: bool = False,
    progress: ProgressCallback | None = None,
) -> str:
    """Write the version's files under ``root``; returns the absolute root.

    A reference whose source is gone raises NotFound, or is skipped with a warning when
    ``allow_missing``. Folders under the root are reached by descriptor, never through a
    symlink (``_root``); ``prune`` (checkout) replaces a symlink where a folder goes.
    """
    if link not in LINK_MODES:
        raise InvalidName(f"link must be one of {', '.join(LINK_MODES)}, not {link!r}")
    root = os.path.abspath(root if root is not None else default_root(version))
    prefix = None if path_prefix is None else normalize_path(path_prefix)
    entries = list(version.files(prefix))  # a prefix reads only the chunks of its folder
    if prefix is not None:
        with contextlib.suppress(FileNotFound):
            entries.insert(0, version.get_entry(prefix))  # a file at the prefix itself
    targets = _targets(root, entries, allow_links=prune)
    tracker = Tracker(progress, len(targets), sum(entry.size for entry in entries))
    try:
        os.makedirs(root, exist_ok=True)
        tree = Root(root, replace_links=prune)
        try:
            listed: dict[str, set[str]] = {}
            for batch in _batches(targets):
                blobs = store.rows(entry.digest for entry, _, _ in batch if entry.ref is None)
                for entry, relative, name in batch:
                    folder = tree.folder(relative)
                    if relative not in listed:
                        listed[relative] = tree.names(folder)
                    if name in listed[relative] and _has_content(store, folder, name, entry):
                        pass
                    elif entry.ref is None:
                        _write_blob(store, tree, entry, blobs, folder, name, link)
                    else:
                        try:
                            _fetch_reference(tree, entry, folder, name)
                        except NotFound as exc:
                            if not allow_missing:
                                raise
                            warnings.warn(f"{version.qualified_name}: skipped missing reference {entry.path!r}: {exc}", stacklevel=3)
                    tracker.advance(entry.size)
            if prune:
                tree.prune({entry.path for entry in entries})
        finally:
            tree.close()
    except OSError as exc:  # writing under root: a full disk, a read-only folder, a file where a folder goes
        if isinstance(exc, ArtregError):
            raise  # a bucket's StoreError (also an OSError) says what failed already
        raise storage_error(exc, root) from exc
    return root


def _targets(root: str, entries: list[ManifestEntry], *, allow_links: bool) -> list[tuple[ManifestEntry, str, str]]:
    """(entry, folder relative to root, file name) of every entry, refused if one would resolve outside ``root``.

    Checked before anything is written, so a download refused here changes nothing. Each
    folder is resolved once (a download of 10,000 files in one folder resolves one). A
    symlinked folder inside the root is refused too unless ``allow_links`` (checkout, which
    replaces it); the writes themselves never follow one either way (``_root``).
    """
    real_root = os.path.realpath(root)
    seen: set[str] = set()
    out = []
    for entry in entries:
        path = entry.path
        if normalize_path(path) != path:
            raise InvalidName(f"manifest path {path!r} is not normalised; refusing to download it")
        relative, _, name = path.rpartition("/")
        if relative not in seen:
            expected = os.path.join(real_root, *relative.split("/")) if relative else real_root
            real = os.path.realpath(expected)
            if real != real_root and not real.startswith(real_root + os.sep):
                raise InvalidName(f"manifest path {path!r} would be written outside {root!r}")
            if real != expected and not allow_links:
                raise InvalidName(
                    f"manifest path {path!r} would be written through a symlinked folder under {root!r}; "
                    "artreg never writes through a symlink (checkout replaces it)"
                )
            seen.add(relative)
        out.append((entry, relative, name))
    return out


def _batches(targets: list[tuple[ManifestEntry, str, str]]) -> Iterator[list[tuple[ManifestEntry, str, str]]]:
    """Runs of targets whose blob rows are read by one query, bounded in count and in bytes."""
    batch: list[tuple[ManifestEntry, str, str]] = []
    held = 0
    for target in targets:
        if batch and (len(batch) == BATCH or held + target[0].size > BATCH_BYTES):
            yield batch
            batch, held = [], 0
        batch.append(target)
        held += target[0].size
    if batch:
        yield batch


def _has_content(store: BlobStore, folder: int, name: str, entry: ManifestEntry) -> bool:
    """Whether ``name`` in ``folder`` already holds the entry, read without following a symlink
    (except one that is exactly the link ``link="symlink"`` makes into the store)."""
    if entry.ref is not None and checksum_kind(entry) != SHA256:
        return False  # an ETag or a location says nothing about local bytes: fetch again
    try:
        st = os.stat(name, dir_fd=folder, follow_symlinks=False)
        if stat.S_ISLNK(st.st_mode):
            if entry.ref is not None or store.objects is None:
                return False
            target = str(store.object_path(entry.digest))
            return os.readlink(name, dir_fd=folder) == target and _hash_fd(os.open(target, os.O_RDONLY)) == entry.digest
        if not stat.S_ISREG(st.st_mode) or st.st_size != entry.size:
            return False
        return _hash_fd(os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=folder)) == entry.digest
    except OSError:
        return False


def _write_blob(
    store: BlobStore, tree: Root, entry: ManifestEntry, blobs: dict[str, bytes | None], folder: int, name: str, link: str
) -> None:
    """Materialise a stored entry; a cached copy of a remote blob evicted meanwhile is fetched again."""
    for attempt in range(3):
        data, object_path = _blob(store, entry, blobs)
        try:
            _materialise(store, tree, entry, data, object_path, folder, name, link)
            return
        except FileNotFoundError:
            # Another process evicted the cached file between the fetch and the link or copy.
            if attempt == 2 or object_path is None or os.path.exists(object_path) or not store.files or not store.files.remote:
                raise


def _blob(store: BlobStore, entry: ManifestEntry, blobs: dict[str, bytes | None]) -> tuple[bytes | None, str | None]:
    """An entry's inline bytes, or a local file of its blob (from a bucket: fetched into the cache, verified)."""
    if entry.digest not in blobs:
        raise IntegrityError(f"blob {entry.digest} of {entry.path!r} is missing from the registry", missing=[entry.path])
    data = blobs[entry.digest]
    if data is not None or store.objects is None:
        return data, None
    try:
        return None, str(store.local_file(entry.digest, entry.size))
    except IntegrityError as exc:
        if not exc.missing:
            raise IntegrityError(f"{exc} (entry {entry.path!r})", mismatched=[entry.path]) from exc
        raise IntegrityError(f"blob file of {entry.path!r} is missing or truncated", missing=[entry.path]) from exc


def _materialise(
    store: BlobStore, tree: Root, entry: ManifestEntry, data: bytes | None, object_path: str | None, folder: int, name: str, link: str
) -> None:
    """Write one file under a temporary name, then rename it into place."""
    if object_path is not None and link in ("hardlink", "symlink"):
        try:
            tree.link(folder, name, object_path, symbolic=link == "symlink")
        except FileNotFoundError:
            if os.path.exists(object_path):
                raise DiskError(f"cannot {link} {entry.path!r} under {tree.path!r}: no such folder", errno.ENOENT) from None
            raise  # the cached file was evicted: fetched again by the caller
        except OSError as exc:
            raise DiskError(f"cannot {link} {entry.path!r} under {tree.path!r}: {exc.strerror}", exc.errno) from exc
        return
    if data is not None:
        check_bytes(entry.digest, entry.size, data)  # before anything is created
    with tree.new_file(folder, name) as fd:
        if data is not None:
            write_all(fd, memoryview(data))
        elif object_path is not None and link in ("reflink", "auto") and _reflink(object_path, fd):
            pass
        elif object_path is not None and link == "reflink":
            raise DiskError(f"cannot reflink {entry.path!r}: the filesystem under {tree.path!r} does not support it", errno.EOPNOTSUPP)
        elif object_path is not None and store.files is not None and store.files.just_verified(entry.digest):
            _copy_file(object_path, fd)  # fetched and hashed a moment ago: hashing it again would find the same
        else:
            _copy_verified(store, entry, fd)


def _fetch_reference(tree: Root, entry: ManifestEntry, folder: int, name: str) -> None:
    """Copy a reference from its source to ``name``, renamed into place only once its digest checked out."""
    with tree.new_file(folder, name) as fd, open_reference(entry) as reader:
        buf = bytearray(CHUNK)
        view = memoryview(buf)
        while n := reader.readinto(view):  # type: ignore[attr-defined]
            write_all(fd, view[:n])


def _copy_verified(store: BlobStore, entry: ManifestEntry, out_fd: int) -> None:
    with store.reader(entry.digest, entry.size, None) as reader:
        assert isinstance(reader, VerifyingReader)
        buf = bytearray(CHUNK)
        view = memoryview(buf)
        while n := reader.readinto(view):
            write_all(out_fd, view[:n])


def _copy_file(source: str, out_fd: int) -> None:
    """Copy a file into ``out_fd`` in the kernel (copy_file_range), or through a buffer where that fails."""
    with open(source, "rb") as src:
        try:
            while os.copy_file_range(src.fileno(), out_fd, CHUNK * 64):
                pass
            return
        except OSError:
            src.seek(0)
            os.lseek(out_fd, 0, os.SEEK_SET)
            os.ftruncate(out_fd, 0)
        while chunk := src.read(CHUNK):
            write_all(out_fd, memoryview(chunk))


def _reflink(source: str, out_fd: int) -> bool:
    src = os.open(source, os.O_RDONLY)
    try:
        fcntl.ioctl(out_fd, FICLONE, src)
        return True
    except OSError:
        return False
    finally:
        os.close(src)


def verify(store: BlobStore, version: Version, root: str | None) -> None:
    """Rehash every entry (stored blobs, or files under ``root``); raise listing what differs."""
    entries = list(version.files())
    missing: list[str] = []
    mismatched: list[str] = []
    extra: list[str] = []
    if root is None:
        for entry in entries:
            try:
                if entry.ref is not None:
                    check_reference(entry)
                    continue
                with store.open(entry.digest, entry.size) as reader:
                    while reader.read(CHUNK):
                        pass
            except NotFound:
                missing.append(entry.path)
            except IntegrityError as exc:
                (missing if exc.missing else mismatched).append(entry.path)
    else:
        root = os.path.abspath(root)
        for entry in entries:
            dest = os.path.join(root, *entry.path.split("/"))
            if not os.path.isfile(dest):
                missing.append(entry.path)
            elif not _local_matches(dest, entry):
                mismatched.append(entry.path)
        extra = sorted(set(_tree(root)) - {e.path for e in entries})
    if missing or mismatched or extra:
        parts = [f"{label}: {', '.join(paths)}" for label, paths in
                 (("missing", missing), ("mismatched", mismatched), ("extra", extra)) if paths]
        where = repr(root) if root is not None else "its stored blobs and sources" if any(e.ref for e in entries) else "stored blobs"
        raise IntegrityError(
            f"{version.qualified_name} does not match {where} ({'; '.join(parts)})",
            missing=missing, extra=extra, mismatched=mismatched,
        )


def _local_matches(dest: str, entry: ManifestEntry) -> bool:
    """Whether a downloaded file matches its entry, as far as the entry's digest can tell."""
    kind = checksum_kind(entry) if entry.ref is not None else SHA256
    if kind == NONE:
        return True  # only the location was recorded
    if os.path.getsize(dest) != entry.size:
        return False
    return kind != SHA256 or _hash_path(dest) == entry.digest


def _tree(root: str) -> Iterable[str]:
    for folder, _dirs, files in os.walk(root):
        rel_folder = os.path.relpath(folder, root)
        for name in files:
            yield name if rel_folder == "." else f"{rel_folder}/{name}".replace(os.sep, "/")


def _hash_path(path: str) -> str:
    return _hash_fd(os.open(path, os.O_RDONLY))


def _hash_fd(fd: int) -> str:
    """sha256 of what an open descriptor reads; closes it."""
    with open(fd, "rb") as handle:
        return sha256_stream(handle)[0]
