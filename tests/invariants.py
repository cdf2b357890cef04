"""Registry-wide invariants (SPEC §2, §6, §13), checked from the tables themselves.

The multi-process tests call these after processes raced on one file, and the crash tests
after every kill. Each helper raises AssertionError naming what is wrong.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from typing import Any

import artreg
from artreg._versions import ArtifactVersion
from artreg.storage._manifest import version_digest

ALIAS_ACTIONS = ("alias_added", "alias_moved", "alias_removed")

VERSIONS = """
SELECT v.id, v.collection_id, v.idx, v.state, v.source_id, c.name, c.deleted_at, p.name
FROM versions AS v JOIN collections AS c ON c.id = v.collection_id JOIN projects AS p ON p.id = c.project_id
ORDER BY v.collection_id, v.idx
"""


def rows(reg: artreg.Registry, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with reg._db.read() as con:
        return [tuple(r) for r in con.execute(sql, args)]


def assert_indices_gap_free(reg: artreg.Registry) -> None:
    """Every index 0..next_index-1 of every collection is held by exactly one row, live or deleted."""
    for collection_id, name, next_index in rows(reg, "SELECT id, name, next_index FROM collections ORDER BY id"):
        held = [r[0] for r in rows(reg, "SELECT idx FROM versions WHERE collection_id = ? ORDER BY idx", (collection_id,))]
        assert held == list(range(next_index)), f"collection {name!r}: indices {held}, next_index {next_index}"


def assert_alias_invariants(reg: artreg.Registry) -> None:
    """SPEC §6: aliases name live versions of their own collection, ``latest`` is the newest
    live one, ``vN`` resolves to the row with index N, and the audit log replays to the table."""
    stray = rows(reg, """
        SELECT a.collection_id, a.alias, v.collection_id, v.state FROM aliases AS a JOIN versions AS v ON v.id = a.version_id
        WHERE v.state != 'committed' OR v.collection_id != a.collection_id
    """)
    assert not stray, f"aliases on deleted versions or other collections: {stray}"
    doubled = rows(reg, "SELECT collection_id, alias FROM aliases GROUP BY collection_id, alias HAVING count(*) > 1")
    assert not doubled, f"aliases held twice in one collection: {doubled}"
    for (collection_id,) in rows(reg, "SELECT id FROM collections"):
        newest = rows(reg, "SELECT id FROM versions WHERE collection_id = ? AND state = 'committed' ORDER BY idx DESC LIMIT 1",
                      (collection_id,))
        holder = rows(reg, "SELECT version_id FROM aliases WHERE collection_id = ? AND alias = 'latest'", (collection_id,))
        assert holder == newest, f"collection {collection_id}: latest is {holder}, newest live version {newest}"

    for version_id, _, index, state, _, name, deleted_at, project in rows(reg, VERSIONS):
        ref = f"{project}/{name}:v{index}"
        if state == "committed" and deleted_at is None:
            assert reg.artifact(ref).id == version_id, f"{ref} resolves to another version"
        else:
            try:
                reg.artifact(ref)
            except artreg.NotFound:
                continue
            raise AssertionError(f"{ref} is deleted but still resolves")

    replayed: dict[tuple[int, str], str | None] = {}
    for entry in reg.audit.entries():
        if entry.action in ALIAS_ACTIONS and entry.collection_id is not None and entry.alias is not None:
            replayed[(entry.collection_id, entry.alias)] = entry.detail["after"]
    table = {(c, a): f"v{i}" for c, a, i in rows(reg, "SELECT a.collection_id, a.alias, v.idx FROM aliases AS a "
                                                      "JOIN versions AS v ON v.id = a.version_id")}
    assert {k: v for k, v in replayed.items() if v is not None} == table, "the audit log does not replay to the alias table"


def assert_versions_whole(reg: artreg.Registry) -> int:
    """Every live version is all there: entries add up to its file_count, size and digest, and
    its stored bytes rehash to their digests (``verify``). Returns how many were checked."""
    checked = 0
    for version_id, _, _, state, source_id, _, _, _ in rows(reg, VERSIONS):
        if state != "committed":
            continue
        version = ArtifactVersion(reg, version_id)
        entries = list(version.files())
        assert version.file_count == len(entries), f"{version.qualified_name}: file_count {version.file_count}, {len(entries)} entries"
        assert version.size == sum(e.size for e in entries), f"{version.qualified_name}: size differs from its entries"
        assert version.digest == version_digest((e.path, e.digest) for e in entries), f"{version.qualified_name}: digest"
        if source_id is not None:
            source = rows(reg, "SELECT state FROM versions WHERE id = ?", (source_id,))
            assert source == [("committed",)], f"{version.qualified_name} links a deleted version"
        version.verify()
        checked += 1
    return checked


def assert_history_counts(reg: artreg.Registry) -> None:
    """Each version row was recorded once in the audit log (logged or linked), none twice."""
    recorded: dict[int, int] = defaultdict(int)
    for entry in reg.audit.entries():
        if entry.action in ("version_logged", "version_linked") and entry.version_id is not None:
            recorded[entry.version_id] += 1
    ids = [r[0] for r in rows(reg, "SELECT id FROM versions ORDER BY id")]
    assert dict(recorded) == dict.fromkeys(ids, 1), "versions and their audit records differ"


def assert_consistent(reg: artreg.Registry) -> int:
    """Every invariant above, plus ``check().ok`` and an intact audit chain; returns live versions checked."""
    assert_indices_gap_free(reg)
    assert_alias_invariants(reg)
    assert_history_counts(reg)
    checked = assert_versions_whole(reg)
    report = reg.check()
    assert report.ok, report
    reg.audit.verify()
    return checked


def assert_chunks_consistent(reg: artreg.Registry) -> None:
    """Every manifest is whole (SPEC §22): each chunk's count, size, first and last path and
    text agree with its entry rows; each version's chunks are in path order without overlap
    and add up to its file_count and size; no manifest row names a missing chunk."""
    chunks = {cid: (count, size, first, last, text) for cid, count, size, first, last, text in rows(
        reg, "SELECT id, count, size, first_path, last_path, text FROM chunks")}
    held: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    for row in rows(reg, "SELECT chunk_id, path, digest, size FROM chunk_entries ORDER BY chunk_id, path"):
        held[row[0]].append(row[1:])
    assert set(held) <= set(chunks), "entry rows of a chunk that does not exist"
    for cid, (count, size, first, last, text) in chunks.items():
        entries = held.get(cid, [])
        assert count == len(entries) > 0, f"chunk {cid}: count {count}, {len(entries)} rows"
        assert size == sum(e[2] for e in entries), f"chunk {cid}: size"
        assert (first, last) == (entries[0][0], entries[-1][0]), f"chunk {cid}: first and last path"
        assert text == "".join(f"{p}:{d}\n" for p, d, _ in entries).encode("utf-8", "surrogatepass"), f"chunk {cid}: text"
    listed: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    for version_id, first, chunk_id in rows(reg, "SELECT version_id, first_path, chunk_id FROM manifests ORDER BY version_id, first_path"):
        assert chunk_id in chunks, f"version {version_id} lists a missing chunk {chunk_id}"
        assert chunks[chunk_id][2] == first, f"version {version_id}: chunk {chunk_id} is listed under another first path"
        listed[version_id].append(chunks[chunk_id])
    for version_id, file_count, size, state, source_id in rows(reg, "SELECT id, file_count, size, state, source_id FROM versions"):
        parts = listed.get(version_id, [])
        if source_id is not None:
            assert not parts, f"link {version_id} has a manifest of its own"
            continue
        if state == "deleted" and not parts:
            continue  # collected by gc
        assert sum(p[0] for p in parts) == file_count and sum(p[1] for p in parts) == size, f"version {version_id}: half a manifest"
        for before, after in zip(parts, parts[1:], strict=False):
            assert before[3] < after[2], f"version {version_id}: chunks overlap or are out of order"


def snapshot(reg: artreg.Registry) -> dict[str, Any]:
    """Everything a change could touch: every row of every table, the audit head, the blob files
    (temporary ones in ``objects/tmp`` included)."""
    with reg._db.read() as con:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")]
        content = {t: sorted(repr(tuple(r)) for r in con.execute(f'SELECT * FROM "{t}"')) for t in tables}
    assert reg.objects is not None
    # objects/lock is made empty on first use of the store lock and never holds anything
    files = sorted(str(p.relative_to(reg.objects)) for p in reg.objects.rglob("*") if p.is_file() and p.name != "lock")
    return {
        "audit": reg.audit.head(),
        "rows": {t: len(rows) for t, rows in content.items()},
        "content": hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest(),
        "files": files,
    }
