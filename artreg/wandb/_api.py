"""W&B's public API (``wandb.Api()``) over the registry in use: artifacts, collections, types, registries, runs.

Names take W&B's forms: ``[entity/][project/]name[:alias]``; the entity is accepted and
ignores (one registry file is one organisation), the project defaults to
``overrides["project"]``, else ``uncategorized``. What is not there raises W&B's
``CommError`` (here ``ArtifactNotFoundError``, also ``artreg.NotFound``) where W&B's server
would say so.
"""

from __future__ import annotations

from typing import Any

from .. import _runs, _versions
from .._errors import InvalidName, NotFound
from .._names import DEFAULT_PROJECT, REGISTRY_PROJECT_PREFIX
from .._projects import canonical_project
from .._registry import Registry as CoreRegistry
from .._run_rows import SELECT_BY_KEY
from . import _state
from ._artifact import Artifact
from ._match import check_filter, matches, stamp
from ._paging import Paginator, check_per_page
from ._registries import Registries, Registry, User
from ._rules import check_name_and_type
from ._run import PublicRun, find_version
from .errors import ArtifactNotFoundError, CommError, UnsupportedError

RUNS_OF_PROJECT = "SELECT r.id FROM runs AS r JOIN projects AS p ON p.id = r.project_id WHERE p.name = ? ORDER BY r.started_at, r.id"


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
    def viewer(self) -> User:
        """The user this process acts as (``$ARTREG_USER``, else the login name)."""
        return User(self._reg.user)

    def user(self, username_or_email: str) -> User:
        """A user of the registry file by name (users are names here: there is no account to look up)."""
        if not isinstance(username_or_email, str) or not username_or_email:
            raise InvalidName(f"a user is named by a non-empty string, not {username_or_email!r}")
        return User(username_or_email)

    def team(self, team: str) -> Any:
        """Teams do not exist offline: a registry's members are users (``registry.add_members(api.user(name))``)."""
        raise UnsupportedError(f"there are no teams in an artreg registry ({team!r}); "
                               "give users a role with registry.add_members(api.user(name))")

    def projects(self, entity: str | None = None, per_page: int = 200) -> Paginator[Project]:
        """The projects of the registry file (any ``entity`` is accepted: one file is one organisation), by name."""
        entity = entity or self.default_entity
        names = [p for p in self._reg.projects() if not p.startswith(REGISTRY_PROJECT_PREFIX)]
        return Paginator.of(lambda: [Project(self, entity, n) for n in names], per_page)

    def project(self, name: str, entity: str | None = None) -> Project:
        """The project ``name``; as in W&B it is looked up lazily (reading ``id`` of a missing one is a ValueError)."""
        return Project(self, entity or self.default_entity, name)

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
                  start: str | None = None) -> Paginator[Artifact]:
        """The live versions of the collection ``[entity/][project/]name`` of type ``type_name``, newest first, a page at a time.

        With ``tags``, only the versions holding every one of them. ``start`` is a paginator's ``cursor``.
        """
        collection = self.artifact_collection(type_name, name)
        wanted = [tags] if isinstance(tags, str) else list(tags or [])
        if not wanted:
            return collection.artifacts(per_page=per_page, start=start)
        return Paginator.of(lambda: [v for v in collection.artifacts() if all(t in v.tags for t in wanted)], per_page, start)

    def artifact_versions(self, type_name: str, name: str, per_page: int = 50) -> Paginator[Artifact]:
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
                             start: str | None = None) -> Paginator[ArtifactCollection]:
        project = project_name.split("/")[-1]
        entity = self.settings.get("entity")
        return Paginator.of(lambda: [ArtifactCollection(c, entity) for c in self._reg.collections(project, type=type_name)],
                            per_page, start)

    def artifact_types(self, project: str | None = None, start: str | None = None) -> Paginator[ArtifactType]:
        """The types of the collections of a project (default: ``overrides["project"]``, else ``uncategorized``)."""
        name = self._project(None if project is None else project.split("/")[-1])
        return Paginator.of(lambda: [ArtifactType(self, name, t) for t in sorted({c.type for c in self._reg.collections(name)})],
                            start=start)

    def artifact_type(self, type_name: str, project: str | None = None) -> ArtifactType:
        name = self._project(None if project is None else project.split("/")[-1])
        if not any(c.type == type_name for c in self._reg.collections(name)):
            raise ArtifactNotFoundError(f"no artifact type {type_name!r} in project {name!r}")
        return ArtifactType(self, name, type_name)

    # -- registries --------------------------------------------------------------------

    def registries(self, organization: str | None = None, filter: dict[str, Any] | None = None, order: str | None = None,
                   per_page: int = 100, start: str | None = None) -> Registries:
        """The registries the user can see, those matching ``filter`` (``name``, ``description``, ``created_at``, ``updated_at``)."""
        check_filter(filter)
        check_per_page(per_page)
        return Registries(lambda: [r for r in map(Registry, self._reg.registries()) if matches(r._doc(), filter)], per_page, start)

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
            row = con.execute(SELECT_BY_KEY, (canonical_project(con, project), key)).fetchone()
        if row is None:
            raise ArtifactNotFoundError(f"Could not find run {path!r}")
        return PublicRun(_runs.Run(self._reg, row[0]))

    def runs(self, path: str | None = None, filters: dict[str, Any] | None = None, order: str = "+created_at", per_page: int = 50,
             include_sweeps: bool = False, lazy: bool = True) -> Paginator[PublicRun]:
        """The runs of a project (``[entity/]project``), oldest first.

        ``filters`` match ``state``, ``name``, ``group``, ``job_type``, ``created_at``, ``config.<key>`` and ``summary_metrics.<key>``.
        """
        project = self._project(None if not path else path.split("/")[-1])
        check_filter(filters)

        def found() -> list[PublicRun]:
            with self._reg._db.read() as con:
                rows = [r[0] for r in con.execute(RUNS_OF_PROJECT, (project,))]
            runs = [r for r in (PublicRun(_runs.Run(self._reg, row)) for row in rows) if matches(_run_doc(r), filters)]
            return list(reversed(runs)) if order.startswith("-") else runs

        return Paginator.of(found, per_page)


class ArtifactType:
    """One artifact type of a project: ``name`` and its ``collections()``."""

    def __init__(self, api: Api, project: str, name: str) -> None:
        self._api = api
        self.project = project
        self.name = name
        self.type = name

    def __repr__(self) -> str:
        return f"<ArtifactType {self.name}>"

    def collections(self, per_page: int = 50) -> Paginator[ArtifactCollection]:
        return self._api.artifact_collections(self.project, self.name, per_page=per_page)

    def collection(self, name: str) -> ArtifactCollection:
        return self._api.artifact_collection(self.name, f"{self.project}/{name}")


class ArtifactCollection:
    """A collection (W&B's sequence, or a registry's portfolio).

    ``name``, ``type``, ``aliases``, ``tags``, ``description``, ``artifacts()`` (also ``versions()``).
    """

    def __init__(self, collection: _versions.Collection, entity: str | None = None) -> None:
        self._collection = collection
        self._entity = entity
        self._name, self._type = str(collection.name), str(collection.type)

    def __repr__(self) -> str:
        return f"<ArtifactCollection {self.name} ({self.type})>"

    @property
    def name(self) -> str:
        return self._name

    @name.setter
    def name(self, value: str) -> None:
        """Rename on ``save()``."""
        self._name = value

    @property
    def type(self) -> str:
        return self._type

    @type.setter
    def type(self, value: str) -> None:
        """Retype on ``save()``; only a sequence (a project's collection of logged versions) can change type, as in W&B."""
        if not self.is_sequence():
            raise InvalidName("Type can only be changed if the artifact collection is a sequence.")
        self._type = value

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

    def artifacts(self, per_page: int = 50, start: str | None = None) -> Paginator[Artifact]:
        """The live versions, newest first, read ``per_page`` at a time."""
        core = self._collection

        def page(offset: int, limit: int) -> list[Artifact]:
            return [Artifact._from_version(v, self._entity) for v in core.versions(offset=offset, limit=limit)]

        return Paginator(page, core.version_count, per_page, start)

    versions = artifacts

    def save(self) -> None:
        """Write edits of name, type, description and tags (W&B's rules for names and reserved types)."""
        core = self._collection
        if (self._name, self._type) != (core.name, core.type):
            try:
                check_name_and_type(self._name, self._type)
            except InvalidName as exc:
                raise InvalidName(f"Failed to save artifact collection {core.name!r}: {exc}") from exc
            description, tags = core.description, core.tags
            core.edit(name=self._name, type=self._type)  # re-reads the collection: the unsaved edits are put back
            core.description, core.tags = description, tags
        core.save()

    def delete(self) -> None:
        self._collection.delete()

    def _doc(self) -> dict[str, Any]:
        c = self._collection
        return {"name": c.name, "tag": list(c.tags), "description": c.description, "created_at": stamp(c.created_at),
                "updated_at": stamp(c.created_at), "type": c.type}


def _run_doc(run: PublicRun) -> dict[str, Any]:
    core = run._run
    doc: dict[str, Any] = {"state": core.state, "name": core.name, "display_name": core.name, "group": core.group,
                           "job_type": core.job_type, "created_at": stamp(core.started_at), "createdAt": stamp(core.started_at)}
    doc.update({f"config.{k}": v for k, v in core.config.items()})
    doc.update({f"summary_metrics.{k}": v for k, v in core.summary.items()})
    return doc



class Project:
    """A project as W&B's public API has it: ``name``, ``entity``, ``path``, ``url``, ``id``, ``artifacts_types()``,
    ``collections()``; ``sweeps()`` is empty (sweeps are not run offline)."""

    def __init__(self, api: Api, entity: str, name: str) -> None:
        self._api = api
        self.entity = entity
        self.name = name

    def __repr__(self) -> str:
        return f"<Project {'/'.join(self.path)}>"

    @property
    def path(self) -> list[str]:
        return [self.entity, self.name]

    @property
    def url(self) -> str:
        return f"artreg://projects/{'/'.join(self.path)}"

    @property
    def id(self) -> str:
        """The project's id; ValueError when there is no such project (W&B's error here)."""
        with self._api._reg._db.read() as con:
            row = con.execute(PROJECT_ID, (self.name,)).fetchone()
        if row is None:
            raise ValueError(f"Project {self.name} not found")
        return str(row[0])

    def artifacts_types(self, per_page: int = 50) -> Paginator[ArtifactType]:
        return self._api.artifact_types(self.name)

    def collections(self, filters: dict[str, Any] | None = None, order: str | None = None,
                    per_page: int = 50) -> Paginator[ArtifactCollection]:
        """The project's collections (of every type) matching ``filters`` (``name``, ``tag``, ``type``, ``created_at``...)."""
        check_filter(filters)
        reg = self._api._reg
        return Paginator.of(lambda: [c for c in (ArtifactCollection(c, self.entity) for c in reg.collections(self.name))
                                     if matches(c._doc(), filters)], per_page)

    def sweeps(self, per_page: int = 50, filters: dict[str, Any] | None = None, order: str | None = None) -> Paginator[Any]:
        """Always empty: sweeps are not run offline."""
        return Paginator.of(list, per_page)


PROJECT_ID = "SELECT id FROM projects WHERE name = ?"
