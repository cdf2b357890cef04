"""Child processes for the multi-process tests: ``python tests/procs.py <role> <args>``.

The tests start these with ``conftest.child_env()``, so they import this checkout's artreg.
Each role is seeded by its arguments and talks to its parent over stdin/stdout:

- ``contend PATH SEED OPS WHO``: prints ``ready``, waits for a line on stdin, then runs OPS
  random operations (log, move aliases, link, delete, gc) and prints one JSON report.
- ``crash PATH SEED VARIANT``: logs large and small versions until it is killed, printing
  ``committed <collection> <index> <digest>`` after each commit; VARIANT ``gc`` also runs gc
  on a second thread, ``fresh`` opens a new registry (to be killed while creating it),
  ``edits`` logs drafts from ``new_draft()`` of a 3,000-file version with a few edits each
  (their manifests share chunks) while gc runs on a second thread.
- ``full-disk PATH LIMIT KIND``: caps file sizes at LIMIT bytes (RLIMIT_FSIZE, SIGXFSZ
  ignored), then logs a bigger blob file (``blob``, ``blob-tail``) or more inline bytes than
  the WAL may hold (``wal``), or downloads ``p/big`` (``download``); prints the outcome as JSON.
- ``read-only PATH [UID]``: opens a registry the process may not write (as UID, if given),
  reads and verifies ``p/ds``, logs a blob file; prints the outcome as JSON.
- ``gc PATH [UID]``: runs ``gc()`` and then ``check(fix=True)`` (as UID, if given); prints both
  outcomes as JSON.
"""

from __future__ import annotations

import json
import os
import random
import resource
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

import artreg

PROJECT, NAME = "p", "m"
TARGET = "wandb-registry-model/zoo"
ALIASES = ("best", "prod", "staging")
LINK_ALIASES = ("champion", "challenger")
# Shared by every worker (not seeded per worker), so workers log identical content and dedup happens.
_POOL = random.Random(0)
CONTENTS = [_POOL.randbytes(size) for size in (100, 200, 3000, 5000)]


# -- contend -------------------------------------------------------------------------------


def _pick(reg: artreg.Registry, rng: random.Random, *, links: float = 0.0) -> artreg.ArtifactVersion | None:
    project, name = ("wandb-registry-model", "zoo") if rng.random() < links else (PROJECT, NAME)
    versions = reg.artifacts(project, name)
    return rng.choice(versions) if versions else None


def _log(reg: artreg.Registry, rng: random.Random) -> dict[str, Any]:
    art = artreg.Artifact(NAME, type="model", metadata={"by": reg.user, "at": time.time()})
    with art.new_file("weights.bin", mode="wb") as f:
        f.write(rng.choice(CONTENTS))
    with art.new_file("config.json", mode="wb") as f:
        f.write(rng.choice(CONTENTS[:2]))
    aliases = rng.sample(ALIASES, k=rng.randint(0, 1))
    version = reg.log_artifact(art, project=PROJECT, aliases=aliases)
    return {"index": version.index, "digest": version.digest}


def _move_alias(reg: artreg.Registry, rng: random.Random) -> dict[str, Any]:
    version = _pick(reg, rng, links=0.3)
    if version is None:
        return {}
    version.aliases.append(rng.choice(LINK_ALIASES if version.is_link else ALIASES))
    version.save()
    return {"index": version.index}


def _link(reg: artreg.Registry, rng: random.Random) -> dict[str, Any]:
    version = _pick(reg, rng)
    if version is None:
        return {}
    link = version.link(TARGET, aliases=[rng.choice(LINK_ALIASES)])
    return {"index": link.index}


def _delete(reg: artreg.Registry, rng: random.Random) -> dict[str, Any]:
    version = _pick(reg, rng, links=0.25)
    if version is None:
        return {}
    version.delete(delete_aliases=True)
    return {"index": version.index}


def _gc(reg: artreg.Registry, rng: random.Random) -> dict[str, Any]:
    report = reg.gc()
    return {"blobs": report.blobs}


def contend(path: str, seed: int, ops: int, who: int) -> None:
    rng = random.Random(seed)
    print("ready", flush=True)
    sys.stdin.readline()
    actions: dict[str, Callable[[artreg.Registry, random.Random], dict[str, Any]]] = {
        "log": _log,
        "alias": _move_alias,
        "link": _link,
        "delete": _delete,
        "gc": _gc,
    }
    names = list(actions)
    weights = [35, 25, 15, 17, 8]
    done: list[dict[str, Any]] = []
    errors: list[dict[str, str]] = []
    races = 0
    slowest = 0.0
    started = time.monotonic()
    with open_registry(path, inline_limit=1024, user=f"worker{who}") as reg:
        for _ in range(ops):
            action = rng.choices(names, weights)[0]
            began = time.monotonic()
            try:
                done.append({"op": action, **actions[action](reg, rng)})
            except artreg.NotFound:
                races += 1  # the version was deleted by another worker between pick and act
            except Exception as exc:
                errors.append({"op": action, "type": type(exc).__qualname__, "error": str(exc), "trace": traceback.format_exc()})
            slowest = max(slowest, time.monotonic() - began)
    report = {"who": who, "seed": seed, "done": done, "races": races, "errors": errors,
              "slowest": slowest, "elapsed": time.monotonic() - started}
    print(json.dumps(report), flush=True)


# -- crash ---------------------------------------------------------------------------------


def _crash_draft(rng: random.Random, big: bool) -> artreg.Artifact:
    count = rng.randint(1, 4)
    art = artreg.Artifact("big" if big else "small", type="dataset", metadata={"files": count})
    for i in range(count):
        with art.new_file(f"part{i}.bin", mode="wb") as f:
            f.write(rng.randbytes(rng.randint(5_000, 120_000) if big else rng.randint(1, 900)))
    return art


def _gc_loop(path: str, stop: threading.Event) -> None:
    with open_registry(path, inline_limit=1024) as reg:
        while not stop.is_set():
            reg.gc()


def _edited(rng: random.Random, reg: artreg.Registry) -> artreg.Artifact:
    """The next version of the collection ``edits``: 3,000 files at first, then a draft of the
    latest with a few files changed, added and removed, and now and then a folder removed."""
    try:
        latest = reg.artifact(f"{PROJECT}/edits")
    except artreg.NotFound:
        art = artreg.Artifact("edits", type="dataset", metadata={"files": 3000})
        for i in range(3000):
            with art.new_file(f"d{i // 300}/f{i:05d}", mode="wb") as f:
                f.write(rng.randbytes(rng.randint(1, 40)))
        return art
    paths = [e.path for e in latest.files()]
    draft = latest.new_draft()
    for path in rng.sample(paths, min(len(paths), rng.randint(1, 5))):
        with draft.new_file(path, mode="wb", overwrite=True) as f:
            f.write(rng.randbytes(rng.randint(41, 80)))
    for i in range(rng.randint(0, 3)):
        with draft.new_file(f"d{rng.randint(0, 12)}/new{rng.randrange(10**6):06d}-{i}", mode="wb", overwrite=True) as f:
            f.write(rng.randbytes(8))
    draft.remove(rng.choice(paths))
    if rng.random() < 0.1:
        draft.remove(rng.choice(sorted({p.split("/")[0] for p in paths})))
    draft.metadata = {"files": len(draft.entries)}
    return draft


def crash(path: str, seed: int, variant: str) -> None:
    rng = random.Random(seed)
    if variant == "edits":
        with open_registry(path, inline_limit=1024) as reg:
            threading.Thread(target=_gc_loop, args=(path, threading.Event()), daemon=True).start()
            print("ready", flush=True)
            while True:
                version = reg.log_artifact(_edited(rng, reg), project=PROJECT)
                print(f"committed {version.collection_name} {version.index} {version.digest}", flush=True)
                for old in reg.artifacts(PROJECT, version.collection_name)[2:]:
                    old.delete(delete_aliases=True)
    if variant == "fresh":
        print("ready", flush=True)  # killed while creating the registry, or just after
    with open_registry(path, inline_limit=1024) as reg:
        if variant == "gc":
            threading.Thread(target=_gc_loop, args=(path, threading.Event()), daemon=True).start()
        if variant != "fresh":
            print("ready", flush=True)
        for step in range(1_000_000):
            big = step % 2 == 0
            version = reg.log_artifact(_crash_draft(rng, big), project=PROJECT, aliases=[rng.choice(ALIASES)])
            print(f"committed {version.collection_name} {version.index} {version.digest}", flush=True)
            if rng.random() < 0.3:
                version.link(TARGET.replace("model", "dataset"), aliases=[rng.choice(LINK_ALIASES)])
            for old in reg.artifacts(PROJECT, version.collection_name)[3:]:
                old.delete(delete_aliases=True)


# -- full disk and read-only ---------------------------------------------------------------


def _outcome(action: Callable[[], object]) -> dict[str, str | None]:
    try:
        action()
    except artreg.ArtregError as exc:
        cause = exc.__cause__
        return {"error": type(exc).__qualname__, "message": str(exc), "cause": None if cause is None else type(cause).__qualname__}
    except Exception as exc:
        return {"error": f"unexpected {type(exc).__module__}.{type(exc).__qualname__}", "message": traceback.format_exc()}
    return {"error": None}


def full_disk(path: str, limit: int, kind: str) -> None:
    reg = open_registry(path, inline_limit=64 * 1024)
    rng = random.Random(limit)
    action: Callable[[], object]
    if kind == "download":  # a version logged beforehand, copied out past the limit
        version = reg.artifact(f"{PROJECT}/big")
        action = lambda: version.download(path + ".download", link="copy")  # noqa: E731
    else:
        art = artreg.Artifact("filler", type="dataset")
        if kind == "wal":  # many inline blobs: the database's WAL outgrows the limit
            for i in range(2 * limit // 60_000 + 2):
                with art.new_file(f"part{i}.bin", mode="wb") as f:
                    f.write(rng.randbytes(60_000))
        else:  # one blob file: "blob" crosses the limit early, "blob-tail" only in its last write
            with art.new_file("big.bin", mode="wb") as f:
                f.write(rng.randbytes(2 * limit if kind == "blob" else limit + 100_000))
        action = lambda: reg.log_artifact(art, project=PROJECT)  # noqa: E731
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead of killing us
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    result = _outcome(action)
    resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    reg.close()
    print(json.dumps(result), flush=True)


def read_only(path: str, uid: int | None) -> None:
    """Read, then log a blob file, into a registry this process may not (fully) write.

    ``uid``: drop to that user first (the test runs as root, which chmod does not stop).
    Everything is imported by then, since the interpreter may sit where that user cannot read.
    """
    if uid is not None:
        time.strptime("2024", "%Y")  # imports _strptime, which reading a version needs
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)

    def use() -> None:
        with open_registry(path, inline_limit=1024) as reg:
            reg.artifact(f"{PROJECT}/ds").verify()
            art = artreg.Artifact("more", type="dataset")
            with art.new_file("big.bin", mode="wb") as f:
                f.write(bytes(5000))
            reg.log_artifact(art, project=PROJECT)

    writable = {"writable": os.access(path, os.W_OK), "objects_writable": os.access(os.path.join(path, "objects"), os.W_OK)}
    print(json.dumps({**writable, **_outcome(use)}), flush=True)


def gc_as(path: str, uid: int | None) -> None:
    """Run gc (then check(fix=True)) on a registry whose objects folder this process may not write."""
    if uid is not None:
        time.strptime("2024", "%Y")
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)

    def collect() -> None:
        with open_registry(path, inline_limit=1024) as reg:
            reg.gc()

    def fix() -> None:
        with open_registry(path, inline_limit=1024) as reg:
            reg.check(fix=True)

    print(json.dumps({"gc": _outcome(collect), "check": _outcome(fix)}), flush=True)


def open_registry(path: str, **options: Any) -> artreg.Registry:
    """``artreg.open``; a PostgreSQL catalog keeps its blobs in ``$ARTREG_TEST_BLOBS`` when it is created here."""
    blobs = os.environ.get("ARTREG_TEST_BLOBS")
    if blobs and path.startswith("postgresql://"):
        options.setdefault("blobs", blobs)
    return artreg.open(path, **options)


def main(argv: list[str]) -> None:
    role, path, *rest = argv
    if role == "contend":
        contend(path, int(rest[0]), int(rest[1]), int(rest[2]))
    elif role == "crash":
        crash(path, int(rest[0]), rest[1])
    elif role == "full-disk":
        full_disk(path, int(rest[0]), rest[1])
    elif role == "read-only":
        read_only(path, int(rest[0]) if rest else None)
    elif role == "gc":
        gc_as(path, int(rest[0]) if rest else None)
    else:
        raise SystemExit(f"unknown role {role!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
