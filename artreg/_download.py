"""Materialising a version on disk (download, checkout) and checking a tree against it (verify).

Every path is checked before anything is written: an entry that would land outside the
root (through ``..``, an absolute path, or a symlinked folder inside the root) refuses
the whole download. Each file appears atomically (temporary name, then rename).

Reference entries (SPEC §10) are copied from their source whatever the link mode, and
checked against their recorded digest before the rename; ``verify`` re-checks the source.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import tempfile
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from ._blobs import BlobStore, VerifyingReader, check_bytes, storage_error, write_all
from ._errors import ArtregError, FileNotFound, IntegrityError, InvalidName, NotFound
from ._manifest import ManifestEntry
from ._names import normalize_path
from ._progress import ProgressCallback, Tracker
from ._references import NONE, SHA256, check_reference, checksum_kind, open_reference

if TYPE_CHECKING:
    from ._versions import ArtifactVersion

LINK_MODES = ("copy", "hardlink", "symlink", "reflink", "auto")
FICLONE = 0x40049409  # linux/fs.h: _IOW(0x94, 9, int)
CHUNK = 1 << 20
# Entries whose blob rows are read by one query, and the most bytes such a batch may hold.
BATCH = 512
BATCH_BYTES = 32 << 20


def _read_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def default_root(version: ArtifactVersion) -> str:
    """``$ARTREG_ARTIFACT_DIR/<name>:<version>``, else ``./artifacts/<name>:<version>``."""
    base = os.environ.get("ARTREG_ARTIFACT_DIR") or os.path.join(".", "artifacts")
    return os.path.join(base, f"{version.collection_name}:{version.version}")


def download(
    version: ArtifactVersion,
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
    ``allow_missing``.
    """
    if link not in LINK_MODES:
        raise InvalidName(f"link must be one of {', '.join(LINK_MODES)}, not {link!r}")
    root = os.path.abspath(root if root is not None else default_root(version))
    prefix = None if path_prefix is None else normalize_path(path_prefix)
    entries = list(version.files(prefix))  # a prefix reads only the chunks of its folder
    if prefix is not None:
        with contextlib.suppress(FileNotFound):
            entries.insert(0, version.get_entry(prefix))  # a file at the prefix itself
    targets = _targets(root, entries)
    store = version._reg._store
    tracker = Tracker(progress, len(targets), sum(entry.size for entry in entries))
    try:
        os.makedirs(root, exist_ok=True)
        listed: dict[str, set[str]] = {}
        for batch in _batches(targets):
            blobs = store.rows(entry.digest for entry, _, _ in batch if entry.ref is None)
            for entry, folder, name in batch:
                if folder not in listed:
                    listed[folder] = _names_in(folder)
                if name in listed[folder] and _has_content(os.path.join(folder, name), entry):
                    pass
                elif entry.ref is None:
                    data, object_path = _blob(store, entry, blobs)
                    _materialise(store, entry, data, object_path, folder, name, link)
                else:
                    try:
                        _fetch_reference(entry, os.path.join(folder, name))
                    except NotFound as exc:
                        if not allow_missing:
                            raise
                        warnings.warn(f"{version.qualified_name}: skipped missing reference {entry.path!r}: {exc}", stacklevel=3)
                tracker.advance(entry.size)
        if prune:
            _prune(root, {entry.path for entry in entries})
    except OSError as exc:  # writing under root: a full disk, a read-only folder, a file where a folder goes
        raise storage_error(exc, root) from exc
    return root


def _targets(root: str, entries: list[ManifestEntry]) -> list[tuple[ManifestEntry, str, str]]:
    """(entry, folder, file name) of every entry, refused if one would resolve outside ``root``.

    Each folder is resolved once (a download of 10,000 files in one folder resolves one).
    """
    real_root = os.path.realpath(root)
    folders: dict[str, str] = {}
    out = []
    for entry in entries:
        path = entry.path
        if normalize_path(path) != path:
            raise InvalidName(f"manifest path {path!r} is not normalised; refusing to download it")
        relative, _, name = path.rpartition("/")
        folder = folders.get(relative)
        if folder is None:
            folder = os.path.join(root, *relative.split("/")) if relative else root
            real = os.path.realpath(folder)
            if real != real_root and not real.startswith(real_root + os.sep):
                raise InvalidName(f"manifest path {path!r} would be written outside {root!r}")
            folders[relative] = folder
        out.append((entry, folder, name))
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


def _names_in(folder: str) -> set[str]:
    """The names in a folder, created (empty) when missing: what need not be checked is absent."""
    try:
        return set(os.listdir(folder))
    except FileNotFoundError:
        os.makedirs(folder, exist_ok=True)
        return set()


def _has_content(dest: str, entry: ManifestEntry) -> bool:
    if entry.ref is not None and checksum_kind(entry) != SHA256:
        return False  # an ETag or a location says nothing about local bytes: fetch again
    try:
        if os.path.getsize(dest) != entry.size or os.path.isdir(dest):
            return False
        return _hash_path(dest) == entry.digest
    except OSError:
        return False


def _blob(store: BlobStore, entry: ManifestEntry, blobs: dict[str, bytes | None]) -> tuple[bytes | None, str | None]:
    """An entry's inline bytes, or its blob file (checked present with the right size)."""
    if entry.digest not in blobs:
        raise IntegrityError(f"blob {entry.digest} of {entry.path!r} is missing from the registry", missing=[entry.path])
    data = blobs[entry.digest]
    if data is not None or store.objects is None:
        return data, None
    if not store.file_present(entry.digest, entry.size):
        raise IntegrityError(f"blob file of {entry.path!r} is missing or truncated", missing=[entry.path])
    return None, str(store.object_path(entry.digest))


def _materialise(
    store: BlobStore, entry: ManifestEntry, data: bytes | None, object_path: str | None, folder: str, name: str, link: str
) -> None:
    """Write one file under a temporary name, then rename it into place."""
    dest = os.path.join(folder, name)
    if object_path is not None and link in ("hardlink", "symlink"):
        tmp = _temp_name(folder)
        try:
            if link == "hardlink":
                os.link(object_path, tmp)
            else:
                os.symlink(object_path, tmp)
        except OSError as exc:
            raise ArtregError(f"cannot {link} {entry.path!r} into {folder!r}: {exc.strerror}") from exc
        _replace(tmp, dest)
        return
    if data is not None:
        check_bytes(entry.digest, entry.size, data)  # before anything is created
    tmp = _temp_name(folder)
    # Mode 0o666 less the umask, as for any new file (no chmod needed); O_EXCL: a fresh name.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW, 0o666)
    try:
        try:
            if data is not None:
                write_all(fd, memoryview(data))
            elif object_path is not None and link in ("reflink", "auto") and _reflink(object_path, fd):
                pass
            elif object_path is not None and link == "reflink":
                raise ArtregError(f"cannot reflink {entry.path!r}: the filesystem of {folder!r} does not support it")
            else:
                _copy_verified(store, entry, fd)
        finally:
            os.close(fd)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _temp_name(folder: str) -> str:
    return os.path.join(folder, f".artreg-{os.urandom(8).hex()}.tmp")


def _fetch_reference(entry: ManifestEntry, dest: str) -> None:
    """Copy a reference from its source to ``dest``, renamed into place only once its digest checked out."""
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(dest), prefix=".artreg-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out, open_reference(entry) as reader:
            buf = bytearray(CHUNK)
            view = memoryview(buf)
            while n := reader.readinto(view):  # type: ignore[attr-defined]
                out.write(view[:n])
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _copy_verified(store: BlobStore, entry: ManifestEntry, out_fd: int) -> None:
    with store.reader(entry.digest, entry.size, None) as reader:
        assert isinstance(reader, VerifyingReader)
        buf = bytearray(CHUNK)
        view = memoryview(buf)
        while n := reader.readinto(view):
            write_all(out_fd, view[:n])


def _reflink(source: str, out_fd: int) -> bool:
    src = os.open(source, os.O_RDONLY)
    try:
        fcntl.ioctl(out_fd, FICLONE, src)
        return True
    except OSError:
        return False
    finally:
        os.close(src)


def _replace(tmp: str, dest: str) -> None:
    try:
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _prune(root: str, keep: set[str]) -> None:
    """Remove files under root that are not in ``keep``, then emptied folders."""
    for folder, dirs, files in os.walk(root, topdown=False):
        rel_folder = os.path.relpath(folder, root)
        for name in files:
            rel = name if rel_folder == "." else f"{rel_folder}/{name}".replace(os.sep, "/")
            if rel not in keep:
                os.unlink(os.path.join(folder, name))
        for name in dirs:
            path = os.path.join(folder, name)
            if os.path.islink(path):
                os.unlink(path)
            elif not os.listdir(path):
                os.rmdir(path)


def verify(version: ArtifactVersion, root: str | None) -> None:
    """Rehash every entry (stored blobs, or files under ``root``); raise listing what differs."""
    entries = list(version.files())
    missing: list[str] = []
    mismatched: list[str] = []
    extra: list[str] = []
    if root is None:
        store = version._reg._store
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
    hasher = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            hasher.update(chunk)
    return hasher.hexdigest()
