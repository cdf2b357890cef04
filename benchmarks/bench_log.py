"""How fast ``log_artifact`` stores files, against the cost of just reading and hashing them.

    python benchmarks/bench_log.py            # full: 10,000 x 4 KiB files, a 1 GiB file (~3 GiB of /tmp)
    python benchmarks/bench_log.py --quick    # 2,000 files, a 256 MiB file, 2 runs: well under a minute
    python benchmarks/bench_log.py --size-mb 4096

Everything is built from a fixed seed under one ``tempfile.mkdtemp()`` folder, removed at
the end. Times are medians of several runs; each floor is measured in the same run,
interleaved with artreg's, on the same (page-cache warm) source files. Rows:

- ``log N x 4 KiB files``: ``add_dir`` + ``log_artifact`` into a fresh registry folder each
  run, so every blob is new. Floor: open + read + sha256 of each file in this process.
  Target <= 2.5x.
- ``re-log unchanged dir``: the same folder again into the registry that holds it; the
  stat cache should skip reading and the log dedups to the same version. Same floor.
  Target <= 0.3x.
- ``log with 1 of N files changed``: one file rewritten (new bytes, same size) before each
  run, then the whole folder logged again: a new version in which only that file is read.
  Same floor. Target <= 0.4x. Below it, the database's growth for that version (pages in
  use after the log minus before, the median of the runs; SPEC §22: a version costs what it
  changes). Target <= 1 MiB.
- ``new_draft() + 1 of N files changed``: ``new_draft()`` of the latest version, one entry
  replaced with ``add_file(..., overwrite=True)`` of a new 4 KiB file, logged: the median
  time (information), and the database's growth for that version. Target <= 1 MiB.
- ``log 1 file of S MiB``: ``add_file`` + ``log_artifact`` into a fresh registry, run in a
  child process. Floor: ``shutil.copyfile`` + fsync of the same file. Target <= 1.3x.
- ``... vs read+sha256``: the same artreg time against reading and hashing the file in
  1 MiB chunks in this process (information).
- ``peak RSS of that log``: the child's peak RSS (VmHWM) after the log minus after its imports
  (the largest over the runs). Target <= 100 MiB.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable

from _bench import PEAK, MiB, db_bytes, describe, print_table, ratio_row, run_child, settle, timed, yes_no

import artreg

SEED = 20240601
FILE_SIZE = 4096
KiB = 1024

# Runs in a child process so its peak RSS is the log's alone; prints seconds and bytes.
CHILD = PEAK + """
import json, sys, time
import artreg

source, folder = sys.argv[1:]
baseline = peak()
reg = artreg.open(folder)
started = time.perf_counter()
art = artreg.Artifact("big", type="model")
art.add_file(source)
reg.log_artifact(art, project="bench")
seconds = time.perf_counter() - started
print(json.dumps({"seconds": seconds, "rss": peak() - baseline}))
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 files, a 256 MiB file, 2 runs")
    parser.add_argument("--size-mb", type=int, help="size of the big file in MiB (default 1024, 256 with --quick)")
    args = parser.parse_args(argv)
    files, runs, big_runs = (2_000, 2, 2) if args.quick else (10_000, 5, 3)
    size_mb = args.size_mb or (256 if args.quick else 1024)

    root = tempfile.mkdtemp(prefix="artreg-bench-")
    try:
        print(describe(root) + "\n")
        rows = bench_dir(root, files, runs) + bench_big(root, size_mb, big_runs)
        print_table(rows)
    finally:
        shutil.rmtree(root)
    return 0


def bench_dir(root: str, count: int, runs: int) -> list[tuple[str, ...]]:
    """Rows for logging ``count`` small files into a fresh registry, re-logging them, and changing one."""
    rng = random.Random(SEED)
    src = os.path.join(root, "files")
    os.mkdir(src)
    paths = [os.path.join(src, f"{i:05d}.bin") for i in range(count)]
    for path in paths:
        with open(path, "wb") as f:
            f.write(rng.randbytes(FILE_SIZE))
    hash_files(paths)  # warm the page cache
    # The stat cache refuses files modified within 50 ms of being read ("racy").
    time.sleep(0.1)

    grown: list[int] = []  # database growth of each log into an existing registry

    def log(folder: str, expect: str) -> float:
        with artreg.open(folder) as reg:
            before = db_bytes(reg)
            started = time.perf_counter()
            art = artreg.Artifact("files", type="dataset")
            art.add_dir(src)
            version = reg.log_artifact(art, project="bench")
            seconds = time.perf_counter() - started
            grown.append(db_bytes(reg) - before)
        if version.name != expect:
            raise SystemExit(f"expected {expect}, got {version.name}")
        return seconds

    def measure(registry: str, expect: str, before: Callable[[], None] = lambda: None) -> tuple[list[float], list[float]]:
        """artreg's times and the floor's, logging into ``registry`` after ``before()`` each run."""
        times, floors = [], []
        for run in range(1, runs + 1):
            before()
            settle()
            floors.append(timed(lambda: hash_files(paths)))
            settle()
            times.append(log(registry, expect.format(run=run)))
        return times, floors

    fresh, floor = [], []
    for _ in range(runs):
        settle()
        floor.append(timed(lambda: hash_files(paths)))
        registry = tempfile.mkdtemp(dir=root)
        settle()
        fresh.append(log(registry, "files:v0"))
    whole = grown[-1]
    relog, relog_floor = measure(registry, "files:v0")

    def change_one() -> None:
        with open(rng.choice(paths), "wb") as f:
            f.write(rng.randbytes(FILE_SIZE))
        time.sleep(0.1)  # past the racy window, as a real edit would be

    grown.clear()
    changed, changed_floor = measure(registry, "files:v{run}", change_one)
    changed_growth = statistics.median(grown)
    drafted, drafted_growth = draft_one(registry, root, rng, count, runs)
    return [
        ratio_row(f"log {count:,} x 4 KiB files", fresh, floor, 2.5),
        ("  database growth (blobs included)", f"{whole / KiB:,.0f} KiB", "-", "-", "-", "-"),
        ratio_row("re-log unchanged dir", relog, relog_floor, 0.3),
        ratio_row(f"log with 1 of {count:,} files changed", changed, changed_floor, 0.4),
        ("  database growth of that version", f"{changed_growth / KiB:,.0f} KiB", "-", "-", "<= 1024 KiB", yes_no(changed_growth <= MiB)),
        (f"new_draft() + 1 of {count:,} files changed", f"{statistics.median(drafted) * 1000:.1f} ms", "-", "-", "-", "-"),
        ("  database growth of that version", f"{drafted_growth / KiB:,.0f} KiB", "-", "-", "<= 1024 KiB", yes_no(drafted_growth <= MiB)),
    ]


def draft_one(registry: str, root: str, rng: random.Random, count: int, runs: int) -> tuple[list[float], float]:
    """Times of ``new_draft()`` + one file replaced (``add_file``) + ``log_artifact``, and the median database growth."""
    times, grown = [], []
    local = os.path.join(root, "replacement.bin")
    with artreg.open(registry) as reg:
        for run in range(runs):
            with open(local, "wb") as f:
                f.write(rng.randbytes(FILE_SIZE))
            version = reg.artifact("bench/files")
            before = db_bytes(reg)
            settle()
            started = time.perf_counter()
            draft = version.new_draft()
            draft.add_file(local, name=f"{(run * 1999 + 17) % count:05d}.bin", overwrite=True)
            new = reg.log_artifact(draft, project="bench")
            times.append(time.perf_counter() - started)
            grown.append(db_bytes(reg) - before)
            if new.file_count != version.file_count or new.index != version.index + 1:
                raise SystemExit(f"expected a new version of {version.file_count} files, got {new.name} of {new.file_count}")
    return times, statistics.median(grown)


def bench_big(root: str, size_mb: int, runs: int) -> list[tuple[str, ...]]:
    """Rows for logging one ``size_mb`` MiB file against copy+fsync and read+sha256, and its peak RSS."""
    rng = random.Random(SEED + 1)
    src = os.path.join(root, "big.bin")
    with open(src, "wb") as f:
        for _ in range(size_mb):
            f.write(rng.randbytes(MiB))
    hash_files([src])  # warm the page cache
    copy = os.path.join(root, "copy.bin")

    logs, rss, hashes, copies = [], [], [], []
    for _ in range(runs):
        settle()
        hashes.append(timed(lambda: hash_files([src])))
        settle()
        copies.append(timed(lambda: copy_file(src, copy)))
        os.unlink(copy)
        registry = tempfile.mkdtemp(dir=root)
        settle()
        result = run_child(CHILD, src, registry)
        logs.append(result["seconds"])
        rss.append(result["rss"] / MiB)
        shutil.rmtree(registry)
    label = f"log 1 file of {size_mb:,} MiB"
    peak = max(rss)
    return [
        ratio_row(f"{label} vs copy+fsync", logs, copies, 1.3),
        ratio_row(f"{label} vs read+sha256", logs, hashes, None),
        ("peak RSS of that log", f"{peak:.1f} MiB", "-", "-", "<= 100 MiB", yes_no(peak <= 100)),
    ]


def hash_files(paths: list[str]) -> None:
    """The floor: read and sha256 each file, in 1 MiB chunks."""
    for path in paths:
        hasher = hashlib.sha256()
        with open(path, "rb") as f:
            while chunk := f.read(MiB):
                hasher.update(chunk)


def copy_file(src: str, dst: str) -> None:
    shutil.copyfile(src, dst)
    with open(dst, "rb") as f:
        os.fsync(f.fileno())


if __name__ == "__main__":
    sys.exit(main())
