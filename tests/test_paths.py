"""SPEC §20: ``v.path(name)`` and ``reg.snapshot(ref)`` read versions where they are.

A blob file is handed out as it is; inline blobs and references are made once into the
registry's cache (``objects/cache/``), checked first; gc evicts what no live version names,
check rehashes the copies. Multi-process tests use real processes, real files and SIGKILL.
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import test_references
from test_references import S3, Route, Web, file_uri

import artreg
from artreg import _paths
from conftest import child_env, make, readline

# The local HTTP and S3 servers of the reference tests.
web, moto_endpoint, s3 = test_references.web, test_references.moto_endpoint, test_references.s3

SEED = int(os.environ.get("ARTREG_TEST_SEED", "7"))
SCALE = float(os.environ.get("ARTREG_TEST_SCALE", "1"))
CHILD_TIMEOUT = 60


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def cache_dir(reg: artreg.Registry) -> Path:
    assert reg.objects is not None
    return reg.objects / "cache"


def leftovers(reg: artreg.Registry) -> list[Path]:
    """Files of unfinished writes in the cache."""
    tmp = cache_dir(reg) / "tmp"
    return list(tmp.iterdir()) if tmp.exists() else []


@pytest.fixture
def version(reg: artreg.Registry) -> artreg.ArtifactVersion:
    """small.txt (inline), sub/big.bin (a blob file), sub/deeper/c.txt (inline)."""
    art = make("ds", **{"small.txt": "alpha", "sub__big.bin": os.urandom(5000), "sub__deeper__c.txt": "charlie"})
    return reg.log_artifact(art, project="zoo", aliases=["best"])


def tree_of_links(root: str) -> dict[str, bytes]:
    """Every file under ``root`` (all must be symbolic links) -> the bytes it reads."""
    out = {}
    for folder, _, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            assert os.path.islink(path), f"{path} is not a link"
            out[os.path.relpath(path, root).replace(os.sep, "/")] = Path(path).read_bytes()
    return out


def contents(version: artreg.ArtifactVersion) -> dict[str, bytes]:
    out = {}
    for entry in version.files():
        with version.open(entry.path) as f:
            out[entry.path] = f.read()
    return out


# -- path() ------------------------------------------------------------------------------


def test_path_of_a_blob_file_is_the_stored_file_itself(reg: artreg.Registry, version: artreg.ArtifactVersion) -> None:
    entry = version.get_entry("sub/big.bin")
    path = version.path("sub/big.bin")
    assert os.path.isabs(path)
    assert os.path.samefile(path, reg._store.object_path(entry.digest))  # no copy: the blob file
    assert sha(Path(path).read_bytes()) == entry.digest
    assert not os.stat(path).st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    assert not (cache_dir(reg) / "sha256").exists()  # nothing was made for it


def test_path_of_an_inline_blob_is_made_once_in_the_cache(reg: artreg.Registry, version: artreg.ArtifactVersion) -> None:
    path = version.path("small.txt")
    digest = version.get_entry("small.txt").digest
    assert Path(path) == cache_dir(reg) / "sha256" / digest[:2] / digest[2:]
    assert Path(path).read_bytes() == b"alpha"
    assert not os.stat(path).st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    made = os.stat(path)
    assert version.path("./small.txt") == path  # normalised like any manifest path
    assert os.stat(path).st_ino == made.st_ino and os.stat(path).st_mtime_ns == made.st_mtime_ns  # not made again
    assert leftovers(reg) == []


def test_a_corrupt_inline_blob_never_reaches_the_cache(reg: artreg.Registry, version: artreg.ArtifactVersion) -> None:
    digest = version.get_entry("small.txt").digest
    with reg._db.write() as con:
        con.execute("UPDATE blobs SET data = ? WHERE digest = ?", (b"ALPHA", digest))
    with pytest.raises(artreg.IntegrityError):
        version.path("small.txt")
    assert not (cache_dir(reg) / "sha256" / digest[:2] / digest[2:]).exists()
    assert leftovers(reg) == []


def test_a_missing_blob_file_is_an_integrity_error(reg: artreg.Registry, version: artreg.ArtifactVersion) -> None:
    blob = reg._store.object_path(version.get_entry("sub/big.bin").digest)
    os.chmod(blob, 0o644)
    blob.write_bytes(b"short")  # truncated: present but of the wrong size
    with pytest.raises(artreg.IntegrityError) as caught:
        version.path("sub/big.bin")
    assert caught.value.missing == ["sub/big.bin"]


def test_missing_entries_are_file_not_found(version: artreg.ArtifactVersion) -> None:
    with pytest.raises(artreg.FileNotFound) as caught:
        version.path("nope.txt")
    assert isinstance(caught.value, FileNotFoundError) and isinstance(caught.value, artreg.NotFound)
    assert "nope.txt" in str(caught.value)
    with pytest.raises(FileNotFoundError):
        version.path("sub")  # a folder is not an entry
    with pytest.raises(artreg.InvalidName):
        version.path("../small.txt")


def test_a_damaged_cache_copy_is_found_by_check_removed_by_fix_and_made_again(
    reg: artreg.Registry, version: artreg.ArtifactVersion
) -> None:
    path = Path(version.path("small.txt"))
    assert reg.check().ok
    os.chmod(path, 0o644)
    path.write_bytes(b"ALPHA")  # same size, other bytes
    report = reg.check()
    assert report.cache_corrupt == [str(path)] and not report.ok
    assert report.orphans == []  # the cache is never taken for orphan files
    fixed = reg.check(fix=True)
    assert fixed.cache_corrupt == [] and not path.exists()
    assert reg.check().ok
    assert Path(version.path("small.txt")).read_bytes() == b"alpha"


def test_memory_registry_paths_live_in_a_private_folder_removed_at_close(mem: artreg.Registry) -> None:
    v = mem.log_artifact(make("ds", **{"a.txt": "alpha", "b__c.bin": b"\0" * 100_000}), project="p")
    path = v.path("b/c.bin")
    assert Path(path).read_bytes() == b"\0" * 100_000
    folder = os.path.dirname(os.path.dirname(os.path.dirname(path)))  # <private folder>/sha256/ab/cdef...
    snap = mem.snapshot(v)
    assert tree_of_links(snap) == {"a.txt": b"alpha", "b/c.bin": b"\0" * 100_000}
    mem.close()
    assert not os.path.exists(folder)


def test_a_restricted_viewer_may_not_read_paths(tmp_path: Path) -> None:
    with artreg.open(tmp_path / "reg", user="boss", inline_limit=1024) as boss:
        v = boss.log_artifact(make("m", type="model", **{"w.bin": b"w" * 2000}), project="zoo")
        zoo = boss.create_registry("zoo", visibility="restricted")
        v.link("wandb-registry-zoo/Zoo")
        zoo.add_member("ann", "restricted_viewer")
        zoo.add_member("bob", "viewer")
    with artreg.open(tmp_path / "reg", user="ann") as ann:
        link = ann.artifact("wandb-registry-zoo/Zoo")
        with pytest.raises(artreg.PermissionDenied):
            link.path("w.bin")
        with pytest.raises(artreg.PermissionDenied):
            ann.snapshot("wandb-registry-zoo/Zoo")
    with artreg.open(tmp_path / "reg", user="bob") as bob:
        assert Path(bob.artifact("wandb-registry-zoo/Zoo").path("w.bin")).read_bytes() == b"w" * 2000


def test_the_cache_takes_bytes_from_a_stream_only_when_they_match_their_name(reg: artreg.Registry) -> None:
    """``Cache.stream``: how bytes kept elsewhere (remote blob storage) become a local file."""
    import io

    data = os.urandom(300_000)
    cache = reg._cache
    with cache.lock():
        with pytest.raises(artreg.IntegrityError):
            cache.stream(sha(data), len(data), io.BytesIO(data[:-1] + b"!"))
        assert not cache.content_path(sha(data)).exists() and leftovers(reg) == []
        with pytest.raises(artreg.IntegrityError):
            cache.stream(sha(data), len(data) + 1, io.BytesIO(data))
        path = cache.stream(sha(data), len(data), io.BytesIO(data))
        assert Path(path).read_bytes() == data and not os.stat(path).st_mode & stat.S_IWUSR
        assert cache.stream(sha(data), len(data), io.BytesIO(b"")) == path  # present: the stream is not read


# -- references ----------------------------------------------------------------------------


def test_path_of_a_file_reference_is_fetched_once_and_checked(reg: artreg.Registry, tmp_path: Path) -> None:
    source = tmp_path / "raw.csv"
    source.write_bytes(b"a,b\n1,2\n")
    art = artreg.Artifact("raw", type="dataset")
    art.add_reference(file_uri(source))
    v = reg.log_artifact(art, project="zoo")
    source.write_bytes(b"a,b\n9,9\n")  # changed before the first read: refused, nothing cached
    with pytest.raises(artreg.IntegrityError):
        v.path("raw.csv")
    assert leftovers(reg) == []
    source.write_bytes(b"a,b\n1,2\n")
    path = v.path("raw.csv")
    assert Path(path).read_bytes() == b"a,b\n1,2\n" and not os.path.samefile(path, source)
    source.unlink()  # once fetched, the recorded bytes are read offline
    assert Path(v.path("raw.csv")).read_bytes() == b"a,b\n1,2\n"


def test_a_location_only_reference_is_fetched_afresh_each_time(reg: artreg.Registry, tmp_path: Path) -> None:
    source = tmp_path / "live.txt"
    source.write_text("one")
    art = artreg.Artifact("live", type="dataset")
    art.add_reference(file_uri(source), checksum=False)
    v = reg.log_artifact(art, project="zoo")
    assert Path(v.path("live.txt")).read_text() == "one"
    source.write_text("two, longer")  # no content was recorded: what is there now is the entry
    assert Path(v.path("live.txt")).read_text() == "two, longer"
    source.unlink()
    with pytest.raises(artreg.NotFound):
        v.path("live.txt")


def test_path_of_an_http_reference_with_an_etag_is_fetched_once(reg: artreg.Registry, web: Web) -> None:
    web.routes["/model.bin"] = Route(b"weights" * 1000, etag='"v1"')
    art = artreg.Artifact("remote", type="model")
    art.add_reference(web.url("/model.bin"))
    v = reg.log_artifact(art, project="zoo")
    hits = web.hits
    path = v.path("model.bin")
    assert Path(path).read_bytes() == b"weights" * 1000
    assert web.hits == hits + 1
    assert v.path("model.bin") == path and web.hits == hits + 1  # served from the cache
    assert Path(path).parent.parent.name == "refs"  # named by the entry's digest, not a content hash


def test_path_of_an_s3_reference_opens_from_s3_and_refuses_a_change(reg: artreg.Registry, s3: S3) -> None:
    s3.put("data/rows.csv", b"a\n1\n")
    art = artreg.Artifact("bucket", type="dataset")
    art.add_reference(f"s3://{s3.bucket}/data/rows.csv")
    v = reg.log_artifact(art, project="zoo")
    s3.put("data/rows.csv", b"a\n2\n")  # another ETag: not the object that was logged
    with pytest.raises(artreg.IntegrityError):
        v.path("rows.csv")
    s3.put("data/rows.csv", b"a\n1\n")  # the same bytes again, the same ETag
    assert Path(v.path("rows.csv")).read_bytes() == b"a\n1\n"


# -- snapshot() ----------------------------------------------------------------------------


def test_snapshot_lays_out_the_manifest_as_links(reg: artreg.Registry, version: artreg.ArtifactVersion) -> None:
    root = reg.snapshot("zoo/ds:best")
    assert root == str(cache_dir(reg) / "snapshots" / version.digest)
    assert tree_of_links(root) == contents(version)
    assert os.readlink(os.path.join(root, "sub", "big.bin")) == os.path.abspath(
        reg._store.object_path(version.get_entry("sub/big.bin").digest)
    )
    # Every link names a read-only file of the registry.
    for folder, _, names in os.walk(root):
        for name in names:
            assert not os.stat(os.path.join(folder, name)).st_mode & stat.S_IWUSR


def test_an_intact_snapshot_is_reused_and_a_damaged_one_rebuilt(reg: artreg.Registry, version: artreg.ArtifactVersion) -> None:
    root = Path(reg.snapshot(version))
    made = root.stat().st_ino
    assert reg.snapshot("zoo/ds:v0") == str(root) and root.stat().st_ino == made  # reused, not rebuilt

    (root / "small.txt").unlink()  # a link gone
    assert tree_of_links(reg.snapshot(version)) == contents(version)
    assert root.stat().st_ino != made  # rebuilt beside it and swapped in

    os.symlink("/etc/hostname", root / "stray")  # a link too many
    (root / "emptydir").mkdir()
    assert tree_of_links(reg.snapshot(version)) == contents(version)
    assert not (root / "emptydir").exists()

    os.unlink(root / "sub" / "deeper" / "c.txt")
    os.symlink("/etc/hostname", root / "sub" / "deeper" / "c.txt")  # a link to the wrong place
    assert tree_of_links(reg.snapshot(version)) == contents(version)


def test_a_snapshot_whose_cache_copy_was_evicted_is_repaired(reg: artreg.Registry, version: artreg.ArtifactVersion) -> None:
    root = reg.snapshot(version)
    target = Path(os.readlink(os.path.join(root, "small.txt")))
    target.unlink()  # the cache may lose any file at any time
    assert reg.snapshot(version) == root
    assert tree_of_links(root) == contents(version)


def test_a_snapshot_root_holding_files_is_never_replaced(reg: artreg.Registry, version: artreg.ArtifactVersion, tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(artreg.AlreadyExists):
        reg.snapshot(version, mine)
    assert [p.name for p in mine.iterdir()] == ["notes.txt"] and (mine / "notes.txt").read_text() == "keep me"
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(artreg.AlreadyExists):
        reg.snapshot(version, afile)
    assert afile.read_text() == "x"


def test_a_snapshot_at_a_chosen_root_and_of_links_and_empty_versions(
    reg: artreg.Registry, version: artreg.ArtifactVersion, tmp_path: Path
) -> None:
    root = reg.snapshot(version, tmp_path / "out" / "ds")
    assert root == str(tmp_path / "out" / "ds")
    assert tree_of_links(root) == contents(version)
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["ds"]  # no temporary folder left beside it
    link = version.link("wandb-registry-dataset/Zoo", aliases=["production"])
    assert reg.snapshot("wandb-registry-dataset/Zoo:production") == reg.snapshot(version)  # same content, same folder
    assert link.digest == version.digest
    empty = reg.log_artifact(artreg.Artifact("empty", type="dataset"), project="zoo")
    assert os.listdir(reg.snapshot(empty)) == []


def test_snapshot_of_a_missing_version_is_file_not_found(reg: artreg.Registry, version: artreg.ArtifactVersion) -> None:
    for ref in ("zoo/ds:v7", "zoo/ds:nope", "zoo/other", "nowhere/ds"):
        with pytest.raises(artreg.FileNotFound):
            reg.snapshot(ref)
    assert not (cache_dir(reg) / "snapshots").exists()


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2", "rename-aside"])
def test_swap_in_replaces_a_folder_whole(exchange: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if exchange:
        assert _paths._RENAMEAT2 is not None or not sys.platform.startswith("linux")  # glibc >= 2.28 has it
    else:
        monkeypatch.setattr(_paths, "_RENAMEAT2", None)
    root, new = tmp_path / "root", tmp_path / "new"
    root.mkdir()
    os.symlink("/old", root / "a")
    new.mkdir()
    os.symlink("/new", new / "b")
    _paths._swap_in(str(new), str(root))
    assert os.listdir(root) == ["b"] and os.readlink(root / "b") == "/new"
    assert [p.name for p in tmp_path.iterdir()] == ["root"]  # the old folder is gone, nothing left beside


# -- gc and check --------------------------------------------------------------------------


def test_gc_evicts_the_cache_of_deleted_versions_only(reg: artreg.Registry, version: artreg.ArtifactVersion) -> None:
    keep = reg.log_artifact(make("other", **{"k.txt": "kilo"}), project="zoo")
    kept_path, kept_root = keep.path("k.txt"), reg.snapshot(keep)
    gone_path, gone_root = version.path("small.txt"), reg.snapshot(version)
    assert reg.check().ok  # cache files are not orphans

    assert reg.gc().cache_files == 0  # everything cached is named by a live version
    version.delete(delete_aliases=True)
    preview = reg.gc(dry_run=True)
    assert preview.cache_files == 3 and os.path.exists(gone_path) and os.path.isdir(gone_root)  # two copies, one snapshot
    report = reg.gc()
    assert (report.cache_files, report.orphan_files) == (3, 0) and report.cache_bytes > 0
    assert not os.path.exists(gone_path) and not os.path.exists(gone_root)
    assert Path(kept_path).read_text() == "kilo" and tree_of_links(kept_root) == {"k.txt": b"kilo"}
    assert reg.check().ok


def test_gc_removes_what_an_interrupted_write_left_in_the_cache(reg: artreg.Registry, version: artreg.ArtifactVersion) -> None:
    version.path("small.txt")
    leftover = cache_dir(reg) / "tmp" / "tmpabc.tmp"
    leftover.write_bytes(b"partial")
    half_built = cache_dir(reg) / "snapshots" / ".artreg-snapshot-xyz"
    half_built.mkdir(parents=True)
    assert reg.check().ok  # a write may be under way: check reports nothing
    report = reg.gc()
    assert report.cache_files == 2 and not leftover.exists() and not half_built.exists()


# -- many processes, and SIGKILL ------------------------------------------------------------

READER = textwrap.dedent("""
    import os, sys, artreg
    reg = artreg.open(sys.argv[1])
    print("ready", flush=True)
    sys.stdin.readline()
    for i in range(int(sys.argv[2])):
        v = reg.artifact("zoo/ds:best")
        for name in ("small.txt", "sub/big.bin", "sub/deeper/c.txt"):
            with open(v.path(name), "rb") as f:
                f.read()
        root = reg.snapshot(v)
        for folder, _, names in os.walk(root):
            for name in names:
                open(os.path.join(folder, name), "rb").read()
        if i % 5 == 0:
            reg.gc()
    print("done", flush=True)
""")


def test_processes_reading_paths_and_snapshots_while_others_collect(reg: artreg.Registry, version: artreg.ArtifactVersion) -> None:
    expected = contents(version)
    rounds = max(5, int(20 * SCALE))
    procs = [
        subprocess.Popen([sys.executable, "-c", READER, str(reg.path), str(rounds)], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env())
        for _ in range(3)
    ]
    try:
        deadline = time.monotonic() + CHILD_TIMEOUT
        for proc in procs:
            assert readline(proc, deadline) == "ready\n"
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        for proc in procs:
            out, err = proc.communicate(timeout=CHILD_TIMEOUT * 3)
            assert proc.returncode == 0, err
            assert out.endswith("done\n")
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert tree_of_links(reg.snapshot(version)) == expected
    assert reg.check().ok
    assert leftovers(reg) == []


FETCHER = textwrap.dedent("""
    import sys, artreg
    reg = artreg.open(sys.argv[1])
    v = reg.artifact("zoo/big")
    print("ready", flush=True)
    print(v.path("big.bin"), flush=True)
""")


def test_a_fetch_killed_at_any_moment_never_leaves_a_wrong_named_file(reg: artreg.Registry, tmp_path: Path) -> None:
    rng = random.Random(SEED)
    data = rng.randbytes(48 << 20)
    source = tmp_path / "big.bin"
    source.write_bytes(data)
    art = artreg.Artifact("big", type="dataset")
    art.add_reference(file_uri(source))
    v = reg.log_artifact(art, project="zoo")
    named = cache_dir(reg) / "sha256" / v.get_entry("big.bin").digest[:2] / v.get_entry("big.bin").digest[2:]
    for _ in range(max(3, int(5 * SCALE))):
        proc = subprocess.Popen([sys.executable, "-c", FETCHER, str(reg.path)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=child_env())
        try:
            assert readline(proc, time.monotonic() + CHILD_TIMEOUT) == "ready\n"
            time.sleep(rng.uniform(0.0, 0.3))
            proc.send_signal(signal.SIGKILL)
            proc.communicate(timeout=CHILD_TIMEOUT)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        if named.exists():  # the fetch finished before the kill: then it is whole and right
            assert sha(named.read_bytes()) == sha(data)
            named.unlink()
    reg.gc()
    assert leftovers(reg) == []  # what killed fetches left, gc removed
    assert Path(v.path("big.bin")).read_bytes() == data
