"""SPEC §22: a new version costs what it changes (manifests stored as shared chunks).

Versions made by editing (``new_draft()``, or a folder walked again) must read exactly as
the same content logged afresh: the same entries, the same digest, and the same chunks, so
that what two versions hold alike is stored once. These tests use tiny chunks (a few entries
each) so that small trees span many chunks, forced cuts included.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

import apsw
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import artreg
from artreg import _chunkcache
from artreg.storage import _chunks
from artreg.storage._manifest import version_digest
from conftest import make, older_schema
from invariants import assert_chunks_consistent
from strategies import manifest_paths

# Trees of files named by digits in folders named by letters, so that no drawn tree has a
# file where a folder is; edits draw from a small set of paths mixing both, so they land on
# existing files and folders and sometimes clash (a file where a folder is, or inside a file).
FOLDERS = st.lists(st.sampled_from("abc"), max_size=2).map(lambda parts: "".join(p + "/" for p in parts))
TREE_PATHS = st.builds(str.__add__, FOLDERS, st.text("0123456789", min_size=1, max_size=2))
DATA = st.sampled_from([b"", b"x", b"y" * 40, b"zzz", b"w" * 40])
PUT = st.tuples(st.just("put"), st.one_of(TREE_PATHS, manifest_paths(alphabet="ab0", max_segments=3, max_segment_size=1)), DATA)
REMOVE = st.tuples(st.just("remove"), st.one_of(TREE_PATHS, manifest_paths(alphabet="abc", max_segments=2, max_segment_size=1)))
STEPS = st.lists(st.lists(st.one_of(PUT, PUT, REMOVE), max_size=6), min_size=1, max_size=5)
START = st.dictionaries(TREE_PATHS, DATA, min_size=10, max_size=120)


@contextmanager
def small_chunks(mean: int = 2, most: int = 5) -> Iterator[None]:
    """Chunks of ``mean`` entries on average, never more than ``most``."""
    with mock.patch.object(_chunks, "MEAN", mean), mock.patch.object(_chunks, "MAX", most):
        yield


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def draft_of(name: str, files: dict[str, bytes]) -> artreg.Artifact:
    art = artreg.Artifact(name, type="dataset")
    for path, data in files.items():
        with art.new_file(path, mode="wb") as f:
            f.write(data)
    return art


def chunk_ids(reg: artreg.Registry, version: artreg.ArtifactVersion) -> list[int]:
    con = reg._db.connection()
    return [r[0] for r in con.execute("SELECT chunk_id FROM manifests WHERE version_id = ? ORDER BY first_path", (version.id,))]


PG_TABLES = "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"


def used_bytes(reg: artreg.Registry) -> int:
    """Bytes of the database in use, as this connection sees it.

    SQLite: its pages minus its free pages. PostgreSQL: the bytes of every live row (its
    pages keep dead rows until a vacuum, and each index and fork starts at a page of 8 KiB).
    """
    con = reg._db.connection()
    if reg._db.dialect == "postgresql":
        tables = [r[0] for r in con.execute(PG_TABLES)]
        return sum(int(con.execute(f"SELECT coalesce(sum(pg_column_size(t.*)), 0) FROM {name} AS t").fetchone()[0]) for name in tables)
    pages, free, size = (con.execute(f"PRAGMA {p}").fetchone()[0] for p in ("page_count", "freelist_count", "page_size"))
    return int((pages - free) * size)


def check_version(reg: artreg.Registry, version: artreg.ArtifactVersion, files: dict[str, bytes]) -> None:
    """The version holds exactly ``files``, and is stored as the same content logged afresh would be."""
    want = sorted((path, sha(data)) for path, data in files.items())
    assert [(e.path, e.digest) for e in version.files()] == want
    assert version.digest == version_digest(want)
    assert (version.file_count, version.size) == (len(files), sum(len(d) for d in files.values()))
    for path, data in list(files.items())[:5]:
        assert version.get_entry(path).digest == sha(data)
        with version.open(path) as f:
            assert f.read() == data
    for folder in {p.split("/")[0] for p in files if "/" in p}:
        under = [p for p, _ in want if p.startswith(folder + "/")]
        assert [e.path for e in version.files(folder)] == under
        assert version.count_files(folder) == len(under)
    fresh = reg.log_artifact(draft_of("fresh", files), project="scratch")
    assert fresh.digest == version.digest
    assert chunk_ids(reg, version) == chunk_ids(reg, fresh), "an edited manifest is cut as the same content logged afresh"


def clashes(files: dict[str, bytes], path: str) -> bool:
    """Whether ``path`` cannot be a file next to ``files``: a parent is a file, or it is a folder."""
    parts = path.split("/")
    return any("/".join(parts[:i]) in files for i in range(1, len(parts))) or any(p.startswith(path + "/") for p in files)


def edit_draft(draft: artreg.Artifact, files: dict[str, bytes], op: tuple[Any, ...]) -> None:
    """Apply one edit to a draft and to the model of its files; a refused edit changes neither."""
    if op[0] == "put":
        _, path, data = op
        if clashes(files, path):
            with pytest.raises(artreg.AlreadyExists), draft.new_file(path, mode="wb", overwrite=True) as f:
                f.write(data)
            return
        with draft.new_file(path, mode="wb", overwrite=True) as f:
            f.write(data)
        files[path] = data
        return
    _, path = op
    doomed = [path] if path in files else [p for p in files if p.startswith(path + "/")]
    if not doomed:
        with pytest.raises(artreg.NotFound):
            draft.remove(path)
        return
    draft.remove(path)
    for p in doomed:
        del files[p]


def edit_folder(root: Path, files: dict[str, bytes], op: tuple[Any, ...]) -> None:
    """Apply one edit to a folder on disk and to the model of its files (edits that cannot be made are skipped)."""
    if op[0] == "put":
        _, path, data = op
        if clashes(files, path):
            return
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)
        files[path] = data
        return
    _, path = op
    if path in files:
        (root / path).unlink()
        del files[path]
    elif any(p.startswith(path + "/") for p in files):
        shutil.rmtree(root / path)
        for p in [p for p in files if p.startswith(path + "/")]:
            del files[p]
    else:
        return
    folder = (root / path).parent
    while folder != root and not any(folder.iterdir()):  # no empty folder where a file may go next
        folder.rmdir()
        folder = folder.parent


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(start=START, steps=STEPS)
def test_edits_through_new_draft_read_as_the_same_content_logged_afresh(start: dict[str, bytes], steps: list[list[Any]]) -> None:
    with small_chunks(), tempfile.TemporaryDirectory() as tmp, artreg.open(Path(tmp) / "reg", inline_limit=16) as reg:
        files = dict(start)
        version = reg.log_artifact(draft_of("ds", files), project="p")
        check_version(reg, version, files)
        for step in steps:
            draft = version.new_draft()
            for op in step:
                edit_draft(draft, files, op)
            assert sorted(draft.entries) == sorted(files)
            version = reg.log_artifact(draft, project="p")
            check_version(reg, version, files)
        assert_chunks_consistent(reg)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(start=START, steps=STEPS)
def test_a_folder_walked_again_reads_as_the_same_content_logged_afresh(start: dict[str, bytes], steps: list[list[Any]]) -> None:
    with small_chunks(), tempfile.TemporaryDirectory() as tmp, artreg.open(Path(tmp) / "reg", inline_limit=16) as reg:
        root = Path(tmp) / "tree"
        root.mkdir()
        files: dict[str, bytes] = {}
        for path, data in start.items():
            edit_folder(root, files, ("put", path, data))
        for step in [[], *steps]:
            for op in step:
                edit_folder(root, files, op)
            time.sleep(0.06)  # past the racy window, so the caches remember what they see
            art = artreg.Artifact("ds", type="dataset")
            art.add_dir(root)
            check_version(reg, reg.log_artifact(art, project="p"), files)
        assert_chunks_consistent(reg)


# -- what sharing saves ---------------------------------------------------------------------


def big_version(reg: artreg.Registry, count: int) -> artreg.ArtifactVersion:
    art = artreg.Artifact("big", type="dataset")
    for i in range(count):
        with art.new_file(f"part{i // 1000:02d}/{i:06d}.txt") as f:
            f.write(f"row {i}")
    return reg.log_artifact(art, project="p")


def test_one_changed_file_of_a_large_version_adds_a_chunk_not_a_manifest(reg: artreg.Registry) -> None:
    before = used_bytes(reg)
    v0 = big_version(reg, 20_000)
    whole = used_bytes(reg) - before
    rows_before = reg._db.connection().execute("SELECT count(*) FROM chunk_entries").fetchone()[0]
    before = used_bytes(reg)
    draft = v0.new_draft()
    with draft.new_file("part07/007777.txt", overwrite=True) as f:
        f.write("changed")
    v1 = reg.log_artifact(draft, project="p")
    grown = used_bytes(reg) - before
    rows_added = reg._db.connection().execute("SELECT count(*) FROM chunk_entries").fetchone()[0] - rows_before
    assert v1.file_count == 20_000 and v1.get_entry("part07/007777.txt").digest == sha(b"changed")
    assert v1.digest == version_digest((e.path, e.digest) for e in v1.files())
    assert rows_added <= _chunks.MAX  # one chunk's rows, not 20,000
    shared = set(chunk_ids(reg, v0)) & set(chunk_ids(reg, v1))
    assert len(shared) >= len(chunk_ids(reg, v0)) - 2
    # The manifest of 20,000 entries cost ~4 MiB; the new version one chunk and its list.
    assert grown < whole / 10, (grown, whole)
    # Removing a whole folder and adding files writes the chunks at its edges only.
    draft = v1.new_draft()
    draft.remove("part05")
    with draft.new_file("part05.txt") as f:
        f.write("instead")
    before = used_bytes(reg)
    v2 = reg.log_artifact(draft, project="p")
    assert v2.file_count == 20_000 - 1000 + 1 and [e.path for e in v2.files("part05")] == []
    assert used_bytes(reg) - before < whole / 10
    assert_chunks_consistent(reg)


def test_growth_for_k_changed_files_follows_k_not_the_version(reg: artreg.Registry) -> None:
    with small_chunks(mean=64, most=512):
        before = used_bytes(reg)
        v0 = big_version(reg, 20_000)
        whole = used_bytes(reg) - before
        listed = len(chunk_ids(reg, v0))
        for k in (1, 4, 16):
            draft = v0.new_draft()
            for i in range(k):
                with draft.new_file(f"part{i:02d}/{i * 1000 + 17:06d}.txt", overwrite=True) as f:
                    f.write(f"changed {k}")
            before = used_bytes(reg)
            reg.log_artifact(draft, project="p")
            grown = used_bytes(reg) - before
            # The new chunk list (one row per chunk), plus one chunk per changed file: its
            # rows and text take well under 400 bytes an entry. Pages are 4 KiB, and each
            # B-tree touched may leave a page part full: 64 KiB of slack.
            assert grown <= listed * 100 + k * _chunks.MAX * 400 + (64 << 10), (k, grown)
            assert grown < whole / 10, (k, grown, whole)


def test_a_folder_walked_again_stores_only_the_chunks_whose_files_changed(reg: artreg.Registry, tmp_path: Path) -> None:
    root = tmp_path / "tree"
    for i in range(3000):
        (root / f"d{i // 500}").mkdir(parents=True, exist_ok=True)
        (root / f"d{i // 500}" / f"{i:05d}.txt").write_text(f"file {i}")
    time.sleep(0.06)

    def log() -> artreg.ArtifactVersion:
        art = artreg.Artifact("tree", type="dataset")
        art.add_dir(root)
        return reg.log_artifact(art, project="p")

    v0 = log()
    ingested: list[int] = []
    real = _chunkcache.ingest

    def counting(store: Any, content: Any, known: Any, progress: Any = None) -> Any:
        ingested.append(len(content))
        return real(store, content, known, progress)

    with mock.patch.object(_chunkcache, "ingest", counting):
        (root / "d3" / "01700.txt").write_text("file 1701")  # same size
        time.sleep(0.06)
        v1 = log()
        assert v1.index == 1 and v1.get_entry("d3/01700.txt").digest == sha(b"file 1701")
        assert len(ingested) == 1 and 0 < ingested[0] <= _chunks.MAX  # one chunk's files, not 3,000
        assert len(set(chunk_ids(reg, v0)) - set(chunk_ids(reg, v1))) == 1
        # Unchanged since: nothing goes through ingest, and the log dedups.
        ingested.clear()
        assert log() == v1 and ingested == []
        # A file whose timestamp is not safely in the past is read, and its chunk is not
        # remembered (it might change again without its stat changing); once settled it is.
        remembered = reg._db.connection().execute("SELECT count(*) FROM chunk_cache").fetchone()[0]
        changed = root / "d0" / "00001.txt"
        changed.write_text("new content")
        future = time.time_ns() + 60 * 10**9  # ahead of the clock: racy however long the walk takes
        os.utime(changed, ns=(future, future))
        v2 = log()
        assert v2.get_entry("d0/00001.txt").digest == sha(b"new content")
        assert reg._db.connection().execute("SELECT count(*) FROM chunk_cache").fetchone()[0] == remembered
        past = time.time_ns() - 60 * 10**9
        os.utime(changed, ns=(past, past))
        time.sleep(0.06)
        ingested.clear()
        assert log() == v2 and len(ingested) == 1
        assert reg._db.connection().execute("SELECT count(*) FROM chunk_cache").fetchone()[0] == remembered + 1
    for version in (v0, v1, v2):
        version.verify()


# -- gc ---------------------------------------------------------------------------------------


def test_gc_keeps_every_chunk_a_live_version_lists_and_sweeps_the_rest(reg: artreg.Registry) -> None:
    with small_chunks(mean=8, most=32):
        files = {f"f/{i:03d}": bytes([i]) * (i % 7 + 1) + b"\xff" * 2000 * (i % 3 == 0) for i in range(200)}
        v0 = reg.log_artifact(draft_of("ds", files), project="p")
        draft = v0.new_draft()
        with draft.new_file("f/050", mode="wb", overwrite=True) as f:
            f.write(b"changed")
        draft.remove("f/120")
        v1 = reg.log_artifact(draft, project="p")
        only_v0 = set(chunk_ids(reg, v0)) - set(chunk_ids(reg, v1))
        assert 1 <= len(only_v0) <= 3
        assert reg.gc().blobs == 0
        v0.delete(delete_aliases=True)
        report = reg.gc()
        assert report.blobs == 2  # f/050's and f/120's old bytes; every other blob v1 still names
        con = reg._db.connection()
        left = {r[0] for r in con.execute("SELECT id FROM chunks")}
        assert left == set(chunk_ids(reg, v1)) and not left & only_v0
        assert con.execute("SELECT count(*) FROM chunk_entries WHERE chunk_id NOT IN (SELECT id FROM chunks)").fetchone() == (0,)
        assert con.execute("SELECT count(*) FROM chunk_cache WHERE chunk_key NOT IN (SELECT key FROM chunks)").fetchone() == (0,)
        v1.verify()
        check = dict(files)
        check["f/050"] = b"changed"
        del check["f/120"]
        assert {e.path: e.digest for e in v1.files()} == {p: sha(d) for p, d in check.items()}
        with pytest.raises(artreg.NotFound, match="collected"):
            list(v0.files())
        with pytest.raises(artreg.NotFound, match="collected"):
            v0.new_draft()
        with pytest.raises(artreg.NotFound, match="collected"):
            v0.diff(v1)
        assert reg.check().ok
        assert_chunks_consistent(reg)


def test_files_of_a_version_collected_while_they_are_read_raise(reg: artreg.Registry) -> None:
    with small_chunks(mean=4, most=8):
        v = reg.log_artifact(draft_of("ds", {f"f{i:03d}": b"%d" % i for i in range(100)}), project="p")
        reading = v.files()
        assert [next(reading).path for _ in range(3)] == ["f000", "f001", "f002"]
        v.delete(delete_aliases=True)
        reg.gc()
        with pytest.raises(artreg.NotFound, match="collected"):
            list(reading)


def test_a_draft_whose_base_was_collected_is_refused_when_logged(reg: artreg.Registry) -> None:
    v0 = reg.log_artifact(make(a="alpha", b="bravo"), project="p")
    draft = v0.new_draft()
    with draft.new_file("c") as f:
        f.write("charlie")
    v0.delete(delete_aliases=True)
    reg.gc()
    with pytest.raises(artreg.NotFound, match="collected"):
        reg.log_artifact(draft, project="p")
    assert reg.artifacts("p", "ds") == []


# -- drafts from new_draft() -------------------------------------------------------------------


def test_a_based_draft_edits_its_base_in_place(reg: artreg.Registry) -> None:
    v0 = reg.log_artifact(make(a="alpha", d__x="x", d__y="y", e__f__g="g"), project="p")
    draft = v0.new_draft()
    assert repr(draft) == "<Artifact 'ds' type='dataset' from p/ds:v0, 0 added or replaced, 0 removed>"
    with pytest.raises(artreg.AlreadyExists, match="other content"), draft.new_file("a") as f:
        f.write("other")
    with pytest.raises(artreg.AlreadyExists, match="folder"), draft.new_file("d") as f:
        f.write("a file where a folder is")
    with pytest.raises(artreg.AlreadyExists, match="inside"), draft.new_file("a/b") as f:
        f.write("under a file")
    with draft.new_file("a") as f:  # the same content: nothing changes
        f.write("alpha")
    draft.remove("d/x")
    with pytest.raises(artreg.NotFound):
        draft.remove("d/x")
    draft.remove("e")
    with pytest.raises(artreg.NotFound):
        draft.remove("e/f/g")
    with draft.new_file("e") as f:  # the folder is gone, so a file may take its name
        f.write("now a file")
    draft.remove("d")
    with draft.new_file("d/z") as f:
        f.write("z")
    assert {p: e.digest for p, e in draft.entries.items()} == {"a": sha(b"alpha"), "e": sha(b"now a file"), "d/z": sha(b"z")}
    v1 = reg.log_artifact(draft, project="p")
    assert [(e.path, e.digest) for e in v1.files()] == [("a", sha(b"alpha")), ("d/z", sha(b"z")), ("e", sha(b"now a file"))]
    with pytest.raises(artreg.ArtregError, match="frozen"):
        draft.remove("a")


def test_an_unchanged_based_draft_dedups(reg: artreg.Registry) -> None:
    v0 = reg.log_artifact(make(a="alpha"), project="p")
    assert reg.log_artifact(v0.new_draft(), project="p") == v0
    draft = v0.new_draft()
    draft.remove("a")
    with draft.new_file("a") as f:
        f.write("alpha")
    assert reg.log_artifact(draft, project="p") == v0


def test_a_based_draft_of_a_link_reads_its_source(reg: artreg.Registry) -> None:
    v0 = reg.log_artifact(make("m", "model", w="weights"), project="p")
    link = v0.link("wandb-registry-model/zoo")
    draft = link.new_draft()
    with draft.new_file("cfg") as f:
        f.write("c")
    v1 = reg.log_artifact(draft, project="p")
    assert v1.name == "m:v1" and [e.path for e in v1.files()] == ["cfg", "w"]


# -- storage ---------------------------------------------------------------------------------------


def test_reads_use_the_indexes_only() -> None:
    """get_entry, a folder, a chunk list and a scan are index seeks and ranges: no table scan, no sort."""
    with artreg.open(":memory:") as reg:
        v = reg.log_artifact(make(a="1", b__c="2"), project="p")
        con = reg._db.connection()
        named = {"v": v.id, "low": "b/", "high": "b0"}
        for sql, args in [(_chunks.ENTRY, (v.id, "a")), (_chunks.FIRST_FROM, (v.id, "b/")), (_chunks.REFS, named),
                          (_chunks.REFS_BELOW, named), (_chunks.SCAN, named), (_chunks.SCAN_BELOW, named)]:
            plan = " | ".join(str(row[3]) for row in con.execute("EXPLAIN QUERY PLAN " + sql, args))
            assert "SCAN " not in plan.replace("SCAN CONSTANT ROW", "") and "TEMP B-TREE" not in plan, plan


def old_registry(path: Path, versions: dict[int, list[tuple[str, str, int]]]) -> None:
    """A registry as schema version 6 wrote it: manifest rows in an ``entries`` table."""
    con = apsw.Connection(str(path))
    with con:
        older_schema(con, 6)
        con.execute("INSERT INTO projects(name, created_at) VALUES ('p', '2024-01-01T00:00:00.000000Z')")
        con.execute("INSERT INTO collections(project_id, name, type, created_at) "
                    "VALUES (3, 'ds', 'dataset', '2024-01-01T00:00:00.000000Z')")
        for index, rows in versions.items():
            digest = version_digest((p, d) for p, d, _ in rows)
            (version_id,) = con.execute(
                "INSERT INTO versions(collection_id, idx, digest, size, file_count, created_at, created_by) "
                "VALUES (1, ?, ?, ?, ?, '2024-01-01T00:00:00.000000Z', 'old') RETURNING id",
                (index, digest, sum(s for _, _, s in rows), len(rows)),
            ).fetchone()
            con.executemany("INSERT INTO entries(version_id, path, digest, size) VALUES (?, ?, ?, ?)",
                            ((version_id, *row) for row in rows))
        con.execute("UPDATE collections SET next_index = ?", (len(versions),))
    con.close()


def test_the_migration_stores_runs_that_versions_hold_alike_once(tmp_path: Path) -> None:
    rows = [(f"f{i:05d}", sha(str(i).encode()), i) for i in range(5000)]
    edited = rows[:2500] + [(rows[2500][0], sha(b"changed"), 7)] + rows[2501:]
    old_registry(tmp_path / "old.db", {0: rows, 1: edited})
    with artreg.open(tmp_path / "old.db") as reg:
        v0, v1 = reg.artifact("p/ds:v0"), reg.artifact("p/ds:v1")
        assert [(e.path, e.digest, e.size) for e in v0.files()] == rows
        assert [(e.path, e.digest, e.size) for e in v1.files()] == edited
        assert v1.digest == version_digest((p, d) for p, d, _ in edited)
        assert len(set(chunk_ids(reg, v0)) - set(chunk_ids(reg, v1))) == 1
        assert reg._db.connection().execute("SELECT type FROM sqlite_schema WHERE name = 'entries'").fetchone() == ("view",)
        assert reg._db.connection().execute("SELECT count(*) FROM entries").fetchone() == (10_000,)
        assert_chunks_consistent(reg)
        # The version logged next shares the migrated chunks.
        draft = v1.new_draft()
        draft.remove("f00000")
        v2 = reg.log_artifact(draft, project="p")
        assert len(set(chunk_ids(reg, v2)) - set(chunk_ids(reg, v1))) == 1


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text("ab/.-", min_size=1, max_size=6), unique=True, max_size=80), st.sampled_from([(2, 3), (4, 6), (8, 5)]))
def test_a_manifest_written_row_by_row_is_cut_as_one_cut_whole(paths: list[str], params: tuple[int, int]) -> None:
    """The migration writes rows as they stream by (``write_sorted``), a log cuts them at
    once (``from_rows``): the same rows must make the same chunks, or nothing would be shared."""
    rows: list[Any] = [(path, sha(path.encode()), len(path), None, "{}") for path in sorted(paths)]
    with small_chunks(*params), artreg.open(":memory:") as reg:
        version = reg.log_artifact(artreg.Artifact("empty", type="dataset"), project="p")
        with reg._db.write() as con:
            digest, count, size = _chunks.write_sorted(con, version.id, rows)
            keys = [r[0] for r in con.execute(
                "SELECT c.key FROM manifests AS m JOIN chunks AS c ON c.id = m.chunk_id WHERE m.version_id = ? ORDER BY m.first_path",
                (version.id,))]
        manifest = _chunks.from_rows(rows)
        assert keys == [piece.key for piece in manifest.new_chunks]
        assert (digest, count, size) == (manifest.digest, manifest.count, manifest.size) == (
            version_digest((p, d) for p, d, *_ in rows), len(rows), sum(r[2] for r in rows))
        assert all(piece.count <= params[1] for piece in manifest.new_chunks)


def test_paging_and_folders_across_many_chunks(reg: artreg.Registry) -> None:
    with small_chunks(mean=4, most=9):
        files = {f"{'abc'[i % 3]}/{i:03d}" + ("/x" if i % 7 == 0 else ""): b"%d" % i for i in range(300)}
        v = reg.log_artifact(draft_of("ds", files), project="p")
        assert len(chunk_ids(reg, v)) > 40
        every = sorted(files)
        for prefix in (None, "a", "b/", "c/021", "zz"):
            under = [p for p in every if prefix is None or p.startswith(prefix.rstrip("/") + "/")]
            assert v.count_files(prefix) == len(under)
            for offset, limit in ((0, None), (0, 5), (3, 17), (max(len(under) - 2, 0), 10), (len(under) + 5, 3), (11, 0)):
                assert [e.path for e in v.files(prefix, offset=offset, limit=limit)] == under[offset:][:limit], (prefix, offset, limit)


def test_a_folder_reads_only_its_own_chunks(reg: artreg.Registry, tmp_path: Path) -> None:
    v = big_version(reg, 20_000)
    read: list[int] = []
    real = _chunks.rows

    def counting(con: apsw.Connection, chunk_id: int, low: str = "", high: str | None = None) -> list[Any]:
        found = real(con, chunk_id, low, high)
        read.append(len(found))
        return found

    with mock.patch.object(_chunks, "rows", counting):
        root = v.download(str(tmp_path / "out"), path_prefix="part13")
        assert sorted(p.name for p in Path(root, "part13").iterdir()) == [f"{i:06d}.txt" for i in range(13_000, 14_000)]
        assert not Path(root, "part12").exists()
        # The folder's 1,000 entries, and at most the rows of the two chunks at its edges besides.
        assert sum(read) == 1000 and len(read) <= 1000 / _chunks.MEAN * 4
        read.clear()
        assert [e.path for e in v.files("part13", offset=990)][:3] == ["part13/013990.txt", "part13/013991.txt", "part13/013992.txt"]
        assert sum(read) <= 10 + 2 * _chunks.MAX  # chunks before the offset are skipped by their counts


def test_versions_copied_into_another_registry_share_their_chunks_there(reg: artreg.Registry, tmp_path: Path) -> None:
    """An import (``copy_to``, bundles) writes manifests through the chunk store: two versions
    that differ in one file share every other chunk in the destination, as in the source."""
    v0 = big_version(reg, 5_000)
    draft = v0.new_draft()
    with draft.new_file("part02/002222.txt", overwrite=True) as f:
        f.write("changed")
    v1 = reg.log_artifact(draft, project="p")
    with artreg.open(tmp_path / "dst") as dst:
        report = reg.copy_to(dst)
        assert report.versions_created == 2
        c0, c1 = dst.artifact("p/big:v0"), dst.artifact("p/big:v1")
        assert (c0.digest, c1.digest) == (v0.digest, v1.digest)
        assert [(e.path, e.digest) for e in c1.files()] == [(e.path, e.digest) for e in v1.files()]
        assert chunk_ids(dst, c0) and len(set(chunk_ids(dst, c0)) - set(chunk_ids(dst, c1))) == 1
        count = dst._db.connection().execute("SELECT count(*) FROM chunk_entries").fetchone()[0]
        assert count < 5_000 + _chunks.MAX  # one version's rows and one chunk, not two manifests
        assert_chunks_consistent(dst)


def test_a_finished_distributed_version_is_a_chunked_manifest(reg: artreg.Registry) -> None:
    """SPEC §15.1: the rows the parts collected become the version's chunks when it is finished."""
    import artreg.wandb as wandb

    wandb.use_registry(reg)
    files = {f"part{i % 3}/{i:05d}.txt": b"row %d" % i for i in range(3_000)}
    with wandb.init(project="p") as run:
        for part in range(3):
            artifact = wandb.Artifact("parallel", type="dataset")
            for path, data in files.items():
                if path.startswith(f"part{part}/"):
                    with artifact.new_file(path, mode="wb") as f:
                        f.write(data)
            run.upsert_artifact(artifact, distributed_id="d")
        run.finish_artifact(wandb.Artifact("parallel", type="dataset"), distributed_id="d")
    version = reg.artifact("p/parallel:latest")
    check_version(reg, version, files)
    assert_chunks_consistent(reg)
