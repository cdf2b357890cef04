"""SPEC §2: the registry file, its layout, schema checks and the blob store."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import apsw
import pytest

import artreg
from artreg.storage._schema import APPLICATION_ID, SCHEMA_VERSION
from conftest import child_env, make, past_racy_window


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_folder_layout(tmp_path: Path) -> None:
    with artreg.open(tmp_path / "r") as reg:
        assert reg.path == str(tmp_path / "r" / "registry.db")
        assert reg.objects == tmp_path / "r" / "objects"
    assert (tmp_path / "r" / "registry.db").is_file()


@pytest.mark.parametrize("name", ["zoo.db", "zoo.sqlite"])
def test_file_layout_keeps_objects_beside_the_file(tmp_path: Path, name: str) -> None:
    with artreg.open(tmp_path / "deep" / name) as reg:
        assert reg.objects == tmp_path / "deep" / f"{name}.objects"
        reg.log_artifact(make(big=os.urandom(100_000)), project="p")
    assert any((tmp_path / "deep" / f"{name}.objects").rglob("*"))


def test_the_folder_and_its_db_file_are_one_registry(tmp_path: Path) -> None:
    with artreg.open(tmp_path / "r") as reg:
        reg.log_artifact(make(big=os.urandom(100_000)), project="p")
    with artreg.open(tmp_path / "r" / "registry.db") as same:
        assert same.objects == tmp_path / "r" / "objects"
        assert same.artifact("p/ds").open("big").read()


def test_default_location_is_artreg_home(tmp_path: Path) -> None:
    with artreg.open() as reg:
        assert reg.path == str(tmp_path / "home" / "registry.db")


def test_default_location_without_artreg_home_is_platformdirs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import platformdirs

    monkeypatch.delenv("ARTREG_HOME")
    monkeypatch.setattr(platformdirs, "user_data_dir", lambda app: str(tmp_path / "platform" / app))
    with artreg.open() as reg:
        assert reg.path == str(tmp_path / "platform" / "artreg" / "registry.db")


def test_memory_registry_keeps_everything_inline() -> None:
    with artreg.open(":memory:") as reg:
        assert reg.objects is None
        v = reg.log_artifact(make(big=os.urandom(200_000)), project="p")
        assert v.open("big").read() == v.open("big").read()


def test_pragmas_and_identity(tmp_path: Path) -> None:
    reg = artreg.open(tmp_path / "reg")
    con = reg._db.connection()
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert con.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert con.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert con.transaction_mode == "IMMEDIATE"
    assert reg.created_by == "tester"
    reg.close()


def test_a_postgresql_catalog_records_its_application_and_schema_version(pg_url: str, tmp_path: Path) -> None:
    with artreg.open(pg_url, blobs=str(tmp_path / "blobs")) as reg:
        row = reg._db.connection().execute("SELECT application_id, version FROM artreg_catalog").fetchone()
        assert row == (APPLICATION_ID, SCHEMA_VERSION)
        assert reg.created_by == "tester" and reg._db.created
    with artreg.open(pg_url) as again:  # the blob folder is remembered
        assert not again._db.created and again.objects == tmp_path / "blobs"


def test_user_defaults_to_env_and_can_be_given(tmp_path: Path) -> None:
    with artreg.open(tmp_path / "r") as a, artreg.open(tmp_path / "r", user="alice") as b:
        assert (a.user, b.user) == ("tester", "alice")
        assert b.created_by == "tester"
    with pytest.raises(artreg.InvalidName):
        artreg.open(tmp_path / "r", user="")


def test_foreign_sqlite_file_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    con = apsw.Connection(str(path))
    con.execute("CREATE TABLE t(x); INSERT INTO t VALUES (1)")
    con.close()
    before = file_digest(path)
    with pytest.raises(artreg.SchemaError, match="not an artreg registry"):
        artreg.open(path)
    assert file_digest(path) == before
    assert not (tmp_path / "other.db-wal").exists()


def test_newer_database_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    artreg.open(path).close()
    con = apsw.Connection(str(path))
    con.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    con.close()
    before = file_digest(path)
    with pytest.raises(artreg.SchemaError, match="newer"):
        artreg.open(path)
    assert file_digest(path) == before


def test_non_database_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_bytes(b"this is not a database, just some text that is long enough" * 100)
    before = file_digest(path)
    with pytest.raises(artreg.SchemaError):
        artreg.open(path)
    assert file_digest(path) == before


def test_reopening_keeps_the_data(tmp_path: Path) -> None:
    with artreg.open(tmp_path / "r") as reg:
        digest = reg.log_artifact(make(a="x"), project="p").digest
    with artreg.open(tmp_path / "r") as reg:
        assert reg.artifact("p/ds:v0").digest == digest


def test_bad_inline_limit(tmp_path: Path) -> None:
    with pytest.raises(artreg.InvalidName, match="inline_limit"):
        artreg.open(tmp_path / "r", inline_limit=-1)


def test_closed_registry_refuses_use(tmp_path: Path) -> None:
    reg = artreg.open(tmp_path / "r")
    reg.close()
    with pytest.raises(artreg.Conflict, match="closed"):
        reg.artifact("p/ds")


# -- blobs ------------------------------------------------------------------------------


def object_files(reg: artreg.Registry) -> list[Path]:
    assert reg.objects is not None
    return [p for p in reg.objects.rglob("*") if p.is_file() and p.parent.name not in ("tmp",) and p.name != "lock"]


def test_small_blobs_inline_large_blobs_as_read_only_files(reg: artreg.Registry) -> None:
    big = os.urandom(5000)
    v = reg.log_artifact(make(small="tiny", big=big), project="p")
    files = object_files(reg)
    digest = hashlib.sha256(big).hexdigest()
    assert files == [reg.objects / digest[:2] / digest[2:]]  # type: ignore[operator]
    assert files[0].read_bytes() == big
    assert stat.S_IMODE(files[0].stat().st_mode) & 0o222 == 0
    rows = dict(reg._db.connection().execute("SELECT digest, data IS NULL FROM blobs").fetchall())
    assert rows == {hashlib.sha256(b"tiny").hexdigest(): 0, digest: 1}
    assert not list((reg.objects / "tmp").iterdir())  # type: ignore[operator]
    assert v.open("big").read() == big


def test_identical_content_is_stored_once_across_collections(reg: artreg.Registry) -> None:
    big = os.urandom(5000)
    reg.log_artifact(make("one", big=big, small="s"), project="p")
    reg.log_artifact(make("two", other=big, small="s"), project="q")
    reg.log_artifact(make("three", type="model", third=big), project="p")
    assert len(object_files(reg)) == 1
    assert reg._db.connection().execute("SELECT count(*) FROM blobs").fetchone()[0] == 2


def test_large_files_stream_in_bounded_memory(tmp_path: Path) -> None:
    source = tmp_path / "big.bin"
    with open(source, "wb") as f:
        for _ in range(32):
            f.write(os.urandom(1 << 20))
    with artreg.open(tmp_path / "r") as reg:
        art = artreg.Artifact("big", type="model")
        art.add_file(source)
        tracemalloc.start()
        v = reg.log_artifact(art, project="p")
        with v.open("big.bin") as reader:
            while reader.read(1 << 20):
                pass
        v.download(tmp_path / "out")
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert peak < 8 << 20, f"peak Python memory {peak} bytes for a 32 MiB file"
    assert file_digest(tmp_path / "out" / "big.bin") == file_digest(source)


def test_stat_cache_skips_reading_unchanged_files(reg: artreg.Registry, src: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    old = os.stat(src).st_mtime_ns - 10**9
    for path in src.rglob("*"):
        os.utime(path, ns=(old, old))
    past_racy_window()  # utime set each ctime to now: only a settled ctime is cached
    first = artreg.Artifact("tree", type="dataset")
    first.add_dir(src)
    v0 = reg.log_artifact(first, project="p")

    from artreg import _ingest

    reads: list[str] = []
    real = _ingest._store_file
    monkeypatch.setattr(_ingest, "_store_file", lambda store, logical, local, *a: reads.append(local) or real(store, logical, local, *a))
    again = artreg.Artifact("tree", type="dataset")
    again.add_dir(src)
    assert reg.log_artifact(again, project="p") == v0
    assert reads == []

    (src / "a.txt").write_text("changed")
    os.utime(src / "a.txt", ns=(old + 1, old + 1))
    changed = artreg.Artifact("tree", type="dataset")
    changed.add_dir(src)
    v1 = reg.log_artifact(changed, project="p")
    assert reads == [str(src / "a.txt")]
    assert v1.index == 1
    assert v1.open("a.txt").read() == b"changed"


def _age(root: Path, seconds: int = 10) -> None:
    """Set every file's mtime well before the racy window, then let their ctimes (now) settle too."""
    old = os.stat(root).st_mtime_ns - seconds * 10**9
    for path in root.rglob("*"):
        os.utime(path, ns=(old, old))
    past_racy_window()


def test_an_unchanged_tree_is_one_lookup_and_any_change_is_seen(
    reg: artreg.Registry, src: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from artreg import _ingest

    _age(src)
    first = artreg.Artifact("tree", type="dataset")
    first.add_dir(src, name="data")
    v0 = reg.log_artifact(first, project="p")
    assert reg._db.connection().execute("SELECT digest FROM tree_cache").fetchall() == [(v0.digest,)]

    real = _ingest._stat_cache
    lookups: list[int] = []  # queries of the stat cache
    monkeypatch.setattr(_ingest, "_stat_cache", lambda *args: lookups.append(1) or real(*args))

    def relog(**kwargs: str) -> artreg.ArtifactVersion:
        art = artreg.Artifact("tree", type="dataset")
        art.add_dir(src, **kwargs)
        return reg.log_artifact(art, project="p")

    assert relog(name="data") == v0 and lookups == []  # the tree cache alone answered
    assert relog(name="other").index == 1 and lookups == [1]  # other logical paths: another tree
    (src / "a.txt").write_text("ALPHA")  # same size, new mtime
    _age(src, 5)
    changed = relog(name="data")
    assert changed.index == 2 and changed.open("data/a.txt").read() == b"ALPHA"
    assert relog(name="data") == changed
    (src / "new.txt").write_text("n")
    _age(src, 5)
    added = relog(name="data")
    assert added.index == 3 and "data/new.txt" in [e.path for e in added.files()]
    os.unlink(src / "sub" / "b.txt")
    removed = relog(name="data")
    assert removed.index == 4 and "data/sub/b.txt" not in [e.path for e in removed.files()]


def test_a_tree_with_a_racy_file_is_not_remembered(reg: artreg.Registry, src: Path) -> None:
    _age(src)
    (src / "a.txt").write_text("fresh")  # modified just now
    art = artreg.Artifact("tree", type="dataset")
    art.add_dir(src)
    reg.log_artifact(art, project="p")
    assert reg._db.connection().execute("SELECT count(*) FROM tree_cache").fetchone() == (0,)


def test_recently_modified_files_are_not_trusted_from_the_cache(reg: artreg.Registry, tmp_path: Path) -> None:
    path = tmp_path / "fresh.txt"
    path.write_text("one")
    # Modified "now" as the log sees it, however slowly a loaded machine gets there: the
    # racy window is 50 ms, which a busy test worker can spend between the write and the log.
    future = time.time_ns() + 60 * 1_000_000_000
    os.utime(path, ns=(future, future))
    art = artreg.Artifact("f", type="dataset")
    art.add_file(path)
    reg.log_artifact(art, project="p")
    assert reg._db.connection().execute("SELECT count(*) FROM stat_cache").fetchone()[0] == 0


def test_a_file_changed_between_add_and_log_is_refused(reg: artreg.Registry, tmp_path: Path) -> None:
    path = tmp_path / "x.txt"
    path.write_text("one")
    art = artreg.Artifact("f", type="dataset")
    art.add_file(path)
    path.write_text("two, longer")
    with pytest.raises(artreg.IntegrityError, match="changed after it was added"):
        reg.log_artifact(art, project="p")
    assert reg.collections() == []


def test_a_blob_file_holds_exactly_the_bytes_it_is_named_by(reg: artreg.Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Many small chunks through the read / write / hash pipeline, with writeback hints on the way."""
    monkeypatch.setattr(artreg.storage._blobs, "CHUNK", 4096)
    monkeypatch.setattr(artreg.storage._blobs, "WRITEBACK", 3 * 4096)
    data = os.urandom(100 * 4096 + 123)
    path = tmp_path / "many-chunks.bin"
    path.write_bytes(data)
    art = artreg.Artifact("f", type="dataset")
    art.add_file(path)
    v = reg.log_artifact(art, project="p")
    digest = hashlib.sha256(data).hexdigest()
    assert v.get_entry("many-chunks.bin").digest == digest
    assert object_files(reg) == [reg.objects / digest[:2] / digest[2:]]  # type: ignore[operator]
    assert object_files(reg)[0].read_bytes() == data
    assert v.open("many-chunks.bin").read() == data


@pytest.mark.parametrize("change", ["grows", "shrinks"])
def test_a_file_changed_while_being_logged_is_refused_and_leaves_nothing(
    reg: artreg.Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    path = tmp_path / "moving.bin"
    path.write_bytes(os.urandom(64 * 1024))
    art = artreg.Artifact("f", type="dataset")
    art.add_file(path)
    real_read_into = artreg.storage._blobs._read_into

    def read_into_while_changing(src: object, view: memoryview) -> int:
        # After the draft's stat check and the first read: another writer changes the file.
        if change == "grows":
            with open(path, "ab") as f:
                f.write(b"more")
        else:
            os.truncate(path, 1000)
        monkeypatch.setattr(artreg.storage._blobs, "_read_into", real_read_into)
        return real_read_into(src, view)  # type: ignore[arg-type]

    monkeypatch.setattr(artreg.storage._blobs, "CHUNK", 4096)
    monkeypatch.setattr(artreg.storage._blobs, "_read_into", read_into_while_changing)
    with pytest.raises(artreg.IntegrityError, match="changed while it was being stored"):
        reg.log_artifact(art, project="p")
    assert reg.collections() == []
    assert object_files(reg) == []
    assert not list((reg.objects / "tmp").iterdir())  # type: ignore[operator]


AT_EXIT = """
import atexit, os, sys
import artreg

def log_big_file():
    path = os.path.join(sys.argv[1], "big.bin")
    with open(path, "wb") as f:
        f.write(os.urandom(3 << 20))
    with artreg.open(os.path.join(sys.argv[1], "reg")) as reg:
        art = artreg.Artifact("big", type="model")
        art.add_file(path)
        print(reg.log_artifact(art, project="p").name)

atexit.register(log_big_file)
"""


def test_a_blob_file_can_be_logged_from_an_atexit_handler(tmp_path: Path) -> None:
    """Hashing runs on a second thread, and none can be started once the interpreter is exiting."""
    done = subprocess.run([sys.executable, "-c", AT_EXIT, str(tmp_path)], capture_output=True, text=True, timeout=60, env=child_env())
    assert done.returncode == 0 and done.stdout == "big:v0\n", done.stderr
    with artreg.open(tmp_path / "reg") as reg:
        reg.artifact("p/big").verify()
        assert reg.check().ok


def test_missing_blob_file_is_restored_by_logging_the_content_again(reg: artreg.Registry) -> None:
    big = os.urandom(5000)
    v = reg.log_artifact(make(big=big), project="p")
    (blob,) = object_files(reg)
    blob.chmod(0o644)
    blob.unlink()
    with pytest.raises(artreg.IntegrityError):
        v.open("big").read()
    reg.log_artifact(make("other", big=big), project="p")
    assert v.open("big").read() == big
