"""Runs: units of work that log (produce) and use (consume) versions (SPEC §9).

A run is a row in ``runs``; its edges are ``run_outputs`` (run -> version it logged) and
``run_inputs`` (version -> run that used it), both keyed so an edge is recorded once.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ._clock import format_time, parse_time
from ._draft import Artifact
from ._errors import ArtregError, InvalidName, NotFound
from ._names import DEFAULT_PROJECT, check_metadata, check_project, check_text, dump_json
from ._progress import ProgressCallback
from ._projects import ensure_project

if TYPE_CHECKING:
    from ._registry import Registry
    from ._versions import ArtifactVersion

INSERT_RUN = """
INSERT INTO runs(project_id, name, job_type, config, created_by, started_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING id
"""
SELECT_RUN = """
SELECT r.name, r.job_type, r.config, r.state, r.error, r.created_by, r.started_at, r.finished_at, p.name
FROM runs AS r JOIN projects AS p ON p.id = r.project_id WHERE r.id = ?
"""
INSERT_OUTPUT = "INSERT INTO run_outputs(run_id, version_id) VALUES (?, ?) ON CONFLICT DO NOTHING"
INSERT_INPUT = "INSERT INTO run_inputs(run_id, version_id) VALUES (?, ?) ON CONFLICT DO NOTHING"
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


def start_run(
    reg: Registry, project: str | None, *, job_type: str | None, name: str | None, config: dict[str, Any] | None
) -> Run:
    """Insert a run in state ``running``; its name defaults to ``<job_type or run>-<id>``."""
    project_name = check_project(project or DEFAULT_PROJECT)
    config_json = dump_json(check_metadata(config))
    if job_type is not None:
        _check_label("job_type", job_type)
    if name is not None:
        _check_label("run name", name)
    now = format_time(reg._now())
    with reg._db.write() as con:
        project_id = ensure_project(con, project_name, now)
        run_id = con.execute(INSERT_RUN, (project_id, name or "", job_type, config_json, reg.user, now)).fetchone()[0]  # type: ignore[index]
        if not name:
            con.execute("UPDATE runs SET name = ? WHERE id = ?", (f"{job_type or 'run'}-{run_id}", run_id))
    return Run(reg, run_id)


def _check_label(kind: str, value: object) -> None:
    if not isinstance(value, str) or not 1 <= len(value) <= 128 or any(ord(c) < 32 for c in value):
        raise InvalidName(f"{kind} must be 1-128 characters without control characters: {value!r}")
    check_text(value, kind)


class Run:
    """A unit of work: ``with reg.init(project="zoo", job_type="train") as run: ...``.

    Leaving the block marks it ``finished``, or ``crashed`` (with the error) when the block
    raises.
    """

    def __init__(self, reg: Registry, run_id: int) -> None:
        self._reg = reg
        self.id = run_id
        self.refresh()

    def refresh(self) -> None:
        """Reload the run's fields from the database."""
        with self._reg._db.read() as con:
            row = con.execute(SELECT_RUN, (self.id,)).fetchone()
        if row is None:
            raise NotFound(f"no run with id {self.id}")
        self.name: str = row[0]
        self.job_type: str | None = row[1]
        self.config: dict[str, Any] = json.loads(row[2])
        self.state: str = row[3]
        self.error: str | None = row[4]
        self.created_by: str = row[5]
        self.started_at: datetime = parse_time(row[6])
        self.finished_at: datetime | None = None if row[7] is None else parse_time(row[7])
        self.project: str = row[8]

    def __repr__(self) -> str:
        return f"<Run {self.project}/{self.name} state={self.state!r}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Run) and other._reg is self._reg and other.id == self.id

    def __hash__(self) -> int:
        return hash((id(self._reg), "run", self.id))

    def __enter__(self) -> Run:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.finish(error=exc)

    def finish(self, *, error: BaseException | None = None) -> None:
        """Mark the run ``finished`` (or ``crashed`` with ``error``); a second call changes nothing."""
        state, message = ("crashed", f"{type(error).__name__}: {error}") if error is not None else ("finished", None)
        with self._reg._db.write() as con:
            con.execute(
                "UPDATE runs SET state = ?, error = ?, finished_at = ? WHERE id = ? AND state = 'running'",
                (state, message, format_time(self._reg._now()), self.id),
            )
        self.refresh()

    def _check_running(self) -> None:
        if self.state != "running":
            raise ArtregError(f"run {self.project}/{self.name} is {self.state}; start a new run to log or use artifacts")

    # -- edges -------------------------------------------------------------------------

    def log_artifact(
        self,
        artifact: Artifact | str | os.PathLike[str],
        *,
        name: str | None = None,
        type: str | None = None,
        aliases: Sequence[str] | None = None,
        tags: Sequence[str] | None = None,
        progress: ProgressCallback | None = None,
    ) -> ArtifactVersion:
        """Log into the run's project and record the run as a producer (also when it dedups)."""
        self._check_running()
        return self._reg._log(
            artifact, project=self.project, name=name, type=type, aliases=aliases, tags=tags, run_id=self.id, progress=progress
        )

    def use_artifact(self, ref: str | ArtifactVersion) -> ArtifactVersion:
        """Resolve a reference (default project: the run's) and record the run as a consumer."""
        from ._versions import ArtifactVersion

        self._check_running()
        version = ref if isinstance(ref, ArtifactVersion) else self._reg.artifact(ref, project=self.project)
        if version._reg is not self._reg:
            raise InvalidName(f"{version.qualified_name} belongs to another registry")
        with self._reg._db.write() as con:
            state = con.execute("SELECT state FROM versions WHERE id = ?", (version.id,)).fetchone()
            if state is None or state[0] != "committed":
                raise NotFound(f"{version.qualified_name} has been deleted")
            con.execute(INSERT_INPUT, (self.id, version._content_id))  # a use through a link counts for its source
        return version

    def link_artifact(self, version: ArtifactVersion, target: str, *, aliases: Sequence[str] | None = None) -> ArtifactVersion:
        """Link a version into a registry collection (see ``ArtifactVersion.link``)."""
        self._check_running()
        return version.link(target, aliases=aliases)

    def logged_artifacts(self) -> list[ArtifactVersion]:
        """Live versions this run logged, in the order they were first created."""
        return self._versions(SELECT_OUTPUTS)

    def used_artifacts(self) -> list[ArtifactVersion]:
        """Live versions this run used."""
        return self._versions(SELECT_INPUTS)

    def _versions(self, sql: str) -> list[ArtifactVersion]:
        from ._versions import ArtifactVersion

        with self._reg._db.read() as con:
            ids = [r[0] for r in con.execute(sql, (self.id,))]
            return [ArtifactVersion(self._reg, i, con=con) for i in ids]


def runs_of(reg: Registry, version_id: int, *, producers: bool) -> list[Run]:
    """Runs that logged (``producers``) or used a version, oldest first."""
    with reg._db.read() as con:
        ids = [r[0] for r in con.execute(SELECT_PRODUCERS if producers else SELECT_CONSUMERS, (version_id,))]
    return [Run(reg, i) for i in ids]
