"""Automations (SPEC §11): webhooks and callbacks fired when versions are created, aliased or linked.

An automation watches one *event* in one *scope* (a project, a registry, or one
collection), optionally narrowed by regular expressions that the whole alias and/or the
collection's name must match (``re.fullmatch``):

- ``version_created``: a new version is logged in a project (not in a registry);
- ``alias_added``: an alias is added to, or moved onto, a version or link. ``latest``
  fires only for an alias filter that matches ``latest`` itself, so automations do not
  fire on every log;
- ``version_linked``: a version is linked into a registry (a new link, not a re-link).

A webhook automation is a row in the database; the change that causes an event writes
the webhook call into the ``outbox`` in its own transaction, and ``_webhooks`` delivers it
later. A callback automation exists only in the ``Registry`` object that created it (a
Python function cannot be stored): it runs in that process, after the commit, only for
changes made through that object, and is gone when the object is closed. Its failures
are logged (logger ``artreg``) and never undo the change.

Managing an automation scoped to a registry (or one of its collections) needs the admin
role there.
"""

from __future__ import annotations

import builtins
import functools
import json
import logging
import re
import string
import threading
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

import apsw

from ._access import require, role_of
from ._audit import record
from ._clock import format_time, parse_time
from ._errors import AlreadyExists, InvalidName, NotFound
from ._events import AliasAdded, Event, VersionCreated, VersionLinked, subscribe
from ._names import REGISTRY_PROJECT_PREFIX, check_artifact_name, check_project, dump_json
from ._projects import ensure_project
from ._webhooks import Delivery, RetryPolicy, deliveries

if TYPE_CHECKING:
    from ._context import Transaction
    from ._registry import Registry

log = logging.getLogger("artreg")

EVENTS = (VersionCreated.name, AliasAdded.name, VersionLinked.name)
FILTER_KEYS = ("alias", "collection")
PAYLOAD_FIELDS = ("event", "automation", "registry", "project", "collection", "version", "alias", "source", "user", "time")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

# The registry (if any) each automation's scope lies in.
SCOPE_SQL = """
CASE a.scope_kind
    WHEN 'registry' THEN a.scope_id
    WHEN 'project' THEN (SELECT r.id FROM registries AS r WHERE r.project_id = a.scope_id)
    ELSE (SELECT r.id FROM collections AS c JOIN registries AS r ON r.project_id = c.project_id WHERE c.id = a.scope_id)
END
"""
SCOPE_LABEL_SQL = """
coalesce(CASE a.scope_kind
    WHEN 'registry' THEN (SELECT 'wandb-registry-' || r.name FROM registries AS r WHERE r.id = a.scope_id)
    WHEN 'project' THEN (SELECT p.name FROM projects AS p WHERE p.id = a.scope_id)
    ELSE (SELECT p.name || '/' || c.name FROM collections AS c JOIN projects AS p ON p.id = c.project_id WHERE c.id = a.scope_id)
END, '(deleted)')
"""
SELECT_AUTOMATIONS = f"""
SELECT a.name, a.event, {SCOPE_LABEL_SQL}, a.alias_regex, a.collection_regex, a.url, a.secret_env, a.payload_template,
       a.enabled, a.created_at, a.created_by, {SCOPE_SQL}
FROM automations AS a ORDER BY a.name
"""
SELECT_ONE = f"SELECT a.id, {SCOPE_SQL} FROM automations AS a WHERE a.name = ?"
INSERT_AUTOMATION = """
INSERT INTO automations(name, event, scope_kind, scope_id, alias_regex, collection_regex, url, secret_env, payload_template,
                        created_at, created_by)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""
# Whether any webhook automation watches an event: the cheap test every change makes.
ANY_WATCHING = "SELECT 1 FROM automations WHERE event = ? AND enabled = 1 LIMIT 1"
# The enabled webhook automations watching an event in a collection's scope.
MATCHING = """
SELECT a.id, a.name, a.alias_regex, a.collection_regex, a.url, a.secret_env, a.payload_template
FROM collections AS c JOIN automations AS a ON a.event = :event AND a.enabled = 1 AND (
       (a.scope_kind = 'collection' AND a.scope_id = c.id)
    OR (a.scope_kind = 'project' AND a.scope_id = c.project_id)
    OR (a.scope_kind = 'registry' AND a.scope_id = (SELECT r.id FROM registries AS r WHERE r.project_id = c.project_id)))
WHERE c.id = :collection
ORDER BY a.id
"""
# What a payload says about a version (a link's source included).
FACTS = """
SELECT c.id, c.project_id, r.id, r.name, p.name, c.name, v.idx, sp.name || '/' || sc.name || ':v' || s.idx
FROM versions AS v JOIN collections AS c ON c.id = v.collection_id JOIN projects AS p ON p.id = c.project_id
LEFT JOIN registries AS r ON r.project_id = p.id
LEFT JOIN versions AS s ON s.id = v.source_id LEFT JOIN collections AS sc ON sc.id = s.collection_id
LEFT JOIN projects AS sp ON sp.id = sc.project_id
WHERE v.id = ?
"""
INSERT_OUTBOX = """
INSERT INTO outbox(automation_id, automation, event, url, secret_env, payload, body, created_at, next_attempt_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
"""


# -- actions ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Webhook:
    """An HTTP POST of the event's JSON payload to ``url`` (see ``artreg.webhook``)."""

    url: str
    secret_env: str | None = None
    payload_template: str | None = None


@dataclass(frozen=True)
class AutomationEvent:
    """What happened, as a callback receives it and a webhook's payload says it.

    ``collection`` is ``project/name`` and ``version`` ``project/name:vN`` (for a link, the
    link); ``registry`` is the registry's name when the change happened in one; ``alias``
    is set for ``alias_added``; ``source`` names a link's source version.
    """

    event: str
    automation: str
    registry: str | None
    project: str
    collection: str
    version: str
    alias: str | None
    source: str | None
    user: str
    time: datetime

    def payload(self) -> dict[str, Any]:
        """The JSON object a webhook sends (``time`` as ISO-8601 UTC text)."""
        return {**asdict(self), "time": format_time(self.time)}


@dataclass(frozen=True)
class Callback:
    """A Python function called with an :class:`AutomationEvent` (see ``artreg.callback``)."""

    fn: Callable[[AutomationEvent], object]


def webhook(url: str, secret_env: str | None = None, payload_template: str | None = None) -> Webhook:
    """An automation action: POST the event as JSON to an ``http(s)://`` URL.

    ``secret_env`` names an environment variable read at delivery time (never stored):
    its value goes in the ``X-Artreg-Secret`` header, and an HMAC-SHA256 of the body keyed
    with it in ``X-Artreg-Signature: sha256=<hex>``. ``payload_template`` replaces the
    default body: a ``str.format`` template of a JSON document over the fields
    ``{event} {automation} {registry} {project} {collection} {version} {alias} {source}
    {user} {time}``, each JSON-escaped (so place them inside quotes; a missing value is
    empty). Literal braces are doubled: ``'{{"text": "{alias} is now {version}"}}'``.
    """
    if not isinstance(url, str):
        raise InvalidName(f"webhook url must be a string, not {url!r}")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidName(f"webhook url must be http:// or https:// with a host, not {url!r}")
    if secret_env is not None and (not isinstance(secret_env, str) or not _ENV_NAME.fullmatch(secret_env)):
        raise InvalidName(f"secret_env must name an environment variable ([A-Za-z_][A-Za-z0-9_]*), not {secret_env!r}")
    if payload_template is not None:
        check_template(payload_template)
    return Webhook(url, secret_env, payload_template)


def callback(fn: Callable[[AutomationEvent], object]) -> Callback:
    """An automation action: call ``fn(event)`` in this process after the change commits.

    Not stored in the registry file: it lasts as long as the ``Registry`` object, and fires
    only for changes made through it. Exceptions it raises are logged, never re-raised.
    """
    if not callable(fn):
        raise InvalidName(f"callback takes a callable, not {fn!r}")
    return Callback(fn)


def check_template(template: object) -> str:
    """Refuse a template with unknown fields, or that does not render to JSON."""
    if not isinstance(template, str):
        raise InvalidName(f"payload_template must be a string, not {template!r}")
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise InvalidName(f"payload_template is not a str.format template ({exc}): {template!r}") from exc
    for _, field, spec, conversion in parsed:
        if field is not None and (field not in PAYLOAD_FIELDS or spec or conversion):
            raise InvalidName(
                f"payload_template field {{{field}}} is not one of {', '.join(PAYLOAD_FIELDS)} (without conversions or formats)"
            )
    sample = render(template, {name: "sample value" for name in PAYLOAD_FIELDS})
    try:
        json.loads(sample)
    except ValueError as exc:
        raise InvalidName(f"payload_template does not render to JSON (fields go inside quotes): {template!r}") from exc
    return template


def render(template: str | None, payload: Mapping[str, Any]) -> str:
    """The body to POST: the payload as JSON, or the template filled with JSON-escaped values."""
    if template is None:
        return dump_json(dict(payload))
    escaped = {k: "" if v is None else json.dumps(str(v), ensure_ascii=False)[1:-1] for k, v in payload.items()}
    return template.format(**escaped)


# -- definitions --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Automation:
    """An automation as defined. ``scope`` is ``project``, ``project/collection`` or
    ``wandb-registry-<registry>``; ``filter`` holds the ``alias``/``collection`` patterns."""

    name: str
    event: str
    scope: str
    filter: dict[str, str]
    action: Webhook | Callback
    enabled: bool
    created_at: datetime
    created_by: str


@dataclass(frozen=True)
class _Scope:
    kind: str
    id: int
    registry_id: int | None
    label: str


@dataclass(frozen=True)
class _InProcess:
    """A callback automation, with its scope resolved to ids."""

    automation: Automation
    scope: _Scope


def _check_event(event: object) -> str:
    if event not in EVENTS:
        raise InvalidName(f"unknown automation event {event!r}; events are {', '.join(EVENTS)}")
    return str(event)


def _check_filter(spec: object, event: str) -> dict[str, str]:
    if spec is None:
        return {}
    if not isinstance(spec, Mapping):
        raise InvalidName(f"an automation filter is a dict of {' and/or '.join(FILTER_KEYS)} patterns, not {spec!r}")
    checked: dict[str, str] = {}
    for key, pattern in spec.items():
        if key not in FILTER_KEYS:
            raise InvalidName(f"unknown automation filter key {key!r}; keys are {', '.join(FILTER_KEYS)}")
        if key == "alias" and event != "alias_added":
            raise InvalidName(f"an alias filter applies to alias_added, not {event}")
        if not isinstance(pattern, str):
            raise InvalidName(f"automation filter {key!r} takes a regular expression string, not {pattern!r}")
        try:
            re.compile(pattern)
        except re.error as exc:
            raise InvalidName(f"automation filter {key!r}: {pattern!r} is not a valid pattern ({exc})") from exc
        checked[key] = pattern
    return checked


def _resolve_scope(con: apsw.Connection, scope: object, event: str, now: str) -> _Scope:
    """A scope string as ids: ``project/collection``, ``wandb-registry-<name>``, or a plain name.

    A plain name is the project of that name when there is one, else the registry of that
    name, else a new (empty) project, so automations can be set up before the first log;
    ``wandb-registry-<name>`` always means the registry. A collection must exist.
    """
    if not isinstance(scope, str):
        raise InvalidName(f"scope must be a project, registry or 'project/collection' name, not {scope!r}")
    if "/" in scope:
        project, _, name = scope.rpartition("/")
        project = check_project(project.rpartition("/")[2])
        name = check_artifact_name(name)
        row = con.execute(
            "SELECT c.id, c.deleted_at, r.id FROM collections AS c JOIN projects AS p ON p.id = c.project_id "
            "LEFT JOIN registries AS r ON r.project_id = p.id WHERE p.name = ? AND c.name = ?",
            (project, name),
        ).fetchone()
        if row is None or row[1] is not None:
            raise NotFound(f"no collection {project}/{name} to scope an automation to")
        found = _Scope("collection", row[0], row[2], f"{project}/{name}")
    else:
        name = check_project(scope, kind="scope")
        registry = None
        if name.startswith(REGISTRY_PROJECT_PREFIX):
            registry = check_project(name[len(REGISTRY_PROJECT_PREFIX):], kind="registry name in scope")
        held = None if registry is not None else con.execute("SELECT id FROM projects WHERE name = ?", (name,)).fetchone()
        if held is not None:
            found = _Scope("project", held[0], None, name)
        else:
            row = con.execute("SELECT id, name FROM registries WHERE name = ?", (name if registry is None else registry,)).fetchone()
            if row is not None:
                found = _Scope("registry", row[0], row[0], REGISTRY_PROJECT_PREFIX + row[1])
            elif registry is not None:
                raise NotFound(f"no registry named {registry!r} to scope an automation to")
            else:
                found = _Scope("project", ensure_project(con, name, now), None, name)
    if event == "version_linked" and found.registry_id is None:
        raise InvalidName(f"version_linked happens in registries; scope {scope!r} is not a registry or registry collection")
    if event == "version_created" and found.registry_id is not None:
        raise InvalidName(f"version_created happens in projects (a registry gets version_linked); scope {scope!r} is in a registry")
    return found


def _fires(automation_filter: Mapping[str, str | None], alias: str | None, collection: str) -> bool:
    alias_re, collection_re = automation_filter.get("alias"), automation_filter.get("collection")
    if collection_re is not None and re.fullmatch(collection_re, collection) is None:
        return False
    if alias is None:
        return True
    if alias_re is None:
        return alias != "latest"
    return re.fullmatch(alias_re, alias) is not None


class Automations:
    """``reg.automations``: create, list, enable, disable and delete automations; read deliveries.

    ``retry`` is the RetryPolicy ``reg.deliver()`` and the background deliverer use.
    """

    def __init__(self, reg: Registry) -> None:
        self._reg = reg
        self._lock = threading.Lock()
        self._callbacks: dict[str, _InProcess] = {}
        self.retry = RetryPolicy()
        self.wake: Callable[[], None] | None = None  # set while a background deliverer runs
        reg._ctx.automations = self  # what ``_on_event`` finds on this registry's transactions

    def create(
        self,
        name: str,
        *,
        event: str,
        scope: str,
        filter: Mapping[str, str] | None = None,
        action: Webhook | Callback,
    ) -> Automation:
        """A new automation; AlreadyExists when the name is taken (by a webhook or a callback here).

        ``scope`` is a project, ``project/collection``, or a registry (``model`` or
        ``wandb-registry-model``); ``filter`` may hold ``alias`` (alias_added only) and
        ``collection`` regular expressions, each matched against the whole name.
        """
        name = check_project(name, kind="automation name")
        event = _check_event(event)
        patterns = _check_filter(filter, event)
        if not isinstance(action, (Webhook, Callback)):
            raise InvalidName(f"action must be artreg.webhook(...) or artreg.callback(...), not {action!r}")
        with self._reg._ctx.write() as tx:
            con, who = tx.con, tx.actor
            found = _resolve_scope(con, scope, event, who.at)
            if found.registry_id is not None:
                require(con, found.registry_id, who.user, "admin", f"managing automations of {found.label}")
            taken = con.execute("SELECT 1 FROM automations WHERE name = ?", (name,)).fetchone()
            if taken or name in self._callbacks:
                raise AlreadyExists(f"an automation named {name!r} already exists")
            automation = Automation(name, event, found.label, patterns, action, True, parse_time(who.at), who.user)
            if isinstance(action, Callback):
                with self._lock:
                    self._callbacks[name] = _InProcess(automation, found)
                return automation
            con.execute(INSERT_AUTOMATION, (
                name, event, found.kind, found.id, patterns.get("alias"), patterns.get("collection"),
                action.url, action.secret_env, action.payload_template, who.at, who.user,
            ))
            record(tx, "automation_created", registry_id=found.registry_id, name=name, event=event, scope=found.label,
                   filter=patterns, url=action.url)
        return automation

    def list(self) -> list[Automation]:
        """Every automation the user can see (webhooks from the file, callbacks of this object), by name."""
        with self._reg._db.read() as con:
            rows: list[Any] = con.execute(SELECT_AUTOMATIONS).fetchall()
            visible = [r for r in rows if r[11] is None or role_of(con, r[11], self._reg.user) is not None]
        found = [
            Automation(
                name, event, scope, {k: v for k, v in (("alias", alias_re), ("collection", coll_re)) if v is not None},
                Webhook(url, secret_env, template), bool(enabled), parse_time(created_at), created_by,
            )
            for name, event, scope, alias_re, coll_re, url, secret_env, template, enabled, created_at, created_by, _ in visible
        ]
        with self._lock:
            found += [entry.automation for entry in self._callbacks.values()]
        return sorted(found, key=lambda a: a.name)

    def get(self, name: str) -> Automation:
        """The automation called ``name``; NotFound when there is none."""
        for automation in self.list():
            if automation.name == name:
                return automation
        raise NotFound(f"no automation named {name!r}")

    def enable(self, name: str) -> None:
        """Fire again on new events."""
        self._set(name, "enabled")

    def disable(self, name: str) -> None:
        """Stop firing on new events; events already in the outbox are still delivered."""
        self._set(name, "disabled")

    def delete(self, name: str) -> None:
        """Remove the automation; its undelivered events are cancelled (kept, marked ``cancelled``)."""
        self._set(name, "deleted")

    def _set(self, name: str, change: str) -> None:
        with self._reg._ctx.write() as tx:
            con, who = tx.con, tx.actor
            with self._lock:
                entry = self._callbacks.get(name)
            if entry is not None:
                if entry.scope.registry_id is not None:
                    require(con, entry.scope.registry_id, who.user, "admin", f"managing automations of {entry.scope.label}")
                with self._lock:
                    if change == "deleted":
                        del self._callbacks[name]
                    else:
                        self._callbacks[name] = replace(entry, automation=replace(entry.automation, enabled=change == "enabled"))
                return
            row = con.execute(SELECT_ONE, (name,)).fetchone()
            if row is None:
                raise NotFound(f"no automation named {name!r}")
            automation_id, registry_id = row
            if registry_id is not None:
                require(con, registry_id, who.user, "admin", f"managing automation {name!r}")
            if change == "deleted":
                con.execute(
                    "UPDATE outbox SET state = 'cancelled', finished_at = ? WHERE automation_id = ? AND state = 'pending'",
                    (who.at, automation_id),
                )
                con.execute("DELETE FROM automations WHERE id = ?", (automation_id,))
            else:
                con.execute("UPDATE automations SET enabled = ? WHERE id = ?", (int(change == "enabled"), automation_id))
            record(tx, f"automation_{change}", registry_id=registry_id, name=name)

    def deliveries(self, name: str | None = None, *, state: str | None = None) -> builtins.list[Delivery]:
        """Webhook events in the outbox, oldest first, each with its attempts; ``state`` is
        ``pending``, ``delivered``, ``failed`` (gave up after the retry limit) or ``cancelled``."""
        return deliveries(self._reg._db, self._reg.user, name, state)

    def _matching_callbacks(self, event: str, collection_id: int, project_id: int, registry_id: int | None) -> builtins.list[Automation]:
        with self._lock:
            entries = list(self._callbacks.values())
        ids = {"collection": collection_id, "project": project_id, "registry": registry_id}
        return [
            e.automation for e in entries
            if e.automation.enabled and e.automation.event == event and ids[e.scope.kind] == e.scope.id
        ]


# -- emission (inside the transaction of the change) ------------------------------------------


def _on_event(tx: Transaction, happening: Event) -> None:
    """Queue the webhooks (outbox rows, this transaction) and callbacks (after commit) an event fires."""
    event, collection_id, version_id, alias = happening.name, happening.collection_id, happening.version_id, happening.alias
    con, who = tx.con, tx.actor
    sink = tx.ctx.automations if isinstance(tx.ctx.automations, Automations) else None
    hooks: list[Any] = []
    if con.execute(ANY_WATCHING, (event,)).fetchone() is not None:
        hooks = con.execute(MATCHING, {"event": event, "collection": collection_id}).fetchall()
    if not hooks and (sink is None or not sink._callbacks):
        return
    facts = con.execute(FACTS, (version_id,)).fetchone()
    if facts is None:
        return
    _, project_id, registry_id, registry, project, collection, index, source = facts
    fields = {
        "event": event, "registry": registry, "project": project, "collection": f"{project}/{collection}",
        "version": f"{project}/{collection}:v{index}", "alias": alias, "source": source, "user": who.user,
    }
    queued = 0
    for automation_id, name, alias_re, collection_re, url, secret_env, template in hooks:
        if _fires({"alias": alias_re, "collection": collection_re}, alias, collection):
            payload = {**fields, "automation": name, "time": who.at}
            con.execute(INSERT_OUTBOX, (
                automation_id, name, event, url, secret_env, dump_json(payload), render(template, payload), who.at, who.at,
            ))
            queued += 1
    if sink is None:
        return
    for automation in sink._matching_callbacks(event, collection_id, project_id, registry_id):
        if _fires(automation.filter, alias, collection):
            happened = AutomationEvent(
                event, automation.name, registry, project, f"{project}/{collection}", f"{project}/{collection}:v{index}",
                alias, source, who.user, parse_time(who.at),
            )
            tx.after_commit(functools.partial(_call, automation, happened))
    if queued and sink.wake is not None:
        tx.after_commit(sink.wake)


def _call(automation: Automation, event: AutomationEvent) -> None:
    assert isinstance(automation.action, Callback)
    try:
        automation.action.fn(event)
    except Exception:
        log.exception("callback automation %r failed on %s of %s", automation.name, event.event, event.version)


subscribe(_on_event)
