"""How long opening a registry written before chunked manifests takes: the migration of SPEC §22.

    python benchmarks/bench_upgrade.py            # two versions of 500,000 entries each
    python benchmarks/bench_upgrade.py --quick    # two of 100,000

A registry of schema version 6 (every version's manifest rows in the ``entries`` table) is
built with the old migrations and direct SQL inserts, as the code of that time wrote it: a
version of N entries and a second with ten of them changed. Then ``artreg.open`` migrates
it in place (every version's rows cut into chunks, identical runs stored once). One run per
size, fixed seed. Rows:

- ``migrate 2 x N entries``: the time of ``artreg.open`` (the migration is one transaction).
  Floor: SQLite copying the same rows into a table of the same shape in the same file
  (``INSERT INTO copy SELECT * FROM entries``), what rewriting them costs at least. Target:
  information (the migration hashes every row and writes the chunk texts besides).
- ``database in use after (before)``: the bytes in use after the migration, and before it in
  the floor's column (the second version now shares all but the chunks of its ten changed
  entries; each chunk also keeps its text ready to hash), information.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import tempfile
import time

import apsw
from _bench import MiB, db_bytes, describe, print_table, settle

import artreg
from artreg.storage._manifest import version_digest
from artreg.storage._schema import APPLICATION_ID, MIGRATIONS

STAMP = "2024-01-01T00:00:00.000000Z"


def rows(count: int, version: int) -> list[tuple[str, str, int]]:
    """(path, digest, size) of one version, in path order; version 1 changes ten spread over it."""
    step = max(1, count // 10)
    out = []
    for i in range(count):
        content = b"%d" % i if version == 0 or i % step != 7 else b"changed %d" % i
        out.append((f"shard{i // 1000:04d}/item{i:07d}.bin", hashlib.sha256(content).hexdigest(), 100 + i % 5000))
    return out


def build(path: str, count: int) -> None:
    """A schema-6 registry file holding two versions of ``count`` entries."""
    con = apsw.Connection(path)
    con.execute("PRAGMA journal_mode = WAL")
    with con:
        for number, step in enumerate(MIGRATIONS[:6]):
            con.execute(step)  # type: ignore[arg-type]
            if number == 0:
                con.execute("INSERT INTO settings(key, value) VALUES ('created_by', 'bench')")
        con.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        con.execute("PRAGMA user_version = 6")
        project = con.execute("INSERT INTO projects(name, created_at) VALUES ('p', ?) RETURNING id", (STAMP,)).fetchone()[0]
        collection = con.execute(
            "INSERT INTO collections(project_id, name, type, created_at, next_index) VALUES (?, 'big', 'dataset', ?, 2) RETURNING id",
            (project, STAMP),
        ).fetchone()[0]
        for index in (0, 1):
            manifest = rows(count, index)
            version = con.execute(
                "INSERT INTO versions(collection_id, idx, digest, size, file_count, created_at, created_by) "
                "VALUES (?, ?, ?, ?, ?, ?, 'bench') RETURNING id",
                (collection, index, version_digest((p, d) for p, d, _ in manifest), sum(s for *_, s in manifest), count, STAMP),
            ).fetchone()[0]
            con.executemany("INSERT INTO entries(version_id, path, digest, size) VALUES (?, ?, ?, ?)",
                            ((version, *row) for row in manifest))
        con.execute("INSERT INTO aliases(collection_id, alias, version_id) VALUES (?, 'latest', ?)", (collection, version))
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()


def in_use(path: str) -> int:
    con = apsw.Connection(path)
    try:
        pages, free, size = (con.execute(f"PRAGMA {p}").fetchone()[0] for p in ("page_count", "freelist_count", "page_size"))  # type: ignore[index]
        return int((pages - free) * size)
    finally:
        con.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two versions of 100,000 entries")
    args = parser.parse_args(argv)
    count = 100_000 if args.quick else 500_000
    root = tempfile.mkdtemp(prefix="artreg-bench-")
    try:
        print(describe(root) + "\n")
        path = os.path.join(root, "old.db")
        build(path, count)
        copy = os.path.join(root, "copy.db")
        shutil.copyfile(path, copy)
        before = in_use(path)
        con = apsw.Connection(copy)
        settle()
        started = time.perf_counter()
        with con:
            con.execute("CREATE TABLE copy AS SELECT * FROM entries")
        floor = time.perf_counter() - started
        con.close()
        settle()
        started = time.perf_counter()
        with artreg.open(path) as reg:
            seconds = time.perf_counter() - started
            after = db_bytes(reg)
            files = sum(v.file_count for v in reg.artifacts("p", "big"))
        if files != 2 * count:
            raise SystemExit(f"expected {2 * count} entries after the migration, found {files}")
        print_table([
            (f"migrate 2 x {count:,} entries", f"{seconds:.1f} s", f"{floor:.1f} s", f"{seconds / floor:.1f}x", "-", "-"),
            ("database in use after (before)", f"{after / MiB:.0f} MiB", f"{before / MiB:.0f} MiB", "-", "-", "-"),
        ])
    finally:
        shutil.rmtree(root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
