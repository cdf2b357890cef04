"""Run every ``bench_*.py`` here in turn and print their tables.

    python benchmarks/run.py            # the full workloads (about 10 minutes here; up to ~4 GiB of /tmp)
    python benchmarks/run.py --quick    # smaller workloads: under two minutes on 2 cores

Each script runs as a child process with ``PYTHONPATH`` set to this repository's root, so
the tables measure this checkout; ``--quick`` is passed through. Exits non-zero if a
script failed (not when a target is missed: the tables say that).
"""

from __future__ import annotations

import argparse
import glob
import os
import subprocess
import sys
import time

from _bench import child_env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="pass --quick to every script")
    args = parser.parse_args(argv)
    here = os.path.dirname(os.path.abspath(__file__))
    failed = []
    began = time.perf_counter()
    for script in sorted(glob.glob(os.path.join(here, "bench_*.py"))):
        name = os.path.basename(script)
        print(f"== {name}", flush=True)
        started = time.perf_counter()
        done = subprocess.run([sys.executable, script, *(["--quick"] if args.quick else [])], env=child_env())
        if done.returncode != 0:
            failed.append(name)
        print(f"({time.perf_counter() - started:.1f} s)\n", flush=True)
    print(f"all done in {time.perf_counter() - began:.0f} s" + (f"; FAILED: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
