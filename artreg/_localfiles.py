"""Reading the user's local files: regular files only, and when a file's stat can be trusted.

A draft names local files by path and remembers their stat; the stat cache and the tree
cache then map a stat to a digest so that an unchanged file is not read again. That is only
sound if every change to a file changes its stat. Size and mtime are not enough: a same-size
rewrite followed by ``os.utime`` restores the mtime, and a new file may reuse a deleted
file's inode. The ctime cannot be set by a user: every write, ``utime``, ``chmod`` or link
sets it to the kernel's current time, so (device, inode, size, mtime, ctime) changes
whenever the bytes do, as git's index assumes.

Except within one timestamp tick (git's "racy" entries). A file written at 12:00:00.3 on a
filesystem with one-second timestamps has ctime 12:00:00; read at 12:00:00.4 and rewritten
at 12:00:00.8 it still has. So a stat is *settled*, and only then cached, when its newest
timestamp plus the filesystem's granularity plus a margin for the kernel's coarse clock
lies before the moment the file was read.
"""

from __future__ import annotations

import hashlib
import os
import stat

from ._errors import ArtregError, InvalidName, NotFound

CHUNK = 1 << 20
# The kernel stamps files from a clock that lags the one ``time.time_ns()`` reads by up to
# a scheduler tick (4-10 ms); 50 ms covers that with room to spare.
RACY_NS = 50_000_000
SECOND_NS = 1_000_000_000
# O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever. Reads of
# a regular file ignore it. O_NOCTTY: a terminal device never becomes our controlling one.
READ_FLAGS = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0)


def granularity(ctime_ns: int) -> int:
    """The timestamp resolution a file's ctime suggests, in nanoseconds.

    The kernel sets ctime itself, truncated to what the filesystem stores, so its trailing
    zeros tell the resolution: whole seconds (ext4 with small inodes, HFS+, many network
    filesystems) count as two, since FAT's are; a fine-grained ctime that happens to end in
    zeros only makes a file look racy a little longer.
    """
    if ctime_ns % SECOND_NS == 0:
        return 2 * SECOND_NS
    step = 1
    while ctime_ns % (step * 10) == 0:
        step *= 10
    return step


def settled(mtime_ns: int, ctime_ns: int, started_ns: int) -> bool:
    """True when any change made to a file after ``started_ns`` must show in its stat.

    ``started_ns`` is ``time.time_ns()`` taken before the file's bytes were read (or, for a
    whole tree, before any of them were).
    """
    return max(mtime_ns, ctime_ns) + granularity(ctime_ns) + RACY_NS <= started_ns


def open_regular(path: str, what: str) -> tuple[int, os.stat_result]:
    """A read descriptor of ``path`` and its stat; InvalidName unless it is a regular file.

    Never blocks: a FIFO, a device or a socket put where a file was is refused, not read.
    ``what`` names the file in messages.
    """
    try:
        fd = os.open(path, READ_FLAGS)
    except FileNotFoundError as exc:
        raise NotFound(f"{what} was removed") from exc
    except OSError as exc:
        raise ArtregError(f"cannot read {what}: {exc.strerror or exc}") from exc
    try:
        st = os.fstat(fd)
    except BaseException:
        os.close(fd)
        raise
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise InvalidName(f"{what} is not a regular file (a FIFO, a device or a socket?)")
    return fd, st


def short_read_error(fd: int, what: str, recorded: int, read: int) -> ArtregError:
    """The error for a file whose bytes were not as many as its size said.

    A ``/proc`` or ``/sys`` file reports size 0 however much it holds: no digest of it could
    ever be checked again, so it is refused as not a regular file. Anything else changed
    while it was read.
    """
    if recorded == 0 and read > 0 and os.fstat(fd).st_size == 0:
        return InvalidName(f"{what} is not a regular file: its size is 0 but it reads {read:,} bytes (a /proc or /sys file?)")
    return ArtregError(f"{what} changed while it was being read ({recorded:,} bytes expected, {read:,} read); add it again")


def hash_file(path: str, identity: tuple[int, int, int, int], what: str) -> tuple[str, os.stat_result]:
    """sha256 of a regular file whose (dev, ino, size, mtime_ns) must still be ``identity``.

    Returns the digest and the stat taken just before the bytes were read. Raises NotFound
    when the file is gone and ArtregError when it changed since ``identity`` was taken.
    """
    fd, st = open_regular(path, what)
    try:
        if (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns) != identity:
            raise ArtregError(f"{what} changed after it was added to the draft; add it again")
        hasher = hashlib.sha256()
        read = 0
        while chunk := os.read(fd, CHUNK):
            hasher.update(chunk)
            read += len(chunk)
            if read > st.st_size:
                break
        if read != st.st_size:
            raise short_read_error(fd, what, st.st_size, read)
    finally:
        os.close(fd)
    return hasher.hexdigest(), st
