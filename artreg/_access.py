"""Registry roles (SPEC §7): who may see, download, link, edit and administer a registry.

Roles, weakest first: ``restricted_viewer`` (metadata only), ``viewer`` (and download),
``member`` (link, unlink, edit, non-protected aliases, create collections), ``admin``
(protected aliases, accepted types, members, visibility). Org admins (the user who created
the file, and whoever they add) are admins of every registry. With visibility
``organization`` every user has at least the registry's default role; ``restricted``
gives non-members nothing.

This is access control among cooperating users of one file, not a security boundary.
"""

from __future__ import annotations

import apsw

from ._errors import InvalidName, PermissionDenied

ROLES = ("restricted_viewer", "viewer", "member", "admin")
VISIBILITIES = ("organization", "restricted")

ROLE_SQL = """
SELECT r.name, r.visibility, r.default_role, m.role, EXISTS (SELECT 1 FROM org_admins WHERE user = :user)
FROM registries AS r LEFT JOIN registry_members AS m ON m.registry_id = r.id AND m.user = :user
WHERE r.id = :registry
"""


def check_role(role: object) -> str:
    if role not in ROLES:
        raise InvalidName(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    return str(role)


def check_visibility(visibility: object) -> str:
    if visibility not in VISIBILITIES:
        raise InvalidName(f"visibility must be one of {', '.join(VISIBILITIES)}, not {visibility!r}")
    return str(visibility)


def role_of(con: apsw.Connection, registry_id: int, user: str) -> str | None:
    """The user's effective role in a registry, or None (no access)."""
    row = con.execute(ROLE_SQL, {"registry": registry_id, "user": user}).fetchone()
    if row is None:
        return None
    _, visibility, default_role, member_role, org_admin = row
    if org_admin:
        return "admin"
    if member_role is not None:
        return str(member_role)
    return str(default_role) if visibility == "organization" else None


def at_least(role: str | None, minimum: str) -> bool:
    return role is not None and ROLES.index(role) >= ROLES.index(minimum)


def require(con: apsw.Connection, registry_id: int, user: str, minimum: str, action: str) -> str:
    """The user's role, or PermissionDenied naming the action and the role it needs."""
    role = role_of(con, registry_id, user)
    if not at_least(role, minimum):
        name = con.execute("SELECT name FROM registries WHERE id = ?", (registry_id,)).fetchone()
        held = f"a {role}" if role else "not a member"
        raise PermissionDenied(
            f"{user!r} is {held} of registry {name[0] if name else registry_id!r}; {action} needs {minimum} or above"
        )
    return role  # type: ignore[return-value]


def is_org_admin(con: apsw.Connection, user: str) -> bool:
    return con.execute("SELECT 1 FROM org_admins WHERE user = ?", (user,)).fetchone() is not None


def is_protected(con: apsw.Connection, registry_id: int | None, alias: str) -> bool:
    if registry_id is None:
        return False
    return con.execute("SELECT 1 FROM protected_aliases WHERE registry_id = ? AND alias = ?", (registry_id, alias)).fetchone() is not None
