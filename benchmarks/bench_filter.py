"""How fast ``reg.versions(filter=...)`` answers over 100,000 versions.

    python benchmarks/bench_filter.py            # 100,000 versions in 100 collections
    python benchmarks/bench_filter.py --quick    # 20,000

The versions (random metadata, a few aliases and tags, fixed seed) are inserted straight in
SQL so the set-up is fast, into a registry file in a temporary folder. For each filter:
``query`` is the one SELECT the filter compiles to (ids only); ``versions()`` also loads
the matching ``ArtifactVersion`` objects. The floor is a plain SELECT visiting the same
live rows with the same joins, testing a column (``size < 0``) instead of the filter; the
target is under 100 ms for the query. Times are medians of several runs.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import _bench  # noqa: F401  (puts this checkout's artreg first on sys.path)

import artreg
from artreg._filters import version_ids

STAMP = "2026-01-{day:02d}T00:00:00.000000Z"
FLOOR = """
SELECT v.id FROM versions AS v JOIN collections AS c ON c.id = v.collection_id JOIN projects AS p ON p.id = c.project_id
WHERE v.state = 'committed' AND c.deleted_at IS NULL AND v.size < 0
"""
FILTERS: list[tuple[str, dict[str, Any]]] = [
    ("metadata number >=", {"metadata.accuracy": {"$gte": 0.99}}),
    ("nested metadata + type", {"type": "model", "metadata.config.layers": {"$in": [3, 5]}, "metadata.config.lr": {"$lt": 0.01}}),
    ("alias equals", {"alias": "production"}),
    ("tag regex", {"tag": {"$regex": "^exp-1[0-9]$"}}),
    ("$or of name and metadata", {"$or": [{"name": "c7"}, {"metadata.optimizer": "sgd", "size": {"$gt": 1_000_000}}]}),
    ("created_at range", {"created_at": {"$gte": "2026-01-10", "$lt": "2026-01-11"}, "metadata.epochs": {"$exists": True}}),
]


def build(reg: artreg.Registry, collections: int, per_collection: int, seed: int) -> None:
    rng = random.Random(seed)
    with reg._db.write() as con:
        con.execute("INSERT INTO projects(id, name, created_at) VALUES (1000, 'bench', ?)", (STAMP.format(day=1),))
        con.executemany(
            "INSERT INTO collections(id, project_id, name, type, next_index, created_at) VALUES (?, 1000, ?, ?, ?, ?)",
            ((k, f"c{k}", "model" if k % 2 else "dataset", per_collection, STAMP.format(day=1)) for k in range(collections)),
        )
        rows, aliases, tags = [], [], []
        for k in range(collections):
            for i in range(per_collection):
                vid = k * per_collection + i + 1
                metadata = {
                    "accuracy": round(rng.random(), 4),
                    "epochs": rng.randint(1, 100),
                    "optimizer": rng.choice(["adam", "sgd", "adamw"]),
                    "config": {"lr": round(rng.uniform(0.0001, 0.1), 5), "layers": rng.randint(1, 12)},
                }
                day = 1 + vid * 28 // (collections * per_collection + 1)
                rows.append((vid, k, i, "d", rng.randint(1, 4_000_000), json.dumps(metadata), STAMP.format(day=day)))
                if rng.random() < 0.1:
                    tags.append((vid, f"exp-{rng.randint(0, 99)}"))
            aliases.append((k, "latest", k * per_collection + per_collection))
            aliases.append((k, "production", k * per_collection + rng.randint(1, per_collection)))
        con.executemany(
            "INSERT INTO versions(id, collection_id, idx, digest, size, file_count, metadata, created_at, created_by) "
            "VALUES (?, ?, ?, ?, ?, 1, ?, ?, 'bench')",
            rows,
        )
        con.executemany("INSERT INTO aliases(collection_id, alias, version_id) VALUES (?, ?, ?)", aliases)
        con.executemany("INSERT INTO version_tags(version_id, tag) VALUES (?, ?)", tags)
    reg._db.connection().execute("ANALYZE")


def median_ms(fn: Callable[[], object], repeat: int = 7) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20,000 versions")
    args = parser.parse_args(argv)
    collections, per = (20, 1000) if args.quick else (100, 1000)
    with tempfile.TemporaryDirectory() as folder, artreg.open(folder, user="bench") as reg:
        build(reg, collections, per, seed=1)
        con = reg._db.connection()
        floor = median_ms(lambda: con.execute(FLOOR).fetchall())

        def ids(spec: dict[str, Any]) -> list[int]:
            with reg._db.read() as read:
                return version_ids(reg, read, spec, registry=None, project=None, order=None, limit=None)

        print(f"{collections * per:,} versions in {collections} collections (registry file, fixed seed)\n")
        print(f"{'filter':<28} {'matches':>8} {'query':>9} {'versions()':>11} {'floor':>8} {'ratio':>6} {'target':>9} met")
        for name, spec in FILTERS:
            matches = len(ids(spec))
            query = median_ms(lambda spec=spec: ids(spec))  # type: ignore[misc]
            full = median_ms(lambda spec=spec: reg.versions(spec), repeat=3)  # type: ignore[misc]
            met = "yes" if query < 100 else "NO"
            print(f"{name:<28} {matches:>8,} {query:>7.1f}ms {full:>9.1f}ms {floor:>6.1f}ms {query / floor:>5.1f}x {'< 100 ms':>9} {met}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
