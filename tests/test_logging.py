"""SPEC §4: logging versions: indices, latest, dedup, types, the version digest."""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from pathlib import Path

import pytest

import artreg
from conftest import make


def spec_digest(entries: dict[str, bytes]) -> str:
    text = "artreg-manifest-v1\n" + "".join(
        f"{path}:{hashlib.sha256(data).hexdigest()}\n" for path, data in sorted(entries.items())
    )
    return hashlib.sha256(text.encode()).hexdigest()


def test_version_digest_is_exactly_the_spec(reg: artreg.Registry) -> None:
    v = reg.log_artifact(make(b__c=b"two", a=b"one", Z=b"upper"), project="p")
    assert v.digest == spec_digest({"b/c": b"two", "a": b"one", "Z": b"upper"})
    empty = reg.log_artifact(artreg.Artifact("empty", type="dataset"), project="p")
    assert empty.digest == hashlib.sha256(b"artreg-manifest-v1\n").hexdigest()
    assert (empty.size, empty.file_count) == (0, 0)


def test_digest_ignores_metadata_description_and_aliases(reg: artreg.Registry) -> None:
    a = make("a", x="same")
    a.metadata = {"k": 1}
    b = make("b", x="same")
    b.description = "other"
    assert reg.log_artifact(a, project="p", aliases=["one"]).digest == reg.log_artifact(b, project="p").digest


def test_indices_grow_and_latest_moves(reg: artreg.Registry) -> None:
    versions = [reg.log_artifact(make(x=str(i)), project="p") for i in range(3)]
    assert [v.version for v in versions] == ["v0", "v1", "v2"]
    assert reg.artifact("p/ds").id == versions[2].id
    assert [v.aliases for v in reg.artifacts("p", "ds")] == [["latest"], [], []]
    assert [v.index for v in reg.artifacts("p", "ds")] == [2, 1, 0]


def test_properties_of_a_version(tmp_path: Path) -> None:
    moment = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=timezone.utc)
    with artreg.open(tmp_path / "r", clock=lambda: moment, user="alice") as reg:
        art = make(a="12345", b__c=b"xy")
        art.description = "desc"
        art.metadata["rows"] = 2
        v = reg.log_artifact(art, project="zoo", aliases=["best"], tags=["baseline"])
        assert (v.name, v.version, v.index, v.type, v.project) == ("ds:v0", "v0", 0, "dataset", "zoo")
        assert v.qualified_name == "zoo/ds:v0"
        assert (v.size, v.file_count) == (7, 2)
        assert (v.aliases, v.tags) == (["best", "latest"], ["baseline"])
        assert (v.description, v.metadata) == ("desc", {"rows": 2})
        assert v.created_at == moment
        assert v.created_by == "alice"
        assert v.state == "committed"
        assert (v.collection.name, v.collection.type, v.collection.project) == ("ds", "dataset", "zoo")


def test_aliases_move_between_versions(reg: artreg.Registry) -> None:
    v0 = reg.log_artifact(make(x="0"), project="p", aliases=["best", "prod"])
    v1 = reg.log_artifact(make(x="1"), project="p", aliases=["best"])
    v0.refresh()
    assert v0.aliases == ["prod"]
    assert v1.aliases == ["best", "latest"]
    assert reg.artifact("p/ds:best") == v1


def test_dedup_against_latest_applies_aliases_and_tags(reg: artreg.Registry) -> None:
    v0 = reg.log_artifact(make(x="same"), project="p", aliases=["a"])
    again = reg.log_artifact(make(x="same"), project="p", aliases=["b"], tags=["t"])
    assert again == v0
    assert again.aliases == ["a", "b", "latest"]
    assert again.tags == ["t"]
    assert [v.index for v in reg.artifacts("p", "ds")] == [0]


def test_identical_content_to_an_older_version_is_a_new_version(reg: artreg.Registry) -> None:
    reg.log_artifact(make(x="A"), project="p")
    reg.log_artifact(make(x="B"), project="p")
    v2 = reg.log_artifact(make(x="A"), project="p")
    assert v2.index == 2
    assert v2.digest == reg.artifact("p/ds:v0").digest


def test_type_mismatch_changes_nothing(reg: artreg.Registry) -> None:
    reg.log_artifact(make(x="A"), project="p")
    with pytest.raises(artreg.TypeMismatch, match="'dataset', not 'model'"):
        reg.log_artifact(make(type="model", x="B"), project="p", aliases=["best"])
    assert [v.index for v in reg.artifacts("p", "ds")] == [0]
    assert reg.artifact("p/ds").aliases == ["latest"]


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"aliases": ["v7"]}, artreg.InvalidName),
        ({"aliases": "best"}, artreg.InvalidName),
        ({"aliases": ["a/b"]}, artreg.InvalidName),
        ({"tags": ["a  b"]}, artreg.InvalidName),
        ({"project": "a/b"}, artreg.InvalidName),
    ],
)
def test_bad_log_arguments_change_nothing(reg: artreg.Registry, kwargs: dict, error: type) -> None:
    with pytest.raises(error):
        reg.log_artifact(make(x="A"), **{"project": "p", **kwargs})
    assert reg.collections() == []
    assert reg.projects() == []


def test_metadata_edited_into_something_invalid_is_refused_at_log(reg: artreg.Registry) -> None:
    art = make(x="A")
    art.metadata["bad"] = float("inf")
    with pytest.raises(artreg.InvalidName):
        reg.log_artifact(art, project="p")
    assert reg.collections() == []


def test_default_project_is_uncategorized(reg: artreg.Registry) -> None:
    v = reg.log_artifact(make(x="A"))
    assert v.project == "uncategorized"
    assert reg.artifact("ds").id == v.id


def test_log_a_path_directly(reg: artreg.Registry, src: Path) -> None:
    folder = reg.log_artifact(src, project="p", name="tree", type="dataset")
    assert sorted(e.path for e in folder.files()) == ["a.txt", "big.bin", "sub/b.txt"]
    single = reg.log_artifact(str(src / "a.txt"), project="p", type="model")
    assert (single.collection_name, single.type) == ("a.txt", "model")
    assert [e.path for e in single.files()] == ["a.txt"]
    with pytest.raises(artreg.NotFound):
        reg.log_artifact(src / "missing", project="p", name="x")


def test_two_registries_one_memory_each_are_independent() -> None:
    with artreg.open(":memory:") as a, artreg.open(":memory:") as b:
        a.log_artifact(make(x="A"), project="p")
        assert b.collections() == []


def test_memory_registry_is_usable_from_threads(mem: artreg.Registry) -> None:
    import threading

    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            for j in range(5):
                mem.log_artifact(make(f"c{i}", x=f"{i}-{j}"), project="p", aliases=["best"])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for i in range(4):
        assert [v.index for v in mem.artifacts("p", f"c{i}")] == [4, 3, 2, 1, 0]


def test_folder_registry_is_usable_from_threads(reg: artreg.Registry) -> None:
    import threading

    def work(i: int) -> None:
        for j in range(5):
            reg.log_artifact(make(x=f"{i}-{j}"), project="p", aliases=[f"t{i}"])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(v.index for v in reg.artifacts("p", "ds")) == list(range(20))
    assert reg.artifact("p/ds").index == 19
