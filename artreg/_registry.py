"""The façade: ``artreg.open()`` and the ``Registry`` that composes the other modules."""

from __future__ import annotations

import getpass
import os
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, Literal

import platformdirs

from ._audit import AuditLog
from ._automations import Automations
from ._bundle import CopyReport
from ._bundle_read import bundle_input
from ._cache import CACHE_DIR, Cache
from ._catalog import Catalog, create_registry, find_registry, list_registries
from ._clock import format_time
from ._context import Context
from ._copy import BundleSource, copy_between, export_to
from ._draft import Artifact
from ._errors import FileNotFound, InvalidName, NotFound, TypeMismatch
from ._export import Chosen
from ._filters import version_ids
from ._gc import CheckReport, GcReport, check, gc
from ._import import import_stream
from ._lifecycle import INHERIT, TTL, expire, ttl_columns
from ._log_artifact import log_draft
from ._names import as_list, at_most_int64, check_project, check_user
from ._paths import snapshot
from ._progress import ProgressCallback
from ._projects import NOT_A_REGISTRY
from ._runs import Run, start_run
from ._search import DEFAULT_LIMIT, SearchHit, search
from ._versions import ArtifactVersion, Collection, find_collection, list_collections, resolve
from ._webhooks import Deliverer, DeliveryReport, RetryPolicy, deliver
from .references import default_name, is_uri
from .storage._blob_cache import CacheUsage, parse_size
from .storage._catalog_open import is_catalog_url, open_catalog
from .storage._db import Database
from .storage._location import locate
from .storage._s3 import parse_location
from .storage._s3_gc import DEFAULT_GRACE
from .storage._storage import MoveReport, cache_usage, move_blobs, open_store, prune_cache

DEFAULT_INLINE_LIMIT = 64 * 1024
# A project's settings, made with the project when it is not there yet.
SET_PROJECT = {
    "default_ttl_seconds": "INSERT INTO projects(name, created_at, default_ttl_seconds) VALUES (?, ?, ?) "
                           "ON CONFLICT(name) DO UPDATE SET default_ttl_seconds = excluded.default_ttl_seconds",
    "keep_versions": "INSERT INTO projects(name, created_at, keep_versions) VALUES (?, ?, ?) "
                     "ON CONFLICT(name) DO UPDATE SET keep_versions = excluded.keep_versions",
}


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
    create: bool = True,
    read_only: bool = False,
    blobs: str | None = None,
    cache_size: int | str | None = None,
) -> Registry:
    """Open the registry at ``path``, creating it when it is missing and ``create`` is true.

    ``path`` is a folder (``registry.db`` and ``objects/`` inside it), a registry file
    (``<file>.objects/`` beside it), or ``":memory:"``; it is made absolute once, here.
    An existing folder or file is used as it is; a new path becomes a file when its name
    ends ``.db``, ``.sqlite``, ``.sqlite3`` or ``.db3``, else a folder. None means
    ``$ARTREG_HOME``, else the platform's user data folder. Blobs up to ``inline_limit``
    bytes live in the database. ``clock`` returns the current time (for tests).

    Raises NotFound when nothing is at ``path`` and ``create`` is false, SchemaError when
    what is there is not an artreg registry (another file, a device, a newer schema).

    ``read_only=True`` opens an existing registry so that nothing can write to it: SQLite
    itself refuses writes on the connection, and every changing call raises
    PermissionDenied before it starts. It creates nothing (NotFound when the registry is
    missing) and needs a registry of this artreg's schema (SchemaError otherwise).

    ``blobs="s3://bucket/prefix"`` keeps the larger blobs in that bucket prefix (SPEC §17;
    needs ``artreg[s3]``). It is remembered when the registry is created, so later opens
    need not repeat it; one that names another location raises AlreadyExists (``artreg
    blobs move`` moves an existing registry's blobs). ``objects/`` is then a cache of the
    bucket, bounded by ``cache_size`` (bytes, or ``"50GB"``, ``"500MiB"``; remembered in the
    cache folder; least recently used blobs leave first).
    """
    return Registry(path, user=user, inline_limit=inline_limit, clock=clock, create=create, read_only=read_only,
                    blobs=blobs, cache_size=cache_size)


class Registry:
    """One registry file (one organisation): projects, collections, versions and blobs."""

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        user: str | None = None,
        inline_limit: int = DEFAULT_INLINE_LIMIT,
        clock: Callable[[], datetime] | None = None,
        create: bool = True,
        read_only: bool = False,
        blobs: str | None = None,
        cache_size: int | str | None = None,
    ) -> None:
        if not isinstance(inline_limit, int) or inline_limit < 0:
            raise InvalidName(f"inline_limit must be a non-negative number of bytes, not {inline_limit!r}")
        self.user = check_user(user if user is not None else default_user())
        self._clock = clock or (lambda: datetime.now(timezone.utc))
        memory = path is not None and os.fspath(path) == ":memory:"
        if read_only and memory:
            raise InvalidName("a new in-memory registry is empty: it cannot be opened read-only")
        create = create and not read_only
        self.read_only = read_only
        self.objects: Path | None
        if path is None and is_catalog_url(default_home()):
            path = default_home()  # ARTREG_HOME=postgresql://...: the team catalog is the default registry
        if path is not None and is_catalog_url(os.fspath(path)):
            home = default_home()  # the catalog's local caches go under it, unless it is the catalog itself
            local = platformdirs.user_data_dir("artreg") if is_catalog_url(home) else home
            self._db, self.objects, location = open_catalog(os.fspath(path), blobs, self.user, local, create=create, read_only=read_only)
            self.path = self._db.path
        else:
            location = None if blobs is None else parse_location(blobs)
            if memory and (location is not None or cache_size is not None):
                raise InvalidName("a :memory: registry keeps every blob inline: blobs= and cache_size= need a registry on disk")
            where = locate(default_home() if path is None else path, create=create)
            settings = {"created_by": self.user}
            if where.objects is not None:
                settings["objects"] = where.objects
            if location is not None:
                settings["blobs"] = location.url
            self._db = Database(where.database, initial_settings=settings, create=create or where.objects is None, read_only=read_only)
            self.path = where.database
            # Where the blob files are is fixed when the file is created, so a registry opened
            # by its folder or by its .db path finds the same objects.
            stored = self._db.setting("objects")
            self.objects = None if stored is None else Path(where.database).parent / stored
        limit = parse_size(cache_size)
        try:
            self._store = open_store(self._db, self.objects, inline_limit, requested=location, cache_size=limit, user=self.user,
                                     create=not read_only)
        except BaseException:
            self._db.close()
            raise
        self._cache = Cache(None if self.objects is None else self.objects / CACHE_DIR, self._store.lock)
        # What the code below the handles is handed instead of this object.
        self._ctx = Context(self._db, self._store, self._cache, self.user, self._clock)
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
        if self._store.files is not None:
            self._store.files.close()
        self._db.close()
        self._cache.close()

    def _now(self) -> datetime:
        return self._ctx.now()

    @property
    def created_by(self) -> str | None:
        """The user who created this registry file."""
        return self._db.setting("created_by")

    @property
    def uuid(self) -> str:
        """This registry file's UUID, made when it was created (or first opened by an artreg that has copies).

        Copies use it to recognise what came from where (SPEC §16). A file copied whole keeps it.
        """
        found = self._db.setting("registry_id")
        assert found is not None  # the migration that made copies possible gives every file one
        return found

    # -- logging -----------------------------------------------------------------------

    def log_artifact(
        self,
        artifact_or_path: Artifact | str | os.PathLike[str],
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
        return self._log(
            artifact_or_path, project=project, name=name, type=type, aliases=aliases, tags=tags, run_id=None, progress=progress
        )

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
        version_id = log_draft(self._ctx, draft, project=project, aliases=aliases, tags=tags, run_id=run_id, progress=progress)
        version = ArtifactVersion(self, version_id)
        draft._freeze(version)
        return version

    def init(
        self,
        project: str | None = None,
        *,
        entity: str | None = None,
        job_type: str | None = None,
        name: str | None = None,
        config: dict[str, Any] | None = None,
        id: str | None = None,
        group: str | None = None,
        resume: bool | str | None = None,
    ) -> Run:
        """Start a run (a context manager): it records what it logs and uses, for lineage.

        W&B's names: ``entity`` is recorded (one registry file is one organisation),
        ``id`` is the run's string id (resuming that run with ``resume="allow"``), ``group``
        is the default ``distributed_id`` of its upserts. A run never finished is marked
        ``finished`` at interpreter exit, or ``crashed`` on an uncaught exception.
        """
        return start_run(
            self, project, entity=entity, job_type=job_type, name=name, config=config, id=id, group=group, resume=resume
        )

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

    def _set_project(self, project: str, column: Literal["default_ttl_seconds", "keep_versions"], value: object) -> None:
        name = check_project(project)
        now = format_time(self._now())
        with self._db.write() as con:
            con.execute(SET_PROJECT[column], (name, now, value))

    def expire(self, now: datetime | None = None, *, dry_run: bool = False) -> list[ArtifactVersion]:
        """Soft-delete versions whose TTL has run out at ``now`` (default: the clock), and apply
        retention policies; returns the versions deleted, oldest first.

        Expiry is the user's instruction, so it deletes a version even when it holds aliases
        (they go with it, and ``latest`` moves back). ``dry_run`` does the same work in a
        transaction it rolls back, so the answer is exactly what a real run would delete.
        """
        moment = now or self._now()
        try:
            with self._ctx.write() as tx:
                ids = expire(tx, moment)
                if dry_run:
                    raise _RollBack(ids)
        except _RollBack as preview:
            ids = preview.ids
        return [ArtifactVersion(self, i) for i in sorted(ids)]

    def gc(self, *, dry_run: bool = False, grace: timedelta = DEFAULT_GRACE) -> GcReport:
        """Remove blobs (inline and files) that no live version references, and orphan files.

        Also evicts from the cache what no live version names (copies of inline blobs and of
        references, snapshots of deleted versions) and leftovers of interrupted writes.
        With blobs in a bucket: objects there are deleted only when this catalog owns the
        prefix, and only those older than ``grace`` (by the registry's clock) that no
        catalog has claimed; on a prefix it shares without owning it deletes nothing there
        and says so in ``notes``.
        """
        if not isinstance(grace, timedelta) or grace < timedelta(0):
            raise InvalidName(f"grace must be a non-negative timedelta, not {grace!r}")
        return gc(self._store, self._cache, dry_run=dry_run, now=self._now(), grace=grace)

    def check(self, *, fix: bool = False) -> CheckReport:
        """Verify the database, every referenced blob's presence and digest (in the bucket, for
        blobs kept there), the cached copies, and list orphan files.

        ``fix=True`` removes orphan files and damaged cache copies (they are made again on next use).
        """
        return check(self._store, self._cache, fix=fix)

    # -- where the blobs are -----------------------------------------------------------

    @property
    def blobs(self) -> str | None:
        """``s3://bucket/prefix`` when the larger blobs are in a bucket; None when they are in ``objects/``."""
        return self._db.setting("blobs")

    def move_blobs(self, url: str) -> MoveReport:
        """Send every blob file to the bucket prefix ``url`` and keep the blobs there from now on.

        ``objects/`` becomes the bucket's cache (its files stay as cached copies).
        Interrupted, nothing has changed; run it again to finish. Needs no other process
        logging meanwhile (it holds the store lock); those that opened the registry before
        must open it again.
        """
        return move_blobs(self._store, url, self.user)

    def cache_usage(self) -> CacheUsage:
        """Files and bytes in the local cache of the bucket, and its bound."""
        return cache_usage(self._store)

    def prune_cache(self, size: int | str | None = None) -> CacheUsage:
        """Evict least recently used cached blobs down to ``size`` (default: the bound; 0 empties it)."""
        return prune_cache(self._store, parse_size(size))

    # -- moving versions between registries --------------------------------------------

    def copy_to(
        self,
        other: Registry,
        refs: Sequence[str | ArtifactVersion] | None = None,
        *,
        keep_destination_aliases: bool = False,
        progress: ProgressCallback | None = None,
    ) -> CopyReport:
        """Copy versions into another registry: ``refs`` (None: every live version and link the user can see).

        Sends only what ``other`` lacks (versions it has from an earlier copy travel as their
        aliases and tags, blobs it holds are not sent) and replays the rest there as
        ``import_bundle`` does, as ``other``'s user. Returns ``other``'s report.
        """
        return copy_between(self._ctx, other._ctx, self._chosen(refs), keep_destination_aliases=keep_destination_aliases, progress=progress)

    def export_bundle(
        self,
        path_or_binary_file: str | os.PathLike[str] | BinaryIO,
        refs: Sequence[str | ArtifactVersion] | None = None,
        basis: Registry | BundleSource | Sequence[BundleSource] | None = None,
        *,
        progress: ProgressCallback | None = None,
    ) -> CopyReport:
        """Write a bundle of ``refs`` (None: every live version and link the user can see) to a file.

        A reference to a version also takes its links; one to a link also takes its source.
        The runs that logged or used them come too, with the lineage edges between them. A
        path is written whole or not at all (a temporary file, fsynced, renamed at the end); a
        file object gets the stream as it is made (``sys.stdout.buffer`` works). ``basis`` is
        what the receiver holds already: bundles it has imported (paths or binary files), or a
        registry (the receiver's, or a copy of it); that is left out, and the receiver refuses
        this bundle until it holds it.
        """
        chosen = self._chosen(refs)
        return export_to(self._ctx, path_or_binary_file, chosen, basis._ctx if isinstance(basis, Registry) else basis, progress)

    def import_bundle(
        self,
        path_or_binary_file: str | os.PathLike[str] | BinaryIO,
        *,
        keep_destination_aliases: bool = False,
        progress: ProgressCallback | None = None,
    ) -> CopyReport:
        """Import a bundle (a path, or a binary file such as ``sys.stdin.buffer``): all of it, or nothing.

        The whole stream is read and checked first (every blob against its digest); then one
        transaction replays it as this registry's user: indices are this registry's, a version
        found here already (copied before, or with the same content in its collection) is
        reused, aliases move here as a log would move them (``keep_destination_aliases``: an
        alias held by another version here stays), protected aliases need the registry's
        admin role. A bad bundle raises IntegrityError and changes nothing; so does a refusal.
        """
        with bundle_input(path_or_binary_file) as src:
            return import_stream(self._ctx, src, keep_destination_aliases=keep_destination_aliases, progress=progress)

    def _chosen(self, refs: Sequence[str | ArtifactVersion] | None) -> list[Chosen] | None:
        """The versions ``refs`` name here, as (id, linked version's id) pairs for a bundle."""
        if refs is None:
            return None
        chosen: list[Chosen] = []
        for ref in as_list("refs", refs):
            version = ref if isinstance(ref, ArtifactVersion) else self.artifact(ref) if isinstance(ref, str) else None
            if version is None:
                raise InvalidName(f"refs must be references or ArtifactVersion objects, not {ref!r}")
            if version._reg is not self:
                raise InvalidName(f"{version.qualified_name} belongs to another registry")
            chosen.append((version.id, version._source_id))
        return chosen

    # -- reading -----------------------------------------------------------------------

    def artifact(self, name: str, type: str | None = None, *, project: str | None = None) -> ArtifactVersion:
        """The version a reference names: ``[entity/][project/]name[:vN|alias]`` (default ``latest``).

        ``type``, when given, must be the version's type (TypeMismatch otherwise), as W&B checks it.
        """
        version = resolve(self, name, project=project)
        if type is not None and type != version.type:
            raise TypeMismatch(f"{version.qualified_name} has type {version.type!r}, not {type!r}")
        return version

    def snapshot(self, ref: str | ArtifactVersion, root: str | os.PathLike[str] | None = None) -> str:
        """A folder of symbolic links laid out as a version's manifest, each naming the entry's
        read-only local file (see ``ArtifactVersion.path``); returns its absolute path.

        The default root is ``snapshots/<version digest>`` in the registry's cache (``objects/cache/``),
        shared by every version and link with the same content. A folder already there that
        holds exactly the right links is reused as it is (one ``readlink`` per entry, no
        reads); otherwise a new one is built beside it and swapped in whole, so a reader
        never sees it half made. A ``root`` holding anything but links and folders is never
        replaced (AlreadyExists). Missing versions and entries raise FileNotFound.
        """
        try:
            version = ref if isinstance(ref, ArtifactVersion) else self.artifact(ref)
        except NotFound as exc:
            if isinstance(exc, FileNotFound):
                raise
            raise FileNotFound(str(exc)) from exc
        version._require_download()
        return snapshot(self._ctx, version.digest, version.files(), root)

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
        with self._db.read() as con:
            ids = version_ids(self._ctx, con, filter, registry=registry, project=project, order=order, limit=limit)
            return [ArtifactVersion(self, i, con=con) for i in ids]

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
        return search(self._ctx, text, kinds=kinds, limit=limit)

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

