"""SPEC §13: a crash at any point leaves the registry consistent; at worst orphan files, which gc removes.

A child process (``procs.py crash``) logs large (blob files) and small (inline) versions,
links some and deletes old ones in a loop, alone or with gc running on a second thread;
the test kills it with SIGKILL after a random delay, then opens the registry and checks
that the database is intact, every live version is whole with all its blobs, nothing the
child saw committed is lost, and that after ``gc`` nothing is left over. Seeded
(``ARTREG_TEST_SEED``), bounded (timeouts on every child), and scalable
(``ARTREG_TEST_SCALE`` multiplies the number of kills).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import apsw
import pytest

import artreg
from conftest import child_env, make, open_catalog, readline
from invariants import (
    assert_alias_invariants,
    assert_chunks_consistent,
    assert_history_counts,
    assert_indices_gap_free,
    assert_versions_whole,
    rows,
)

PROCS = str(Path(__file__).resolve().with_name("procs.py"))
SEED = int(os.environ.get("ARTREG_TEST_SEED", "7"))
SCALE = float(os.environ.get("ARTREG_TEST_SCALE", "1"))
CHILD_TIMEOUT = 60  # seconds for a child to start, or to die once killed


def kills(count: int, catalog: str = "") -> int:
    """How many kills a test makes: ``count``, by ``ARTREG_TEST_SCALE``; 40% of it on PostgreSQL.

    The server rolls back what a killed client left, the same way each time, and a round
    there (a child connecting, a check over the network) costs about twice one on a file.
    """
    share = 0.4 if catalog.startswith("postgresql://") else 1.0
    return max(1, int(count * SCALE * share))


def kill_at_random(registry: str, seed: int, variant: str, delay: float, scratch: Path) -> list[str]:
    """Start a crash child, SIGKILL it ``delay`` seconds after it is ready; returns what it printed.

    ``scratch`` is the child's temporary folder: nothing a killed log wrote may stay there.
    A PostgreSQL catalog the child creates keeps its blobs beside it.
    """
    scratch.mkdir(exist_ok=True)
    proc = subprocess.Popen(
        [sys.executable, PROCS, "crash", registry, str(seed), variant], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env=child_env(TMPDIR=str(scratch), ARTREG_TEST_BLOBS=str(scratch.parent / "blobs")),
    )
    try:
        assert readline(proc, time.monotonic() + CHILD_TIMEOUT) == "ready\n"
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        out, err = proc.communicate(timeout=CHILD_TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == -signal.SIGKILL, f"the child died before it was killed:\n{err}"
    assert list(scratch.iterdir()) == [], "a killed log left files in the temporary folder"
    return out.splitlines()


def check_after_kill(registry: str, committed: dict[tuple[str, int], str], stats: Counter[str], tmp_path: Path) -> None:
    """Everything SPEC §13 promises after a crash; then gc leaves a clean registry."""
    with open_catalog(registry, tmp_path, inline_limit=1024) as reg:
        report = reg.check()
        assert report.integrity == [], report.integrity  # PRAGMA integrity_check
        assert report.missing == [] and report.corrupt == [], report  # every referenced blob present and intact
        assert_indices_gap_free(reg)
        assert_alias_invariants(reg)
        assert_history_counts(reg)
        stats["live versions checked"] += assert_versions_whole(reg)  # no partially visible version
        assert_chunks_consistent(reg)  # every manifest whole: no half chunk list, no chunk without its rows
        for name, files in rows(reg, """
            SELECT c.name, CAST(json_extract(v.metadata, '$.files') AS INTEGER) - v.file_count FROM versions AS v
            JOIN collections AS c ON c.id = v.collection_id WHERE v.source_id IS NULL
        """):
            assert files == 0, f"a version of {name} has other entries than its draft had"
        stored = dict(rows(reg, """
            SELECT c.name || ':' || v.idx, v.digest FROM versions AS v JOIN collections AS c ON c.id = v.collection_id
        """))
        lost = {f"{name}:{index}" for (name, index), digest in committed.items() if stored.get(f"{name}:{index}") != digest}
        assert not lost, f"committed before the kill, gone after it: {sorted(lost)}"
        reg.audit.verify()
        if report.orphans:
            stats["kills that left orphan files"] += 1
            stats["orphan files"] += len(report.orphans)
        reg.gc()
        assert reg.check().ok


def run_kills(registry: str, variant: str, count: int, max_delay: float, scratch: Path) -> Counter[str]:
    rng = random.Random(f"{SEED}-{variant}")
    committed: dict[tuple[str, int], str] = {}
    stats: Counter[str] = Counter()
    for _ in range(count):
        printed = kill_at_random(registry, rng.randrange(2**32), variant, rng.uniform(0, max_delay), scratch)
        for line in printed:
            word, name, index, digest = line.split()
            assert word == "committed", line
            committed[(name, int(index))] = digest
        stats["kills"] += 1
        stats["versions committed"] = len(committed)
        check_after_kill(registry, committed, stats, scratch.parent)
    return stats


@pytest.mark.slow
def test_sigkill_while_logging(catalog: str, tmp_path: Path) -> None:
    stats = run_kills(catalog, "log", kills(30, catalog), max_delay=0.5, scratch=tmp_path / "tmp")
    print(dict(stats))
    assert stats["versions committed"] > stats["kills"], "the child had time to commit between kills"


@pytest.mark.slow
def test_sigkill_while_logging_and_collecting(catalog: str, tmp_path: Path) -> None:
    # A collection on a server takes longer than on a file, and holds off the logs meanwhile:
    # the child gets longer between kills there, so that it commits between them.
    delay = 0.5 if not catalog.startswith("postgresql://") else 1.5
    stats = run_kills(catalog, "gc", kills(24, catalog), max_delay=delay, scratch=tmp_path / "tmp")
    print(dict(stats))
    assert stats["versions committed"] > stats["kills"]


@pytest.mark.slow
def test_sigkill_while_logging_edits_of_a_shared_manifest(catalog: str, tmp_path: Path) -> None:
    """A version from new_draft() writes a few chunks and a chunk list in one transaction:
    killed at any point, no version has half a chunk list, and gc leaves every live one whole."""
    stats = run_kills(catalog, "edits", kills(12, catalog), max_delay=2.0, scratch=tmp_path / "tmp")
    print(dict(stats))
    assert stats["versions committed"] > stats["kills"]


@pytest.mark.slow
def test_sigkill_while_creating_a_registry(catalog: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    rng = random.Random(f"{SEED}-fresh")
    for kill in range(kills(6)):
        registry = str(tmp_path / f"fresh{kill}")
        if catalog.startswith("postgresql://"):
            registry = request.getfixturevalue("pg_cluster").create_database()
        kill_at_random(registry, kill, "fresh", rng.uniform(0, 0.2), tmp_path / "tmp")
        check_after_kill(registry, {}, Counter(), tmp_path)


# -- power loss ------------------------------------------------------------------------------
#
# A kill -9 loses nothing the kernel has; a power cut loses what was not fsynced. In WAL
# mode with synchronous=NORMAL a commit is not fsynced, so a power cut may take back the
# last commits (never half of one). That is only safe if nothing outside the database acts
# on a commit before it is durable. Blob files are fsynced before the commit that names
# them; the one deletion of files a commit licenses is gc's, tested here by recording the
# order of writes, syncs and unlinks.


class _SpyFile(apsw.VFSFile):
    def __init__(self, events: list[tuple[str, str]], name: apsw.URIFilename | str | None, flags: list[int]) -> None:
        self.events = events
        self.name = os.path.basename(name.filename() if isinstance(name, apsw.URIFilename) else str(name))
        super().__init__("unix", name, flags)  # type: ignore[arg-type]

    def xWrite(self, data: bytes, offset: int) -> None:
        self.events.append(("write", self.name))
        super().xWrite(data, offset)

    def xSync(self, flags: int) -> None:
        self.events.append(("sync", self.name))
        super().xSync(flags)


class _SpyVFS(apsw.VFS):
    """The default VFS, recording every write and sync by file name (it becomes the default)."""

    def __init__(self, events: list[tuple[str, str]]) -> None:
        self.events = events
        super().__init__("artreg-spy", "unix", makedefault=True)

    def xOpen(self, name: apsw.URIFilename | str | None, flags: list[int]) -> _SpyFile:
        return _SpyFile(self.events, name, flags)


def test_gc_makes_its_commit_durable_before_it_deletes_a_blob_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Otherwise a power cut could take back the commit (and the deletion of the version that
    freed the blob, made no more durable) while the file's removal survives: a live version
    naming a missing blob."""
    events: list[tuple[str, str]] = []
    spy = _SpyVFS(events)
    try:
        with artreg.open(tmp_path / "reg", inline_limit=1024) as reg:
            version = reg.log_artifact(make(big=os.urandom(5000)), project="p")
            blob = reg._store.object_path(version.get_entry("big").digest)
            version.delete(delete_aliases=True)
            unlink = Path.unlink

            def recording_unlink(path: Path, missing_ok: bool = False) -> None:
                events.append(("unlink", path.name))
                unlink(path, missing_ok=missing_ok)

            monkeypatch.setattr(Path, "unlink", recording_unlink)
            events.clear()
            assert reg.gc().blobs == 1
            assert not blob.exists()
    finally:
        spy.unregister()
    before = events[:events.index(("unlink", blob.name))]
    wal_writes = [i for i, event in enumerate(before) if event == ("write", "registry.db-wal")]
    assert wal_writes, "gc's commit wrote the WAL"
    assert ("sync", "registry.db-wal") in before[wal_writes[-1]:], f"the WAL was not synced before the unlink: {before}"


def test_a_blob_file_and_the_folders_naming_it_are_synced_before_the_commit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The file, its entry in objects/ab/, and (when ab/ is new) ab/'s entry in objects/."""
    import artreg.storage._blobs as blobs

    synced: list[str] = []
    fsync_dir = blobs._fsync_dir
    monkeypatch.setattr(blobs, "_fsync_dir", lambda folder: (synced.append(str(folder)), fsync_dir(folder))[1])
    with artreg.open(tmp_path / "reg", inline_limit=1024) as reg:
        version = reg.log_artifact(make(big=os.urandom(5000)), project="p")
        blob = reg._store.object_path(version.get_entry("big").digest)
        assert reg.objects is not None
        assert synced == [str(reg.objects), str(blob.parent)]


def test_a_small_commit_is_on_disk_within_about_a_second(tmp_path: Path) -> None:
    """Under synchronous=NORMAL nothing fsyncs a commit until a checkpoint; artreg runs one
    at most a second after any commit, which bounds what a power cut can take back."""
    events: list[tuple[str, str]] = []
    spy = _SpyVFS(events)
    try:
        with artreg.open(tmp_path / "reg", inline_limit=1024) as reg:
            version = reg.log_artifact(make(a=b"a"), project="p")
            time.sleep(1.5)  # let the checkpoint after the log go by
            events.clear()
            version.aliases.append("production")
            version.save()
            committed = time.monotonic()
            last_write = max(i for i, event in enumerate(events) if event == ("write", "registry.db-wal"))
            # NORMAL: the commit's frames are not fsynced (a new WAL's header is, before them)
            assert ("sync", "registry.db-wal") not in events[last_write:]
            while ("sync", "registry.db-wal") not in events[last_write:] and time.monotonic() - committed < 5:
                time.sleep(0.05)
            synced = time.monotonic() - committed
    finally:
        spy.unregister()
    assert ("sync", "registry.db-wal") in events[last_write:], events
    assert 0.5 < synced < 3.5, synced
