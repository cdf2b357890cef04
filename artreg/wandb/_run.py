"""W&B's runs: ``wandb.init()`` and the ``Run`` it returns, and the runs ``Api().run()`` reads.

A ``Run`` wraps an ``artreg.Run`` of the registry in use. Arguments of ``wandb.init`` that
mean nothing offline (``mode``, ``settings``, ``save_code``, ``sync_tensorboard``, ...) are
accepted and ignored. ``wandb.run`` is the current run: the last one ``init`` started, until
it finishes.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from types import TracebackType
from typing import Any

from .. import _draft, _runs
from .._errors import InvalidName, NotFound
from .._versions import ArtifactVersion
from . import _state
from ._artifact import Artifact
from ._rules import _alias_list, registry_target
from .errors import ArtifactNotFoundError, UsageError


class PublicRun:
    """A run as W&B's public API reads it: ``id``, ``name``, ``entity``, ``project``, ``state``, ``config``,
    ``summary``, ``history()``, ``logged_artifacts()``, ``used_artifacts()``."""

    def __init__(self, run: _runs.Run) -> None:
        self._run = run

    def __repr__(self) -> str:
        return f"<Run {'/'.join(self.path)} ({self.state})>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PublicRun) and other._run == self._run

    def __hash__(self) -> int:
        return hash(self._run)

    @property
    def id(self) -> str:
        return self._run.id

    @property
    def name(self) -> str:
        return self._run.name

    @property
    def display_name(self) -> str:
        return self._run.name

    @property
    def entity(self) -> str:
        return self._run.entity or self._run._reg.user

    @property
    def project(self) -> str:
        return self._run.project

    @property
    def path(self) -> list[str]:
        return [self.entity, self.project, self.id]

    @property
    def url(self) -> str:
        return f"artreg://runs/{'/'.join(self.path)}"

    @property
    def state(self) -> str:
        self._run.refresh()
        return self._run.state

    @property
    def group(self) -> str | None:
        return self._run.group

    @property
    def job_type(self) -> str | None:
        return self._run.job_type

    @property
    def config(self) -> Any:
        return self._run.config

    @property
    def summary(self) -> Any:
        return self._run.summary

    @property
    def created_at(self) -> str:
        return self._run.started_at.isoformat()

    @property
    def storage_id(self) -> str:
        return str(self._run._row)

    def history(self, samples: int = 500, keys: list[str] | None = None, x_axis: str = "_step", pandas: bool = True,
                stream: str = "default") -> Any:
        """The logged rows (``_step`` plus the values), oldest first; a pandas DataFrame when pandas is installed and ``pandas``."""
        rows = list(self.scan_history(keys=keys))
        if pandas:
            try:
                import pandas as pd  # type: ignore[import-not-found,import-untyped,unused-ignore]
            except ImportError:
                return rows
            return pd.DataFrame(rows)
        return rows

    def scan_history(self, keys: list[str] | None = None, page_size: int = 1000, min_step: int | None = None,
                     max_step: int | None = None) -> Iterator[dict[str, Any]]:
        """Every logged row in step order (only those with every key of ``keys``, reduced to them and ``_step``)."""
        for row in self._run.history():
            step = row["_step"]
            if (min_step is not None and step < min_step) or (max_step is not None and step >= max_step):
                continue
            if keys is not None:
                if not all(k in row for k in keys):
                    continue
                row = {k: row[k] for k in (*keys, "_step")}
            yield row

    def logged_artifacts(self, per_page: int = 100) -> list[Artifact]:
        return [Artifact._from_version(v, self._run.entity) for v in self._run.logged_artifacts()]

    def used_artifacts(self, per_page: int = 100) -> list[Artifact]:
        return [Artifact._from_version(v) for v in self._run.used_artifacts()]

    def use_artifact(self, artifact: Artifact, use_as: str | None = None) -> Artifact:
        """Record that this run used ``artifact`` (W&B's public ``Run.use_artifact``)."""
        running = self._run.state == "running"
        if not running:
            raise UsageError(f"run {self.id} is {self._run.state}; only a running run records what it uses")
        self._run.use_artifact(artifact._core())
        return artifact


class Run(PublicRun):
    """The run ``wandb.init()`` returns: log metrics and artifacts; a context manager."""

    def __init__(self, run: _runs.Run, *, tags: Sequence[str] | None = None, notes: str | None = None, dir: str | None = None) -> None:
        super().__init__(run)
        self.tags = tuple(tags or ())
        self.notes = notes
        self.dir = os.path.abspath(dir or ".")
        self.disabled = False
        self.offline = False

    def __enter__(self) -> Run:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._run.finish(error=exc)
        if _state.get_current() is self:
            _state.set_current(None)

    @property
    def step(self) -> int:
        return self._run.step

    @property
    def start_time(self) -> float:
        return self._run.started_at.timestamp()

    @property
    def resumed(self) -> bool:
        return False

    # -- metrics -----------------------------------------------------------------------

    def log(self, data: dict[str, Any], step: int | None = None, commit: bool | None = None, sync: bool | None = None) -> None:
        """Record values at a step (see ``artreg.Run.log``); the summary keeps the last value of each key."""
        self._run.log(data, step=step, commit=commit)

    def define_metric(self, name: str, step_metric: str | None = None, step_sync: bool | None = None, hidden: bool | None = None,
                      summary: str | None = None, goal: str | None = None, overwrite: bool | None = None) -> None:
        """Accepted and ignored: charts are not drawn here (the history is kept as logged)."""

    def watch(self, models: Any, criterion: Any = None, log: str | None = "gradients", log_freq: int = 1000, idx: int | None = None,
              log_graph: bool = False) -> None:
        """Accepted and ignored: gradients and parameters are not recorded."""

    def unwatch(self, models: Any = None) -> None:
        """Accepted and ignored."""

    def alert(self, title: str, text: str, level: Any = None, wait_duration: Any = None) -> None:
        """Accepted and ignored: there is no one to alert offline."""

    def mark_preempting(self) -> None:
        """Accepted and ignored."""

    def _label(self, *args: Any, **kwargs: Any) -> None:
        """W&B's telemetry label (integrations call it); nothing to record."""

    def finish(self, exit_code: int | None = None, quiet: bool | None = None) -> None:
        """Mark the run finished (``crashed`` with a non-zero ``exit_code``); it stops being ``wandb.run``."""
        self._run.finish(exit_code)
        if _state.get_current() is self:
            _state.set_current(None)

    # -- artifacts ---------------------------------------------------------------------

    def _as_artifact(self, artifact_or_path: Artifact | str | os.PathLike[str], name: str | None, type: str | None) -> Artifact:
        if isinstance(artifact_or_path, Artifact):
            return artifact_or_path
        if not isinstance(artifact_or_path, (str, os.PathLike)):
            raise InvalidName("You must pass an instance of wandb.Artifact or a valid file path to log_artifact")
        path = os.fspath(artifact_or_path)
        artifact = Artifact(name or f"run-{self.id}-{os.path.basename(os.path.normpath(path))}", type or "unspecified")
        if os.path.isfile(path):
            artifact.add_file(path)
        elif os.path.isdir(path):
            artifact.add_dir(path)
        elif "://" in path:
            artifact.add_reference(path)
        else:
            raise InvalidName("path must be a file, directory or external reference like s3://bucket/path")
        return artifact

    def log_artifact(
        self,
        artifact_or_path: Artifact | str | os.PathLike[str],
        name: str | None = None,
        type: str | None = None,
        aliases: list[str] | None = None,
        tags: list[str] | None = None,
    ) -> Artifact:
        """Log a draft (or a file, folder or URI) as the run's output; the same object becomes the logged version."""
        artifact = self._as_artifact(artifact_or_path, name, type)
        draft: _draft.Artifact | None
        if artifact._version is not None:
            draft = artifact._version.new_draft()  # logging a logged artifact again: its content, by this run
        else:
            draft = artifact._draft if artifact._final else artifact._draft_or_raise("log_artifact")
            if draft is None:
                raise InvalidName(f"{artifact.name} cannot be logged")
        version = self._run.log_artifact(draft, aliases=_alias_list(aliases), tags=_alias_list(tags))
        return artifact._logged(version, self._run.entity)

    def use_artifact(  # type: ignore[override]
        self,
        artifact_or_name: str | Artifact,
        type: str | None = None,
        aliases: list[str] | None = None,
        use_as: str | None = None,
    ) -> Artifact:
        """Declare an artifact an input of the run: a reference string, a logged artifact, or a draft (logged first)."""
        if isinstance(artifact_or_name, Artifact):
            if artifact_or_name._version is None:
                self.log_artifact(artifact_or_name, aliases=aliases)
            self._run.use_artifact(artifact_or_name._core(), type)
            return artifact_or_name
        if not isinstance(artifact_or_name, str):
            raise InvalidName('You must pass an artifact name (e.g. "pedestrian-dataset:v1"), an instance of `wandb.Artifact`, '
                              "or `wandb.Api().artifact()` to `use_artifact`")
        try:
            version = self._run.use_artifact(artifact_or_name, type)
        except NotFound as exc:
            raise ArtifactNotFoundError(f"artifact {artifact_or_name!r} not found in project {self.project!r}: {exc}") from exc
        return Artifact._from_version(version)

    def link_artifact(self, artifact: Artifact, target_path: str, aliases: list[str] | None = None) -> Artifact:
        """Link into a registry collection (a draft is logged by this run first); returns the link."""
        if artifact._version is None:
            self.log_artifact(artifact)
        link = self._run.link_artifact(artifact._core(), registry_target(target_path), _alias_list(aliases))
        return Artifact._from_version(link, artifact._entity)

    def log_model(self, path: str | os.PathLike[str], name: str | None = None, aliases: list[str] | None = None) -> None:
        """Log a file or folder as an artifact of type ``model``."""
        self.log_artifact(path, name=name, type="model", aliases=aliases)

    def use_model(self, name: str) -> str:
        """Use and download a model artifact; returns the file when it holds one, else the folder."""
        artifact = self.use_artifact(name)
        if "model" not in artifact.type.lower():
            raise AssertionError("You can only use this method for 'model' artifacts. For an artifact to be a 'model' artifact, "
                                 "its type property must contain the substring 'model'.")
        path = artifact.download()
        listed = os.listdir(path)
        return os.path.join(path, listed[0]) if len(listed) == 1 else path

    def link_model(self, path: str | os.PathLike[str], registered_model_name: str, name: str | None = None,
                   aliases: list[str] | None = None) -> Artifact | None:
        """Log ``path`` as a model (a new version of ``name`` when its content changed) and link it into the ``model`` registry."""
        if "/" in registered_model_name:
            raise AssertionError("Please provide only the name of the registered model. Do not append the entity or project name.")
        type_ = "model"
        if name is not None:
            with contextlib.suppress(NotFound):
                type_ = self._run._reg.artifact(f"{name}:latest", project=self.project).type
            if "model" not in type_.lower():
                raise AssertionError("You can only use this method for 'model' artifacts.")
        artifact = self.log_artifact(path, name=name, type=type_)
        return self.link_artifact(artifact, f"wandb-registry-model/{registered_model_name}", aliases)

    def _distributed(self, given: str | None) -> str:
        if given is not None:
            return given
        if self._run.group is None:
            raise InvalidName("Cannot upsert artifact unless run is in a group or distributed_id is provided")
        return self._run.group

    def upsert_artifact(self, artifact_or_path: Artifact | str, name: str | None = None, type: str | None = None,
                        aliases: list[str] | None = None, distributed_id: str | None = None) -> Artifact:
        """Add to the version shared by the runs with ``distributed_id`` (default: the run's group); see ``finish_artifact``."""
        artifact = self._as_artifact(artifact_or_path, name, type)
        draft = artifact._draft_or_raise("upsert_artifact")
        dist = self._distributed(distributed_id)
        self._run.upsert_artifact(draft, dist, _alias_list(aliases))
        artifact._final = artifact._pending = True
        artifact.distributed_id = dist
        return artifact

    def finish_artifact(self, artifact_or_path: Artifact | str, name: str | None = None, type: str | None = None,
                        aliases: list[str] | None = None, distributed_id: str | None = None) -> Artifact:
        """Commit what the runs upserted under ``distributed_id`` (plus this artifact's files) as one version."""
        artifact = self._as_artifact(artifact_or_path, name, type)
        draft = artifact._draft
        if draft is None:
            raise InvalidName(f"{artifact.name} is already logged")
        dist = self._distributed(distributed_id)
        version = self._run.finish_artifact(draft, dist, _alias_list(aliases))
        artifact.distributed_id = dist
        return artifact._logged(version, self._run.entity)


class RunDisabled:
    """What ``wandb.init(mode="disabled")`` returns: every call does nothing."""

    def __init__(self) -> None:
        self.id = "disabled"
        self.name = "disabled"
        self.config: dict[str, Any] = {}
        self.summary: dict[str, Any] = {}
        self.disabled = True

    def __getattr__(self, name: str) -> Any:
        return _state.ignore

    def __enter__(self) -> RunDisabled:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def init(
    entity: str | None = None,
    project: str | None = None,
    dir: str | os.PathLike[str] | None = None,
    id: str | None = None,
    name: str | None = None,
    notes: str | None = None,
    tags: Sequence[str] | None = None,
    config: dict[str, Any] | str | None = None,
    config_exclude_keys: list[str] | None = None,
    config_include_keys: list[str] | None = None,
    allow_val_change: bool | None = None,
    group: str | None = None,
    job_type: str | None = None,
    mode: str | None = None,
    force: bool | None = None,
    reinit: bool | str | None = None,
    resume: bool | str | None = None,
    resume_from: str | None = None,
    fork_from: str | None = None,
    save_code: bool | None = None,
    tensorboard: bool | None = None,
    sync_tensorboard: bool | None = None,
    monitor_gym: bool | None = None,
    settings: Any = None,
    anonymous: Any = None,
    *,
    _make_current: bool = True,
) -> Any:
    """Start a run in the registry in use (W&B's ``wandb.init``); it becomes ``wandb.run``.

    ``project`` defaults to ``$WANDB_PROJECT``, else ``uncategorized``; ``entity`` to
    ``$WANDB_ENTITY``. A run already current is finished first (W&B's ``reinit``
    ``"finish_previous"``); ``reinit="return_previous"`` returns it instead and
    ``"create_new"`` leaves it running. ``mode="disabled"`` returns a run that records
    nothing. ``config`` may be a dict or the path of a YAML/JSON file is not supported
    (a string raises InvalidName).
    """
    if mode == "disabled" or os.environ.get("WANDB_MODE") == "disabled":
        return RunDisabled()
    current = _state.get_current()
    if current is not None and _make_current:
        if reinit == "return_previous":
            return current
        if reinit not in ("create_new", True):
            current.finish()
    if isinstance(config, str):
        raise InvalidName("config must be a dict; reading a config file by name is not supported")
    values = dict(config or {})
    if config_include_keys:
        values = {k: v for k, v in values.items() if k in config_include_keys}
    if config_exclude_keys:
        values = {k: v for k, v in values.items() if k not in config_exclude_keys}
    reg = _state.registry()
    core = reg.init(
        project or os.environ.get("WANDB_PROJECT") or None,
        entity=entity or os.environ.get("WANDB_ENTITY") or None,
        job_type=job_type,
        name=name,
        config=values,
        id=id or os.environ.get("WANDB_RUN_ID") or None,
        group=group or os.environ.get("WANDB_RUN_GROUP") or None,
        resume=resume,
    )
    run = Run(core, tags=tags, notes=notes, dir=None if dir is None else os.fspath(dir))
    if _make_current:
        _state.set_current(run)
    return run


def finish(exit_code: int | None = None, quiet: bool | None = None) -> None:
    """Finish the current run, if there is one."""
    run = _state.get_current()
    if run is not None:
        run.finish(exit_code, quiet)


def current_or_raise(what: str) -> Run:
    run = _state.get_current()
    if run is None:
        raise UsageError(f"You must call wandb.init() before wandb.{what}()")
    return run


def find_version(name: str, type: str | None, project: str | None) -> ArtifactVersion:
    """A version by W&B name, with W&B's CommError when it is not there."""
    reg = _state.registry()
    try:
        return reg.artifact(name, type, project=project)
    except NotFound as exc:
        raise ArtifactNotFoundError(f"artifact {name!r} not found: {exc}") from exc
