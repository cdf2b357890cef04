"""The tar framing of bundles: regular-file members written and read as one stream.

A bundle is a plain tar file, so ``tar tf`` lists it and ``tar xf`` unpacks it, but it is
written and read here rather than with :mod:`tarfile`: its stream mode copies each member
through a 10 KiB buffer and took 3.4 s to read a 1 GiB member that plain reads get through
in 0.18 s, and building or parsing one header costs 30-40 us there against about 3 us
here, which alone would be most of the time of a bundle of 10,000 small files (measured on
this project's test machine). Only what bundles need is supported: regular files with
names of at most 100 bytes, in GNU format (the ``ustar  `` magic, so that sizes of 8 GiB
and more use GNU's base-256 size field, which GNU tar, bsdtar and :mod:`tarfile` all read).
Anything else in an archive is refused with :class:`IntegrityError`.
"""

from __future__ import annotations

import io
import os
from typing import BinaryIO

from ._errors import ArtregError, IntegrityError

BLOCK = 512
OUT_BUFFER = 1 << 20
_ZERO_BLOCK = bytes(BLOCK)
_MAX_OCTAL_SIZE = 8**11 - 1  # eleven octal digits
# Every field but name, size, mtime and checksum is the same in every member.
_TEMPLATE = bytearray(BLOCK)
_TEMPLATE[100:108] = b"0000444\x00"  # mode: read-only, as blob files are
_TEMPLATE[108:116] = b"0000000\x00"  # uid
_TEMPLATE[116:124] = b"0000000\x00"  # gid
_TEMPLATE[156:157] = b"0"  # typeflag: regular file
_TEMPLATE[257:265] = b"ustar  \x00"  # GNU magic and version
_TEMPLATE[265:271] = b"artreg"  # uname
_TEMPLATE[297:303] = b"artreg"  # gname
_TEMPLATE[148:156] = b"        "  # the checksum is summed as if its own field were spaces
_TEMPLATE_SUM = sum(_TEMPLATE)
_MODES = bytes(_TEMPLATE[100:124])  # between the name and the size
_TAIL = bytes(_TEMPLATE[156:])  # after the checksum
_PADDING = [bytes(-n % BLOCK) for n in range(BLOCK)]


def header(name: str, size: int, mtime: int) -> bytes:
    """The 512-byte header of a regular-file member."""
    encoded = name.encode()
    if not 0 < len(encoded) <= 100:
        raise ValueError(f"tar member names here are 1-100 bytes: {name!r}")
    # GNU base-256 for sizes past eleven octal digits: a leading 0x80, then the size big-endian.
    size_field = b"%011o\x00" % size if size <= _MAX_OCTAL_SIZE else b"\x80" + size.to_bytes(11, "big")
    mtime_field = b"%011o\x00" % (mtime & _MAX_OCTAL_SIZE)
    # Only name, size and mtime differ from the template (where they are zero), so their sums
    # complete the template's: summing all 512 bytes would cost most of the header's time.
    checksum = b"%06o\x00 " % (_TEMPLATE_SUM + sum(encoded) + sum(size_field) + sum(mtime_field))
    return b"".join((encoded, _PADDING[len(encoded) % BLOCK][: 100 - len(encoded)], _MODES, size_field, mtime_field, checksum, _TAIL))


def padding(size: int) -> int:
    """Zero bytes after a member of ``size`` bytes, up to the next block."""
    return -size % BLOCK


def parse_header(block: bytes, offset: int) -> tuple[str, int] | None:
    """(name, size) of a member header, or None for an end-of-archive (all-zero) block.

    ``offset`` is where the block starts in the stream, for error messages.
    """
    if block == _ZERO_BLOCK:
        return None
    stored = block[148:156].split(b"\x00", 1)[0].strip()
    try:
        checksum = int(stored, 8)
    except ValueError:
        checksum = -1
    unsigned = sum(block) - sum(block[148:156]) + 8 * 0x20
    if checksum != unsigned and checksum != unsigned - 256 * _high_bytes(block):
        raise IntegrityError(f"bundle is damaged: the tar header at byte {offset:,} fails its checksum")
    if block[156:157] not in (b"0", b"\x00"):
        raise IntegrityError(f"bundle holds a tar member at byte {offset:,} that is not a regular file (type {block[156:157]!r})")
    raw_name = block[0:100].split(b"\x00", 1)[0]
    prefix = block[345:500].split(b"\x00", 1)[0] if block[257:263] == b"ustar\x00" else b""
    try:
        name = (prefix + b"/" + raw_name if prefix else raw_name).decode()
    except UnicodeDecodeError as exc:
        raise IntegrityError(f"bundle holds a tar member at byte {offset:,} whose name is not UTF-8") from exc
    field = block[124:136]
    if field[0] & 0x80:
        size = int.from_bytes(field[1:], "big")
    else:
        try:
            size = int(field.split(b"\x00", 1)[0].strip() or b"0", 8)
        except ValueError as exc:
            raise IntegrityError(f"bundle is damaged: the tar header at byte {offset:,} has no valid size") from exc
    return name, size


def _high_bytes(block: bytes) -> int:
    """Bytes >= 0x80 outside the checksum field: some old writers summed bytes as signed chars, which tar accepts."""
    return sum(1 for b in block[:148] + block[156:] if b & 0x80)


class TarWriter:
    """Appends regular-file members to a binary stream, in 1 MiB writes.

    Small members collect in a buffer; a large one is passed through with ``stream``.
    ``close`` writes the end-of-archive blocks (it does not close the stream).
    """

    def __init__(self, out: BinaryIO, mtime: int) -> None:
        self._out = out
        self._fd = _fileno(out)
        self._mtime = mtime
        self._buffer = bytearray()
        self.written = 0

    def add(self, name: str, data: bytes | memoryview) -> None:
        """One member holding ``data``."""
        buffer = self._buffer
        buffer += header(name, len(data), self._mtime)
        buffer += data
        buffer += _PADDING[len(data) % BLOCK]
        if len(buffer) >= OUT_BUFFER:
            self.flush()

    def begin(self, name: str, size: int) -> None:
        """Start a member of ``size`` bytes; its data follows through ``write`` calls, then ``end``."""
        self._buffer += header(name, size, self._mtime)
        self.flush()

    def write(self, data: memoryview | bytes) -> None:
        """Data of the member begun last, written straight through."""
        self._emit(data)

    def end(self, size: int) -> None:
        """Finish the member begun last (which held ``size`` bytes)."""
        self._buffer += _ZERO_BLOCK[: padding(size)]

    def close(self) -> None:
        """Write the end-of-archive marker and everything buffered."""
        self._buffer += _ZERO_BLOCK * 2
        self.flush()
        if self._fd is None:
            try:
                self._out.flush()
            except OSError as exc:
                raise ArtregError(f"cannot write the bundle: {exc.strerror or exc}") from exc

    def flush(self) -> None:
        if self._buffer:
            data, self._buffer = self._buffer, bytearray()
            self._emit(memoryview(data))

    def _emit(self, data: memoryview | bytes) -> None:
        self.written += len(data)
        try:
            if self._fd is None:
                self._out.write(data)
                return
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view):]
        except OSError as exc:
            raise ArtregError(f"cannot write the bundle (after {self.written - len(data):,} bytes): {exc.strerror or exc}") from exc


def _fileno(out: BinaryIO) -> int | None:
    """The descriptor to write to directly (after flushing what the object holds), if it has one."""
    try:
        fd = out.fileno()
    except (AttributeError, OSError, io.UnsupportedOperation):
        return None
    out.flush()
    return fd


class TarReader:
    """Reads the members of a tar stream in order, without seeking.

    ``next()`` gives the next member's (name, size), or None at the end-of-archive marker;
    its data is then read with ``read_small`` or ``member`` (what is left unread is skipped
    by the following ``next()``). A stream that ends early raises IntegrityError.
    """

    def __init__(self, src: BinaryIO) -> None:
        self._src = src
        self.offset = 0  # bytes consumed
        self._left = 0  # unread data of the current member
        self._pad = 0

    def next(self) -> tuple[str, int] | None:
        self._skip(self._left + self._pad)
        block = self._exact(BLOCK, "a tar header")
        found = parse_header(block, self.offset - BLOCK)
        if found is None:
            self._left = self._pad = 0
            return None
        self._left, self._pad = found[1], padding(found[1])
        return found

    def read_small(self) -> bytes:
        """All the data of the current member (for members known to be small)."""
        data = self._exact(self._left, "a member's data")
        self._left = 0
        return data

    def member(self) -> BinaryIO:
        """A reader of the current member's data that ends where the member does."""
        return _MemberReader(self)  # type: ignore[return-value]

    def rest_is_zero(self) -> bool:
        """After the end-of-archive marker: True when nothing but zero bytes follows."""
        while chunk := self._read(OUT_BUFFER):
            self.offset += len(chunk)
            if chunk.count(0) != len(chunk):
                return False
        return True

    def _readinto(self, view: memoryview) -> int:
        want = min(len(view), self._left)
        if not want:
            return 0
        try:
            n = self._src.readinto(view[:want])  # type: ignore[attr-defined]
        except OSError as exc:
            raise self._failed(exc) from exc
        if not n:
            raise self._truncated("a member's data")
        self._left -= n
        self.offset += n
        return int(n)

    def _read(self, size: int) -> bytes:
        try:
            return self._src.read(size)
        except OSError as exc:
            raise self._failed(exc) from exc

    def _exact(self, size: int, what: str) -> bytes:
        data = self._read(size)
        while len(data) < size:  # a raw stream (a pipe, a socket) may return less than asked
            more = self._read(size - len(data))
            if not more:
                self.offset += len(data)
                raise self._truncated(what)
            data += more
        self.offset += size
        return data

    def _skip(self, size: int) -> None:
        while size:
            chunk = self._read(min(size, OUT_BUFFER))
            if not chunk:
                raise self._truncated("a member's data")
            size -= len(chunk)
            self.offset += len(chunk)

    def _failed(self, exc: OSError) -> ArtregError:
        return ArtregError(f"cannot read the bundle (at byte {self.offset:,}): {exc.strerror or exc}")

    def _truncated(self, what: str) -> IntegrityError:
        return IntegrityError(f"bundle is truncated: it ends at byte {self.offset:,}, inside {what}")


class _MemberReader(io.RawIOBase):
    """The current member's data as a raw stream (see ``TarReader.member``)."""

    def __init__(self, reader: TarReader) -> None:
        self._reader = reader

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        return self._reader._readinto(memoryview(buffer).cast("B"))

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes (all when negative), fewer only at the member's end: never a short read."""
        reader = self._reader
        want = reader._left if size < 0 else min(size, reader._left)
        data = reader._exact(want, "a member's data")
        reader._left -= want
        return data
