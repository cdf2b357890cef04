"""How the command line shows things: JSON-ready dicts with stable keys, tables, sizes, progress."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import IO, Any

from ._audit import AliasChange, AuditEntry
from ._errors import PermissionDenied
from ._lifecycle import INHERIT
from ._progress import Progress
from ._versions import ArtifactVersion, Collection

UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def human_size(size: int) -> str:
    """``1536`` -> ``1.5 KiB``."""
    value = float(size)
    for unit in UNITS:
        if value < 1024 or unit == UNITS[-1]:
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """``1 file``, ``2 files`` (``nouns`` for an irregular plural)."""
    return f"{count:,} {noun if count == 1 else nouns or noun + 's'}"


def ttl_seconds(v: ArtifactVersion) -> float | None:
    """The TTL in effect, in seconds (the project's default when inherited); None: never expires."""
    expires = v.expires_at
    return None if expires is None else (expires - v.created_at).total_seconds()


def version_dict(v: ArtifactVersion) -> dict[str, Any]:
    """A version as the CLI prints it with ``--json``.

    ``ttl`` is always seconds or null (never expires); ``ttl_inherited`` says whether
    it is the project's default rather than the version's own.
    """
    source = v.source_version
    return {
        "ref": v.qualified_name,
        "project": v.project,
        "name": v.collection_name,
        "version": v.version,
        "type": v.type,
        "digest": v.digest,
        "size": v.size,
        "file_count": v.file_count,
        "aliases": v.aliases,
        "tags": v.tags,
        "description": v.description,
        "metadata": v.metadata,
        "created_at": v.created_at.isoformat(),
        "created_by": v.created_by,
        "state": v.state,
        "ttl": ttl_seconds(v),
        "ttl_inherited": v.ttl is INHERIT,
        "source": None if source is None else source.qualified_name,
    }


def collection_dict(c: Collection) -> dict[str, Any]:
    """A collection as ``ls --json`` prints it: its size is its latest version's."""
    newest = c.versions(limit=1)
    latest = newest[0] if newest else None
    return {
        "project": c.project,
        "name": c.name,
        "type": c.type,
        "versions": c.version_count() if newest else 0,
        "latest": None if latest is None else latest.version,
        "size": None if latest is None else latest.size,
        "updated": None if latest is None else latest.created_at.isoformat(),
        "aliases": c.aliases,
    }


def audit_dict(e: AuditEntry) -> dict[str, Any]:
    """An audit entry as ``audit --json`` prints it."""
    return {"id": e.id, "at": e.at.isoformat(), "user": e.user, "action": e.action, "registry": e.registry,
            "collection": e.collection, "version": e.version, "alias": e.alias, "detail": e.detail}


def alias_change_dict(c: AliasChange) -> dict[str, Any]:
    return {"at": c.at.isoformat(), "user": c.user, "action": c.action, "before": c.before, "after": c.after}


def files_hidden(v: ArtifactVersion) -> str | None:
    """Why the user may not see ``v``'s files (a restricted viewer sees metadata only), or None."""
    try:
        v._require_download()
    except PermissionDenied as exc:
        return str(exc)
    return None


def table(rows: Sequence[Sequence[object]], header: Sequence[str], out: IO[str] | None = None) -> None:
    """Aligned columns; numbers right-aligned."""
    out = out or sys.stdout
    cells = [[str(h) for h in header]] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    numeric = [all(isinstance(row[i], (int, float)) for row in rows) and bool(rows) for i in range(len(header))]
    for r in cells:
        line = "  ".join(c.rjust(w) if numeric[i] else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
        print(line.rstrip(), file=out)


def fields(pairs: Sequence[tuple[str, object]], out: IO[str] | None = None) -> None:
    """``key:  value`` lines, keys aligned."""
    out = out or sys.stdout
    width = max(len(k) for k, _ in pairs) + 1
    for key, value in pairs:
        print(f"{key + ':':<{width}}  {value}", file=out)


class ProgressLine:
    """A one-line progress display on a terminal (files, bytes, rate); silent otherwise."""

    def __init__(self, verb: str, stream: IO[str] | None = None) -> None:
        self._stream = stream or sys.stderr
        self._active = sys.stdout.isatty() and self._stream.isatty()
        self._verb = verb
        self._started = time.monotonic()
        self._shown = 0.0
        self._drawn = False

    def __call__(self, progress: Progress) -> None:
        if not self._active:
            return
        now = time.monotonic()
        if now - self._shown < 0.1 and progress.files_done < progress.files_total:
            return
        self._shown = now
        rate = progress.bytes_done / max(now - self._started, 1e-6)
        line = (
            f"{self._verb} {progress.files_done:,}/{progress.files_total:,} files  "
            f"{human_size(progress.bytes_done)}/{human_size(progress.bytes_total)}  {human_size(int(rate))}/s"
        )
        self._stream.write("\r" + line.ljust(72))
        self._stream.flush()
        self._drawn = True

    def close(self) -> None:
        if self._drawn:
            self._stream.write("\r" + " " * 72 + "\r")
            self._stream.flush()
