"""The PostgreSQL catalog schema is the final SQLite schema, and its search triggers behave as SQLite's.

Each test gets ``pg_url``, a fresh empty database; the SQLite side is built by the real
migrations in memory, so a migration appended without its PostgreSQL port fails here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import apsw
import psycopg
import pytest

from artreg.storage import _pg_schema
from artreg.storage._db import migrate
from artreg.storage._pg_schema import PG_BASELINE_VERSION, create_schema, pg_schema_version, upgrade_schema
from artreg.storage._schema import APPLICATION_ID, SCHEMA_VERSION

# What exists only on one side, on purpose (see the _pg_schema docstring).
FTS_TABLES = {"search_fts", "search_fts_config", "search_fts_data", "search_fts_docsize", "search_fts_idx"}
FTS_TRIGGERS = {"search_docs_insert", "search_docs_delete"}
PG_ONLY_TABLES = {"artreg_catalog"}
PG_ONLY_COLUMNS = {("search_docs", "tsv")}
PG_TYPES = {"INTEGER": "bigint", "TEXT": "text", "BLOB": "bytea", "REAL": "double precision"}
UUID4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")

PG_COLUMNS = """
SELECT c.table_name, c.column_name, c.data_type, c.is_nullable = 'YES', c.column_default, c.is_identity = 'YES',
       c.identity_generation, c.collation_name, c.is_generated
FROM information_schema.columns AS c JOIN information_schema.tables AS t USING (table_schema, table_name)
WHERE c.table_schema = current_schema() AND t.table_type = %s ORDER BY c.table_name, c.ordinal_position
"""
PG_CONSTRAINTS = """
SELECT r.relname, c.contype,
       ARRAY(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY AS k(attnum, n)
             JOIN pg_attribute AS a ON a.attrelid = c.conrelid AND a.attnum = k.attnum ORDER BY k.n)::text[],
       f.relname,
       ARRAY(SELECT a.attname FROM unnest(c.confkey) WITH ORDINALITY AS k(attnum, n)
             JOIN pg_attribute AS a ON a.attrelid = c.confrelid AND a.attnum = k.attnum ORDER BY k.n)::text[]
FROM pg_constraint AS c JOIN pg_class AS r ON r.oid = c.conrelid LEFT JOIN pg_class AS f ON f.oid = c.confrelid
WHERE c.connamespace = current_schema()::regnamespace
"""
PG_INDEXES = """
SELECT i.relname, t.relname, ix.indisunique, pg_get_expr(ix.indpred, ix.indrelid),
       ARRAY(SELECT pg_get_indexdef(ix.indexrelid, k, true) FROM generate_series(1, ix.indnkeyatts) AS k)::text[]
FROM pg_index AS ix JOIN pg_class AS i ON i.oid = ix.indexrelid JOIN pg_class AS t ON t.oid = ix.indrelid
WHERE t.relnamespace = current_schema()::regnamespace
  AND NOT EXISTS (SELECT 1 FROM pg_constraint AS c WHERE c.conindid = ix.indexrelid)
"""
PG_TRIGGERS = """
SELECT t.tgname, r.relname, pg_get_triggerdef(t.oid)
FROM pg_trigger AS t JOIN pg_class AS r ON r.oid = t.tgrelid
WHERE NOT t.tgisinternal AND r.relnamespace = current_schema()::regnamespace
"""
SQLITE_TRIGGER = re.compile(
    r"CREATE TRIGGER (\w+) AFTER (INSERT|DELETE|UPDATE)(?: OF ([\w, ]+?))? ON (\w+)(?: WHEN (.+?))? BEGIN", re.S
)
PG_TRIGGER = re.compile(
    r"CREATE TRIGGER (\w+) AFTER (INSERT|DELETE|UPDATE)(?: OF ([\w, ]+?))? ON \S*?(\w+) FOR EACH ROW(?: WHEN \((.+)\))? EXECUTE"
)


@pytest.fixture
def sqlite() -> Iterator[apsw.Connection]:
    """A new registry's catalog as SQLite's migrations make it."""
    con = apsw.Connection(":memory:")
    con.execute("PRAGMA foreign_keys = ON")
    with con:
        migrate(con, {"created_by": "alice"})
    yield con
    con.close()


@pytest.fixture
def pg(pg_url: str) -> Iterator[psycopg.Connection[Any]]:
    """A new catalog in PostgreSQL, made by create_schema with the same initial settings."""
    with psycopg.connect(pg_url) as conn:
        create_schema(conn.execute, {"created_by": "alice"})
        conn.commit()
        yield conn


def _norm(sql: str | None) -> str | None:
    """An expression as both engines print it: no casts to text, no outer parentheses, lower case."""
    if sql is None:
        return None
    sql = re.sub(r"::(text|bigint|integer)\b", "", sql).strip().lower()
    while sql.startswith("(") and sql.endswith(")"):
        sql = sql[1:-1].strip()
    return " ".join(sql.split())


def _sqlite_objects(con: apsw.Connection, kind: str) -> dict[str, str]:
    rows = con.execute("SELECT name, sql FROM sqlite_schema WHERE type = ? AND name NOT LIKE 'sqlite_%'", (kind,))
    return {str(name): str(sql) for name, sql in rows}


def _sqlite_tables(con: apsw.Connection) -> dict[str, str]:
    return {name: sql for name, sql in _sqlite_objects(con, "table").items() if name not in FTS_TABLES}


def test_tables_views_and_columns_match_sqlite_in_order_and_type(sqlite: apsw.Connection, pg: psycopg.Connection[Any]) -> None:
    tables = _sqlite_tables(sqlite)
    pg_tables: dict[str, list[tuple[Any, ...]]] = {}
    for row in pg.execute(PG_COLUMNS, ("BASE TABLE",)):
        pg_tables.setdefault(row[0], []).append(row[1:])
    assert set(pg_tables) == set(tables) | PG_ONLY_TABLES

    for table, sql in tables.items():
        rowid_alias = "WITHOUT ROWID" not in sql
        info = list(sqlite.execute(f"SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_info('{table}')"))
        pks = [r for r in info if r[4]]
        got = [c for c in pg_tables[table] if (table, c[0]) not in PG_ONLY_COLUMNS]
        assert [c[0] for c in got] == [r[0] for r in info], table
        for (name, decl, notnull, default, pk), (_, data_type, nullable, pg_default, identity, generation, collation, _) in zip(
            info, got, strict=True
        ):
            where = f"{table}.{name}"
            assert data_type == PG_TYPES[decl], where
            assert collation == ("C" if decl == "TEXT" else None), where
            is_rowid = rowid_alias and decl == "INTEGER" and len(pks) == 1 and pk == 1
            assert identity == is_rowid, where
            assert generation == ("BY DEFAULT" if is_rowid else None), where
            # A primary key is NOT NULL in PostgreSQL; SQLite's STRICT tables refuse NULL there too.
            assert nullable == (not notnull and not pk), where
            assert _norm(pg_default) == _norm(default), where

    tsv = next(c for c in pg_tables["search_docs"] if c[0] == "tsv")
    assert (tsv[1], tsv[7]) == ("tsvector", "ALWAYS")

    views = _sqlite_objects(sqlite, "view")
    pg_views: dict[str, list[str]] = {}
    for row in pg.execute(PG_COLUMNS, ("VIEW",)):
        pg_views.setdefault(row[0], []).append(row[1])
    assert set(pg_views) == set(views) == {"entries"}
    for view in views:
        assert pg_views[view] == [r[0] for r in sqlite.execute(f"SELECT name FROM pragma_table_info('{view}')")]


def test_keys_foreign_keys_and_checks_match_sqlite(sqlite: apsw.Connection, pg: psycopg.Connection[Any]) -> None:
    expected: dict[str, dict[str, Any]] = {}
    for table, sql in _sqlite_tables(sqlite).items():
        pk = [str(r[0]) for r in sqlite.execute(f"SELECT name FROM pragma_table_info('{table}') WHERE pk > 0 ORDER BY pk")]
        uniques = sorted(
            [str(c[0]) for c in sqlite.execute(f"SELECT name FROM pragma_index_info('{r[0]}') ORDER BY seqno")]
            for r in sqlite.execute(f"SELECT name FROM pragma_index_list('{table}') WHERE origin = 'u'")
        )
        fks: dict[int, tuple[str, list[str], list[str]]] = {}
        for fk_id, _, parent, column, parent_column in sqlite.execute(
            f'SELECT id, seq, "table", "from", "to" FROM pragma_foreign_key_list(\'{table}\') ORDER BY id, seq'
        ):
            fks.setdefault(fk_id, (parent, [], []))[1].append(column)
            fks[fk_id][2].append(parent_column)
        expected[table] = {"pk": pk, "unique": uniques, "fk": sorted(fks.values()), "checks": sql.count("CHECK (")}

    got: dict[str, dict[str, Any]] = {t: {"pk": [], "unique": [], "fk": [], "checks": 0} for t in expected}
    for table, kind, columns, parent, parent_columns in pg.execute(PG_CONSTRAINTS):
        if table in PG_ONLY_TABLES:
            continue
        if kind == "p":
            got[table]["pk"] = columns
        elif kind == "u":
            got[table]["unique"].append(columns)
        elif kind == "f":
            got[table]["fk"].append((parent, columns, parent_columns))
        elif kind == "c":
            got[table]["checks"] += 1
    for value in got.values():
        value["unique"].sort()
        value["fk"].sort()

    # search_docs' UNIQUE (kind, ref_id, field, text) is a unique index over md5(text) in PostgreSQL.
    assert expected["search_docs"]["unique"] == [["kind", "ref_id", "field", "text"]]
    expected["search_docs"]["unique"] = []
    assert got == expected
    indexes = {r[0]: r[1:] for r in pg.execute(PG_INDEXES)}
    assert indexes["search_docs_unique"] == ("search_docs", True, None, ["kind", "ref_id", "field", "md5(text)"])


def test_indexes_match_sqlite(sqlite: apsw.Connection, pg: psycopg.Connection[Any]) -> None:
    expected = {}
    for name, sql in _sqlite_objects(sqlite, "index").items():
        table, unique = sqlite.execute(
            "SELECT tbl_name, sql LIKE 'CREATE UNIQUE%' FROM sqlite_schema WHERE name = ?", (name,)
        ).fetchone()  # type: ignore[misc]
        where = sql.split(" WHERE ", 1)[1] if " WHERE " in sql else None
        columns = [str(r[0]) for r in sqlite.execute(f"SELECT name FROM pragma_index_info('{name}') ORDER BY seqno")]
        expected[name] = (table, bool(unique), _norm(where), columns)
    got = {
        name: (table, unique, _norm(where), columns)
        for name, table, unique, where, columns in pg.execute(PG_INDEXES)
        if name not in {"search_docs_unique", "search_docs_tsv", "artreg_catalog_one_row"}
    }
    assert got == expected
    gin = pg.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'search_docs_tsv'").fetchone()
    assert gin is not None and "USING gin (tsv)" in gin[0]


def test_search_triggers_match_sqlite_in_name_event_and_condition(sqlite: apsw.Connection, pg: psycopg.Connection[Any]) -> None:
    def shape(match: re.Match[str]) -> tuple[str, str, str, tuple[str, ...], str | None]:
        name, event, columns, table, when = match.groups()
        return name, table, event, tuple(c.strip() for c in (columns or "").split(",") if c.strip()), _norm(when)

    expected = {}
    for name, sql in _sqlite_objects(sqlite, "trigger").items():
        match = SQLITE_TRIGGER.match(sql)
        assert match is not None, sql
        expected[name] = shape(match)
    assert set(expected) >= FTS_TRIGGERS
    for name in FTS_TRIGGERS:
        del expected[name]
    got = {}
    for name, _, definition in pg.execute(PG_TRIGGERS):
        match = PG_TRIGGER.match(definition)
        assert match is not None, definition
        got[name] = shape(match)
    assert got == expected


def test_new_catalog_holds_what_a_new_sqlite_registry_holds(sqlite: apsw.Connection, pg: psycopg.Connection[Any]) -> None:
    queries = [
        "SELECT id, name FROM projects ORDER BY id",
        "SELECT id, name, project_id, description, all_types, visibility, default_role, created_by FROM registries ORDER BY id",
        "SELECT registry_id, type FROM registry_types ORDER BY registry_id, type",
        'SELECT "user" FROM org_admins',
        "SELECT key FROM settings ORDER BY key",
        "SELECT kind, ref_id, field, text FROM search_docs ORDER BY kind, ref_id, field, text",
    ]
    for query in queries:
        assert [tuple(r) for r in pg.execute(query)] == list(sqlite.execute(query)), query
    stamp = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000000Z")
    for (created,) in pg.execute("SELECT created_at FROM projects UNION ALL SELECT created_at FROM registries"):
        assert stamp.fullmatch(created)
    (uuid,) = pg.execute("SELECT value FROM settings WHERE key = 'registry_id'").fetchone() or ("",)
    assert UUID4.fullmatch(uuid)
    assert pg.execute("SELECT application_id, version FROM artreg_catalog").fetchall() == [(APPLICATION_ID, SCHEMA_VERSION)]
    assert pg_schema_version() == SCHEMA_VERSION


def test_catalog_row_is_single(pg: psycopg.Connection[Any]) -> None:
    with pytest.raises(psycopg.errors.UniqueViolation):
        pg.execute("INSERT INTO artreg_catalog(application_id, version) VALUES (%s, %s)", (APPLICATION_ID, SCHEMA_VERSION))


def test_a_given_registry_id_is_kept(pg_url: str) -> None:
    with psycopg.connect(pg_url) as conn:
        create_schema(conn.execute, {"created_by": "bob", "registry_id": "kept"})
        assert conn.execute("SELECT key, value FROM settings ORDER BY key").fetchall() == [("created_by", "bob"), ("registry_id", "kept")]
        assert conn.execute('SELECT "user" FROM org_admins').fetchall() == [("bob",)]


def test_failed_creation_leaves_the_database_empty(pg_url: str) -> None:
    """Without a creator the core registries cannot be made: the transaction undoes every table."""
    with psycopg.connect(pg_url) as conn:
        with pytest.raises(psycopg.errors.NotNullViolation):
            create_schema(conn.execute, {})
        conn.rollback()
        assert conn.execute("SELECT count(*) FROM pg_class WHERE relnamespace = current_schema()::regnamespace").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM pg_proc WHERE pronamespace = current_schema()::regnamespace").fetchone() == (0,)


def test_upgrade_applies_later_migrations_in_order(pg: psycopg.Connection[Any], monkeypatch: pytest.MonkeyPatch) -> None:
    later = {
        PG_BASELINE_VERSION + 1: "ALTER TABLE settings ADD COLUMN note TEXT",
        PG_BASELINE_VERSION + 2: "UPDATE settings SET note = 'after ' || (SELECT version FROM artreg_catalog)",
    }
    monkeypatch.setattr(_pg_schema, "PG_MIGRATIONS", later)
    upgrade_schema(pg.execute, PG_BASELINE_VERSION)
    assert pg.execute("SELECT version FROM artreg_catalog").fetchone() == (PG_BASELINE_VERSION + 2,)
    assert pg.execute("SELECT DISTINCT note FROM settings").fetchall() == [(f"after {PG_BASELINE_VERSION + 1}",)]
    upgrade_schema(pg.execute, PG_BASELINE_VERSION + 2)  # nothing left to do
    assert pg.execute("SELECT version FROM artreg_catalog").fetchone() == (PG_BASELINE_VERSION + 2,)


# Statements run on both catalogs in turn; after each, search_docs must hold the same rows.
SEARCH_STEPS = [
    "INSERT INTO projects(name, created_at) VALUES ('zoo', 't')",
    "INSERT INTO collections(project_id, name, type, description, created_at) VALUES (3, 'animals', 'dataset', 'Zebras and more', 't')",
    "INSERT INTO collections(project_id, name, type, created_at) VALUES (3, 'plants', 'dataset', 't')",
    "INSERT INTO collection_tags(collection_id, tag) VALUES (1, 'wild'), (1, 'striped'), (2, 'green')",
    "UPDATE collections SET name = 'beasts' WHERE id = 1",
    "UPDATE collections SET description = 'Ferns' WHERE id = 2",
    "UPDATE collections SET description = NULL WHERE id = 1",
    "UPDATE collections SET next_index = 3",
    "DELETE FROM collection_tags WHERE collection_id = 1 AND tag = 'wild'",
    "INSERT INTO versions(collection_id, idx, digest, size, file_count, description, created_at, created_by) "
    "VALUES (1, 0, 'd0', 0, 0, 'first cut', 't', 'alice'), (1, 1, 'd1', 0, 0, NULL, 't', 'alice'), (2, 0, 'd2', 0, 0, 'x', 't', 'bob')",
    "UPDATE versions SET description = 'second cut' WHERE id = 2",
    "UPDATE versions SET description = NULL WHERE id = 3",
    "UPDATE versions SET state = 'deleted', deleted_at = 't' WHERE id = 1",
    "INSERT INTO version_tags(version_id, tag) VALUES (1, 'old'), (2, 'new'), (2, 'shiny')",
    "DELETE FROM version_tags WHERE version_id = 2 AND tag = 'shiny'",
    "INSERT INTO aliases(collection_id, alias, version_id) VALUES (1, 'latest', 1), (1, 'best', 1), (2, 'latest', 3)",
    "INSERT INTO aliases(collection_id, alias, version_id) VALUES (1, 'latest', 2) "
    "ON CONFLICT(collection_id, alias) DO UPDATE SET version_id = excluded.version_id",
    "UPDATE aliases SET version_id = 2 WHERE alias = 'best'",
    "DELETE FROM aliases WHERE collection_id = 2",
    "INSERT INTO projects(name, created_at) VALUES ('wandb-registry-zoo', 't')",
    "INSERT INTO registries(name, project_id, description, created_at, created_by) VALUES ('zoo', 4, 'Animals', 't', 'alice')",
    "UPDATE registries SET description = 'All animals' WHERE name = 'zoo'",
    "UPDATE registries SET name = 'menagerie', description = NULL WHERE name = 'zoo'",
    "UPDATE registries SET visibility = 'restricted'",
    "DELETE FROM registries WHERE name = 'menagerie'",
    "DELETE FROM version_tags",
    "DELETE FROM collection_tags",
    "DELETE FROM aliases",
]
SEARCH_ROWS = "SELECT kind, ref_id, field, text FROM search_docs ORDER BY kind, ref_id, field, text"


def test_search_triggers_keep_the_same_rows_as_sqlite(sqlite: apsw.Connection, pg: psycopg.Connection[Any]) -> None:
    seen: set[tuple[Any, ...]] = set()
    for statement in SEARCH_STEPS:
        with sqlite:
            sqlite.execute(statement)
        with pg.transaction():
            pg.execute(statement)
        expected = list(sqlite.execute(SEARCH_ROWS))
        assert [tuple(r) for r in pg.execute(SEARCH_ROWS)] == expected, statement
        seen.update(expected)
    # The steps reached the states worth comparing: a moved alias, renamed and tagged things.
    assert {("version", 2, "alias", "best"), ("registry", 3, "name", "menagerie"), ("collection", 1, "tag", "striped")} <= seen
    assert ("version", 1, "alias", "best") in seen
    matched = pg.execute("SELECT ref_id FROM search_docs WHERE tsv @@ to_tsquery('simple', 'ferns')").fetchall()
    assert matched == [(2,)]


def test_long_description_is_searchable(pg: psycopg.Connection[Any]) -> None:
    """Longer than a B-tree entry may be: SQLite takes it, so PostgreSQL must."""
    words = " ".join(f"w{i:06x}" for i in range(20_000))
    pg.execute("INSERT INTO projects(name, created_at) VALUES ('p', 't')")
    pg.execute("INSERT INTO collections(project_id, name, type, created_at) VALUES (3, 'c', 'model', 't')")
    pg.execute(
        "INSERT INTO versions(collection_id, idx, digest, size, file_count, description, created_at, created_by) "
        "VALUES (1, 0, 'd', 0, 0, %s, 't', 'alice')",
        (words,),
    )
    hits = pg.execute("SELECT kind, ref_id FROM search_docs WHERE tsv @@ to_tsquery('simple', 'w004e1f')").fetchall()
    assert hits == [("version", 1)]


JSON_TEXTS = ["{}", "[]", "1", '"x"', "null", ' {"a": [1, 2.5e3, true]} ', '{"a": "\\u0000"}', '{"a": "\\ud800"}',
              '{"a": 1, "a": 2}', "{", "", "{'a': 1}", "[1,]", '{"a": NaN}', "NaN", "Infinity", "01", '"\\x"']


def test_json_checks_accept_what_sqlite_json_valid_accepts(sqlite: apsw.Connection, pg: psycopg.Connection[Any]) -> None:
    for text in JSON_TEXTS:
        (expected,) = sqlite.execute("SELECT json_valid(?)", (text,)).fetchone()  # type: ignore[misc]
        assert pg.execute("SELECT artreg_json_valid(%s)", (text,)).fetchone() == (bool(expected),), text
    assert pg.execute("SELECT artreg_json_valid(NULL)").fetchone() == (None,)
    pg.execute("INSERT INTO projects(name, created_at) VALUES ('p', 't')")
    pg.commit()
    with pytest.raises(psycopg.errors.CheckViolation):
        pg.execute("INSERT INTO runs(project_id, name, config, created_by, started_at) VALUES (3, 'r', '{', 'a', 't')")
    pg.rollback()
    assert pg.execute("SELECT count(*) FROM runs").fetchone() == (0,)


def test_text_orders_by_bytes_as_sqlite(sqlite: apsw.Connection, pg: psycopg.Connection[Any]) -> None:
    """Chunk ranges and path order assume SQLite's BINARY collation: PostgreSQL's "C" is the same order."""
    paths = ["a", "B", "é", "Z", "_", "a/b", "a-b", "a.b", "ä", "\U0001f600", "ａ", "A", "b"]
    for con, mark in ((sqlite, "?"), (pg, "%s")):
        con.execute(f"INSERT INTO chunks(key, count, size, first_path, last_path, text) VALUES ({mark}, 1, 0, 'A', 'z', {mark})",
                    (b"k" * 32, b""))
        for path in paths:
            con.execute(f"INSERT INTO chunk_entries(chunk_id, path, digest, size) VALUES (1, {mark}, 'd', 0)", (path,))
    order = "SELECT path FROM chunk_entries ORDER BY path"
    assert [r[0] for r in pg.execute(order)] == [r[0] for r in sqlite.execute(order)] == sorted(paths, key=lambda p: p.encode())
    with pytest.raises(psycopg.errors.CheckViolation):
        pg.execute("INSERT INTO chunks(key, count, size, first_path, last_path, text) VALUES (%s, 1, 0, 'b', 'B', '')", (b"j" * 32,))
