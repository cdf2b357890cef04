"""The catalog in PostgreSQL against the registry file, in the same run (SPEC §18).

    python benchmarks/bench_pg.py            # 300 logs, 1,000 alias moves, 8 processes x 100 logs
    python benchmarks/bench_pg.py --quick    # 60, 200, 8 x 25

Starts a throwaway PostgreSQL cluster on 127.0.0.1 (tests/pgserver.py: Debian's server,
fsync off, as in the tests) and measures, for a registry folder and for a catalog in a fresh
database on that server (blobs in a local folder), with the same code:

- ``log``: one version of a one-file draft (a distinct small file each time), ms per log
  and logs per second, and for PostgreSQL the round trips to the server per log;
- ``alias move``: ``v.aliases.append("best"); v.save()`` alternately on two versions;
- ``resolve hot``: ``reg.artifact("ds:best")`` again, nothing changed (the memo answers
  after one snapshot query on PostgreSQL, one ``PRAGMA data_version`` on SQLite);
- ``resolve cold``: the same after another process's alias move (here: a write through a
  second registry object), so the memo is emptied and the version read;
- ``8 processes``: eight processes, each logging its own collection, started together:
  versions per second from the first start to the last finish, and errors (target 0).

Every figure is a median of three rounds. The PostgreSQL server runs on the same two cores,
so the ratios include its work, not only the round trips.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _bench import ROOT, child_env
from bench_concurrent import CHILD  # logs its collection(s) from a common start time

sys.path.insert(0, os.path.join(ROOT, "tests"))

import artreg  # noqa: E402
import pgserver  # noqa: E402  (the tests' throwaway cluster)

PROCESSES = 8

def draft(i: int) -> artreg.Artifact:
    art = artreg.Artifact("ds", type="dataset")
    with art.new_file("data.txt") as f:
        f.write(f"content {i}")
    return art


def round_trips(reg: artreg.Registry) -> int:
    return int(getattr(reg._db.connection(), "round_trips", 0))


def measure(where: str, blobs: str | None, logs: int, moves: int) -> dict[str, float]:
    options: dict[str, Any] = {"user": "bench"} if blobs is None else {"user": "bench", "blobs": blobs}
    out: dict[str, float] = {}
    with artreg.open(where, **options) as reg, artreg.open(where, user="other") as other:
        reg.log_artifact(draft(-1), aliases=["best"])
        trips = round_trips(reg)
        started = time.perf_counter()
        for i in range(logs):
            reg.log_artifact(draft(i))
        out["log"] = (time.perf_counter() - started) / logs
        out["log trips"] = (round_trips(reg) - trips) / logs
        versions = [reg.artifact("ds:v0"), reg.artifact("ds:v1")]
        trips = round_trips(reg)
        started = time.perf_counter()
        for i in range(moves):
            v = versions[i % 2]
            v.aliases.append("best")
            v.save()
        out["alias move"] = (time.perf_counter() - started) / moves
        out["move trips"] = (round_trips(reg) - trips) / moves
        reg.artifact("ds:best")
        started = time.perf_counter()
        for _ in range(moves):
            reg.artifact("ds:best")
        out["resolve hot"] = (time.perf_counter() - started) / moves
        colds = []
        for i in range(min(moves, 200)):
            moved = other.artifact(f"ds:v{i % 2}")
            moved.aliases.append("best")
            moved.save()
            started = time.perf_counter()
            reg.artifact("ds:best")
            colds.append(time.perf_counter() - started)
        out["resolve cold"] = statistics.median(colds)
    return out


def processes(where: str, count: int) -> tuple[float, int]:
    start_at = time.monotonic() + 3.0
    children = [
        subprocess.Popen([sys.executable, "-c", CHILD, where, str(start_at), f"c{who}", str(count)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env())
        for who in range(PROCESSES)
    ]
    reports, failed = [], 0
    for child in children:
        out, err = child.communicate(timeout=600)
        if child.returncode != 0:
            failed += 1
            print(err, file=sys.stderr)
            continue
        reports.append(json.loads(out.splitlines()[-1]))
    errors = failed + sum(len(r["errors"]) for r in reports)
    span = max(r["ended"] for r in reports) - min(r["started"] for r in reports)
    return PROCESSES * count / span, errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    logs, moves, each = (60, 200, 25) if args.quick else (300, 1000, 100)
    scratch = Path(tempfile.mkdtemp(prefix="artreg-bench-pg-"))
    cluster = pgserver.Cluster()
    try:
        rounds: dict[str, list[dict[str, float]]] = {"sqlite": [], "postgresql": []}
        parallel: dict[str, list[tuple[float, int]]] = {"sqlite": [], "postgresql": []}
        for n in range(3):
            rounds["sqlite"].append(measure(str(scratch / f"reg{n}"), None, logs, moves))
            rounds["postgresql"].append(measure(cluster.create_database(), str(scratch / f"blobs{n}"), logs, moves))
            folder = str(scratch / f"par{n}")
            artreg.open(folder, user="bench").close()
            parallel["sqlite"].append(processes(folder, each))
            url = cluster.create_database()
            artreg.open(url, user="bench", blobs=str(scratch / f"parblobs{n}")).close()
            parallel["postgresql"].append(processes(url, each))
    finally:
        cluster.close()
        shutil.rmtree(scratch, ignore_errors=True)

    def med(kind: str, key: str) -> float:
        return statistics.median(r[key] for r in rounds[kind])

    print(f"PostgreSQL {pgserver.bin_dir()} on 127.0.0.1, {os.cpu_count()} CPUs; medians of 3 rounds")
    rows: list[tuple[str, ...]] = [("operation", "SQLite", "PostgreSQL", "PG / SQLite", "PG round trips")]
    for key, scale, unit, trips in (("log", 1e3, "ms", "log trips"), ("alias move", 1e3, "ms", "move trips"),
                                    ("resolve hot", 1e6, "us", None), ("resolve cold", 1e6, "us", None)):
        s, p = med("sqlite", key), med("postgresql", key)
        rows.append((key, f"{s * scale:.1f} {unit}", f"{p * scale:.1f} {unit}", f"{p / s:.2f}x",
                     f"{med('postgresql', trips):.1f}" if trips else "1" if key == "resolve hot" else "-"))
    s, p = med("sqlite", "log"), med("postgresql", "log")
    rows.append(("logs per second, 1 process", f"{1 / s:.0f}", f"{1 / p:.0f}", f"{s / p:.2f}x", "-"))
    s_rate = statistics.median(r[0] for r in parallel["sqlite"])
    p_rate = statistics.median(r[0] for r in parallel["postgresql"])
    errors = sum(r[1] for kind in parallel.values() for r in kind)
    rows.append((f"logs per second, {PROCESSES} processes", f"{s_rate:.0f}", f"{p_rate:.0f}", f"{p_rate / s_rate:.2f}x", "-"))
    rows.append(("errors (target 0)", str(sum(r[1] for r in parallel["sqlite"])), str(sum(r[1] for r in parallel["postgresql"])),
                 "-", "met" if errors == 0 else "NO"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for i, r in enumerate(rows):
        print("  ".join(c.ljust(w) if j == 0 else c.rjust(w) for j, (c, w) in enumerate(zip(r, widths, strict=True))))
        if i == 0:
            print("  ".join("-" * w for w in widths))


if __name__ == "__main__":
    main()
