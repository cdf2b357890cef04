"""How fast ``v.diff(other)`` compares two versions of 1,000,000 entries each.

    python benchmarks/bench_diff.py            # two manifests of 1,000,000 entries
    python benchmarks/bench_diff.py --quick    # 200,000 entries

Versions are written straight into a registry file through the chunk store (as
``log_artifact`` writes manifests): v1 with 1,000 entries changed, 1,000 removed and 1,000
added, spread over the whole manifest (so nearly every chunk differs: the worst case), and
v2, a draft of v0 with three entries changed (the common case: all but three chunks shared).
Rows, medians of five runs: ``v0.diff(v1)``, and for comparison the floors measured in the
same run: iterating both manifests from Python (every row in path order, what any diff
written in Python must at least do) and SQLite alone scanning both (``count`` and the length
of every path and digest, no row reaching Python); then ``v0.diff(v2)``. Targets: the diff
under 1 s and no slower than iterating the two manifests; a diff of shared manifests < 100 ms.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
from collections.abc import Iterator

import _bench

import artreg
from artreg.storage import _chunks as chunks
from artreg.storage._manifest import EntryRow

STAMP = "2026-01-01T00:00:00.000000Z"
INSERT_VERSION = (
    "INSERT INTO versions(collection_id, idx, digest, size, file_count, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?, 't') RETURNING id"
)


def build(folder: str, count: int) -> tuple[artreg.ArtifactVersion, artreg.ArtifactVersion, artreg.ArtifactVersion]:
    """v0; v1 with 1,000 entries changed, removed and added all over; v2, v0 with three entries changed."""
    reg = artreg.open(folder)
    first = reg.log_artifact(artreg.Artifact("big", type="dataset"), project="p")
    step = count // 1000

    def rows(version: int) -> Iterator[EntryRow]:
        for i in range(count):
            path = f"shard{i // 1000:04d}/item{i:07d}.bin"
            if version == 1 and i % step == 1:
                continue  # removed
            content = i + 10_000_000 if version == 1 and i % step == 2 else i  # changed
            yield path, hashlib.sha256(b"%d" % content).hexdigest(), 100 + content % 5000, None, "{}"
            if version == 1 and i % step == 3:
                yield path + ".new", hashlib.sha256(b"new %d" % i).hexdigest(), 7, None, "{}"  # added

    with reg._db.write() as con:
        ids = [first.id]
        for index in (1, 2):
            ids.append(con.execute(INSERT_VERSION, (first._collection_id, index, "x", 0, 0, STAMP)).fetchone()[0])  # type: ignore[index]
        con.execute("UPDATE collections SET next_index = 3 WHERE id = ?", (first._collection_id,))
        # v0 and v1 written whole, as log_artifact writes a manifest logged afresh (in chunks).
        for index in (0, 1):
            digest, files, size = chunks.write_sorted(con, ids[index], rows(index))
            con.execute("UPDATE versions SET digest = ?, size = ?, file_count = ? WHERE id = ?", (digest, size, files, ids[index]))
        # v2 as log_artifact writes a draft of v0 with three files changed: only their chunks are new.
        changes = [(f"shard{i // 1000:04d}/item{i:07d}.bin", hashlib.sha256(b"v2 %d" % i).hexdigest(), 9, None, "{}")
                   for i in (count // 7, count // 2, count - 5)]
        manifest = chunks.from_base(con, ids[0], [(row[0], row) for row in changes])
        chunks.write(con, ids[2], manifest)
        con.execute("UPDATE versions SET digest = ?, size = ?, file_count = ? WHERE id = ?",
                    (manifest.digest, manifest.size, manifest.count, ids[2]))
    reg._db.connection().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return reg.artifact("p/big:v0"), reg.artifact("p/big:v1"), reg.artifact("p/big:v2")



def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200,000 entries")
    args = parser.parse_args(argv)
    count = 200_000 if args.quick else 1_000_000
    with tempfile.TemporaryDirectory() as folder:
        print(_bench.describe(folder))
        old, new, near = build(os.path.join(folder, "reg"), count)
        diff = old.diff(new)
        print(f"two manifests of {count:,} entries: {len(diff.added):,} added, {len(diff.removed):,} removed, "
              f"{len(diff.changed):,} changed, {diff.unchanged_count:,} unchanged\n")
        con = old._reg._db.connection()
        sqlite_floor = "SELECT count(*), sum(length(path) + length(digest)) FROM chunk_entries WHERE chunk_id = ?"

        def iterate() -> None:
            for version in (old.id, new.id):
                for _ in chunks.scan(con, version):
                    pass

        def scan() -> None:
            for version in (old.id, new.id):
                for ref in chunks.chunk_refs(con, version):
                    con.execute(sqlite_floor, (ref.id,)).fetchall()

        ours = _bench.median_time(lambda: old.diff(new))
        shared = _bench.median_time(lambda: old.diff(near))
        iterated = _bench.median_time(iterate)
        scanned = _bench.median_time(scan)
        changed = len(old.diff(near).changed)
        old._reg.close()
    rows = [
        _bench.ratio_row(f"diff of 2 x {count:,} entries", [ours], [iterated], 1.0),
        ("  (SQLite alone scanning both)", f"{ours:.3f} s", f"{scanned:.3f} s", f"{ours / scanned:.2f}x", "-", "-"),
        ("diff under 1 s", f"{ours:.3f} s", "-", "-", "< 1 s", _bench.yes_no(ours < 1.0)),
        (f"diff of v0 and a draft of it ({changed} changed)", f"{shared * 1000:.1f} ms", "-", "-", "< 100 ms", _bench.yes_no(shared < 0.1)),
    ]
    _bench.print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
