"""Drafts from ``new_draft()``: a version's manifest read in place, and what was removed from it.

``ArtifactVersion.new_draft()`` copies no entry. The draft keeps the version (``Base``) and,
here, what was removed from it since: paths one by one, and whole folders. What was added
or replaced lives in the draft's own entries, which win over the base's. The base's entries
are looked up where they are when an edit needs them (one indexed lookup per path: is it
there, is it a file or a folder), so an edit costs the same however large the version is.
Logging the draft into the base's registry hands over the edits (``Edits``), and only the
parts of the manifest they touch are written (``_chunks.from_base``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ._sources import BlobSource, DraftEntry, RefSource, Source
from .storage import _chunks as chunks

if TYPE_CHECKING:
    from .storage._blobs import BlobStore
    from .storage._db import Database
    from .storage._manifest import EntryRow


@dataclass(frozen=True)
class Base:
    """The version a ``new_draft()`` starts from."""

    db: Database
    store: BlobStore
    version_id: int  # whose manifest it is (a link's source)
    name: str  # for messages
    file_count: int

    def entry(self, row: EntryRow) -> DraftEntry:
        """A draft entry for one of the base's manifest rows."""
        path, digest, size, ref, extra = row
        source: Source = BlobSource(self.store, digest, size) if ref is None else RefSource(ref, json.loads(extra))
        return DraftEntry(path, size, source, digest)


@dataclass(frozen=True)
class Edits:
    """What a draft from ``new_draft()`` logs: its base, and what was added, replaced and removed since."""

    base: Base
    entries: list[DraftEntry]  # added or replaced
    removed: list[str]  # base entries removed one by one
    removed_dirs: list[str]  # base folders removed whole


class Based:
    """A draft's base version and what was removed from it (the draft holds what was added)."""

    __slots__ = ("base", "removed", "removed_dirs")

    def __init__(self, base: Base) -> None:
        self.base = base
        self.removed: set[str] = set()
        self.removed_dirs: set[str] = set()

    @property
    def removals(self) -> int:
        return len(self.removed) + len(self.removed_dirs)

    def hidden(self, path: str) -> bool:
        """Whether the base's entry at ``path`` was removed (by itself or with a folder)."""
        if path in self.removed:
            return True
        if not self.removed_dirs:
            return False
        index = path.find("/")
        while index != -1:
            if path[:index] in self.removed_dirs:
                return True
            index = path.find("/", index + 1)
        return False

    def entries(self, paths: Iterable[str]) -> dict[str, DraftEntry]:
        """The base's entries at ``paths`` that were not removed (one indexed lookup each)."""
        base = self.base
        out: dict[str, DraftEntry] = {}
        with base.db.read() as con:
            for path in paths:
                if not self.hidden(path) and (row := chunks.entry(con, base.version_id, path)) is not None:
                    out[path] = base.entry(row)
        return out

    def folder(self, folder: str) -> bool:
        """Whether the base holds an entry under ``folder`` that was not removed."""
        base = self.base
        if folder in self.removed_dirs or self.hidden(folder):
            return False
        low, high = folder + "/", folder + "0"
        with base.db.read() as con:
            first = chunks.first_from(con, base.version_id, low)
        if first is None or first >= high:
            return False
        if not self.hidden(first):
            return True
        return any(not self.hidden(row[0]) for row in chunks.stream(base.db, base.version_id, low, high))

    def all(self, made: dict[str, DraftEntry]) -> dict[str, DraftEntry]:
        """Every entry of a draft whose own entries are ``made``: the base's that remain, then those."""
        base = self.base
        rows = chunks.stream(base.db, base.version_id)
        out = {row[0]: base.entry(row) for row in rows if row[0] not in made and not self.hidden(row[0])}
        out.update(made)
        return out

    def edits(self, entries: list[DraftEntry]) -> Edits:
        """What to log, with ``entries`` the draft's own (added or replaced)."""
        return Edits(self.base, entries, sorted(self.removed), sorted(self.removed_dirs))
