"""The façade: ``artreg.open()`` and the ``Registry`` that composes the other modules."""

from __future__ import annotations

import getpass
import os
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import TracebackType
from typing import Any

import platformdirs

from ._audit import AuditLog
from ._automations import Automations
from ._blobs import BlobStore
from ._catalog import Catalog, create_registry, find_registry, list_registries
from ._clock import format_time
from ._db import Database
from ._draft import Artifact
from ._errors import InvalidName, NotFound
from ._filters import find_versions
from ._gc import CheckReport, GcReport, check, gc
from ._lifecycle import INHERIT, TTL, expire, ttl_columns
from ._log_artifact import log_draft
from ._names import at_most_int64, check_project
from ._progress import ProgressCallback
from ._references import default_name, is_uri
from ._runs import Run, start_run
from ._search import DEFAULT_LIMIT, SearchHit, search
from ._versions import NOT_A_REGISTRY, ArtifactVersion, Collection, actor, find_collection, list_collections, resolve
from ._webhooks import Deliverer, DeliveryReport, RetryPolicy, deliver

DEFAULT_INLINE_LIMIT = 64 * 1024
DB_NAME = "registry.db"


def default_home() -> str:
    """``$ARTREG_HOME``, else the platform's per-user data folder for artreg."""
    return os.environ.get("ARTREG_HOME") or platformdirs.user_data_dir("artreg")


def default_user() -> str:
    """``$ARTREG_USER``, else the login name."""
    user = os.environ.get("ARTREG_USER")
    if user:
        return user
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def open(
    path: str | os.PathLike[str] | None = None,
    *,
    user: str | None = None,
    inline_limit: int = DEFAULT_INLINE_LIMIT,
    clock: Callable[[], datetime] | None = None,
) -> Registry:
    """Open (creating what is missing) the registry at ``path``.

    ``path`` is a folder (``registry.db`` and ``objects/`` inside it), a ``.db`` or
    ``.sqlite`` file (``<file>.objects/`` beside it), or ``":memory:"``. None means
    ``$ARTREG_HOME``, else the platform's user data folder. Blobs up to ``inline_limit``
    bytes live in the database. ``clock`` returns the current time (for tests).
    """
    return Registry(path, user=user, inline_limit=inline_limit, clock=clock)


class Registry:
    """One registry file (one organisation): projects, collections, versions and blobs."""

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        user: str | None = None,
        inline_limit: int = DEFAULT_INLINE_LIMIT,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        if not isinstance(inline_limit, int) or inline_limit < 0:
            raise InvalidName(f"inline_limit must be a non-negative number of bytes, not {inline_limit!r}")
        self.user = user if user is not None else default_user()
        if not self.user or any(ord(c) < 32 or 0xD800 <= ord(c) <= 0xDFFF for c in self.user):
            raise InvalidName(f"user name must be non-empty without control characters: {self.user!r}")
        self._clock = clock or (lambda: datetime.now(timezone.utc))
        db_path, objects = _layout(path)
        settings = {"created_by": self.user}
        if objects is not None:
            settings["objects"] = objects
        self._db = Database(db_path, initial_settings=settings)
        self.path = db_path
        # Where the blob files are is fixed when the file is created, so a registry opened
        # by its folder or by its .db path finds the same objects.
        stored = self._db.setting("objects")
        self.objects = None if stored is None else Path(db_path).parent / stored
        self._store = BlobStore(self._db, self.objects, inline_limit)
        self.audit = AuditLog(self._db)
        self.automations = Automations(self)
        self._deliverer: Deliverer | None = None

    def __repr__(self) -> str:
        return f"<Registry {self.path!r} user={self.user!r}>"

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Stop the background deliverer, close the database connections; the object is unusable afterwards.

        Callback automations go with the object; webhook events not yet delivered stay in the
        outbox for the next ``deliver()``.
        """
        self.stop_delivery()
        self._db.close()

    def _now(self) -> datetime:
        return self._clock()

    @property
    def created_by(self) -> str | None:
        """The user who created this registry file."""
        return self._db.setting("created_by")

    # -- logging -----------------------------------------------------------------------

    def log_artifact(
        self,
        artifact: Artifact | str | os.PathLike[str],
        *,
        project: str | None = None,
        name: str | None = None,
        type: str | None = None,
        aliases: Sequence[str] | None = None,
        tags: Sequence[str] | None = None,
        progress: ProgressCallback | None = None,
    ) -> ArtifactVersion:
        """Log a draft (or a local file or folder, or a reference URI) as the next version of its collection.

        A string like ``s3://bucket/prefix`` becomes a draft of one reference
        (``add_reference`` with its defaults); ``name`` defaults to the URI's last segment.

        Content identical to the collection's ``latest`` creates no version: the existing
        one is returned with the aliases and tags applied.
        """
        return self._log(artifact, project=project, name=name, type=type, aliases=aliases, tags=tags, run_id=None, progress=progress)

    def _log(
        self,
        artifact: Artifact | str | os.PathLike[str],
        *,
        project: str | None,
        name: str | None,
        type: str | None,
        aliases: Sequence[str] | None,
        tags: Sequence[str] | None,
        run_id: int | None,
        progress: ProgressCallback | None = None,
    ) -> ArtifactVersion:
        draft = artifact if isinstance(artifact, Artifact) else _draft_from_path(artifact, name, type)
        return log_draft(self, draft, project=project, aliases=aliases, tags=tags, run_id=run_id, progress=progress)

    def init(
        self,
        project: str | None = None,
        *,
        job_type: str | None = None,
        name: str | None = None,
        config: dict[str, Any] | None = None,
    ) -> Run:
        """Start a run (a context manager): it records what it logs and uses, for lineage."""
        return start_run(self, project, job_type=job_type, name=name, config=config)

    # -- lifecycle ---------------------------------------------------------------------

    def set_default_ttl(self, project: str, ttl: timedelta | None) -> None:
        """The TTL of the project's versions whose ttl is ``artreg.INHERIT`` (None: never expire)."""
        policy, seconds = ttl_columns(ttl)
        if policy == "inherit":
            raise InvalidName("a project's default TTL is a timedelta or None, not INHERIT")
        self._set_project(project, "default_ttl_seconds", seconds)

    def set_retention(self, project: str, keep: int | None | TTL, *, collection: str | None = None) -> None:
        """Keep only the newest ``keep`` alias-free versions of each collection (None: keep all).

        Applied on every log into the collection and by ``expire()``. A collection's own
        policy (``collection=``) overrides its project's; ``keep=artreg.INHERIT`` gives a
        collection its project's policy back.
        """
        if keep is INHERIT and collection is not None:
            own, count = 0, None
        elif keep is None or (isinstance(keep, int) and not isinstance(keep, bool) and keep >= 0):
            own, count = 1, None if keep is None else at_most_int64(keep)
        else:
            raise InvalidName(f"keep must be a non-negative number of versions or None (or INHERIT for a collection), not {keep!r}")
        if collection is None:
            self._set_project(project, "keep_versions", count)
            return
        coll = find_collection(self, project, collection)
        with self._db.write() as con:
            con.execute("UPDATE collections SET keep_versions = ?, keep_own = ? WHERE id = ?", (count, own, coll.id))

    def _set_project(self, project: str, column: str, value: object) -> None:
        name = check_project(project)
        now = format_time(self._now())
        with self._db.write() as con:
            con.execute(
                f"INSERT INTO projects(name, created_at, {column}) VALUES (?, ?, ?) "
                f"ON CONFLICT(name) DO UPDATE SET {column} = excluded.{column}",
                (name, now, value),
            )

    def expire(self, now: datetime | None = None, *, dry_run: bool = False) -> list[ArtifactVersion]:
        """Soft-delete versions whose TTL has run out at ``now`` (default: the clock), and apply
        retention policies; returns the versions deleted, oldest first.

        Expiry is the user's instruction, so it deletes a version even when it holds aliases
        (they go with it, and ``latest`` moves back). ``dry_run`` does the same work in a
        transaction it rolls back, so the answer is exactly what a real run would delete.
        """
        moment = now or self._now()
        who = actor(self)
        try:
            with self._db.write() as con:
                ids = expire(con, who, moment)
                if dry_run:
                    raise _RollBack(ids)
        except _RollBack as preview:
            ids = preview.ids
        return [ArtifactVersion(self, i) for i in sorted(ids)]

    def gc(self, *, dry_run: bool = False) -> GcReport:
        """Remove blobs (inline and files) that no live version references, and orphan files."""
        return gc(self._store, dry_run=dry_run)

    def check(self, *, fix: bool = False) -> CheckReport:
        """Verify the database, every referenced blob's presence and digest, and list orphan files."""
        return check(self._store, fix=fix)

    # -- reading -----------------------------------------------------------------------

    def artifact(self, ref: str, *, project: str | None = None) -> ArtifactVersion:
        """The version a reference names: ``[entity/][project/]name[:vN|alias]`` (default ``latest``)."""
        return resolve(self, ref, project=project)

    def artifacts(self, project: str, name: str) -> list[ArtifactVersion]:
        """The live versions of ``project/name``, newest first."""
        return find_collection(self, project, name).versions()

    def versions(
        self,
        filter: dict[str, Any] | None = None,
        *,
        registry: str | None = None,
        project: str | None = None,
        order: str | None = None,
        limit: int | None = None,
    ) -> list[ArtifactVersion]:
        """Live versions matching a W&B/MongoDB-style ``filter``, in one SQL query.

        ``{"metadata.accuracy": {"$gte": 0.9}, "alias": "production"}``: fields ``name``
        (the collection's), ``type``, ``alias``, ``tag``, ``created_at``, ``size`` and
        ``metadata.<dotted.key>``; operators ``$eq $ne $gt $gte $lt $lte $in $nin $regex
        $exists $and $or`` (see ``artreg._filters`` for the exact semantics). Without
        ``registry`` or ``project`` the versions of every project are searched, not
        registries' links (as ``collections()`` lists). ``order`` is a field (``-`` first
        for descending; ``index`` and ``metadata.<key>`` work too), default newest first.
        Unknown fields or operators and ill-typed operands raise InvalidName.
        """
        return find_versions(self, filter, registry=registry, project=project, order=order, limit=limit)

    def collection(self, ref: str) -> Collection:
        """The collection ``project/name``."""
        project, slash, name = ref.rpartition("/")
        if not slash:
            raise InvalidName(f"collection reference must be 'project/name': {ref!r}")
        return find_collection(self, project.rpartition("/")[2], name)

    def collections(self, project: str | None = None, *, type: str | None = None) -> list[Collection]:
        """Collections, optionally of one project and one type, by project then name."""
        return list_collections(self, project, type)

    def projects(self) -> list[str]:
        """Project names, sorted (registries are reached through ``registries()``)."""
        with self._db.read() as con:
            return [r[0] for r in con.execute(f"SELECT name FROM projects AS p WHERE {NOT_A_REGISTRY} ORDER BY name")]

    # -- search ------------------------------------------------------------------------

    def search(self, text: str, *, kinds: Iterable[str] | None = None, limit: int = DEFAULT_LIMIT) -> list[SearchHit]:
        """Registries, collections and versions whose names, descriptions, aliases or tags match ``text``.

        Best first (bm25), at most ``limit`` hits. Words match whole words; ``zoo*`` is a
        prefix; ``"a phrase"``, ``AND``, ``OR``, ``NOT`` and parentheses work as in SQLite
        FTS5; several words must all match one field. ``kinds`` narrows to ``registry``,
        ``collection`` and/or ``version``. Registries the user has no role in, and their
        contents, are left out. Unbalanced quotes or operators raise InvalidName.
        """
        return search(self, text, kinds=kinds, limit=limit)

    # -- automations -------------------------------------------------------------------

    def deliver(self, now: datetime | None = None, *, retry: RetryPolicy | None = None) -> DeliveryReport:
        """POST the webhook events that are due at ``now`` (default: the clock), oldest first.

        A 2xx answer delivers an event; any other outcome is recorded as an attempt and
        retried with exponential backoff until ``retry.max_attempts`` (default
        ``reg.automations.retry``), then the event is marked failed. Events stay in the
        outbox until then, across crashes and restarts: delivery is at least once.
        """
        return deliver(self._db, now or self._now(), retry or self.automations.retry)

    def start_delivery(self, interval: float = 1.0) -> None:
        """Deliver in a background thread: every ``interval`` seconds, and right after a
        change made through this object queues an event. ``close()`` stops it."""
        if self._deliverer is not None:
            return
        self._deliverer = Deliverer(self.deliver, interval)
        self.automations.wake = self._deliverer.wake

    def stop_delivery(self) -> None:
        """Stop the background deliverer (after the POST under way, if any)."""
        deliverer, self._deliverer = self._deliverer, None
        if deliverer is not None:
            self.automations.wake = None
            deliverer.stop()

    # -- registries --------------------------------------------------------------------

    def registry(self, name: str) -> Catalog:
        """The registry ``name`` (``model`` and ``dataset`` always exist)."""
        return find_registry(self, name)

    def registries(self) -> list[Catalog]:
        """The registries the acting user can see, by name."""
        return list_registries(self)

    def create_registry(
        self,
        name: str,
        *,
        artifact_types: Sequence[str] | None = None,
        description: str | None = None,
        visibility: str = "organization",
    ) -> Catalog:
        """A new registry accepting ``artifact_types`` (None: every type); its creator is its admin."""
        return create_registry(self, name, artifact_types=artifact_types, description=description, visibility=visibility)


class _RollBack(Exception):
    """Raised inside a transaction to undo it, carrying what it computed."""

    def __init__(self, ids: list[int]) -> None:
        super().__init__("dry run")
        self.ids = ids


def _layout(path: str | os.PathLike[str] | None) -> tuple[str, str | None]:
    """(database path, objects folder name beside it) for an ``open()`` argument; creates folders."""
    if path is not None and os.fspath(path) == ":memory:":
        return ":memory:", None
    target = Path(default_home() if path is None else os.fspath(path)).expanduser()
    if target.suffix in (".db", ".sqlite"):
        # "<file>.objects", not a shared "objects": two registry files in one folder must
        # never sweep each other's blobs.
        target.parent.mkdir(parents=True, exist_ok=True)
        return str(target), f"{target.name}.objects"
    target.mkdir(parents=True, exist_ok=True)
    return str(target / DB_NAME), "objects"


def _draft_from_path(path: str | os.PathLike[str], name: str | None, type_: str | None) -> Artifact:
    local = os.fspath(path)
    if is_uri(local):
        draft = Artifact(name or default_name(local), type_ or "unspecified")
        draft.add_reference(local)
        return draft
    draft = Artifact(name or os.path.basename(os.path.normpath(local)), type_ or "unspecified")
    if os.path.isdir(local):
        draft.add_dir(local)
    elif os.path.isfile(local):
        draft.add_file(local)
    else:
        raise NotFound(f"no such file or folder: {local!r}")
    return draft

