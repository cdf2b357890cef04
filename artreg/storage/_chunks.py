"""Manifests stored as shared chunks (SPEC §22): a new version costs what it changes.

A version's manifest, in path order, is cut into runs of consecutive entries (chunks). A cut
falls after every entry whose path hashes to a boundary (one path in ``MEAN`` on average),
and after ``MAX`` entries without one. Where a chunk ends depends only on the paths in it, so
adding, changing or removing an entry rewrites its own chunk (and a neighbour when a boundary
path comes or goes), never the rest.

A chunk is stored once, named by the sha256 of its rows (``key``): its entry rows, their
count and total size, its first and last path, and its part of the version digest's text
(``path:digest\\n`` per entry) ready to hash. A version is the list of its chunks in path
order (``manifests``: one row per chunk, keyed by the chunk's first path). So:

- a version based on another writes only the chunks its edits touch (``from_base``), and its
  digest is one pass of sha256 over stored texts (``digest_of``);
- ``entry`` is one indexed lookup (the chunk with the greatest first path not above the
  path, then the row), and a folder is one range of chunks, each one range of rows;
- two versions share every chunk they hold alike: a diff skips those, gc marks each once.

Cutting is deterministic: editing a manifest chunk by chunk gives the chunks that cutting the
result afresh gives (tests/test_chunks.py checks it). Correctness never depends on where the
cuts fall; only sharing does.
"""

from __future__ import annotations

import hashlib
import json
import marshal
import zlib
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import TYPE_CHECKING, Any, TypeVar

import apsw

from .._errors import NotFound
from ._manifest import DIGEST_HEADER, EntryRow, folder_range

if TYPE_CHECKING:
    from ._db import Database

# A path ends a chunk when the low bits of its CRC-32 are zero: one path in MEAN (a power of
# two). Chunk sizes are then geometric around MEAN; MAX bounds the rare long run.
MEAN = 512
MAX = 4096
KEY_HEADER = b"artreg-chunk-v1\n"

INSERT_CHUNK = """
INSERT INTO chunks(key, count, size, first_path, last_path, text) VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT(key) DO NOTHING RETURNING id
"""
SELECT_CHUNK = "SELECT id FROM chunks WHERE key = ?"
CHUNK_EXISTS = "SELECT 1 FROM chunks WHERE id = ?"
INSERT_ENTRY = "INSERT INTO chunk_entries(chunk_id, path, digest, size, ref, extra) VALUES (?, ?, ?, ?, ?, ?)"
INSERT_PIECE = "INSERT INTO manifests(version_id, first_path, chunk_id) VALUES (?, ?, ?)"
SELECT_TEXT = "SELECT text FROM chunks WHERE id = ?"
SELECT_DIGEST = "SELECT digest FROM versions WHERE id = ?"
# The chunks of a version that may hold paths in [low, high): from the one holding ``low``.
_START = "coalesce((SELECT max(first_path) FROM manifests WHERE version_id = :v AND first_path <= :low), '')"
REFS = f"""
SELECT c.id, c.first_path, c.last_path, c.count, c.size FROM manifests AS m JOIN chunks AS c ON c.id = m.chunk_id
WHERE m.version_id = :v AND m.first_path >= {_START} ORDER BY m.first_path
"""
REFS_BELOW = f"""
SELECT c.id, c.first_path, c.last_path, c.count, c.size FROM manifests AS m JOIN chunks AS c ON c.id = m.chunk_id
WHERE m.version_id = :v AND m.first_path >= {_START} AND m.first_path < :high ORDER BY m.first_path
"""
ROWS = "SELECT path, digest, size, ref, extra FROM chunk_entries WHERE chunk_id = ? AND path >= ? ORDER BY path"
ROWS_BELOW = "SELECT path, digest, size, ref, extra FROM chunk_entries WHERE chunk_id = ? AND path >= ? AND path < ? ORDER BY path"
COUNT = "SELECT count(*) FROM chunk_entries WHERE chunk_id = ? AND path >= ?"
COUNT_BELOW = "SELECT count(*) FROM chunk_entries WHERE chunk_id = ? AND path >= ? AND path < ?"
ENTRY = """
SELECT path, digest, size, ref, extra FROM chunk_entries
WHERE chunk_id = (SELECT chunk_id FROM manifests WHERE version_id = ?1 AND first_path <= ?2 ORDER BY first_path DESC LIMIT 1)
  AND path = ?2
"""
# Every row of a version in [low, high) in path order, in one statement: the chunks in
# first-path order, each chunk's rows in path order (no sorting: both are key order).
SCAN = f"""
SELECT e.path, e.digest, e.size, e.ref, e.extra FROM manifests AS m JOIN chunk_entries AS e ON e.chunk_id = m.chunk_id
WHERE m.version_id = :v AND m.first_path >= {_START} AND e.path >= :low ORDER BY m.first_path, e.path
"""
SCAN_BELOW = f"""
SELECT e.path, e.digest, e.size, e.ref, e.extra FROM manifests AS m JOIN chunk_entries AS e ON e.chunk_id = m.chunk_id
WHERE m.version_id = :v AND m.first_path >= {_START} AND m.first_path < :high AND e.path >= :low AND e.path < :high
ORDER BY m.first_path, e.path
"""
# The first path at or after ?2: in the chunk that would hold it, else the next chunk's first.
FIRST_FROM = """
SELECT min(p) FROM (
    SELECT (SELECT min(path) FROM chunk_entries WHERE path >= ?2 AND chunk_id =
            (SELECT chunk_id FROM manifests WHERE version_id = ?1 AND first_path <= ?2 ORDER BY first_path DESC LIMIT 1)) AS p
    UNION ALL
    SELECT min(first_path) FROM manifests WHERE version_id = ?1 AND first_path >= ?2
)
"""
_Row = TypeVar("_Row", bound=Sequence[Any])
_PATH = itemgetter(0)
# A diff's rows: of one chunk (or set of chunks) those another does not hold exactly.
ONLY_IN_CHUNK = """
SELECT path, digest, size, ref, extra FROM chunk_entries WHERE chunk_id = ?1
EXCEPT SELECT path, digest, size, ref, extra FROM chunk_entries WHERE chunk_id = ?2
ORDER BY path
"""
ONLY_IN_CHUNKS = """
SELECT path, digest, size, ref, extra FROM chunk_entries WHERE chunk_id IN (SELECT value FROM json_each(?1))
EXCEPT SELECT path, digest, size, ref, extra FROM chunk_entries WHERE chunk_id IN (SELECT value FROM json_each(?2))
ORDER BY path
"""
HAS_MANIFEST = "SELECT EXISTS (SELECT 1 FROM manifests WHERE version_id = ?)"


@dataclass(slots=True)  # not frozen: a frozen dataclass is five times slower to make, and manifests list thousands
class ChunkRef:
    """A stored chunk, as a version's manifest lists it (treat as read-only)."""

    id: int
    first_path: str
    last_path: str
    count: int
    size: int


@dataclass(frozen=True, slots=True)
class NewChunk:
    """A chunk not written yet (it may exist already: writing it then shares the stored one)."""

    key: bytes
    rows: list[EntryRow]
    text: bytes
    size: int

    @property
    def first_path(self) -> str:
        return self.rows[0][0]

    @property
    def last_path(self) -> str:
        return self.rows[-1][0]

    @property
    def count(self) -> int:
        return len(self.rows)


Piece = ChunkRef | NewChunk


@dataclass(frozen=True)
class Manifest:
    """A version's manifest ready to write: its chunks in path order, digest, entry count and size."""

    pieces: tuple[Piece, ...]
    digest: str
    count: int
    size: int

    @property
    def new_chunks(self) -> list[NewChunk]:
        return [p for p in self.pieces if isinstance(p, NewChunk)]


# -- cutting -------------------------------------------------------------------------------


def ends(rows: Sequence[Sequence[Any]]) -> list[int]:
    """Where the chunks of ``rows`` (in path order, the path first in each) end: after each cut.

    Rows after the last offset returned are an open chunk, closed by the next boundary or by
    the end of the manifest. (``write_sorted`` applies the same rule a row at a time.)
    """
    paths = list(map(_PATH, rows))
    try:
        crcs = list(map(zlib.crc32, map(str.encode, paths)))  # C all the way: this runs over every path of a walk
    except UnicodeEncodeError:  # a lone surrogate (an undecodable file name)
        crcs = [zlib.crc32(path.encode("utf-8", "surrogatepass")) for path in paths]
    mask, most = MEAN - 1, MAX
    out: list[int] = []
    start = 0
    for cut in [i for i, crc in enumerate(crcs, 1) if not crc & mask]:
        while cut - start > most:
            start += most
            out.append(start)
        out.append(cut)
        start = cut
    while len(rows) - start >= most:
        start += most
        out.append(start)
    return out


def pieces_of(rows: list[_Row]) -> list[list[_Row]]:
    """``rows`` cut into chunks, the last one closed by the end."""
    out: list[list[_Row]] = []
    start = 0
    for end in ends(rows):
        out.append(rows[start:end])
        start = end
    if start < len(rows):
        out.append(rows[start:])
    return out


def new_chunk(rows: Sequence[EntryRow]) -> NewChunk:
    """A chunk of rows (tuples, in path order); its key is the sha256 of all their fields.

    marshal format 2 round-trips and writes every string the same way (no back-references),
    so different rows never share a key.
    """
    listed = list(rows)
    key = hashlib.sha256(KEY_HEADER + marshal.dumps(listed, 2)).digest()
    text = "".join([f"{row[0]}:{row[1]}\n" for row in listed]).encode("utf-8", "surrogatepass")
    return NewChunk(key, listed, text, sum(row[2] for row in listed))


def from_rows(rows: list[EntryRow]) -> Manifest:
    """The manifest of rows in path order, cut afresh (chunks stored already are shared when written)."""
    chunks = [new_chunk(piece) for piece in pieces_of(rows)]
    hasher = hashlib.sha256(DIGEST_HEADER)
    for chunk in chunks:
        hasher.update(chunk.text)
    return Manifest(tuple(chunks), hasher.hexdigest(), len(rows), sum(c.size for c in chunks))


def from_base(
    con: apsw.Connection, base_id: int, changes: Sequence[tuple[str, EntryRow | None]], removed: Sequence[str] = ()
) -> Manifest:
    """The manifest of version ``base_id`` edited: only the chunks the edits touch are new.

    ``changes`` are (path, row) in path order, one per path: a row adds or replaces the
    base's entry, None removes it. ``removed`` are folders whose base entries go (rows in
    ``changes`` under them stay). The result is what cutting the edited manifest afresh gives.
    """
    refs = chunk_refs(con, base_id)
    if not changes and not removed:
        (digest,) = con.execute(SELECT_DIGEST, (base_id,)).fetchone()  # type: ignore[misc]
        return Manifest(tuple(refs), digest, sum(r.count for r in refs), sum(r.size for r in refs))
    ranges = _merged([folder_range(folder) for folder in removed])
    firsts = [ref.first_path for ref in refs]
    by_chunk: dict[int, list[tuple[str, EntryRow | None]]] = {}
    for change in changes:
        by_chunk.setdefault(max(bisect_right(firsts, change[0]) - 1, 0), []).append(change)
    dropped: set[int] = set()  # wholly under a removed folder
    partly: set[int] = set()
    for low, high in ranges:
        i = max(bisect_right(firsts, low) - 1, 0)
        while i < len(refs) and refs[i].first_path < high:
            ref = refs[i]
            if ref.first_path >= low and ref.last_path < high:
                dropped.add(i)
            elif ref.last_path >= low:
                partly.add(i)
            i += 1
    pieces: list[Piece] = []
    pending: list[EntryRow] = []  # rows after the last cut, waiting for the next one
    for i, ref in enumerate(refs):
        edits = by_chunk.get(i)
        if not edits and i in dropped:
            continue
        if not edits and not pending and i not in partly:
            pieces.append(ref)
            continue
        base = [] if i in dropped else rows(con, ref.id)
        pending += _apply(base, edits or [], ranges)
        start = 0
        for end in ends(pending):
            pieces.append(new_chunk(pending[start:end]))
            start = end
        pending = pending[start:]
    if not refs:
        pending = [row for _, row in changes if row is not None]
        pieces += [new_chunk(piece) for piece in pieces_of(pending)]
    elif pending:
        pieces.append(new_chunk(pending))
    return Manifest(tuple(pieces), digest_of(con, pieces), sum(p.count for p in pieces), sum(p.size for p in pieces))


def _apply(base: list[EntryRow], changes: list[tuple[str, EntryRow | None]], ranges: list[tuple[str, str]]) -> list[EntryRow]:
    """Base rows (path order) with changes merged in and rows under removed folders left out."""
    out: list[EntryRow] = []
    lows = [low for low, _ in ranges]
    j, n = 0, len(changes)
    for row in base:
        path = row[0]
        while j < n and changes[j][0] < path:
            if changes[j][1] is not None:
                out.append(changes[j][1])  # type: ignore[arg-type]
            j += 1
        if j < n and changes[j][0] == path:
            if changes[j][1] is not None:
                out.append(changes[j][1])  # type: ignore[arg-type]
            j += 1
            continue
        if ranges:
            k = bisect_right(lows, path) - 1
            if k >= 0 and path < ranges[k][1]:
                continue
        out.append(row)
    out += [row for _, row in changes[j:] if row is not None]
    return out


def _merged(ranges: list[tuple[str, str | None]]) -> list[tuple[str, str]]:
    """Path ranges sorted and merged, so each path falls in at most one."""
    out: list[tuple[str, str]] = []
    for low, high in sorted((low, high) for low, high in ranges if high is not None):
        if out and low <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], high))
        else:
            out.append((low, high))
    return out


def digest_of(con: apsw.Connection, pieces: Iterable[Piece]) -> str:
    """The version digest of SPEC §2 of a manifest: sha256 over the header and every chunk's text.

    (Hashing on a second thread while this one reads was measured here and dropped: with
    the other core busy, as on this shared machine, it took 0.46 s against 0.36 s for
    1,000,000 entries.)
    """
    hasher = hashlib.sha256(DIGEST_HEADER)
    for piece in pieces:
        hasher.update(_text(con, piece))
    return hasher.hexdigest()


def _text(con: apsw.Connection, piece: Piece) -> bytes:
    if isinstance(piece, NewChunk):
        return piece.text
    text: bytes = con.execute(SELECT_TEXT, (piece.id,)).fetchone()[0]  # type: ignore[index]
    return text


# -- writing -------------------------------------------------------------------------------


def write(con: apsw.Connection, version_id: int, manifest: Manifest) -> list[int]:
    """Store a version's manifest (inside the caller's transaction); returns its chunk ids in order."""
    ids = [piece.id if isinstance(piece, ChunkRef) else store(con, piece) for piece in manifest.pieces]
    con.executemany(INSERT_PIECE, ((version_id, piece.first_path, i) for piece, i in zip(manifest.pieces, ids, strict=True)))
    return ids


def store(con: apsw.Connection, chunk: NewChunk) -> int:
    """The id of a chunk: the stored one with its key, else a new one with its rows."""
    row = con.execute(INSERT_CHUNK, (chunk.key, chunk.count, chunk.size, chunk.first_path, chunk.last_path, chunk.text)).fetchone()
    if row is None:
        return int(con.execute(SELECT_CHUNK, (chunk.key,)).fetchone()[0])  # type: ignore[index]
    chunk_id = int(row[0])
    con.executemany(INSERT_ENTRY, ((chunk_id, *entry) for entry in chunk.rows))
    return chunk_id


def write_sorted(con: apsw.Connection, version_id: int, rows: Iterable[EntryRow]) -> tuple[str, int, int]:
    """Store the manifest of rows streamed in path order, a chunk at a time; returns (digest, count, size).

    For rows too many to hold at once (the migration of a large registry).
    """
    hasher = hashlib.sha256(DIGEST_HEADER)
    count = size = 0
    piece: list[EntryRow] = []
    mask, most, crc = MEAN - 1, MAX, zlib.crc32

    def flush() -> None:
        chunk = new_chunk(piece)
        hasher.update(chunk.text)
        con.execute(INSERT_PIECE, (version_id, chunk.first_path, store(con, chunk)))
        piece.clear()

    for row in rows:
        piece.append(row)
        count += 1
        size += row[2]
        if not crc(row[0].encode("utf-8", "surrogatepass")) & mask or len(piece) >= most:
            flush()
    if piece:
        flush()
    return hasher.hexdigest(), count, size


# -- reading -------------------------------------------------------------------------------


def chunk_refs(con: apsw.Connection, version_id: int, low: str = "", high: str | None = None) -> list[ChunkRef]:
    """The chunks of a version holding paths in [low, high) (all of them by default), in path order."""
    args = {"v": version_id, "low": low, "high": high}
    found = [ChunkRef(*row) for row in con.execute(REFS if high is None else REFS_BELOW, args)]
    if found and found[0].last_path < low:
        del found[0]  # the chunk before the range, which the query starts from
    return found


def rows(con: apsw.Connection, chunk_id: int, low: str = "", high: str | None = None) -> list[EntryRow]:
    """A chunk's rows in [low, high), in path order."""
    cursor = con.execute(ROWS, (chunk_id, low)) if high is None else con.execute(ROWS_BELOW, (chunk_id, low, high))
    return cursor.fetchall()  # type: ignore[return-value]


def entry(con: apsw.Connection, version_id: int, path: str) -> EntryRow | None:
    """The row at ``path`` of a version, if it has one (one indexed lookup)."""
    return con.execute(ENTRY, (version_id, path)).fetchone()


def first_from(con: apsw.Connection, version_id: int, low: str) -> str | None:
    """The first path of a version at or after ``low`` (three index seeks)."""
    row = con.execute(FIRST_FROM, (version_id, low)).fetchone()
    return None if row is None or row[0] is None else str(row[0])


def scan(con: apsw.Connection, version_id: int, low: str = "", high: str | None = None) -> Iterator[EntryRow]:
    """Every row of a version in [low, high) in path order, from one statement."""
    args = {"v": version_id, "low": low, "high": high}
    return con.execute(SCAN if high is None else SCAN_BELOW, args)


def differing(con: apsw.Connection, old_id: int, new_id: int) -> Iterator[tuple[EntryRow | None, EntryRow | None]]:
    """The rows two versions hold differently, paired by path in path order: (old, new), None where absent.

    Chunks both manifests list are skipped unread. The others are grouped into regions of
    overlapping path ranges (a path both hold differently lies in one region), and SQLite
    compares each region's two sides (``EXCEPT`` each way, a merge of two ordered key ranges
    when each side is one chunk), so only rows that differ reach Python.
    """
    old, new = chunk_refs(con, old_id), chunk_refs(con, new_id)
    shared = {ref.id for ref in old} & {ref.id for ref in new}
    for left, right in _regions([r for r in old if r.id not in shared], [r for r in new if r.id not in shared]):
        gone = _only_in(con, left, right)
        came = _only_in(con, right, left)
        yield from _pair(iter(gone), iter(came), same=False)


def _regions(old: list[ChunkRef], new: list[ChunkRef]) -> Iterator[tuple[list[ChunkRef], list[ChunkRef]]]:
    """The two sides' chunks (each side in path order, no overlaps within it) grouped into runs whose path ranges overlap."""
    i = j = 0
    while i < len(old) or j < len(new):
        left: list[ChunkRef] = []
        right: list[ChunkRef] = []
        high = min(old[i].first_path if i < len(old) else "\U0010ffff", new[j].first_path if j < len(new) else "\U0010ffff")
        while True:
            if i < len(old) and old[i].first_path <= high:
                high = max(high, old[i].last_path)
                left.append(old[i])
                i += 1
            elif j < len(new) and new[j].first_path <= high:
                high = max(high, new[j].last_path)
                right.append(new[j])
                j += 1
            else:
                break
        yield left, right


def _only_in(con: apsw.Connection, side: list[ChunkRef], other: list[ChunkRef]) -> list[EntryRow]:
    """Rows of ``side``'s chunks that ``other``'s chunks do not hold exactly, in path order."""
    if not side:
        return []
    if not other:
        return [row for ref in side for row in rows(con, ref.id)]
    if len(side) == 1 and len(other) == 1:
        found: list[Any] = con.execute(ONLY_IN_CHUNK, (side[0].id, other[0].id)).fetchall()
    else:
        found = con.execute(ONLY_IN_CHUNKS, (json.dumps([ref.id for ref in side]), json.dumps([ref.id for ref in other]))).fetchall()
    return found


def alike(con: apsw.Connection, old_id: int, new_id: int) -> Iterator[EntryRow]:
    """The rows two versions hold exactly alike, in path order."""
    for a, _ in _pair(scan(con, old_id), scan(con, new_id), same=True):
        assert a is not None
        yield a


def _rows_of(con: apsw.Connection, refs: list[ChunkRef]) -> Iterator[EntryRow]:
    for ref in refs:
        yield from rows(con, ref.id)


def _pair(left: Iterator[EntryRow], right: Iterator[EntryRow], *, same: bool) -> Iterator[tuple[EntryRow | None, EntryRow | None]]:
    """Merge two path-ordered streams: pairs of equal rows (``same``), else every other pairing by path."""
    a, b = next(left, None), next(right, None)
    while a is not None or b is not None:
        if b is None or (a is not None and a[0] < b[0]):
            if not same:
                yield a, None
            a = next(left, None)
        elif a is None or b[0] < a[0]:
            if not same:
                yield None, b
            b = next(right, None)
        else:
            if (a == b) is same:
                yield a, b
            a, b = next(left, None), next(right, None)


def count(con: apsw.Connection, version_id: int, low: str = "", high: str | None = None) -> int:
    """How many rows of a version lie in [low, high): chunk counts, and a count of the chunks at the edges."""
    total = 0
    for ref in chunk_refs(con, version_id, low, high):
        if ref.first_path >= low and (high is None or ref.last_path < high):
            total += ref.count
        else:
            cursor = con.execute(COUNT, (ref.id, low)) if high is None else con.execute(COUNT_BELOW, (ref.id, low, high))
            total += int(cursor.fetchone()[0])  # type: ignore[index]
    return total


def has_manifest(con: apsw.Connection, version_id: int) -> bool:
    return bool(con.execute(HAS_MANIFEST, (version_id,)).fetchone()[0])  # type: ignore[index]


def stream(db: Database, version_id: int, low: str = "", high: str | None = None, *, offset: int = 0,
           limit: int | None = None) -> Iterator[EntryRow]:
    """The rows of a version in [low, high) in path order, after ``offset``, at most ``limit``.

    A chunk at a time, each read in a short read transaction of its own (a version's chunks
    never change while it is live), so no snapshot is held while the caller's loop runs and
    memory stays at one chunk. Whole chunks before ``offset`` are skipped by their counts.
    """
    with db.read() as con:
        refs = chunk_refs(con, version_id, low, high)
    left = limit
    for ref in refs:
        if left is not None and left <= 0:
            return
        whole = ref.first_path >= low and (high is None or ref.last_path < high)
        if whole and offset >= ref.count:
            offset -= ref.count
            continue
        with db.read() as con:
            got = rows(con, ref.id, low, high)
            if (len(got) != ref.count if whole else not got and not con.execute(CHUNK_EXISTS, (ref.id,)).fetchone()):
                # Only a deleted version's chunks can go, when gc collects them.
                raise NotFound(f"the manifest of version {version_id} was collected by gc while it was being read")
        if offset:
            skipped = min(offset, len(got))
            got, offset = got[skipped:], offset - skipped
        if left is not None:
            got, left = got[:left], left - len(got[:left])
        yield from got
