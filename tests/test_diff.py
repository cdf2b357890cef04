"""``v.diff(other)`` and ``artreg diff``: files, metadata, aliases and tags between two versions."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import artreg
from artreg import cli
from artreg._diff import EntryChange, MetadataChange, VersionDiff
from conftest import make


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    assert cli.main(["--json", *argv]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def pair(mem: artreg.Registry) -> tuple[artreg.ArtifactVersion, artreg.ArtifactVersion]:
    old = make("ds", same="1", gone="2", edited="3", **{"dir__kept": "4"})
    old.metadata = {"config": {"lr": 0.1, "layers": 2}, "n": 1, "drop": True, "shape": {"a": 1}}
    mem.log_artifact(old, project="p", aliases=["best"], tags=["raw"])
    new = make("ds", same="1", edited="3 but longer", new="5", **{"dir__kept": "4"})
    new.metadata = {"config": {"lr": 0.2, "layers": 2}, "n": 1.0, "shape": 7, "extra": {"k": [1]}}
    second = mem.log_artifact(new, project="p", aliases=["candidate"], tags=["clean"])
    return mem.artifact("p/ds:v0"), second


def test_files_added_removed_and_changed_with_sizes_and_digests(pair: tuple[artreg.ArtifactVersion, artreg.ArtifactVersion]) -> None:
    old, new = pair
    diff = old.diff(new)
    assert [e.path for e in diff.added] == ["new"]
    assert [e.path for e in diff.removed] == ["gone"]
    assert [c.path for c in diff.changed] == ["edited"]
    change = diff.changed[0]
    assert (change.old.size, change.new.size) == (1, 12)
    assert change.old == old.get_entry("edited") and change.new == new.get_entry("edited")
    assert diff.added[0].digest == new.get_entry("new").digest and diff.removed[0].size == 1
    assert diff.unchanged_count == 2 and diff.unchanged == ()
    assert [e.path for e in old.diff(new, unchanged=True).unchanged] == ["dir/kept", "same"]
    assert not diff.same_content and not diff.empty


def test_metadata_nested_keys_by_path_and_json_types(pair: tuple[artreg.ArtifactVersion, artreg.ArtifactVersion]) -> None:
    old, new = pair
    diff = old.diff(new)
    assert diff.metadata_changed == (
        MetadataChange(("config", "lr"), 0.1, 0.2),  # nested: reported at the leaf
        MetadataChange(("n",), 1, 1.0),  # 1 and 1.0 are different JSON values
        MetadataChange(("shape",), {"a": 1}, 7),  # an object on one side only: reported whole
    )
    assert diff.metadata_added == (MetadataChange(("extra",), None, {"k": [1]}),)
    assert diff.metadata_removed == (MetadataChange(("drop",), True, None),)
    assert diff.metadata_changed[0].key == "config.lr"


def test_aliases_and_tags_gained_and_lost(pair: tuple[artreg.ArtifactVersion, artreg.ArtifactVersion]) -> None:
    old, new = pair
    diff = old.diff(new)
    assert (diff.aliases_added, diff.aliases_removed) == (("candidate", "latest"), ("best",))
    assert (diff.tags_added, diff.tags_removed) == (("clean",), ("raw",))
    back = new.diff(old)
    assert (back.aliases_added, back.aliases_removed) == (("best",), ("candidate", "latest"))
    assert [e.path for e in back.added] == ["gone"] and [e.path for e in back.removed] == ["new"]


def test_a_version_against_itself_and_against_a_link_is_empty(mem: artreg.Registry) -> None:
    v = mem.log_artifact(make("m", "model", a="1"), project="p")
    assert v.diff(v).empty and v.diff(v).same_content and v.diff(v).unchanged_count == 1
    link = v.link("wandb-registry-model/M")
    diff = v.diff(link)
    assert diff.same_content and not (diff.added or diff.removed or diff.changed or diff.metadata_changed)
    assert diff.new == "wandb-registry-model/M:v0"


def test_the_diff_is_a_frozen_value_read_from_what_is_saved(pair: tuple[artreg.ArtifactVersion, artreg.ArtifactVersion]) -> None:
    old, new = pair
    new.metadata["unsaved"] = 1
    new.aliases.append("unsaved")
    diff = old.diff(new)
    assert "unsaved" not in diff.aliases_added and all(c.key != "unsaved" for c in diff.metadata_added)
    assert isinstance(diff, VersionDiff) and isinstance(diff.changed[0], EntryChange)
    with pytest.raises(dataclasses.FrozenInstanceError):
        diff.added = ()  # type: ignore[misc]
    stale = old.diff(new)  # a stale object still compares what the registry holds now
    new.refresh()
    new.aliases.append("fresh")
    new.save()
    assert "fresh" in old.diff(new).aliases_added and "fresh" not in stale.aliases_added


def test_diff_of_something_else_is_refused(mem: artreg.Registry, tmp_path: Any) -> None:
    v = mem.log_artifact(make(a="1"), project="p")
    with pytest.raises(artreg.InvalidName):
        v.diff("p/ds:v0")  # type: ignore[arg-type]
    with artreg.open(tmp_path / "other") as other:
        elsewhere = other.log_artifact(make(a="1"), project="p")
        with pytest.raises(artreg.InvalidName):
            v.diff(elsewhere)


manifests = st.dictionaries(
    st.sampled_from([f"{d}{f}" for d in ("", "a/", "a/b/", "c/") for f in ("x", "y", "z.bin")]),
    st.sampled_from(["1", "2", "333"]),
    max_size=10,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(before=manifests, after=manifests)
def test_the_merge_agrees_with_comparing_two_dicts(mem: artreg.Registry, before: dict[str, str], after: dict[str, str]) -> None:
    """The SQL merge against the obvious model: two dicts of path -> content."""
    old = mem.log_artifact(make("h", **{k.replace("/", "__"): v for k, v in before.items()}), project="hyp")
    new = mem.log_artifact(make("h", **{k.replace("/", "__"): v for k, v in after.items()}), project="hyp")
    diff = old.diff(new, unchanged=True)
    assert [e.path for e in diff.added] == sorted(after.keys() - before.keys())
    assert [e.path for e in diff.removed] == sorted(before.keys() - after.keys())
    assert [c.path for c in diff.changed] == sorted(k for k in before.keys() & after.keys() if before[k] != after[k])
    assert [e.path for e in diff.unchanged] == sorted(k for k in before.keys() & after.keys() if before[k] == after[k])
    assert diff.unchanged_count == len(diff.unchanged)
    assert all(c.new.size == len(after[c.path]) and c.old.size == len(before[c.path]) for c in diff.changed)


def test_cli_diff_json_and_text(capsys: pytest.CaptureFixture[str], tmp_path: Any) -> None:
    with artreg.open(tmp_path / "reg") as reg:
        for files, meta in (({"a": "1", "b": "2"}, {"x": {"y": 1}}), ({"a": "1", "c": "3"}, {"x": {"y": 2}})):
            draft = make(**files)
            draft.metadata = meta
            reg.log_artifact(draft, project="p")
    shown = run_json(capsys, "--registry", str(tmp_path / "reg"), "diff", "p/ds:v0", "p/ds:v1")
    assert [f["path"] for f in shown["files"]["added"]] == ["c"] and [f["path"] for f in shown["files"]["removed"]] == ["b"]
    assert shown["files"]["unchanged_count"] == 1 and shown["files_hidden"] is None
    assert shown["metadata"]["changed"] == [{"key": "x.y", "path": ["x", "y"], "old": 1, "new": 2}]
    assert shown["aliases"] == {"added": ["latest"], "removed": []}
    assert cli.main(["--registry", str(tmp_path / "reg"), "diff", "p/ds:v0", "p/ds:v1"]) == 0
    out = capsys.readouterr().out
    assert "1 added, 1 removed, 0 changed, 1 unchanged" in out and "metadata ~ x.y: 1 -> 2" in out and "+ c" in out
    assert cli.main(["--registry", str(tmp_path / "reg"), "diff", "p/ds:v0", "p/ds:v9"]) == 3


def test_a_restricted_viewer_compares_metadata_but_not_files(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    path = str(tmp_path / "reg")
    with artreg.open(path, user="admin") as reg:
        one = reg.log_artifact(make("m", "model", a="1"), project="p")
        two = reg.log_artifact(make("m", "model", a="2"), project="p")
        vault = reg.create_registry("vault", visibility="restricted")
        vault.add_member("eve", "restricted_viewer")
        one.link("wandb-registry-vault/M")
        two.link("wandb-registry-vault/M", aliases=["prod"])
    shown = run_json(capsys, "--registry", path, "--user", "eve", "diff", "wandb-registry-vault/M:v0", "wandb-registry-vault/M:v1")
    assert shown["files"] is None and "restricted_viewer" in shown["files_hidden"]
    assert shown["aliases"]["added"] == ["latest", "prod"]
    assert run_json(capsys, "--registry", path, "--user", "admin", "diff", "wandb-registry-vault/M:v0",
                    "wandb-registry-vault/M:v1")["files"]["changed"][0]["path"] == "a"
