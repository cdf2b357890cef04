"""Writing under a download root without ever following a symlink (SPEC §23).

Paths are checked before a download starts, but a folder inside the root can be swapped for
a symlink while it runs, and writing by path would then follow it wherever it points. So
every folder is opened from its parent's descriptor with ``O_NOFOLLOW`` (``openat``), and
every file is created, renamed and removed relative to its folder's descriptor: no path
component is resolved by name twice, and none is ever a symlink.

Each file is written under a temporary name ``.artreg-<pid>-<random>.tmp`` in its folder,
then renamed into place. A process killed in between leaves that file behind; the next
download into the folder removes those whose process is gone.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from .._errors import InvalidName

# Folders kept open at once; a download visits folders in path order, so few are needed.
OPEN_FOLDERS = 64
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_TEMP = re.compile(r"\.artreg-([0-9]+)-[0-9a-f]{16}\.tmp")


class Root:
    """A download root, opened once; folders under it are reached by descriptor only.

    ``replace_links``: a symlink (or file) standing where a folder of the manifest goes is
    removed and a real folder made in its place (``checkout``, which removes what is not in
    the manifest anyway); otherwise it raises InvalidName.
    """

    def __init__(self, path: str, *, replace_links: bool) -> None:
        self.path = path
        self.replace_links = replace_links
        self._fds: OrderedDict[str, int] = OrderedDict()
        self._root = os.open(path, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0))

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()
        os.close(self._root)

    def folder(self, relative: str) -> int:
        """The descriptor of ``root/relative`` (``""`` is the root), made when missing."""
        if not relative:
            return self._root
        fd = self._fds.get(relative)
        if fd is not None:
            self._fds.move_to_end(relative)
            return fd
        parent_path, _, name = relative.rpartition("/")
        parent = self.folder(parent_path)
        fd = self._open_child(parent, name, relative)
        self._fds[relative] = fd
        if len(self._fds) > OPEN_FOLDERS:
            os.close(self._fds.popitem(last=False)[1])
        return fd

    def _open_child(self, parent: int, name: str, relative: str) -> int:
        for _ in range(3):  # a folder made or removed by someone else meanwhile: look again
            try:
                return os.open(name, _DIR_FLAGS, dir_fd=parent)
            except FileNotFoundError:
                with suppress(FileExistsError):
                    os.mkdir(name, 0o777, dir_fd=parent)
            except OSError as exc:
                if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                    raise
                if not self.replace_links:
                    raise InvalidName(
                        f"{relative!r} under {self.path!r} is a symlink or a file, not a folder; "
                        "artreg never writes through a symlink (checkout replaces it)"
                    ) from exc
                os.unlink(name, dir_fd=parent)
        raise InvalidName(f"folder {relative!r} under {self.path!r} keeps changing while it is written")

    def names(self, folder: int) -> set[str]:
        """The names in a folder, after removing temporary files that killed downloads left there."""
        names = set(os.listdir(folder))
        for name in [n for n in names if n.startswith(".artreg-")]:
            match = _TEMP.fullmatch(name)
            if match is not None and not _alive(int(match.group(1))):
                _remove(folder, name)
                names.discard(name)
        return names

    @contextmanager
    def new_file(self, folder: int, name: str) -> Iterator[int]:
        """A descriptor of a new temporary file in ``folder``, renamed to ``name`` when the block ends.

        Mode 0o666 less the umask, as for any new file. On an error the temporary file is removed.
        """
        tmp = temp_name()
        fd = os.open(tmp, _NEW_FILE, 0o666, dir_fd=folder)
        try:
            try:
                yield fd
            finally:
                os.close(fd)
            os.replace(tmp, name, src_dir_fd=folder, dst_dir_fd=folder)
        except BaseException:
            _remove(folder, tmp)
            raise

    def link(self, folder: int, name: str, target: str, *, symbolic: bool) -> None:
        """Put a hard or symbolic link to ``target`` at ``name`` in ``folder``, atomically."""
        tmp = temp_name()
        if symbolic:
            os.symlink(target, tmp, dir_fd=folder)
        else:
            os.link(target, tmp, dst_dir_fd=folder)
        try:
            os.replace(tmp, name, src_dir_fd=folder, dst_dir_fd=folder)
        except BaseException:
            _remove(folder, tmp)
            raise

    def prune(self, keep: set[str]) -> None:
        """Remove what is under the root and not in ``keep`` (logical paths), then emptied folders.

        Walks by descriptor (``os.fwalk`` never descends into a symlink), and removes names
        relative to their folder: a symlink is removed itself, never what it points at.
        """
        for folder, dirs, files, fd in os.fwalk(".", topdown=False, dir_fd=self._root):
            rel = "" if folder == "." else folder[2:].replace(os.sep, "/") + "/"
            for name in files:
                if rel + name not in keep:
                    _remove(fd, name)
            for name in dirs:
                if stat.S_ISLNK(os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode):
                    _remove(fd, name)
                else:
                    try:
                        os.rmdir(name, dir_fd=fd)
                    except OSError as exc:
                        if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOENT):
                            raise


def temp_name() -> str:
    return f".artreg-{os.getpid()}-{os.urandom(8).hex()}.tmp"


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists (this one's own threads may be writing: alive)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def _remove(folder: int, name: str) -> None:
    with suppress(FileNotFoundError):
        os.unlink(name, dir_fd=folder)
