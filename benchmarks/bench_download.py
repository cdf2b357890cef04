"""How fast ``v.download()`` materialises a version, against copying the original folder.

    python benchmarks/bench_download.py            # 10,000 x 4 KiB files, a 1 GiB file (~2.5 GiB of /tmp)
    python benchmarks/bench_download.py --quick    # 2,000 files, a 256 MiB file

The files (random bytes, fixed seed) are logged once into a registry folder under one
``tempfile.mkdtemp()`` folder, removed at the end; each download goes to a fresh folder
there. Times are medians of several runs, each floor measured in the same run, interleaved
with artreg's, with written-back data synced before each timing. Rows:

- ``download N x 4 KiB files (copy)``: ``download(root, link="copy")`` (the small files are
  inline blobs, read from the database and checked against their digest as they are
  written). Floor: ``shutil.copytree`` of the original folder. Target <= 2x.
- ``download 1 file of S MiB, hardlink``: ``download(root, link="hardlink")`` of a version
  holding one big file (a blob file in ``objects/``). Target <= 50 ms.
- ``... reflink``: the same with ``link="reflink"``; "unsupported" when a probe finds that
  the filesystem cannot clone files (ext4 cannot; XFS, Btrfs and APFS can).
"""

from __future__ import annotations

import argparse
import fcntl
import os
import random
import shutil
import statistics
import sys
import tempfile
from functools import partial

from _bench import MiB, describe, print_table, ratio_row, settle, timed, yes_no

import artreg

SEED = 20240602
FILE_SIZE = 4096
FICLONE = 0x40049409  # linux/fs.h: _IOW(0x94, 9, int)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 files, a 256 MiB file, 3 runs")
    args = parser.parse_args(argv)
    files, size_mb, runs = (2_000, 256, 3) if args.quick else (10_000, 1024, 5)
    root = tempfile.mkdtemp(prefix="artreg-bench-")
    try:
        print(describe(root) + "\n")
        with artreg.open(os.path.join(root, "registry")) as reg:
            rows = bench_small(reg, root, files, runs) + bench_big(reg, root, size_mb, runs)
        print_table(rows)
    finally:
        shutil.rmtree(root)
    return 0


def bench_small(reg: artreg.Registry, root: str, count: int, runs: int) -> list[tuple[str, ...]]:
    rng = random.Random(SEED)
    src = os.path.join(root, "files")
    os.mkdir(src)
    for i in range(count):
        with open(os.path.join(src, f"{i:05d}.bin"), "wb") as f:
            f.write(rng.randbytes(FILE_SIZE))
    art = artreg.Artifact("files", type="dataset")
    art.add_dir(src)
    version = reg.log_artifact(art, project="bench")

    ours, floor = [], []
    for run in range(runs):
        dest = os.path.join(root, f"copytree-{run}")
        settle()
        floor.append(timed(partial(shutil.copytree, src, dest)))
        shutil.rmtree(dest)
        settle()
        ours.append(timed(partial(version.download, dest)))
        shutil.rmtree(dest)
    return [ratio_row(f"download {count:,} x 4 KiB files (copy)", ours, floor, 2.0)]


def bench_big(reg: artreg.Registry, root: str, size_mb: int, runs: int) -> list[tuple[str, ...]]:
    rng = random.Random(SEED + 1)
    src = os.path.join(root, "big.bin")
    with open(src, "wb") as f:
        for _ in range(size_mb):
            f.write(rng.randbytes(MiB))
    art = artreg.Artifact("big", type="model")
    art.add_file(src)
    version = reg.log_artifact(art, project="bench")
    os.unlink(src)  # only the registry's copy is needed from here on
    rows = []
    for link in ("hardlink", "reflink"):
        label = f"download 1 file of {size_mb:,} MiB, {link}"
        if link == "reflink" and not reflink_supported(root):
            rows.append((label, "unsupported", "-", "-", "<= 50 ms", "-"))
            continue
        times = []
        for run in range(runs):
            dest = os.path.join(root, f"{link}-{run}")
            settle()
            times.append(timed(partial(version.download, dest, link=link)))
            shutil.rmtree(dest)
        ms = statistics.median(times) * 1000
        rows.append((label, f"{ms:.1f} ms", "-", "-", "<= 50 ms", yes_no(ms <= 50)))
    return rows


def reflink_supported(folder: str) -> bool:
    """Whether the filesystem of ``folder`` can clone a file (the FICLONE ioctl)."""
    src, dst = os.path.join(folder, "probe-src"), os.path.join(folder, "probe-dst")
    with open(src, "wb") as f:
        f.write(b"x" * 4096)
    try:
        with open(src, "rb") as a, open(dst, "wb") as b:
            fcntl.ioctl(b.fileno(), FICLONE, a.fileno())
        return True
    except OSError:
        return False
    finally:
        os.unlink(src)
        os.unlink(dst)

if __name__ == "__main__":
    sys.exit(main())
