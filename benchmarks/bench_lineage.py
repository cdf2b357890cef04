"""How fast ``v.lineage()`` walks a long chain of runs and versions.

    python benchmarks/bench_lineage.py            # a chain of 10,000 nodes (5,000 runs)
    python benchmarks/bench_lineage.py --quick    # 2,000 nodes

The chain is v0 -> run1 -> v1 -> run2 -> ... built straight in SQL (so the set-up is fast)
in an in-memory registry. Rows: the whole-chain walk downstream from v0 and upstream from
the last version, the median of several runs; the floor is one indexed ``SELECT`` per hop
done from Python (what a naive walk would cost at the least); the target is under 1 s.
"""

from __future__ import annotations

import argparse
import sys

import _bench  # also puts this checkout's artreg first on sys.path

import artreg

STAMP = "2026-01-01T00:00:00.000000Z"


def build(reg: artreg.Registry, runs: int) -> artreg.ArtifactVersion:
    art = artreg.Artifact("chain", type="dataset")
    with art.new_file("x") as f:
        f.write("0")
    first = reg.log_artifact(art, project="p")
    with reg._db.write() as con:
        con.executemany(
            "INSERT INTO runs(id, project_id, name, created_by, started_at) VALUES (?, 1, ?, 't', ?)",
            ((k, f"r{k}", STAMP) for k in range(1, runs + 1)),
        )
        con.executemany(
            "INSERT INTO versions(id, collection_id, idx, digest, size, file_count, created_at, created_by) "
            "VALUES (?, 1, ?, 'd', 0, 0, ?, 't')",
            ((k + 1, k, STAMP) for k in range(1, runs + 1)),
        )
        con.executemany("INSERT INTO run_inputs(run_id, version_id) VALUES (?, ?)", ((k, k) for k in range(1, runs + 1)))
        con.executemany("INSERT INTO run_outputs(run_id, version_id) VALUES (?, ?)", ((k, k + 1) for k in range(1, runs + 1)))
    return first


def naive_walk(reg: artreg.Registry, version_id: int) -> int:
    """The floor: one indexed query per hop from Python."""
    con = reg._db.connection()
    seen = 1
    while True:
        run = con.execute("SELECT run_id FROM run_inputs WHERE version_id = ?", (version_id,)).fetchone()
        if run is None:
            return seen
        version_id = con.execute("SELECT version_id FROM run_outputs WHERE run_id = ?", (run[0],)).fetchone()[0]
        seen += 2



def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a chain of 2,000 nodes")
    args = parser.parse_args(argv)
    runs = 1_000 if args.quick else 5_000
    with artreg.open(":memory:") as reg:
        first = build(reg, runs)
        last = reg.artifact(f"p/chain:v{runs}")
        nodes = len(first.lineage("downstream").nodes)
        down = _bench.median_time(lambda: first.lineage("downstream"))
        up = _bench.median_time(lambda: last.lineage("upstream"))
        floor = _bench.median_time(lambda: naive_walk(reg, first.id))
    print(f"chain of {nodes:,} nodes (in-memory registry)\n")
    print(f"{'operation':<28} {'artreg':>9} {'floor':>9} {'ratio':>7} {'target':>8} met")
    for name, seconds in (("lineage downstream from v0", down), ("lineage upstream from last", up)):
        print(f"{name:<28} {seconds:>8.3f}s {floor:>8.3f}s {seconds / floor:>6.2f}x {'< 1 s':>8} {'yes' if seconds < 1 else 'NO'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
