"""Where a registry lives: the path given to ``artreg.open`` resolved, checked and, when asked, created.

The rule (README, "Where things live"):

- ``":memory:"`` is an in-memory registry.
- The path is made absolute here, once: a registry opened by a relative path keeps
  naming the same files after ``os.chdir`` (from any thread), and the links a download
  makes into its store do not dangle.
- What is already there decides: an existing folder is a folder registry
  (``registry.db`` and ``objects/`` inside it); an existing regular file is a registry
  file (blob files in ``<file>.objects/`` beside it), whatever its name.
- A path that does not exist is created only when asked (``create=True``), as a file
  when its name ends in a database suffix (``.db``, ``.sqlite``, ``.sqlite3``, ``.db3``),
  else as a folder. Without ``create`` it raises NotFound naming the path.
- A database path that is not a regular file (a device such as ``/dev/null``, a FIFO, a
  socket, a folder, a broken symlink), or a file that is not SQLite, raises SchemaError
  before SQLite opens it: SQLite would otherwise create ``<path>-journal`` beside it (or
  block on a FIFO).
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from .._errors import DiskError, InvalidName, NotFound, SchemaError

MEMORY = ":memory:"
DB_NAME = "registry.db"
DB_SUFFIXES = (".db", ".sqlite", ".sqlite3", ".db3")
SQLITE_HEADER = b"SQLite format 3\x00"


@dataclass(frozen=True)
class Location:
    """A registry's database file (absolute, or ``:memory:``) and the name of its blob folder beside it."""

    database: str
    objects: str | None


# "scheme://...": never a path anyone means (it would become a folder named "scheme:").
_URL = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")


def locate(path: str | os.PathLike[str], *, create: bool) -> Location:
    """Resolve an ``open()`` path to its database file, creating folders only when ``create``.

    Raises NotFound (nothing there and not ``create``), SchemaError (something there that
    is not a registry) or ArtregError (a folder that cannot be created).
    """
    text = os.fspath(path)
    if text == MEMORY:
        return Location(MEMORY, None)
    if not text or "\x00" in text:
        raise InvalidName(f"a registry path must be a non-empty path without NUL characters, not {text!r}")
    url = _URL.match(text)
    if url is not None:
        raise InvalidName(_url_refusal(text, url.group(1).lower()))
    target = Path(os.path.abspath(os.path.expanduser(text)))
    try:
        found = os.stat(target)
    except FileNotFoundError:
        found = None
    except NotADirectoryError:  # a parent is a file: nothing can be here
        found = None
    except OSError as exc:
        raise DiskError(f"cannot look at registry path {str(target)!r}: {exc.strerror}", exc.errno) from exc
    if found is not None and stat.S_ISDIR(found.st_mode):
        database = target / DB_NAME
        if not _check_database(database) and not create:
            raise NotFound(f"no registry at {str(target)!r}: the folder has no {DB_NAME}")
        return Location(str(database), "objects")
    if found is not None or os.path.islink(target):
        _check_database(target)
        return Location(str(target), f"{target.name}.objects")
    if not create:
        raise NotFound(f"no registry at {str(target)!r}: no such file or folder")
    if target.suffix.lower() in DB_SUFFIXES:
        # "<file>.objects", not a shared "objects": two registry files in one folder must
        # never sweep each other's blobs.
        _make_folder(target.parent, target)
        return Location(str(target), f"{target.name}.objects")
    _make_folder(target, target)
    return Location(str(target / DB_NAME), "objects")


def _url_refusal(text: str, scheme: str) -> str:
    """Why ``open()`` refuses a URL, instead of making a folder named after it."""
    if scheme in ("s3", "gs", "gcs", "az", "abfs"):
        why = "a bucket holds a registry's blobs, not its catalog: open a local registry with blobs='s3://bucket/prefix'"
    elif scheme == "file":
        why = "give the path itself, without file://"
    else:
        why = "a registry is a folder or a .db file"
    return f"cannot open registry {text!r}: {why}"


def _check_database(database: Path) -> bool:
    """True when ``database`` is a regular file that may be an SQLite database, False when absent.

    Raises SchemaError for anything else there. An empty file passes: SQLite makes a new
    database of it (and ``Database`` refuses one when it may not create).
    """
    name = str(database)
    try:
        found = os.stat(database)
    except FileNotFoundError:
        if os.path.islink(database):
            raise SchemaError(f"{name!r} is a symbolic link to {os.readlink(database)!r}, which does not exist") from None
        return False
    except OSError as exc:
        raise SchemaError(f"{name!r} cannot be used as a registry database: {exc.strerror}") from exc
    if not stat.S_ISREG(found.st_mode):
        link = f" (a symbolic link to {os.readlink(database)!r})" if os.path.islink(database) else ""
        raise SchemaError(f"{name!r}{link} is {_kind(found.st_mode)}, not a registry database (which is a regular file)")
    if found.st_size == 0:
        return True
    try:
        with open(database, "rb") as f:
            header = f.read(len(SQLITE_HEADER))
    except OSError as exc:
        raise DiskError(f"cannot read registry database {name!r}: {exc.strerror}", exc.errno) from exc
    if header != SQLITE_HEADER:
        raise SchemaError(f"{name!r} is not an artreg registry: it is not an SQLite database")
    return True


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _make_folder(folder: Path, target: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError as exc:  # a file is in the way (exist_ok covers folders only)
        raise SchemaError(f"cannot create a registry at {str(target)!r}: {str(folder)!r} is a file") from exc
    except OSError as exc:
        raise DiskError(f"cannot create a registry at {str(target)!r}: {exc.strerror} ({exc.filename})", exc.errno) from exc
