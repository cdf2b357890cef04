"""Registries inside a registry file (W&B's "registries"): catalogues of linked versions.

A registry named ``model`` is backed by the project ``wandb-registry-model``; its
collections are collections of that project whose versions are links. ``Catalog`` is the
handle (``reg.registry(name)``); ``link_version`` makes links.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Literal, NamedTuple

import apsw

from ._access import check_role, check_visibility, is_protected, require, role_of
from ._aliases import set_alias
from ._audit import record
from ._clock import parse_time
from ._errors import AlreadyExists, InvalidName, NotFound, PermissionDenied
from ._handle import Handle
from ._links import add_link, check_accepts, keep_source, live_link
from ._names import REGISTRY_PROJECT_PREFIX, as_list, check_alias, check_project, check_type, check_user, given_aliases, parse_ref
from ._projects import ensure_collection, ensure_project
from ._rows import select_list
from ._suggest import no_registry
from ._versions import PROTECTED_HELD, ArtifactVersion, Collection, find_collection

if TYPE_CHECKING:
    from ._registry import Registry



class RegistryRow(NamedTuple):
    """What a registry object shows (``SELECT_REGISTRY``), besides its accepted types."""

    id: int
    name: str
    description: str | None
    all_types: int
    visibility: str
    default_role: str
    created_at: str
    created_by: str


SELECT_REGISTRY = "SELECT " + select_list(RegistryRow, {
    "id": "id", "name": "name", "description": "description", "all_types": "all_types", "visibility": "visibility",
    "default_role": "default_role", "created_at": "created_at", "created_by": "created_by",
}) + " FROM registries WHERE id = ?"
LIVE_VERSIONS = "SELECT id FROM versions WHERE collection_id = ? AND state = 'committed'"
# The columns a registry's admin edits: (read the old value, write the new one).
UPDATE_REGISTRY = {
    "description": ("SELECT description FROM registries WHERE id = ?", "UPDATE registries SET description = ? WHERE id = ?"),
    "visibility": ("SELECT visibility FROM registries WHERE id = ?", "UPDATE registries SET visibility = ? WHERE id = ?"),
    "default_role": ("SELECT default_role FROM registries WHERE id = ?", "UPDATE registries SET default_role = ? WHERE id = ?"),
}
DELETE_REGISTRY_ROWS = (
    "DELETE FROM registry_types WHERE registry_id = ?",
    "DELETE FROM registry_members WHERE registry_id = ?",
    "DELETE FROM protected_aliases WHERE registry_id = ?",
)


def create_registry(
    reg: Registry,
    name: str,
    *,
    artifact_types: Sequence[str] | None,
    description: str | None,
    visibility: str,
) -> Catalog:
    """A new registry; its creator becomes an admin of it."""
    name = check_registry_name(name)
    types = None if artifact_types is None else [check_type(t) for t in as_list("artifact_types", artifact_types)]
    visibility = check_visibility(visibility)
    with reg._ctx.write() as tx:
        con, who = tx.con, tx.actor
        if con.execute("SELECT 1 FROM registries WHERE name = ? COLLATE NOCASE", (name,)).fetchone():
            raise AlreadyExists(f"a registry named {name!r} already exists (registry names ignore case)")
        project_id = ensure_project(con, REGISTRY_PROJECT_PREFIX + name, who.at)
        registry_id = con.execute(
            "INSERT INTO registries(name, project_id, description, all_types, visibility, created_at, created_by) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (name, project_id, description, int(types is None), visibility, who.at, who.user),
        ).fetchone()[0]  # type: ignore[index]
        con.executemany("INSERT INTO registry_types(registry_id, type) VALUES (?, ?)", ((registry_id, t) for t in types or ()))
        con.execute("INSERT INTO registry_members(registry_id, user, role) VALUES (?, ?, 'admin')", (registry_id, who.user))
        record(tx, "registry_created", registry_id=registry_id, name=name, types=types, visibility=visibility)
    return Catalog(reg, registry_id)


def check_registry_name(name: object) -> str:
    """A new registry's name: a project name that does not itself start with ``wandb-registry-``."""
    value = check_project(name, kind="registry name")
    if value.startswith(REGISTRY_PROJECT_PREFIX):
        bare = value[len(REGISTRY_PROJECT_PREFIX):]
        raise InvalidName(
            f"registry name {value!r} may not start with {REGISTRY_PROJECT_PREFIX!r}: references add that prefix themselves "
            f"(a registry named {bare!r} is reached as '{REGISTRY_PROJECT_PREFIX}{bare}/<collection>')"
        )
    return value


def find_registry(reg: Registry, name: str) -> Catalog:
    with reg._db.read() as con:
        row = con.execute(
            "SELECT id FROM registries WHERE name = ? COLLATE NOCASE", (check_project(name, kind="registry name"),)
        ).fetchone()
        if row is None:
            raise no_registry(con, reg.user, name)
    return Catalog(reg, row[0])


def list_registries(reg: Registry) -> list[Catalog]:
    """The registries the user can see, by name."""
    with reg._db.read() as con:
        ids = [r[0] for r in con.execute("SELECT id FROM registries ORDER BY name")]
        visible = [i for i in ids if role_of(con, i, reg.user) is not None]
    return [Catalog(reg, i) for i in visible]


class Catalog(Handle):
    """One registry: its collections of links, accepted types, members and protected aliases."""

    def __init__(self, reg: Registry, registry_id: int) -> None:
        self._reg = reg
        self.id = registry_id
        self.refresh()

    def refresh(self) -> None:
        """Reload from the database."""
        with self._reg._db.read() as con:
            found = con.execute(SELECT_REGISTRY, (self.id,)).fetchone()
            if found is None:
                raise NotFound(f"registry {self.id} no longer exists")
            row = RegistryRow._make(found)
            require(con, self.id, self._reg.user, "restricted_viewer", f"reading registry {row.name!r}")
            types = [r[0] for r in con.execute("SELECT type FROM registry_types WHERE registry_id = ? ORDER BY type", (self.id,))]
        self.name: str = row.name
        self.description: str | None = row.description
        self.artifact_types: list[str] | None = None if row.all_types else types
        self.visibility: str = row.visibility
        self.default_role: str = row.default_role
        self.created_at: datetime = parse_time(row.created_at)
        self.created_by: str = row.created_by

    _kind = "registry"

    def _row_id(self) -> int:
        return self.id

    def _label(self) -> str:
        return f"{self.name!r} visibility={self.visibility!r}"

    @property
    def project(self) -> str:
        """``wandb-registry-<name>``: the project part of references into this registry."""
        return REGISTRY_PROJECT_PREFIX + self.name

    def role(self, user: str | None = None) -> str | None:
        """A user's effective role here (default: the acting user); None means no access."""
        with self._reg._db.read() as con:
            return role_of(con, self.id, user or self._reg.user)

    def collections(self) -> list[Collection]:
        """This registry's collections, by name."""
        return self._reg.collections(self.project)

    def collection(self, name: str) -> Collection:
        return find_collection(self._reg, self.project, name)

    # -- administration (admins only) --------------------------------------------------

    def _admin(self, con: apsw.Connection, action: str) -> None:
        require(con, self.id, self._reg.user, "admin", f"{action} in registry {self.name!r}")

    def add_artifact_types(self, *types: str) -> None:
        """Accept more types (accepted types are add-only)."""
        checked = [check_type(t) for t in types]
        with self._reg._ctx.write() as tx:
            con = tx.con
            self._admin(con, "changing accepted types")
            con.executemany(
                "INSERT INTO registry_types(registry_id, type) VALUES (?, ?) ON CONFLICT DO NOTHING", ((self.id, t) for t in checked)
            )
            record(tx, "registry_types_added", registry_id=self.id, types=checked)
        self.refresh()

    def set_visibility(self, visibility: str) -> None:
        """``organization`` (everyone has the default role) or ``restricted`` (members only)."""
        self._update("visibility", check_visibility(visibility), "changing visibility")

    def set_default_role(self, role: str) -> None:
        """The role every user of the organisation has here when visibility is ``organization``."""
        self._update("default_role", check_role(role), "changing the default role")

    def set_description(self, description: str | None) -> None:
        self._update("description", description, "changing the description")

    def _update(self, column: Literal["description", "visibility", "default_role"], value: str | None, action: str) -> None:
        with self._reg._ctx.write() as tx:
            con = tx.con
            self._admin(con, action)
            read, write = UPDATE_REGISTRY[column]
            before = con.execute(read, (self.id,)).fetchone()[0]  # type: ignore[index]
            con.execute(write, (value, self.id))
            record(tx, f"registry_{column}_changed", registry_id=self.id, before=before, after=value)
        self.refresh()

    def members(self) -> dict[str, str]:
        """Explicit members and their roles (org admins are admins without being listed)."""
        with self._reg._db.read() as con:
            return dict(con.execute("SELECT user, role FROM registry_members WHERE registry_id = ? ORDER BY user", (self.id,)))

    def add_member(self, user: str, role: str = "member") -> None:
        """Give a user a role here (or change it)."""
        self._set_member(user, check_role(role), "member_added")

    def update_member(self, user: str, role: str) -> None:
        """Change a member's role; NotFound when the user is not a member."""
        if user not in self.members():
            raise NotFound(f"{user!r} is not a member of registry {self.name!r}")
        self._set_member(user, check_role(role), "member_updated")

    def remove_member(self, user: str) -> None:
        with self._reg._ctx.write() as tx:
            con = tx.con
            self._admin(con, "removing members")
            gone = con.execute(
                "DELETE FROM registry_members WHERE registry_id = ? AND user = ? RETURNING role", (self.id, user)
            ).fetchone()
            if gone is None:
                raise NotFound(f"{user!r} is not a member of registry {self.name!r}")
            record(tx, "member_removed", registry_id=self.id, member=user, before=gone[0], after=None)

    def _set_member(self, user: str, role: str, action: str) -> None:
        check_user(user)
        with self._reg._ctx.write() as tx:
            con = tx.con
            self._admin(con, "managing members")
            before = con.execute("SELECT role FROM registry_members WHERE registry_id = ? AND user = ?", (self.id, user)).fetchone()
            con.execute(
                "INSERT INTO registry_members(registry_id, user, role) VALUES (?, ?, ?) "
                "ON CONFLICT(registry_id, user) DO UPDATE SET role = excluded.role",
                (self.id, user, role),
            )
            record(tx, action, registry_id=self.id, member=user, before=before and before[0], after=role)

    def protected_aliases(self) -> list[str]:
        with self._reg._db.read() as con:
            return [r[0] for r in con.execute("SELECT alias FROM protected_aliases WHERE registry_id = ? ORDER BY alias", (self.id,))]

    def protect_alias(self, alias: str) -> None:
        """Only admins may then add or remove ``alias`` here; versions holding it resist unlink and delete."""
        name = check_alias(alias)
        with self._reg._ctx.write() as tx:
            con = tx.con
            self._admin(con, "protecting aliases")
            con.execute("INSERT INTO protected_aliases(registry_id, alias) VALUES (?, ?) ON CONFLICT DO NOTHING", (self.id, name))
            record(tx, "alias_protected", registry_id=self.id, alias=name)

    def unprotect_alias(self, alias: str) -> None:
        name = check_alias(alias)
        with self._reg._ctx.write() as tx:
            con = tx.con
            self._admin(con, "unprotecting aliases")
            # fetchall: a RETURNING cursor left open would block the COMMIT ("statements in progress").
            gone = con.execute("DELETE FROM protected_aliases WHERE registry_id = ? AND alias = ? RETURNING 1", (self.id, name)).fetchall()
            if not gone:
                raise NotFound(f"alias {name!r} is not protected in registry {self.name!r}")
            record(tx, "alias_unprotected", registry_id=self.id, alias=name)

    def rename(self, new_name: str) -> None:
        """Rename the registry (references use the new name from then on)."""
        name = check_registry_name(new_name)
        with self._reg._ctx.write() as tx:
            con = tx.con
            self._admin(con, "renaming the registry")
            if con.execute("SELECT 1 FROM registries WHERE name = ? COLLATE NOCASE AND id != ?", (name, self.id)).fetchone():
                raise AlreadyExists(f"a registry named {name!r} already exists (registry names ignore case)")
            if con.execute("SELECT 1 FROM projects WHERE name = ?", (REGISTRY_PROJECT_PREFIX + name,)).fetchone():
                raise AlreadyExists(f"the project {REGISTRY_PROJECT_PREFIX + name!r} is left from a deleted registry of that name")
            con.execute("UPDATE registries SET name = ? WHERE id = ?", (name, self.id))
            con.execute(
                "UPDATE projects SET name = ? WHERE id = (SELECT project_id FROM registries WHERE id = ?)",
                (REGISTRY_PROJECT_PREFIX + name, self.id),
            )
            record(tx, "registry_renamed", registry_id=self.id, before=self.name, after=name)
        self.refresh()

    def delete(self) -> None:
        """Delete the registry and unlink everything in it; refused while a protected alias is held."""
        from ._lifecycle import soft_delete

        with self._reg._ctx.write() as tx:
            con, who = tx.con, tx.actor
            self._admin(con, "deleting the registry")
            collections = [r[0] for r in con.execute(
                "SELECT c.id FROM collections AS c JOIN registries AS r ON r.project_id = c.project_id WHERE r.id = ?", (self.id,)
            )]
            for collection_id in collections:
                held = [r[0] for r in con.execute(PROTECTED_HELD, (collection_id, self.id))]
                if held:
                    raise PermissionDenied(f"registry {self.name!r} still holds protected aliases ({', '.join(held)})")
            for collection_id in collections:
                live = [r[0] for r in con.execute(LIVE_VERSIONS, (collection_id,))]
                soft_delete(tx, collection_id, live, "version_unlinked")
                con.execute("UPDATE collections SET deleted_at = ? WHERE id = ?", (who.at, collection_id))
            for statement in DELETE_REGISTRY_ROWS:
                con.execute(statement, (self.id,))
            con.execute("DELETE FROM registries WHERE id = ?", (self.id,))
            record(tx, "registry_deleted", registry_id=self.id, name=self.name)


def link_version(version: ArtifactVersion, target: str, aliases: Sequence[str] | None) -> ArtifactVersion:
    """Link a version into ``[org/]wandb-registry-<registry>/<collection>`` (see ``ArtifactVersion.link``)."""
    reg = version._reg
    parsed = parse_ref(target)
    if parsed.registry is None or ":" in target:
        raise InvalidName(f"link target must be [org/]wandb-registry-<registry>/<collection>, not {target!r}")
    alias_list = given_aliases(aliases)
    source_id = version._content_id  # linking a link links its source
    with reg._ctx.write() as tx:
        con, who = tx.con, tx.actor
        row = con.execute(
            "SELECT id, project_id, all_types FROM registries WHERE name = ? COLLATE NOCASE", (parsed.registry,)
        ).fetchone()
        if row is None:
            raise NotFound(f"no registry named {parsed.registry!r}")
        registry_id, project_id, all_types = row
        role = require(con, registry_id, who.user, "member", f"linking into registry {parsed.registry!r}")
        source = con.execute("SELECT state FROM versions WHERE id = ?", (source_id,)).fetchone()
        if source is None or source[0] != "committed":
            raise NotFound(f"{version.qualified_name} has been deleted")
        check_accepts(con, registry_id, parsed.registry, bool(all_types), version.type)
        protected = [a for a in alias_list if is_protected(con, registry_id, a)]
        if protected and role != "admin":
            raise PermissionDenied(f"only registry admins may add protected aliases ({', '.join(protected)})")
        collection_id = ensure_collection(con, project_id, parsed.name, version.type, who.at,
                                          f"registry collection {parsed.registry}/{parsed.name}")
        link_id = live_link(con, collection_id, source_id)
        if link_id is None:
            link_id = add_link(tx, registry_id, collection_id, source_id, created_at=who.at, created_by=who.user)
        for alias in alias_list:
            set_alias(tx, collection_id, alias, link_id)
        keep_source(tx, source_id)
    return ArtifactVersion(reg, link_id)


__all__ = ["Catalog", "create_registry", "find_registry", "link_version", "list_registries"]
