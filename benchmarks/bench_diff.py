"""How fast ``v.diff(other)`` compares two versions of 1,000,000 entries each.

    python benchmarks/bench_diff.py            # two manifests of 1,000,000 entries
    python benchmarks/bench_diff.py --quick    # 200,000 entries

Two versions are built with direct SQL inserts into a registry file (as ``log_artifact``
writes entries), the second one with 1,000 entries changed, 1,000 removed and 1,000 added,
spread over the whole manifest (so no long stretch is identical). Rows, medians of five
runs: ``v0.diff(v1)``, and for comparison the floors measured in the same run: iterating
both manifests from Python (``SELECT path, digest, size, ref, extra ... ORDER BY path``, what
any diff written in Python must at least do) and SQLite alone scanning both (``count`` and
the length of every path and digest, no row reaching Python). Target: the diff under 1 s
and no slower than iterating the two manifests.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
import tempfile
import time

import _bench

import artreg

STAMP = "2026-01-01T00:00:00.000000Z"
INSERT_ENTRY = "INSERT INTO entries(version_id, path, digest, size) VALUES (?, ?, ?, ?)"


def build(folder: str, count: int) -> tuple[artreg.ArtifactVersion, artreg.ArtifactVersion]:
    reg = artreg.open(folder)
    first = reg.log_artifact(artreg.Artifact("big", type="dataset"), project="p")
    step = count // 1000

    def rows(version: int) -> object:
        for i in range(count):
            path = f"shard{i // 1000:04d}/item{i:07d}.bin"
            if version == 2 and i % step == 1:
                continue  # removed
            content = i + 10_000_000 if version == 2 and i % step == 2 else i  # changed
            yield version, path, hashlib.sha256(b"%d" % content).hexdigest(), 100 + content % 5000
            if version == 2 and i % step == 3:
                yield version, path + ".new", hashlib.sha256(b"new %d" % i).hexdigest(), 7  # added

    with reg._db.write() as con:
        con.execute(
            "INSERT INTO versions(id, collection_id, idx, digest, size, file_count, created_at, created_by) "
            "VALUES (2, ?, 1, 'x', 0, ?, ?, 't')", (first._collection_id, count, STAMP),
        )
        con.execute("UPDATE versions SET file_count = ? WHERE id = ?", (count, first.id))
        for version in (first.id, 2):
            con.executemany(INSERT_ENTRY, rows(version))  # type: ignore[arg-type]
    reg._db.connection().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return reg.artifact("p/big:v0"), reg.artifact("p/big:v1")


def median_time(fn, repeat: int = 5) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200,000 entries")
    args = parser.parse_args(argv)
    count = 200_000 if args.quick else 1_000_000
    with tempfile.TemporaryDirectory() as folder:
        print(_bench.describe(folder))
        old, new = build(os.path.join(folder, "reg"), count)
        diff = old.diff(new)
        print(f"two manifests of {count:,} entries: {len(diff.added):,} added, {len(diff.removed):,} removed, "
              f"{len(diff.changed):,} changed, {diff.unchanged_count:,} unchanged\n")
        con = old._reg._db.connection()
        python_floor = "SELECT path, digest, size, ref, extra FROM entries WHERE version_id = ? ORDER BY path"
        sqlite_floor = "SELECT count(*), sum(length(path) + length(digest)) FROM entries WHERE version_id = ?"

        def iterate() -> None:
            for version in (old.id, new.id):
                for _ in con.execute(python_floor, (version,)):
                    pass

        def scan() -> None:
            for version in (old.id, new.id):
                con.execute(sqlite_floor, (version,)).fetchall()

        ours = median_time(lambda: old.diff(new))
        iterated = median_time(iterate)
        scanned = median_time(scan)
        old._reg.close()
    rows = [
        _bench.ratio_row(f"diff of 2 x {count:,} entries", [ours], [iterated], 1.0),
        ("  (SQLite alone scanning both)", f"{ours:.3f} s", f"{scanned:.3f} s", f"{ours / scanned:.2f}x", "-", "-"),
        ("diff under 1 s", f"{ours:.3f} s", "-", "-", "< 1 s", _bench.yes_no(ours < 1.0)),
    ]
    _bench.print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
