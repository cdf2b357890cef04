"""How fast ``artreg ui`` renders the pages of a big collection and of a big version.

    python benchmarks/bench_ui.py            # 10,000 versions; a version of 100,000 files
    python benchmarks/bench_ui.py --quick    # the same sizes, fewer repetitions

A registry file gets a collection of 10,000 versions (each with a tag, every 100th with an
alias) and a version of 100,000 entries, inserted with SQL as ``log_artifact`` writes them.
``artreg ui`` then serves it from a child process on 127.0.0.1, and each row is the median
time of a whole HTTP GET (request, the page's command, rendering, response) with the
standard library's client: the first and the last page of the collection's versions (50
to a page), the first page of the big version (500 files, its lineage drawn) and the last
one, and the JSON twin of the first versions page. The floor is the library call a page
makes at least, ``collection.versions(limit=50)`` (or ``list(v.files(limit=500))``), in
this process. Target: every page under 200 ms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

import _bench

import artreg
from artreg.storage import _chunks as chunks

STAMP = "2026-01-01T00:00:00.000000Z"
VERSIONS = 10_000
FILES = 100_000


def build(folder: str) -> str:
    path = os.path.join(folder, "reg")
    with artreg.open(path, user="bench") as reg:
        first = reg.log_artifact(artreg.Artifact("many", type="model"), project="p")
        big = reg.log_artifact(artreg.Artifact("big", type="dataset"), project="p")
        with reg._db.write() as con:
            con.executemany(
                "INSERT INTO versions(collection_id, idx, digest, size, file_count, created_at, created_by, metadata) "
                "VALUES (?, ?, ?, ?, 0, ?, 'bench', ?)",
                ((first._collection_id, i, f"{i:064x}", i * 10, STAMP, f'{{"step": {i}}}') for i in range(1, VERSIONS)),
            )
            ids = [r[0] for r in con.execute("SELECT id FROM versions WHERE collection_id = ? ORDER BY idx", (first._collection_id,))]
            con.executemany("INSERT INTO version_tags(version_id, tag) VALUES (?, ?)", ((i, f"run-{i % 7}") for i in ids))
            con.execute("UPDATE aliases SET version_id = ? WHERE collection_id = ? AND alias = 'latest'", (ids[-1], first._collection_id))
            con.executemany("INSERT INTO aliases(collection_id, alias, version_id) VALUES (?, ?, ?)",
                            ((first._collection_id, f"milestone-{n}", i) for n, i in enumerate(ids[::100])))
            con.execute("UPDATE collections SET next_index = ? WHERE id = ?", (VERSIONS, first._collection_id))
            digest, files, size = chunks.write_sorted(con, big.id, ((f"d{i // 1000:03d}/f{i:06d}", f"{i:064x}", i, None, "{}")
                                                                     for i in range(FILES)))
            con.execute("UPDATE versions SET digest = ?, file_count = ?, size = ? WHERE id = ?", (digest, files, size, big.id))
    return path


def http_median(url: str, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        with urllib.request.urlopen(url, timeout=60) as response:
            response.read()
            assert response.status == 200, url
        times.append(time.perf_counter() - started)
    return statistics.median(times)



def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    args = parser.parse_args(argv)
    repeat = 5 if args.quick else 15
    with tempfile.TemporaryDirectory() as folder:
        print(_bench.describe(folder))
        path = build(folder)
        server = subprocess.Popen([sys.executable, "-m", "artreg", "--registry", path, "ui", "--port", "0"],
                                  stdout=subprocess.PIPE, text=True, env=_bench.child_env())
        try:
            assert server.stdout is not None
            base = server.stdout.readline().split(" at ")[1].split()[0].rstrip("/")
            http_median(base + "/", 2)  # warm: imports, templates, connections
            pages = [
                ("versions page 1 of 200 (10,000 versions)", "/collections/p/many"),
                ("versions page 200 of 200", f"/collections/p/many?offset={VERSIONS - 50}"),
                ("versions page 1, JSON twin", "/collections/p/many?format=json"),
                ("version of 100,000 files, page 1", "/versions/p/big:v0"),
                ("version of 100,000 files, last page", f"/versions/p/big:v0?offset={FILES - 500}"),
            ]
            timings = [(name, http_median(base + page, repeat)) for name, page in pages]
        finally:
            server.terminate()
            server.communicate(timeout=30)
        with artreg.open(path, read_only=True) as reg:
            many, big = reg.collection("p/many"), reg.artifact("p/big:v0")
            floors = [_bench.median_time(lambda: many.versions(limit=50), repeat)] * 3
            floors += [_bench.median_time(lambda: list(big.files(limit=500)), repeat),
                       _bench.median_time(lambda: list(big.files(offset=FILES - 500, limit=500)), repeat)]
    print(f"{VERSIONS:,} versions in one collection; one version of {FILES:,} files; {repeat} GETs per page over HTTP\n")
    rows = [
        (name, f"{ours * 1000:.1f} ms", f"{floor * 1000:.1f} ms", f"{ours / floor:.2f}x", "< 200 ms", _bench.yes_no(ours < 0.2))
        for (name, ours), floor in zip(timings, floors, strict=True)
    ]
    _bench.print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
