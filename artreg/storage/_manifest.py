"""Manifest entries and the version digest (SPEC §2)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .._names import normalize_path

DIGEST_HEADER = b"artreg-manifest-v1\n"
# A manifest row as it is stored: (path, digest, size, ref, extra JSON).
EntryRow = tuple[str, str, int, str | None, str]
# Entries hashed per update: the text of a million entries is never built at once.
_BATCH = 4096


@dataclass(frozen=True)
class ManifestEntry:
    """One logical path of a version: what it holds and how big it is.

    ``ref`` is the external URI of a reference entry (None for stored bytes); ``extra``
    carries scheme-specific details such as an ETag.
    """

    path: str
    digest: str
    size: int
    ref: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of_row(cls, row: EntryRow) -> ManifestEntry:
        """The entry of a stored row (its ``extra`` parsed)."""
        path, digest, size, ref, extra = row
        return cls(path, digest, size, ref, json.loads(extra))


def version_digest(pairs: Iterable[tuple[str, str]]) -> str:
    """sha256 over the header and ``path:digest\\n`` for every entry, sorted by path.

    Depends on paths and entry digests only, never on metadata, aliases or reference URIs.
    """
    return sorted_digest(sorted(pairs))


def sorted_digest(rows: Sequence[tuple[Any, ...]]) -> str:
    """``version_digest`` of rows already sorted by path, each starting (path, digest, ...)."""
    hasher = hashlib.sha256(DIGEST_HEADER)
    for start in range(0, len(rows), _BATCH):
        hasher.update("".join([f"{row[0]}:{row[1]}\n" for row in rows[start : start + _BATCH]]).encode())
    return hasher.hexdigest()


def folder_range(prefix: str | None) -> tuple[str, str | None]:
    """The key range of the entries under a folder: ``[folder/, folder0)`` (``0`` sorts right after ``/``).

    The whole manifest (no prefix) has no upper bound.
    """
    if prefix is None or prefix.strip("/") == "":
        return "", None
    folder = normalize_path(prefix.rstrip("/"))
    return folder + "/", folder + "0"
