"""The multi-process and crash tests at soak size, not in CI: 8 processes x 1,000 operations, 1,000 kills.

    python benchmarks/soak.py                 # both; about an hour on two busy cores
    python benchmarks/soak.py --only crash    # or --only concurrency
    python benchmarks/soak.py --seed 11       # another seed (default 7, as in CI)

It runs the test suite's own tests (``tests/test_concurrency.py``, ``tests/test_crash.py``)
with their scale knobs turned up, so the soak checks exactly what CI checks, only longer:

- concurrency: ``ARTREG_TEST_WORKERS=8`` and ``ARTREG_TEST_SCALE=4``: 8 processes x 1,000
  seeded random logs, alias moves, links, deletions and gc on one collection; then every
  invariant (gap-free indices, one holder per alias, whole versions, a clean ``check()``,
  the audit chain). Also 20 rounds of 8 processes creating one new registry at once.
- crash: ``ARTREG_TEST_SCALE=16.7``: 501 SIGKILLs while logging, 400 while logging with gc on
  a second thread and 100 while creating a registry (1,001 kill points at seeded random
  moments), each followed by the full consistency check.

Prints each test's outcome, time and the figures it reports; exits non-zero if any failed.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SUITES = {
    "concurrency": (["tests/test_concurrency.py"], {"ARTREG_TEST_WORKERS": "8", "ARTREG_TEST_SCALE": "4"}),
    "crash": (["tests/test_crash.py"], {"ARTREG_TEST_SCALE": "16.7"}),
}
# What the tests print: "seed 7: 8x1000 ops, ..." and the crash tests' statistics dicts
# (with -q, after the progress dots of the tests before, not at the start of a line).
FIGURES = re.compile(r"seed \d+: [^\n]*|\{'kills'[^\n]*\}")


def run(name: str, seed: int) -> bool:
    tests, env = SUITES[name]
    # A base temp folder of its own: pytest prunes old numbered ones, which other pytest runs
    # on the machine would otherwise do to this one's during an hour-long soak.
    basetemp = tempfile.mkdtemp(prefix=f"artreg-soak-{name}-")
    command = [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", "-p", "no:randomly",
               f"--basetemp={basetemp}", *tests]
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p),
                   "ARTREG_TEST_SEED": str(seed), **env}
    print(f"== {name}: {' '.join(f'{k}={v}' for k, v in env.items())} ARTREG_TEST_SEED={seed}", flush=True)
    started = time.monotonic()
    done = subprocess.run(command, cwd=REPO, env=environment, capture_output=True, text=True)
    elapsed = time.monotonic() - started
    for figure in FIGURES.findall(done.stdout):
        print(f"   {figure}")
    summary = (done.stdout.strip().splitlines() or ["(no output)"])[-1]
    print(f"   {summary}  [{elapsed / 60:.1f} min]", flush=True)
    if done.returncode != 0:
        print(done.stdout[-20_000:], done.stderr[-5_000:], sep="\n", file=sys.stderr)
    shutil.rmtree(basetemp, ignore_errors=True)
    return done.returncode == 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--only", choices=sorted(SUITES), help="run one of the two")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    names = [args.only] if args.only else list(SUITES)
    results = [run(name, args.seed) for name in names]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
