"""W&B's registries in the public API: ``Registry``, its members, and the ``Registries`` / ``Collections`` searches.

``api.registries(filter=...).collections(filter=...).versions(filter=...)`` chains as in
W&B, each step a paginator. Members are artreg's users (one registry file is one
organisation): ``api.user("alice")`` names one, and ``add_members`` takes users or their
names. Teams do not exist offline: ``team_members()`` is empty and ``api.team()`` raises.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import _catalog
from .._clock import parse_time
from .._errors import InvalidName
from .._filters import Compiler
from .._names import REGISTRY_PROJECT_PREFIX
from ._match import check_filter, matches, stamp
from ._paging import Paginator

if TYPE_CHECKING:
    from ._api import ArtifactCollection
    from ._artifact import Artifact

LAST_CHANGE = "SELECT max(at) FROM audit WHERE registry_id = ?"


@dataclass(frozen=True)
class User:
    """A user of the registry file, as ``api.user(name)`` and ``api.viewer`` give it."""

    username: str

    @property
    def id(self) -> str:
        return self.username

    @property
    def name(self) -> str:
        return self.username

    @property
    def entity(self) -> str:
        return self.username

    @property
    def email(self) -> None:
        return None


@dataclass(frozen=True)
class UserMember:
    """A user's explicit membership of a registry: ``user`` and ``role``."""

    user: User
    role: str


@dataclass(frozen=True)
class TeamMember:
    """W&B's team membership; artreg has no teams, so no registry has one."""

    team: Any
    role: str


def check_version_filter(spec: object) -> None:
    """A version filter is checked when the query is made (the versions are read as they are iterated)."""
    if spec:
        Compiler().condition(spec)


def _username(member: object) -> str:
    if isinstance(member, User):
        return member.username
    if isinstance(member, UserMember):
        return member.user.username
    if isinstance(member, str) and member:
        return member
    raise InvalidName(f"a registry member is a user (api.user(name)), a UserMember or a user name, not {member!r}")


class Registry:
    """A registry as W&B's public API has it: ``name``, ``full_name``, ``description``, ``visibility``, ``artifact_types``,
    ``collections()``, ``versions()``, members; edits are written by ``save()``."""

    def __init__(self, catalog: _catalog.Catalog) -> None:
        self._catalog = catalog
        self.load()

    def __repr__(self) -> str:
        return f"<Registry {self.name}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Registry) and other._catalog == self._catalog

    def __hash__(self) -> int:
        return hash(self._catalog)

    def load(self) -> None:
        """Read the registry again, dropping unsaved edits."""
        self._catalog.refresh()
        catalog = self._catalog
        self._name, self._description, self._visibility = catalog.name, catalog.description, catalog.visibility
        self._types = list(catalog.artifact_types or [])

    @property
    def name(self) -> str:
        """The name without ``wandb-registry-``; assign and ``save()`` to rename."""
        return self._name

    @name.setter
    def name(self, value: str) -> None:
        self._name = value

    @property
    def full_name(self) -> str:
        return REGISTRY_PROJECT_PREFIX + self._catalog.name

    @property
    def id(self) -> str:
        return str(self._catalog.id)

    @property
    def organization(self) -> str:
        return self._catalog._reg.user

    @property
    def entity(self) -> str:
        return self.organization

    @property
    def path(self) -> list[str]:
        return [self.entity, self.full_name]

    @property
    def created_at(self) -> str:
        return self._catalog.created_at.isoformat()

    @property
    def updated_at(self) -> str:
        """When the registry last changed (its newest audit entry), else when it was created."""
        with self._catalog._reg._db.read() as con:
            row = con.execute(LAST_CHANGE, (self._catalog.id,)).fetchone()
        return parse_time(row[0]).isoformat() if row and row[0] else self.created_at

    @property
    def description(self) -> str | None:
        return self._description

    @description.setter
    def description(self, value: str | None) -> None:
        self._description = value

    @property
    def visibility(self) -> str:
        return self._visibility

    @visibility.setter
    def visibility(self, value: str) -> None:
        self._visibility = value

    @property
    def allow_all_artifact_types(self) -> bool:
        return self._catalog.artifact_types is None

    @property
    def artifact_types(self) -> list[str]:
        """Accepted types (empty when every type is accepted); append, then ``save()`` (types are add-only)."""
        return self._types

    def collections(self, filter: dict[str, Any] | None = None, order: str | None = None, per_page: int = 100,
                    start: str | None = None) -> Collections:
        from ._api import ArtifactCollection

        check_filter(filter)

        def found() -> list[ArtifactCollection]:
            return [c for c in map(ArtifactCollection, self._catalog.collections()) if matches(c._doc(), filter)]

        return Collections(found, per_page, start)

    def versions(self, filter: dict[str, Any] | None = None, order: str | None = None, per_page: int = 100,
                 start: str | None = None) -> Paginator[Artifact]:
        from ._artifact import Artifact

        check_version_filter(filter)
        core = self._catalog._reg
        return Paginator.of(lambda: [Artifact._from_version(v) for v in core.versions(filter, registry=self._catalog.name)],
                            per_page, start)

    def save(self) -> None:
        """Write the edits of name, description, visibility and accepted types (each change is refused as a whole if not allowed).

        Types are add-only; adding them to a registry that accepts every type is a ValueError, as in W&B.
        """
        catalog = self._catalog
        added = [t for t in self._types if t not in (catalog.artifact_types or [])]
        if added and catalog.artifact_types is None:
            raise InvalidName(f"Cannot update artifact types when `allows_all_artifact_types` is True (registry {catalog.name!r})")
        removed = [t for t in (catalog.artifact_types or []) if t not in self._types]
        if removed:
            raise InvalidName(f"artifact types cannot be removed from a registry once saved: {', '.join(removed)}")
        if self._description != catalog.description:
            catalog.set_description(self._description)
        if self._visibility != catalog.visibility:
            catalog.set_visibility(self._visibility)
        if added:
            catalog.add_artifact_types(*added)
        if self._name != catalog.name:
            catalog.rename(self._name.removeprefix(REGISTRY_PROJECT_PREFIX))
        self.load()

    def delete(self) -> None:
        self._catalog.delete()

    # -- members -----------------------------------------------------------------------

    def members(self) -> list[UserMember | TeamMember]:
        return [*self.user_members(), *self.team_members()]

    def user_members(self) -> list[UserMember]:
        """The users given a role here explicitly (org admins are admins without being listed)."""
        return [UserMember(User(name), role) for name, role in self._catalog.members().items()]

    def team_members(self) -> list[TeamMember]:
        """Always empty: there are no teams offline."""
        return []

    def add_members(self, *members: User | UserMember | str) -> Registry:
        """Make users members, keeping the role each already has here (a new one gets W&B's default, ``restricted_viewer``)."""
        if not members:
            raise InvalidName("Must provide at least one member to 'add_members'.")
        names = [_username(m) for m in members]
        current = self._catalog.members()
        for name in names:
            if name not in current:
                self._catalog.add_member(name, self._catalog.role(name) or "restricted_viewer")
        return self

    def remove_members(self, *members: User | UserMember | str) -> Registry:
        if not members:
            raise InvalidName("Must provide at least one member to 'remove_members'.")
        for name in [_username(m) for m in members]:
            self._catalog.remove_member(name)
        return self

    def update_member(self, member: User | UserMember | str, role: str) -> Registry:
        """Change a member's role (``admin``, ``member``, ``viewer`` or ``restricted_viewer``)."""
        self._catalog.update_member(_username(member), str(getattr(role, "value", role)))
        return self

    def _doc(self) -> dict[str, Any]:
        c = self._catalog
        return {"name": c.name, "description": c.description, "created_at": stamp(c.created_at), "updated_at": stamp(c.created_at)}


class Registries(Paginator[Registry]):
    """The registries found; ``collections(filter)`` and ``versions(filter)`` search inside them."""

    def __init__(self, items: Any, per_page: int = 100, start: str | None = None) -> None:
        found = Paginator.of(items, per_page, start)
        super().__init__(found._fetch, found._count, per_page, start)

    def collections(self, filter: dict[str, Any] | None = None, per_page: int = 100) -> Collections:
        return Collections(lambda: [c for registry in list(self._all()) for c in registry.collections(filter)], per_page)

    def versions(self, filter: dict[str, Any] | None = None, per_page: int = 100) -> Paginator[Artifact]:
        check_version_filter(filter)
        return Paginator.of(lambda: [v for registry in list(self._all()) for v in registry.versions(filter)], per_page)

    def _all(self) -> Sequence[Registry]:
        return self._fetch(self._offset, self._count())


class Collections(Paginator["ArtifactCollection"]):
    """Collections found; ``versions(filter)`` searches their versions (``tag``, ``alias``, ``created_at``, ``metadata.<key>``)."""

    def __init__(self, items: Any, per_page: int = 100, start: str | None = None) -> None:
        found = Paginator.of(items, per_page, start)
        super().__init__(found._fetch, found._count, per_page, start)

    def versions(self, filter: dict[str, Any] | None = None, per_page: int = 100) -> Paginator[Artifact]:
        from ._artifact import Artifact

        check_version_filter(filter)

        def found() -> list[Artifact]:
            out: list[Artifact] = []
            for collection in self._fetch(self._offset, self._count()):
                core = collection._collection
                spec = {"$and": [filter or {}, {"name": core.name}]}
                project = core.project if collection.is_sequence() else None
                registry = None if project else core.project.removeprefix(REGISTRY_PROJECT_PREFIX)
                out += [Artifact._from_version(v) for v in core._reg.versions(spec, project=project, registry=registry)]
            return out

        return Paginator.of(found, per_page)

