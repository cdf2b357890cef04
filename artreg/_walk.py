"""The folder walk shared by ``add_dir`` and ``file://`` references, and its rows.

``walk`` finds every regular file under a folder as one plain tuple (``FileRow``), following
symlinks only to targets inside the folder; ``FileRows`` holds one walk's rows and makes
``DraftEntry`` objects from them only when something asks for entries.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Sequence
from typing import overload

from ._errors import InvalidName, NotFound
from ._names import normalize_path
from ._sources import DraftEntry, FileSource

# What a directory entry's name may not contain (scandir never yields "", "." or ".."); lone
# surrogates are the bytes of a name that is not UTF-8, as os.fsdecode hands them over.
_BAD_NAME = re.compile(r"[\x00-\x1f\x7f-\x9f\\\ud800-\udfff]")

# One file found by ``add_dir``: (logical path, dev, ino, size, mtime_ns, ctime_ns).
FileRow = tuple[str, int, int, int, int, int]


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



def walk(root: str, prefix: str) -> list[FileRow]:
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
