"""SPEC §23 (issue 13, items 5, 6, 8 and 9): what other writers do never breaks this one.

A write inside a ``files()`` loop waits for the lock like any other, though another process
committed since the loop began; ``check()`` says ok on a healthy registry while other
processes log, link and tag; a ``:memory:`` registry is shared by threads; and a registry
file deleted or replaced while open is reported as such, to this process and to others,
instead of taking writes that are then lost.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import artreg
from conftest import child_env, make, readline

# A child that logs into the registry at argv[1] each time it reads a line, printing "committed".
COMMITTER = """
import sys
import artreg
with artreg.open(sys.argv[1], inline_limit=1024) as reg:
    print("ready", flush=True)
    n = 0
    for _ in sys.stdin:
        art = artreg.Artifact("other", type="dataset")
        with art.new_file("n.txt") as f:
            f.write(str(n))
        reg.log_artifact(art, project="elsewhere")
        n += 1
        print("committed", flush=True)
"""


def start_committer(registry: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", COMMITTER, str(registry)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=child_env(),
    )
    assert readline(proc, time.monotonic() + 60) == "ready\n"
    return proc


def commit_elsewhere(proc: subprocess.Popen[str]) -> None:
    """Have the child commit one version, and wait until it has."""
    assert proc.stdin is not None
    proc.stdin.write("go\n")
    proc.stdin.flush()
    assert readline(proc, time.monotonic() + 60) == "committed\n"


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.stdin is not None:
        proc.stdin.close()
    proc.wait(timeout=60)
    if proc.stdout is not None:
        proc.stdout.close()


def test_a_write_inside_a_files_loop_waits_though_another_process_committed(tmp_path: Path) -> None:
    registry = tmp_path / "reg"
    with artreg.open(registry, inline_limit=1024) as reg:
        v = reg.log_artifact(make(**{f"f{i:04d}": f"{i}" for i in range(2500)}), project="p")  # 3 pages of files()
        committer = start_committer(registry)
        try:
            seen = []
            for i, entry in enumerate(v.files()):
                seen.append(entry.path)
                if i in (0, 1500, 2499):  # the first page, a later one, the last entry
                    commit_elsewhere(committer)
                    v.aliases.append(f"seen-{i}")
                    v.save()  # Busy at once before: a read snapshot older than the other commit
                    v.metadata[f"at{i}"] = entry.path
                    v.save()
        finally:
            stop(committer)
        assert seen == [f"f{i:04d}" for i in range(2500)]
        assert {"seen-0", "seen-1500", "seen-2499"} <= set(reg.artifact("p/ds").aliases)
        assert len(reg.artifacts("elsewhere", "other")) == 3


# -- check() while others write -----------------------------------------------------------

# Logs (blob files of up to 2 MB, so some are always between their write and their commit),
# links, tags and describes versions until argv[3] seconds have passed; prints how many.
WRITER = """
import random, sys, time
import artreg
path, seed, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
rng = random.Random(seed)
logged = 0
end = time.monotonic() + seconds
with artreg.open(path, inline_limit=1024) as reg:
    while time.monotonic() < end:
        art = artreg.Artifact(f"m{rng.randrange(4)}", type="model", description=f"run {logged} of writer {seed}")
        with art.new_file("weights.bin", mode="wb") as f:
            f.write(rng.randbytes(rng.choice([300, 5_000, 2_000_000])))
        v = reg.log_artifact(art, project="p", aliases=[rng.choice(["best", "prod"])], tags=[f"t{rng.randrange(9)}"])
        if rng.random() < 0.3:
            v.link("wandb-registry-model/zoo", aliases=["candidate"])
        logged += 1
print(logged, flush=True)
"""


def test_check_says_ok_on_a_healthy_registry_while_other_processes_write(tmp_path: Path) -> None:
    """It said "fts5: corruption found" in most calls (FTS5's check on a connection that had
    read the file before), and listed the blob files of logs still in flight as orphans."""
    registry = tmp_path / "reg"
    artreg.open(registry, inline_limit=1024).close()
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(registry), str(seed), "8"], stdout=subprocess.PIPE, text=True, env=child_env())
        for seed in range(3)
    ]
    reports = []
    try:
        with artreg.open(registry, inline_limit=1024) as reg:
            while any(w.poll() is None for w in writers):
                reports.append(reg.check())
        logged = [int(w.communicate(timeout=60)[0]) for w in writers]
    finally:
        for w in writers:
            if w.poll() is None:
                w.kill()
                w.communicate()
    assert all(w.returncode == 0 for w in writers)
    assert sum(logged) > 20 and len(reports) > 3, (logged, len(reports))
    bad = [r for r in reports if not r.ok]
    assert bad == [], f"{len(bad)} of {len(reports)} checks reported damage: {bad[0]}"
    with artreg.open(registry, inline_limit=1024) as reg:
        assert reg.check().ok


# -- the database file deleted or replaced while open ---------------------------------------


@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_a_registry_file_deleted_or_replaced_while_open_takes_no_more_writes(tmp_path: Path, how: str) -> None:
    """SQLite keeps writing to the file it opened: the next log returned ds:v1, in a file
    nobody could open any more."""
    path = tmp_path / "reg"
    with artreg.open(path, inline_limit=1024) as reg:
        v0 = reg.log_artifact(make(a=b"0"), project="p")
        if how == "deleted":
            os.unlink(path / "registry.db")
        else:
            with artreg.open(tmp_path / "other.db") as other:
                other.log_artifact(make("else", a=b"e"), project="q")
            os.replace(tmp_path / "other.db", path / "registry.db")
        with pytest.raises(artreg.SchemaError, match="deleted or replaced while it was open"):
            reg.log_artifact(make(a=b"1"), project="p")
        v0.aliases.append("best")
        with pytest.raises(artreg.SchemaError, match="deleted or replaced while it was open"):
            v0.save()
        with pytest.raises(artreg.SchemaError, match="deleted or replaced while it was open"):
            reg.gc()


# A child that opened the registry at argv[1] before its file was deleted: logs on each line it reads.
STALE = """
import json, sys
import artreg
with artreg.open(sys.argv[1], inline_limit=1024) as reg:
    reg.log_artifact(artreg.Artifact("ds", type="dataset"), project="p")
    print("ready", flush=True)
    for line in sys.stdin:
        try:
            v = reg.log_artifact(artreg.Artifact("ds", type="dataset", metadata={"n": line.strip()}), project="p")
            print(json.dumps({"logged": v.name}), flush=True)
        except Exception as exc:
            print(json.dumps({"error": type(exc).__name__, "message": str(exc)}), flush=True)
"""


def test_other_processes_get_a_clear_error_when_the_file_is_deleted_under_them(tmp_path: Path) -> None:
    """One process holds the registry open when its file is deleted. A process opening the
    path afterwards would have made a new file that shares the old one's WAL (found by name)
    and failed with "disk I/O error"; now it is told why, and so is the first process."""
    path = tmp_path / "reg"
    stale = subprocess.Popen(
        [sys.executable, "-c", STALE, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=child_env()
    )
    try:
        assert readline(stale, time.monotonic() + 60) == "ready\n"
        os.unlink(path / "registry.db")
        with pytest.raises(artreg.SchemaError, match="is missing but .*-wal"):
            artreg.open(path)
        assert not (path / "registry.db").exists()  # nothing was created on top of the old WAL
        assert stale.stdin is not None
        stale.stdin.write("1\n")
        stale.stdin.flush()
        answer = json.loads(readline(stale, time.monotonic() + 60))
        assert answer.get("error") == "SchemaError" and "deleted or replaced" in answer["message"], answer
    finally:
        stop(stale)
    with pytest.raises(artreg.SchemaError, match="remove those files too"):
        artreg.open(path)
    for leftover in ("registry.db-wal", "registry.db-shm"):
        (path / leftover).unlink(missing_ok=True)
    with artreg.open(path) as reg:  # as the message says: then a new registry can be made there
        assert reg.collections() == []


# -- a :memory: registry shared by threads ----------------------------------------------------


def test_threads_share_a_memory_registry(tmp_path: Path) -> None:
    """Eight threads log, move aliases, link, read, search, filter, download, delete and gc on
    one ``:memory:`` registry: every call is serialised on its one connection, none sees
    apsw's ThreadingViolationError, and the invariants hold afterwards."""
    from invariants import assert_consistent

    reg = artreg.open(":memory:")
    errors: list[str] = []
    start = threading.Barrier(8)

    def work(who: int) -> None:
        rng = random.Random(who)
        start.wait()
        for step in range(60):
            try:
                op = rng.choice(["log", "log", "alias", "link", "read", "files", "search", "filter", "download", "delete", "gc"])
                versions = reg.artifacts("p", "ds") if op not in ("log", "search", "filter", "gc") else []
                if op == "log":
                    reg.log_artifact(make(a=f"{who}-{step % 5}", big=bytes(rng.randrange(2000))), project="p", aliases=["best"])
                elif op == "search":
                    reg.search("best")
                elif op == "filter":
                    reg.versions({"alias": "best"}, project="p")
                elif op == "gc":
                    reg.gc()
                elif versions:
                    v = rng.choice(versions)
                    if op == "alias":
                        v.aliases.append(rng.choice(["prod", "staging"]))
                        v.save()
                    elif op == "link":
                        v.link("wandb-registry-dataset/shared", aliases=["candidate"])
                    elif op == "read":
                        reg.artifact(f"p/ds:{v.version}").get_entry("a")
                    elif op == "files":
                        assert [e.path for e in v.files()] == ["a", "big"]
                    elif op == "download":
                        try:
                            v.download(tmp_path / f"t{who}")
                        except artreg.IntegrityError:
                            # Deleted by another thread meanwhile, and its blobs collected.
                            with pytest.raises(artreg.NotFound):
                                reg.artifact(v.qualified_name)
                    elif op == "delete":
                        v.delete(delete_aliases=True)
            except artreg.NotFound:
                pass  # another thread deleted the version first
            except Exception as exc:
                errors.append(f"{who}/{step} {op}: {type(exc).__module__}.{type(exc).__qualname__}: {exc}")

    threads = [threading.Thread(target=work, args=(who,)) for who in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    try:
        assert not any(thread.is_alive() for thread in threads), "a thread hung"
        assert errors == []
        assert_consistent(reg)
        assert len(reg.artifacts("p", "ds")) >= 1 or reg.collection("p/ds")
    finally:
        reg.close()
