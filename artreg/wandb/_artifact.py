"""W&B's ``Artifact``: one object that is the draft and, once logged, the version (SPEC §15).

Before logging it holds an ``artreg.Artifact`` draft; logging (``run.log_artifact``,
``save()``, ``link`` of a draft, ``use_artifact`` of a draft) turns the same object into
the logged version, holding the ``artreg.ArtifactVersion``. Properties of a logged artifact
read on a draft raise W&B's ``ArtifactNotLoggedError``; draft methods used on a logged
artifact raise ``ArtifactFinalizedError``. Types are W&B's: ``version`` and
``source_version`` are ``"v0"`` strings, ``created_at`` an ISO string, ``state``
``"PENDING"``/``"COMMITTED"``/``"DELETED"``, ``logged_by()`` one run or None.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, NoReturn

from .. import _draft, _sources
from .._clock import format_time
from .._errors import IntegrityError, InvalidName, NotFound
from .._lifecycle import INHERIT
from .._versions import ArtifactVersion
from . import _state
from ._manifest import REF_SCHEME, ArtifactManifest, ArtifactManifestEntry, EntryNotFoundError, File, names_filter
from ._paging import Paginator
from ._rules import (
    MEDIA_HINT,
    ArtifactTTL,
    PathNotFoundError,
    VerificationError,
    _alias_list,
    _check_policy,
    _extra,
    _local,
    check_name_and_type,
    registry_target,
)
from .errors import ArtifactFinalizedError, ArtifactNotFoundError, ArtifactNotLoggedError, UnsupportedError

if TYPE_CHECKING:
    from ._run import PublicRun

LAST_STEP_BEFORE = "SELECT max(step) FROM run_history WHERE run_id = ? AND at <= ?"
LINKS_OF = "SELECT id FROM versions WHERE source_id = ? AND state = 'committed' ORDER BY id"


class Artifact:
    """An artifact as W&B's SDK has it: build it (``add_file``, ``add_dir``, ``new_file``, ``add_reference``), log it, use it."""

    def __init__(
        self,
        name: str,
        type: str,
        description: str | None = None,
        metadata: dict[str, Any] | None = None,
        incremental: bool = False,
        use_as: str | None = None,
        storage_region: str | None = None,
    ) -> None:
        check_name_and_type(name, type)
        self._draft: _draft.Artifact | None = _draft.Artifact(name, type, description, metadata)
        self._version: ArtifactVersion | None = None
        self._final = False
        self._pending = False  # upserted into a distributed version not yet finished
        self._ttl_changed = False
        self._entity: str | None = None
        self._incremental = bool(incremental)
        self._use_as = use_as
        self.distributed_id: str | None = None

    @classmethod
    def _from_version(cls, version: ArtifactVersion, entity: str | None = None) -> Artifact:
        artifact = cls.__new__(cls)
        artifact._draft = None
        artifact._version = version
        artifact._final = True
        artifact._pending = False
        artifact._ttl_changed = False
        artifact._entity = entity
        artifact._incremental = False
        artifact._use_as = None
        artifact.distributed_id = None
        return artifact

    def _logged(self, version: ArtifactVersion, entity: str | None) -> Artifact:
        """Become the logged version (W&B mutates the draft it logged)."""
        self._version = version
        self._draft = None
        self._final = True
        self._pending = False
        self._entity = entity
        return self

    def __repr__(self) -> str:
        return f"<Artifact {self.id or self.name}>"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Artifact):
            return NotImplemented
        if self._version is None or other._version is None:
            return self is other
        return self._version == other._version

    def __hash__(self) -> int:
        return hash(self._version) if self._version is not None else id(self)

    # -- state -------------------------------------------------------------------------

    def is_draft(self) -> bool:
        """True until the artifact is logged (or while it waits in a distributed version)."""
        return self._version is None

    def finalize(self) -> None:
        """No more edits (logging does this)."""
        self._final = True

    def _core(self) -> ArtifactVersion:
        if self._version is None:
            raise ArtifactNotLoggedError("Artifact._core", self)
        return self._version

    def _draft_or_raise(self, method: str) -> _draft.Artifact:
        if self._final or self._draft is None:
            raise ArtifactFinalizedError(f"Artifact.{method}", self)
        return self._draft

    def _logged_or_raise(self, what: str) -> ArtifactVersion:
        if self._version is None:
            raise ArtifactNotLoggedError(f"Artifact.{what}", self)
        return self._version

    @property
    def state(self) -> str:
        """``PENDING`` before logging, ``COMMITTED`` after, ``DELETED`` once deleted."""
        if self._version is None:
            return "PENDING"
        return "DELETED" if self._version.state == "deleted" else "COMMITTED"

    def wait(self, timeout: int | None = None) -> Artifact:
        """Logging is synchronous here, so a logged artifact is ready; a draft never logged raises ArtifactNotLoggedError."""
        if self._version is None and not self._pending:
            raise ArtifactNotLoggedError("Artifact.wait", self)
        return self

    # -- identity ----------------------------------------------------------------------

    @property
    def id(self) -> str | None:
        return None if self._version is None else str(self._version.id)

    @property
    def name(self) -> str:
        """``name`` before logging, ``name:vN`` after (for a link: its registry collection's name and index)."""
        if self._version is None:
            assert self._draft is not None
            return self._draft.name
        return self._version.name

    @property
    def type(self) -> str:
        return self._draft.type if self._version is None else self._version.type  # type: ignore[union-attr]

    @property
    def entity(self) -> str:
        """The entity of the run that logged it, else the registry's user."""
        version = self._logged_or_raise("entity")
        if self._entity is None:
            source = version.source_version or version
            runs = source.logged_by()
            self._entity = next((r.entity for r in runs if r.entity), None) or version._reg.user
        return self._entity

    @property
    def project(self) -> str:
        return str(self._logged_or_raise("project").project)

    @property
    def qualified_name(self) -> str:
        """``entity/project/name:vN``."""
        return f"{self.entity}/{self.project}/{self.name}"

    @property
    def version(self) -> str:
        return self._logged_or_raise("version").version

    @property
    def collection(self) -> Any:
        from ._api import ArtifactCollection

        version = self._logged_or_raise("collection")
        return ArtifactCollection(version.collection, self.entity)

    @property
    def is_link(self) -> bool:
        return self._version is not None and self._version.is_link

    def _source(self) -> ArtifactVersion:
        version = self._logged_or_raise("source_version")
        return version.source_version or version

    @property
    def source_version(self) -> str:
        """The version string (``"v0"``) of the version this one is, or links."""
        return self._source().version

    @property
    def source_name(self) -> str:
        return self.name if self._version is None else self._source().name

    @property
    def source_project(self) -> str:
        return str(self._source().project)

    @property
    def source_entity(self) -> str:
        return self.entity

    @property
    def source_qualified_name(self) -> str:
        return f"{self.source_entity}/{self.source_project}/{self.source_name}"

    @property
    def source_collection(self) -> Any:
        from ._api import ArtifactCollection

        return ArtifactCollection(self._source().collection, self.entity)

    @property
    def source_artifact(self) -> Artifact:
        version = self._logged_or_raise("source_artifact")
        source = version.source_version
        return self if source is None else Artifact._from_version(source, self._entity)

    @property
    def linked_artifacts(self) -> list[Artifact]:
        """The links of this (source) version in registries; empty for a link."""
        version = self._logged_or_raise("linked_artifacts")
        if version.is_link:
            return []
        with version._reg._db.read() as con:
            ids = [r[0] for r in con.execute(LINKS_OF, (version.id,))]
        return [Artifact._from_version(ArtifactVersion(version._reg, i), self._entity) for i in ids]

    @property
    def url(self) -> str:
        version = self._logged_or_raise("url")
        return f"artreg://{version.qualified_name}"

    # -- fields ------------------------------------------------------------------------

    @property
    def description(self) -> str | None:
        return self._draft.description if self._version is None else self._version.description  # type: ignore[union-attr]

    @description.setter
    def description(self, value: str | None) -> None:
        if self._version is None:
            self._draft_or_raise("description").description = _draft._check_description(value)
        else:
            self._version.description = value

    @property
    def metadata(self) -> dict[str, Any]:
        return self._draft.metadata if self._version is None else self._version.metadata  # type: ignore[union-attr]

    @metadata.setter
    def metadata(self, value: dict[str, Any]) -> None:
        from .._names import check_metadata

        if self._version is None:
            self._draft_or_raise("metadata").metadata = check_metadata(value)
        else:
            self._version.metadata = value

    @property
    def ttl(self) -> timedelta | None:
        """A timedelta, or None (never expires); an inherited TTL reads as the project's default."""
        if self._version is None:
            assert self._draft is not None
            if self._draft.ttl is INHERIT:
                raise ArtifactNotLoggedError("Artifact.ttl", self)
            return self._draft.ttl
        ttl = self._version.ttl
        if ttl is INHERIT:
            return self._version._default_ttl
        return ttl

    @ttl.setter
    def ttl(self, value: timedelta | ArtifactTTL | None) -> None:
        if self.is_link:
            raise InvalidName("Cannot set TTL for link artifact. Unlink the artifact first then set the TTL for the source artifact")
        core_value: Any = INHERIT if value is ArtifactTTL.INHERIT or value == INHERIT else value
        if self._version is None:
            from .._lifecycle import ttl_columns

            ttl_columns(core_value)
            self._draft_or_raise("ttl").ttl = core_value
        else:
            self._version.ttl = core_value
        self._ttl_changed = True

    @property
    def aliases(self) -> list[str]:
        return self._logged_or_raise("aliases").aliases

    @aliases.setter
    def aliases(self, value: list[str]) -> None:
        self._logged_or_raise("aliases").aliases = [value] if isinstance(value, str) else value

    @property
    def tags(self) -> list[str]:
        return self._logged_or_raise("tags").tags

    @tags.setter
    def tags(self, value: list[str]) -> None:
        self._logged_or_raise("tags").tags = [value] if isinstance(value, str) else value

    @property
    def incremental(self) -> bool:
        return self._incremental

    @property
    def use_as(self) -> str | None:
        return self._use_as

    @property
    def manifest(self) -> ArtifactManifest:
        """The entries by path; W&B's ``to_manifest_json()`` layout."""
        if self._version is None:
            assert self._draft is not None
            return ArtifactManifest({
                path: ArtifactManifestEntry(path, entry.digest, entry.size, entry.ref, _extra(entry), _local(entry), self)
                for path, entry in self._draft.entries.items()
            })
        return ArtifactManifest({e.path: ArtifactManifestEntry.of(e, self) for e in self._version.files()})

    @property
    def digest(self) -> str:
        if self._version is not None:
            return str(self._version.digest)
        from ..storage._manifest import version_digest

        return version_digest((path, entry.digest) for path, entry in self._draft.entries.items())  # type: ignore[union-attr]

    @property
    def size(self) -> int:
        if self._version is not None:
            return int(self._version.size)
        assert self._draft is not None
        return sum(int(entry.size) for entry in self._draft.entries.values())

    @property
    def file_count(self) -> int:
        return int(self._logged_or_raise("file_count").file_count)

    @property
    def commit_hash(self) -> str:
        return str(self._logged_or_raise("commit_hash").digest)

    @property
    def created_at(self) -> str:
        """When the version was created, as an ISO 8601 string (UTC)."""
        return self._logged_or_raise("created_at").created_at.isoformat()

    @property
    def updated_at(self) -> str:
        return self._logged_or_raise("updated_at").created_at.isoformat()

    @property
    def history_step(self) -> int | None:
        """The last step the logging run had logged when it logged this version (None: no run, or no step yet)."""
        version = self._logged_or_raise("history_step")
        producers = version.logged_by()
        if not producers:
            return None
        with version._reg._db.read() as con:
            row = con.execute(LAST_STEP_BEFORE, (producers[0]._row, format_time(version.created_at))).fetchone()
        return None if row is None or row[0] is None else int(row[0])

    # -- saving ------------------------------------------------------------------------

    def save(self, project: str | None = None, settings: Any = None) -> None:
        """Log a draft (in the current run, else in a run of type ``auto``), or write the edits of a logged artifact."""
        if self._version is not None:
            self._version.save()
            return
        run = _state.get_current()
        if run is not None:
            run.log_artifact(self)
            return
        from ._run import init

        with init(project=project, job_type="auto", reinit="create_new", _make_current=False) as auto:
            auto.log_artifact(self)

    def new_draft(self) -> Artifact:
        """A draft with this version's entries, description and metadata (an incremental next version)."""
        version = self._logged_or_raise("new_draft")
        draft = Artifact._from_version(version, self._entity)
        draft._draft, draft._version, draft._final = version.new_draft(), None, False
        return draft

    # -- building (drafts) -------------------------------------------------------------

    def add_file(
        self,
        local_path: str,
        name: str | None = None,
        is_tmp: bool | None = False,
        skip_cache: bool | None = False,
        policy: str | None = "mutable",
        overwrite: bool = False,
    ) -> ArtifactManifestEntry:
        """Add one local file under ``name`` (default: its file name).

        artreg reads the file when the artifact is logged, and refuses it then if it changed
        after this call; ``policy`` is accepted for W&B's sake (nothing is copied either way).
        """
        draft = self._draft_or_raise("add_file")
        _check_policy(policy)
        if not os.path.isfile(local_path):
            raise InvalidName(f"Path is not a file: {local_path!r}")
        entry = draft.add_file(local_path, name, overwrite=overwrite)
        if is_tmp:
            folder, _, base = entry.path.rpartition("/")
            parts = base.split(".")
            parts[0] = entry.digest[:20]
            renamed = (folder + "/" if folder else "") + ".".join(parts)
            draft.remove(entry.path)
            entry = draft.add_file(local_path, renamed, overwrite=overwrite)
        return ArtifactManifestEntry(entry.path, entry.digest, entry.size, None, {}, os.path.abspath(local_path), self)

    def add_dir(
        self,
        local_path: str,
        name: str | None = None,
        skip_cache: bool | None = False,
        policy: str | None = "mutable",
        merge: bool = False,
    ) -> None:
        """Add every file under a folder, at ``name/<relative path>``; ``merge=True`` replaces files already added."""
        draft = self._draft_or_raise("add_dir")
        _check_policy(policy)
        if not os.path.isdir(local_path):
            raise InvalidName(f"Path is not a directory: {local_path!r}")
        draft.add_dir(local_path, name, overwrite=merge)

    def new_file(self, name: str, mode: str = "x", encoding: str | None = None, policy: str = "mutable") -> Any:
        """A file to write into the artifact: ``with artifact.new_file("notes.txt") as f: f.write(...)``."""
        _check_policy(policy)
        return self._draft_or_raise("new_file").new_file(name, mode, encoding)

    def add_reference(
        self,
        uri: ArtifactManifestEntry | str,
        name: str | None = None,
        checksum: bool = True,
        max_objects: int | None = None,
    ) -> Sequence[ArtifactManifestEntry]:
        """Add entries that point at external data (``file://``, ``http(s)://``, ``s3://``), or at another artifact's entry.

        ``checksum=False`` records the location only, as W&B does: one entry per file of a
        ``file://`` folder, one entry for a whole ``s3://`` URI.
        """
        draft = self._draft_or_raise("add_reference")
        if isinstance(uri, ArtifactManifestEntry):
            uri = uri.ref_url()
        if not isinstance(uri, str) or "://" not in uri:
            raise InvalidName("References must be URIs. To reference a local file, use file://")
        if uri.startswith(REF_SCHEME + "://"):
            return [self._add_artifact_reference(draft, uri, name)]
        entries = draft.add_reference(uri, name, checksum, max_objects)
        return [ArtifactManifestEntry(e.path, e.digest, e.size, e.ref, _extra(e), None, self) for e in entries]

    def _add_artifact_reference(self, draft: _draft.Artifact, uri: str, name: str | None) -> ArtifactManifestEntry:
        """An entry of another logged artifact, added by its ``ref_url()``: the same stored bytes, not copied."""
        ident, _, path = uri[len(REF_SCHEME) + 3:].partition("/")
        reg = _state.registry()
        try:
            source = ArtifactVersion(reg, int(ident))
            entry = source.get_entry(path)
        except (ValueError, NotFound) as exc:
            raise ArtifactNotFoundError(f"no artifact entry {uri!r} in this registry") from exc
        if entry.ref is not None:
            return self.add_reference(entry.ref, name or entry.path, checksum=entry.extra.get("checksum") != "none")[0]
        logical = name or entry.path
        stored = _sources.BlobSource(reg._store, entry.digest, entry.size)
        added = draft._put([_sources.DraftEntry(logical, entry.size, stored, entry.digest)], overwrite=False)[0]
        return ArtifactManifestEntry(added.path, added.digest, added.size, None, {}, None, self)

    def add(self, obj: Any, name: str, overwrite: bool = False) -> NoReturn:
        """W&B media objects are not supported: raises UnsupportedError naming ``new_file``."""
        raise UnsupportedError(f"artifact.add({type(obj).__name__}, {name!r}): {MEDIA_HINT}")

    def __setitem__(self, name: str, item: Any) -> NoReturn:
        self.add(item, name)

    def get(self, name: str) -> NoReturn:
        """W&B media objects are not supported: raises UnsupportedError naming ``get_entry``/``new_file``."""
        raise UnsupportedError(f"artifact.get({name!r}): {MEDIA_HINT}")

    def __getitem__(self, name: str) -> NoReturn:
        self.get(name)

    def remove(self, item: str | ArtifactManifestEntry) -> None:
        """Remove an entry, or every entry under a folder; FileNotFoundError (also NotFound) when there is none."""
        draft = self._draft_or_raise("remove")
        path = item.path if isinstance(item, ArtifactManifestEntry) else item
        try:
            draft.remove(path)
        except NotFound as exc:
            raise PathNotFoundError(f"No such file or directory: {path}") from exc

    def get_added_local_path_name(self, local_path: str) -> str | None:
        """The artifact path of a file added from ``local_path``, if any."""
        if self._draft is None:
            return None
        wanted = os.path.abspath(local_path)
        for path, entry in self._draft.entries.items():
            if _local(entry) == wanted:
                return path
        return None

    # -- reading (logged) --------------------------------------------------------------

    def get_entry(self, name: str) -> ArtifactManifestEntry:
        """The entry at ``name``; KeyError (also NotFound) when there is none."""
        version = self._logged_or_raise("get_entry")
        try:
            return ArtifactManifestEntry.of(version.get_entry(name), self)
        except NotFound as exc:
            raise EntryNotFoundError(f"Path not contained in artifact: {name}") from exc

    def get_path(self, name: str) -> ArtifactManifestEntry:
        """Deprecated in W&B: ``get_entry``."""
        return self.get_entry(name)

    def files(self, names: list[str] | None = None, per_page: int = 50, start: str | None = None) -> Paginator[File]:
        """The files (all, or those at ``names``) with ``name``, ``size``, ``digest``, ``url`` and ``download()``, in path order.

        A paginator, as W&B's ``ArtifactFiles``: entries are read ``per_page`` at a time.
        """
        version = self._logged_or_raise("files")
        wanted = names_filter(names)
        if wanted is not None:
            def named() -> list[File]:
                found = []
                for name in sorted(wanted):
                    with contextlib.suppress(NotFound):
                        found.append(File(self, version.get_entry(name)))
                return found

            return Paginator.of(named, per_page, start)
        return Paginator(lambda offset, limit: [File(self, e) for e in version.files(offset=offset, limit=limit)],
                         version.count_files, per_page, start)

    def _root(self, root: str | os.PathLike[str] | None, *, with_version: bool = True) -> str:
        if root is not None:
            return os.fspath(root)
        source = self._source()
        base = os.environ.get("ARTREG_ARTIFACT_DIR") or os.path.join(".", "artifacts")
        return os.path.join(base, source.name if with_version else source.collection_name)

    def download(
        self,
        root: str | None = None,
        allow_missing_references: bool = False,
        skip_cache: bool | None = None,
        path_prefix: str | None = None,
        multipart: bool | None = None,
    ) -> str:
        """Write the files under ``root`` (default ``./artifacts/<name>:vN``); returns the root."""
        version = self._logged_or_raise("download")
        return version.download(self._root(root), path_prefix=path_prefix, allow_missing_references=allow_missing_references)

    def checkout(self, root: str | None = None) -> str:
        """Make ``root`` (default ``./artifacts/<name>``) hold exactly the artifact's files."""
        return self._logged_or_raise("checkout").checkout(self._root(root, with_version=False))

    def verify(self, root: str | None = None) -> None:
        """Rehash the files under ``root`` (default: the download root); ValueError (also IntegrityError) on a difference."""
        version = self._logged_or_raise("verify")
        try:
            version.verify(self._root(root))
        except IntegrityError as exc:
            raise VerificationError(str(exc), missing=exc.missing, extra=exc.extra, mismatched=exc.mismatched) from exc

    def file(self, root: str | None = None) -> str:
        """Download a one-file artifact; returns the file's path."""
        version = self._logged_or_raise("file")
        if version.file_count != 1:
            raise InvalidName("This artifact contains more than one file, call `.download()` to get all files or call "
                              '.get_entry("filename").download()')
        entry = next(version.files())
        return ArtifactManifestEntry.of(entry, self).download(root)

    def delete(self, delete_aliases: bool = False) -> None:
        """Delete the version (a link: only the link); refused while it holds aliases unless ``delete_aliases``."""
        self._logged_or_raise("delete").delete(delete_aliases=delete_aliases)

    def link(self, target_path: str, aliases: Iterable[str] | None = None) -> Artifact:
        """Link into ``[org/]wandb-registry-<registry>/<collection>``; a draft is logged first. Returns the link."""
        if self._version is None:
            self.save()
        version = self._core()
        link = version.link(registry_target(target_path), _alias_list(aliases))
        return Artifact._from_version(link, self._entity)

    def unlink(self) -> None:
        version = self._logged_or_raise("unlink")
        if not version.is_link:
            raise InvalidName(f"Artifact {version.qualified_name!r} is not a linked artifact and cannot be unlinked.  "
                              "To delete it, use 'delete' instead.")
        version.unlink()

    def used_by(self) -> list[PublicRun]:
        from ._run import PublicRun

        return [PublicRun(run) for run in self._logged_or_raise("used_by").used_by()]

    def logged_by(self) -> PublicRun | None:
        """The run that first logged this version, or None (logged outside any run)."""
        from ._run import PublicRun

        runs = self._source().logged_by() if self._version is not None else self._logged_or_raise("logged_by").logged_by()
        return PublicRun(runs[0]) if runs else None

    def json_encode(self) -> dict[str, Any]:
        version = self._logged_or_raise("json_encode")
        return {"_type": "artifactVersion", "_version": "v0", "id": self.id, "version": version.version,
                "sequenceName": version.collection_name, "usedAs": None}

    def lineage(self, direction: str = "both", depth: int | None = None) -> Any:
        """artreg's lineage graph of this version (see ``artreg.ArtifactVersion.lineage``)."""
        return self._logged_or_raise("lineage").lineage(direction, depth)
