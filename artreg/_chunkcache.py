"""Re-walked folders: only the chunks whose files changed are stored again (SPEC §22).

A tree from ``add_dir`` is cut into chunks exactly as its manifest will be (where a chunk
ends depends only on the paths, ``_chunks``). Each chunk of files is fingerprinted by its rows
(logical path, dev, ino, size, mtime_ns, ctime_ns) and looked up in ``chunk_cache``: a hit is
the chunk those same files made when they were last logged, taken as it is, with no stat
cache lookup, no read of a file and no new rows. Only the chunks missed go through the stat
cache and ``ingest``, so after the walk's stat calls a tree of N files with k changed costs
O(k) chunks.

As with the stat cache and the tree cache, a cache row may make a log faster, never wrong: a
fingerprint is remembered only when every file in it is settled (its newest timestamp, plus
the filesystem's timestamp granularity and the kernel clock's lag, lies before the moment the
log began reading files), since a file rewritten within one timestamp tick keeps its stat.
The row names the chunk by its key (the hash of its content), so it can never point at other
content, and gc drops the rows of chunks it removes.
"""

from __future__ import annotations

import hashlib
import json
import marshal
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

import apsw

from ._ingest import Ingested, ingest, known_digests
from ._localfiles import RACY_NS, SECOND_NS, settled
from ._progress import ProgressCallback
from ._walk import FileRow, FileRows
from .storage import _chunks as chunks
from .storage._blobs import BlobStore
from .storage._pg_sql import override

FINGERPRINT_HEADER = b"artreg-chunk-files-v1\n"
LOOKUP = """
SELECT j.value, c.id, c.first_path, c.last_path, c.count, c.size FROM json_each(? /* text */) AS j
JOIN chunk_cache AS cc ON cc.fingerprint = unhex(j.value) JOIN chunks AS c ON c.key = cc.chunk_key
"""
REMEMBER = """
INSERT INTO chunk_cache(fingerprint, chunk_key) VALUES (?, ?)
ON CONFLICT(fingerprint) DO UPDATE SET chunk_key = excluded.chunk_key
"""
# A catalog in PostgreSQL is shared by machines, and a fingerprint describes one machine's
# files (device and inode numbers): each machine's are its own (see _pg.machine_salt).
override(LOOKUP, LOOKUP.replace("cc.fingerprint = unhex(j.value)", "cc.fingerprint = sha256(unhex(j.value) || int8send(artreg_machine()))"))
override(REMEMBER, REMEMBER.replace("VALUES (?, ?)", "VALUES (sha256(CAST(? AS bytea) || int8send(artreg_machine())), ?)"))
_PATH = itemgetter(0)


@dataclass
class TreePlan:
    """A walked tree's manifest, with what its transaction must also write."""

    manifest: chunks.Manifest
    stored: Ingested
    remember: list[tuple[bytes, bytes]] = field(default_factory=list)  # (fingerprint, chunk key)

    def write(self, con: apsw.Connection) -> None:
        """The stored blobs, stat cache and chunk cache rows (inside the caller's transaction)."""
        self.stored.write(con)
        con.executemany(REMEMBER, self.remember)


def plan_tree(store: BlobStore, tree: FileRows, started_ns: int, progress: ProgressCallback | None = None) -> TreePlan:
    """The manifest of a walked tree: cached chunks as they are, the rest stored (``ingest``).

    ``started_ns`` is ``time.time_ns()`` from before any file of the tree was read.
    """
    rows = sorted(tree.rows, key=_PATH)
    pieces = chunks.pieces_of(rows)
    prints = [hashlib.sha256(FINGERPRINT_HEADER + marshal.dumps(piece, 2)).digest() for piece in pieces]
    hits = _lookup(store, prints)
    found: list[chunks.ChunkRef | None] = []
    missed: list[FileRow] = []
    for piece, fingerprint in zip(pieces, prints, strict=True):
        hit = hits.get(fingerprint)
        if hit is not None and (hit.count, hit.first_path, hit.last_path) != (len(piece), piece[0][0], piece[-1][0]):
            hit = None  # cannot happen for a sha256 of the paths, but costs nothing to refuse
        found.append(hit)
        if hit is None:
            missed += piece
    stored = Ingested()
    if missed:
        part = tree.subset(missed)
        stored = ingest(store, part, known_digests(store, part), progress)
    assert len(stored.entries) == len(missed)
    out: list[chunks.Piece] = []
    remember: list[tuple[bytes, bytes]] = []
    at = 0
    for piece, fingerprint, hit in zip(pieces, prints, found, strict=True):
        if hit is not None:
            out.append(hit)
            continue
        chunk = chunks.new_chunk(stored.entries[at : at + len(piece)])
        at += len(piece)
        out.append(chunk)
        newest = max(max(row[4], row[5]) for row in piece)
        if newest + 2 * SECOND_NS + RACY_NS <= started_ns or all(settled(row[4], row[5], started_ns) for row in piece):
            remember.append((fingerprint, chunk.key))
    with store.db.read() as con:
        digest = chunks.digest_of(con, out)
    manifest = chunks.Manifest(tuple(out), digest, len(rows), sum(p.size for p in out))
    return TreePlan(manifest, stored, remember)


def _lookup(store: BlobStore, prints: list[bytes]) -> dict[bytes, chunks.ChunkRef]:
    if not prints:
        return {}
    with store.db.read() as con:
        found: list[Any] = con.execute(LOOKUP, (json.dumps([p.hex() for p in prints]),)).fetchall()
    return {bytes.fromhex(row[0]): chunks.ChunkRef(*row[1:]) for row in found}
