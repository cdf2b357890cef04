"""W&B's public API (``wandb.Api()``) over the registry in use: artifacts, collections, types, registries, runs.

Names take W&B's forms: ``[entity/][project/]name[:alias]``; the entity is accepted and
ignores (one registry file is one organisation), the project defaults to
``overrides["project"]``, else ``uncategorized``. What is not there raises W&B's
``CommError`` (here ``ArtifactNotFoundError``, also ``artreg.NotFound``) where W&B's server
would say so.
"""

from __future__ import annotations

import re
from typing import Any

from .. import _catalog, _runs, _versions
from .._errors import InvalidName, NotFound
from .._names import DEFAULT_PROJECT, REGISTRY_PROJECT_PREFIX
from .._projects import canonical_project
from .._registry import Registry as CoreRegistry
from . import _state
from ._artifact import Artifact
from ._run import PublicRun, find_version
from .errors import ArtifactNotFoundError, CommError


class Api:
    """``wandb.Api(overrides=None)``: ``overrides`` may set ``entity``, ``project`` (default project of short names) and ``run``."""

    def __init__(self, overrides: dict[str, Any] | None = None, timeout: int | None = None, api_key: str | None = None) -> None:
        self.settings: dict[str, Any] = {"entity": None, "project": None, "organization": None, **(overrides or {})}

    @property
    def _reg(self) -> CoreRegistry:
        return _state.registry()

    @property
    def default_entity(self) -> str:
        return str(self.settings.get("entity") or self._reg.user)

    @property
    def viewer(self) -> Any:
        return type("User", (), {"username": self._reg.user, "entity": self.default_entity})()

    def _project(self, project: str | None = None) -> str:
        return project or self.settings.get("project") or DEFAULT_PROJECT

    def _split(self, path: str) -> tuple[str, str]:
        """(project, name) of ``[entity/][project/]name``."""
        if not isinstance(path, str):
            raise InvalidName(f"expected a name like 'project/name', not {path!r}")
        parts = path.split("/")
        if len(parts) > 3:
            raise InvalidName(f"too many '/' parts (at most entity/project/name): {path!r}")
        return (parts[-2] if len(parts) >= 2 else self._project()), parts[-1]

    # -- artifacts ---------------------------------------------------------------------

    def artifact(self, name: str, type: str | None = None) -> Artifact:
        """The version ``[entity/][project/]name[:alias|vN]``; CommError when it is not there, ValueError for another type."""
        if not name:
            raise InvalidName("You must specify name= to fetch an artifact.")
        return Artifact._from_version(find_version(name, type, self._project()))

    def artifact_exists(self, name: str, type: str | None = None) -> bool:
        try:
            self.artifact(name, type)
        except (CommError, InvalidName):
            return False
        return True

    def artifacts(self, type_name: str, name: str, order: str | None = None, per_page: int = 50, tags: list[str] | None = None,
                  start: str | None = None) -> list[Artifact]:
        """The live versions of the collection ``[entity/][project/]name`` of type ``type_name``, newest first.

        With ``tags``, only the versions holding every one of them.
        """
        collection = self.artifact_collection(type_name, name)
        wanted = [tags] if isinstance(tags, str) else list(tags or [])
        return [v for v in collection.artifacts() if all(t in v.tags for t in wanted)]

    def artifact_versions(self, type_name: str, name: str, per_page: int = 50) -> list[Artifact]:
        """W&B's older name of ``artifacts``."""
        return self.artifacts(type_name, name, per_page=per_page)

    def artifact_collection(self, type_name: str, name: str) -> ArtifactCollection:
        """The collection ``[entity/][project/]name``; CommError when missing, ValueError when it holds another type."""
        project, collection = self._split(name)
        try:
            found = _versions.find_collection(self._reg, project, collection.partition(":")[0])
        except NotFound as exc:
            raise ArtifactNotFoundError(f"Could not find artifact collection {name!r}") from exc
        if found.type != type_name:
            raise InvalidName(f"artifact collection {name!r} holds type {found.type!r}, not {type_name!r}")
        return ArtifactCollection(found, self.settings.get("entity"))

    def artifact_collection_exists(self, name: str, type: str) -> bool:
        try:
            self.artifact_collection(type, name)
        except (CommError, InvalidName):
            return False
        return True

    def artifact_collections(self, project_name: str, type_name: str, order: str | None = None, per_page: int = 50,
                             start: str | None = None) -> list[ArtifactCollection]:
        project = project_name.split("/")[-1]
        return [ArtifactCollection(c, self.settings.get("entity")) for c in self._reg.collections(project, type=type_name)]

    def artifact_types(self, project: str | None = None, start: str | None = None) -> list[ArtifactType]:
        """The types of the collections of a project (default: ``overrides["project"]``, else ``uncategorized``)."""
        name = self._project(None if project is None else project.split("/")[-1])
        types = sorted({c.type for c in self._reg.collections(name)})
        return [ArtifactType(self, name, t) for t in types]

    def artifact_type(self, type_name: str, project: str | None = None) -> ArtifactType:
        name = self._project(None if project is None else project.split("/")[-1])
        if not any(c.type == type_name for c in self._reg.collections(name)):
            raise ArtifactNotFoundError(f"no artifact type {type_name!r} in project {name!r}")
        return ArtifactType(self, name, type_name)

    # -- registries --------------------------------------------------------------------

    def registries(self, organization: str | None = None, filter: dict[str, Any] | None = None, order: str | None = None,
                   per_page: int = 100, start: str | None = None) -> Registries:
        """The registries the user can see, those matching ``filter`` (``name``, ``description``, ``created_at``, ``updated_at``)."""
        found = [Registry(c) for c in self._reg.registries()]
        return Registries([r for r in found if matches(r._doc(), filter)])

    def registry(self, name: str, organization: str | None = None) -> Registry:
        """The registry ``name`` (without ``wandb-registry-``; any case); CommError when missing."""
        try:
            return Registry(self._reg.registry(name.removeprefix(REGISTRY_PROJECT_PREFIX)))
        except NotFound as exc:
            raise ArtifactNotFoundError(f"no registry named {name!r}") from exc

    def create_registry(self, name: str, visibility: str, organization: str | None = None, description: str | None = None,
                        artifact_types: list[str] | None = None) -> Registry:
        """A new registry (W&B's argument order: ``name``, ``visibility``); ``artifact_types=None`` accepts every type."""
        return Registry(self._reg.create_registry(name, artifact_types=artifact_types, description=description, visibility=visibility))

    # -- runs --------------------------------------------------------------------------

    def run(self, path: str = "") -> PublicRun:
        """The run ``[entity/][project/]run_id``; CommError when it is not there."""
        project, key = self._split(path)
        with self._reg._db.read() as con:
            row = con.execute(_runs.SELECT_BY_KEY, (canonical_project(con, project), key)).fetchone()
        if row is None:
            raise ArtifactNotFoundError(f"Could not find run {path!r}")
        return PublicRun(_runs.Run(self._reg, row[0]))

    def runs(self, path: str | None = None, filters: dict[str, Any] | None = None, order: str = "+created_at", per_page: int = 50,
             include_sweeps: bool = False, lazy: bool = True) -> list[PublicRun]:
        """The runs of a project (``[entity/]project``), oldest first.

        ``filters`` match ``state``, ``name``, ``group``, ``job_type``, ``created_at``, ``config.<key>`` and ``summary_metrics.<key>``.
        """
        project = self._project(None if not path else path.split("/")[-1])
        with self._reg._db.read() as con:
            rows = [r[0] for r in con.execute(
                "SELECT r.id FROM runs AS r JOIN projects AS p ON p.id = r.project_id WHERE p.name = ? ORDER BY r.started_at, r.id",
                (project,),
            )]
        runs = [PublicRun(_runs.Run(self._reg, row)) for row in rows]
        found = [r for r in runs if matches(_run_doc(r), filters)]
        return list(reversed(found)) if order.startswith("-") else found


class ArtifactType:
    """One artifact type of a project: ``name`` and its ``collections()``."""

    def __init__(self, api: Api, project: str, name: str) -> None:
        self._api = api
        self.project = project
        self.name = name
        self.type = name

    def __repr__(self) -> str:
        return f"<ArtifactType {self.name}>"

    def collections(self, per_page: int = 50) -> list[ArtifactCollection]:
        return self._api.artifact_collections(self.project, self.name)

    def collection(self, name: str) -> ArtifactCollection:
        return self._api.artifact_collection(self.name, f"{self.project}/{name}")


class ArtifactCollection:
    """A collection (W&B's sequence, or a registry's portfolio).

    ``name``, ``type``, ``aliases``, ``tags``, ``description``, ``artifacts()`` (also ``versions()``).
    """

    def __init__(self, collection: _versions.Collection, entity: str | None = None) -> None:
        self._collection = collection
        self._entity = entity

    def __repr__(self) -> str:
        return f"<ArtifactCollection {self.name} ({self.type})>"

    @property
    def name(self) -> str:
        return str(self._collection.name)

    @property
    def type(self) -> str:
        return str(self._collection.type)

    @property
    def project(self) -> str:
        return str(self._collection.project)

    @property
    def entity(self) -> str:
        return self._entity or self._collection._reg.user

    @property
    def id(self) -> str:
        return str(self._collection.id)

    @property
    def created_at(self) -> str:
        return self._collection.created_at.isoformat()

    @property
    def aliases(self) -> list[str]:
        self._collection.refresh()
        return self._collection.aliases

    @property
    def description(self) -> str | None:
        return self._collection.description

    @description.setter
    def description(self, value: str | None) -> None:
        self._collection.description = value

    @property
    def tags(self) -> list[str]:
        return self._collection.tags

    @tags.setter
    def tags(self, value: list[str]) -> None:
        self._collection.tags = [value] if isinstance(value, str) else list(value)

    def is_sequence(self) -> bool:
        """True for a project's collection of logged versions, False for a registry's collection of links."""
        return not self._collection.project.startswith(REGISTRY_PROJECT_PREFIX)

    def artifacts(self, per_page: int = 50) -> list[Artifact]:
        """The live versions, newest first."""
        return [Artifact._from_version(v, self._entity) for v in self._collection.versions()]

    versions = artifacts

    def save(self) -> None:
        self._collection.save()

    def delete(self) -> None:
        self._collection.delete()

    def _doc(self) -> dict[str, Any]:
        c = self._collection
        return {"name": c.name, "tag": list(c.tags), "description": c.description, "created_at": _stamp(c.created_at),
                "updated_at": _stamp(c.created_at), "type": c.type}


class Registry:
    """A registry as W&B's public API has it: ``name``, ``full_name``, ``description``, ``visibility``, ``artifact_types``,
    ``collections()``, ``versions()``, ``save()``, ``delete()``."""

    def __init__(self, catalog: _catalog.Catalog) -> None:
        self._catalog = catalog
        self._description = catalog.description
        self._visibility = catalog.visibility
        self._new_types: list[str] = []

    def __repr__(self) -> str:
        return f"<Registry {self.name}>"

    @property
    def name(self) -> str:
        return self._catalog.name

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
        return [self.organization, self.full_name]

    @property
    def created_at(self) -> str:
        return self._catalog.created_at.isoformat()

    @property
    def updated_at(self) -> str:
        return self.created_at

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
        if not self._new_types:
            self._new_types = list(self._catalog.artifact_types or [])
        return self._new_types

    def collections(self, filter: dict[str, Any] | None = None, order: str | None = None, per_page: int = 100) -> Collections:
        return Collections([c for c in (ArtifactCollection(c) for c in self._catalog.collections()) if matches(c._doc(), filter)])

    def versions(self, filter: dict[str, Any] | None = None, order: str | None = None, per_page: int = 100) -> list[Artifact]:
        return [Artifact._from_version(v) for v in self._catalog._reg.versions(filter, registry=self._catalog.name)]

    def save(self) -> None:
        """Write edits of description, visibility and accepted types."""
        catalog = self._catalog
        if self._description != catalog.description:
            catalog.set_description(self._description)
        if self._visibility != catalog.visibility:
            catalog.set_visibility(self._visibility)
        added = [t for t in self._new_types if t not in (catalog.artifact_types or [])]
        if added and catalog.artifact_types is not None:
            catalog.add_artifact_types(*added)
        catalog.refresh()

    def load(self) -> None:
        self._catalog.refresh()
        self._description, self._visibility, self._new_types = self._catalog.description, self._catalog.visibility, []

    def delete(self) -> None:
        self._catalog.delete()

    def _doc(self) -> dict[str, Any]:
        c = self._catalog
        return {"name": c.name, "description": c.description, "created_at": _stamp(c.created_at), "updated_at": _stamp(c.created_at)}


class Registries(list[Registry]):
    """The registries found; ``collections(filter)`` and ``versions(filter)`` search inside them."""

    def collections(self, filter: dict[str, Any] | None = None) -> Collections:
        return Collections([c for registry in self for c in registry.collections(filter)])

    def versions(self, filter: dict[str, Any] | None = None) -> list[Artifact]:
        return [v for registry in self for v in registry.versions(filter)]


class Collections(list[ArtifactCollection]):
    """Collections found; ``versions(filter)`` searches their versions (``tag``, ``alias``, ``created_at``, ``metadata.<key>``)."""

    def versions(self, filter: dict[str, Any] | None = None) -> list[Artifact]:
        out: list[Artifact] = []
        for collection in self:
            registry = collection.project.removeprefix(REGISTRY_PROJECT_PREFIX)
            core = collection._collection._reg
            spec = {"$and": [filter or {}, {"name": collection.name}]}
            project = collection.project if collection.is_sequence() else None
            found = core.versions(spec, project=project, registry=None if project else registry)
            out += [Artifact._from_version(v) for v in found]
        return out


def _stamp(moment: Any) -> str:
    return str(moment.strftime("%Y-%m-%d %H:%M:%S"))


def _run_doc(run: PublicRun) -> dict[str, Any]:
    core = run._run
    doc: dict[str, Any] = {"state": core.state, "name": core.name, "display_name": core.name, "group": core.group,
                           "job_type": core.job_type, "created_at": _stamp(core.started_at), "createdAt": _stamp(core.started_at)}
    doc.update({f"config.{k}": v for k, v in core.config.items()})
    doc.update({f"summary_metrics.{k}": v for k, v in core.summary.items()})
    return doc


def matches(doc: dict[str, Any], spec: dict[str, Any] | None) -> bool:
    """Whether a document matches a W&B/MongoDB-style filter: fields, ``$eq $ne $gt $gte $lt $lte $in $nin $regex
    $exists $contains``, ``$and $or $nor $not``. A list field (``tag``) matches when one of its items does."""
    if not spec:
        return True
    if not isinstance(spec, dict):
        raise InvalidName(f"a filter is a dict, not {spec!r}")
    for key, cond in spec.items():
        if key == "$and":
            ok = all(matches(doc, c) for c in _clauses(key, cond))
        elif key == "$or":
            ok = any(matches(doc, c) for c in _clauses(key, cond))
        elif key == "$nor":
            ok = not any(matches(doc, c) for c in _clauses(key, cond))
        elif key.startswith("$"):
            raise InvalidName(f"unknown filter operator {key!r}")
        else:
            ok = _field(doc.get(key), key in doc, cond)
        if not ok:
            return False
    return True


def _clauses(op: str, cond: object) -> list[dict[str, Any]]:
    if not isinstance(cond, list) or not all(isinstance(c, dict) for c in cond):
        raise InvalidName(f"{op} takes a list of filters, not {cond!r}")
    return cond


def _field(value: Any, present: bool, cond: Any) -> bool:
    if not (isinstance(cond, dict) and cond and all(isinstance(k, str) and k.startswith("$") for k in cond)):
        return _any(value, lambda v: v == cond)
    return all(_operator(value, present, op, operand) for op, operand in cond.items())


def _any(value: Any, test: Any) -> bool:
    return any(test(v) for v in value) if isinstance(value, list) else bool(test(value))


def _operator(value: Any, present: bool, op: str, operand: Any) -> bool:
    if op == "$exists":
        return present == bool(operand)
    if op == "$not":
        return not _field(value, present, operand)
    if op == "$eq":
        return _any(value, lambda v: v == operand)
    if op == "$ne":
        return not _any(value, lambda v: v == operand)
    if op == "$in":
        return _any(value, lambda v: v in operand)
    if op == "$nin":
        return not _any(value, lambda v: v in operand)
    if op == "$regex":
        pattern = re.compile(str(operand))
        return _any(value, lambda v: isinstance(v, str) and pattern.search(v) is not None)
    if op == "$contains":
        return _any(value, lambda v: isinstance(v, str) and str(operand) in v)
    compare = {"$gt": lambda a, b: a > b, "$gte": lambda a, b: a >= b, "$lt": lambda a, b: a < b, "$lte": lambda a, b: a <= b}.get(op)
    if compare is None:
        raise InvalidName(f"unknown filter operator {op!r}")
    return _any(value, lambda v: v is not None and _comparable(v, operand) and compare(v, operand))


def _comparable(a: Any, b: Any) -> bool:
    numbers = (int, float)
    return (isinstance(a, numbers) and isinstance(b, numbers)) or (isinstance(a, str) and isinstance(b, str))
