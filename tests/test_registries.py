"""SPEC §7: registries, links, roles, protected aliases; the audit log and alias history."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

import artreg
from conftest import CATALOGS, made_by, make

ROLES = ["none", "restricted_viewer", "viewer", "member", "admin"]


@pytest.fixture(params=CATALOGS)
def path(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The organisation's registry, made by "boss", on each catalog."""
    return made_by(request, tmp_path, "org", "boss")


@pytest.fixture
def boss(path: str) -> Iterator[artreg.Registry]:
    """The user who created the file: an org admin."""
    with artreg.open(path, user="boss", inline_limit=16) as reg:
        yield reg


def as_user(path: str, user: str) -> artreg.Registry:
    return artreg.open(path, user=user, inline_limit=16)


def test_core_registries_exist(boss: artreg.Registry) -> None:
    assert [r.name for r in boss.registries()] == ["dataset", "model"]
    model = boss.registry("model")
    assert model.artifact_types == ["model"] and model.project == "wandb-registry-model"
    assert boss.registry("dataset").artifact_types == ["dataset"]
    assert boss.projects() == []
    with pytest.raises(artreg.NotFound):
        boss.registry("nope")


def test_the_seeds_workflow(path: str, boss: artreg.Registry) -> None:
    """Log, link with two aliases, resolve by alias, protect, watch a member be refused."""
    with boss.init("zoo", job_type="train") as run:
        model = run.log_artifact(make("zoo_classifier", type="model", weights=b"w" * 100))
        link = run.link_artifact(model, "wandb-registry-model/Zoo_Classifier_Models", aliases=["production-us", "production-eu"])
    assert (link.name, link.project, link.is_link) == ("Zoo_Classifier_Models:v0", "wandb-registry-model", True)
    assert link.aliases == ["latest", "production-eu", "production-us"]
    found = boss.artifact("my-org/wandb-registry-model/Zoo_Classifier_Models:production-us")
    assert found == link and found.source_version == model
    assert found.open("weights").read() == b"w" * 100
    assert model.aliases == ["latest"]  # the source's aliases are its own

    registry = boss.registry("model")
    registry.protect_alias("production")
    registry.add_member("mia", "member")
    with as_user(path, "mia") as mia:
        theirs = mia.artifact("wandb-registry-model/Zoo_Classifier_Models")
        theirs.aliases.append("production")
        with pytest.raises(artreg.PermissionDenied, match="protected"):
            theirs.save()
        theirs.refresh()
        assert "production" not in theirs.aliases
        theirs.aliases.append("staging")
        theirs.save()
    link.refresh()
    assert link.aliases == ["latest", "production-eu", "production-us", "staging"]
    link.aliases.append("production")
    link.save()  # boss is an admin
    assert boss.artifact("wandb-registry-model/Zoo_Classifier_Models:production") == link


def test_links_have_their_own_index_latest_and_aliases(boss: artreg.Registry) -> None:
    versions = [boss.log_artifact(make("m", type="model", w=str(i)), project="p", aliases=["best"]) for i in range(3)]
    links = [versions[i].link("wandb-registry-model/Zoo") for i in (2, 0)]
    assert [link.version for link in links] == ["v0", "v1"]
    assert boss.artifact("wandb-registry-model/Zoo").source_version == versions[0]  # latest = most recently linked
    assert versions[2].link("wandb-registry-model/Zoo", aliases=["prod"]) == links[0]  # linking again: same link
    assert boss.artifact("wandb-registry-model/Zoo:prod") == links[0]
    assert boss.artifact("p/m:best") == versions[2] and boss.artifact("p/m").aliases == ["best", "latest"]
    links[1].unlink()
    assert boss.artifact("wandb-registry-model/Zoo").source_version == versions[2]
    assert boss.artifact("p/m:v0").state == "committed"  # unlink keeps the source
    assert versions[0].link("wandb-registry-model/Zoo").version == "v2"  # indices are never reused


def test_links_share_description_metadata_and_tags(boss: artreg.Registry) -> None:
    v = boss.log_artifact(make("m", type="model", w="1"), project="p", tags=["base"])
    link = v.link("wandb-registry-model/Zoo")
    assert (link.digest, link.size, link.file_count, link.tags) == (v.digest, v.size, v.file_count, ["base"])
    link.description = "via the registry"
    link.metadata["acc"] = 0.9
    link.tags.append("prod-ready")
    link.save()
    v.refresh()
    assert (v.description, v.metadata, v.tags) == ("via the registry", {"acc": 0.9}, ["base", "prod-ready"])
    assert [e.path for e in link.files()] == ["w"]
    draft = link.new_draft()
    assert draft.name == "m" and sorted(draft.entries) == ["w"]


def test_link_rules(boss: artreg.Registry) -> None:
    model = boss.log_artifact(make("m", type="model", w="1"), project="p")
    data = boss.log_artifact(make("d", x="1"), project="p")
    with pytest.raises(artreg.TypeMismatch, match="does not accept"):
        data.link("wandb-registry-model/Zoo")
    with pytest.raises(artreg.InvalidName, match="link target"):
        model.link("p/Zoo")
    with pytest.raises(artreg.InvalidName, match="link target"):
        model.link("wandb-registry-model/Zoo:v0")
    with pytest.raises(artreg.NotFound, match="no registry"):
        model.link("wandb-registry-nope/Zoo")
    with pytest.raises(artreg.InvalidName):
        model.link("wandb-registry-model/Zoo", aliases=["v0"])
    everything = boss.create_registry("anything", description="all types")
    assert everything.artifact_types is None
    data.link("wandb-registry-anything/Mixed")
    with pytest.raises(artreg.TypeMismatch, match="holds type"):
        model.link("wandb-registry-anything/Mixed")
    with pytest.raises(artreg.InvalidName, match="names a registry"):
        boss.log_artifact(make("m", type="model", w="2"), project="wandb-registry-model")
    assert [c.name for c in boss.registry("anything").collections()] == ["Mixed"]
    assert [c.name for c in boss.collections()] == ["d", "m"]  # registry collections are listed per registry


def test_linking_clears_the_sources_ttl_and_linked_versions_refuse_one(boss: artreg.Registry) -> None:
    art = make("m", type="model", w="1")
    art.ttl = timedelta(days=1)
    v = boss.log_artifact(art, project="p")
    link = v.link("wandb-registry-model/Zoo")
    v.refresh()
    assert v.ttl is None and v.expires_at is None
    v.ttl = timedelta(days=2)
    with pytest.raises(artreg.PermissionDenied, match="cannot have a TTL"):
        v.save()
    link.ttl = timedelta(days=2)
    with pytest.raises(artreg.PermissionDenied, match="cannot have a TTL"):
        link.save()


def test_deleting_sources_and_links(boss: artreg.Registry) -> None:
    v0 = boss.log_artifact(make("m", type="model", w="0"), project="p")
    v1 = boss.log_artifact(make("m", type="model", w="1"), project="p")
    link0 = v0.link("wandb-registry-model/Zoo", aliases=["production"])
    link1 = v1.link("wandb-registry-model/Zoo")
    link1.delete()  # on a link, delete only unlinks
    assert boss.artifact("p/m:v1").state == "committed"
    boss.registry("model").protect_alias("production")
    with pytest.raises(artreg.PermissionDenied, match="protected"):
        v0.delete(delete_aliases=True)
    with pytest.raises(artreg.PermissionDenied, match="protected"):
        boss.collection("p/m").delete()
    assert boss.artifact("wandb-registry-model/Zoo:production") == link0
    link0.aliases.remove("production")
    link0.save()
    v0.delete(delete_aliases=True)  # its links go with it
    with pytest.raises(artreg.NotFound):
        boss.artifact("wandb-registry-model/Zoo:v0")
    assert boss.registry("model").collection("Zoo").versions() == []  # link1 was unlinked, link0 went with v0


def test_registry_administration(boss: artreg.Registry) -> None:
    zoo = boss.create_registry("zoo", artifact_types=["model"], visibility="restricted")
    assert (zoo.visibility, zoo.default_role, zoo.members()) == ("restricted", "member", {"boss": "admin"})
    with pytest.raises(artreg.AlreadyExists):
        boss.create_registry("zoo")
    with pytest.raises(artreg.InvalidName):
        boss.create_registry("bad/name")
    with pytest.raises(artreg.InvalidName):
        boss.create_registry("x", visibility="public")
    with pytest.raises(artreg.InvalidName):
        boss.create_registry("y", artifact_types="model")
    zoo.add_artifact_types("dataset")
    assert zoo.artifact_types == ["dataset", "model"]
    zoo.add_member("ann", "viewer")
    zoo.update_member("ann", "member")
    assert zoo.members() == {"ann": "member", "boss": "admin"}
    with pytest.raises(artreg.NotFound):
        zoo.update_member("nobody", "viewer")
    with pytest.raises(artreg.InvalidName):
        zoo.add_member("ann", "owner")
    zoo.remove_member("ann")
    with pytest.raises(artreg.NotFound):
        zoo.remove_member("ann")
    zoo.set_visibility("organization")
    zoo.set_default_role("viewer")
    assert (zoo.visibility, zoo.default_role) == ("organization", "viewer")
    assert zoo.role("someone") == "viewer" and zoo.role() == "admin"
    v = boss.log_artifact(make("m", type="model", w="1"), project="p")
    v.link("wandb-registry-zoo/Best", aliases=["production"])
    zoo.rename("menagerie")
    assert boss.artifact("wandb-registry-menagerie/Best:production").source_version == v
    with pytest.raises(artreg.NotFound):
        boss.artifact("wandb-registry-zoo/Best")
    zoo.protect_alias("production")
    with pytest.raises(artreg.PermissionDenied, match="protected"):
        zoo.delete()
    zoo.unprotect_alias("production")
    with pytest.raises(artreg.NotFound):
        zoo.unprotect_alias("production")
    zoo.delete()
    assert [r.name for r in boss.registries()] == ["dataset", "model"]
    assert boss.artifact("p/m") == v


# -- every role against every action ------------------------------------------------------


def _setup(path: str) -> None:
    with artreg.open(path, user="boss", inline_limit=16) as reg:
        zoo = reg.create_registry("zoo", visibility="restricted")
        for role in ROLES[1:]:
            zoo.add_member(role, role)
        zoo.protect_alias("production")
        v0 = reg.log_artifact(make("m", type="model", w="0"), project="p")
        reg.log_artifact(make("m", type="model", w="1"), project="p")
        v0.link("wandb-registry-zoo/Zoo", aliases=["production", "staging"])
        reg.artifact("p/m:v1").link("wandb-registry-zoo/Zoo")


def _edit_aliases(reg: artreg.Registry, ref: str, add: str | None = None, remove: str | None = None) -> None:
    v = reg.artifact(ref)
    if add:
        v.aliases.append(add)
    if remove:
        v.aliases.remove(remove)
    v.save()


def _edit_description(reg: artreg.Registry) -> None:
    v = reg.artifact("wandb-registry-zoo/Zoo:v1")
    v.description = "changed"
    v.save()


ACTIONS: dict[str, tuple[str, Callable[[artreg.Registry], object]]] = {
    "resolve": ("restricted_viewer", lambda r: r.artifact("wandb-registry-zoo/Zoo:staging")),
    "list files": ("restricted_viewer", lambda r: list(r.artifact("wandb-registry-zoo/Zoo").files())),
    "open": ("viewer", lambda r: r.artifact("wandb-registry-zoo/Zoo").open("w").read()),
    "download": ("viewer", lambda r: r.artifact("wandb-registry-zoo/Zoo").download("out")),
    # SPEC §23: a draft of a link holds its bytes; logged anywhere, they could be downloaded.
    "new draft": ("viewer", lambda r: r.log_artifact(r.artifact("wandb-registry-zoo/Zoo").new_draft(), project="x").download("out")),
    "link": ("member", lambda r: r.artifact("p/m:v1").link("wandb-registry-zoo/Other")),
    "unlink": ("member", lambda r: r.artifact("wandb-registry-zoo/Zoo:v1").unlink()),
    "edit": ("member", _edit_description),
    "add alias": ("member", lambda r: _edit_aliases(r, "wandb-registry-zoo/Zoo:v1", add="candidate")),
    "remove alias": ("member", lambda r: _edit_aliases(r, "wandb-registry-zoo/Zoo:v0", remove="staging")),
    "add protected alias": ("admin", lambda r: _edit_aliases(r, "wandb-registry-zoo/Zoo:v1", add="production")),
    "remove protected alias": ("admin", lambda r: _edit_aliases(r, "wandb-registry-zoo/Zoo:v0", remove="production")),
    "unlink protected": ("admin", lambda r: r.artifact("wandb-registry-zoo/Zoo:v0").unlink()),
    "delete collection": ("admin", lambda r: r.registry("zoo").collection("Zoo").delete()),
    "protect alias": ("admin", lambda r: r.registry("zoo").protect_alias("gold")),
    "add member": ("admin", lambda r: r.registry("zoo").add_member("newbie", "viewer")),
    "change visibility": ("admin", lambda r: r.registry("zoo").set_visibility("organization")),
    "add types": ("admin", lambda r: r.registry("zoo").add_artifact_types("report")),
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("action", list(ACTIONS))
def test_role_against_action(path: str, role: str, action: str) -> None:
    _setup(path)
    needed, attempt = ACTIONS[action]
    allowed = role != "none" and ROLES.index(role) >= ROLES.index(needed)
    with as_user(path, role) as reg:
        before = reg.audit.head()
        if allowed:
            attempt(reg)
        else:
            with pytest.raises(artreg.PermissionDenied):
                attempt(reg)
            assert reg.audit.head() == before  # a refused action changes nothing
        assert reg.audit.verify() >= before[0]


def test_organization_visibility_gives_everyone_the_default_role(path: str) -> None:
    _setup(path)
    with as_user(path, "boss") as reg:
        reg.registry("zoo").set_visibility("organization")
        reg.registry("zoo").set_default_role("viewer")
    with as_user(path, "passer-by") as reg:
        assert reg.artifact("wandb-registry-zoo/Zoo").open("w").read() == b"1"
        with pytest.raises(artreg.PermissionDenied, match="viewer"):
            reg.artifact("p/m:v1").link("wandb-registry-zoo/Zoo2")
    with as_user(path, "boss") as reg:
        reg.registry("zoo").set_visibility("restricted")
    with as_user(path, "passer-by") as reg:
        assert [r.name for r in reg.registries()] == ["dataset", "model"]
        with pytest.raises(artreg.PermissionDenied, match="not a member"):
            reg.registry("zoo")


# -- audit ------------------------------------------------------------------------------


def test_alias_history(path: str, boss: artreg.Registry) -> None:
    v0 = boss.log_artifact(make("m", type="model", w="0"), project="p")
    v1 = boss.log_artifact(make("m", type="model", w="1"), project="p")
    link0 = v0.link("wandb-registry-model/Zoo", aliases=["production"])
    v1.link("wandb-registry-model/Zoo", aliases=["production"])
    with as_user(path, "eve") as eve:
        link = eve.artifact("wandb-registry-model/Zoo:production")
        link.aliases.remove("production")
        link.save()
    history = boss.registry("model").collection("Zoo").alias_history("production")
    assert [(h.action, h.before, h.after, h.user) for h in history] == [
        ("alias_added", None, "v0", "boss"),
        ("alias_moved", "v0", "v1", "boss"),
        ("alias_removed", "v1", None, "eve"),
    ]
    assert [h.after for h in boss.collection("p/m").alias_history("latest")] == ["v0", "v1"]
    assert link0.collection.alias_history("nothing") == []


def test_every_change_is_audited(boss: artreg.Registry) -> None:
    v = boss.log_artifact(make("m", type="model", w="0"), project="p", tags=["t"])
    v.description = "d"
    v.save()
    v.link("wandb-registry-model/Zoo")
    boss.registry("model").add_member("ann", "viewer")
    boss.registry("model").protect_alias("production")
    boss.artifact("wandb-registry-model/Zoo").unlink()
    v.delete(delete_aliases=True)
    actions = [e.action for e in boss.audit.entries()]
    for expected in ("version_logged", "alias_added", "tags_changed", "version_edited", "version_linked", "member_added",
                     "alias_protected", "version_unlinked", "alias_removed", "version_deleted"):
        assert expected in actions, expected
    assert all(e.user == "boss" for e in boss.audit)
    assert boss.audit.verify() == len(actions)


@pytest.mark.parametrize(
    ("tamper", "match"),
    [
        ("UPDATE audit SET user = 'mallory' WHERE id = 2", "entry 2 .* altered"),
        ("DELETE FROM audit WHERE id = 2", "entry 2 is missing"),
        ("DELETE FROM audit WHERE id = (SELECT max(id) FROM audit)", "chain ends"),
        ("UPDATE audit SET detail = '{}' WHERE id = 1", "entry 1 .* altered"),
    ],
)
def test_audit_tampering_is_detected(path: str, tamper: str, match: str) -> None:
    with artreg.open(path, user="boss") as reg:
        reg.log_artifact(make("m", type="model", w="0"), project="p", aliases=["a"])
        assert reg.audit.verify() >= 3
    with artreg.open(path, user="boss") as reg, reg._db.write() as con:  # past the API, as anyone with the file or the server could
        con.execute(tamper)
    with artreg.open(path, user="boss") as reg, pytest.raises(artreg.IntegrityError, match=match):
        reg.audit.verify()
