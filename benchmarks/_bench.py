"""Helpers shared by the benchmark scripts: this checkout's artreg, child processes, the table.

Importing this module puts the repository root first on ``sys.path``, so a script run as
``python benchmarks/bench_x.py`` measures this checkout whatever else is installed; child
processes get the same root through ``PYTHONPATH`` (``child_env``).
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if sys.path[0] != ROOT:
    sys.path.insert(0, ROOT)

MiB = 1 << 20

# Pasted at the top of child scripts. VmHWM, not ru_maxrss: Linux carries ru_maxrss across
# exec, so a child would report its parent's high-water mark instead of its own.
PEAK = """
def peak():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))
"""

# Pasted into child scripts too: the bytes of the database in use (pages minus free pages),
# as one connection sees them (its own commits included, WAL or not).
DB_BYTES = """
def db_bytes(reg):
    con = reg._db.connection()
    pages, free, size = (con.execute(f"PRAGMA {p}").fetchone()[0] for p in ("page_count", "freelist_count", "page_size"))
    return (pages - free) * size
"""


def db_bytes(reg: Any) -> int:
    """The bytes of a registry's database in use (as ``DB_BYTES`` defines it for children)."""
    con = reg._db.connection()
    pages, free, size = (con.execute(f"PRAGMA {p}").fetchone()[0] for p in ("page_count", "freelist_count", "page_size"))
    return int((pages - free) * size)


def child_env() -> dict[str, str]:
    """The environment for a child process, importing artreg from this checkout."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")]))}


def run_child(code: str, *args: str) -> Any:
    """Run ``python -c code args...`` and return the JSON document it prints last."""
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=child_env())
    if out.returncode != 0:
        raise SystemExit(f"child failed ({out.returncode}):\n{out.stderr}")
    return json.loads(out.stdout.splitlines()[-1])


def describe(folder: str) -> str:
    """One line about the machine, so tables from different hosts are not compared blindly."""
    import apsw

    fs = subprocess.run(["stat", "-f", "-c", "%T", folder], capture_output=True, text=True).stdout.strip()
    return (
        f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"apsw {apsw.apswversion()}, SQLite {apsw.sqlite_lib_version()}, temp folder on {fs or '?'}"
    )


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def median_time(fn: Callable[[], object], repeat: int = 5) -> float:
    """The median of ``repeat`` timed calls of ``fn``."""
    return statistics.median(timed(fn) for _ in range(repeat))


def settle() -> None:
    """Let the kernel finish writing back earlier runs' data, so it does not slow the next one."""
    os.sync()


def yes_no(met: bool) -> str:
    return "yes" if met else "NO"


def ratio_row(op: str, times: list[float], floors: list[float], target: float | None) -> tuple[str, ...]:
    """A table row of medians in seconds, their ratio, and whether the ratio is within ``target``."""
    ours, floor = statistics.median(times), statistics.median(floors)
    ratio = ours / floor
    if target is None:
        return (op, f"{ours:.3f} s", f"{floor:.3f} s", f"{ratio:.2f}x", "-", "-")
    return (op, f"{ours:.3f} s", f"{floor:.3f} s", f"{ratio:.2f}x", f"<= {target}x", yes_no(ratio <= target))


def print_table(rows: list[tuple[str, ...]]) -> None:
    header = ("operation", "artreg", "floor", "ratio", "target", "met")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, tuple("-" * w for w in widths), *rows]:
        print("  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(r, widths, strict=True))))
