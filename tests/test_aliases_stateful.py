"""SPEC §6 invariants 1-5, §7 links and §8 deletion and retention, driven against the real registry by a Hypothesis state machine.

The machine logs content into one or two collections of one project, edits aliases every
way the API allows, deletes versions (with and without their aliases) and whole
collections, and sets the project's retention count. A small model (per collection: every
version ever created, in index order, each live or deleted, and alias -> index) predicts
each outcome; after every step the registry must agree with it:

1. an alias is held by at most one version of a collection, and only by a live one;
2. ``latest`` is the live version with the highest index (the most recently logged among
   those not deleted; it moves back when that version is deleted, and is gone when none is left);
3. ``vN`` always names the version it named when it was created, until that version is
   deleted, then nothing; indices only grow: a new version gets one past the highest index
   ever assigned in its collection, deleted indices are never reused;
4. adding an alias held elsewhere moves it.

Dedup (SPEC §4) is only against the *current* ``latest``: re-logging its content creates no
version, re-logging an older (or deleted) version's content does. After a deletion
``latest`` may be an older version, and logging content equal to it dedups.

Deletion (SPEC §8): ``v.delete()`` refuses (Conflict, nothing changes) while the
version holds any alias, ``latest`` included; ``delete_aliases=True`` drops them. A deleted
version leaves ``reg.artifacts()`` and ``reg.artifact()``. ``collection.delete()`` deletes
every version; the collection leaves ``reg.collections()`` until something is logged into it
again. Retention: after each log into a collection, of its live versions that hold no alias
(and that no live link points at, see below) only the newest N survive.

Registries (SPEC §7, §6.5): the machine also links live versions into one or two registry
collections (in the core ``dataset`` registry, or in a custom ``zoo`` one), relinks,
edits the links' aliases, unlinks and deletes registry collections. The model keeps, per
registry collection, every link ever made (list position == index) with the source it
was made from, and alias -> index. After every step:

5. a registry collection's aliases are its own: moving ``best`` there never moves the
   source's ``best``, nor another registry collection's, and vice versa (every alias ever
   used anywhere must resolve, in each collection, exactly as that collection's model says);
6. ``latest`` is the most recently linked live link (a new link takes it, relinking a
   linked source does not; unlinking moves it back to the newest live link);
7. link indices are 0..n-1 in linking order and never reused, also after unlink;
8. each live link's ``source_version`` is the version it was made from, its digest is the
   source's, its tags are the source's (shared, SPEC §7), and a source is linked at most
   once per registry collection (linking it again returns the same link);
9. a deleted source has no live links (deleting a version, or its collection, unlinks it).

Retention never takes a version that a live link points at: SPEC §8 keeps aliased
versions and SPEC §7 forbids a TTL on linked ones; the model follows artreg there.
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field

import psycopg
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

import artreg
from strategies import (
    TRICKY_ALIASES,
    artifact_names,
    contents,
    manifest_paths,
    manifests,
    projects,
    reserved_aliases,
    tags,
    user_aliases,
)

TYPE = "dataset"

# Small pools, so that aliases collide and move and contents repeat.
ALIASES = st.one_of(user_aliases(alphabet="ab", max_size=2), st.sampled_from(TRICKY_ALIASES))
ALIAS_LISTS = st.lists(ALIASES, max_size=3)
TAGS = st.lists(tags(alphabet="xy-", max_words=2, max_word_size=2), max_size=2)
FILES = manifests(
    manifest_paths(alphabet="ab", max_segments=2, max_segment_size=2),
    st.one_of(st.sampled_from([b"", b"0", b"1"]), contents(max_size=8)),
    max_size=3,
)
KEEP = st.sampled_from([None, 0, 1, 2, 3])
# Registry collections: in the core `dataset` registry or a custom one; the same name in
# both registries comes up often ("Zoo"), so that independence across registries is tested.
PORTS = st.lists(
    st.tuples(st.sampled_from(["dataset", "zoo"]), st.one_of(st.just("Zoo"), artifact_names(max_size=8))),
    min_size=1,
    max_size=2,
    unique=True,
)


def expected_digest(files: dict[str, bytes]) -> str:
    """The version digest as SPEC §2 defines it, computed independently of artreg."""
    hasher = hashlib.sha256(b"artreg-manifest-v1\n")
    for path in sorted(files):
        hasher.update(f"{path}:{hashlib.sha256(files[path]).hexdigest()}\n".encode())
    return hasher.hexdigest()


def draft(name: str, files: dict[str, bytes]) -> artreg.Artifact:
    art = artreg.Artifact(name, type=TYPE)
    for path, data in files.items():
        with art.new_file(path, mode="wb") as f:
            f.write(data)
    return art


@dataclass
class ModelVersion:
    id: int
    digest: str
    files: dict[str, bytes]
    tags: set[str] = field(default_factory=set)
    live: bool = True


@dataclass
class ModelCollection:
    # Every version ever created; list position == index, deleted ones stay (indices are never reused).
    versions: list[ModelVersion] = field(default_factory=list)
    aliases: dict[str, int] = field(default_factory=dict)  # alias -> index, "latest" included
    deleted: bool = False  # collection.delete() and nothing logged into it since

    @property
    def exists(self) -> bool:
        """Listed by ``reg.collections()``: logged into at least once, and not deleted since."""
        return bool(self.versions) and not self.deleted

    @property
    def live(self) -> list[int]:
        """Indices of the live versions, ascending."""
        return [i for i, v in enumerate(self.versions) if v.live]

    @property
    def latest(self) -> int | None:
        return self.aliases.get("latest")

    def latest_digest(self) -> str | None:
        return None if self.latest is None else self.versions[self.latest].digest

    def held_by(self, index: int) -> set[str]:
        return {a for a, i in self.aliases.items() if i == index}

    def user_aliases(self) -> list[tuple[str, int]]:
        return sorted((a, i) for a, i in self.aliases.items() if a != "latest")

    def soft_delete(self, indices: list[int]) -> None:
        """SPEC §8: the versions leave, their aliases go, ``latest`` moves back to the newest live version."""
        for index in indices:
            self.versions[index].live = False
        self.aliases = {a: i for a, i in self.aliases.items() if i not in indices and a != "latest"}
        if self.live:
            self.aliases["latest"] = self.live[-1]

    def apply_retention(self, keep: int | None, linked: set[int]) -> None:
        """Of the live versions holding no alias and not linked into a registry, only the newest ``keep`` survive."""
        if keep is None:
            return
        free = [i for i in reversed(self.live) if not self.held_by(i) and i not in linked]
        if free[keep:]:
            self.soft_delete(free[keep:])


@dataclass
class ModelLink:
    id: int
    source: tuple[str, int]  # (collection, index) of the version it links
    source_id: int
    digest: str
    live: bool = True


@dataclass
class ModelPortfolio:
    """A registry collection: every link ever made (list position == index) and alias -> index."""

    registry: str
    name: str
    links: list[ModelLink] = field(default_factory=list)
    aliases: dict[str, int] = field(default_factory=dict)  # alias -> index, "latest" included
    deleted: bool = False  # collection.delete() and nothing linked into it since

    @property
    def target(self) -> str:
        return f"wandb-registry-{self.registry}/{self.name}"

    @property
    def exists(self) -> bool:
        return bool(self.links) and not self.deleted

    @property
    def live(self) -> list[int]:
        return [k for k, link in enumerate(self.links) if link.live]

    @property
    def latest(self) -> int | None:
        return self.aliases.get("latest")

    def held_by(self, index: int) -> set[str]:
        return {a for a, k in self.aliases.items() if k == index}

    def user_aliases(self) -> list[tuple[str, int]]:
        return sorted((a, k) for a, k in self.aliases.items() if a != "latest")

    def link_of(self, source: tuple[str, int]) -> int | None:
        """The index of the live link to ``source``, if any."""
        return next((k for k in self.live if self.links[k].source == source), None)

    def unlink(self, indices: list[int]) -> None:
        """The links leave, their aliases go, ``latest`` moves back to the newest live link."""
        for index in indices:
            self.links[index].live = False
        self.aliases = {a: k for a, k in self.aliases.items() if k not in indices and a != "latest"}
        if self.live:
            self.aliases["latest"] = self.live[-1]


class AliasMachine(RuleBasedStateMachine):
    """One registry file, one project with one or two collections, one or two registry collections, against the SPEC §6-§8 model."""

    def __init__(self) -> None:
        super().__init__()
        self.reg = self.open_registry()
        self.project = ""
        self.model: dict[str, ModelCollection] = {}
        self.ports: dict[str, ModelPortfolio] = {}  # link target -> registry collection
        self.seen_aliases: set[str] = set()  # in any collection, registry collections included
        self.keep: int | None = None  # the project's retention count

    def open_registry(self) -> artreg.Registry:
        return artreg.open(":memory:")

    def teardown(self) -> None:
        self.reg.close()

    # -- helpers -----------------------------------------------------------------------

    def ref(self, name: str, selector: str | None = None) -> str:
        base = f"{self.project}/{name}"
        return base if selector is None else f"{base}:{selector}"

    def version(self, name: str, index: int) -> artreg.ArtifactVersion:
        """A freshly loaded version object (so edits start from the stored aliases)."""
        return self.reg.artifact(self.ref(name, f"v{index}"))

    def with_live(self) -> list[str]:
        """Collections with at least one live version (so with ``latest``)."""
        return sorted(n for n, c in self.model.items() if c.live)

    def existing(self) -> list[str]:
        return sorted(n for n, c in self.model.items() if c.exists)

    def pick(self, data: st.DataObject, candidates: list[str]) -> tuple[str, ModelCollection]:
        name = data.draw(st.sampled_from(candidates), label="collection")
        return name, self.model[name]

    def pick_index(self, data: st.DataObject, coll: ModelCollection) -> int:
        """A live index."""
        return data.draw(st.sampled_from(coll.live), label="index")

    def linked(self, name: str) -> set[int]:
        """Indices of the versions of ``name`` that a live link points at."""
        return {link.source[1] for p in self.ports.values() for link in p.links if link.live and link.source[0] == name}

    def unlink_sources(self, name: str, indices: list[int]) -> None:
        """Model: deleting versions unlinks every live link to them (SPEC §7, §8)."""
        for port in self.ports.values():
            gone = [k for k in port.live if port.links[k].source[0] == name and port.links[k].source[1] in indices]
            if gone:
                port.unlink(gone)

    def live_sources(self) -> list[tuple[str, int]]:
        return [(n, i) for n, c in sorted(self.model.items()) for i in c.live]

    def live_links(self) -> list[tuple[str, int]]:
        """(target, index) of every live link."""
        return [(t, k) for t, p in sorted(self.ports.items()) for k in p.live]

    def link_version(self, target: str, index: int) -> artreg.ArtifactVersion:
        """A freshly loaded link object."""
        return self.reg.artifact(f"{target}:v{index}")

    def pick_port(self, data: st.DataObject, candidates: list[str] | None = None) -> ModelPortfolio:
        targets = sorted(self.ports) if candidates is None else candidates
        return self.ports[data.draw(st.sampled_from(targets), label="registry collection")]

    def pick_link(self, data: st.DataObject) -> tuple[ModelPortfolio, int]:
        """A live link; when there is none, a live version is linked first (so that link rules need only a live version)."""
        links = self.live_links()
        if not links:
            source = data.draw(st.sampled_from(self.live_sources()), label="source")
            port = self.pick_port(data)
            self.do_link(port, source, [], "version")
            links = self.live_links()
        target, k = data.draw(st.sampled_from(links), label="link")
        return self.ports[target], k

    def log(
        self,
        name: str,
        files: dict[str, bytes],
        aliases: list[str],
        tag_list: list[str],
        *,
        source: artreg.Artifact | None = None,
    ) -> None:
        """Log ``files`` (or ``source``) and check the outcome the model predicts."""
        coll = self.model[name]
        digest = expected_digest(files)
        dedup = coll.latest_digest() == digest
        known_ids = {v.id for c in self.model.values() for v in c.versions}
        art = source if source is not None else draft(name, files)
        v = self.reg.log_artifact(art, project=self.project, aliases=aliases, tags=tag_list)
        assert v.digest == digest
        if dedup:
            index = coll.latest
            assert index is not None
            assert v.id == coll.versions[index].id, "dedup against latest must return latest"
        else:
            # One past the highest index ever assigned, deleted ones included.
            index = len(coll.versions)
            assert v.id not in known_ids
            coll.versions.append(ModelVersion(v.id, digest, dict(files)))
            coll.aliases["latest"] = index
        coll.deleted = False
        assert v.index == index
        assert v.version == f"v{index}"
        assert v.name == f"{name}:v{index}"
        for alias in aliases:
            coll.aliases[alias] = index
        coll.versions[index].tags.update(tag_list)
        coll.apply_retention(self.keep, self.linked(name))
        self.seen_aliases.update(aliases)
        assert coll.versions[index].live, "the logged version holds latest, so retention keeps it"
        assert v.aliases == sorted(coll.held_by(index))
        assert v.tags == sorted(coll.versions[index].tags)
        assert art.logged_version is not None and art.logged_version.id == v.id

    def save_aliases(self, name: str, index: int, new: list[str]) -> None:
        """Assign ``new`` to version ``index`` and save; model: add/move what is new, drop what is gone."""
        self.assign(self.model[name], self.version(name, index), index, new)

    def assign(self, coll: ModelCollection | ModelPortfolio, v: artreg.ArtifactVersion, index: int, new: list[str]) -> None:
        """``v.aliases = new; v.save()`` on a version or a link; its model ``coll`` follows."""
        v.aliases = new
        v.save()
        held = coll.held_by(index)
        for alias in held - set(new) - {"latest"}:
            del coll.aliases[alias]
        for alias in new:
            if alias != "latest":
                coll.aliases[alias] = index
        self.seen_aliases.update(new)
        assert v.aliases == sorted(coll.held_by(index))

    def delete(
        self,
        name: str,
        v: artreg.ArtifactVersion,
        delete_aliases: bool,
        edit_alias: str | None = None,
        link_to: ModelPortfolio | None = None,
    ) -> None:
        """``v.delete(...)``: refused while ``v`` holds aliases (by the model, now) unless ``delete_aliases``.

        Its live links go with it. With ``edit_alias``, a second object of the version, loaded
        before the deletion, then tries to add that alias (see ``edit_deleted``). With
        ``link_to``, the deleted object is then linked there: refused, nothing linked.
        """
        coll = self.model[name]
        index = v.index
        held = coll.held_by(index)
        other = self.version(name, index)
        links = [self.link_version(t, k) for t, k in self.live_links() if self.ports[t].links[k].source == (name, index)]
        if held and not delete_aliases:
            with pytest.raises(artreg.Conflict):
                v.delete()
            return  # the invariants check that nothing changed
        if delete_aliases:
            v.delete(delete_aliases=True)
        else:
            v.delete()
        coll.soft_delete([index])
        self.unlink_sources(name, [index])
        assert v.aliases == []
        with pytest.raises(artreg.NotFound):
            self.version(name, index)
        if edit_alias is not None:
            self.edit_deleted(other, edit_alias)
            for stale_link in links:  # unlinked with their source
                self.edit_deleted(stale_link, edit_alias)
        if link_to is not None:
            with pytest.raises(artreg.ArtregError):
                v.link(link_to.target, aliases=["a"])
            self.seen_aliases.add("a")

    def edit_deleted(self, stale: artreg.ArtifactVersion, alias: str) -> None:
        """Adding an alias to a deleted version through an object loaded before the deletion.

        A deleted version leaves every lookup (SPEC §8), so the alias must not land on it,
        nor leave the version that holds it. Refusing with an ArtregError is fine, and so
        would be a save that changes nothing; the invariants check the outcome.
        """
        stale.aliases.append(alias)
        with contextlib.suppress(artreg.ArtregError):
            stale.save()
        self.seen_aliases.add(alias)

    # -- rules -------------------------------------------------------------------------

    @initialize(
        project=projects(max_size=12),
        names=st.lists(artifact_names(max_size=8), min_size=1, max_size=2, unique=True),
        files=FILES,
        aliases=ALIAS_LISTS,
        keep=st.sampled_from([None, None, None, 0, 1, 2, 3]),
        ports=PORTS,
        share_name=st.booleans(),
        zoo_types=st.sampled_from([None, ["dataset"], ["model", "dataset"]]),
        link_aliases=st.one_of(st.none(), ALIAS_LISTS),
    )
    def setup(
        self,
        project: str,
        names: list[str],
        files: dict[str, bytes],
        aliases: list[str],
        keep: int | None,
        ports: list[tuple[str, str]],
        share_name: bool,
        zoo_types: list[str] | None,
        link_aliases: list[str] | None,
    ) -> None:
        """Log v0 of the first collection, so every rule has something to act on; a second one starts empty.

        Some runs start with a retention count on the project, so that retention meets long histories.
        The registry collections do not exist until the first link; with ``link_aliases`` v0 is
        linked into the first at once. With ``share_name`` that one has the name of the first
        source collection.
        """
        self.project = project
        self.model = {name: ModelCollection() for name in names}
        if share_name:
            ports = [(ports[0][0], names[0]), *ports[1:]]
        for registry, port_name in ports:
            port = ModelPortfolio(registry, port_name)
            self.ports.setdefault(port.target, port)
        if any(p.registry == "zoo" for p in self.ports.values()):
            self.reg.create_registry("zoo", artifact_types=zoo_types)
        if keep is not None:
            self.reg.set_retention(project, keep)
            self.keep = keep
        self.log(names[0], files, aliases, [])
        if link_aliases is not None:
            self.do_link(next(iter(self.ports.values())), (names[0], 0), link_aliases, "version")

    @rule(data=st.data(), files=FILES, aliases=ALIAS_LISTS, tag_list=TAGS)
    def log_content(
        self, data: st.DataObject, files: dict[str, bytes], aliases: list[str], tag_list: list[str]
    ) -> None:
        """Log any content: a new version, unless it happens to equal latest (dedup)."""
        name, _ = self.pick(data, sorted(self.model))
        self.log(name, files, aliases, tag_list)

    @precondition(lambda self: self.with_live())
    @rule(data=st.data(), aliases=ALIAS_LISTS, tag_list=TAGS, via_new_draft=st.booleans())
    def relog_latest(self, data: st.DataObject, aliases: list[str], tag_list: list[str], via_new_draft: bool) -> None:
        """Content identical to latest (after deletions, possibly an older version): no new version."""
        name, coll = self.pick(data, self.with_live())
        assert coll.latest is not None
        before = len(coll.versions)
        files = coll.versions[coll.latest].files
        source = self.version(name, coll.latest).new_draft() if via_new_draft else None
        self.log(name, files, aliases, tag_list, source=source)
        assert len(coll.versions) == before

    @precondition(lambda self: any(
        v.digest != c.latest_digest() for c in self.model.values() for v in c.versions
    ))
    @rule(data=st.data(), aliases=ALIAS_LISTS, tag_list=TAGS, via_new_draft=st.booleans())
    def relog_older(self, data: st.DataObject, aliases: list[str], tag_list: list[str], via_new_draft: bool) -> None:
        """Content identical to a version other than latest (live or deleted): a new version at a new index."""
        candidates = [
            (n, i) for n, c in sorted(self.model.items()) for i, v in enumerate(c.versions)
            if v.digest != c.latest_digest()
        ]
        name, index = data.draw(st.sampled_from(candidates), label="older version")
        coll = self.model[name]
        before = len(coll.versions)
        live = coll.versions[index].live
        source = self.version(name, index).new_draft() if via_new_draft and live else None
        self.log(name, coll.versions[index].files, aliases, tag_list, source=source)
        assert len(coll.versions) == before + 1

    @precondition(lambda self: self.with_live())
    @rule(data=st.data(), alias=ALIASES)
    def add_alias(self, data: st.DataObject, alias: str) -> None:
        """``v.aliases.append(a); v.save()``: moves ``a`` here if another version holds it."""
        name, coll = self.pick(data, self.with_live())
        index = self.pick_index(data, coll)
        v = self.version(name, index)
        v.aliases.append(alias)
        v.save()
        coll.aliases[alias] = index
        self.seen_aliases.add(alias)
        assert v.aliases == sorted(coll.held_by(index))

    @precondition(lambda self: any(c.user_aliases() for c in self.model.values()))
    @rule(data=st.data(), by_assignment=st.booleans())
    def move_alias(self, data: st.DataObject, by_assignment: bool) -> None:
        """Take an alias held in a collection and add it to another version of that collection."""
        name, coll = self.pick(data, sorted(n for n, c in self.model.items() if c.user_aliases()))
        alias, holder = data.draw(st.sampled_from(coll.user_aliases()), label="held alias")
        target = self.pick_index(data, coll)
        if by_assignment:
            self.save_aliases(name, target, [*self.version(name, target).aliases, alias])
        else:
            v = self.version(name, target)
            v.aliases.append(alias)
            v.save()
            coll.aliases[alias] = target
        assert self.reg.artifact(self.ref(name, alias)).index == target
        if holder != target:
            assert alias not in self.version(name, holder).aliases

    @precondition(lambda self: any(c.user_aliases() for c in self.model.values()))
    @rule(data=st.data())
    def remove_alias(self, data: st.DataObject) -> None:
        """``v.aliases.remove(a); v.save()`` frees the alias (and does not trigger retention)."""
        name, coll = self.pick(data, sorted(n for n, c in self.model.items() if c.user_aliases()))
        alias, holder = data.draw(st.sampled_from(coll.user_aliases()), label="held alias")
        v = self.version(name, holder)
        v.aliases.remove(alias)
        v.save()
        del coll.aliases[alias]
        assert alias not in v.aliases
        with pytest.raises(artreg.NotFound):
            self.reg.artifact(self.ref(name, alias))

    @precondition(lambda self: any(c.user_aliases() and len(c.live) > 1 for c in self.model.values()))
    @rule(data=st.data(), remove=st.booleans())
    def stale_edit_keeps_a_moved_alias(self, data: st.DataObject, remove: bool) -> None:
        """A version object loaded before its alias moved away does not pull the alias back, nor delete it elsewhere.

        ``save()`` writes only what changed since the object was loaded: removing the alias
        from the stale object, or saving an unrelated edit, leaves it with its new holder.
        """
        movable = sorted(n for n, c in self.model.items() if c.user_aliases() and len(c.live) > 1)
        name, coll = self.pick(data, movable)
        alias, holder = data.draw(st.sampled_from(coll.user_aliases()), label="held alias")
        target = data.draw(st.sampled_from([i for i in coll.live if i != holder]), label="target")
        stale = self.version(name, holder)
        fresh = self.version(name, target)
        fresh.aliases.append(alias)
        fresh.save()
        coll.aliases[alias] = target
        if remove:
            stale.aliases.remove(alias)
        else:
            stale.tags.append("stale-edit")
            coll.versions[holder].tags.add("stale-edit")
        stale.save()
        assert alias not in stale.aliases
        assert self.reg.artifact(self.ref(name, alias)).index == target

    @precondition(lambda self: self.with_live())
    @rule(data=st.data())
    def remove_latest_changes_nothing(self, data: st.DataObject) -> None:
        """Leaving ``latest`` out of the list and saving changes nothing (SPEC §5)."""
        name, coll = self.pick(data, self.with_live())
        assert coll.latest is not None
        v = self.version(name, coll.latest)
        v.aliases.remove("latest")
        v.save()
        assert "latest" in v.aliases

    @precondition(lambda self: self.with_live())
    @rule(data=st.data(), new=ALIAS_LISTS, keep_latest=st.booleans())
    def assign_aliases(self, data: st.DataObject, new: list[str], keep_latest: bool) -> None:
        """``v.aliases = [...]; v.save()``: what is new is added (moved), what is gone is dropped."""
        name, coll = self.pick(data, self.with_live())
        index = self.pick_index(data, coll)
        if keep_latest and index == coll.latest:
            new = [*new, "latest"]
        self.save_aliases(name, index, new)

    @precondition(lambda self: self.with_live())
    @rule(
        data=st.data(),
        reserved=st.one_of(st.sampled_from(["latest", "v3"]), reserved_aliases()),
        also=st.one_of(st.none(), ALIASES),
        how=st.sampled_from(["append", "assign", "log"]),
        files=FILES,
    )
    def reserved_alias_refused(
        self, data: st.DataObject, reserved: str, also: str | None, how: str, files: dict[str, bytes]
    ) -> None:
        """Adding ``latest`` or ``vN`` by an edit, or ``vN`` to a log, raises InvalidName and changes nothing.

        A valid alias added in the same call is not applied either, and refused content is not logged.
        (``latest`` among a log's aliases is accepted, as in W&B: SPEC §15.2.)
        """
        name, coll = self.pick(data, self.with_live())
        assert coll.latest is not None
        index = self.pick_index(data, coll)
        if reserved == "latest":
            how = "append" if how == "log" else how
            if index == coll.latest:
                # Keeping `latest` on the version that already holds it is not adding it.
                index = next((i for i in coll.live if i != coll.latest), coll.latest)
                if index == coll.latest:
                    return
        extra = [] if also is None else [also]
        v = self.version(name, index)
        with pytest.raises(artreg.InvalidName):
            if how == "log":
                self.reg.log_artifact(draft(name, files), project=self.project, aliases=[*extra, reserved])
            else:
                if how == "append":
                    v.aliases.extend([*extra, reserved])
                else:
                    v.aliases = [*v.aliases, *extra, reserved]
                v.save()
        v.refresh()
        assert v.aliases == sorted(coll.held_by(index))

    # -- deletion and retention (SPEC §8) ------------------------------------------------

    @precondition(lambda self: self.with_live())
    @rule(
        data=st.data(),
        delete_aliases=st.booleans(),
        which=st.sampled_from(["any", "alias-free", "latest", "linked"]),
        relog=st.booleans(),
        tag_list=TAGS,
        edit_alias=st.one_of(st.none(), ALIASES),
        link_after=st.booleans(),
    )
    def delete_version(
        self,
        data: st.DataObject,
        delete_aliases: bool,
        which: str,
        relog: bool,
        tag_list: list[str],
        edit_alias: str | None,
        link_after: bool,
    ) -> None:
        """``v.delete()`` refuses while ``v`` holds an alias (``latest`` too); ``delete_aliases=True`` drops them.

        Deleting ``latest``'s holder moves ``latest`` back to the newest live version, or
        removes it when none is left. With ``relog``, the content of whatever is ``latest``
        afterwards (an older version, when the newest was deleted) is logged again: it dedups.
        A ``linked`` version's links go with it; with ``link_after``, linking the deleted
        version object afterwards is refused.
        """
        name, coll = self.pick(data, self.with_live())
        free = [i for i in coll.live if not coll.held_by(i)]
        linked = sorted(self.linked(name))
        if which == "latest" and coll.latest is not None:
            index = coll.latest
        elif which == "alias-free" and free:
            index = data.draw(st.sampled_from(free), label="alias-free index")
        elif which == "linked" and linked:
            index = data.draw(st.sampled_from(linked), label="linked index")
        else:
            index = self.pick_index(data, coll)
        link_to = self.pick_port(data) if link_after else None
        self.delete(name, self.version(name, index), delete_aliases, edit_alias, link_to)
        if relog and coll.latest is not None:
            before = len(coll.versions)
            self.log(name, coll.versions[coll.latest].files, [], tag_list)
            assert len(coll.versions) == before, "dedup is against the current latest"

    @precondition(lambda self: self.with_live())
    @rule(data=st.data(), files=FILES, aliases=ALIAS_LISTS, delete_aliases=st.booleans())
    def delete_after_latest_moved(
        self, data: st.DataObject, files: dict[str, bytes], aliases: list[str], delete_aliases: bool
    ) -> None:
        """A version object loaded while it held ``latest``, deleted after a log: what it holds *now* decides."""
        name, coll = self.pick(data, self.with_live())
        assert coll.latest is not None
        index = coll.latest
        stale = self.version(name, index)
        self.log(name, files, aliases, [])
        if coll.versions[index].live:  # retention may have taken it
            self.delete(name, stale, delete_aliases)

    @precondition(lambda self: self.existing())
    @rule(data=st.data(), via_version=st.booleans(), edit_alias=st.one_of(st.none(), ALIASES))
    def delete_collection(self, data: st.DataObject, via_version: bool, edit_alias: str | None) -> None:
        """``collection.delete()``: every version deleted, every alias gone, the collection unlisted."""
        name, coll = self.pick(data, self.existing())
        stale = self.version(name, self.pick_index(data, coll)) if coll.live else None
        collection = stale.collection if via_version and stale is not None else self.reg.collection(self.ref(name))
        collection.delete()
        self.unlink_sources(name, coll.live)
        coll.soft_delete(coll.live)
        coll.deleted = True
        assert coll.aliases == {}
        assert collection.aliases == []
        assert collection.versions() == []
        if stale is not None and edit_alias is not None:
            self.edit_deleted(stale, edit_alias)

    @rule(keep=KEEP)
    def set_retention(self, keep: int | None) -> None:
        """``reg.set_retention(project, keep=N)``: from the next log into a collection on, its alias-free versions beyond the newest N go.

        SPEC §8 does not say whether the policy also applies at once; either is accepted,
        collection by collection, and the model follows what happened.
        """
        self.reg.set_retention(self.project, keep)
        self.keep = keep
        for name in self.with_live():
            coll = self.model[name]
            listed = [v.index for v in reversed(self.reg.artifacts(self.project, name))]
            if listed != coll.live:
                coll.apply_retention(keep, self.linked(name))
                assert listed == coll.live, "set_retention deleted other versions than retention would"

    # -- registries and links (SPEC §7, §6.5) ---------------------------------------------

    def do_link(
        self, port: ModelPortfolio, source: tuple[str, int], aliases: list[str], via: str, *, org: bool = False
    ) -> artreg.ArtifactVersion:
        """Link ``source`` into ``port`` (via the version, a run, or a live link to it) and check what the model predicts.

        With ``org`` the target carries an organisation prefix (SPEC §3: accepted, one file is one org).

        A source already linked there: the same link comes back, ``latest`` stays where it is,
        the aliases are applied. Otherwise a new link at one past the highest index ever
        assigned in the registry collection, which takes ``latest``.
        """
        name, index = source
        model_source = self.model[name].versions[index]
        v = self.version(name, index)
        existing = port.link_of(source)
        known_ids = {m.id for c in self.model.values() for m in c.versions} | {
            m.id for p in self.ports.values() for m in p.links
        }
        via_link = [self.link_version(t, k) for t, k in self.live_links() if self.ports[t].links[k].source == source]
        target = f"my-org/{port.target}" if org else port.target
        if via == "run":
            with self.reg.init(project=self.project, job_type="link") as run:
                link = run.link_artifact(v, target, aliases=aliases)
        elif via == "link" and via_link:
            link = via_link[0].link(target, aliases=aliases)  # linking a link links its source
        else:
            link = v.link(target, aliases=aliases)
        if existing is not None:
            k = existing
            assert link.id == port.links[k].id, "linking a linked version again must return its live link"
        else:
            k = len(port.links)
            assert link.id not in known_ids
            port.links.append(ModelLink(link.id, source, model_source.id, model_source.digest))
            port.aliases["latest"] = k
        port.deleted = False
        for alias in aliases:
            port.aliases[alias] = k
        self.seen_aliases.update(aliases)
        assert link.is_link
        assert (link.index, link.version, link.name) == (k, f"v{k}", f"{port.name}:v{k}")
        assert link.project == f"wandb-registry-{port.registry}"
        linked_from = link.source_version
        assert linked_from is not None and linked_from.id == model_source.id
        assert link.digest == linked_from.digest == model_source.digest
        assert link.aliases == sorted(port.held_by(k))
        after = self.version(name, index)
        assert after.aliases == sorted(self.model[name].held_by(index)), "linking must not touch the source's aliases"
        assert after.ttl is None, "linking clears the source's TTL (SPEC §7)"
        return link

    @precondition(lambda self: self.with_live())
    @rule(data=st.data(), aliases=ALIAS_LISTS, via=st.sampled_from(["version", "version", "run", "link"]), org=st.booleans())
    def link(self, data: st.DataObject, aliases: list[str], via: str, org: bool) -> None:
        """``v.link(target, aliases=)`` (or ``run.link_artifact``, or ``link.link``) of any live version."""
        source = data.draw(st.sampled_from(self.live_sources()), label="source")
        self.do_link(self.pick_port(data), source, aliases, via, org=org)

    @precondition(lambda self: self.with_live())
    @rule(data=st.data(), aliases=ALIAS_LISTS, via=st.sampled_from(["version", "run", "link"]))
    def relink(self, data: st.DataObject, aliases: list[str], via: str) -> None:
        """Linking an already linked version again: the same link, no new index, ``latest`` unmoved, aliases applied."""
        port, k = self.pick_link(data)
        before = (len(port.links), port.latest)
        link = self.do_link(port, port.links[k].source, aliases, via)
        assert link.index == k
        assert (len(port.links), port.latest) == before

    @precondition(lambda self: self.with_live())
    @rule(data=st.data(), alias=ALIASES)
    def link_add_alias(self, data: st.DataObject, alias: str) -> None:
        """``link.aliases.append(a); link.save()``: moves ``a`` within the registry collection only."""
        port, k = self.pick_link(data)
        target = port.target
        link = self.link_version(target, k)
        moved = port.aliases.get(alias) != k
        link.aliases.append(alias)
        link.save()
        port.aliases[alias] = k
        self.seen_aliases.add(alias)
        assert link.aliases == sorted(port.held_by(k))
        assert self.reg.artifact(f"{target}:{alias}").id == link.id
        if moved:  # §6.6: the change is in the registry collection's alias history
            assert link.collection.alias_history(alias)[-1].after == f"v{k}"

    @precondition(lambda self: any(p.user_aliases() for p in self.ports.values()))
    @rule(data=st.data(), by_assignment=st.booleans())
    def link_move_alias(self, data: st.DataObject, by_assignment: bool) -> None:
        """An alias held by a link, added to another (or the same) link of its registry collection."""
        port = self.pick_port(data, sorted(t for t, p in self.ports.items() if p.user_aliases()))
        alias, holder = data.draw(st.sampled_from(port.user_aliases()), label="held alias")
        k = data.draw(st.sampled_from(port.live), label="target link")
        link = self.link_version(port.target, k)
        if by_assignment:
            self.assign(port, link, k, [*link.aliases, alias])
        else:
            link.aliases.append(alias)
            link.save()
            port.aliases[alias] = k
        assert self.reg.artifact(f"{port.target}:{alias}").index == k
        if holder != k:
            assert alias not in self.link_version(port.target, holder).aliases

    @precondition(lambda self: any(p.user_aliases() for p in self.ports.values()))
    @rule(data=st.data())
    def link_remove_alias(self, data: st.DataObject) -> None:
        """``link.aliases.remove(a); link.save()`` frees ``a`` in the registry collection, and nowhere else."""
        port = self.pick_port(data, sorted(t for t, p in self.ports.items() if p.user_aliases()))
        alias, holder = data.draw(st.sampled_from(port.user_aliases()), label="held alias")
        link = self.link_version(port.target, holder)
        link.aliases.remove(alias)
        link.save()
        del port.aliases[alias]
        assert alias not in link.aliases
        with pytest.raises(artreg.NotFound):
            self.reg.artifact(f"{port.target}:{alias}")

    @precondition(lambda self: self.with_live())
    @rule(data=st.data(), new=ALIAS_LISTS, keep_latest=st.booleans())
    def link_assign_aliases(self, data: st.DataObject, new: list[str], keep_latest: bool) -> None:
        """``link.aliases = [...]; link.save()``; leaving ``latest`` out changes nothing about it."""
        port, k = self.pick_link(data)
        target = port.target
        if keep_latest and k == port.latest:
            new = [*new, "latest"]
        self.assign(port, self.link_version(target, k), k, new)

    @precondition(lambda self: self.with_live())
    @rule(
        data=st.data(),
        reserved=st.one_of(st.sampled_from(["latest", "v0"]), reserved_aliases()),
        also=st.one_of(st.none(), ALIASES),
        how=st.sampled_from(["append", "assign", "link"]),
    )
    def link_reserved_alias_refused(self, data: st.DataObject, reserved: str, also: str | None, how: str) -> None:
        """Adding ``latest`` or ``vN`` to a link by an edit, or ``vN`` by linking, raises InvalidName and changes nothing.

        (``latest`` among a link's aliases is accepted, as in W&B: SPEC §15.2.)
        """
        port, k = self.pick_link(data)
        target = port.target
        if reserved == "latest":
            if k == port.latest:
                return  # keeping `latest` on its holder is not adding it
            how = "append" if how == "link" else how
        extra = [] if also is None else [also]
        link = self.link_version(target, k)
        with pytest.raises(artreg.InvalidName):
            if how == "link":
                self.version(*port.links[k].source).link(target, aliases=[*extra, reserved])
            else:
                if how == "append":
                    link.aliases.extend([*extra, reserved])
                else:
                    link.aliases = [*link.aliases, *extra, reserved]
                link.save()
        link.refresh()
        assert link.aliases == sorted(port.held_by(k))

    @precondition(lambda self: self.with_live())
    @rule(data=st.data(), tag=tags(alphabet="xy-", max_words=2, max_word_size=2), remove=st.booleans())
    def link_edit_tags(self, data: st.DataObject, tag: str, remove: bool) -> None:
        """Tags are shared with the source (SPEC §7): editing them on a link edits the source's."""
        port, k = self.pick_link(data)
        target = port.target
        name, index = port.links[k].source
        model_tags = self.model[name].versions[index].tags
        link = self.link_version(target, k)
        if remove and tag in link.tags:
            link.tags.remove(tag)
            model_tags.discard(tag)
        else:
            link.tags.append(tag)
            model_tags.add(tag)
        link.save()
        assert link.tags == sorted(model_tags)
        assert self.version(name, index).tags == sorted(model_tags)

    @precondition(lambda self: self.with_live())
    @rule(
        data=st.data(),
        how=st.sampled_from(["unlink", "delete", "delete_aliases"]),
        relink=st.booleans(),
        edit_alias=st.one_of(st.none(), ALIASES),
    )
    def unlink(self, data: st.DataObject, how: str, relink: bool, edit_alias: str | None) -> None:
        """``link.unlink()`` (or ``link.delete()``, which on a link only unlinks): the link goes, its source stays.

        Its aliases go, ``latest`` moves back to the newest live link. With ``relink`` the
        source is linked again at once: a new link, at a new index (indices are never reused).
        """
        port, k = self.pick_link(data)
        target = port.target
        link = self.link_version(target, k)
        stale = self.link_version(target, k)
        if how == "unlink":
            link.unlink()
        else:
            link.delete(delete_aliases=how == "delete_aliases")
        port.unlink([k])
        assert link.aliases == []
        with pytest.raises(artreg.NotFound):
            self.link_version(target, k)
        source = port.links[k].source
        assert self.version(*source).id == port.links[k].source_id, "unlinking keeps the source"
        if edit_alias is not None:
            self.edit_deleted(stale, edit_alias)
        if relink:
            again = self.do_link(port, source, [], "version")
            assert again.index == len(port.links) - 1 > k

    @precondition(lambda self: any(p.exists for p in self.ports.values()))
    @rule(data=st.data(), via_link=st.booleans(), edit_alias=st.one_of(st.none(), ALIASES))
    def delete_registry_collection(self, data: st.DataObject, via_link: bool, edit_alias: str | None) -> None:
        """``collection.delete()`` on a registry collection unlinks every link; the sources stay; the next link makes it again."""
        port = self.pick_port(data, sorted(t for t, p in self.ports.items() if p.exists))
        stale = self.link_version(port.target, port.live[-1]) if port.live else None
        by_name = self.reg.registry(port.registry).collection(port.name)
        collection = stale.collection if via_link and stale is not None else by_name
        collection.delete()
        port.unlink(port.live)
        port.deleted = True
        assert port.aliases == {}
        assert collection.aliases == []
        assert collection.versions() == []
        if stale is not None and edit_alias is not None:
            self.edit_deleted(stale, edit_alias)

    # -- invariants --------------------------------------------------------------------

    @invariant()
    def registry_matches_model(self) -> None:
        if not self.project:
            return
        listed_collections = sorted(c.name for c in self.reg.collections(self.project))
        assert listed_collections == self.existing()
        for name, coll in self.model.items():
            live = coll.live
            n = len(coll.versions)
            assert all(0 <= i < n for i in live)
            if not coll.exists:
                # Never logged into, or deleted with collection.delete() and not logged into since.
                assert not live and not coll.aliases
                with pytest.raises(artreg.NotFound):
                    self.reg.artifacts(self.project, name)
                with pytest.raises(artreg.NotFound):
                    self.reg.collection(self.ref(name))
            else:
                listed = self.reg.artifacts(self.project, name)
                # Newest first: exactly the live versions, each the version created with that index.
                assert [v.index for v in listed] == live[::-1]
                assert [(v.id, v.digest) for v in listed] == [(coll.versions[i].id, coll.versions[i].digest) for i in live[::-1]]
                # §6.1: each alias on at most one version, a live one; and exactly where the model says.
                holders: dict[str, int] = {}
                for v in listed:
                    assert v.aliases == sorted(coll.held_by(v.index)), v.name
                    assert v.tags == sorted(coll.versions[v.index].tags), v.name
                    for alias in v.aliases:
                        assert alias not in holders, f"{alias!r} held by v{holders[alias]} and v{v.index}"
                        holders[alias] = v.index
                assert holders == coll.aliases
                assert self.reg.collection(self.ref(name)).aliases == sorted(coll.aliases)
            # §6.2 (as amended by deletion): latest is the live version with the highest index, or none.
            assert coll.latest == (live[-1] if live else None)
            if live:
                assert self.reg.artifact(self.ref(name)).index == live[-1]
            else:
                with pytest.raises(artreg.NotFound):
                    self.reg.artifact(self.ref(name))
            # §6.3: vN names the same version while it lives, nothing once deleted; the next index does not exist yet.
            for index, m in enumerate(coll.versions):
                if m.live:
                    v = self.reg.artifact(self.ref(name, f"v{index}"))
                    assert (v.id, v.digest, v.index) == (m.id, m.digest, index)
                else:
                    with pytest.raises(artreg.NotFound):
                        self.reg.artifact(self.ref(name, f"v{index}"))
            with pytest.raises(artreg.NotFound):
                self.reg.artifact(self.ref(name, f"v{n}"))
            # Every alias resolves to its holder; every alias ever used and now free resolves to nothing.
            for alias, index in coll.aliases.items():
                assert self.reg.artifact(self.ref(name, alias)).id == coll.versions[index].id, alias
            for alias in sorted(self.seen_aliases - set(coll.aliases)):
                with pytest.raises(artreg.NotFound):
                    self.reg.artifact(self.ref(name, alias))


    @invariant()
    def registry_collections_match_model(self) -> None:
        if not self.project:
            return
        for registry in sorted({p.registry for p in self.ports.values()}):
            listed = sorted(c.name for c in self.reg.registry(registry).collections())
            assert listed == sorted(p.name for p in self.ports.values() if p.registry == registry and p.exists)
        # Registry collections are listed per registry, never among a project's collections.
        assert [(c.project, c.name) for c in self.reg.collections()] == [(self.project, n) for n in self.existing()]
        for target, port in self.ports.items():
            live = port.live
            n = len(port.links)
            # §9: every live link's source is a live version (a deleted source has no live links).
            for k in live:
                name, index = port.links[k].source
                source = self.model[name].versions[index]
                assert source.live, f"{target}:v{k} outlived its source {name}:v{index}"
                assert (port.links[k].source_id, port.links[k].digest) == (source.id, source.digest)
            # A source is linked at most once per registry collection.
            assert len({port.links[k].source for k in live}) == len(live)
            if not port.exists:
                assert not live and not port.aliases
                with pytest.raises(artreg.NotFound):
                    self.reg.registry(port.registry).collection(port.name)
            else:
                collection = self.reg.registry(port.registry).collection(port.name)
                links = collection.versions()
                assert [link.index for link in links] == live[::-1]
                holders: dict[str, int] = {}
                for link in links:
                    m = port.links[link.index]
                    name, index = m.source
                    assert link.is_link and (link.id, link.digest) == (m.id, m.digest), link.name
                    linked_from = link.source_version
                    assert linked_from is not None
                    assert (linked_from.id, linked_from.digest, linked_from.state) == (m.source_id, m.digest, "committed")
                    assert link.aliases == sorted(port.held_by(link.index)), link.name
                    assert link.tags == sorted(self.model[name].versions[index].tags), link.name
                    for alias in link.aliases:
                        assert alias not in holders, f"{alias!r} held by {target}:v{holders[alias]} and :v{link.index}"
                        holders[alias] = link.index
                assert holders == port.aliases
                assert collection.aliases == sorted(port.aliases)
            # latest: the most recently linked live link (new links get ever higher indices), or none.
            assert port.latest == (live[-1] if live else None)
            if live:
                assert self.reg.artifact(target).index == live[-1]
            else:
                with pytest.raises(artreg.NotFound):
                    self.reg.artifact(target)
            # vK names the link made K-th while it lives, nothing once unlinked; indices are never reused.
            for k, m in enumerate(port.links):
                if m.live:
                    assert self.link_version(target, k).id == m.id
                else:
                    with pytest.raises(artreg.NotFound):
                        self.link_version(target, k)
            with pytest.raises(artreg.NotFound):
                self.link_version(target, n)
            # §6.5: every alias ever used anywhere resolves here exactly as this collection's model says.
            for alias, k in port.aliases.items():
                assert self.reg.artifact(f"{target}:{alias}").id == port.links[k].id, alias
            for alias in sorted(self.seen_aliases - set(port.aliases)):
                with pytest.raises(artreg.NotFound):
                    self.reg.artifact(f"{target}:{alias}")


class DiskAliasMachine(AliasMachine):
    """The same rules on a folder registry with ``inline_limit=0``: every non-empty blob is a file."""

    def open_registry(self) -> artreg.Registry:
        self.tmpdir = tempfile.mkdtemp(prefix="artreg-stateful-")
        return artreg.open(self.tmpdir, inline_limit=0)

    def teardown(self) -> None:
        try:
            super().teardown()
        finally:
            shutil.rmtree(self.tmpdir)


class PgAliasMachine(AliasMachine):
    """The same rules on a catalog in PostgreSQL (SPEC §18), each example in a schema of its own.

    ``database`` is set by the ``_pg_database`` fixture: one database of the test session's
    cluster, a fresh schema (and blob folder) per example.
    """

    database = ""

    def open_registry(self) -> artreg.Registry:
        assert self.database, "the _pg_database fixture sets the database"
        self.schema = f"example_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.database, autocommit=True) as con:
            con.execute(f"CREATE SCHEMA {self.schema}")
        self.tmpdir = tempfile.mkdtemp(prefix="artreg-stateful-pg-")
        return artreg.open(f"{self.database}?options=-csearch_path%3D{self.schema}", blobs=self.tmpdir, inline_limit=0)

    def teardown(self) -> None:
        try:
            super().teardown()
            with psycopg.connect(self.database, autocommit=True) as con:
                con.execute(f"DROP SCHEMA {self.schema} CASCADE")
        finally:
            shutil.rmtree(self.tmpdir)


@pytest.fixture(autouse=True)
def _pg_database(request: pytest.FixtureRequest) -> None:
    if request.cls is TestAliasesOnPostgres:
        PgAliasMachine.database = request.getfixturevalue("pg_url")


AliasMachine.TestCase.settings = settings(
    max_examples=55, stateful_step_count=30, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
DiskAliasMachine.TestCase.settings = settings(
    max_examples=25, stateful_step_count=20, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

PgAliasMachine.TestCase.settings = settings(
    max_examples=10, stateful_step_count=20, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

TestAliases = AliasMachine.TestCase
TestAliasesOnDisk = DiskAliasMachine.TestCase
TestAliasesOnPostgres = PgAliasMachine.TestCase
TestAliasesOnPostgres.pytestmark = [pytest.mark.slow]
# Together over two minutes on two cores: in CI, not in `pytest -m "not slow"`.
TestAliases.pytestmark = [pytest.mark.slow]
TestAliasesOnDisk.pytestmark = [pytest.mark.slow]


@pytest.mark.parametrize("alias", ["v\u0661", "v\u00b2", "v\uff11"])
def test_alias_with_non_ascii_digits_resolves_to_its_holder(alias: str) -> None:
    """``v`` + a non-ASCII digit is either refused as reserved, or an ordinary alias that resolves to its holder.

    SPEC §3 reserves ``v<digits>``; whichever way artreg reads "digits", a selector must never
    name one version when the alias it spells is held by another (§6.1, §6.3).
    """
    with artreg.open(":memory:") as reg:
        for data in (b"0", b"1", b"2"):
            reg.log_artifact(draft("ds", {"f": data}), project="p")
        v0 = reg.artifact("p/ds:v0")
        v0.aliases.append(alias)
        try:
            v0.save()
        except artreg.InvalidName:
            return  # refused as reserved: consistent
        assert reg.artifact(f"p/ds:{alias}").id == v0.id
