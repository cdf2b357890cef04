"""SPEC §2, §8, §22: an adversarial review of chunked manifests.

A version made by editing another (``new_draft()``) must be indistinguishable from the same
content logged afresh in a registry of its own: every field of every entry, in the same
order, the digest SPEC §2 defines (computed here from scratch, not by artreg), its size and
count, and the same chunks. Damage to a stored chunk must be reported by ``check()`` and
never passed on to the versions made from it.
"""

from __future__ import annotations

import hashlib
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import apsw
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_chunks import check_version, chunk_ids, draft_of, small_chunks

import artreg
from artreg.storage import _chunks
from artreg.storage._pg_sql import override
from artreg.storage._schema import MIGRATIONS, _v12
from conftest import UNDO_CHUNKS, child_env, readline
from invariants import assert_chunks_consistent

# Path segments chosen to sort differently under every plausible wrong order: prefixes of
# each other ("a", "a.b", "a0", and "a/b" below them), a decomposed accent next to a
# composed one, U+FB00 (above the surrogates in UTF-16 order, below U+10000 in code points).
SEGMENTS = ["a", "a.b", "a0", "b", "é", "e\u0301", "\ufb00", "\U00010000", "a b"]
PATHS = st.lists(st.sampled_from(SEGMENTS), min_size=1, max_size=3).map("/".join)
DATA = st.sampled_from([b"", b"x", b"y" * 40, b"zzz"])
REF_TARGETS = ["r0", "r1", "empty"]  # files referenced by file:// URI, made per example
OPS = st.one_of(
    st.tuples(st.just("put"), PATHS, DATA),
    st.tuples(st.just("put"), PATHS, DATA),
    st.tuples(st.just("ref"), PATHS, st.sampled_from(REF_TARGETS)),
    st.tuples(st.just("remove"), PATHS),
    st.tuples(st.just("dir"), st.sampled_from(["", *SEGMENTS[:4]]), st.dictionaries(PATHS, DATA, min_size=1, max_size=4)),
)
START = st.dictionaries(PATHS, DATA, max_size=60)


def spec_digest(entries: list[artreg.ManifestEntry]) -> str:
    """SPEC §2 word for word: sha256 over the header and ``path:digest\\n`` for every entry, sorted by path."""
    text = "artreg-manifest-v1\n" + "".join(f"{e.path}:{e.digest}\n" for e in sorted(entries, key=lambda e: e.path))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def clashes(model: dict[str, Any], path: str) -> bool:
    parts = path.split("/")
    return any("/".join(parts[:i]) in model for i in range(1, len(parts))) or any(p.startswith(path + "/") for p in model)


def without_clashes(files: dict[str, bytes]) -> dict[str, bytes]:
    kept: dict[str, bytes] = {}
    for path in sorted(files, key=lambda p: (p.count("/"), p)):
        if not clashes(kept, path):
            kept[path] = files[path]
    return kept


def add(art: artreg.Artifact, path: str, value: Any, refs: Path) -> None:
    """Add one model value to a draft: bytes as a file, ("ref", target) as a file:// reference."""
    if isinstance(value, tuple):
        art.add_reference((refs / value[1]).as_uri(), name=path, overwrite=True)
    else:
        with art.new_file(path, mode="wb", overwrite=True) as f:
            f.write(value)


def apply(draft: artreg.Artifact, model: dict[str, Any], op: tuple[Any, ...], work: Path, refs: Path) -> None:
    """One edit on the draft and on the model; an edit the draft refuses must change neither."""
    kind = op[0]
    if kind == "remove":
        doomed = [op[1]] if op[1] in model else [p for p in model if p.startswith(op[1] + "/")]
        if not doomed:
            with pytest.raises(artreg.NotFound):
                draft.remove(op[1])
        else:
            draft.remove(op[1])
            for p in doomed:
                del model[p]
    elif kind in ("put", "ref"):
        value = op[2] if kind == "put" else ("ref", op[2])
        if clashes(model, op[1]):
            with pytest.raises(artreg.AlreadyExists):
                add(draft, op[1], value, refs)
        else:
            add(draft, op[1], value, refs)
            model[op[1]] = value
    else:
        prefix, tree = op[1], without_clashes(op[2])
        root = Path(tempfile.mkdtemp(dir=work))
        for rel, data in tree.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes(data)
        placed = {(prefix + "/" if prefix else "") + rel: data for rel, data in tree.items()}
        trial = dict(model)
        refused = False
        for path, data in placed.items():
            if clashes(trial, path):
                refused = True
            trial[path] = data
        if refused:
            with pytest.raises(artreg.AlreadyExists):
                draft.add_dir(root, name=prefix or None, overwrite=True)
        else:
            draft.add_dir(root, name=prefix or None, overwrite=True)
            model.clear()
            model.update(trial)
    assert sorted(draft.entries) == sorted(model), op


def assert_same_version(edited: artreg.ArtifactVersion, fresh: artreg.ArtifactVersion) -> None:
    """Every observable of two versions alike, and both as SPEC §2 defines the digest."""
    entries = list(edited.files())
    assert entries == list(fresh.files())
    assert [e.path for e in entries] == sorted(e.path for e in entries)
    assert [e.path.encode() for e in entries] == sorted(e.path.encode() for e in entries)  # code points = UTF-8 bytes
    assert edited.digest == fresh.digest == spec_digest(entries)
    assert (edited.size, edited.file_count) == (fresh.size, fresh.file_count) == (sum(e.size for e in entries), len(entries))
    for e in entries:
        assert edited.get_entry(e.path) == e
    for folder in sorted({e.path.rsplit("/", 1)[0] for e in entries if "/" in e.path}):
        under = [e for e in entries if e.path.startswith(folder + "/")]
        assert list(edited.files(folder)) == under and edited.count_files(folder) == len(under)
        assert list(edited.files(folder, offset=1, limit=2)) == under[1:3]
    held = {e.path for e in entries}
    for missing in ("a/a/a/a", "a.", "a0/a0/a0/a0", "zz"):
        if missing not in held:
            with pytest.raises(artreg.NotFound):
                edited.get_entry(missing)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(start=START, steps=st.lists(st.lists(OPS, max_size=5), min_size=1, max_size=4))
def test_edit_sequences_give_the_version_a_fresh_registry_logs(start: dict[str, bytes], steps: list[list[Any]]) -> None:
    with small_chunks(mean=2, most=4), tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        refs = work / "refs"
        refs.mkdir()
        for name, data in (("r0", b"zero"), ("r1", b"one" * 30), ("empty", b"")):
            (refs / name).write_bytes(data)
        model: dict[str, Any] = without_clashes(start)
        with artreg.open(work / "reg", inline_limit=16) as reg, artreg.open(work / "fresh", inline_limit=16) as other:
            version = reg.log_artifact(draft_of("ds", model), project="p")
            for number, step in enumerate(steps):
                draft = version.new_draft()
                for op in step:
                    apply(draft, model, op, work, refs)
                version = reg.log_artifact(draft, project="p")
                art = artreg.Artifact(f"fresh{number}", type="dataset")
                for path, value in model.items():
                    add(art, path, value, refs)
                fresh = other.log_artifact(art, project="p")
                assert_same_version(version, fresh)
                keys = "SELECT c.key FROM manifests AS m JOIN chunks AS c ON c.id = m.chunk_id WHERE m.version_id = ? ORDER BY m.first_path"
                assert [r[0] for r in reg._db.connection().execute(keys, (version.id,))] == \
                    [r[0] for r in other._db.connection().execute(keys, (fresh.id,))], "cut as the same content afresh"
            assert_chunks_consistent(reg)
            assert reg.check().ok


# -- damage --------------------------------------------------------------------------------------


def damaged_registry(reg: artreg.Registry) -> artreg.ArtifactVersion:
    with small_chunks(mean=4, most=8):
        version = reg.log_artifact(draft_of("ds", {f"f{i:03d}": b"%d" % i for i in range(40)}), project="p")
    assert reg.check().ok and len(chunk_ids(reg, version)) > 4
    return version


CHUNK_OF = "(SELECT id FROM chunks WHERE first_path <= 'f013' AND last_path >= 'f013')"
DAMAGE_TEXT = override(
    f"UPDATE chunks SET text = CAST(replace(CAST(text AS TEXT), 'f013', 'f01x') AS BLOB) WHERE id = {CHUNK_OF}",
    f"UPDATE chunks SET text = convert_to(replace(convert_from(text, 'UTF8'), 'f013', 'f01x'), 'UTF8') WHERE id = {CHUNK_OF}",
)


@pytest.mark.parametrize("damage", [
    DAMAGE_TEXT,
    f"UPDATE chunk_entries SET digest = '{'0' * 64}' WHERE path = 'f013'",
    "UPDATE chunk_entries SET path = 'f013x' WHERE path = 'f013'",
    "UPDATE chunk_entries SET size = size + 1 WHERE path = 'f013'",
    "DELETE FROM chunk_entries WHERE path = 'f013'",
    f"UPDATE manifests SET chunk_id = (SELECT max(id) FROM chunks) WHERE chunk_id = {CHUNK_OF}",
    f"DELETE FROM manifests WHERE chunk_id = {CHUNK_OF}",
])
def test_check_reports_a_damaged_chunk_or_manifest(reg: artreg.Registry, damage: str) -> None:
    """SQLite's integrity check cannot see a changed value: check() compares each chunk with its rows and each version with its digest."""
    damaged_registry(reg)
    with reg._db.write() as con:
        con.execute(damage)
    report = reg.check()
    assert not report.ok and report.integrity, report


def test_a_version_built_on_a_damaged_chunk_text_is_reported_by_check(reg: artreg.Registry) -> None:
    """The digest of a version made from another is hashed from the texts its chunks store, which
    a log trusts as every read trusts the database (rehashing the base's whole manifest on each
    log would double the cost of a one-file change): ``check()`` finds the damage, in the base
    and in what was built on it."""
    version = damaged_registry(reg)
    with reg._db.write() as con:
        con.execute(DAMAGE_TEXT)
    draft = version.new_draft()
    with draft.new_file("f039", mode="wb", overwrite=True) as f:
        f.write(b"changed")
    built = reg.log_artifact(draft, project="p")
    report = reg.check()
    assert not report.ok
    found = "\n".join(report.integrity)
    assert f"version {version.id}: has a manifest that does not hash to its digest" in found
    with reg._db.read() as con:
        (damaged,) = con.execute(f"SELECT {CHUNK_OF}").fetchone()
        shared = {ref.id for ref in _chunks.chunk_refs(con, built.id)}
    assert f"chunk {damaged}: its digest text does not match its rows" in found and damaged in shared


# -- chunk boundaries ----------------------------------------------------------------------------


def test_edits_at_the_edges_of_chunks_and_of_whole_chunks(reg: artreg.Registry) -> None:
    """The first and last entry of every chunk changed, removed, or with a neighbour inserted
    beside it, and runs of whole chunks removed: each reads and is cut as the content afresh."""
    with small_chunks(mean=4, most=6):
        files = {f"d{i // 25}/{i:03d}": b"%d" % i for i in range(100)}
        v0 = reg.log_artifact(draft_of("ds", files), project="p")
        with reg._db.read() as con:
            refs = _chunks.chunk_refs(con, v0.id)
        assert len(refs) > 10
        for ref in refs[::3]:
            for path in {ref.first_path, ref.last_path}:
                for edit in ("overwrite", "remove", "before", "after"):
                    draft, want = v0.new_draft(), dict(files)
                    if edit == "remove":
                        draft.remove(path)
                        del want[path]
                    else:
                        # Just before it (its predecessor, or in the chunk before), just after it.
                        target = {"overwrite": path, "before": path[:-1] + chr(ord(path[-1]) - 1) + "~", "after": path + "~"}[edit]
                        with draft.new_file(target, mode="wb", overwrite=True) as f:
                            f.write(b"edited")
                        want[target] = b"edited"
                    check_version(reg, reg.log_artifact(draft, project="p"), want)
        # A folder spanning several whole chunks, and everything but one file.
        draft = v0.new_draft()
        draft.remove("d1")
        draft.remove("d2")
        check_version(reg, reg.log_artifact(draft, project="p"), {p: d for p, d in files.items() if p[:2] not in ("d1", "d2")})
        draft = v0.new_draft()
        for folder in ("d0", "d1", "d2"):
            draft.remove(folder)
        for path in [p for p in files if p.startswith("d3/")][1:]:
            draft.remove(path)
        check_version(reg, reg.log_artifact(draft, project="p"), {"d3/075": b"75"})
        assert_chunks_consistent(reg)
        assert reg.check().ok


def test_a_version_of_no_entries_and_back(reg: artreg.Registry, tmp_path: Path) -> None:
    empty_digest = hashlib.sha256(b"artreg-manifest-v1\n").hexdigest()
    v0 = reg.log_artifact(draft_of("ds", {"a": b"1", "b/c": b"2"}), project="p")
    draft = v0.new_draft()
    draft.remove("a")
    draft.remove("b")
    v1 = reg.log_artifact(draft, project="p")
    assert (v1.index, v1.digest, v1.file_count, v1.size, list(v1.files())) == (1, empty_digest, 0, 0, [])
    assert v1.count_files("b") == 0 and chunk_ids(reg, v1) == []
    assert list(Path(v1.download(str(tmp_path / "out"))).iterdir()) == []
    assert reg.log_artifact(artreg.Artifact("ds", type="dataset"), project="p") == v1  # the same (no) content
    draft = v1.new_draft()
    with draft.new_file("a", mode="wb") as f:
        f.write(b"1")
    v2 = reg.log_artifact(draft, project="p")
    check_version(reg, v2, {"a": b"1"})
    gone = v0.diff(v1)
    assert ([e.path for e in gone.removed], gone.added, gone.changed, gone.unchanged_count) == (["a", "b/c"], (), (), 0)
    assert reg.check().ok


def test_a_huge_entry_keeps_its_size_through_edits(reg: artreg.Registry, tmp_path: Path) -> None:
    """Sizes are summed per chunk and per version in 64-bit integers, never truncated."""
    huge = tmp_path / "huge"
    with open(huge, "wb") as f:
        f.truncate(1 << 42)  # 4 TiB, sparse
    art = draft_of("ds", {"small": b"abc"})
    art.add_reference(huge.as_uri(), name="huge", checksum=False)
    v0 = reg.log_artifact(art, project="p")
    assert v0.size == (1 << 42) + 3 and v0.get_entry("huge").size == 1 << 42
    draft = v0.new_draft()
    with draft.new_file("more", mode="wb") as f:
        f.write(b"12345")
    v1 = reg.log_artifact(draft, project="p")
    assert v1.size == (1 << 42) + 8 and [e.size for e in v1.files()] == [1 << 42, 5, 3]
    assert_chunks_consistent(reg)


def test_a_chunk_unrelated_versions_share_survives_the_deletion_of_one(reg: artreg.Registry, tmp_path: Path) -> None:
    """The same files logged in two collections of two projects are stored once; deleting one
    and collecting leaves the other whole, byte for byte."""
    with small_chunks(mean=4, most=8):
        files = {f"x/{i:03d}": bytes([i]) * (i * 40) for i in range(60)}
        mine = reg.log_artifact(draft_of("mine", files), project="p")
        theirs = reg.log_artifact(draft_of("theirs", files), project="q")
        assert chunk_ids(reg, mine) == chunk_ids(reg, theirs)
        before = list(theirs.files())
        mine.delete(delete_aliases=True)
        reg.gc()
        assert list(theirs.files()) == before and theirs.digest == mine.digest
        root = Path(theirs.download(str(tmp_path / "out")))
        assert {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()} == files
        theirs.verify()
        assert reg.check().ok
        assert_chunks_consistent(reg)


# -- the migration to chunks -------------------------------------------------------------------


def registry_before_chunks(path: Path) -> dict[str, Any]:
    """A registry with versions made by edits, aliases, a link and lineage, turned back into the
    schema before manifests were chunks; returns everything a user can see of it."""
    with artreg.open(path) as reg:
        with reg.init(project="p", job_type="prep") as run:
            version = run.log_artifact(draft_of("ds", {f"d{i % 7}/{i:05d}": b"%d" % i for i in range(1500)}), aliases=["first"])
            for step in range(6):
                draft = version.new_draft()
                with draft.new_file(f"d{step}/{step:05d}", mode="wb", overwrite=True) as f:
                    f.write(b"step %d" % step)
                if step == 3:
                    draft.remove("d6")
                version = run.log_artifact(draft, aliases=["best"] if step == 2 else None)
        with reg.init(project="p", job_type="train") as run:
            run.use_artifact("p/ds:best")
            weights = artreg.Artifact("m", type="model")
            with weights.new_file("w.bin", mode="wb") as f:
                f.write(b"w" * 5000)
            model = run.log_artifact(weights)
        model.link("wandb-registry-model/zoo", aliases=["production"])
        seen = observe(reg)
    con = apsw.Connection(str(path / "registry.db"))
    with con:
        con.execute(UNDO_CHUNKS)
        con.execute(f"PRAGMA user_version = {MIGRATIONS.index(_v12)}")
    con.close()
    return seen


def observe(reg: artreg.Registry) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for project, name in (("p", "ds"), ("p", "m"), ("wandb-registry-model", "zoo")):
        for v in reg.artifacts(project, name):
            source = v.source_version
            seen[v.qualified_name] = (v.digest, v.size, v.file_count, v.aliases, list(v.files()), list(v.files("d3", offset=5, limit=9)),
                                      None if source is None else source.qualified_name,
                                      sorted(r.id for r in v.logged_by()), sorted(r.id for r in v.used_by()))
    return seen


def old_schema(path: Path) -> bool:
    con = apsw.Connection(str(path / "registry.db"), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        kinds = dict(con.execute("SELECT name, type FROM sqlite_schema WHERE name IN ('entries', 'chunks')").fetchall())
        version = con.execute("PRAGMA user_version").fetchone()[0]
    finally:
        con.close()
    return kinds == {"entries": "table"} and version == MIGRATIONS.index(_v12)


# A child that opens the registry (so migrates it) and is slowed down once the migration has
# written the chunks of one version, to be killed there.
SLOW_MIGRATION = """
import sys, time
import artreg.storage._schema as schema
real = schema.write_sorted
def slow(con, version_id, rows):
    out = real(con, version_id, rows)
    print("migrating", flush=True)
    time.sleep(60)
    return out
schema.write_sorted = slow
import artreg
artreg.open(sys.argv[1])
"""


@pytest.mark.slow
def test_a_migration_killed_midway_leaves_the_old_schema_and_the_next_open_migrates(tmp_path: Path) -> None:
    path = tmp_path / "reg"
    seen = registry_before_chunks(path)
    assert old_schema(path)
    proc = subprocess.Popen([sys.executable, "-c", SLOW_MIGRATION, str(path)], stdout=subprocess.PIPE, text=True, env=child_env())
    try:
        assert readline(proc, time.monotonic() + 60) == "migrating\n"
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    assert old_schema(path), "a killed migration must leave the schema it started from"
    with artreg.open(path) as reg:
        assert observe(reg) == seen
        assert reg.check().ok
        assert_chunks_consistent(reg)
        # Versions logged after the migration share the migrated chunks.
        latest = reg.artifact("p/ds:latest")
        draft = latest.new_draft()
        draft.remove("d0/00000")
        after = reg.log_artifact(draft, project="p")
        assert len(set(chunk_ids(reg, after)) - set(chunk_ids(reg, latest))) == 1


def test_a_registry_from_before_chunks_opens_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "reg"
    seen = registry_before_chunks(path)
    with artreg.open(path) as reg:
        assert observe(reg) == seen
        assert reg.check().ok
        assert_chunks_consistent(reg)
