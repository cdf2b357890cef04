"""Whether several processes logging into one registry file keep up with one process.

    python benchmarks/bench_concurrent.py            # 4 processes x 250 versions vs 1 process x 1,000
    python benchmarks/bench_concurrent.py --quick    # 4 x 50 vs 1 x 200

Each child process (importing this checkout's artreg) opens the registry folder, waits
for a common start time, then logs K versions of each of its collections: a draft of one
small new file (``new_file``, distinct bytes, so every log makes a version). Four children
own one collection each; the single child logs all four collections in turn, the same
total. Throughput is versions per second from the first start to the last finish. Every
run uses a fresh registry folder under one ``tempfile.mkdtemp()`` folder (removed at the
end); the two modes alternate and the medians are shown. Afterwards each collection must
hold v0..v(K-1) and nothing else. Rows:

- ``4 processes`` against the floor ``1 process``: throughput ratio, target >= 1x (no
  collapse from lock contention).
- ``errors``: exceptions raised in children plus children that failed, target 0.
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

from _bench import child_env, describe, print_table, yes_no

import artreg

PROCESSES = 4

CHILD = """
import json, sys, time
import artreg

folder, start_at, names, count = sys.argv[1], float(sys.argv[2]), sys.argv[3].split(","), int(sys.argv[4])
reg = artreg.open(folder, user="bench")
reg.projects()  # connect before the clock starts
time.sleep(max(0.0, start_at - time.monotonic()))
errors = []
started = time.monotonic()
for name in names:
    for i in range(count):
        art = artreg.Artifact(name, type="dataset")
        with art.new_file("data.txt") as f:
            f.write(f"{name} {i}")
        try:
            reg.log_artifact(art, project="bench")
        except artreg.ArtregError as exc:
            errors.append(repr(exc))
print(json.dumps({"started": started, "ended": time.monotonic(), "errors": errors}))
"""


def run(folder: str, groups: list[list[str]], count: int) -> tuple[float, list[str]]:
    """Versions per second of one child per group of collection names, and every error."""
    start_at = time.monotonic() + 1.0  # after every child has imported artreg
    children = [
        subprocess.Popen([sys.executable, "-c", CHILD, folder, str(start_at), ",".join(names), str(count)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env())
        for names in groups
    ]
    results, errors = [], []
    for child in children:
        out, err = child.communicate()
        if child.returncode != 0:
            errors.append(f"child exited with {child.returncode}: {err.strip().splitlines()[-1:]}")
            continue
        result = json.loads(out)
        results.append(result)
        errors += result["errors"]
    errors += check(folder, [name for names in groups for name in names], count)
    if not results:
        return 0.0, errors
    span = max(r["ended"] for r in results) - min(r["started"] for r in results)
    return len(groups) * len(groups[0]) * count / span, errors


def check(folder: str, names: list[str], count: int) -> list[str]:
    """Problems with the logged collections: each must hold exactly v0..v(count-1)."""
    with artreg.open(folder, user="bench") as reg:
        found = {name: sorted(v.index for v in reg.artifacts("bench", name)) for name in names}
    return [f"{name} holds {len(indices)} versions, not v0..v{count - 1}"
            for name, indices in found.items() if indices != list(range(count))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="50 versions per collection, 2 runs")
    args = parser.parse_args(argv)
    count, runs = (50, 2) if args.quick else (250, 3)
    names = [f"c{k}" for k in range(PROCESSES)]
    root = tempfile.mkdtemp(prefix="artreg-bench-")
    try:
        print(describe(root))
        print(f"{PROCESSES} collections x {count} versions of one small file\n")
        one, many, errors = [], [], []
        for k in range(runs):
            rate, errs = run(os.path.join(root, f"one-{k}"), [names], count)
            one.append(rate)
            rate, more = run(os.path.join(root, f"many-{k}"), [[name] for name in names], count)
            many.append(rate)
            errors += errs + more
        ours, floor = statistics.median(many), statistics.median(one)
        print_table([
            (f"{PROCESSES} processes logging ({PROCESSES * count:,} versions)", f"{ours:.0f}/s", f"{floor:.0f}/s",
             f"{ours / floor:.2f}x", ">= 1x", yes_no(ours >= floor)),
            ("errors", str(len(errors)), "-", "-", "0", yes_no(not errors)),
        ])
        for error in errors[:5]:
            print(f"  {error}")
    finally:
        shutil.rmtree(root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
