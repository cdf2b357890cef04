"""How fast ``artreg://`` (fsspec) and ``path()`` read a version in place, against the blob file itself.

    python benchmarks/bench_fsspec.py            # a 1 GiB entry (1 GiB of /tmp)
    python benchmarks/bench_fsspec.py --quick    # a 256 MiB entry

One entry of random bytes (fixed seed) is logged into a registry folder under one
``tempfile.mkdtemp()`` folder, removed at the end. Every timing is a median of several runs,
artreg's interleaved with its floor's, all with the file in the page cache (one untimed read
first), so they compare the code paths and not the disk; which of a pair goes first
alternates. Rows:

- ``read S MiB, fsspec.open``: ``fsspec.open("artreg://bench/big:v0/big.bin").open()`` then
  ``readinto`` a 1 MiB buffer to the end. Floor: ``open()`` of the blob file, read the same way.
  Target: throughput >= 0.9x the floor's.
- ``N random 4 KiB ranges, one handle``: ``seek`` + ``read(4096)`` at seeded random offsets
  through one file from ``fs.open``; floor: the same on one ``open()`` of the blob file with
  the same buffer size (8 KiB). Target >= 0.9x. (``open()``'s default buffer here is the
  file system's 4 KiB block, with which CPython reads 4 KiB ranges two to five times slower
  than with 8 KiB on this machine, so the default would flatter artreg.)
- ``cat_file(start, end), per call``: one ``fs.cat_file(path, start, start + 4096)`` per range,
  each resolving the path and opening the file (microseconds per call; floor ``os.pread`` on an
  open descriptor, which resolves and opens nothing: information, no target).
- ``v.path(name), per call``: the blob file's path, resolved again each call (information).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time

from _bench import MiB, describe, print_table, settle, timed, yes_no

import artreg
from artreg.filesystem import BUFFER, ArtregFileSystem

SEED = 20240620
CHUNK = MiB
RANGE = 4096


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a 256 MiB entry, 8 runs (else 20)")
    args = parser.parse_args(argv)
    size_mb, runs, ranges = (256, 8, 10_000) if args.quick else (1024, 20, 50_000)
    import fsspec

    fsspec.register_implementation("artreg", ArtregFileSystem, clobber=True)  # this checkout's, whatever is installed
    root = tempfile.mkdtemp(prefix="artreg-bench-")
    try:
        print(describe(root) + "\n")
        with artreg.open(os.path.join(root, "registry")) as reg:
            v = log_big(reg, root, size_mb)
            blob = v.path("big.bin")
            fs = fsspec.filesystem("artreg", registry=reg)
            url = "artreg://bench/big:v0/big.bin"
            rows = [
                read_whole(fsspec, reg, url, blob, size_mb, runs),
                read_ranges(fs, url, blob, size_mb, runs, ranges),
                *per_call(fs, v, url, blob, size_mb),
            ]
        print_table(rows)
    finally:
        shutil.rmtree(root)
    return 0


def log_big(reg: artreg.Registry, root: str, size_mb: int) -> artreg.ArtifactVersion:
    rng = random.Random(SEED)
    source = os.path.join(root, "big.bin")
    with open(source, "wb") as f:
        for _ in range(size_mb):
            f.write(rng.randbytes(MiB))
    art = artreg.Artifact("big", type="dataset")
    art.add_file(source)
    version = reg.log_artifact(art, project="bench")
    os.unlink(source)
    settle()
    return version


def drain(f: object) -> int:
    """Read to the end, 1 MiB at a time into one buffer (a fresh 1 MiB object per read would
    time the allocator's page faults as much as the read)."""
    buf = bytearray(CHUNK)
    total = 0
    while n := f.readinto(buf):  # type: ignore[attr-defined]
        total += n
    return total


def read_whole(fsspec: object, reg: artreg.Registry, url: str, blob: str, size_mb: int, runs: int) -> tuple[str, ...]:
    def ours() -> None:
        with fsspec.open(url, "rb", registry=reg) as f:  # type: ignore[attr-defined]
            assert drain(f) == size_mb * MiB

    def floor() -> None:
        with open(blob, "rb") as f:
            assert drain(f) == size_mb * MiB

    floor()  # into the page cache
    mine, base = interleaved(ours, floor, runs)
    return throughput_row(f"read {size_mb:,} MiB, fsspec.open", mine, base, size_mb * MiB)


def read_ranges(fs: ArtregFileSystem, url: str, blob: str, size_mb: int, runs: int, count: int) -> tuple[str, ...]:
    offsets = [random.Random(SEED + 1).randrange(size_mb * MiB - RANGE) for _ in range(count)]

    def through(f: object) -> None:
        for offset in offsets:
            f.seek(offset)  # type: ignore[attr-defined]
            assert len(f.read(RANGE)) == RANGE  # type: ignore[attr-defined]

    def ours() -> None:
        with fs.open(url) as f:
            through(f)

    def floor() -> None:
        with open(blob, "rb", buffering=BUFFER) as f:
            through(f)

    mine, base = interleaved(ours, floor, runs)
    return throughput_row(f"{count:,} random 4 KiB ranges, one handle", mine, base, count * RANGE)


def interleaved(ours: object, floor: object, runs: int) -> tuple[list[float], list[float]]:
    """Times of ``runs`` calls of each, alternating which goes first (the second of a pair
    tends to run on warmer caches; alternating cancels that out of the medians)."""
    mine, base = [], []
    for run in range(runs):
        pair = [(mine, ours), (base, floor)]
        for times, fn in pair if run % 2 else reversed(pair):
            times.append(timed(fn))  # type: ignore[arg-type]
    return mine, base


def per_call(fs: ArtregFileSystem, v: artreg.ArtifactVersion, url: str, blob: str, size_mb: int) -> list[tuple[str, ...]]:
    rng = random.Random(SEED + 2)
    offsets = [rng.randrange(size_mb * MiB - RANGE) for _ in range(1_000)]
    fd = os.open(blob, os.O_RDONLY)
    try:
        cat = [_micro(lambda o=o: fs.cat_file(url, o, o + RANGE)) for o in offsets]
        pread = [_micro(lambda o=o: os.pread(fd, RANGE, o)) for o in offsets]
    finally:
        os.close(fd)
    paths = [_micro(lambda: v.path("big.bin")) for _ in range(1_000)]
    return [
        ("cat_file(start, end), per call", f"{statistics.median(cat):.0f} us", f"{statistics.median(pread):.1f} us", "-", "-", "-"),
        ("v.path(name), per call", f"{statistics.median(paths):.0f} us", "-", "-", "-", "-"),
    ]


def _micro(fn: object) -> float:
    started = time.perf_counter()
    fn()  # type: ignore[operator]
    return (time.perf_counter() - started) * 1e6


def throughput_row(op: str, mine: list[float], base: list[float], nbytes: int) -> tuple[str, ...]:
    """Medians as MiB/s and artreg's throughput over the floor's (target >= 0.9x)."""
    ours, floor = nbytes / statistics.median(mine) / MiB, nbytes / statistics.median(base) / MiB
    ratio = ours / floor
    return (op, f"{ours:,.0f} MiB/s", f"{floor:,.0f} MiB/s", f"{ratio:.2f}x", ">= 0.9x", yes_no(ratio >= 0.9))


if __name__ == "__main__":
    sys.exit(main())
