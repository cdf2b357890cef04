"""Runs: units of work that log (produce) and use (consume) versions (SPEC §9, §15).

A run is a row in ``runs``; its edges are ``run_outputs`` (run -> version it logged) and
``run_inputs`` (version -> run that used it), both keyed so an edge is recorded once.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Sequence
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, NamedTuple

from ._clock import format_time, parse_time
from ._draft import Artifact
from ._errors import AlreadyExists, Conflict, InvalidName, NotFound, TypeMismatch
from ._handle import Handle
from ._names import DEFAULT_PROJECT, check_project, check_run_key, check_text, dump_json, dump_metrics
from ._progress import ProgressCallback
from ._projects import ensure_project
from ._rows import select_list
from ._run_data import (
    INSERT_HISTORY,
    SELECT_HISTORY,
    SELECT_LAST_STEP,
    RunConfig,
    RunSummary,
    check_row,
    config_value,
    load_json,
    merge_summary,
)
from ._run_exit import forget, remember
from ._run_rows import INSERT_INPUT, SELECT_BY_KEY, new_run_key

if TYPE_CHECKING:
    from ._registry import Registry
    from ._versions import ArtifactVersion

INSERT_RUN = """
INSERT INTO runs(project_id, name, job_type, config, created_by, started_at, run_key, entity, run_group)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id
"""


class RunRow(NamedTuple):
    """What a run object shows (``SELECT_RUN``); config and summary still as JSON text."""

    name: str
    job_type: str | None
    config: str
    state: str
    error: str | None
    created_by: str
    started_at: str
    finished_at: str | None
    project: str
    run_key: str
    entity: str | None
    run_group: str | None
    summary: str


SELECT_RUN = "SELECT " + select_list(RunRow, {
    "name": "r.name", "job_type": "r.job_type", "config": "r.config", "state": "r.state", "error": "r.error",
    "created_by": "r.created_by", "started_at": "r.started_at", "finished_at": "r.finished_at", "project": "p.name",
    "run_key": "r.run_key", "entity": "r.entity", "run_group": "r.run_group", "summary": "r.summary",
}) + " FROM runs AS r JOIN projects AS p ON p.id = r.project_id WHERE r.id = ?"
RESUME = "UPDATE runs SET state = 'running', error = NULL, finished_at = NULL WHERE id = ?"
SELECT_OUTPUTS = """
SELECT o.version_id FROM run_outputs AS o JOIN versions AS v ON v.id = o.version_id
WHERE o.run_id = ? AND v.state = 'committed' ORDER BY o.version_id
"""
SELECT_INPUTS = """
SELECT i.version_id FROM run_inputs AS i JOIN versions AS v ON v.id = i.version_id
WHERE i.run_id = ? AND v.state = 'committed' ORDER BY i.version_id
"""
SELECT_PRODUCERS = """
SELECT r.id FROM run_outputs AS o JOIN runs AS r ON r.id = o.run_id WHERE o.version_id = ? ORDER BY r.started_at, r.id
"""
SELECT_CONSUMERS = """
SELECT r.id FROM run_inputs AS i JOIN runs AS r ON r.id = i.run_id WHERE i.version_id = ? ORDER BY r.started_at, r.id
"""
# W&B's run ids: 8 characters of lower-case letters and digits.
RESUME_MODES = ("allow", "must", "auto", True)


def start_run(
    reg: Registry,
    project: str | None,
    *,
    entity: str | None = None,
    job_type: str | None = None,
    name: str | None = None,
    config: dict[str, Any] | None = None,
    id: str | None = None,
    group: str | None = None,
    resume: bool | str | None = None,
) -> Run:
    """Insert a run in state ``running`` (or resume the run ``id``); its name defaults to ``<job_type or run>-<n>``.

    ``id`` names an existing run of the project: with ``resume`` ``"allow"``, ``"must"``,
    ``"auto"`` or True that run is running again and keeps its history; otherwise the id
    is taken and AlreadyExists is raised. ``resume="must"`` with no such run raises NotFound.
    """
    project_name = check_project(project or DEFAULT_PROJECT)
    if config is not None and not isinstance(config, dict):
        raise InvalidName(f"config must be a dict, not {type(config).__name__}")
    config_json = dump_json(config_value(config or {}, "config"))
    for kind, value in (("job_type", job_type), ("run name", name), ("entity", entity), ("group", group)):
        if value is not None:
            _check_label(kind, value)
    if id is not None:
        check_run_key(id)
    if resume not in (None, False, "never", *RESUME_MODES):
        raise InvalidName(f"resume must be 'allow', 'must', 'never', 'auto', True, False or None, not {resume!r}")
    now = format_time(reg._now())
    with reg._db.write() as con:
        project_id = ensure_project(con, project_name, now)
        if id is not None:
            found = con.execute(SELECT_BY_KEY, (project_name, id)).fetchone()
            if found is not None:
                if resume not in RESUME_MODES:
                    raise AlreadyExists(f"run {project_name}/{id} exists; pass resume='allow' to continue it")
                con.execute(RESUME, (found[0],))
                return _started(reg, found[0])
            if resume == "must":
                raise NotFound(f"no run {project_name}/{id} to resume")
        key = id or new_run_key(con, project_name)
        row = (project_id, name or "", job_type, config_json, reg.user, now, key, entity, group)
        run_row = int(con.execute(INSERT_RUN, row).fetchone()[0])  # type: ignore[index]
        if not name:
            con.execute("UPDATE runs SET name = ? WHERE id = ?", (f"{job_type or 'run'}-{run_row}", run_row))
    return _started(reg, run_row)


def _started(reg: Registry, row: int) -> Run:
    run = Run(reg, row)
    remember(run)
    return run


def _check_label(kind: str, value: object) -> None:
    if not isinstance(value, str) or not 1 <= len(value) <= 128 or any(ord(c) < 32 for c in value):
        raise InvalidName(f"{kind} must be 1-128 characters without control characters: {value!r}")
    check_text(value, kind)


class Run(Handle):
    """A unit of work: ``with reg.init(project="zoo", job_type="train") as run: ...``.

    Leaving the block marks it ``finished``, or ``crashed`` (with the error) when the block
    raises. A run the program never finishes is marked ``finished`` when the interpreter
    exits normally and ``crashed`` when it ends on an uncaught exception.

    ``id`` is the run's string id (W&B's: 8 random characters unless given to ``init``),
    unique in its project. ``config`` and ``summary`` save every change; ``log()`` keeps
    the history, readable with ``history()``.
    """

    def __init__(self, reg: Registry, row: int) -> None:
        self._reg = reg
        self._row = row
        self._pending: dict[str, Any] = {}
        self.refresh()
        with reg._db.read() as con:
            last = con.execute(SELECT_LAST_STEP, (row,)).fetchone()
        self.step: int = 0 if last is None or last[0] is None else int(last[0]) + 1

    def refresh(self) -> None:
        """Reload the run's fields from the database."""
        with self._reg._db.read() as con:
            found = con.execute(SELECT_RUN, (self._row,)).fetchone()
        if found is None:
            raise NotFound(f"no run with id {self._row}")
        row = RunRow._make(found)
        self.name: str = row.name
        self.job_type: str | None = row.job_type
        self.config: RunConfig = RunConfig(self, json.loads(row.config))
        self.state: str = row.state
        self.error: str | None = row.error
        self.created_by: str = row.created_by
        self.started_at: datetime = parse_time(row.started_at)
        self.finished_at: datetime | None = None if row.finished_at is None else parse_time(row.finished_at)
        self.project: str = row.project
        self.id: str = row.run_key
        self.entity: str | None = row.entity
        self.group: str | None = row.run_group
        self.summary: RunSummary = RunSummary(self, load_json(row.summary))

    @property
    def path(self) -> str:
        """``entity/project/id`` (the entity part only when the run has one): what ``Api().run()`` takes."""
        return "/".join(part for part in (self.entity, self.project, self.id) if part)

    _kind = "run"

    def _row_id(self) -> int:
        return self._row

    def _label(self) -> str:
        return f"{self.project}/{self.name} id={self.id!r} state={self.state!r}"

    def __enter__(self) -> Run:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.finish(error=exc)

    def finish(self, exit_code: int | None = None, *, error: BaseException | None = None) -> None:
        """Mark the run ``finished``, or ``crashed`` with ``error`` or a non-zero ``exit_code``; a second call changes nothing.

        A step logged without ``commit`` is written first.
        """
        if error is None and exit_code not in (None, 0):
            if not isinstance(exit_code, int) or isinstance(exit_code, bool):
                raise InvalidName(f"exit_code must be an integer or None, not {exit_code!r}")
            message: str | None = f"exit code {exit_code}"
        else:
            message = None if error is None else f"{type(error).__name__}: {error}"
        if self.state == "running":
            self._flush()
        state = "finished" if message is None else "crashed"
        with self._reg._db.write() as con:
            con.execute(
                "UPDATE runs SET state = ?, error = ?, finished_at = ? WHERE id = ? AND state = 'running'",
                (state, message, format_time(self._reg._now()), self._row),
            )
        forget(self)
        self.refresh()

    def _finish_at_exit(self, error: BaseException | None) -> None:
        """Finish from the exit hooks, through a fresh handle if the registry object was closed."""
        if not self._reg._db._closed:
            self.finish(error=error)
            return
        from ._registry import Registry

        if self._reg.path == ":memory:" or not os.path.exists(self._reg.path):
            return
        with Registry(self._reg.path, user=self._reg.user) as fresh:
            Run(fresh, self._row).finish(error=error)

    def _check_running(self) -> None:
        if self.state != "running":
            raise Conflict(f"run {self.project}/{self.name} is {self.state}; start a new run to log or use artifacts")

    # -- metrics -----------------------------------------------------------------------

    def log(self, data: dict[str, Any], step: int | None = None, commit: bool | None = None) -> None:
        """Record values at a step of the run's history, as W&B's ``run.log``.

        Without ``step`` each call is the next step. ``commit=False`` gathers values into the
        current step without ending it; with ``step`` the step ends when a later step is
        logged (or ``commit=True``, or the run finishes). A step lower than the current one
        is ignored, as in W&B. The summary keeps the last value of each key.
        """
        self._check_running()
        values = check_row(data)
        if step is not None:
            if not isinstance(step, int) or isinstance(step, bool) or step < 0:
                raise InvalidName(f"step must be a non-negative integer, not {step!r}")
            if step < self.step:
                warnings.warn(f"run {self.name}: step {step} is before the current step {self.step}; not logged", stacklevel=2)
                return
            if step > self.step:
                self._flush()
                self.step = step
        self._pending.update(values)
        if (step is None and commit is None) or commit:
            self._flush()
            self.step += 1

    def _flush(self) -> None:
        if not self._pending:
            return
        pending, self._pending = self._pending, {}
        with self._reg._db.write() as con:
            con.execute(INSERT_HISTORY, (self._row, self.step, dump_metrics(pending), format_time(self._reg._now())))
            self.summary._data = merge_summary(con, self._row, pending)

    def history(self) -> list[dict[str, Any]]:
        """Every committed step, oldest first, as W&B's history rows: the values plus ``_step``."""
        with self._reg._db.read() as con:
            rows = con.execute(SELECT_HISTORY, (self._row,)).fetchall()
        return [{**load_json(str(data)), "_step": step} for step, data in rows]

    # -- edges -------------------------------------------------------------------------

    def log_artifact(
        self,
        artifact_or_path: Artifact | str | os.PathLike[str],
        name: str | None = None,
        type: str | None = None,
        aliases: Sequence[str] | None = None,
        tags: Sequence[str] | None = None,
        *,
        progress: ProgressCallback | None = None,
    ) -> ArtifactVersion:
        """Log into the run's project and record the run as a producer (also when it dedups).

        A path (file, folder or reference URI) becomes a draft named ``name`` (default: its
        last segment) of type ``type`` (default ``unspecified``).
        """
        self._check_running()
        return self._reg._log(
            artifact_or_path, project=self.project, name=name, type=type, aliases=aliases, tags=tags, run_id=self._row, progress=progress
        )

    def use_artifact(
        self,
        artifact_or_name: str | ArtifactVersion | Artifact,
        type: str | None = None,
        aliases: Sequence[str] | None = None,
    ) -> ArtifactVersion:
        """Resolve a reference (default project: the run's) and record the run as a consumer.

        A draft is logged by this run first (with ``aliases``), as W&B does. ``type``, when
        given, must be the version's type (TypeMismatch otherwise).
        """
        from ._versions import ArtifactVersion

        self._check_running()
        if isinstance(artifact_or_name, Artifact):
            version = artifact_or_name.logged_version or self.log_artifact(artifact_or_name, aliases=aliases)
        elif isinstance(artifact_or_name, ArtifactVersion):
            version = artifact_or_name
        else:
            version = self._reg.artifact(artifact_or_name, project=self.project)
        if version._reg is not self._reg:
            raise InvalidName(f"{version.qualified_name} belongs to another registry")
        if type is not None and type != version.type:
            raise TypeMismatch(f"{version.qualified_name} has type {version.type!r}, not {type!r}")
        with self._reg._db.write() as con:
            state = con.execute("SELECT state FROM versions WHERE id = ?", (version.id,)).fetchone()
            if state is None or state[0] != "committed":
                raise NotFound(f"{version.qualified_name} has been deleted")
            con.execute(INSERT_INPUT, (self._row, version._content_id))  # a use through a link counts for its source
        return version

    def link_artifact(
        self, artifact: ArtifactVersion | Artifact, target_path: str, aliases: Sequence[str] | None = None
    ) -> ArtifactVersion:
        """Link a version into a registry collection (see ``ArtifactVersion.link``); a draft is logged by this run first."""
        self._check_running()
        if isinstance(artifact, Artifact):
            artifact = artifact.logged_version or self.log_artifact(artifact)
        return artifact.link(target_path, aliases)

    def upsert_artifact(
        self,
        artifact: Artifact,
        distributed_id: str | None = None,
        aliases: Sequence[str] | None = None,
    ) -> None:
        """Add a draft's entries to the pending version shared by every run with this ``distributed_id`` (SPEC §15.1).

        ``distributed_id`` defaults to the run's ``group``. Nothing is visible to readers
        until ``finish_artifact``; a path another upsert added with other content raises
        AlreadyExists here, and this upsert changes nothing.
        """
        from ._distributed import upsert

        self._check_running()
        upsert(self._reg, artifact, project=self.project, distributed_id=self._distributed_id(distributed_id),
               aliases=aliases, run_id=self._row)

    def finish_artifact(
        self,
        artifact: Artifact,
        distributed_id: str | None = None,
        aliases: Sequence[str] | None = None,
    ) -> ArtifactVersion:
        """Add a draft's entries to the pending version, then commit it as one version; every contributing run is a producer."""
        from ._distributed import finish

        self._check_running()
        return finish(self._reg, artifact, project=self.project, distributed_id=self._distributed_id(distributed_id),
                      aliases=aliases, run_id=self._row)

    def _distributed_id(self, given: str | None) -> str:
        if given is not None:
            return given
        if self.group is None:
            raise InvalidName(f"run {self.name} has no group: pass distributed_id= (or start the runs with group=)")
        return self.group

    def logged_artifacts(self) -> list[ArtifactVersion]:
        """Live versions this run logged, in the order they were first created."""
        return self._versions(SELECT_OUTPUTS)

    def used_artifacts(self) -> list[ArtifactVersion]:
        """Live versions this run used."""
        return self._versions(SELECT_INPUTS)

    def _versions(self, sql: str) -> list[ArtifactVersion]:
        from ._versions import ArtifactVersion

        with self._reg._db.read() as con:
            ids = [r[0] for r in con.execute(sql, (self._row,))]
            return [ArtifactVersion(self._reg, i, con=con) for i in ids]


def runs_of(reg: Registry, version_id: int, *, producers: bool) -> list[Run]:
    """Runs that logged (``producers``) or used a version, oldest first."""
    with reg._db.read() as con:
        ids = [r[0] for r in con.execute(SELECT_PRODUCERS if producers else SELECT_CONSUMERS, (version_id,))]
    return [Run(reg, i) for i in ids]
