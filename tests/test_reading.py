"""SPEC §5: resolving references, listing, reading entries, editing and save()."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest

import artreg
from conftest import child_env, make


@pytest.fixture
def three(reg: artreg.Registry) -> list[artreg.ArtifactVersion]:
    return [reg.log_artifact(make(x=str(i)), project="zoo", aliases=[f"a{i}"]) for i in range(3)]


@pytest.mark.parametrize(
    ("ref", "index"),
    [
        ("zoo/ds", 2),
        ("zoo/ds:latest", 2),
        ("zoo/ds:v0", 0),
        ("zoo/ds:a1", 1),
        ("team/zoo/ds:v1", 1),
    ],
)
def test_resolve_references(reg: artreg.Registry, three: list, ref: str, index: int) -> None:
    assert reg.artifact(ref).index == index


def test_default_project_for_bare_names(reg: artreg.Registry, three: list) -> None:
    assert reg.artifact("ds:v1", project="zoo").index == 1
    with pytest.raises(artreg.NotFound, match="uncategorized/ds"):
        reg.artifact("ds")


@pytest.mark.parametrize(
    ("ref", "error", "match"),
    [
        ("zoo/ds:v9", artreg.NotFound, "no version 'v9'"),
        ("zoo/ds:nope", artreg.NotFound, "no alias 'nope'"),
        ("zoo/other", artreg.NotFound, "no artifact zoo/other"),
        ("nope/ds", artreg.NotFound, "no artifact nope/ds"),
        ("wandb-registry-nope/ds", artreg.NotFound, "no registry named 'nope'"),
        ("wandb-registry-model/ds", artreg.NotFound, "no artifact wandb-registry-model/ds"),
        ("zoo/ds:", artreg.InvalidName, "alias"),
        ("zoo/d s", artreg.InvalidName, "artifact name"),
    ],
)
def test_bad_references(reg: artreg.Registry, three: list, ref: str, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        reg.artifact(ref)


def test_listing(reg: artreg.Registry, three: list) -> None:
    reg.log_artifact(make("m", type="model", w="1"), project="zoo")
    reg.log_artifact(make("other", x="1"), project="elsewhere")
    assert [v.version for v in reg.artifacts("zoo", "ds")] == ["v2", "v1", "v0"]
    assert [(c.project, c.name) for c in reg.collections()] == [("elsewhere", "other"), ("zoo", "ds"), ("zoo", "m")]
    assert [c.name for c in reg.collections("zoo", type="model")] == ["m"]
    assert reg.projects() == ["elsewhere", "zoo"]
    coll = reg.collection("zoo/ds")
    assert (coll.type, coll.aliases) == ("dataset", ["a0", "a1", "a2", "latest"])
    assert [v.index for v in coll.versions()] == [2, 1, 0]
    with pytest.raises(artreg.NotFound):
        reg.artifacts("zoo", "missing")
    with pytest.raises(artreg.InvalidName):
        reg.collection("no-slash")


def test_files_get_entry_and_open(reg: artreg.Registry) -> None:
    big = os.urandom(3000)
    v = reg.log_artifact(make(b__z=b"zz", a=b"aa", big=big), project="p")
    assert [(e.path, e.size) for e in v.files()] == [("a", 2), ("b/z", 2), ("big", 3000)]
    entry = v.get_entry("./b//z")
    assert entry.path == "b/z" and entry.ref is None and entry.extra == {}
    with v.open("big") as f:
        assert f.read(10) == big[:10]
        assert f.read() == big[10:]
    with pytest.raises(artreg.NotFound):
        v.get_entry("missing")
    with pytest.raises(artreg.InvalidName):
        v.open("../a")


def test_open_refuses_a_corrupted_blob_file(reg: artreg.Registry) -> None:
    v = reg.log_artifact(make(big=os.urandom(3000)), project="p")
    path = next(p for p in reg.objects.rglob("*") if p.is_file() and p.parent.name not in ("tmp",) and p.name != "lock")  # type: ignore[union-attr]
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(artreg.IntegrityError, match="corrupt"):
        v.open("big").read()


def test_open_refuses_a_tampered_inline_blob(reg: artreg.Registry) -> None:
    v = reg.log_artifact(make(a=b"original"), project="p")
    reg._db.connection().execute("UPDATE blobs SET data = ? WHERE digest = ?", (b"tampered", v.get_entry("a").digest))
    with pytest.raises(artreg.IntegrityError):
        v.open("a").read()


def test_save_edits_in_one_go(reg: artreg.Registry, three: list) -> None:
    v0, v1, v2 = three
    v0.description = "first"
    v0.metadata["acc"] = 0.9
    v0.tags.append("gold")
    v0.aliases.append("a2")  # moves from v2
    v0.aliases.remove("a0")
    v0.save()
    fresh = reg.artifact("zoo/ds:v0")
    assert (fresh.description, fresh.metadata, fresh.tags, fresh.aliases) == ("first", {"acc": 0.9}, ["gold"], ["a2"])
    assert reg.artifact("zoo/ds:a2") == v0
    assert reg.artifact("zoo/ds:v2").aliases == ["latest"]
    with pytest.raises(artreg.NotFound):
        reg.artifact("zoo/ds:a0")


def test_save_writes_only_what_changed(reg: artreg.Registry, three: list) -> None:
    stale = reg.artifact("zoo/ds:v1")
    other = reg.artifact("zoo/ds:v1")
    other.description = "from elsewhere"
    other.tags = ["x"]
    other.save()
    stale.metadata = {"k": 1}
    stale.save()
    assert (stale.description, stale.tags, stale.metadata) == ("from elsewhere", ["x"], {"k": 1})


@pytest.mark.parametrize("alias", ["latest", "v0", "v2"])
def test_save_refuses_reserved_aliases_and_changes_nothing(reg: artreg.Registry, three: list, alias: str) -> None:
    v1 = reg.artifact("zoo/ds:v1")
    v1.description = "would change"
    v1.aliases.append(alias)
    with pytest.raises(artreg.InvalidName, match="reserved"):
        v1.save()
    v1.refresh()
    assert (v1.description, v1.aliases) == (None, ["a1"])


def test_leaving_out_latest_changes_nothing(reg: artreg.Registry, three: list) -> None:
    v2 = reg.artifact("zoo/ds")
    v2.aliases = ["best"]
    v2.save()
    assert v2.aliases == ["best", "latest"]


def test_setters_validate(reg: artreg.Registry, three: list) -> None:
    v = reg.artifact("zoo/ds")
    with pytest.raises(artreg.InvalidName):
        v.aliases = ["a/b"]
    with pytest.raises(artreg.InvalidName):
        v.tags = ["no  no"]
    with pytest.raises(artreg.InvalidName):
        v.metadata = {"x": float("nan")}
    v.metadata["y"] = float("inf")
    with pytest.raises(artreg.InvalidName):
        v.save()
    assert reg.artifact("zoo/ds").metadata == {}


def test_collection_description_and_tags(reg: artreg.Registry, three: list) -> None:
    coll = reg.collection("zoo/ds")
    coll.description = "all the rows"
    coll.tags.append("tabular")
    coll.save()
    again = reg.artifact("zoo/ds").collection
    assert (again.description, again.tags) == ("all the rows", ["tabular"])
    again.tags = ["bad  tag"]
    with pytest.raises(artreg.InvalidName):
        again.save()


# -- resolving again: the remembered row must never outlive a change ----------------------


def test_resolve_sees_its_own_changes_at_once(reg: artreg.Registry) -> None:
    v0 = reg.log_artifact(make(a="0"), aliases=["best"])
    assert reg.artifact("ds:best").index == 0
    v1 = reg.log_artifact(make(a="1"))
    v1.aliases.append("best")
    v1.save()
    assert reg.artifact("ds:best").index == 1
    assert reg.artifact("ds:latest").index == 1
    v1.delete(delete_aliases=True)
    assert reg.artifact("ds:latest") == v0
    with pytest.raises(artreg.NotFound):
        reg.artifact("ds:best")


def test_resolve_returns_a_fresh_object_each_time(reg: artreg.Registry) -> None:
    reg.log_artifact(make(a="0"), aliases=["best"])
    first = reg.artifact("ds:best")
    first.aliases.append("unsaved")
    first.metadata["edited"] = True
    second = reg.artifact("ds:best")
    assert second is not first
    assert second.aliases == ["best", "latest"] and second.metadata == {}


def test_resolve_sees_another_threads_commit(reg: artreg.Registry) -> None:
    reg.log_artifact(make(a="0"), aliases=["best"])
    assert reg.artifact("ds:best").index == 0

    def move() -> None:
        v1 = reg.log_artifact(make(a="1"))
        v1.aliases.append("best")
        v1.save()

    worker = threading.Thread(target=move)
    worker.start()
    worker.join()
    assert reg.artifact("ds:best").index == 1


def test_resolve_sees_another_processs_commit(reg: artreg.Registry, catalog: str) -> None:
    reg.log_artifact(make(a="0"), aliases=["best"])
    reg.log_artifact(make(a="1"))
    assert reg.artifact("ds:best").index == 0  # remembered now
    script = (
        "import sys, artreg\n"
        "reg = artreg.open(sys.argv[1])\n"
        "v = reg.artifact('ds:v1'); v.aliases.append('best'); v.save()\n"
    )
    subprocess.run([sys.executable, "-c", script, catalog], env=child_env(), check=True, timeout=60)
    assert reg.artifact("ds:best").index == 1
    assert reg.artifact("ds:v0").aliases == []
