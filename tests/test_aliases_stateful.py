"""SPEC §6 invariants 1-4, driven against the real registry by a Hypothesis state machine.

The machine logs content into one or two collections of one project and edits aliases
every way the API allows. A small model (per collection: the versions in index order and
alias -> index) predicts each outcome; after every step the registry must agree with it:

1. an alias is held by at most one version of a collection;
2. ``latest`` is the most recently logged version;
3. ``vN`` always names the version it named when it was created; indices are 0..n-1;
4. adding an alias held elsewhere moves it.

Dedup (SPEC §4) is only against ``latest``: re-logging ``latest``'s content creates no
version, re-logging an older version's content does.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from dataclasses import dataclass, field

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


@dataclass
class ModelCollection:
    versions: list[ModelVersion] = field(default_factory=list)
    aliases: dict[str, int] = field(default_factory=dict)  # alias -> index, "latest" included

    @property
    def latest(self) -> int:
        return self.aliases["latest"]

    def held_by(self, index: int) -> set[str]:
        return {a for a, i in self.aliases.items() if i == index}

    def user_aliases(self) -> list[tuple[str, int]]:
        return sorted((a, i) for a, i in self.aliases.items() if a != "latest")


class AliasMachine(RuleBasedStateMachine):
    """One registry, one project, one or two collections, against the SPEC §6 model."""

    def __init__(self) -> None:
        super().__init__()
        self.reg = self.open_registry()
        self.project = ""
        self.model: dict[str, ModelCollection] = {}
        self.seen_aliases: set[str] = set()

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

    def logged(self) -> list[str]:
        return sorted(n for n, c in self.model.items() if c.versions)

    def pick(self, data: st.DataObject, candidates: list[str]) -> tuple[str, ModelCollection]:
        name = data.draw(st.sampled_from(candidates), label="collection")
        return name, self.model[name]

    def pick_index(self, data: st.DataObject, coll: ModelCollection) -> int:
        return data.draw(st.integers(0, len(coll.versions) - 1), label="index")

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
        dedup = bool(coll.versions) and coll.versions[coll.latest].digest == digest
        known_ids = {v.id for c in self.model.values() for v in c.versions}
        art = source if source is not None else draft(name, files)
        v = self.reg.log_artifact(art, project=self.project, aliases=aliases, tags=tag_list)
        assert v.digest == digest
        if dedup:
            index = coll.latest
            assert v.id == coll.versions[index].id, "dedup against latest must return latest"
        else:
            index = len(coll.versions)
            assert v.id not in known_ids
            coll.versions.append(ModelVersion(v.id, digest, dict(files)))
            coll.aliases["latest"] = index
        assert v.index == index
        assert v.version == f"v{index}"
        assert v.name == f"{name}:v{index}"
        for alias in aliases:
            coll.aliases[alias] = index
        coll.versions[index].tags.update(tag_list)
        self.seen_aliases.update(aliases)
        assert v.aliases == sorted(coll.held_by(index))
        assert v.tags == sorted(coll.versions[index].tags)
        assert art.logged_version is not None and art.logged_version.id == v.id

    def save_aliases(self, name: str, index: int, new: list[str]) -> None:
        """Assign ``new`` to version ``index`` and save; model: add/move what is new, drop what is gone."""
        coll = self.model[name]
        v = self.version(name, index)
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

    # -- rules -------------------------------------------------------------------------

    @initialize(
        project=projects(max_size=12),
        names=st.lists(artifact_names(max_size=8), min_size=1, max_size=2, unique=True),
        files=FILES,
        aliases=ALIAS_LISTS,
    )
    def setup(self, project: str, names: list[str], files: dict[str, bytes], aliases: list[str]) -> None:
        """Log v0 of the first collection, so every rule has something to act on; a second one starts empty."""
        self.project = project
        self.model = {name: ModelCollection() for name in names}
        self.log(names[0], files, aliases, [])

    @rule(data=st.data(), files=FILES, aliases=ALIAS_LISTS, tag_list=TAGS)
    def log_content(
        self, data: st.DataObject, files: dict[str, bytes], aliases: list[str], tag_list: list[str]
    ) -> None:
        """Log any content: a new version, unless it happens to equal latest (dedup)."""
        name, _ = self.pick(data, sorted(self.model))
        self.log(name, files, aliases, tag_list)

    @precondition(lambda self: self.logged())
    @rule(data=st.data(), aliases=ALIAS_LISTS, tag_list=TAGS, via_new_draft=st.booleans())
    def relog_latest(self, data: st.DataObject, aliases: list[str], tag_list: list[str], via_new_draft: bool) -> None:
        """Content identical to latest: no new version; aliases and tags land on latest."""
        name, coll = self.pick(data, self.logged())
        before = len(coll.versions)
        files = coll.versions[coll.latest].files
        source = self.version(name, coll.latest).new_draft() if via_new_draft else None
        self.log(name, files, aliases, tag_list, source=source)
        assert len(coll.versions) == before

    @precondition(lambda self: any(
        v.digest != c.versions[c.latest].digest for c in self.model.values() if c.versions for v in c.versions
    ))
    @rule(data=st.data(), aliases=ALIAS_LISTS, tag_list=TAGS, via_new_draft=st.booleans())
    def relog_older(self, data: st.DataObject, aliases: list[str], tag_list: list[str], via_new_draft: bool) -> None:
        """Content identical to an older, non-latest version: dedup is only against latest, so a new version."""
        candidates = [
            (n, i) for n in self.logged() for i, v in enumerate(self.model[n].versions)
            if v.digest != self.model[n].versions[self.model[n].latest].digest
        ]
        name, index = data.draw(st.sampled_from(candidates), label="older version")
        coll = self.model[name]
        before = len(coll.versions)
        source = self.version(name, index).new_draft() if via_new_draft else None
        self.log(name, coll.versions[index].files, aliases, tag_list, source=source)
        assert len(coll.versions) == before + 1

    @precondition(lambda self: self.logged())
    @rule(data=st.data(), alias=ALIASES)
    def add_alias(self, data: st.DataObject, alias: str) -> None:
        """``v.aliases.append(a); v.save()``: moves ``a`` here if another version holds it."""
        name, coll = self.pick(data, self.logged())
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
        """``v.aliases.remove(a); v.save()`` frees the alias."""
        name, coll = self.pick(data, sorted(n for n, c in self.model.items() if c.user_aliases()))
        alias, holder = data.draw(st.sampled_from(coll.user_aliases()), label="held alias")
        v = self.version(name, holder)
        v.aliases.remove(alias)
        v.save()
        del coll.aliases[alias]
        assert alias not in v.aliases
        with pytest.raises(artreg.NotFound):
            self.reg.artifact(self.ref(name, alias))

    @precondition(lambda self: any(c.user_aliases() and len(c.versions) > 1 for c in self.model.values()))
    @rule(data=st.data(), remove=st.booleans())
    def stale_edit_keeps_a_moved_alias(self, data: st.DataObject, remove: bool) -> None:
        """A version object loaded before its alias moved away does not pull the alias back, nor delete it elsewhere.

        ``save()`` writes only what changed since the object was loaded: removing the alias
        from the stale object, or saving an unrelated edit, leaves it with its new holder.
        """
        movable = sorted(n for n, c in self.model.items() if c.user_aliases() and len(c.versions) > 1)
        name, coll = self.pick(data, movable)
        alias, holder = data.draw(st.sampled_from(coll.user_aliases()), label="held alias")
        target = data.draw(st.sampled_from([i for i in range(len(coll.versions)) if i != holder]), label="target")
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

    @precondition(lambda self: self.logged())
    @rule(data=st.data())
    def remove_latest_changes_nothing(self, data: st.DataObject) -> None:
        """Leaving ``latest`` out of the list and saving changes nothing (SPEC §5)."""
        name, coll = self.pick(data, self.logged())
        v = self.version(name, coll.latest)
        v.aliases.remove("latest")
        v.save()
        assert "latest" in v.aliases

    @precondition(lambda self: self.logged())
    @rule(data=st.data(), new=ALIAS_LISTS, keep_latest=st.booleans())
    def assign_aliases(self, data: st.DataObject, new: list[str], keep_latest: bool) -> None:
        """``v.aliases = [...]; v.save()``: what is new is added (moved), what is gone is dropped."""
        name, coll = self.pick(data, self.logged())
        index = self.pick_index(data, coll)
        if keep_latest and index == coll.latest:
            new = [*new, "latest"]
        self.save_aliases(name, index, new)

    @precondition(lambda self: self.logged())
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
        """Adding ``latest`` or ``vN`` raises InvalidName and changes nothing.

        A valid alias added in the same call is not applied either, and refused content is not logged.
        """
        name, coll = self.pick(data, self.logged())
        index = self.pick_index(data, coll)
        if reserved == "latest" and index == coll.latest and how != "log":
            # Keeping `latest` on the version that already holds it is not adding it.
            index = next((i for i in range(len(coll.versions)) if i != coll.latest), None)
            if index is None:
                how = "log"
                index = coll.latest
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

    # -- invariants --------------------------------------------------------------------

    @invariant()
    def registry_matches_model(self) -> None:
        if not self.project:
            return
        for name, coll in self.model.items():
            if not coll.versions:
                with pytest.raises(artreg.NotFound):
                    self.reg.artifacts(self.project, name)
                with pytest.raises(artreg.NotFound):
                    self.reg.artifact(self.ref(name))
                continue
            n = len(coll.versions)
            listed = self.reg.artifacts(self.project, name)
            # Newest first, indices exactly 0..n-1, each the version created with that index.
            assert [v.index for v in listed] == list(range(n - 1, -1, -1))
            assert [(v.id, v.digest) for v in listed] == [(m.id, m.digest) for m in reversed(coll.versions)]
            # §6.1: each alias on at most one version; and exactly where the model says.
            holders: dict[str, int] = {}
            for v in listed:
                assert v.aliases == sorted(coll.held_by(v.index)), v.name
                assert v.tags == sorted(coll.versions[v.index].tags), v.name
                for alias in v.aliases:
                    assert alias not in holders, f"{alias!r} held by v{holders[alias]} and v{v.index}"
                    holders[alias] = v.index
            assert holders == coll.aliases
            assert self.reg.collection(self.ref(name)).aliases == sorted(coll.aliases)
            # §6.2: latest is the most recently logged version (nothing is deleted here).
            assert coll.latest == n - 1
            assert self.reg.artifact(self.ref(name)).index == n - 1
            # §6.3: vN names the same version forever; the next index does not exist yet.
            for index, m in enumerate(coll.versions):
                v = self.reg.artifact(self.ref(name, f"v{index}"))
                assert (v.id, v.digest, v.index) == (m.id, m.digest, index)
            with pytest.raises(artreg.NotFound):
                self.reg.artifact(self.ref(name, f"v{n}"))
            # Every alias resolves to its holder; every alias ever used and now free resolves to nothing.
            for alias, index in coll.aliases.items():
                assert self.reg.artifact(self.ref(name, alias)).id == coll.versions[index].id, alias
            for alias in sorted(self.seen_aliases - set(coll.aliases)):
                with pytest.raises(artreg.NotFound):
                    self.reg.artifact(self.ref(name, alias))


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


AliasMachine.TestCase.settings = settings(
    max_examples=75, stateful_step_count=30, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
DiskAliasMachine.TestCase.settings = settings(
    max_examples=25, stateful_step_count=20, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

TestAliases = AliasMachine.TestCase
TestAliasesOnDisk = DiskAliasMachine.TestCase


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
