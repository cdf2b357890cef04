"""How fast bundles are written and read, against ``tar cf`` and ``tar xf`` of the same files.

    python benchmarks/bench_bundle.py            # 10,000 x 4 KiB files and a 1 GiB file (~5 GiB of /tmp)
    python benchmarks/bench_bundle.py --quick    # 2,000 files and a 256 MiB file, 2 runs

Each workload (random bytes, fixed seed) is a folder logged once as one version into a
registry folder under one ``tempfile.mkdtemp()`` folder, removed at the end. Each run
then measures, interleaved and with written-back data synced before each timing:

- ``export``: ``reg.export_bundle(path)`` of that registry, in a child process (its peak
  RSS is the export's alone). It writes the bundle as a temporary file, fsyncs it and
  renames it. Floor: ``tar cf`` of the original folder (no fsync).
- ``import``: ``reg.import_bundle(path)`` of that bundle into a fresh registry folder
  (created before the clock starts), in a child process. It checks every blob, fsyncs each
  blob file it stores, and commits. Floor: ``tar xf`` of tar's archive into a fresh folder
  (no fsync).
- ``... +sync``: the same operations each followed by ``sync -f`` of the filesystem, so
  both sides are timed until their data is on disk (artreg's own fsyncs make its sync
  nearly free; tar's is the writeback it left behind). Information: on this machine's
  disk the writeback of 1 GiB takes seconds, so the rows with and without it differ.

Targets: each artreg time within 1.5x of tar's in the same run; the peak RSS of every
export and import at most 100 MiB, whatever the size of the bundle (flat memory).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import tempfile
import time

from _bench import PEAK, MiB, describe, print_table, ratio_row, run_child, settle, yes_no

import artreg

SEED = 20240603
FILE_SIZE = 4096
TARGET = 1.5
RSS_TARGET = 100  # MiB

CHILD = PEAK + """
import json, os, subprocess, sys, time
import artreg

verb, registry, bundle, sync = sys.argv[1:]
baseline = peak()
reg = artreg.open(registry)
started = time.perf_counter()
if verb == "export":
    reg.export_bundle(bundle)
else:
    reg.import_bundle(bundle)
seconds = time.perf_counter() - started
if sync == "sync":
    subprocess.run(["sync", "-f", registry], check=True)
synced = time.perf_counter() - started
reg.close()
print(json.dumps({"seconds": seconds, "synced": synced, "rss": peak() - baseline}))
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 files, a 256 MiB file, 2 runs")
    args = parser.parse_args(argv)
    files, size_mb, runs = (2_000, 256, 2) if args.quick else (10_000, 1024, 3)
    root = tempfile.mkdtemp(prefix="artreg-bench-")
    try:
        print(describe(root) + "\n")
        rng = random.Random(SEED)
        small = os.path.join(root, "small")
        os.mkdir(small)
        for i in range(files):
            with open(os.path.join(small, f"{i:05d}.bin"), "wb") as f:
                f.write(rng.randbytes(FILE_SIZE))
        big = os.path.join(root, "big")
        os.mkdir(big)
        with open(os.path.join(big, "one.bin"), "wb") as f:
            for _ in range(size_mb):
                f.write(rng.randbytes(MiB))
        rows = []
        rows += bench(root, small, f"{files:,} x 4 KiB files", runs)
        rows += bench(root, big, f"1 file of {size_mb:,} MiB", runs)
        print_table(rows)
    finally:
        shutil.rmtree(root)
    return 0


def bench(root: str, folder: str, label: str, runs: int) -> list[tuple[str, ...]]:
    registry = os.path.join(root, "registry")
    with artreg.open(registry) as reg:
        art = artreg.Artifact(os.path.basename(folder), type="dataset")
        art.add_dir(folder)
        reg.log_artifact(art, project="bench")
    parent, name = os.path.split(folder)
    times: dict[str, list[float]] = {k: [] for k in ("export", "tar cf", "import", "tar xf",
                                                      "export+sync", "tar cf+sync", "import+sync", "tar xf+sync")}
    rss: list[float] = []
    bundle, archive, out, fresh = (os.path.join(root, n) for n in ("bundle.tar", "floor.tar", "out", "fresh"))
    for run in range(runs * 2):
        sync = "sync" if run % 2 else "nosync"  # odd runs are timed until the data is on disk
        suffix = "+sync" if run % 2 else ""
        settle()
        started = time.perf_counter()
        subprocess.run(["tar", "cf", archive, "-C", parent, name], check=True)
        if sync == "sync":
            subprocess.run(["sync", "-f", archive], check=True)
        times["tar cf" + suffix].append(time.perf_counter() - started)
        settle()
        result = run_child(CHILD, "export", registry, bundle, sync)
        times["export" + suffix].append(result["synced"])
        rss.append(result["rss"] / MiB)
        settle()
        os.mkdir(out)
        started = time.perf_counter()
        subprocess.run(["tar", "xf", archive, "-C", out], check=True)
        if sync == "sync":
            subprocess.run(["sync", "-f", out], check=True)
        times["tar xf" + suffix].append(time.perf_counter() - started)
        settle()
        artreg.open(fresh).close()  # the destination exists before the clock starts, as tar's folder does
        result = run_child(CHILD, "import", fresh, bundle, sync)
        times["import" + suffix].append(result["synced"])
        rss.append(result["rss"] / MiB)
        for path in (archive, bundle):
            os.unlink(path)
        shutil.rmtree(out)
        shutil.rmtree(fresh)
    shutil.rmtree(registry)
    peak = max(rss)
    return [
        ratio_row(f"export {label}", times["export"], times["tar cf"], TARGET),
        ratio_row(f"import {label}", times["import"], times["tar xf"], TARGET),
        ratio_row("... export +sync", times["export+sync"], times["tar cf+sync"], None),
        ratio_row("... import +sync", times["import+sync"], times["tar xf+sync"], None),
        ("peak RSS of an export or import", f"{peak:.1f} MiB", "-", "-", f"<= {RSS_TARGET} MiB", yes_no(peak <= RSS_TARGET)),
    ]


if __name__ == "__main__":
    raise SystemExit(main())
