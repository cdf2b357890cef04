"""Did you mean...? NotFound errors that say what was typed and what is there instead.

Only the error path comes here, so it may look around: the same collection name in other
projects and registries (``uncategorized/zoo_dataset`` when ``zoo/zoo_dataset`` exists),
``zoo:zoo_dataset`` typed for ``zoo/zoo_dataset``, names that differ in case or by a typo
(``Model`` for ``model``), and the aliases and versions a collection does have. Names in
registries the acting user has no role in are never offered.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from typing import Any

import apsw

from ._access import role_of
from ._errors import NotFound
from ._names import LATEST, REGISTRY_PROJECT_PREFIX, Ref, is_reserved_alias, version_index
from ._projects import collection_row

MAX_HINTS = 3
MAX_NAMES = 10_000  # names compared for typos, at most (difflib is quadratic in name length only)
MAX_LISTED = 8  # aliases or versions listed in a message

SAME_NAME = """
SELECT p.name, c.name, r.id FROM collections AS c JOIN projects AS p ON p.id = c.project_id
LEFT JOIN registries AS r ON r.project_id = p.id
WHERE c.name = ? COLLATE NOCASE AND c.deleted_at IS NULL ORDER BY p.name, c.name LIMIT 50
"""
NAMES_IN_PROJECT = """
SELECT c.name FROM collections AS c JOIN projects AS p ON p.id = c.project_id
WHERE p.name = ? AND c.deleted_at IS NULL LIMIT ?
"""
LIVE_COLLECTION = """
SELECT c.id FROM collections AS c JOIN projects AS p ON p.id = c.project_id
WHERE p.name = ? AND c.name = ? AND c.deleted_at IS NULL
"""
REGISTRY_OF_PROJECT = "SELECT id FROM registries WHERE project_id = (SELECT id FROM projects WHERE name = ?)"
ALIASES = "SELECT alias FROM aliases WHERE collection_id = ? ORDER BY alias"
INDICES = "SELECT idx, state FROM versions WHERE collection_id = ? ORDER BY idx"


def no_artifact(con: apsw.Connection, user: str, typed: str, ref: Ref, project: str) -> NotFound:
    """The NotFound for a reference that resolved to nothing (its registry, if any, exists and may be read)."""
    found = collection_row(con, project, ref.name)
    swapped = _swapped(con, user, ref)
    if found is not None and found[2] is None:
        message, hints = _no_selector(con, found[0], f"{project}/{ref.name}", ref.selector)
        return NotFound(f"no artifact {typed}: {message}" + _did_you_mean([*swapped, *hints]))
    note = "" if ref.project else f" ({project!r} is the default project)"
    missing = f"{project}/{ref.name} was deleted" if found is not None else f"there is no collection {project}/{ref.name}{note}"
    suffix = "" if ":" not in typed else f":{ref.selector}"
    hints = [*swapped, *(f"{name}{suffix}" for name in _elsewhere(con, user, ref.name, project))]
    hints += [f"{project}/{name}{suffix}" for name in _close(ref.name, _names_in(con, user, project))]
    return NotFound(f"no artifact {typed}: {missing}" + _did_you_mean(hints))


def no_collection(con: apsw.Connection, user: str, project: str, name: str) -> NotFound:
    """The NotFound for ``reg.collection("project/name")`` that names nothing."""
    hints = [*_elsewhere(con, user, name, project), *(f"{project}/{n}" for n in _close(name, _names_in(con, user, project)))]
    return NotFound(f"no artifact collection {project}/{name}" + _did_you_mean(hints))


def no_registry(con: apsw.Connection, user: str, name: str) -> NotFound:
    """The NotFound for a registry name that names nothing, offering the visible registries like it."""
    visible = [n for i, n in con.execute("SELECT id, name FROM registries ORDER BY name") if role_of(con, i, user) is not None]
    hints = []
    if name.startswith(REGISTRY_PROJECT_PREFIX) and name[len(REGISTRY_PROJECT_PREFIX):] in visible:
        hints.append(name[len(REGISTRY_PROJECT_PREFIX):])  # the prefix belongs in references only
    hints += _close(name, visible)
    return NotFound(f"no registry named {name!r}" + _did_you_mean([repr(h) for h in hints], quote=False))


def _no_selector(con: apsw.Connection, collection_id: int, collection: str, selector: str) -> tuple[str, list[str]]:
    """(what is missing, hints) when the collection exists but its selector names no live version."""
    indices: list[Any] = con.execute(INDICES, (collection_id,)).fetchall()
    live = [f"v{i}" for i, state in indices if state == "committed"]
    index = version_index(selector)
    if index is not None:
        deleted = any(i == index for i, state in indices if state != "committed")
        if deleted:
            return f"{collection}:{selector} was deleted", []
        return f"{collection} has no version {selector!r}" + _listing("its versions", live), []
    if selector == LATEST:
        gone = len(indices)
        why = f" (all {gone} were deleted)" if gone > 1 else " (its one version was deleted)" if gone else ""
        return f"{collection} has no live version{why}", []
    aliases = [r[0] for r in con.execute(ALIASES, (collection_id,))]
    hints = [f"{collection}:{a}" for a in _close(selector, [a for a in aliases if not is_reserved_alias(a)])]
    return f"{collection} has no alias {selector!r}" + _listing("its aliases", aliases), hints


def _swapped(con: apsw.Connection, user: str, ref: Ref) -> list[str]:
    """``zoo/zoo_dataset`` when ``zoo:zoo_dataset`` was typed and that collection exists."""
    if ref.selector == LATEST or is_reserved_alias(ref.selector) or not _visible(con, user, ref.name):
        return []
    found = con.execute(LIVE_COLLECTION, (ref.name, ref.selector)).fetchone()
    return [f"{ref.name}/{ref.selector}"] if found is not None else []


def _elsewhere(con: apsw.Connection, user: str, name: str, project: str) -> list[str]:
    """``project/name`` of live collections with this name (any case) in other projects and visible registries."""
    found = []
    for other, collection, registry_id in con.execute(SAME_NAME, (name,)):
        if (other, collection) == (project, name):
            continue
        if registry_id is None or role_of(con, registry_id, user) is not None:
            found.append(f"{other}/{collection}")
    return found


def _visible(con: apsw.Connection, user: str, project: str) -> bool:
    row = con.execute(REGISTRY_OF_PROJECT, (project,)).fetchone()
    return row is None or role_of(con, row[0], user) is not None


def _names_in(con: apsw.Connection, user: str, project: str) -> list[str]:
    """Live collection names of a project (none of a registry the user cannot see)."""
    if not _visible(con, user, project):
        return []
    return [r[0] for r in con.execute(NAMES_IN_PROJECT, (project, MAX_NAMES))]


def _close(word: str, candidates: Sequence[str]) -> list[str]:
    """Candidates equal to ``word`` but for case, then those difflib finds close, best first."""
    same_case = [c for c in candidates if c.lower() == word.lower() and c != word]
    lowered = {c.lower(): c for c in candidates if c != word}
    close = [lowered[c] for c in difflib.get_close_matches(word.lower(), list(lowered), n=MAX_HINTS, cutoff=0.75)]
    return _unique([*same_case, *close])


def _listing(what: str, items: Sequence[str]) -> str:
    if not items:
        return f" ({what}: none)"
    shown = ", ".join(items[:MAX_LISTED])
    return f" ({what}: {shown}{', ...' if len(items) > MAX_LISTED else ''})"


def _did_you_mean(hints: Iterable[str], *, quote: bool = True) -> str:
    unique = _unique([repr(h) if quote else h for h in hints])[:MAX_HINTS]
    return f"; did you mean {' or '.join(unique)}?" if unique else ""


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))
