"""W&B's shapes around an artifact's files: manifest entries, the manifest, and ``files()`` items.

Digests are artreg's (sha256 hex), not W&B's base64 md5; the layout of
``to_manifest_json()`` is W&B's (``version``, ``storagePolicy``, ``storagePolicyConfig``,
``contents`` keyed by path with ``digest``, ``size``, ``ref``, ``extra``).
"""

from __future__ import annotations

import os
import shutil
from typing import TYPE_CHECKING, Any

from .._errors import InvalidName, NotFound
from .._names import normalize_path
from ..storage._manifest import ManifestEntry
from .errors import ArtifactNotLoggedError

if TYPE_CHECKING:
    from ._artifact import Artifact

STORAGE_POLICY = "artreg-sha256-v1"
REF_SCHEME = "wandb-artifact"


class EntryNotFoundError(NotFound, KeyError):
    """No entry at that path: artreg's NotFound, and W&B's KeyError."""

    def __str__(self) -> str:  # KeyError would print the message with quotes around it
        return str(self.args[0]) if self.args else ""


class ArtifactManifestEntry:
    """One path of an artifact: ``path``, ``digest`` (sha256 hex), ``size``, ``ref`` and ``extra``."""

    def __init__(
        self,
        path: str,
        digest: str,
        size: int | None,
        ref: str | None = None,
        extra: dict[str, Any] | None = None,
        local_path: str | None = None,
        parent: Artifact | None = None,
    ) -> None:
        self.path = path
        self.digest = digest
        self.size = size
        self.ref = ref
        self.extra = dict(extra or {})
        self.local_path = local_path
        self.birth_artifact_id: str | None = None
        self.skip_cache = False
        self._parent_artifact = parent

    @classmethod
    def of(cls, entry: ManifestEntry, parent: Artifact | None) -> ArtifactManifestEntry:
        return cls(entry.path, entry.digest, entry.size, entry.ref, entry.extra, parent=parent)

    def __repr__(self) -> str:
        fields = {"path": self.path, "digest": self.digest, "ref": self.ref, "size": self.size}
        shown = ", ".join(f"{k}={v!r}" for k, v in fields.items() if v is not None)
        return f"ArtifactManifestEntry({shown}{f', extra={self.extra!r}' if self.extra else ''})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ArtifactManifestEntry):
            return NotImplemented
        return (self.path, self.digest, self.size, self.ref, self.extra) == (other.path, other.digest, other.size, other.ref, other.extra)

    __hash__ = None  # type: ignore[assignment]

    @property
    def name(self) -> str:
        """Deprecated in W&B: the path."""
        return self.path

    def parent_artifact(self) -> Artifact:
        if self._parent_artifact is None:
            raise NotImplementedError("this entry belongs to no artifact")
        return self._parent_artifact

    def download(self, root: str | None = None, skip_cache: bool | None = None, executor: Any = None) -> str:
        """Write this entry under ``root`` (default: the artifact's download root); returns the file's path."""
        artifact = self.parent_artifact()
        if artifact.is_draft():
            raise ArtifactNotLoggedError("ArtifactManifestEntry.download", artifact)
        target = artifact._root(root)
        artifact._core().download(target, path_prefix=self.path)
        return os.path.join(target, *self.path.split("/"))

    def ref_target(self) -> str:
        """The URI a reference entry points at."""
        if self.ref is None:
            raise ValueError("Only reference entries support ref_target().")
        return self.ref

    def ref_url(self) -> str:
        """``wandb-artifact://<artifact id>/<path>``: what another artifact's ``add_reference`` takes."""
        artifact = self.parent_artifact()
        if artifact.id is None:
            raise ValueError("Parent artifact ID is not set")
        return f"{REF_SCHEME}://{artifact.id}/{self.path}"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path, "digest": self.digest}
        if self.ref is not None:
            out["ref"] = self.ref
        if self.size is not None:
            out["size"] = self.size
        if self.extra:
            out["extra"] = dict(self.extra)
        return out


class ArtifactManifest:
    """The entries of an artifact by path, with W&B's ``to_manifest_json()`` layout."""

    def __init__(self, entries: dict[str, ArtifactManifestEntry]) -> None:
        self.entries = entries

    def __len__(self) -> int:
        return len(self.entries)

    def __repr__(self) -> str:
        return f"<ArtifactManifest {len(self.entries)} entries>"

    @staticmethod
    def version() -> int:
        return 1

    def to_manifest_json(self) -> dict[str, Any]:
        contents = {}
        for path, entry in self.entries.items():
            item: dict[str, Any] = {"digest": entry.digest}
            if entry.ref is not None:
                item["ref"] = entry.ref
            if entry.size is not None:
                item["size"] = entry.size
            if entry.extra:
                item["extra"] = dict(entry.extra)
            contents[path] = item
        return {"version": 1, "storagePolicy": STORAGE_POLICY, "storagePolicyConfig": {"digest": "sha256-hex"}, "contents": contents}

    def get_entry_by_path(self, path: str) -> ArtifactManifestEntry | None:
        return self.entries.get(path)

    def get_entries_in_directory(self, directory: str) -> list[ArtifactManifestEntry]:
        prefix = f"{directory}/"
        return [entry for key, entry in self.entries.items() if key.startswith(prefix)]

    def size(self) -> int:
        return sum(entry.size or 0 for entry in self.entries.values())


class File:
    """One file of a logged artifact as ``artifact.files()`` yields it: ``name``, ``size``, ``digest``, ``url``, ``download()``.

    ``url`` is the reference's URI for a reference entry, else ``artreg://project/name:vN/path``
    (the address the ``artreg[fsspec]`` filesystem opens); ``direct_url`` is the blob file
    when the bytes are stored as one.
    """

    def __init__(self, artifact: Artifact, entry: ManifestEntry) -> None:
        self._artifact = artifact
        self._entry = entry
        self.name = entry.path
        self.size = entry.size
        self.digest = entry.digest
        self.md5 = None
        self.mimetype = None
        self.ref = entry.ref
        self.url = entry.ref if entry.ref is not None else f"artreg://{artifact._core().qualified_name}/{entry.path}"

    def __repr__(self) -> str:
        return f"<File {self.name} ({self.size} bytes)>"

    @property
    def path_uri(self) -> str:
        return self.url

    @property
    def direct_url(self) -> str:
        core = self._artifact._core()
        store = core._reg._store
        if self._entry.ref is None and not store.is_inline(self._entry.size) and store.objects is not None:
            return str(store.object_path(self._entry.digest))
        return self.url

    def download(self, root: str = ".", replace: bool = False, exist_ok: bool = False, api: Any = None) -> Any:
        """Write the file to ``root/<name>`` and return an open handle on it, as W&B's ``File.download``.

        An existing file raises ValueError unless ``replace`` (write it again) or ``exist_ok``.
        """
        path = os.path.join(root, *self.name.split("/"))
        if os.path.exists(path) and not replace:
            if not exist_ok:
                raise ValueError(f"File already exists, pass replace=True to overwrite or exist_ok=True to leave it as is: {path!r}")
            return open(path)  # noqa: SIM115 - W&B returns the open file
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        with self._artifact._core().open(self.name) as src, open(path + ".part", "wb") as dst:
            shutil.copyfileobj(src, dst)
        os.replace(path + ".part", path)
        return open(path)  # noqa: SIM115 - W&B returns the open file


def names_filter(names: list[str] | None) -> set[str] | None:
    if names is None:
        return None
    if isinstance(names, str):
        raise InvalidName(f"names must be a list of paths, not a string: {names!r}")
    return {normalize_path(n) for n in names}

