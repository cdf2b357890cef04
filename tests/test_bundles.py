"""SPEC §16: bundles and ``copy`` between registries.

A rich source registry (``world``) goes through a bundle into a fresh registry, and every
field of every version, link, collection, registry and run is compared, and every stored
byte after a download. Then the properties a user relies on: a second import changes
nothing, a damaged, truncated or inconsistent bundle is refused and changes nothing (every
row, the audit head and every blob file compared), rights hold at the destination, alias
conflicts move or stay, registries exchange versions both ways without duplicating
anything, and incremental copies and bundles leave out what the receiver has.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

import artreg
from artreg._bundle import END_MEMBER, RECORDS_MEMBER, decode, encode
from artreg._tar import TarReader, TarWriter
from artreg.storage._schema import MIGRATIONS
from conftest import Clock, make, older_schema
from invariants import assert_consistent, rows, snapshot

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=timezone.utc)


@dataclass
class World:
    path: Path
    reg: artreg.Registry  # as "alice", the file's creator (an org admin)
    clock: Clock


def step(w: World, minutes: int = 1) -> None:
    w.clock.now += timedelta(minutes=minutes)


def as_user(w: World, user: str) -> artreg.Registry:
    return artreg.open(w.path, user=user, inline_limit=1024, clock=w.clock)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    """Two projects, a custom registry, references, TTLs, runs and lineage, several users and times."""
    clock = Clock(T0)
    path = tmp_path / "src"
    data = tmp_path / "data"
    data.mkdir()
    (data / "ref.txt").write_text("referenced bytes")
    with artreg.open(path, user="alice", inline_limit=1024, clock=clock) as reg:
        w = World(path, reg, clock)
        reg.set_default_ttl("zoo", timedelta(days=30))
        with reg.init("zoo", job_type="prep", name="prep-1", config={"seed": 1, "nested": {"lr": 0.1}},
                      entity="zoo-team", id="prep-0001", group="exp-a") as run:
            run.config["epochs"] = 3  # saved after init
            run.log({"loss": 0.9, "acc": 0.1})
            run.log({"loss": float("nan"), "curve": [1, 2.5, float("inf")]})  # a diverging loss is kept as it was
            run.log({"acc": 0.5, "nested": {"p": 0.25}}, step=5)
            run.summary["best"] = "ü and NaN: kept as text"
            art = make("zoo_dataset", small=b"tiny", big=os.urandom(5000), sub__deep=b"nested file")
            art.description = "the zoo"
            art.metadata = {"rows": 101, "split": {"train": 0.8}}
            art.ttl = timedelta(days=7)
            art.add_reference(f"file://{data / 'ref.txt'}", name="refs/checked.txt")
            art.add_reference(f"file://{data / 'ref.txt'}", name="refs/located.txt", checksum=False)
            v0 = run.log_artifact(art, aliases=["best"], tags=["baseline", "raw data"])
            step(w)
            v1 = run.log_artifact(make("zoo_dataset", small=b"tiny v1", big=os.urandom(3000)), aliases=["candidate"])
        collection = v0.collection
        collection.description = "every zoo dataset"
        collection.tags = ["zoo"]
        collection.save()
        step(w)
        with as_user(w, "bob") as bob:
            gone = bob.log_artifact(make("scratch", x=b"deleted soon"), project="zoo")
            gone.delete(delete_aliases=True)  # leaves a gap in the indices: v0 of scratch is deleted
            kept = bob.log_artifact(make("scratch", x=b"kept"), project="zoo", tags=["keep"])
            kept.ttl = None
            kept.save()
        step(w)
        with reg.init("zoo", job_type="train", name="train-1", group="exp-a") as run:  # a random W&B id
            run.log({"epoch": 1})
            run.use_artifact("zoo_dataset:best")
            model = run.log_artifact(make("zoo_model", type="model", weights=os.urandom(2000)), aliases=["fresh"])
        step(w)
        with pytest.raises(RuntimeError), reg.init("zoo", job_type="eval", name="eval-1") as run:
            run.use_artifact("zoo_model:latest")
            raise RuntimeError("evaluation failed")
        zoo = reg.create_registry("zoo-models", artifact_types=["model"], description="models of the zoo", visibility="restricted")
        zoo.protect_alias("production")
        zoo.set_default_role("viewer")
        model.link("wandb-registry-zoo-models/classifier", aliases=["production", "staging"])
        model.link("wandb-registry-model/Zoo")
        v1.link("wandb-registry-dataset/zoo-data", aliases=["current"])
        reg.log_artifact(make("other", o=b"other project"), project="elsewhere", aliases=["x"])
        assert v0.index == 0 and v1.index == 1
        yield w


def describe(reg: artreg.Registry, rename: Callable[[str], str] = lambda name: name) -> dict[str, Any]:
    """Everything a bundle carries, by name (``rename`` maps source version names to destination ones)."""
    out: dict[str, Any] = {"registries": {}, "collections": {}, "versions": {}, "runs": {}}
    for catalog in reg.registries():
        out["registries"][catalog.name] = {
            "description": catalog.description, "types": catalog.artifact_types, "visibility": catalog.visibility,
            "default_role": catalog.default_role, "protected": catalog.protected_aliases(),
        }
    projects = reg.projects() + [c.project for c in reg.registries()]
    for project in projects:
        for collection in reg.collections(project):
            out["collections"][f"{project}/{collection.name}"] = {
                "type": collection.type, "description": collection.description, "tags": collection.tags,
            }
            for v in collection.versions():
                source = v.source_version
                out["versions"][rename(v.qualified_name)] = {
                    "type": v.type, "digest": v.digest, "size": v.size, "file_count": v.file_count,
                    "description": v.description, "metadata": v.metadata, "tags": v.tags, "aliases": v.aliases,
                    "ttl": repr(v.ttl), "created_at": v.created_at, "created_by": v.created_by, "state": v.state,
                    "source": None if source is None else rename(source.qualified_name),
                    "files": [(e.path, e.digest, e.size, e.ref, e.extra) for e in v.files()],
                    "logged_by": [r.name for r in v.logged_by()], "used_by": [r.name for r in v.used_by()],
                }
    for name, in rows(reg, "SELECT DISTINCT r.name FROM runs AS r"):
        (run_id,) = rows(reg, "SELECT id FROM runs WHERE name = ?", (name,))[0]
        run = artreg.Run(reg, run_id)
        out["runs"][name] = {
            "project": run.project, "job_type": run.job_type, "config": run.config, "state": run.state, "error": run.error,
            "created_by": run.created_by, "started_at": run.started_at, "finished_at": run.finished_at,
            "id": run.id, "entity": run.entity, "group": run.group, "path": run.path,
            # as text: NaN is kept, and NaN != NaN
            "summary": json.dumps(dict(run.summary), sort_keys=True), "history": json.dumps(run.history(), sort_keys=True),
            "logged": sorted(rename(v.qualified_name) for v in run.logged_artifacts()),
            "used": sorted(rename(v.qualified_name) for v in run.used_artifacts()),
        }
    return out


def mapping(report: artreg.CopyReport) -> Callable[[str], str]:
    names = {c.source: c.destination for c in report.copied}
    return lambda name: names.get(name) or name


def fresh(tmp_path: Path, name: str = "dst", user: str = "alice") -> artreg.Registry:
    return artreg.open(tmp_path / name, user=user, inline_limit=1024)


# -- round trips --------------------------------------------------------------------------


def test_a_bundle_carries_every_field_and_every_byte(world: World, tmp_path: Path) -> None:
    bundle = tmp_path / "all.tar"
    sent = world.reg.export_bundle(bundle)
    assert {c.outcome for c in sent.copied} == {"sent"}
    assert sent.blobs_sent == rows(world.reg, "SELECT count(DISTINCT e.digest) FROM entries AS e JOIN versions AS v ON "
                                              "v.id = e.version_id WHERE v.state = 'committed' AND e.ref IS NULL")[0][0]
    with fresh(tmp_path, user="carol") as dst:
        report = dst.import_bundle(bundle)
        assert (report.versions_created, report.links_created, report.runs_created) == (5, 3, 3)
        assert report.blobs_sent == sent.blobs_sent and report.bytes_sent == sent.bytes_sent
        rename = mapping(report)
        assert rename("zoo/scratch:v1") == "zoo/scratch:v0"  # indices are the destination's: the deleted v0 left no gap
        assert describe(dst) == describe(world.reg, rename)
        assert_consistent(dst)
        # every stored byte, after a download from each side
        for source in world.reg.collections("zoo") + world.reg.collections("elsewhere"):
            for v in source.versions():
                here = dst.artifact(rename(v.qualified_name))
                a, b = Path(v.download(str(tmp_path / "a" / v.name))), Path(here.download(str(tmp_path / "b" / v.name)))
                files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
                assert files and files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
                assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files)
        # the import is in the destination's audit log, by its user
        imported = dst.audit.entries(action="bundle_imported")
        assert len(imported) == 1 and imported[0].user == "carol" and imported[0].detail["source"] == world.reg.uuid
        assert dst.registry("zoo-models").role("carol") == "admin"  # the importer created it


def test_a_bundle_is_a_plain_tar_that_tar_lists(world: World, tmp_path: Path) -> None:
    bundle = tmp_path / "all.tar"
    world.reg.export_bundle(bundle)
    with tarfile.open(bundle) as tar:
        names = tar.getnames()
        header = json.loads(tar.extractfile("bundle.json").read())  # type: ignore[union-attr]
    assert names[0] == "bundle.json" and names[1] == RECORDS_MEMBER.format(0) and names[-1] == END_MEMBER
    assert header["source"] == world.reg.uuid and header["created_by"] == "alice"
    listed = subprocess.run(["tar", "tf", str(bundle)], capture_output=True, text=True, check=True).stdout.split()
    assert listed == names


def test_importing_the_same_bundle_again_changes_nothing(world: World, tmp_path: Path) -> None:
    bundle = tmp_path / "all.tar"
    world.reg.export_bundle(bundle)
    with fresh(tmp_path) as dst:
        dst.import_bundle(bundle)
        before = snapshot(dst)
        again = dst.import_bundle(bundle)
        assert snapshot(dst) == before
        assert (again.versions_created, again.links_created, again.runs_created, again.aliases_moved) == (0, 0, 0, 0)
        assert (again.versions_reused, again.links_reused, again.runs_reused) == (5, 3, 3)
        assert {c.outcome for c in again.copied} == {"reused"}


def test_copy_to_sends_only_what_the_destination_lacks(world: World, tmp_path: Path) -> None:
    with fresh(tmp_path) as dst:
        first = world.reg.copy_to(dst)
        assert first.versions_created == 5 and first.blobs_sent > 0
        before = snapshot(dst)
        again = world.reg.copy_to(dst)
        assert (again.blobs_sent, again.bytes_sent, again.versions_created) == (0, 0, 0)
        assert snapshot(dst) == before
        step(world)
        big = os.urandom(4000)
        draft = world.reg.artifact("zoo/zoo_dataset:candidate").new_draft()
        with draft.new_file("added.bin", mode="wb") as f:
            f.write(big)
        newer = world.reg.log_artifact(draft, project="zoo", aliases=["best"])
        third = world.reg.copy_to(dst)
        # only the new file's bytes travel; the old version moves its alias, the new one takes "best"
        assert (third.versions_created, third.blobs_sent, third.bytes_sent) == (1, 1, len(big))
        assert dst.artifact("zoo/zoo_dataset:best").digest == newer.digest
        assert dst.artifact("zoo/zoo_dataset:latest").digest == newer.digest
        assert describe(dst) == describe(world.reg, mapping(third))


def test_copies_between_in_memory_registries(tmp_path: Path) -> None:
    with artreg.open(":memory:") as a, artreg.open(":memory:") as b:
        a.log_artifact(make(big=os.urandom(200_000), small=b"s"), project="p", aliases=["best"])
        assert a.copy_to(b).versions_created == 1
        assert b.artifact("p/ds:best").open("big").read() == a.artifact("p/ds:best").open("big").read()
        buffer = io.BytesIO()
        a.export_bundle(buffer)
        buffer.seek(0)
        with fresh(tmp_path) as c:
            assert c.import_bundle(buffer).versions_created == 1
        with pytest.raises(artreg.InvalidName, match="into itself"):
            a.copy_to(a)


def test_small_blobs_past_the_memory_budget_wait_in_the_scratch_database(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import artreg._import

    monkeypatch.setattr(artreg._import, "INLINE_MEMORY", 10)  # every small blob spills
    bundle = tmp_path / "all.tar"
    world.reg.export_bundle(bundle)
    with fresh(tmp_path) as dst:
        report = dst.import_bundle(bundle)
        assert describe(dst) == describe(world.reg, mapping(report))
        assert_consistent(dst)


def test_refs_choose_versions_with_their_links_and_runs(world: World, tmp_path: Path) -> None:
    bundle = tmp_path / "some.tar"
    report = world.reg.export_bundle(bundle, ["zoo/zoo_model:fresh", "wandb-registry-dataset/zoo-data:current"])
    assert sorted(c.source for c in report.copied) == [
        "wandb-registry-dataset/zoo-data:v0", "wandb-registry-model/Zoo:v0", "wandb-registry-zoo-models/classifier:v0",
        "zoo/zoo_dataset:v1", "zoo/zoo_model:v0",
    ]
    with fresh(tmp_path) as dst:
        dst.import_bundle(bundle)
        model = dst.artifact("zoo/zoo_model:fresh")
        assert [r.name for r in model.logged_by()] == ["train-1"] and [r.name for r in model.used_by()] == ["eval-1"]
        assert [v.qualified_name for v in model.logged_by()[0].used_artifacts()] == []  # v0 was not chosen
        assert dst.artifacts("zoo", "zoo_dataset")[0].digest == world.reg.artifact("zoo/zoo_dataset:v1").digest


# -- idempotence across registries ---------------------------------------------------------


def test_two_registries_exchange_versions_both_ways(world: World, tmp_path: Path) -> None:
    a = world.reg
    with fresh(tmp_path, "b", user="bea") as b:
        a.copy_to(b)
        # b works on a's data: a run uses a's version and logs a new one
        with b.init("zoo", job_type="finetune", name="finetune-b") as run:
            run.use_artifact("zoo/zoo_model:fresh")
            tuned = run.log_artifact(make("zoo_model", type="model", weights=os.urandom(1500)), aliases=["fresh"])
        back = b.copy_to(a)
        assert (back.versions_created, back.runs_created) == (1, 1)
        assert back.runs_reused == 3  # a's own runs came back as themselves
        assert a.artifact("zoo/zoo_model:fresh").digest == tuned.digest
        assert [r.name for r in a.artifact("zoo/zoo_model:v0").used_by()] == ["eval-1", "finetune-b"]
        # and again, both ways: nothing new anywhere, lineage not duplicated
        before_a, before_b = snapshot(a), snapshot(b)
        there = a.copy_to(b)
        assert there.versions_created == 0 and b.copy_to(a).versions_created == 0
        assert (snapshot(a), snapshot(b)) == (before_a, before_b)
        assert rows(a, "SELECT count(*) FROM runs")[0][0] == 4 and rows(b, "SELECT count(*) FROM runs")[0][0] == 4
        assert describe(b) == describe(a, mapping(there))  # the same, under b's indices (a's scratch:v0 was deleted)
        assert_consistent(a)
        assert_consistent(b)


def test_a_run_copied_while_running_is_finished_by_a_later_copy(tmp_path: Path) -> None:
    with fresh(tmp_path, "a") as a, fresh(tmp_path, "b") as b:
        run = a.init("p", job_type="train")
        run.log_artifact(make(w=b"epoch 1"))
        assert a.copy_to(b).runs_created == 1
        assert artreg.Run(b, 1).state == "running"
        run.finish()
        assert (a.copy_to(b).runs_reused, artreg.Run(b, 1).state) == (1, "finished")
        assert artreg.Run(b, 1).finished_at == run.finished_at


def test_content_already_in_the_destination_collection_is_reused(tmp_path: Path) -> None:
    with fresh(tmp_path, "a") as a, fresh(tmp_path, "b") as b:
        shared = os.urandom(3000)
        a.log_artifact(make(w=shared), project="p", aliases=["from-a"])
        b.log_artifact(make(w=shared), project="p")
        b.log_artifact(make(w=b"newer"), project="p")
        report = a.copy_to(b)
        assert (report.versions_created, report.versions_reused, report.blobs_sent) == (0, 1, 0)
        assert b.artifact("p/ds:from-a").index == 0 and b.artifact("p/ds:latest").index == 1
        before = snapshot(b)
        assert a.copy_to(b).versions_reused == 1
        assert snapshot(b) == before


def test_a_registry_file_copied_whole_is_not_mistaken_for_its_original(tmp_path: Path) -> None:
    """A copied file shares its UUID; origins that point at other content are not trusted."""
    with fresh(tmp_path, "a") as a:
        a.log_artifact(make(w=b"original"), project="p")
    import shutil

    shutil.copytree(tmp_path / "a", tmp_path / "twin")
    with fresh(tmp_path, "twin") as twin, fresh(tmp_path, "a") as a:
        twin.log_artifact(make(w=b"only in the twin"), project="p")
        bundle = tmp_path / "twin.tar"
        twin.export_bundle(bundle)
        report = a.import_bundle(bundle)
        assert report.versions_created == 1 and report.versions_reused == 1
        assert [v.digest for v in a.artifacts("p", "ds")] == [v.digest for v in twin.artifacts("p", "ds")]
        a.log_artifact(make(w=b"only in the original"), project="p")
        assert (a.copy_to(twin).versions_created, twin.copy_to(a).versions_created) == (1, 0)
        assert [v.digest for v in a.artifacts("p", "ds")] == [v.digest for v in twin.artifacts("p", "ds")]
        with fresh(tmp_path, "a") as same, pytest.raises(artreg.InvalidName, match="into itself"):
            a.copy_to(same)


# -- damaged bundles -----------------------------------------------------------------------


def members(bundle: Path) -> list[tuple[str, bytes]]:
    with bundle.open("rb") as f:
        tar = TarReader(f)
        found = []
        while (member := tar.next()) is not None:
            found.append((member[0], tar.read_small()))
    return found


def rewrite(bundle: Path, out: Path, edit: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]) -> None:
    """Another bundle with its records edited, its end member made to match (so only the edit can be refused)."""
    import hashlib

    items = members(bundle)
    records = [decode(line, "test") for name, data in items if name.startswith("records/") for line in data.splitlines()]
    text = b"".join(encode(r) for r in edit(records))
    end = json.loads(items[-1][1])
    end.update(records=text.count(b"\n"), record_members=1, records_sha256=hashlib.sha256(text).hexdigest())
    with out.open("wb") as f:
        tar = TarWriter(f, 0)
        tar.add(items[0][0], items[0][1])
        tar.add(RECORDS_MEMBER.format(0), text)
        for name, data in items:
            if name.startswith("blobs/"):
                tar.add(name, data)
        tar.add(END_MEMBER, encode(end))
        tar.close()


def flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1:]


def blob_at(bundle: Path, size: int) -> int:
    """Where the data of the (one) blob member of ``size`` bytes starts."""
    with bundle.open("rb") as f:
        tar = TarReader(f)
        while (member := tar.next()) is not None:
            if member[0].startswith("blobs/") and member[1] == size:
                return tar.offset
    raise AssertionError(f"no blob of {size} bytes")


def offset_of(bundle: Path, text: bytes) -> int:
    found = bundle.read_bytes().find(text)
    assert found >= 0
    return found


def twice(records: list[dict[str, Any]], index: int | None = None) -> list[dict[str, Any]]:
    """The first version (with its entries) again, under another bundle id (and ``index``): the same version twice."""
    first = next(i for i, r in enumerate(records) if r["kind"] == "version")
    end = next(i for i in range(first + 1, len(records)) if records[i]["kind"] != "entries")
    copy = [json.loads(json.dumps(r)) for r in records[first:end]]
    copy[0]["id"] = 999
    if index is not None:
        copy[0]["index"] = index
    for r in copy[1:]:
        r["version"] = 999
    return records[:end] + copy + records[end:]


def swapped_index(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Two versions of one collection claiming one index."""
    versions = [r for r in records if r["kind"] == "version" and r["collection"] == 0]
    versions[1]["index"] = versions[0]["index"]
    return records


DAMAGE: list[Any] = [
    pytest.param(lambda b, o: o.write_bytes(flip(b.read_bytes(), offset_of(b, b"tiny v1"))), "does not match its digest",
                 id="a flipped byte in an inline blob"),
    pytest.param(lambda b, o: o.write_bytes(flip(b.read_bytes(), blob_at(b, 5000) + 4000)), "zoo_dataset:v0 'big'.* does not match",
                 id="a flipped byte in a blob file"),
    pytest.param(lambda b, o: o.write_bytes(flip(b.read_bytes(), offset_of(b, b'"rows":101') + 8)), "records_sha256",
                 id="a flipped byte in a record"),
    pytest.param(lambda b, o: o.write_bytes(flip(b.read_bytes(), 130)), "checksum", id="a flipped byte in a tar header"),
    pytest.param(lambda b, o: o.write_bytes(b.read_bytes()[:100]), "truncated", id="cut inside the header"),
    pytest.param(lambda b, o: o.write_bytes(b.read_bytes()[: offset_of(b, b'"kind":"run"')]), "truncated",
                 id="cut inside the records"),
    pytest.param(lambda b, o: o.write_bytes(b.read_bytes()[: blob_at(b, 5000) + 2500]), "truncated", id="cut inside a blob file"),
    pytest.param(lambda b, o: o.write_bytes(b.read_bytes()[: offset_of(b, b'{"records":') - 512]), "truncated",
                 id="cut before its end member"),
    pytest.param(lambda b, o: o.write_bytes(b.read_bytes()[:-1024]), "truncated", id="cut after its end member"),
    pytest.param(lambda b, o: o.write_bytes(b.read_bytes() + b"more"), "goes on after", id="data after the end"),
    pytest.param(lambda b, o: rewrite(b, o, twice), "named twice", id="a version named twice"),
    pytest.param(lambda b, o: rewrite(b, o, swapped_index), "named twice", id="two versions with one index"),
    pytest.param(lambda b, o: rewrite(b, o, lambda rs: twice(rs, index=9)), "origin .* named twice", id="one origin twice"),
    pytest.param(lambda b, o: rewrite(b, o, lambda rs: [r for r in rs if r["kind"] != "entries" or r["version"] != 0]),
                 "manifest entries", id="a version without its manifest"),
    pytest.param(lambda b, o: rewrite(b, o, lambda rs: [dict(r, digest="0" * 64) if r["kind"] == "version" else r for r in rs]),
                 "does not hash to its digest", id="a version digest that is not its manifest's"),
    pytest.param(lambda b, o: rewrite(b, o, lambda rs: [dict(r, aliases=["latest"]) if r["kind"] == "version" else r for r in rs]),
                 "reserved", id="a reserved alias"),
    pytest.param(lambda b, o: rewrite(b, o, lambda rs: [dict(r, kind="mystery") if r["kind"] == "run" else r for r in rs]),
                 "unknown kind", id="an unknown record"),
    pytest.param(lambda b, o: rewrite(b, o, lambda rs: [r for r in rs if r["kind"] != "collection" or r["id"] != 0]),
                 "not described before", id="a version of an undescribed collection"),
    pytest.param(lambda b, o: o.write_bytes(b"not a bundle at all" * 100), "checksum|not an artreg bundle", id="not a bundle"),
    pytest.param(lambda b, o: rewrite(b, o, lambda rs: [dict(r, rows=r["rows"][::-1]) if r["kind"] == "history" else r for r in rs]),
                 "history step .* out of order", id="a run's history out of order"),
    pytest.param(lambda b, o: rewrite(b, o, lambda rs: [r for r in rs if r["kind"] != "run" or r["id"] != 0]),
                 "does not follow that run", id="a history without its run"),
    pytest.param(lambda b, o: rewrite(b, o, lambda rs: [dict(r, fields=dict(r["fields"], summary="{not json")) if r["kind"] == "run"
                                                        else r for r in rs]), "summary is not JSON", id="a summary that is not JSON"),
    pytest.param(lambda b, o: rewrite(b, o, lambda rs: [dict(r, fields=dict(r["fields"], run_key="no spaces")) if r["kind"] == "run"
                                                        else r for r in rs]), "run id must be", id="a bad run id"),
    # One project's run ids are unique in every registry, so no export names one twice: two runs of
    # one id would be two runs merged into one, or one made up.
    pytest.param(lambda b, o: rewrite(b, o, lambda rs: [dict(r, fields=dict(r["fields"], run_key="prep-0001")) if r["kind"] == "run"
                                                        else r for r in rs]), "run zoo/prep-0001 is named twice", id="one run id twice"),
]


@pytest.mark.parametrize(("damage", "message"), DAMAGE)
def test_a_bad_bundle_is_refused_and_changes_nothing(world: World, tmp_path: Path, damage: Any, message: str) -> None:
    good, bad = tmp_path / "good.tar", tmp_path / "bad.tar"
    world.reg.export_bundle(good)
    damage(good, bad)
    with fresh(tmp_path) as dst:
        dst.log_artifact(make(w=b"already here"), project="zoo", aliases=["best"])
        before = snapshot(dst)
        with pytest.raises(artreg.IntegrityError, match=message):
            dst.import_bundle(bad)
        assert snapshot(dst) == before
        with pytest.raises(artreg.IntegrityError, match=message):
            artreg.verify_bundle(bad)
    assert artreg.verify_bundle(good).versions == 5


def test_a_failed_export_leaves_no_bundle_behind(world: World, tmp_path: Path) -> None:
    big = world.reg.artifact("zoo/zoo_dataset:v0").get_entry("big")
    assert world.reg.objects is not None
    blob = world.reg.objects / big.digest[:2] / big.digest[2:]
    blob.chmod(0o644)
    blob.write_bytes(b"y" * big.size)
    with pytest.raises(artreg.IntegrityError, match="zoo/zoo_dataset:v0 'big'"):
        world.reg.export_bundle(tmp_path / "out.tar")
    assert [p.name for p in tmp_path.iterdir() if "out" in p.name] == []


def test_bad_arguments_are_refused_with_a_clear_error(world: World, tmp_path: Path) -> None:
    bundle = tmp_path / "all.tar"
    world.reg.export_bundle(bundle)
    with fresh(tmp_path) as dst:
        before = snapshot(dst)
        for call, error, message in [
            (lambda: dst.import_bundle(tmp_path / "missing.tar"), artreg.NotFound, "no such bundle"),
            (lambda: dst.import_bundle(tmp_path), artreg.InvalidName, "cannot read the bundle"),
            (lambda: dst.import_bundle(io.StringIO("text")), artreg.InvalidName, "binary file object"),
            (lambda: dst.import_bundle(42), artreg.InvalidName, "binary file object"),  # type: ignore[arg-type]
            (lambda: world.reg.export_bundle(io.StringIO()), artreg.InvalidName, "binary file object"),
            (lambda: world.reg.export_bundle(tmp_path / "no" / "such" / "folder.tar"), artreg.DiskError, "cannot write"),
            (lambda: world.reg.export_bundle(tmp_path / "x.tar", "zoo/zoo_dataset"), artreg.InvalidName, "list of strings"),
            (lambda: world.reg.export_bundle(tmp_path / "x.tar", [42]), artreg.InvalidName, "references"),  # type: ignore[list-item]
            (lambda: world.reg.export_bundle(tmp_path / "x.tar", ["zoo/nothing"]), artreg.NotFound, "zoo/nothing"),
            (lambda: world.reg.export_bundle(tmp_path / "x.tar", basis=tmp_path / "missing.tar"), artreg.NotFound, "no such bundle"),
            (lambda: artreg.verify_bundle(tmp_path / "missing.tar"), artreg.NotFound, "no such bundle"),
        ]:
            with pytest.raises(error, match=message):
                call()
        assert snapshot(dst) == before
        assert not (tmp_path / "x.tar").exists()


# -- rights and aliases at the destination -------------------------------------------------


def test_protected_aliases_need_the_registry_admin_at_the_destination(world: World, tmp_path: Path) -> None:
    bundle = tmp_path / "all.tar"
    world.reg.export_bundle(bundle)
    with fresh(tmp_path, user="alice") as dst:
        dst.create_registry("zoo-models", artifact_types=["model"]).protect_alias("production")
        dst.registry("zoo-models").add_member("mia", "member")
        before = snapshot(dst)
        with fresh(tmp_path, user="mia") as mia, pytest.raises(artreg.PermissionDenied, match="protected"):
            mia.import_bundle(bundle)
        assert snapshot(dst) == before
        with fresh(tmp_path, user="nobody") as nobody:
            dst.registry("zoo-models").set_visibility("restricted")
            before = snapshot(dst)
            with pytest.raises(artreg.PermissionDenied, match="nobody"):
                nobody.import_bundle(bundle)
            assert snapshot(dst) == before
        dst.registry("zoo-models").add_member("mia", "admin")
        with fresh(tmp_path, user="mia") as mia:
            assert mia.import_bundle(bundle).links_created == 3
            assert mia.artifact("wandb-registry-zoo-models/classifier:production").source_version.name == "zoo_model:v0"  # type: ignore[union-attr]


def test_an_alias_held_at_the_destination_moves_unless_kept(world: World, tmp_path: Path) -> None:
    bundle = tmp_path / "all.tar"
    world.reg.export_bundle(bundle)
    with fresh(tmp_path, "kept") as dst:
        mine = dst.log_artifact(make("zoo_dataset", w=b"mine"), project="zoo", aliases=["best"])
        report = dst.import_bundle(bundle, keep_destination_aliases=True)
        assert report.aliases_kept == ("zoo/zoo_dataset:best",)
        assert dst.artifact("zoo/zoo_dataset:best").id == mine.id
    with fresh(tmp_path, "moved", user="dan") as dst:
        mine = dst.log_artifact(make("zoo_dataset", w=b"mine"), project="zoo", aliases=["best"])
        report = dst.import_bundle(bundle)
        assert report.aliases_kept == ()
        moved = dst.artifact("zoo/zoo_dataset:best")
        assert moved.digest == world.reg.artifact("zoo/zoo_dataset:best").digest and moved.index == 1
        history = dst.collection("zoo/zoo_dataset").alias_history("best")
        assert [(h.action, h.before, h.after, h.user) for h in history] == [
            ("alias_added", None, "v0", "dan"), ("alias_moved", "v0", "v1", "dan"),
        ]


def test_a_collection_of_another_type_is_refused_and_nothing_changes(world: World, tmp_path: Path) -> None:
    bundle = tmp_path / "all.tar"
    world.reg.export_bundle(bundle)
    with fresh(tmp_path) as dst:
        dst.log_artifact(make("zoo_model", type="dataset", w=b"not a model"), project="zoo")
        before = snapshot(dst)
        with pytest.raises(artreg.TypeMismatch, match="zoo/zoo_model"):
            dst.import_bundle(bundle)
        assert snapshot(dst) == before


def test_a_refusal_comes_before_a_long_stream_of_bytes(world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past REHEARSE_BYTES of blobs to come, the replay is rehearsed (and rolled back) before they are read."""
    import artreg._import

    bundle, cut = tmp_path / "all.tar", tmp_path / "cut.tar"
    world.reg.export_bundle(bundle)
    cut.write_bytes(bundle.read_bytes()[: blob_at(bundle, 5000) + 100])  # the bytes never come
    with fresh(tmp_path) as dst:
        dst.log_artifact(make("zoo_model", type="dataset", w=b"not a model"), project="zoo")
        before = snapshot(dst)
        with pytest.raises(artreg.IntegrityError, match="truncated"):
            dst.import_bundle(cut)  # a small bundle is read to its end first
        monkeypatch.setattr(artreg._import, "REHEARSE_BYTES", 0)
        with pytest.raises(artreg.TypeMismatch, match="zoo/zoo_model"):
            dst.import_bundle(cut)
        assert snapshot(dst) == before


# -- bundles against a basis ---------------------------------------------------------------


def test_a_bundle_against_a_basis_leaves_out_what_the_receiver_has(world: World, tmp_path: Path) -> None:
    full, delta = tmp_path / "full.tar", tmp_path / "delta.tar"
    world.reg.export_bundle(full)
    step(world)
    extra = os.urandom(4000)
    draft = world.reg.artifact("zoo/zoo_dataset:best").new_draft()
    with draft.new_file("extra.bin", mode="wb") as f:
        f.write(extra)
    world.reg.log_artifact(draft, project="zoo")
    report = world.reg.export_bundle(delta, basis=full)
    assert sum(c.outcome == "sent" for c in report.copied) == 4  # the new version and the three links
    assert (report.blobs_sent, report.bytes_sent) == (1, len(extra))
    summary = artreg.verify_bundle(delta)
    assert summary.receiver_versions == 5 and summary.receiver_blobs > 0
    assert delta.stat().st_size < full.stat().st_size
    with fresh(tmp_path, "nothing") as empty:
        before = snapshot(empty)
        with pytest.raises(artreg.NotFound, match="import the bundles it was based on first"):
            empty.import_bundle(delta)
        assert snapshot(empty) == before
    with fresh(tmp_path, "deleted") as gone:
        gone.import_bundle(full)
        gone.artifact("elsewhere/other:v0").delete(delete_aliases=True)  # deleted since
        before = snapshot(gone)
        with pytest.raises(artreg.NotFound, match="needs elsewhere/other:v0"):
            gone.import_bundle(delta)
        assert snapshot(gone) == before
    with fresh(tmp_path) as dst:
        dst.import_bundle(full)
        imported = dst.import_bundle(delta)
        assert (imported.versions_created, imported.versions_reused) == (1, 5)
        assert describe(dst) == describe(world.reg, mapping(imported))
        # the receiver itself as the basis (or a copy of it): everything is there already
        against = world.reg.export_bundle(tmp_path / "nothing-new.tar", basis=dst)
        assert (against.blobs_sent, {c.outcome for c in against.copied}) == (0, {"known", "sent"})
        assert sum(c.outcome == "known" for c in against.copied) == 6  # versions; links carry no bytes
        before = snapshot(dst)
        assert dst.import_bundle(tmp_path / "nothing-new.tar").versions_reused == 6
        assert snapshot(dst) == before


# -- the registry UUID ---------------------------------------------------------------------


def test_every_registry_has_a_uuid_existing_ones_get_theirs_when_migrated(tmp_path: Path) -> None:
    import uuid

    import apsw

    with fresh(tmp_path, "new") as new, fresh(tmp_path, "other") as other:
        assert uuid.UUID(new.uuid).version == 4 and new.uuid != other.uuid
    # a registry file written before copies existed: every migration up to the one that adds them
    before = next(i for i, m in enumerate(MIGRATIONS) if "version_origins" in m)
    old = tmp_path / "old.db"
    con = apsw.Connection(str(old))
    with con:
        older_schema(con, before)
        con.execute("INSERT INTO projects(name, created_at) VALUES ('kept', '2020-01-01T00:00:00.000000Z')")
    con.close()
    with artreg.open(old) as reg:
        assert uuid.UUID(reg.uuid).version == 4
        assert "kept" in reg.projects()
        reg.log_artifact(make(w=b"after"), project="kept")
        with fresh(tmp_path, "copy") as dst:
            assert reg.copy_to(dst).versions_created == 1


# -- the tar framing -----------------------------------------------------------------------


def test_tar_headers_agree_with_tarfile_both_ways() -> None:
    from artreg._tar import header, parse_header

    for name, size in [("a", 0), ("blobs/sha256/ab/" + "c" * 62, 4096), ("n" * 100, 9 << 30), ("ü/x", 1)]:
        block = header(name, size, 1_700_000_000)
        info = tarfile.TarInfo.frombuf(block, "utf-8", "surrogateescape")
        assert (info.name, info.size, info.mtime, info.isreg()) == (name, size, 1_700_000_000, True)
        assert parse_header(block, 0) == (name, size)
    with pytest.raises(ValueError):
        header("n" * 101, 1, 0)
    written = io.BytesIO()
    with tarfile.open(fileobj=written, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, data in [("first.json", b"{}"), ("big", b"x" * 1000)]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        folder = tarfile.TarInfo("a-folder")
        folder.type = tarfile.DIRTYPE
        tar.addfile(folder)
    reader = TarReader(io.BytesIO(written.getvalue()))
    assert reader.next() == ("first.json", 2) and reader.read_small() == b"{}"
    assert reader.next() == ("big", 1000)  # unread data is skipped
    with pytest.raises(artreg.IntegrityError, match="not a regular file"):
        reader.next()
    damaged = bytearray(header("x", 5, 0))
    damaged[0] = ord("y")
    with pytest.raises(artreg.IntegrityError, match="checksum"):
        parse_header(bytes(damaged), 512)


# -- runs as W&B knows them ------------------------------------------------------------------


def test_a_run_keeps_its_id_unless_another_run_has_it_at_the_destination(tmp_path: Path) -> None:
    with fresh(tmp_path, "a") as a, fresh(tmp_path, "b") as b:
        with a.init("p", id="shared-id", entity="team", group="g") as run:
            run.log_artifact(make(w=b"from a"))
        with a.init("p", id="free-id") as run:
            run.log_artifact(make("other", w=b"also from a"))
        with b.init("p", id="shared-id") as mine:  # the same id, another run
            mine.log({"loss": 1.0})
            mine.log_artifact(make("mine", w=b"from b"))
        report = a.copy_to(b)
        assert report.runs_created == 2
        (renamed,) = report.runs_renamed
        new_id = renamed.rpartition("/")[2]
        assert renamed == f"p/shared-id -> p/{new_id}" and len(new_id) == 8 and new_id != "shared-id"
        assert artreg.Run(b, 1).id == "shared-id" and artreg.Run(b, 1).history() == [{"loss": 1.0, "_step": 0}]  # b's own is untouched
        copied = b.artifact("p/ds:v0").logged_by()[0]
        assert (copied.id, copied.entity, copied.group, copied.path) == (new_id, "team", "g", f"team/p/{new_id}")
        assert b.artifact("p/other:v0").logged_by()[0].id == "free-id"
        import artreg.wandb as wandb

        wandb.use_registry(b)
        assert wandb.Api().run(f"team/p/{new_id}").id == new_id
        # copied again: found by its origin, not renamed a second time
        before = snapshot(b)
        again = a.copy_to(b)
        assert (again.runs_created, again.runs_reused, again.runs_renamed) == (0, 2, ())
        assert snapshot(b) == before
        # back where they came from: a's runs are a's own, under their own ids; b's own "shared-id" is new to a,
        # and a has a run of that id
        back = b.copy_to(a)
        assert (back.runs_created, back.runs_reused, len(back.runs_renamed)) == (1, 2, 1)
        assert back.runs_renamed[0].startswith("p/shared-id -> p/")
        assert [r.id for r in a.artifact("p/ds:v0").logged_by()] == ["shared-id"]
        assert a.artifact("p/mine:v0").logged_by()[0].history() == [{"loss": 1.0, "_step": 0}]


def test_a_run_copied_while_running_catches_up_on_a_later_copy(tmp_path: Path) -> None:
    with fresh(tmp_path, "a") as a, fresh(tmp_path, "b") as b:
        run = a.init("p", id="live", config={"lr": 0.1})
        run.log({"loss": 0.5})
        run.log_artifact(make(w=b"epoch 1"))
        a.copy_to(b)
        there = b.artifact("p/ds:v0").logged_by()[0]
        assert (there.state, there.history()) == ("running", [{"loss": 0.5, "_step": 0}])
        run.log({"loss": float("nan")})
        run.summary["note"] = "diverged"
        run.config["lr"] = 0.01
        assert a.copy_to(b).runs_reused == 1
        there.refresh()
        assert there.state == "running" and json.dumps(there.history()) == json.dumps(run.history())
        assert json.dumps(dict(there.summary)) == json.dumps(dict(run.summary)) and there.config == {"lr": 0.01}
        # copied back to a while it runs there: a's own run is not set back to b's older view
        run.log({"loss": 0.25})
        before = snapshot(a)
        assert b.copy_to(a).runs_reused == 1
        assert snapshot(a) == before
        run.finish()
        a.copy_to(b)
        there.refresh()
        assert (there.state, there.finished_at, len(there.history())) == ("finished", run.finished_at, 3)
        before = snapshot(b)
        a.copy_to(b)
        assert snapshot(b) == before


# -- distributed versions ----------------------------------------------------------------------


def test_pending_distributed_versions_never_travel_only_what_a_finish_committed(tmp_path: Path) -> None:
    """Pending rows (SPEC §15.1) are not versions: no record, no blob of theirs is in a bundle or a copy."""
    secret = os.urandom(3000)
    with fresh(tmp_path, "a") as a, fresh(tmp_path, "b") as b:
        a.log_artifact(make("done", w=b"committed"), project="p")
        with a.init("p", group="writers", job_type="writer") as writer:
            part = make("parallel", type="dataset", part0=secret)
            writer.upsert_artifact(part)
        assert rows(a, "SELECT count(*) FROM pending_entries")[0][0] == 1
        bundle = tmp_path / "now.tar"
        report = a.export_bundle(bundle)
        assert [c.source for c in report.copied] == ["p/done:v0"] and report.runs_created == 0
        assert b"parallel" not in bundle.read_bytes() and b"part0" not in bundle.read_bytes()
        assert artreg.verify_bundle(bundle).blobs == 1 and artreg.verify_bundle(bundle).runs == 0
        copied = a.copy_to(b)
        assert (copied.versions_created, copied.blobs_sent) == (1, 1)
        assert [c.name for c in b.collections("p")] == ["done"]
        assert rows(b, "SELECT count(*) FROM pending_versions")[0][0] == 0
        # b has a pending version of the same name of its own: a copy leaves it pending
        with b.init("p", group="writers", job_type="writer") as there:
            there.upsert_artifact(make("parallel", type="dataset", mine=b"b's part"))
        with a.init("p", group="writers", job_type="finisher") as finisher:
            finished = finisher.finish_artifact(artreg.Artifact("parallel", "dataset"), aliases=["complete"])
        report = a.copy_to(b)
        assert (report.versions_created, report.runs_created) == (1, 2)  # the version; its writer and finisher
        version = b.artifact("p/parallel:complete")
        assert version.digest == finished.digest and version.open("part0").read() == secret
        assert sorted(r.job_type for r in version.logged_by()) == ["finisher", "writer"]  # type: ignore[type-var]
        assert rows(b, "SELECT count(*) FROM pending_entries")[0][0] == 1  # b's own part is still pending
        with b.init("p", group="writers", job_type="finisher") as there:
            mine = there.finish_artifact(artreg.Artifact("parallel", "dataset"))
        assert mine.index == 1 and mine.get_entry("mine").size == len(b"b's part")
        assert_consistent(a)
        assert_consistent(b)


def test_runs_an_earlier_import_left_without_an_id_get_one_when_migrated(tmp_path: Path) -> None:
    """Imports before runs carried W&B's id created runs with none: the migration gives each a unique one."""
    import apsw

    fills = next(i for i, m in enumerate(MIGRATIONS) if "run_key IS NULL\n  AND NOT EXISTS" in m)
    old = tmp_path / "old.db"
    con = apsw.Connection(str(old))
    with con:
        older_schema(con, fills)
        con.execute("INSERT INTO projects(id, name, created_at) VALUES (100, 'p', '2020-01-01T00:00:00.000000Z')")
        insert = ("INSERT INTO runs(id, project_id, name, created_by, started_at, state, finished_at, run_key)"
                  " VALUES (?, 100, ?, 'old', '2020-01-01T00:00:00.000000Z', 'finished', '2020-01-01T00:00:01.000000Z', ?)")
        con.executemany(insert, [(1, "imported-1", None), (2, "by-hand", "1"), (3, "imported-3", None)])
    con.close()
    with artreg.open(old) as reg:
        ids = {artreg.Run(reg, row).name: artreg.Run(reg, row).id for row in (1, 2, 3)}
        assert ids["by-hand"] == "1" and ids["imported-3"] == "3"
        assert re.fullmatch(r"1-[0-9a-f]{8}", ids["imported-1"]), ids  # its row id was taken
        for row in (1, 2, 3):
            reg.log_artifact(make(f"out{row}", w=bytes([row])), project="p")
        with reg._db.write() as wcon:  # give them lineage, so that they travel
            wcon.executemany("INSERT INTO run_outputs(run_id, version_id) SELECT ?, v.id FROM versions AS v"
                             " JOIN collections AS c ON c.id = v.collection_id WHERE c.name = ?", ((n, f"out{n}") for n in (1, 2, 3)))
        with fresh(tmp_path, "dst") as dst:
            assert reg.copy_to(dst).runs_created == 3
            assert sorted(r.id for n in (1, 2, 3) for r in dst.artifact(f"p/out{n}:v0").logged_by()) == sorted(ids.values())
