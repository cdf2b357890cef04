"""Verifying stored manifests for ``check()`` (SPEC §8, §22): every chunk against its rows, every version against its digest.

SQLite's integrity check sees a damaged page, not a changed value. A chunk is named by the
sha256 of its rows (``_chunks.new_chunk``) and carries a copy of them as the digest's text,
and a version records its digest, entry count and size: so a changed row, a changed text or
a manifest listing the wrong chunk all show here, each as a line of the report.
"""

from __future__ import annotations

import hashlib
import marshal
from collections.abc import Iterator
from typing import Any

import apsw

from ._chunks import KEY_HEADER
from ._manifest import DIGEST_HEADER

CHUNKS = "SELECT id, key, count, size, first_path, last_path, text FROM chunks ORDER BY id"
CHUNK_ROWS = "SELECT chunk_id, path, digest, size, ref, extra FROM chunk_entries ORDER BY chunk_id, path"
# Versions whose manifest is their own (not a link's) and still there: committed ones, and
# deleted ones gc has not collected yet.
VERSIONS = """
SELECT v.id, v.digest, v.size, v.file_count FROM versions AS v
WHERE v.source_id IS NULL AND (v.state = 'committed' OR EXISTS (SELECT 1 FROM manifests AS m WHERE m.version_id = v.id))
ORDER BY v.id
"""
LISTED = """
SELECT m.first_path, c.id, c.first_path, c.last_path, c.count, c.size, c.text
FROM manifests AS m LEFT JOIN chunks AS c ON c.id = m.chunk_id WHERE m.version_id = ? ORDER BY m.first_path
"""


def damaged_manifests(con: apsw.Connection) -> list[str]:
    """What is wrong with the stored chunks and manifests (inside the caller's read transaction), one line each."""
    return list(_chunks(con)) + list(_versions(con))


def _chunks(con: apsw.Connection) -> Iterator[str]:
    """Each chunk whose key, text, count, size or first and last path disagree with its rows."""
    entries = con.cursor().execute(CHUNK_ROWS)
    row: Any = next(entries, None)
    for chunk_id, key, count, size, first, last, text in con.execute(CHUNKS):
        while row is not None and row[0] < chunk_id:
            yield f"chunk_entries: rows of chunk {row[0]}, which does not exist"
            row = _skip(entries, row[0])
        held: list[Any] = []
        while row is not None and row[0] == chunk_id:
            held.append(tuple(row[1:]))
            row = next(entries, None)
        if not held:
            yield f"chunk {chunk_id}: it holds no rows"
            continue
        if hashlib.sha256(KEY_HEADER + marshal.dumps(held, 2)).digest() != key:
            yield f"chunk {chunk_id}: its rows do not match its key (a row was changed, added or removed)"
        expected = "".join([f"{r[0]}:{r[1]}\n" for r in held]).encode("utf-8", "surrogatepass")
        if text != expected:
            yield f"chunk {chunk_id}: its digest text does not match its rows"
        if (count, size, first, last) != (len(held), sum(r[2] for r in held), held[0][0], held[-1][0]):
            yield f"chunk {chunk_id}: its count, size or first and last path do not match its rows"
    while row is not None:
        yield f"chunk_entries: rows of chunk {row[0]}, which does not exist"
        row = _skip(entries, row[0])


def _skip(entries: Iterator[Any], chunk_id: int) -> Any:
    """The first row after those of ``chunk_id``."""
    row = next(entries, None)
    while row is not None and row[0] == chunk_id:
        row = next(entries, None)
    return row


def _versions(con: apsw.Connection) -> Iterator[str]:
    """Each version whose chunks are missing, out of order, or do not add up to its digest, count and size."""
    listed = con.cursor()
    for version_id, digest, size, file_count in con.execute(VERSIONS).fetchall():
        hasher = hashlib.sha256(DIGEST_HEADER)
        count = total = 0
        last: str | None = None
        problems: list[str] = []
        for key_path, chunk_id, first, end, n, bytes_, text in listed.execute(LISTED, (version_id,)):
            if chunk_id is None:
                problems.append(f"lists a chunk that does not exist (at {key_path!r})")
                continue
            if key_path != first or (last is not None and first <= last):
                problems.append(f"lists chunk {chunk_id} out of path order")
            last = end
            count += n
            total += bytes_
            hasher.update(text)
        if not problems and file_count and last is None:
            problems.append("has no manifest")
        elif not problems and (count, total) != (file_count, size):
            problems.append(f"lists {count} entries of {total} bytes, not {file_count} of {size}")
        elif not problems and hasher.hexdigest() != digest:
            problems.append("has a manifest that does not hash to its digest")
        for problem in problems:
            yield f"version {version_id}: {problem}"
