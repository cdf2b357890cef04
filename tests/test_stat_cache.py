"""SPEC §23 (issue 13, item 1): the stat and tree caches never log a changed file as its old content.

A cache row says "the file with this (dev, ino, size, mtime, ctime) holds these bytes". Each
attack below keeps (dev, ino, size, mtime) as they were and changes the bytes: a same-size
rewrite whose mtime is put back with ``os.utime``, a new file on the inode of a deleted one,
and a rewrite within one tick of a filesystem with one-second timestamps. Each is tried
through ``add_file`` (stat cache), ``add_dir`` (tree cache, then stat cache) and the CLI's
``put``, on real files, after checking that the cache really was filled, so that a cache
which trusted the old stat would have answered with the old bytes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

import artreg
from conftest import UNDO_CHUNKS, child_env, past_racy_window

SIZES = [pytest.param(100, id="inline"), pytest.param(5000, id="blob-file")]


def cached_rows(reg: artreg.Registry, table: str) -> int:
    with reg._db.read() as con:
        return int(con.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # type: ignore[index]


def identity(path: Path) -> tuple[int, int, int, int]:
    st = os.stat(path)
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def rewrite_keeping_mtime(path: Path, data: bytes) -> None:
    """New bytes of the same length, with the old mtime put back (a restore, ``cp -p``, ``rsync -t``)."""
    before = os.stat(path)
    assert len(data) == before.st_size
    with open(path, "r+b") as f:
        f.write(data)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


def log_file(reg: artreg.Registry, path: Path) -> artreg.ArtifactVersion:
    art = artreg.Artifact("ds", type="dataset")
    art.add_file(path)
    return reg.log_artifact(art, project="p")


def log_dir(reg: artreg.Registry, root: Path) -> artreg.ArtifactVersion:
    art = artreg.Artifact("tree", type="dataset")
    art.add_dir(root)
    return reg.log_artifact(art, project="p")


# -- a same-size rewrite with its mtime put back ---------------------------------------


@pytest.mark.parametrize("size", SIZES)
def test_add_file_sees_a_same_size_rewrite_whose_mtime_was_put_back(reg: artreg.Registry, tmp_path: Path, size: int) -> None:
    path = tmp_path / "weights.bin"
    path.write_bytes(b"a" * size)
    past_racy_window()
    v0 = log_file(reg, path)
    assert cached_rows(reg, "stat_cache") == 1  # the next log could answer from the cache
    assert log_file(reg, path) == v0

    before = identity(path)
    rewrite_keeping_mtime(path, b"b" * size)
    assert identity(path) == before  # all a (dev, ino, size, mtime) cache could see
    past_racy_window()  # and not merely racy: the new ctime is settled too
    v1 = log_file(reg, path)
    assert v1.index == 1
    assert v1.open("weights.bin").read() == b"b" * size
    assert log_file(reg, path) == v1  # and the new stat is cached in turn


@pytest.mark.parametrize("size", SIZES)
def test_add_dir_sees_a_same_size_rewrite_whose_mtime_was_put_back(reg: artreg.Registry, tmp_path: Path, size: int) -> None:
    root = tmp_path / "data"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "x.bin").write_bytes(b"x" * size)
    (root / "y.txt").write_text("unchanged")
    past_racy_window()
    v0 = log_dir(reg, root)
    assert cached_rows(reg, "tree_cache") == 1 and cached_rows(reg, "stat_cache") == 2
    assert log_dir(reg, root) == v0

    rewrite_keeping_mtime(root / "sub" / "x.bin", b"z" * size)
    past_racy_window()
    v1 = log_dir(reg, root)
    assert v1.index == 1
    assert v1.open("sub/x.bin").read() == b"z" * size
    assert v1.get_entry("y.txt").digest == v0.get_entry("y.txt").digest


def test_cli_put_sees_a_same_size_rewrite_whose_mtime_was_put_back(tmp_path: Path) -> None:
    registry = tmp_path / "reg"
    root = tmp_path / "data"
    root.mkdir()
    (root / "model.bin").write_bytes(b"1" * 3000)
    (root / "notes.txt").write_text("kept")

    def put() -> dict[str, object]:
        done = subprocess.run(
            [sys.executable, "-m", "artreg", "--registry", str(registry), "--json", "put", str(root), "-n", "p/data"],
            env=child_env(), capture_output=True, text=True, timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)["version"]  # type: ignore[no-any-return]

    past_racy_window()
    first = put()
    assert put()["ref"] == first["ref"]
    rewrite_keeping_mtime(root / "model.bin", b"2" * 3000)
    past_racy_window()
    second = put()
    assert second["ref"] != first["ref"] and second["digest"] != first["digest"]
    with artreg.open(registry) as reg:
        assert reg.artifact("p/data").open("model.bin").read() == b"2" * 3000


# -- a new file on a reused inode ------------------------------------------------------


@contextmanager
def stats_seen_as(change: Callable[[os.stat_result], os.stat_result]) -> Iterator[None]:
    """Every ``os.stat``/``os.fstat`` in this process answers ``change(real stat)``.

    For what a test filesystem cannot do by itself: reuse an inode (tmpfs never does) or
    keep whole-second timestamps. The files are still real; only what stat reports differs.
    """
    real_stat, real_fstat = os.stat, os.fstat

    def fake_stat(path: object, *args: object, **kwargs: object) -> os.stat_result:
        return change(real_stat(path, *args, **kwargs))  # type: ignore[arg-type]

    def fake_fstat(fd: int) -> os.stat_result:
        return change(real_fstat(fd))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(os, "stat", fake_stat)
        patch.setattr(os, "fstat", fake_fstat)
        yield


def with_fields(st: os.stat_result, **fields: int) -> os.stat_result:
    """A copy of a stat result with some ``st_*`` fields replaced (seconds follow nanoseconds)."""
    names = ["st_mode", "st_ino", "st_dev", "st_nlink", "st_uid", "st_gid", "st_size", "st_atime", "st_mtime", "st_ctime"]
    values = {name: getattr(st, name) for name in names}
    for kind in ("atime", "mtime", "ctime"):
        ns = fields.get(f"st_{kind}_ns", getattr(st, f"st_{kind}_ns"))
        values[f"st_{kind}_ns"] = ns
        values[f"st_{kind}"] = ns // 10**9
        values[f"st_{kind}_float"] = ns / 10**9
    values.update({k: v for k, v in fields.items() if not k.endswith("_ns")})
    sequence = [values[name] for name in names]
    extra = [values["st_atime_float"], values["st_mtime_float"], values["st_ctime_float"],
             values["st_atime_ns"], values["st_mtime_ns"], values["st_ctime_ns"]]
    rest = [getattr(st, name) for name in ("st_blksize", "st_blocks", "st_rdev")]
    return os.stat_result((*sequence, *extra, *rest))


def recreate_on_the_same_inode(path: Path, data: bytes) -> Callable[[os.stat_result], os.stat_result]:
    """Delete ``path`` and create a new file there with ``data`` on the freed inode, mtime put back.

    Returns the stat filter under which the new file shows the old inode: none when the
    filesystem reused it (ext4 and xfs hand a freed inode out again at once), else one that
    reports the old number for the new file, which is all a reused inode changes.
    """
    old = os.stat(path)
    path.unlink()
    candidates = [path.with_name(f".candidate{i}") for i in range(64)]
    chosen = None
    for candidate in candidates:
        candidate.write_bytes(data)
        if os.stat(candidate).st_ino == old.st_ino:
            chosen = candidate
            break
    os.replace(chosen or candidates[0], path)
    for candidate in candidates:
        candidate.unlink(missing_ok=True)
    os.utime(path, ns=(old.st_atime_ns, old.st_mtime_ns))
    if chosen is not None:
        return lambda st: st
    new_ino = os.stat(path).st_ino
    return lambda st: with_fields(st, st_ino=old.st_ino) if (st.st_dev, st.st_ino) == (old.st_dev, new_ino) else st


@pytest.mark.parametrize("size", SIZES)
def test_add_file_sees_a_new_file_on_a_reused_inode(reg: artreg.Registry, tmp_path: Path, size: int) -> None:
    path = tmp_path / "weights.bin"
    path.write_bytes(b"a" * size)
    past_racy_window()
    v0 = log_file(reg, path)
    assert cached_rows(reg, "stat_cache") == 1
    before = identity(path)

    seen = recreate_on_the_same_inode(path, b"c" * size)
    past_racy_window()
    with stats_seen_as(seen):
        assert identity(path) == before
        v1 = log_file(reg, path)
    assert v1 != v0
    assert v1.open("weights.bin").read() == b"c" * size


def test_add_dir_sees_a_new_file_on_a_reused_inode(reg: artreg.Registry, tmp_path: Path) -> None:
    root = tmp_path / "data"
    root.mkdir()
    (root / "a.bin").write_bytes(b"a" * 2000)
    (root / "b.bin").write_bytes(b"b" * 2000)
    past_racy_window()
    v0 = log_dir(reg, root)
    assert cached_rows(reg, "tree_cache") == 1
    before = identity(root / "a.bin")

    seen = recreate_on_the_same_inode(root / "a.bin", b"d" * 2000)
    past_racy_window()
    with stats_seen_as(seen):
        assert identity(root / "a.bin") == before
        v1 = log_dir(reg, root)
    assert v1 != v0
    assert v1.open("a.bin").read() == b"d" * 2000


# -- one-second timestamps ---------------------------------------------------------------


def whole_seconds(st: os.stat_result) -> os.stat_result:
    """A stat as a filesystem with one-second timestamps (ext4 with 128-byte inodes, HFS+) reports it."""
    return with_fields(st, **{f"st_{kind}_ns": getattr(st, f"st_{kind}_ns") // 10**9 * 10**9 for kind in ("atime", "mtime", "ctime")})


def start_of_a_second() -> None:
    """Wait until just after a second begins, so the next few hundred milliseconds share one timestamp."""
    time.sleep(1 - time.time() % 1 + 0.06)


@pytest.mark.parametrize("how", ["add_file", "add_dir"])
def test_a_same_size_rewrite_within_one_second_is_seen_on_one_second_filesystems(
    reg: artreg.Registry, tmp_path: Path, how: str
) -> None:
    """The issue's 10 out of 10: write, log, rewrite (same size) and log again within one
    second. Every timestamp of both writes reads the same whole second, so only the racy
    check can save the second log: the first must not have cached what it read."""
    root = tmp_path / "data"
    root.mkdir()
    path = root / "x.bin"
    log = log_file if how == "add_file" else log_dir
    target = path if how == "add_file" else root
    shared = 0
    for attempt in range(10):
        with stats_seen_as(whole_seconds):
            start_of_a_second()
            path.write_bytes(b"%02d" % attempt * 25)
            first = log(reg, target)
            stamp = identity(path)
            path.write_bytes(b"%02d" % (attempt + 50) * 25)
            shared += identity(path) == stamp  # else the machine was too slow to fit both writes in one second
            second = log(reg, target)
        assert second != first, f"attempt {attempt}: the rewrite was logged as the old content"
        assert second.open("x.bin").read() == b"%02d" % (attempt + 50) * 25
        if shared == 3:
            break
    assert shared == 3, "no three rounds fitted in one second each"
    assert cached_rows(reg, "tree_cache") == 0


def test_a_registry_cached_by_older_code_forgets_what_it_cannot_trust(tmp_path: Path) -> None:
    """Rows written before ctime was compared are dropped by the migration, not trusted."""
    import apsw

    from artreg.storage._schema import MIGRATIONS

    before = next(i for i, migration in enumerate(MIGRATIONS) if isinstance(migration, str) and "ctime_ns" in migration)
    path = tmp_path / "weights.bin"
    path.write_bytes(b"a" * 3000)
    past_racy_window()
    with artreg.open(tmp_path / "reg") as reg:
        old_digest = log_file(reg, path).get_entry("weights.bin").digest
    rewrite_keeping_mtime(path, b"b" * 3000)
    st = os.stat(path)
    con = apsw.Connection(str(tmp_path / "reg" / "registry.db"))
    with con:  # the cache as the older code left it: (dev, ino, size, mtime) -> the old digest
        con.execute("DROP TABLE stat_cache")
        con.execute("CREATE TABLE stat_cache (dev INTEGER NOT NULL, ino INTEGER NOT NULL, size INTEGER NOT NULL, "
                    "mtime_ns INTEGER NOT NULL, digest TEXT NOT NULL, PRIMARY KEY (dev, ino)) STRICT, WITHOUT ROWID")
        con.execute("INSERT INTO stat_cache VALUES (?, ?, ?, ?, ?)",
                    (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, old_digest))
        con.execute(UNDO_CHUNKS)  # and the migrations after it: manifests as chunks
        con.execute(f"PRAGMA user_version = {before}")
    con.close()
    past_racy_window()
    with artreg.open(tmp_path / "reg") as reg:
        v1 = log_file(reg, path)
        assert v1.index == 1 and v1.open("weights.bin").read() == b"b" * 3000
