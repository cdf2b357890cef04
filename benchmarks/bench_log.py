"""How fast ``log_artifact`` stores files, against the cost of just reading and hashing them.

    python benchmarks/bench_log.py            # full: 10,000 x 4 KiB files, a 1 GiB file (~3 GiB of /tmp)
    python benchmarks/bench_log.py --quick    # 2,000 files, a 256 MiB file, 2 runs: well under a minute
    python benchmarks/bench_log.py --size-mb 4096

Everything is built from a fixed seed under one ``tempfile.mkdtemp()`` folder, removed at
the end. Times are medians of several runs; each floor is measured in the same run,
interleaved with artreg's, on the same (page-cache warm) source files. Rows:

- ``log N x 4 KiB files``: ``add_dir`` + ``log_artifact`` into a fresh registry folder each
  run, so every blob is new. Floor: open + read + sha256 of each file in this process.
  Target <= 3x.
- ``re-log unchanged dir``: the same folder again into the registry that holds it; the
  stat cache should skip reading and the log dedups to the same version. Same floor.
  Target <= 0.5x.
- ``log 1 file of S MiB``: ``add_file`` + ``log_artifact`` into a fresh registry, run in a
  child process. Floor: read + sha256 in 1 MiB chunks in this process. No target.
- ``... vs copy``: the same artreg time against ``shutil.copyfile`` + fsync (information).
- ``peak RSS of that log``: the child's peak RSS (VmHWM) after the log minus after its imports
  (the largest over the runs). Target <= 100 MiB.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

import apsw

import artreg

SEED = 20240601
FILE_SIZE = 4096
MiB = 1 << 20

# Runs in a child process so its peak RSS is the log's alone; prints seconds and bytes.
CHILD = """
import json, sys, time
import artreg

def peak():
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec, so a child would report
    # its parent's high-water mark (the benchmark's own) instead of its own.
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))

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
        describe(root)
        rows = bench_dir(root, files, runs) + bench_big(root, size_mb, big_runs)
        print_table(rows)
    finally:
        shutil.rmtree(root)
    return 0


def describe(root: str) -> None:
    """One line about the machine, so tables from different hosts are not compared blindly."""
    fs = subprocess.run(["stat", "-f", "-c", "%T", root], capture_output=True, text=True).stdout.strip()
    print(
        f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"apsw {apsw.apswversion()}, SQLite {apsw.sqlite_lib_version()}, temp folder {root} on {fs or '?'}\n"
    )


def bench_dir(root: str, count: int, runs: int) -> list[tuple[str, ...]]:
    """Rows for logging ``count`` small files into a fresh registry, then re-logging them."""
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

    def log(folder: str) -> float:
        with artreg.open(folder) as reg:
            started = time.perf_counter()
            art = artreg.Artifact("files", type="dataset")
            art.add_dir(src)
            version = reg.log_artifact(art, project="bench")
            seconds = time.perf_counter() - started
        if version.name != "files:v0":
            raise SystemExit(f"expected files:v0 (a re-log dedups), got {version.name}")
        return seconds

    fresh, floor = [], []
    for _ in range(runs):
        settle()
        floor.append(timed(lambda: hash_files(paths)))
        registry = tempfile.mkdtemp(dir=root)
        settle()
        fresh.append(log(registry))
    relog, relog_floor = [], []
    for _ in range(runs):
        settle()
        relog_floor.append(timed(lambda: hash_files(paths)))
        settle()
        relog.append(log(registry))
    label = f"{count:,} x 4 KiB files"
    return [
        row(f"log {label}", fresh, floor, 3.0),
        row("re-log unchanged dir", relog, relog_floor, 0.5),
    ]


def bench_big(root: str, size_mb: int, runs: int) -> list[tuple[str, ...]]:
    """Rows for logging one ``size_mb`` MiB file, its peak RSS, and the copy floor."""
    rng = random.Random(SEED + 1)
    src = os.path.join(root, "big.bin")
    with open(src, "wb") as f:
        for _ in range(size_mb):
            f.write(rng.randbytes(MiB))
    hash_files([src])  # warm the page cache
    copy = os.path.join(root, "copy.bin")

    logs, rss, floor, copies = [], [], [], []
    for _ in range(runs):
        floor.append(timed(lambda: hash_files([src])))
        copies.append(timed(lambda: copy_file(src, copy)))
        os.unlink(copy)
        registry = tempfile.mkdtemp(dir=root)
        out = subprocess.run([sys.executable, "-c", CHILD, src, registry], capture_output=True, text=True, check=True)
        result = json.loads(out.stdout)
        logs.append(result["seconds"])
        rss.append(result["rss"] / MiB)
        shutil.rmtree(registry)
    label = f"log 1 file of {size_mb:,} MiB"
    peak = max(rss)
    return [
        row(label, logs, floor, None),
        row(f"{label} vs copy+fsync", logs, copies, None),
        ("peak RSS of that log", f"{peak:.1f} MiB", "-", "-", "<= 100 MiB", yes_no(peak <= 100)),
    ]


def settle() -> None:
    """Let the kernel finish writing back earlier runs' data, so it does not slow this one."""
    os.sync()


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


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def row(op: str, times: list[float], floors: list[float], target: float | None) -> tuple[str, ...]:
    ours, floor = statistics.median(times), statistics.median(floors)
    ratio = ours / floor
    if target is None:
        return (op, f"{ours:.3f} s", f"{floor:.3f} s", f"{ratio:.2f}x", "-", "-")
    return (op, f"{ours:.3f} s", f"{floor:.3f} s", f"{ratio:.2f}x", f"<= {target}x", yes_no(ratio <= target))


def yes_no(met: bool) -> str:
    return "yes" if met else "NO"


def print_table(rows: list[tuple[str, ...]]) -> None:
    header = ("operation", "artreg", "floor", "ratio", "target", "met")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, tuple("-" * w for w in widths), *rows]:
        print("  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(r, widths, strict=False))))


if __name__ == "__main__":
    sys.exit(main())
