"""Comparing two versions (SPEC §19): files, metadata, aliases and tags, as one frozen value.

Files are compared chunk by chunk (``_chunks.differing``): the chunks both manifests list are
the same rows and are skipped unread, so a diff of two versions that share most of their
manifest reads only what changed; the rows of the other chunks are merged by path. A diff
of two unrelated manifests of 1,000,000 entries reads both once (``benchmarks/bench_diff.py``).

Metadata is compared key by key, descending into a key only when it holds an object on
both sides: a change inside ``config`` is reported as ``config.lr``, while a key that is an
object on one side only, or is new or gone, is reported whole. Values compare by JSON type,
as filters do: ``1``, ``1.0``, ``true`` and ``"1"`` all differ.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import apsw

from ._errors import NotFound
from .storage import _chunks as chunks
from .storage._manifest import ManifestEntry


class Side(Protocol):
    """What a diff reads of each version besides its manifest (``ArtifactVersion`` is one)."""

    @property
    def qualified_name(self) -> str: ...

    @property
    def digest(self) -> str: ...

    @property
    def file_count(self) -> int: ...

    @property
    def metadata(self) -> dict[str, Any]: ...

    @property
    def aliases(self) -> list[str]: ...

    @property
    def tags(self) -> list[str]: ...

@dataclass(frozen=True)
class EntryChange:
    """A path both versions hold with different contents (digest, size or reference)."""

    path: str
    old: ManifestEntry
    new: ManifestEntry


@dataclass(frozen=True)
class MetadataChange:
    """One metadata key that was added, removed or changed.

    ``path`` is the key's place from the top (``("config", "lr")``), ``key`` the same
    joined with dots. ``old`` is None for an added key, ``new`` for a removed one (the
    list the change is in says which; a stored ``null`` is also None).
    """

    path: tuple[str, ...]
    old: Any
    new: Any

    @property
    def key(self) -> str:
        return ".".join(self.path)


@dataclass(frozen=True)
class VersionDiff:
    """What changes going from version ``old`` to version ``new`` (``old.diff(new)``).

    ``added``/``removed`` are the entries only ``new``/``old`` holds, ``changed`` the
    paths both hold differently, each in path order; ``unchanged_count`` counts the rest
    (listed in ``unchanged`` only when asked for). Aliases and tags are those ``new`` has
    and ``old`` has not (``*_added``) and the reverse (``*_removed``), sorted.
    """

    old: str
    new: str
    old_digest: str
    new_digest: str
    added: tuple[ManifestEntry, ...]
    removed: tuple[ManifestEntry, ...]
    changed: tuple[EntryChange, ...]
    unchanged_count: int
    unchanged: tuple[ManifestEntry, ...]
    metadata_added: tuple[MetadataChange, ...]
    metadata_removed: tuple[MetadataChange, ...]
    metadata_changed: tuple[MetadataChange, ...]
    aliases_added: tuple[str, ...]
    aliases_removed: tuple[str, ...]
    tags_added: tuple[str, ...]
    tags_removed: tuple[str, ...]

    @property
    def same_content(self) -> bool:
        """Both versions hold the same paths with the same digests (the version digest is equal)."""
        return self.old_digest == self.new_digest

    @property
    def empty(self) -> bool:
        """Nothing differs: files, metadata, aliases and tags."""
        return not (
            self.added or self.removed or self.changed or self.metadata_added or self.metadata_removed
            or self.metadata_changed or self.aliases_added or self.aliases_removed or self.tags_added or self.tags_removed
        )

    def to_dict(self, *, files: bool = True) -> dict[str, Any]:
        """A JSON-ready dict (what ``artreg diff --json`` prints); ``files=False`` leaves the file lists out."""
        result: dict[str, Any] = {
            "old": self.old,
            "new": self.new,
            "same_content": self.same_content,
            "metadata": {
                "added": [_metadata_dict(c) for c in self.metadata_added],
                "removed": [_metadata_dict(c) for c in self.metadata_removed],
                "changed": [_metadata_dict(c) for c in self.metadata_changed],
            },
            "aliases": {"added": list(self.aliases_added), "removed": list(self.aliases_removed)},
            "tags": {"added": list(self.tags_added), "removed": list(self.tags_removed)},
        }
        if files:
            result["files"] = {
                "added": [entry_dict(e) for e in self.added],
                "removed": [entry_dict(e) for e in self.removed],
                "changed": [{"path": c.path, "old": entry_dict(c.old), "new": entry_dict(c.new)} for c in self.changed],
                "unchanged_count": self.unchanged_count,
                "unchanged": [entry_dict(e) for e in self.unchanged],
            }
        return result


def entry_dict(entry: ManifestEntry) -> dict[str, Any]:
    """A manifest entry as the CLI prints it with ``--json``."""
    return {"path": entry.path, "size": entry.size, "digest": entry.digest, "ref": entry.ref}


def _metadata_dict(change: MetadataChange) -> dict[str, Any]:
    return {"key": change.key, "path": list(change.path), "old": change.old, "new": change.new}


def diff_versions(
    con: apsw.Connection, was: Side, now: Side, was_id: int, now_id: int, *, unchanged: bool = False
) -> VersionDiff:
    """Compare two versions, each read in ``con``'s snapshot, whose manifests are those of ``was_id`` and ``now_id``.

    See ``ArtifactVersion.diff``, which loads both sides in one read transaction so that the
    rows and both merges see the same snapshot.
    """
    added: list[ManifestEntry] = []
    removed: list[ManifestEntry] = []
    changed: list[EntryChange] = []
    kept: tuple[ManifestEntry, ...] = ()
    for version, content_id in ((was, was_id), (now, now_id)):
        if version.file_count and not chunks.has_manifest(con, content_id):
            raise NotFound(f"{version.qualified_name} was deleted and gc has collected its manifest")
    for before, after in chunks.differing(con, was_id, now_id):
        if before is None:
            added.append(ManifestEntry.of_row(after))  # type: ignore[arg-type]
        elif after is None:
            removed.append(ManifestEntry.of_row(before))
        else:
            changed.append(EntryChange(before[0], ManifestEntry.of_row(before), ManifestEntry.of_row(after)))
    if unchanged:
        kept = tuple(ManifestEntry.of_row(r) for r in chunks.alike(con, was_id, now_id))
    m_added, m_removed, m_changed = diff_metadata(was.metadata, now.metadata)
    return VersionDiff(
        old=was.qualified_name,
        new=now.qualified_name,
        old_digest=was.digest,
        new_digest=now.digest,
        added=tuple(added),
        removed=tuple(removed),
        changed=tuple(changed),
        unchanged_count=was.file_count - len(removed) - len(changed),
        unchanged=kept,
        metadata_added=tuple(m_added),
        metadata_removed=tuple(m_removed),
        metadata_changed=tuple(m_changed),
        aliases_added=tuple(sorted(set(now.aliases) - set(was.aliases))),
        aliases_removed=tuple(sorted(set(was.aliases) - set(now.aliases))),
        tags_added=tuple(sorted(set(now.tags) - set(was.tags))),
        tags_removed=tuple(sorted(set(was.tags) - set(now.tags))),
    )


def diff_metadata(
    old: dict[str, Any], new: dict[str, Any]
) -> tuple[list[MetadataChange], list[MetadataChange], list[MetadataChange]]:
    """(added, removed, changed) keys, sorted by key path; see the module docstring for nesting."""
    added: list[MetadataChange] = []
    removed: list[MetadataChange] = []
    changed: list[MetadataChange] = []

    def walk(before: dict[str, Any], after: dict[str, Any], where: tuple[str, ...]) -> None:
        for key in sorted(before.keys() | after.keys()):
            path = (*where, key)
            if key not in after:
                removed.append(MetadataChange(path, before[key], None))
            elif key not in before:
                added.append(MetadataChange(path, None, after[key]))
            elif isinstance(before[key], dict) and isinstance(after[key], dict):
                walk(before[key], after[key], path)
            elif not same_json(before[key], after[key]):
                changed.append(MetadataChange(path, before[key], after[key]))

    walk(old, new, ())
    return added, removed, changed


def same_json(a: Any, b: Any) -> bool:
    """Equal as JSON values: types must match too, so ``1 != 1.0 != True``."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_json(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)
