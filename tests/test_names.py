"""SPEC §3: every name rule, and the reference grammar."""

from __future__ import annotations

import math

import pytest

import artreg
from artreg import InvalidName
from artreg._names import (
    check_alias,
    check_artifact_name,
    check_metadata,
    check_project,
    check_tag,
    check_type,
    normalize_path,
    parse_ref,
)


@pytest.mark.parametrize("name", ["zoo", "Zoo_Dataset-1.2", "a" * 128, "_", "."])
def test_artifact_names_accepted(name: str) -> None:
    assert check_artifact_name(name) == name


@pytest.mark.parametrize("name", ["", "a" * 129, "has space", "a/b", "a:b", "ünï", "tab\t", None, 3])
def test_artifact_names_refused(name: object) -> None:
    with pytest.raises(InvalidName, match="artifact name"):
        check_artifact_name(name)


@pytest.mark.parametrize("type_", ["dataset", "model", "my type", "x" * 128])
def test_types_accepted(type_: str) -> None:
    assert check_type(type_) == type_


@pytest.mark.parametrize("type_", ["", "x" * 129, "a/b", "a:b", "wandb-history", "new\nline"])
def test_types_refused(type_: str) -> None:
    with pytest.raises(InvalidName, match="type"):
        check_type(type_)


@pytest.mark.parametrize("alias", ["best", "production-us", "v1.0", "vx", "latest-good", "v", "x" * 128])
def test_aliases_accepted(alias: str) -> None:
    assert check_alias(alias) == alias


@pytest.mark.parametrize("alias", ["", "x" * 129, "a/b", "a:b", "a\x00b", "a\nb"])
def test_aliases_refused(alias: str) -> None:
    with pytest.raises(InvalidName, match="alias"):
        check_alias(alias)


@pytest.mark.parametrize("alias", ["latest", "v0", "v12"])
def test_reserved_aliases_refused_unless_selecting(alias: str) -> None:
    with pytest.raises(InvalidName, match="reserved"):
        check_alias(alias)
    assert check_alias(alias, allow_reserved=True) == alias


@pytest.mark.parametrize("tag", ["baseline", "two words", "with-dash_under", "ünïcode", "x" * 128])
def test_tags_accepted(tag: str) -> None:
    assert check_tag(tag) == tag


@pytest.mark.parametrize("tag", ["", "two  spaces", " lead", "trail ", "a/b", "a:b", "x" * 129, "tab\there"])
def test_tags_refused(tag: str) -> None:
    with pytest.raises(InvalidName, match="tag"):
        check_tag(tag)


@pytest.mark.parametrize("name", ["zoo", "my project", "zoo.v2", "x" * 128])
def test_projects_accepted(name: str) -> None:
    assert check_project(name) == name


@pytest.mark.parametrize("name", ["", "a/b", "a\\b", "a#b", "a?b", "a%b", "a:b", "a\x01", "x" * 129])
def test_projects_refused(name: str) -> None:
    with pytest.raises(InvalidName, match="project name"):
        check_project(name)


@pytest.mark.parametrize(
    ("raw", "normal"),
    [("a//b", "a/b"), ("./x", "x"), ("a/./b/", "a/b"), ("dir/file.txt", "dir/file.txt"), ("..a/b..", "..a/b..")],
)
def test_paths_normalised(raw: str, normal: str) -> None:
    assert normalize_path(raw) == normal


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("", "empty"),
        (".", "empty"),
        ("./", "empty"),
        ("..", r"'\.\.'"),
        ("a/../../etc/passwd", r"'\.\.'"),
        ("/etc/passwd", "absolute"),
        ("a\x00b", "NUL"),
        ("a\nb", "control"),
        ("a\\..\\b", "backslash"),
        ("..\\x", "backslash"),
    ],
)
def test_paths_refused(raw: str, why: str) -> None:
    with pytest.raises(InvalidName, match=why):
        normalize_path(raw)


def test_metadata_rules() -> None:
    assert check_metadata({"a": [1, 2.5, {"b": None}]}) == {"a": [1, 2.5, {"b": None}]}
    assert check_metadata(None) == {}
    assert len(check_metadata({str(i): i for i in range(100)})) == 100
    with pytest.raises(InvalidName, match="101 top-level keys"):
        check_metadata({str(i): i for i in range(101)})
    with pytest.raises(InvalidName, match="NaN"):
        check_metadata({"loss": math.nan})
    with pytest.raises(InvalidName, match="NaN"):
        check_metadata({"deep": [{"x": math.inf}]})
    with pytest.raises(InvalidName, match="non-string key"):
        check_metadata({"a": {1: 2}})
    with pytest.raises(InvalidName, match="not JSON"):
        check_metadata({"a": object()})
    with pytest.raises(InvalidName, match="must be a dict"):
        check_metadata([1, 2])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("zoo", artreg.Ref("zoo")),
        ("zoo:v3", artreg.Ref("zoo", selector="v3")),
        ("proj/zoo:best", artreg.Ref("zoo", project="proj", selector="best")),
        ("team/proj/zoo:latest", artreg.Ref("zoo", project="proj", entity="team")),
        ("proj/zoo:a:b", None),
        ("wandb-registry-model/Zoo_Classifier_Models:production",
         artreg.Ref("Zoo_Classifier_Models", project="wandb-registry-model", selector="production")),
        ("org/wandb-registry-model/Zoo:v0", artreg.Ref("Zoo", project="wandb-registry-model", entity="org", selector="v0")),
    ],
)
def test_reference_grammar(text: str, expected: artreg.Ref | None) -> None:
    if expected is None:
        with pytest.raises(InvalidName, match="alias"):
            parse_ref(text)
        return
    parsed = parse_ref(text)
    assert parsed == expected
    assert parse_ref(str(parsed)) == parsed


def test_registry_references_name_the_registry() -> None:
    assert parse_ref("wandb-registry-model/Zoo:production").registry == "model"
    assert parse_ref("proj/Zoo").registry is None


@pytest.mark.parametrize(
    ("text", "part"),
    [
        ("", "artifact name"),
        ("a/b/c/d", "too many"),
        ("proj/", "artifact name"),
        ("/zoo", "project name"),
        ("pr#j/zoo", "project name"),
        ("zoo:", "alias"),
        ("zoo:a/b", "alias"),
        ("wandb-registry-/zoo", "registry name"),
        ("bad ent/proj/zoo", None),
    ],
)
def test_bad_references_name_the_offending_part(text: str, part: str | None) -> None:
    if part is None:
        assert parse_ref(text).entity == "bad ent"  # entities follow the project-name rules
        return
    with pytest.raises(InvalidName, match=part):
        parse_ref(text)


@pytest.mark.parametrize(
    "call",
    [
        lambda: check_alias("a\ud800"),
        lambda: check_project("p\udfff"),
        lambda: check_type("t\ud800"),
        lambda: normalize_path("f\ud800"),
        lambda: check_metadata({"k": "v\ud800"}),
        lambda: check_metadata({"k\ud800": 1}),
        lambda: artreg.Artifact("ok", type="dataset", description="d\ud800"),
    ],
)
def test_lone_surrogates_are_invalid_names(call) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidName):
        call()
