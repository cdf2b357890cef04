"""``copy``: moving versions between registries, directly or through bundle files (SPEC §16).

Between two registries a copy is an export streamed through a pipe into an import, with the
destination itself as the inventory of what it holds, so only what it lacks is sent. A
bundle made for a receiver that cannot be asked (across an air gap) can name earlier
bundles as its basis: what they carried is assumed to be there already.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from contextlib import ExitStack
from typing import TYPE_CHECKING, BinaryIO

from ._bundle import (
    HEADER_MEMBER,
    RECORDS_LIMIT,
    RECORDS_MEMBER,
    BundleSummary,
    CopyReport,
    decode,
    staging_db,
)
from ._bundle_read import BundleReader, VerifySink, bundle_input
from ._errors import IntegrityError, InvalidName
from ._export import Inventory
from ._progress import ProgressCallback
from ._tar import TarReader
from .storage import _blob_rows as blob_rows

if TYPE_CHECKING:
    from ._context import Context
    from ._export import Chosen

BundleSource = str | os.PathLike[str] | BinaryIO
HELD_VERSIONS = """
SELECT o.origin, v.digest FROM json_each(? /* text */) AS j JOIN version_origins AS o ON o.origin = j.value
JOIN versions AS v ON v.id = o.version_id WHERE v.state = 'committed'
"""
OWN_VERSIONS = "SELECT id, digest FROM versions WHERE id IN (SELECT value FROM json_each(?)) AND state = 'committed'"


class RegistryInventory:
    """What a registry holds, asked of it directly (``copy_to``).

    With ``sharing`` (the registry the bundle comes from, when both keep their blobs in one
    physical store), a blob that registry keeps as a file counts as held whenever the
    receiver would keep it as a file too: it is in the store already, and the receiver
    adopts it there (``ImportSink``) instead of getting its bytes.
    """

    def __init__(self, ctx: Context, sharing: Context | None = None) -> None:
        self._ctx = ctx
        self._uuid = ctx.uuid
        self._sharing = sharing

    def held_versions(self, candidates: Sequence[tuple[Sequence[str], str]]) -> list[bool]:
        origins = [o for found, _ in candidates for o in found]
        own = [int(o.rpartition(":")[2]) for o in origins if o.rpartition(":")[0] == self._uuid]
        with self._ctx.read() as con:
            digests = {o: d for o, d in con.execute(HELD_VERSIONS, (json.dumps(origins),))}
            digests.update((f"{self._uuid}:{i}", d) for i, d in con.execute(OWN_VERSIONS, (json.dumps(own),)))
        return [any(digests.get(o) == digest for o in found) for found, digest in candidates]

    def held_blobs(self, digests: Sequence[str]) -> set[str]:
        store = self._ctx.store
        with self._ctx.read() as con:
            rows = blob_rows.present(con, digests)
        held = {d for d, size, is_file in rows if not is_file or store.file_present(d, size)}
        if self._sharing is not None:
            with self._sharing.read() as con:
                rows = blob_rows.present(con, [d for d in digests if d not in held])
            held.update(d for d, size, is_file in rows if is_file and not store.is_inline(size))
        return held


class BasisInventory:
    """What the receiver holds after importing the basis bundles: every version they name, every blob
    their versions' entries name. Only their records are read (they come first), never their bytes."""

    def __init__(self, sources: Sequence[BundleSource]) -> None:
        self._db = staging_db()
        self._db.execute(
            "CREATE TABLE versions (origin TEXT PRIMARY KEY, digest TEXT NOT NULL) WITHOUT ROWID;"
            "CREATE TABLE blobs (digest TEXT PRIMARY KEY) WITHOUT ROWID;"
        )
        with self._db:
            for source in sources:
                with bundle_input(source) as src:
                    self._read(src, source if isinstance(source, (str, os.PathLike)) else "a basis bundle")

    def close(self) -> None:
        self._db.close()

    def _read(self, src: BinaryIO, name: object) -> None:
        tar = TarReader(src)
        first = tar.next()
        if first is None or first[0] != HEADER_MEMBER:
            raise IntegrityError(f"basis {name!r} is not an artreg bundle")
        members = 0
        while (member := tar.next()) is not None and member[0] == RECORDS_MEMBER.format(members):
            if member[1] > RECORDS_LIMIT:
                raise IntegrityError(f"basis {name!r} is damaged: record member {member[0]} claims {member[1]:,} bytes")
            for line in tar.read_small().splitlines():
                self._record(decode(line, f"basis {name!r} {member[0]}"))
            members += 1

    def _record(self, record: dict[str, object]) -> None:
        kind = record.get("kind")
        if kind == "version" and isinstance(record.get("origins"), list) and isinstance(record.get("digest"), str):
            self._db.executemany(
                "INSERT INTO versions(origin, digest) VALUES (?, ?) ON CONFLICT DO NOTHING",
                ((o, record["digest"]) for o in record["origins"] if isinstance(o, str)),  # type: ignore[attr-defined]
            )
        elif kind in ("entries", "receiver_blobs"):
            rows = record.get("rows" if kind == "entries" else "blobs")
            if isinstance(rows, list):
                self._db.executemany(
                    "INSERT INTO blobs(digest) VALUES (?) ON CONFLICT DO NOTHING",
                    ((r[1] if kind == "entries" else r[0],) for r in rows if isinstance(r, list) and len(r) >= 2
                     and (kind != "entries" or r[3] is None)),
                )

    def held_versions(self, candidates: Sequence[tuple[Sequence[str], str]]) -> list[bool]:
        origins = [o for found, _ in candidates for o in found]
        digests = dict(self._db.execute(
            "SELECT origin, digest FROM versions WHERE origin IN (SELECT value FROM json_each(?))", (json.dumps(origins),)
        ))
        return [any(digests.get(o) == digest for o in found) for found, digest in candidates]

    def held_blobs(self, digests: Sequence[str]) -> set[str]:
        return {r[0] for r in self._db.execute("SELECT digest FROM blobs WHERE digest IN (SELECT value FROM json_each(?))",
                                               (json.dumps(list(digests)),))}


def export_to(
    ctx: Context,
    target: str | os.PathLike[str] | BinaryIO,
    chosen: Sequence[Chosen] | None,
    basis: Context | BundleSource | Sequence[BundleSource] | None,
    progress: ProgressCallback | None,
) -> CopyReport:
    """``Registry.export_bundle``: the inventory its basis (a registry's context, or bundles) gives, then the bundle."""
    from ._context import Context
    from ._export import Nothing, bundle_output, write_bundle

    inventory: Inventory
    with ExitStack() as stack:
        if basis is None:
            inventory = Nothing()
        elif isinstance(basis, Context):
            inventory = RegistryInventory(basis)
        else:
            sources = [basis] if isinstance(basis, (str, os.PathLike)) or hasattr(basis, "read") else list(basis)
            held = BasisInventory(sources)  # type: ignore[arg-type]
            stack.callback(held.close)
            inventory = held
        with bundle_output(target) as out:
            return write_bundle(ctx, out, chosen, inventory, basis=basis is not None, progress=progress)
    raise AssertionError("unreachable")


def verify_bundle(source: BundleSource) -> BundleSummary:
    """Read a bundle and check all of it without a registry: every record, every blob's digest, its end.

    Returns what it holds; raises IntegrityError naming the first thing wrong.
    """
    with bundle_input(source) as src:
        reader = BundleReader(src, VerifySink())
        try:
            return reader.read()
        finally:
            reader.close()


def copy_between(
    src: Context,
    dst: Context,
    chosen: Sequence[Chosen] | None,
    *,
    keep_destination_aliases: bool,
    progress: ProgressCallback | None,
) -> CopyReport:
    """Export from ``src`` into a pipe on a thread, import from it here (see ``Registry.copy_to``)."""
    from ._export import write_bundle
    from ._import import import_stream

    if dst is src or dst.db.same(src.db):
        raise InvalidName(f"cannot copy registry {src.db.path!r} into itself")
    # One physical store (a bucket prefix both keep their blobs in): its blobs are adopted, not sent.
    shared = src.store.identity is not None and src.store.identity == dst.store.identity
    inventory = RegistryInventory(dst, src if shared else None)
    read_fd, write_fd = os.pipe()
    failed: list[BaseException] = []

    def produce() -> None:
        with open(write_fd, "wb", buffering=0) as out:
            try:
                write_bundle(src, out, chosen, inventory, basis=True)
            except BaseException as exc:
                if not isinstance(exc.__cause__, BrokenPipeError):  # else the import stopped reading: its error explains
                    failed.append(exc)

    thread = threading.Thread(target=produce, name="artreg-copy", daemon=True)
    thread.start()
    try:
        with open(read_fd, "rb", buffering=1 << 20) as pipe:
            report = import_stream(dst, pipe, keep_destination_aliases=keep_destination_aliases, progress=progress,
                                   shared=shared)
    except BaseException as exc:
        thread.join()
        if failed:  # the export's failure explains the import's (a stream cut short)
            raise failed[0] from exc
        raise
    thread.join()  # the import read the stream to its verified end: the export is done
    return report
