"""NotFound says what was typed, what is missing, and what is there instead (SPEC §21, issue "first contact")."""

from __future__ import annotations

import re

import pytest

import artreg
from conftest import make


@pytest.fixture
def zoo(reg: artreg.Registry) -> artreg.Registry:
    reg.log_artifact(make("zoo_dataset", a="0"), project="zoo", aliases=["best", "production"])
    reg.log_artifact(make("zoo_dataset", a="1"), project="zoo")
    reg.log_artifact(make("zoo_model", type="model", w="1"), project="zoo").link("wandb-registry-model/Zoo_Models")
    return reg


def message(reg: artreg.Registry, ref: str) -> str:
    with pytest.raises(artreg.NotFound) as caught:
        reg.artifact(ref)
    return str(caught.value)


def test_a_name_in_another_project_is_suggested(zoo: artreg.Registry) -> None:
    text = message(zoo, "zoo_dataset")
    assert text.startswith("no artifact zoo_dataset: there is no collection uncategorized/zoo_dataset")
    assert "'uncategorized' is the default project" in text
    assert text.endswith("did you mean 'zoo/zoo_dataset'?")
    assert message(zoo, "other/zoo_dataset:best").endswith("did you mean 'zoo/zoo_dataset:best'?")
    assert message(zoo, "zoo_model").endswith("did you mean 'zoo/zoo_model'?")
    assert message(zoo, "zoo/Zoo_Models:v0").endswith("did you mean 'wandb-registry-model/Zoo_Models:v0' or 'zoo/zoo_model:v0'?")


def test_colon_typed_for_slash_reports_the_reference_typed_and_suggests_the_slash(zoo: artreg.Registry) -> None:
    text = message(zoo, "zoo:zoo_dataset")
    assert text.startswith("no artifact zoo:zoo_dataset: ")
    assert text.endswith("did you mean 'zoo/zoo_dataset'?")
    # Also when a collection named like the project exists: its alias is missing, but the slash is meant.
    zoo.log_artifact(make("zoo", a="z"))
    text = message(zoo, "zoo:zoo_dataset")
    assert "uncategorized/zoo has no alias 'zoo_dataset'" in text and text.endswith("did you mean 'zoo/zoo_dataset'?")


def test_a_missing_alias_is_called_a_missing_alias(zoo: artreg.Registry) -> None:
    text = message(zoo, "zoo/zoo_dataset:prod")
    assert "zoo/zoo_dataset has no alias 'prod' (its aliases: best, latest, production)" in text
    assert "no version" not in text
    assert message(zoo, "zoo/zoo_dataset:Production").endswith("did you mean 'zoo/zoo_dataset:production'?")
    assert message(zoo, "zoo/zoo_dataset:prodution").endswith("did you mean 'zoo/zoo_dataset:production'?")


def test_a_missing_or_deleted_version_lists_what_there_is(zoo: artreg.Registry) -> None:
    assert "zoo/zoo_dataset has no version 'v7' (its versions: v0, v1)" in message(zoo, "zoo/zoo_dataset:v7")
    zoo.artifact("zoo/zoo_dataset:v0").delete(delete_aliases=True)
    assert message(zoo, "zoo/zoo_dataset:v0").endswith("zoo/zoo_dataset:v0 was deleted")
    zoo.artifact("zoo/zoo_dataset:v1").delete(delete_aliases=True)
    assert "zoo/zoo_dataset has no live version (all 2 were deleted)" in message(zoo, "zoo/zoo_dataset")
    zoo.collection("zoo/zoo_dataset").delete()
    assert message(zoo, "zoo/zoo_dataset:best") == "no artifact zoo/zoo_dataset:best: zoo/zoo_dataset was deleted"


def test_close_collection_names_in_the_project(zoo: artreg.Registry) -> None:
    assert message(zoo, "zoo/zoo_datset").endswith("did you mean 'zoo/zoo_dataset'?")
    assert message(zoo, "zoo/Zoo_Dataset:best").endswith("did you mean 'zoo/zoo_dataset:best'?")
    assert "did you mean" not in message(zoo, "zoo/completely_else")


def test_registries_with_a_similar_name(zoo: artreg.Registry) -> None:
    # Registry names match in any case (SPEC §15), so only a misspelling needs a suggestion.
    assert zoo.artifact("wandb-registry-Model/Zoo_Models").qualified_name == "wandb-registry-model/Zoo_Models:v0"
    assert zoo.registry("Dataset").name == "dataset"
    assert message(zoo, "wandb-registry-modle/Zoo_Models") == "no registry named 'modle'; did you mean 'model'?"
    with pytest.raises(artreg.NotFound, match=re.escape("no registry named 'datset'; did you mean 'dataset'?")):
        zoo.registry("datset")
    with pytest.raises(artreg.NotFound, match=re.escape("did you mean 'model'?")):
        zoo.registry("wandb-registry-model")
    text = message(zoo, "wandb-registry-model/zoo_models")
    assert text.startswith("no artifact wandb-registry-model/zoo_models: there is no collection wandb-registry-model/zoo_models")
    assert text.endswith("did you mean 'wandb-registry-model/Zoo_Models'?")


def test_collection_lookup_suggests_too(zoo: artreg.Registry) -> None:
    expected = "no artifact collection uncategorized/zoo_dataset; did you mean 'zoo/zoo_dataset'?"
    with pytest.raises(artreg.NotFound, match=re.escape(expected)):
        zoo.collection("uncategorized/zoo_dataset")


def test_names_in_registries_the_user_cannot_see_are_never_suggested(reg: artreg.Registry) -> None:
    secret = reg.create_registry("secret", visibility="restricted")
    reg.log_artifact(make("hidden_model", type="model", w="1"), project="zoo").link("wandb-registry-secret/hidden_model")
    assert secret.role("mia") is None
    mia = artreg.open(reg.path, user="mia")
    try:
        for ref in ("hidden_model", "Hidden_Model:v0", "other/hidden_model"):
            text = message(mia, ref)
            assert "wandb-registry-secret/" not in text, text
            assert "did you mean 'zoo/hidden_model" in text  # the source is in a project: that one is fine
        assert "did you mean" not in message(mia, "wandb-registry-secret:hidden_model")
        for project in ("wandb-registry-secret", "wandb-registry-Secret"):
            with pytest.raises(artreg.NotFound) as caught:
                mia.collection(f"{project}/hidden_modle")
            assert "did you mean" not in str(caught.value)
        with pytest.raises(artreg.ArtregError) as refused:
            mia.artifact("hidden_modle", project="wandb-registry-secret")
        assert "hidden_model" not in str(refused.value)
        with pytest.raises(artreg.PermissionDenied):  # registry names match in any case (SPEC §15)
            mia.artifact("wandb-registry-Secret/hidden_model")
        for name in ("secrets", "Secrets"):
            assert message(mia, f"wandb-registry-{name}/hidden_model") == f"no registry named {name!r}"
            with pytest.raises(artreg.NotFound) as caught:
                mia.registry(name)
            assert str(caught.value) == f"no registry named {name!r}"
    finally:
        mia.close()
    # Their members are offered them.
    assert "'wandb-registry-secret/hidden_model'" in message(reg, "hidden_model")


def test_a_registry_name_with_the_reference_prefix_is_refused(reg: artreg.Registry) -> None:
    before = reg.audit.head()
    with pytest.raises(artreg.InvalidName, match="may not start with 'wandb-registry-'.*'foo'"):
        reg.create_registry("wandb-registry-foo")
    assert reg.audit.head() == before
    assert [r.name for r in reg.registries()] == ["dataset", "model"]
    created = reg.create_registry("foo")
    with pytest.raises(artreg.InvalidName, match="wandb-registry-"):
        created.rename("wandb-registry-bar")
    assert reg.registry("foo").name == "foo"
