"""Reading a version where it is: local paths to its entries, snapshots, and its folders.

``path()`` hands out the blob file itself (read-only, never copied). Bytes with no file of
their own (inline blobs, references) are made into files of the registry's cache first
(``_cache``), checked before they appear. ``snapshot()`` lays a version out as a folder of
symbolic links to those files, the ``hf_hub_download`` / ``snapshot_download`` pattern; it
is reused while intact and otherwise rebuilt beside the old one and swapped in whole.

The folder queries here read a manifest as a tree (``artreg://``): a version's chunks are
keyed by their first path and a chunk's entries by path (``_chunks``), so a folder's entries
are one range of each and a subfolder is skipped with one seek, whatever it holds.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from ._errors import AlreadyExists, ArtregError, IntegrityError, InvalidName
from .references import NONE, checksum_kind
from .storage import _chunks as chunks
from .storage._manifest import ManifestEntry

if TYPE_CHECKING:
    from ._cache import Cache
    from ._context import Context
    from .storage._blobs import BlobStore

BATCH = 256  # entries whose blob rows are read by one query (inline rows are at most the inline limit each)


# -- local paths -------------------------------------------------------------------------


def local_files(store: BlobStore, cache: Cache, entries: Iterable[ManifestEntry]) -> Iterator[tuple[ManifestEntry, str]]:
    """(entry, local path of its bytes) for each entry, making cache files as needed.

    A blob file that is present with its size is used as it is (a stat, no read); a cached
    file likewise. Only misses read blob rows, in batches, and write into the cache.
    """
    batch: list[ManifestEntry] = []
    for entry in entries:
        found = _present(store, cache, entry)
        if found is not None:
            if batch:
                yield from _make(store, cache, batch)
                batch = []
            yield entry, found
            continue
        batch.append(entry)
        if len(batch) == BATCH:
            yield from _make(store, cache, batch)
            batch = []
    if batch:
        yield from _make(store, cache, batch)


def _present(store: BlobStore, cache: Cache, entry: ManifestEntry) -> str | None:
    """The local file of an entry when it needs neither a query nor a write."""
    if entry.ref is None and store.objects is not None:
        path = store.object_path(entry.digest)
        if store.files is not None and store.files.remote:
            # A bucket's blob is here when its cached copy is (else _make fetches it).
            return os.path.abspath(path) if _sized(path, entry.size) else None
        if store.file_present(entry.digest, entry.size):
            return os.path.abspath(path)
    if entry.ref is not None and checksum_kind(entry) == NONE:
        return None  # a location only: fetched afresh every time
    cached = cache.reference_path(entry) if entry.ref is not None else cache.content_path(entry.digest)
    try:
        if cached.stat().st_size == entry.size:
            return str(cached)
    except FileNotFoundError:
        pass
    return None


def _make(store: BlobStore, cache: Cache, entries: list[ManifestEntry]) -> list[tuple[ManifestEntry, str]]:
    rows = store.rows(e.digest for e in entries if e.ref is None)
    made = []
    with cache.lock():
        for entry in entries:
            if entry.ref is not None:
                made.append((entry, cache.reference(entry)))
                continue
            if entry.digest not in rows:
                raise IntegrityError(f"blob {entry.digest} of {entry.path!r} is missing from the registry", missing=[entry.path])
            data = rows[entry.digest]
            if data is None and store.files is not None and store.files.remote:
                # A blob in a bucket: fetched into the local cache of the bucket, checked on the way.
                made.append((entry, os.path.abspath(store.local_file(entry.digest, entry.size))))
                continue
            if data is None:  # a blob file, but not there with its size (checked just before)
                raise IntegrityError(f"blob file of {entry.path!r} is missing or truncated", missing=[entry.path])
            made.append((entry, cache.inline(entry.digest, entry.size, data)))
    return made


# -- snapshots ---------------------------------------------------------------------------


def snapshot(ctx: Context, digest: str, entries: Iterable[ManifestEntry], root: str | os.PathLike[str] | None) -> str:
    """A folder of symbolic links laid out as a version's manifest (its digest, its entries); see ``Registry.snapshot``."""
    cache = ctx.cache
    where = os.path.abspath(os.fspath(root)) if root is not None else cache.snapshot_path(digest)
    with cache.lock():  # gc waits: the cache files the links name stay while the folder is checked or made
        links = {entry.path: target for entry, target in local_files(ctx.store, cache, entries)}
        if _intact(where, links):
            return where
        with cache.build_lock():
            if not _intact(where, links):  # another process may have built it meanwhile
                _build(where, links)
    return where


def _folders(paths: Iterable[str]) -> set[str]:
    out = set()
    for path in paths:
        parts = path.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            out.add("/".join(parts[:i]))
    return out


def _scan(root: str) -> tuple[dict[str, str], set[str]] | None:
    """(link path -> its target, folder paths) under ``root``; None when something else is there."""
    links: dict[str, str] = {}
    folders: set[str] = set()
    pending = [("", root)]
    while pending:
        prefix, folder = pending.pop()
        with os.scandir(folder) as items:
            for item in items:
                rel = prefix + item.name
                if item.is_symlink():
                    links[rel] = os.readlink(item.path)
                elif item.is_dir(follow_symlinks=False):
                    folders.add(rel)
                    pending.append((rel + "/", item.path))
                else:
                    return None
    return links, folders


def _intact(root: str, links: dict[str, str]) -> bool:
    """Whether ``root`` holds exactly these links and the folders they need, nothing else.

    The targets were found present with their sizes when ``links`` was made; this checks
    the folder itself: one ``readlink`` per entry and one listing per folder, no reads.
    """
    try:
        if not stat.S_ISDIR(os.lstat(root).st_mode):
            return False
        found = _scan(root)
    except FileNotFoundError:
        return False
    return found is not None and found[0] == links and found[1] == _folders(links)


def _build(root: str, links: dict[str, str]) -> None:
    """Make the folder beside ``root`` and swap it in whole; refuses to replace anything but a snapshot."""
    parent = os.path.dirname(root)
    try:
        os.makedirs(parent, exist_ok=True)
        if not _replaceable(root):
            raise AlreadyExists(f"{root!r} exists and is not a snapshot (it holds more than links); remove it or choose another root")
        tmp = tempfile.mkdtemp(dir=parent, prefix=".artreg-snapshot-")
    except OSError as exc:
        raise _error(exc, parent) from exc
    try:
        made = {""}
        for path in sorted(links):
            folder, _, name = path.rpartition("/")
            where = os.path.join(tmp, *folder.split("/")) if folder else tmp
            if folder not in made:
                os.makedirs(where, exist_ok=True)
                made.add(folder)
            os.symlink(links[path], os.path.join(where, name))
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp's 0o700 would hide the snapshot from other users
        _swap_in(tmp, root)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, (FileExistsError, NotADirectoryError)):
            raise InvalidName(f"the manifest holds a file where another entry needs a folder ({exc.filename!r})") from exc
        if isinstance(exc, OSError) and not isinstance(exc, ArtregError):
            raise _error(exc, parent) from exc
        raise


def _replaceable(root: str) -> bool:
    """True when nothing is at ``root`` or it is a folder of only links and folders (a snapshot)."""
    try:
        mode = os.lstat(root).st_mode
    except FileNotFoundError:
        return True
    return stat.S_ISDIR(mode) and _scan(root) is not None


def _swap_in(new: str, root: str) -> None:
    """Put the folder ``new`` at ``root``; a reader sees the old folder or the new one, never neither
    where the system can exchange two names at once (Linux), else only for an instant."""
    try:
        os.rename(new, root)  # nothing there, or an empty folder
        return
    except OSError as exc:
        if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
            raise
    if _exchange(new, root):
        shutil.rmtree(new, ignore_errors=True)  # now the old folder
        return
    old = new + ".old"
    os.rename(root, old)
    os.rename(new, root)
    shutil.rmtree(old, ignore_errors=True)


def _exchange(a: str, b: str) -> bool:
    """Swap two paths atomically with Linux's renameat2(RENAME_EXCHANGE); False where unsupported."""
    renameat2 = _RENAMEAT2
    if renameat2 is None:
        return False
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):  # an old kernel, or a filesystem without it
        return False
    raise OSError(code, os.strerror(code), b)


def _load_renameat2() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):  # a C library older than glibc 2.28
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


_AT_FDCWD = -100
_RENAME_EXCHANGE = 2
_RENAMEAT2 = _load_renameat2()


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _error(exc: OSError, folder: str) -> ArtregError:
    from .storage._blobs import storage_error

    return storage_error(exc, folder)


# -- a version as a tree of folders (artreg://) -------------------------------------------


def _upper(prefix: str) -> str | None:
    """The first path after every path starting with ``prefix`` (which ends with '/'); None for the root."""
    return None if not prefix else prefix[:-1] + "0"  # '0' is the character after '/'


def children(ctx: Context, content_id: int, folder: str) -> list[ManifestEntry | str]:
    """The entries directly in ``folder`` ("" for the top), and its subfolders as their paths, in path order.

    One range scan of the folder's own files; each subfolder costs one seek past it.
    """
    prefix = folder + "/" if folder else ""
    upper = _upper(prefix)
    out: list[ManifestEntry | str] = []
    start = prefix
    with ctx.read() as con:
        while True:
            restart = None
            for path, digest, size, ref, extra in chunks.scan(con, content_id, start, upper):
                rest = path[len(prefix):]
                head, slash, _ = rest.partition("/")
                if not slash:
                    out.append(ManifestEntry(path, digest, size, ref, _extra(extra)))
                    continue
                out.append(prefix + head)
                restart = prefix + head + "0"  # past every path under this subfolder
                break
            if restart is None:
                return out
            start = restart


def descendants(ctx: Context, content_id: int, folder: str) -> list[ManifestEntry]:
    """Every entry under ``folder`` ("" for all), in path order, in one range scan."""
    prefix = folder + "/" if folder else ""
    with ctx.read() as con:
        rows = chunks.scan(con, content_id, prefix, _upper(prefix))
        return [ManifestEntry(p, d, s, r, _extra(e)) for p, d, s, r, e in rows]


def is_folder(ctx: Context, content_id: int, folder: str) -> bool:
    """Whether some entry lies under ``folder`` (the top is always a folder)."""
    if not folder:
        return True
    with ctx.read() as con:
        first = chunks.first_from(con, content_id, folder + "/")
    return first is not None and first < folder + "0"


def _extra(text: str) -> dict[str, Any]:
    value = json.loads(text)
    assert isinstance(value, dict)
    return value


def _sized(path: os.PathLike[str], size: int) -> bool:
    try:
        return os.stat(path).st_size == size
    except FileNotFoundError:
        return False
