"""SPEC §11: full-text search over registries, collections, descriptions, aliases and tags."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import apsw
import pytest

import artreg
from artreg.storage._schema import SCHEMA_VERSION
from conftest import CATALOGS, UNDO_CHUNKS, made_by, make

# What the index must hold, recomputed from the data (the migration's backfill query).
EXPECTED_DOCS = """
SELECT 'registry', id, 'name', name FROM registries
UNION ALL SELECT 'registry', id, 'description', description FROM registries WHERE description IS NOT NULL
UNION ALL SELECT 'collection', id, 'name', name FROM collections
UNION ALL SELECT 'collection', id, 'description', description FROM collections WHERE description IS NOT NULL
UNION ALL SELECT 'collection', collection_id, 'tag', tag FROM collection_tags
UNION ALL SELECT 'version', id, 'description', description FROM versions WHERE description IS NOT NULL
UNION ALL SELECT 'version', version_id, 'tag', tag FROM version_tags
UNION ALL SELECT 'version', version_id, 'alias', alias FROM aliases
"""


@pytest.fixture(params=CATALOGS)
def path(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The organisation's registry, made by "boss", on each catalog."""
    return made_by(request, tmp_path, "org", "boss")


@pytest.fixture
def boss(path: str) -> Iterator[artreg.Registry]:
    with artreg.open(path, user="boss") as reg:
        yield reg


def hits(reg: artreg.Registry, text: str, **kwargs: object) -> set[tuple[str, str, str]]:
    return {(h.kind, h.field, h.ref) for h in reg.search(text, **kwargs)}  # type: ignore[arg-type]


def assert_index_in_step(reg: artreg.Registry) -> None:
    """search_docs holds exactly the rows the data calls for, and the full-text index is whole."""
    with reg._db.read() as con:
        docs = sorted(con.execute("SELECT kind, ref_id, field, text FROM search_docs"))
        assert docs == sorted(con.execute(EXPECTED_DOCS))
        if reg._db.dialect == "postgresql":  # the tsvector is a generated column: each document's own words
            assert con.execute("SELECT count(*) FROM search_docs WHERE tsv IS NULL OR tsv = ''::tsvector AND text ~ '[[:alnum:]]'"
                               ).fetchone() == (0,)
        else:
            con.execute("INSERT INTO search_fts(search_fts, rank) VALUES ('integrity-check', 1)")


def zoo_model(reg: artreg.Registry) -> tuple[artreg.ArtifactVersion, artreg.ArtifactVersion]:
    art = make("zoo_classifier", type="model", weights="w")
    art.description = "A convolutional classifier of zoo animals"
    model = reg.log_artifact(art, project="zoo", tags=["baseline"], aliases=["candidate"])
    link = model.link("wandb-registry-model/Zoo_Classifier_Models", aliases=["production"])
    return model, link


def test_finds_the_model_by_alias_tag_description_and_name(boss: artreg.Registry) -> None:
    model, link = zoo_model(boss)
    assert hits(boss, "production") == {("version", "alias", link.qualified_name)}
    # Description and tags are the source's: a hit names the version and every link to it.
    assert hits(boss, "baseline") == {("version", "tag", model.qualified_name), ("version", "tag", link.qualified_name)}
    assert hits(boss, "animals") == {
        ("version", "description", model.qualified_name), ("version", "description", link.qualified_name),
    }
    assert hits(boss, "Zoo_Classifier_Models") == {("collection", "name", "wandb-registry-model/Zoo_Classifier_Models")}
    assert ("registry", "name", "model") in hits(boss, "model")
    (hit,) = boss.search("production")
    assert (hit.text, boss.artifact(hit.ref)) == ("production", link)
    with pytest.raises(dataclasses.FrozenInstanceError):
        hit.ref = "x"  # type: ignore[misc]


def test_prefixes_phrases_operators_and_punctuated_words(boss: artreg.Registry) -> None:
    model, link = zoo_model(boss)
    found = hits(boss, "zoo*")
    assert {("collection", "name", "zoo/zoo_classifier"), ("version", "description", model.qualified_name)} <= found
    assert hits(boss, "zo") == set()  # whole words unless '*'
    link.aliases.append("production-us")
    link.save()
    assert hits(boss, "production-us") == {("version", "alias", link.qualified_name)}  # '-' is not syntax
    assert hits(boss, '"zoo animals"', kinds=["version"]) == {
        ("version", "description", model.qualified_name), ("version", "description", link.qualified_name),
    }
    assert hits(boss, '"animals zoo"') == set()
    assert hits(boss, "candidate OR production", kinds=["version"]) == {
        ("version", "alias", model.qualified_name), ("version", "alias", link.qualified_name),
    }
    assert hits(boss, "classifier NOT animals") == {
        ("collection", "name", "zoo/zoo_classifier"), ("collection", "name", "wandb-registry-model/Zoo_Classifier_Models"),
    }
    assert hits(boss, "(candidate OR baseline) NOT production", kinds=["version"]) == {
        ("version", "alias", model.qualified_name), ("version", "tag", model.qualified_name), ("version", "tag", link.qualified_name),
    }


def test_ranked_best_first_and_limited(boss: artreg.Registry) -> None:
    for i, words in enumerate(["otter", "otter otter otter", "otter and a long tail of other words about rivers and fish"]):
        art = make(f"m{i}", x=str(i))
        art.description = words
        boss.log_artifact(art, project="p")
    found = boss.search("otter")
    assert [h.ref for h in found] == ["p/m1:v0", "p/m0:v0", "p/m2:v0"]
    assert found[0].score > found[1].score > found[2].score > 0
    assert [h.ref for h in boss.search("otter", limit=1)] == ["p/m1:v0"]
    assert {h.kind for h in boss.search("m0 OR otter", kinds=["collection"])} == {"collection"}


def test_the_index_follows_every_change(path: str, boss: artreg.Registry) -> None:
    model, link = zoo_model(boss)
    v1 = boss.log_artifact(make("zoo_classifier", type="model", weights="w2"), project="zoo", aliases=["candidate"])
    assert hits(boss, "candidate") == {("version", "alias", v1.qualified_name)}  # the alias moved
    model.refresh()
    model.description = "retired"
    model.tags = ["old"]
    model.save()
    assert hits(boss, "animals") == set() and hits(boss, "baseline") == set()
    assert hits(boss, "retired") == {("version", "description", model.qualified_name), ("version", "description", link.qualified_name)}
    collection = boss.collection("zoo/zoo_classifier")
    collection.description = "every giraffe detector"
    collection.tags = ["vision"]
    collection.save()
    assert hits(boss, "giraffe OR vision") == {
        ("collection", "description", "zoo/zoo_classifier"), ("collection", "tag", "zoo/zoo_classifier"),
    }
    link.unlink()
    assert hits(boss, "production") == set()
    assert hits(boss, "retired") == {("version", "description", model.qualified_name)}
    registry = boss.create_registry("menagerie", description="animals of every sort")
    assert hits(boss, "sort") == {("registry", "description", "menagerie")}
    registry.rename("bestiary")
    assert hits(boss, "bestiary") == {("registry", "name", "bestiary")} and hits(boss, "menagerie") == set()
    v1.link("wandb-registry-bestiary/Beasts", aliases=["star"])
    assert hits(boss, "star") == {("version", "alias", "wandb-registry-bestiary/Beasts:v0")}
    registry.delete()
    assert hits(boss, "bestiary OR sort OR star OR Beasts") == set()
    model.delete(delete_aliases=True)
    assert hits(boss, "retired") == set()
    collection.delete()
    assert hits(boss, "zoo_classifier OR giraffe") == {("collection", "name", "wandb-registry-model/Zoo_Classifier_Models")}
    assert_index_in_step(boss)
    assert boss.check().ok


def test_a_refused_change_leaves_the_index_alone(boss: artreg.Registry) -> None:
    boss.log_artifact(make("m", x="1"), project="p")
    with pytest.raises(artreg.TypeMismatch):
        art = make("m", type="model", x="2")
        art.description = "never stored"
        boss.log_artifact(art, project="p", tags=["ghost"])
    assert hits(boss, "never OR ghost") == set()
    assert_index_in_step(boss)


def test_registry_content_is_shown_only_to_users_with_a_role(path: str, boss: artreg.Registry) -> None:
    secret = boss.create_registry("vault", visibility="restricted", description="classified models")
    v = boss.log_artifact(make("gold", type="model", w="1"), project="p", tags=["shiny"])
    v.link("wandb-registry-vault/Treasure", aliases=["hidden"])
    assert hits(boss, "hidden OR Treasure OR classified OR vault") == {
        ("version", "alias", "wandb-registry-vault/Treasure:v0"),
        ("collection", "name", "wandb-registry-vault/Treasure"),
        ("registry", "description", "vault"),
        ("registry", "name", "vault"),
    }
    with artreg.open(path, user="eve") as eve:
        assert hits(eve, "hidden OR Treasure OR classified OR vault") == set()
        assert hits(eve, "shiny") == {("version", "tag", "p/gold:v0")}  # the project version is not the registry's
        assert ("registry", "name", "model") in hits(eve, "model")
    secret.add_member("eve", "restricted_viewer")
    with artreg.open(path, user="eve") as eve:
        assert ("version", "alias", "wandb-registry-vault/Treasure:v0") in hits(eve, "hidden")
        assert ("version", "tag", "wandb-registry-vault/Treasure:v0") in hits(eve, "shiny")


@pytest.mark.parametrize("text", ['"open', "a AND", "(zoo", "zoo)", "OR", "*", "", "   ", "NOT zoo"])
def test_bad_search_text_is_invalid_name(boss: artreg.Registry, text: str) -> None:
    zoo_model(boss)
    with pytest.raises(artreg.InvalidName):
        boss.search(text)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"kinds": ["run"]}, "unknown search kind 'run'"),
        ({"kinds": "version"}, "kinds must be a list"),
        ({"limit": 0}, "limit must be a positive"),
        ({"limit": True}, "limit must be a positive"),
    ],
)
def test_bad_arguments_are_invalid_name(boss: artreg.Registry, kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(artreg.InvalidName, match=match):
        boss.search("zoo", **kwargs)  # type: ignore[arg-type]
    with pytest.raises(artreg.InvalidName, match="must be a string"):
        boss.search(3)  # type: ignore[arg-type]


def test_an_older_file_is_indexed_when_migrated(tmp_path: Path) -> None:
    path = tmp_path / "org"  # a registry file of an earlier schema: SQLite's migrations
    with artreg.open(path, user="boss") as reg:
        zoo_model(reg)
    con = apsw.Connection(str(path / "registry.db"))
    with con:
        for (name,) in con.execute("SELECT name FROM sqlite_schema WHERE type = 'trigger' AND name LIKE 'search%'").fetchall():
            con.execute(f'DROP TRIGGER "{name}"')
        for table in ("search_fts", "search_docs", "delivery_attempts", "outbox", "automations", "tree_cache",  # migrations 4 and on
                      "run_history", "pending_entries", "pending_producers", "pending_versions",
                      "version_origins", "run_origins"):
            con.execute(f"DROP TABLE {table}")
        con.execute(UNDO_CHUNKS)  # the last migration (manifests as chunks)
        con.execute("DROP INDEX runs_by_key")
        for column in ("run_key", "entity", "run_group", "summary"):
            con.execute(f"ALTER TABLE runs DROP COLUMN {column}")
        con.execute("PRAGMA user_version = 3")
    con.close()
    with artreg.open(path, user="boss") as reg:
        assert reg._db.connection().execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        assert ("version", "alias", "wandb-registry-model/Zoo_Classifier_Models:v0") in hits(reg, "production")
        assert_index_in_step(reg)
