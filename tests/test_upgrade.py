"""A registry written by older code opens with everything as it was (SPEC §2, §22).

``fixtures/registry-v6/`` was written by ``fixtures/make_old_registry.py`` at the commit it
names (schema version 6: every version's manifest rows of its own), and
``fixtures/registry-v6.json`` records what a reader saw in it then. A copy is opened with
this code, which migrates it in place; every digest, entry, stored byte, alias, link and
lineage edge must read as recorded, and the registry must keep working afterwards.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import apsw
import pytest

import artreg
from artreg.storage._manifest import version_digest
from artreg.storage._schema import SCHEMA_VERSION

FIXTURES = Path(__file__).resolve().parent / "fixtures"
RECORD: dict[str, Any] = json.loads((FIXTURES / "registry-v6.json").read_text())


@pytest.fixture
def old(tmp_path: Path) -> Path:
    """A writable copy of the old registry folder."""
    copy = tmp_path / "old"
    shutil.copytree(FIXTURES / "registry-v6", copy)
    return copy


def version_ids(reg: artreg.Registry) -> dict[str, int]:
    rows = reg._db.connection().execute(
        "SELECT p.name || '/' || c.name || ':v' || v.idx, v.id FROM versions AS v JOIN collections AS c ON c.id = v.collection_id "
        "JOIN projects AS p ON p.id = c.project_id"
    )
    return dict(rows)


def test_the_fixture_is_an_old_registry(old: Path) -> None:
    """As written by the old code: its schema version, manifest rows in an ``entries`` table."""
    con = apsw.Connection(str(old / "registry.db"), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        assert con.execute("PRAGMA user_version").fetchone() == (RECORD["schema_version"],)
        assert con.execute("SELECT type FROM sqlite_schema WHERE name = 'entries'").fetchone() == ("table",)
        assert con.execute("SELECT count(*) FROM entries").fetchone() == (sum(v["file_count"] for v in RECORD["versions"].values()
                                                                            if v["source"] is None),)
    finally:
        con.close()
    assert sum(p.stat().st_size for p in (FIXTURES / "registry-v6").rglob("*") if p.is_file()) < 1 << 20


def test_every_version_reads_as_it_was_recorded(old: Path) -> None:
    with artreg.open(old, user="alice") as reg:
        assert reg._db.connection().execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        ids = version_ids(reg)
        assert sorted(ids) == sorted(RECORD["versions"])
        for name, want in RECORD["versions"].items():
            v = artreg.ArtifactVersion(reg, ids[name])
            source = v.source_version
            got = {
                "digest": v.digest, "state": v.state, "size": v.size, "file_count": v.file_count, "aliases": v.aliases,
                "tags": v.tags, "metadata": v.metadata, "description": v.description,
                "source": None if source is None else source.qualified_name,
                "files": [[e.path, e.digest, e.size, e.ref, e.extra] for e in v.files()],
                "lineage": want["lineage"],
            }
            assert got == want, name
            # The digest of SPEC §2, recomputed from the entries, is the one stored.
            assert version_digest((e.path, e.digest) for e in v.files()) == v.digest, name
            assert v.count_files() == v.file_count and v.count_files("cats") == sum(1 for e in v.files("cats"))
            for path, digest, size, ref, _extra in want["files"][:: max(1, len(want["files"]) // 50)]:
                entry = v.get_entry(path)
                assert (entry.digest, entry.size, entry.ref) == (digest, size, ref)
                if ref is None and v.state == "committed":
                    with v.open(path) as f:
                        assert hashlib.sha256(f.read()).hexdigest() == digest
        assert reg.check().ok


def test_every_stored_byte_downloads_and_verifies(old: Path, tmp_path: Path) -> None:
    with artreg.open(old) as reg:
        for name, want in RECORD["versions"].items():
            if want["state"] != "committed" or any(f[3] is not None for f in want["files"]):
                continue
            v = reg.artifact(name)
            root = v.download(str(tmp_path / "dl" / name.replace("/", "_")))
            v.verify(root)
            v.verify()
            on_disk = sorted(str(p.relative_to(root)) for p in Path(root).rglob("*") if p.is_file())
            assert on_disk == sorted(f[0] for f in want["files"])


def test_aliases_and_links_resolve_as_they_did(old: Path) -> None:
    with artreg.open(old) as reg:
        for name, want in RECORD["versions"].items():
            if want["state"] != "committed":
                with pytest.raises(artreg.NotFound):
                    reg.artifact(name)
                continue
            project_and_name = name.rsplit(":", 1)[0]
            for alias in want["aliases"]:
                assert reg.artifact(f"{project_and_name}:{alias}").digest == want["digest"], (name, alias)
        link = reg.artifact("wandb-registry-model/zoo-classifier:production")
        assert link.source_version is not None and link.source_version.qualified_name == "zoo/classifier:v0"
        assert [e.path for e in link.files()] == [f[0] for f in RECORD["versions"]["zoo/classifier:v0"]["files"]]


def test_lineage_is_as_it_was(old: Path) -> None:
    with artreg.open(old) as reg:
        ids = version_ids(reg)
        names = {i: n for n, i in ids.items()}
        for run_name, want in RECORD["runs"].items():
            (run_id,) = reg._db.connection().execute("SELECT id FROM runs WHERE name = ?", (run_name,)).fetchone()
            run = artreg.Run(reg, run_id)
            assert (run.job_type, run.state) == (want["job_type"], want["state"])
            for table, key in (("run_outputs", "outputs"), ("run_inputs", "inputs")):
                rows = reg._db.connection().execute(f"SELECT version_id FROM {table} WHERE run_id = ?", (run_id,))
                assert sorted(names[r[0]] for r in rows) == want[key], (run_name, key)
        images1 = reg.artifact("zoo/images:v1")
        assert [r.name for r in images1.logged_by()] == ["prep-1"]
        assert [r.name for r in images1.used_by()] == ["train-1"]
        for name, want in RECORD["versions"].items():
            if want["state"] == "committed":
                graph = reg.artifact(name).lineage()
                labels = {n.id: n.label for n in graph.nodes}
                assert sorted([labels[e.source], e.kind, labels[e.target]] for e in graph.edges) == want["lineage"], name
        assert len(reg.audit.entries()) == RECORD["audit_entries"]
        reg.audit.verify()


def test_an_upgraded_registry_keeps_working(old: Path) -> None:
    with artreg.open(old, user="alice") as reg:
        v1 = reg.artifact("zoo/images:best")
        draft = v1.new_draft()
        with draft.new_file("cats/0003.png", mode="wb", overwrite=True) as f:
            f.write(b"another cat")
        draft.remove("cats/new.png")
        v2 = reg.log_artifact(draft, project="zoo")
        assert v2.version == "v2" and v2.file_count == v1.file_count - 1
        assert v2.open("cats/0003.png").read() == b"another cat"
        want = {f[0]: f[1] for f in RECORD["versions"]["zoo/images:v1"]["files"]}
        del want["cats/new.png"]
        want["cats/0003.png"] = hashlib.sha256(b"another cat").hexdigest()
        assert {e.path: e.digest for e in v2.files()} == want
        assert v2.digest == version_digest(want.items())
        # gc frees what only the deleted versions held, nothing a live version names.
        reg.gc()
        for name, recorded in RECORD["versions"].items():
            if recorded["state"] == "committed" and not any(f[3] is not None for f in recorded["files"]):
                reg.artifact(name).verify()
        v2.verify()
        assert reg.check().ok
