"""Whether an artifact of 1,000,000 tiny entries logs in bounded memory and reads back streamed.

    python benchmarks/bench_scale.py            # 1,000,000 files (~4 GiB of /tmp; about 8 minutes here)
    python benchmarks/bench_scale.py --quick    # 100,000
    python benchmarks/bench_scale.py --incremental   # only the new_draft() rows (~1 minute)

The files (``entry <k>``: distinct bytes, so every one is its own inline blob) are written
in 1,000-file folders under one ``tempfile.mkdtemp()`` folder, removed at the end, with
``os.open``/``os.write`` in a tight loop; that set-up is timed and shown apart. One run
(the workload is too long to repeat). Rows:

- ``create N files (set-up)``: information only, what the files cost to make.
- ``log N tiny entries``: ``add_dir`` + ``log_artifact`` in a child process into a fresh
  registry folder; the floor is reading and sha256-hashing every file in this process
  (information: there is no ratio target). Target: completes.
- ``peak RSS of that log``: the child's VmHWM after the log minus after its imports.
  Target <= 1 GiB.
- ``files() of that version``: a second child iterates ``v.files()`` over all entries
  (checking the count); its VmHWM growth while iterating is the row's value. Streaming
  keeps it to a few MiB (SQLite's 2 MiB page cache and the current row); a list of every
  entry would be hundreds. Target <= 16 MiB.
- ``new_draft() + 1 changed file, logged``: a third child makes five versions, each a
  ``new_draft()`` of the latest with one file replaced (in a different chunk each time),
  logged: the median time from ``new_draft()`` to the logged version (SPEC §22: a version
  costs what it changes). Target <= 200 ms.
- ``database growth of that version``: the database's pages in use (page count minus free
  pages, the WAL's included) after each of those logs minus before, median (and the largest
  of the five). Target <= 1 MiB.

``--incremental`` skips the files: the version the log would make of them (blob rows and
manifest) is written straight into a registry through the chunk store, and only the last
two rows are measured on it.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import Any

from _bench import DB_BYTES, PEAK, MiB, describe, print_table, run_child, settle, timed, yes_no

PER_FOLDER = 1000

LOG = PEAK + """
import json, sys, time
import artreg

src, folder = sys.argv[1:]
reg = artreg.open(folder)
baseline = peak()
started = time.perf_counter()
art = artreg.Artifact("tiny", type="dataset")
art.add_dir(src)
version = reg.log_artifact(art, project="bench")
print(json.dumps({"seconds": time.perf_counter() - started, "rss": peak() - baseline, "files": version.file_count}))
"""

FILES = PEAK + """
import json, sys, time
import artreg

reg = artreg.open(sys.argv[1])
version = reg.artifact("bench/tiny")
baseline = peak()
started = time.perf_counter()
count = sum(1 for _ in version.files())
print(json.dumps({"seconds": time.perf_counter() - started, "rss": peak() - baseline, "files": count}))
"""

# A new version of that one with one file changed, through new_draft(), five times.
INCREMENT = DB_BYTES + """
import json, statistics, sys, time
import artreg

reg = artreg.open(sys.argv[1])
times, growth = [], []
for run in range(5):
    version = reg.artifact("bench/tiny")
    before = db_bytes(reg)
    started = time.perf_counter()
    draft = version.new_draft()
    folder = run * 97 % (version.file_count // 1000)
    with draft.new_file(f"{folder:04d}/{folder * 1000 + 7:07d}", mode="wb", overwrite=True) as f:
        f.write(b"changed %d\\n" % run)
    new = reg.log_artifact(draft, project="bench")
    times.append(time.perf_counter() - started)
    growth.append(db_bytes(reg) - before)
    assert new.index == version.index + 1 and new.file_count == version.file_count
print(json.dumps({"seconds": statistics.median(times), "growth": statistics.median(growth), "most": max(growth),
                  "times": times, "growths": growth}))
"""


def increment_rows(step: dict[str, Any]) -> list[tuple[str, ...]]:
    return [
        ("new_draft() + 1 changed file, logged", f"{step['seconds'] * 1000:.0f} ms", "-", "-", "<= 200 ms", yes_no(step["seconds"] <= 0.2)),
        (f"database growth of that version (most {step['most'] / 1024:.0f} KiB)", f"{step['growth'] / 1024:.0f} KiB", "-", "-",
         "<= 1024 KiB", yes_no(step["most"] <= 1 << 20)),
    ]


def each_run(step: dict[str, Any]) -> str:
    return (f"\nnew_draft() + 1 changed file, each run: {', '.join(f'{t * 1000:.0f} ms' for t in step['times'])}; "
            f"growth {', '.join(f'{g / 1024:.0f} KiB' for g in step['growths'])}")


def create(src: str, count: int) -> None:
    """``count`` files of a few bytes each, ``PER_FOLDER`` to a folder."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    os.mkdir(src)
    for k in range(count):
        if k % PER_FOLDER == 0:
            folder = os.path.join(src, f"{k // PER_FOLDER:04d}")
            os.mkdir(folder)
        fd = os.open(f"{folder}/{k:07d}", flags, 0o644)
        os.write(fd, b"entry %d\n" % k)
        os.close(fd)


def hash_tree(src: str) -> int:
    """The floor: read and sha256 every file."""
    count = 0
    for folder, _dirs, names in os.walk(src):
        for name in names:
            with open(os.path.join(folder, name), "rb") as f:
                hashlib.sha256(f.read()).hexdigest()
            count += 1
    return count


def write_direct(registry: str, count: int) -> None:
    """The version ``log_artifact`` makes of ``create``'s files, written straight into the
    registry (blob rows and the manifest through the chunk store), without the files."""
    import artreg
    from artreg._log_artifact import INSERT_VERSION
    from artreg.storage import _chunks

    def rows() -> Iterator[tuple[str, str, int, None, str]]:
        for k in range(count):
            data = b"entry %d\n" % k
            yield f"{k // PER_FOLDER:04d}/{k:07d}", hashlib.sha256(data).hexdigest(), len(data), None, "{}"

    with artreg.open(registry) as reg:
        first = reg.log_artifact(artreg.Artifact("tiny", type="dataset"), project="bench")
        with reg._db.write() as con:
            con.executemany("INSERT INTO blobs(digest, size, data) VALUES (?, ?, ?)",
                            ((digest, size, b"entry %d\n" % k) for k, (_, digest, size, _, _) in enumerate(rows())))
            version = con.execute(INSERT_VERSION, (first._collection_id, 1, "-", 0, 0, None, "{}", "2026-01-01T00:00:00.000000Z",
                                                   "bench", "inherit", None)).fetchone()[0]  # type: ignore[index]
            digest, files, size = _chunks.write_sorted(con, version, rows())
            con.execute("UPDATE versions SET digest = ?, size = ?, file_count = ? WHERE id = ?", (digest, size, files, version))
            con.execute("UPDATE collections SET next_index = 2 WHERE id = ?", (first._collection_id,))
            con.execute("UPDATE aliases SET version_id = ? WHERE alias = 'latest' AND collection_id = ?", (version, first._collection_id))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100,000 entries")
    parser.add_argument("--incremental", action="store_true",
                        help="only the new_draft() rows, on the version written straight into the registry (no files)")
    args = parser.parse_args(argv)
    count = 100_000 if args.quick else 1_000_000
    root = tempfile.mkdtemp(prefix="artreg-bench-")
    try:
        print(describe(root) + "\n")
        if args.incremental:
            registry = os.path.join(root, "registry")
            write_direct(registry, count)
            settle()
            step = run_child(INCREMENT, registry)
            print_table(increment_rows(step))
            print(each_run(step))
            return 0
        src = os.path.join(root, "tiny")
        settle()
        made = timed(lambda: create(src, count))
        settle()
        floor = timed(lambda: hash_tree(src))
        time.sleep(0.1)  # past the stat cache's racy window
        registry = os.path.join(root, "registry")
        settle()
        log = run_child(LOG, src, registry)
        files = run_child(FILES, registry)
        settle()
        step = run_child(INCREMENT, registry)
        if log["files"] != count or files["files"] != count:
            raise SystemExit(f"expected {count} entries, logged {log['files']} and read {files['files']}")
        log_rss, files_rss = log["rss"] / MiB, files["rss"] / MiB
        print_table([
            (f"create {count:,} files (set-up)", f"{made:.1f} s", "-", "-", "-", "-"),
            (f"log {count:,} tiny entries", f"{log['seconds']:.1f} s", f"{floor:.1f} s",
             f"{log['seconds'] / floor:.2f}x", "completes", "yes"),
            ("peak RSS of that log", f"{log_rss:.0f} MiB", "-", "-", "<= 1024 MiB", yes_no(log_rss <= 1024)),
            (f"files() of that version ({files['seconds']:.1f} s)", f"{files_rss:.1f} MiB", "-", "-",
             "<= 16 MiB", yes_no(files_rss <= 16)),
            *increment_rows(step),
        ])
        print(each_run(step))
    finally:
        shutil.rmtree(root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
