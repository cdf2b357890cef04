"""``artreg://``: artifact versions as a read-only fsspec filesystem (SPEC §20).

    pandas.read_csv("artreg://zoo/zoo_dataset:best/data/rows.csv")
    fsspec.open("artreg://wandb-registry-model/Zoo:production/model.pt", registry="./registry")

Installed as fsspec's ``artreg`` protocol through the ``fsspec.specs`` entry point
(``pip install 'artreg[fsspec]'``). A path is a version reference followed by a path in its
manifest: ``[entity/][project/]name[:selector]/path``. Names and projects cannot hold ``:``,
so the first ``:`` starts the selector and the first ``/`` after it starts the path. Without
a selector (``latest``) the split is found by trying ``project/name``, then
``entity/project/name``, then ``name`` in the default project: the first that names a live
version wins (a ``:`` in a file name is tried as a selector first; add ``:latest`` to make
any path unambiguous). Folders are implied by the entries' paths. A path with a ``..``
segment is refused.

The registry is ``storage_options["registry"]`` (a path, or an open ``Registry``), else
``$ARTREG_HOME`` or the platform's default (SPEC §2), read when each call is made; a missing
one is never created. ``user`` sets the acting user (registry roles apply: listing needs a
role, reading bytes ``viewer``).

Stored blob files are opened where they are: reads and seeks go straight to the file, with
no copy and no per-read hashing (``verify=True`` rehashes a file read from start to end and
raises IntegrityError at its end when it differs). Inline blobs are checked, then served
from memory. A reference is fetched once into the registry's cache through its own scheme
(``file://``, ``http(s)://``, ``s3://``) and checked whole against its recorded digest
before it is read (see ``ArtifactVersion.path``).

Errors: what is missing (a registry, a version, a path) raises ``artreg.FileNotFound``, both
a ``FileNotFoundError`` and an ``artreg.NotFound``; writing in any form raises
``artreg.PermissionDenied`` (a ``PermissionError``), the error of a read-only file.
"""

from __future__ import annotations

import io
import os
import threading
from contextlib import suppress
from datetime import datetime
from typing import Any

from fsspec.spec import AbstractFileSystem
from fsspec.utils import stringify_path

from ._context import Context
from ._errors import ArtregError, FileNotFound, IntegrityError, InvalidName, NotFound, PermissionDenied
from ._names import normalize_path, parse_ref
from ._paths import children, descendants, is_folder, local_files
from ._registry import Registry, default_home, default_user
from ._versions import ArtifactVersion
from .storage._blobs import VerifyingReader, check_bytes
from .storage._catalog_open import is_catalog_url
from .storage._location import locate
from .storage._manifest import ManifestEntry

PROTOCOL = "artreg"
BUFFER = io.DEFAULT_BUFFER_SIZE  # an opened file's read buffer unless block_size says otherwise, as open() has

# Registries opened from a path, shared by every filesystem object of the process: the key
# holds the database file's identity, so a registry replaced on disk is opened afresh.
_OPENED: dict[tuple[object, ...], Registry] = {}
_OPENING = threading.Lock()


class ArtregFileSystem(AbstractFileSystem):  # type: ignore[misc]  # fsspec ships no type information
    """Read-only fsspec filesystem over one artreg registry (``artreg://``)."""

    protocol = PROTOCOL
    root_marker = ""
    # No instance cache: an object holds no connection of its own (registries opened from a
    # path are shared, above), and fsspec's cache keys an open Registry by its repr, which
    # two Registry objects of one file share.
    cachable = False

    def __init__(
        self,
        registry: str | os.PathLike[str] | Registry | None = None,
        *,
        user: str | None = None,
        verify: bool = False,
        **storage_options: Any,
    ) -> None:
        super().__init__(**storage_options)
        if isinstance(registry, Registry):
            self._registry: Registry | None = registry
            self._location: str | None = None
        elif registry is None or isinstance(registry, (str, os.PathLike)):
            self._registry = None
            self._location = None if registry is None else os.fspath(registry)
            if self._location == ":memory:":
                raise InvalidName("registry=':memory:' would open a new, empty registry: pass the open Registry object")
        else:
            raise InvalidName(f"registry must be a path or an open artreg.Registry, not {type(registry).__name__}")
        self._user = user
        self._verify = bool(verify)

    def __reduce__(self) -> Any:
        """Pickle by location, so a filesystem over an open registry can go to another process."""
        options = dict(self.storage_options)
        if isinstance(options.get("registry"), Registry):
            reg = options["registry"]
            if reg.path == ":memory:":
                raise TypeError("an artreg:// filesystem over a ':memory:' registry cannot leave its process")
            # A catalog's own URL: Registry.path hides its password, which the other process needs.
            options["registry"] = getattr(reg._db, "url", reg.path)
            options["user"] = reg.user
        return _make, (type(self), self.storage_args, options)

    # -- paths -------------------------------------------------------------------------

    @classmethod
    def _strip_protocol(cls, path: Any) -> Any:
        """``artreg://a//b/./c/`` -> ``a/b/c``: no protocol, no empty or ``.`` segments (``..`` stays, to be refused)."""
        if isinstance(path, list):
            return [cls._strip_protocol(p) for p in path]
        text = stringify_path(path)
        for start in (f"{PROTOCOL}://", f"{PROTOCOL}::"):
            if text.startswith(start):
                text = text[len(start):]
                break
        return "/".join(part for part in text.split("/") if part not in ("", "."))

    def unstrip_protocol(self, name: str) -> str:
        return name if name.startswith(f"{PROTOCOL}://") else f"{PROTOCOL}://{name}"

    def _open_registry(self) -> Registry:
        if self._registry is not None:
            return self._registry
        return open_registry(self._location, self._user)

    def _locate(self, path: Any) -> tuple[ArtifactVersion, str, str]:
        """(version, the path's reference part as written, the path inside the version: "" for its top)."""
        text = self._strip_protocol(path)
        parts = text.split("/") if text else []
        if ".." in parts:
            raise InvalidName(f"artreg://{text} has a '..' segment: a path cannot leave its artifact")
        reg = self._open_registry()
        refused: InvalidName | None = None
        missing: NotFound | None = None
        for ref, inner in _splits(parts):
            try:
                parse_ref(ref)
            except InvalidName as exc:
                if ":" in ref:
                    refused = exc
                continue
            try:
                version = reg.artifact(ref)
            except NotFound as exc:
                if ":" in ref:
                    missing = exc
                continue
            return version, ref, normalize_path("/".join(inner)) if inner else ""
        if refused is not None:
            raise refused
        if missing is not None:
            raise FileNotFound(f"artreg://{text}: {missing}") from missing
        raise FileNotFound(f"artreg://{text} names no artifact version in {reg.path!r} (paths start [project/]name[:selector]/)")

    # -- reading the tree --------------------------------------------------------------

    def info(self, path: Any, **kwargs: Any) -> dict[str, Any]:
        version, ref, inner = self._locate(path)
        if inner:
            entry = _entry(version, inner)
            if entry is not None:
                return _file_info(version, ref, entry)
            if not is_folder(*_tree(version), inner):
                raise FileNotFound(f"{version.qualified_name} has no file or folder {inner!r}")
        return _folder_info(version, _join(ref, inner))

    def ls(self, path: Any, detail: bool = True, **kwargs: Any) -> list[Any]:
        version, ref, inner = self._locate(path)
        entry = _entry(version, inner) if inner else None
        if entry is not None:
            infos = [_file_info(version, ref, entry)]
        else:
            items = children(*_tree(version), inner)
            if not items and inner:
                raise FileNotFound(f"{version.qualified_name} has no file or folder {inner!r}")
            infos = [
                _file_info(version, ref, item) if isinstance(item, ManifestEntry) else _folder_info(version, _join(ref, item))
                for item in items
            ]
        return infos if detail else [info["name"] for info in infos]

    def find(
        self, path: Any, maxdepth: int | None = None, withdirs: bool = False, detail: bool = False, **kwargs: Any
    ) -> Any:
        """Every file under ``path`` (and folder, with ``withdirs``), sorted, from one range scan of the manifest."""
        if maxdepth is not None and maxdepth < 1:
            raise ValueError("maxdepth must be at least 1")
        try:
            version, ref, inner = self._locate(path)
        except FileNotFound:
            return {} if detail else []
        out: dict[str, dict[str, Any]] = {}
        entry = _entry(version, inner) if inner else None
        if entry is not None:
            out[_join(ref, inner)] = _file_info(version, ref, entry)
        elif not inner or is_folder(*_tree(version), inner):
            if withdirs:
                out[_join(ref, inner)] = _folder_info(version, _join(ref, inner))
            base = inner + "/" if inner else ""
            for item in descendants(*_tree(version), inner):
                parts = item.path[len(base):].split("/")
                if maxdepth is None or len(parts) <= maxdepth:
                    out[_join(ref, item.path)] = _file_info(version, ref, item)
                if withdirs:
                    for depth in range(1, min(len(parts), (maxdepth or len(parts)) + 1)):
                        name = _join(ref, base + "/".join(parts[:depth]))
                        if name not in out:
                            out[name] = _folder_info(version, name)
        names = sorted(out)
        return {name: out[name] for name in names} if detail else names

    def du(self, path: Any, total: bool = True, maxdepth: int | None = None, withdirs: bool = False, **kwargs: Any) -> Any:
        found = self.find(path, maxdepth=maxdepth, withdirs=withdirs, detail=True)
        sizes = {name: info["size"] for name, info in found.items()}
        return sum(sizes.values()) if total else sizes

    def expand_path(self, path: Any, recursive: bool = False, maxdepth: int | None = None, **kwargs: Any) -> Any:
        try:
            return super().expand_path(path, recursive=recursive, maxdepth=maxdepth, **kwargs)
        except FileNotFoundError as exc:
            if isinstance(exc, ArtregError):
                raise
            raise FileNotFound(f"nothing matches {path!r} in artreg://") from exc

    def modified(self, path: Any) -> datetime:
        """When the version holding ``path`` was logged (its files never change after that)."""
        return self._locate(path)[0].created_at

    created = modified

    def checksum(self, path: Any) -> int:
        """From the entry's digest (a file) or the version's (a folder): equal checksums, equal bytes."""
        info = self.info(path)
        return int(info.get("digest") or info["version_digest"], 16)

    # -- reading bytes -----------------------------------------------------------------

    def _open(
        self,
        path: Any,
        mode: str = "rb",
        block_size: int | None = None,
        autocommit: bool = True,
        cache_options: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> ArtregFile:
        if mode != "rb":
            raise _read_only(f"open {path!r} with mode {mode!r}")
        version, name, entry = self._file(path)
        return ArtregFile(self._raw(version, entry), fs=self, path=name, size=entry.size, buffer_size=block_size or BUFFER)

    def _file(self, path: Any) -> tuple[ArtifactVersion, str, ManifestEntry]:
        """(version, path as written, entry) of a file the user may read; FileNotFound for a folder or nothing."""
        version, ref, inner = self._locate(path)
        entry = _entry(version, inner) if inner else None
        if entry is None:
            what = "is a folder" if not inner or is_folder(*_tree(version), inner) else "does not exist"
            raise FileNotFound(f"artreg://{_join(ref, inner)} {what} in {version.qualified_name}: not a file")
        version._require_download()
        return version, _join(ref, inner), entry

    def _raw(self, version: ArtifactVersion, entry: ManifestEntry) -> Any:
        """A raw reader of an entry's bytes: the blob file, checked inline bytes, or a cached reference."""
        reg = version._reg
        store = reg._store
        if entry.ref is None and store.objects is not None and store.file_present(entry.digest, entry.size):
            raw: Any = io.FileIO(store.object_path(entry.digest), "r")
        elif entry.ref is None:
            data = store.rows([entry.digest]).get(entry.digest)
            if data is None:  # no row, or a blob file that is not there with its size
                raise IntegrityError(f"the blob of {entry.path!r} is missing from the registry", missing=[entry.path])
            check_bytes(entry.digest, entry.size, data)
            return io.BytesIO(data)
        else:
            raw = io.FileIO(next(iter(local_files(store, reg._cache, [entry])))[1], "r")
        return VerifyingReader(raw, entry.digest, entry.size) if self._verify and entry.ref is None else raw

    def cat_file(self, path: Any, start: int | None = None, end: int | None = None, **kwargs: Any) -> bytes:
        """Bytes ``start:end`` of a file (negative values count from its end); only that range is read."""
        version, name, entry = self._file(path)
        size = entry.size
        first = 0 if start is None else max(0, size + start) if start < 0 else min(start, size)
        last = size if end is None else max(0, size + end) if end < 0 else min(end, size)
        if last <= first:
            return b""
        # A buffer no bigger than the range: a small range reads little more than itself.
        with ArtregFile(self._raw(version, entry), fs=self, path=name, size=size, buffer_size=last - first) as f:
            f.seek(first)
            return f.read(last - first)

    # -- writing: refused --------------------------------------------------------------

    def mkdir(self, path: Any, create_parents: bool = True, **kwargs: Any) -> None:
        raise _read_only(f"make folder {path!r}")

    def makedirs(self, path: Any, exist_ok: bool = False) -> None:
        raise _read_only(f"make folder {path!r}")

    def rmdir(self, path: Any) -> None:
        raise _read_only(f"remove {path!r}")

    def rm(self, path: Any, recursive: bool = False, maxdepth: int | None = None) -> None:
        raise _read_only(f"remove {path!r}")

    def rm_file(self, path: Any) -> None:
        raise _read_only(f"remove {path!r}")

    def _rm(self, path: Any) -> None:
        raise _read_only(f"remove {path!r}")

    def cp_file(self, path1: Any, path2: Any, **kwargs: Any) -> None:
        raise _read_only(f"copy to {path2!r}")

    def copy(self, path1: Any, path2: Any, *args: Any, **kwargs: Any) -> None:
        raise _read_only(f"copy to {path2!r}")

    def mv(self, path1: Any, path2: Any, *args: Any, **kwargs: Any) -> None:
        raise _read_only(f"move {path1!r}")

    def pipe_file(self, path: Any, value: Any, *args: Any, **kwargs: Any) -> None:
        raise _read_only(f"write {path!r}")

    def put_file(self, lpath: Any, rpath: Any, *args: Any, **kwargs: Any) -> None:
        raise _read_only(f"write {rpath!r}")

    def put(self, lpath: Any, rpath: Any, *args: Any, **kwargs: Any) -> None:
        raise _read_only(f"write {rpath!r}")

    def touch(self, path: Any, truncate: bool = True, **kwargs: Any) -> None:
        raise _read_only(f"write {path!r}")


class ArtregFile(io.BufferedReader):
    """A file opened from ``artreg://``: a buffered reader over the blob file itself (or checked bytes).

    ``seek`` and ``read`` go to the file, so a range costs what it reads. ``size``, ``path``
    and ``fs`` are there for fsspec's callers.
    """

    mode = "rb"

    def __init__(self, raw: Any, *, fs: ArtregFileSystem, path: str, size: int, buffer_size: int) -> None:
        super().__init__(raw, buffer_size)
        self.fs = fs
        self.path = path
        self.size = size

    def __del__(self) -> None:
        # Closed quietly when collected, as fsspec's own files are: pyarrow and pandas leave
        # some handles to the collector (no ResourceWarning is theirs to fix here).
        with suppress(Exception):
            self.close()


def open_registry(location: str | os.PathLike[str] | None, user: str | None) -> Registry:
    """The registry at ``location`` (None: ``$ARTREG_HOME`` or the default), opened once per process;
    FileNotFound when there is none (nothing is created)."""
    who = user if user is not None else default_user()
    if location is None and is_catalog_url(default_home()):
        location = default_home()  # ARTREG_HOME=postgresql://...
    if location is not None and is_catalog_url(os.fspath(location)):
        url = os.fspath(location)
        with _OPENING:
            reg = _OPENED.get((url, who))
            if reg is None:
                reg = _OPENED[(url, who)] = Registry(url, user=who, create=False)
        return reg
    try:
        database = locate(location if location is not None else default_home(), create=False).database
        found = os.stat(database)
    except (NotFound, FileNotFoundError, NotADirectoryError) as exc:
        raise FileNotFound(f"no artreg registry at {os.fspath(location if location is not None else default_home())!r}") from exc
    key = (str(database), who, found.st_dev, found.st_ino)
    with _OPENING:
        reg = _OPENED.get(key)
        if reg is None:
            reg = _OPENED[key] = Registry(database, user=who)
    return reg


def _make(cls: type[ArtregFileSystem], args: tuple[Any, ...], options: dict[str, Any]) -> ArtregFileSystem:
    return cls(*args, **options)


def _splits(parts: list[str]) -> list[tuple[str, list[str]]]:
    """Where the reference may end, in the order tried: at the segment holding the first ':'
    (the selector), then after 2, 3 or 1 segments without one (``latest``; a ':' is then
    part of the path inside)."""
    colon = next((i for i, part in enumerate(parts) if ":" in part), len(parts))
    out = [("/".join(parts[: colon + 1]), parts[colon + 1:])] if colon < len(parts) else []
    return out + [("/".join(parts[:n]), parts[n:]) for n in (2, 3, 1) if n <= min(colon, len(parts))]


def _join(ref: str, inner: str) -> str:
    return f"{ref}/{inner}" if inner else ref


def _entry(version: ArtifactVersion, inner: str) -> ManifestEntry | None:
    try:
        return version.get_entry(inner)
    except FileNotFound:
        return None


def _file_info(version: ArtifactVersion, ref: str, entry: ManifestEntry) -> dict[str, Any]:
    info: dict[str, Any] = {
        "name": _join(ref, entry.path),
        "size": entry.size,
        "type": "file",
        "digest": entry.digest,
        "artifact": version.qualified_name,
        "mtime": version.created_at.timestamp(),
    }
    if entry.ref is not None:
        info["ref"] = entry.ref
    return info


def _folder_info(version: ArtifactVersion, name: str) -> dict[str, Any]:
    return {
        "name": name,
        "size": 0,
        "type": "directory",
        "artifact": version.qualified_name,
        "version_digest": version.digest,
        "mtime": version.created_at.timestamp(),
    }


def _read_only(what: str) -> PermissionDenied:
    return PermissionDenied(f"artreg:// is read-only: cannot {what}; log a new version instead (artreg.Artifact, log_artifact)")


def _tree(version: ArtifactVersion) -> tuple[Context, int]:
    """What ``_paths`` reads a version's folders with: its registry's context and the version whose manifest it has."""
    return version._reg._ctx, version._content_id
