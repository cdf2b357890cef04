"""How fast references resolve and aliases move, and whether resolving slows as a collection grows.

    python benchmarks/bench_resolve.py            # collections of 1,000 and 1,000,000 versions
    python benchmarks/bench_resolve.py --quick    # 1,000 and 100,000

Two registry folders under one ``tempfile.mkdtemp()`` folder (removed at the end), each
with one collection ``p/model``: v0 is logged through artreg, the other versions are
inserted straight in SQL in one transaction as ``log_artifact`` writes them (version rows,
the collection's ``next_index``, ``latest`` on the last one), and ``best`` points at the
middle one. Times are per call, medians over many calls, measured alternately in blocks
so that both sizes see the same machine. Rows:

- ``resolve p/model:best (hot)``: ``reg.artifact("p/model:best")`` 10,000 times in the small
  registry (the statement and pages cached; after the first call the row comes from the
  connection's memo, checked against ``PRAGMA data_version``). Target: median <= 50 us.
- ``... (cold: after a change)``: the same, with the memo emptied before each call (untimed),
  as the first resolve after any commit finds it: the one RESOLVE statement runs. Information.
- ``move an alias``: ``v.aliases.append("champion"); v.save()`` alternating between v0 and
  v1 of the small registry, one transaction each (``refresh()`` beforehand, untimed).
  Target: median <= 1 ms.
- ``resolve :best / :v333 with N versions``: the cold call in the big registry (the memo
  would hide the statement's cost); the floor is the same cold call in the small one (1,000
  versions). Target <= 2x.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

from _bench import print_table, yes_no

import artreg

STAMP = "2026-01-01T00:00:00.000000Z"
INSERT_VERSION = """
INSERT INTO versions(collection_id, idx, digest, size, file_count, created_at, created_by)
VALUES (?, ?, ?, 1, 1, ?, 'bench')
"""
SET_ALIAS = """
INSERT INTO aliases(collection_id, alias, version_id)
SELECT collection_id, ?, id FROM versions WHERE collection_id = ? AND idx = ?
ON CONFLICT(collection_id, alias) DO UPDATE SET version_id = excluded.version_id
"""


def build(folder: str, count: int) -> artreg.Registry:
    """A registry whose collection p/model holds ``count`` versions, ``best`` on the middle one."""
    reg = artreg.open(folder, user="bench")
    art = artreg.Artifact("model", type="model")
    with art.new_file("weights.txt") as f:
        f.write("0")
    collection = reg.log_artifact(art, project="p").collection.id
    with reg._db.write() as con:
        con.executemany(INSERT_VERSION, ((collection, i, f"{i:064x}", STAMP) for i in range(1, count)))
        con.execute("UPDATE collections SET next_index = ? WHERE id = ?", (count, collection))
        con.execute(SET_ALIAS, ("latest", collection, count - 1))
        con.execute(SET_ALIAS, ("best", collection, count // 2))
    # Copy the big WAL back now, so the background checkpoint does not run during the timings.
    reg._db.connection().execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    return reg


def per_call(fn, calls: int, before=None) -> list[float]:  # type: ignore[no-untyped-def]
    """Seconds taken by each of ``calls`` calls of ``fn`` (``before()``, untimed, ahead of each)."""
    times = []
    clock = time.perf_counter
    for _ in range(calls):
        if before is not None:
            before()
        started = clock()
        fn()
        times.append(clock() - started)
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 and 100,000 versions; fewer calls")
    args = parser.parse_args(argv)
    big, calls, moves = (100_000, 5_000, 200) if args.quick else (1_000_000, 10_000, 1_000)
    small = 1_000
    root = tempfile.mkdtemp(prefix="artreg-bench-")
    try:
        started = time.perf_counter()
        with build(os.path.join(root, "small"), small) as few, build(os.path.join(root, "big"), big) as many:
            built = time.perf_counter() - started
            print(f"collections of {small:,} and {big:,} versions, registry folders on disk (built in {built:.1f} s)\n")
            rows = [
                us_row("resolve p/model:best (hot)", per_call(lambda: few.artifact("p/model:best"), calls), 50),
                us_row("... (cold: after a change)", per_call(lambda: few.artifact("p/model:best"), calls, forget(few)), None),
                us_row("move an alias", alias_moves(few, moves), 1000),
            ]
            for selector in ("best", f"v{small // 3}"):
                ref = f"p/model:{selector}"
                ours, floor = [], []
                for _ in range(10):  # alternate blocks
                    floor += per_call(lambda ref=ref: few.artifact(ref), calls // 10, forget(few))  # type: ignore[misc]
                    ours += per_call(lambda ref=ref: many.artifact(ref), calls // 10, forget(many))  # type: ignore[misc]
                us, floor_us = statistics.median(ours) * 1e6, statistics.median(floor) * 1e6
                rows.append((
                    f"resolve :{selector} with {big:,} versions", f"{us:.1f} us", f"{floor_us:.1f} us",
                    f"{us / floor_us:.2f}x", "<= 2x", yes_no(us / floor_us <= 2),
                ))
        print_table(rows)
    finally:
        shutil.rmtree(root)
    return 0


def forget(reg: artreg.Registry):  # type: ignore[no-untyped-def]
    """Empties this thread's memo of ``reg``, as any commit would."""

    def empty() -> None:
        reg._db._local.memo = None

    return empty


def alias_moves(reg: artreg.Registry, moves: int) -> list[float]:
    """Seconds of each move of ``champion``, alternately to v0 and v1."""
    pair = [reg.artifact("p/model:v0"), reg.artifact("p/model:v1")]
    times = []
    for k in range(moves):
        version = pair[k % 2]
        version.refresh()
        started = time.perf_counter()
        version.aliases.append("champion")
        version.save()
        times.append(time.perf_counter() - started)
    if reg.artifact("p/model:champion") != pair[(moves - 1) % 2]:
        raise SystemExit("the alias did not move")
    return times


def us_row(op: str, times: list[float], target_us: float | None) -> tuple[str, ...]:
    us = statistics.median(times) * 1e6
    if target_us is None:
        return (op, f"{us:.1f} us", "-", "-", "-", "-")
    target = f"<= {target_us:g} us" if target_us < 1000 else f"<= {target_us / 1000:g} ms"
    return (op, f"{us:.1f} us", "-", "-", target, yes_no(us <= target_us))


if __name__ == "__main__":
    sys.exit(main())
