"""The database schema as an ordered list of migrations (``PRAGMA user_version``).

Migration *n* (1-based) takes a database from ``user_version = n-1`` to ``n``: SQL text, or
a function for one that needs Python. Never edit a migration that has shipped: append a new one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import apsw

from ._chunks import write_sorted

APPLICATION_ID = 0x41525447  # "ARTG"

_V1 = """
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

CREATE TABLE projects (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
) STRICT;

CREATE TABLE collections (
    id          INTEGER PRIMARY KEY,
    project_id  INTEGER NOT NULL REFERENCES projects(id),
    name        TEXT NOT NULL,
    type        TEXT NOT NULL,
    description TEXT,
    next_index  INTEGER NOT NULL DEFAULT 0 CHECK (next_index >= 0),
    created_at  TEXT NOT NULL,
    UNIQUE (project_id, name)
) STRICT;

CREATE TABLE collection_tags (
    collection_id INTEGER NOT NULL REFERENCES collections(id),
    tag           TEXT NOT NULL,
    PRIMARY KEY (collection_id, tag)
) STRICT, WITHOUT ROWID;

-- One row per version; rows are never removed, so an index stays reserved after deletion.
CREATE TABLE versions (
    id            INTEGER PRIMARY KEY,
    collection_id INTEGER NOT NULL REFERENCES collections(id),
    idx           INTEGER NOT NULL CHECK (idx >= 0),
    digest        TEXT NOT NULL,
    size          INTEGER NOT NULL CHECK (size >= 0),
    file_count    INTEGER NOT NULL CHECK (file_count >= 0),
    description   TEXT,
    metadata      TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(metadata)),
    created_at    TEXT NOT NULL,
    created_by    TEXT NOT NULL,
    state         TEXT NOT NULL DEFAULT 'committed' CHECK (state IN ('committed', 'deleted')),
    deleted_at    TEXT,
    UNIQUE (collection_id, idx)
) STRICT;

CREATE TABLE version_tags (
    version_id INTEGER NOT NULL REFERENCES versions(id),
    tag        TEXT NOT NULL,
    PRIMARY KEY (version_id, tag)
) STRICT, WITHOUT ROWID;

-- The primary key makes "an alias is held by at most one version" a schema fact.
CREATE TABLE aliases (
    collection_id INTEGER NOT NULL REFERENCES collections(id),
    alias         TEXT NOT NULL,
    version_id    INTEGER NOT NULL REFERENCES versions(id),
    PRIMARY KEY (collection_id, alias)
) STRICT, WITHOUT ROWID;
CREATE INDEX aliases_by_version ON aliases(version_id);

-- Content-addressed bytes: inline when data IS NOT NULL, else a file objects/ab/cdef...
CREATE TABLE blobs (
    id     INTEGER PRIMARY KEY,
    digest TEXT NOT NULL UNIQUE CHECK (length(digest) = 64),
    size   INTEGER NOT NULL CHECK (size >= 0),
    data   BLOB
) STRICT;

CREATE TABLE entries (
    version_id INTEGER NOT NULL REFERENCES versions(id),
    path       TEXT NOT NULL,
    digest     TEXT NOT NULL,
    size       INTEGER NOT NULL CHECK (size >= 0),
    ref        TEXT,
    extra      TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(extra)),
    PRIMARY KEY (version_id, path)
) STRICT, WITHOUT ROWID;

-- (device, inode, size, mtime_ns) -> digest, so unchanged files are not hashed again.
CREATE TABLE stat_cache (
    dev      INTEGER NOT NULL,
    ino      INTEGER NOT NULL,
    size     INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    digest   TEXT NOT NULL,
    PRIMARY KEY (dev, ino)
) STRICT, WITHOUT ROWID;
"""

# Runs and lineage (producer and consumer edges); TTL, retention and deletion.
_V2 = """
ALTER TABLE projects ADD COLUMN default_ttl_seconds REAL CHECK (default_ttl_seconds > 0);
ALTER TABLE projects ADD COLUMN keep_versions INTEGER CHECK (keep_versions >= 0);
ALTER TABLE collections ADD COLUMN keep_versions INTEGER CHECK (keep_versions >= 0);
-- 1: the collection has its own retention policy (keep_versions NULL = keep all); 0: the project's.
ALTER TABLE collections ADD COLUMN keep_own INTEGER NOT NULL DEFAULT 0 CHECK (keep_own IN (0, 1));
ALTER TABLE collections ADD COLUMN deleted_at TEXT;
ALTER TABLE versions ADD COLUMN ttl_policy TEXT NOT NULL DEFAULT 'inherit'
    CHECK (ttl_policy IN ('inherit', 'never', 'set'));
ALTER TABLE versions ADD COLUMN ttl_seconds REAL CHECK (ttl_seconds > 0);
CREATE INDEX versions_by_state ON versions(state, collection_id, idx);

CREATE TABLE runs (
    id          INTEGER PRIMARY KEY,
    project_id  INTEGER NOT NULL REFERENCES projects(id),
    name        TEXT NOT NULL,
    job_type    TEXT,
    config      TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(config)),
    state       TEXT NOT NULL DEFAULT 'running' CHECK (state IN ('running', 'finished', 'crashed')),
    error       TEXT,
    created_by  TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    finished_at TEXT
) STRICT;

-- run -> version it logged (a version may have several producers through dedup)
CREATE TABLE run_outputs (
    run_id     INTEGER NOT NULL REFERENCES runs(id),
    version_id INTEGER NOT NULL REFERENCES versions(id),
    PRIMARY KEY (run_id, version_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX run_outputs_by_version ON run_outputs(version_id, run_id);

-- version -> run that used it
CREATE TABLE run_inputs (
    run_id     INTEGER NOT NULL REFERENCES runs(id),
    version_id INTEGER NOT NULL REFERENCES versions(id),
    PRIMARY KEY (run_id, version_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX run_inputs_by_version ON run_inputs(version_id, run_id);
"""

# Registries (each backed by the project "wandb-registry-<name>"), links (versions with a
# source), roles, protected aliases and the hash-chained audit log.
_V3 = """
CREATE TABLE registries (
    id           INTEGER PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    project_id   INTEGER NOT NULL UNIQUE REFERENCES projects(id),
    description  TEXT,
    all_types    INTEGER NOT NULL DEFAULT 1 CHECK (all_types IN (0, 1)),
    visibility   TEXT NOT NULL DEFAULT 'organization' CHECK (visibility IN ('organization', 'restricted')),
    default_role TEXT NOT NULL DEFAULT 'member'
        CHECK (default_role IN ('restricted_viewer', 'viewer', 'member', 'admin')),
    created_at   TEXT NOT NULL,
    created_by   TEXT NOT NULL
) STRICT;

-- Accepted types (add-only); used when all_types = 0.
CREATE TABLE registry_types (
    registry_id INTEGER NOT NULL REFERENCES registries(id),
    type        TEXT NOT NULL,
    PRIMARY KEY (registry_id, type)
) STRICT, WITHOUT ROWID;

CREATE TABLE registry_members (
    registry_id INTEGER NOT NULL REFERENCES registries(id),
    user        TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('restricted_viewer', 'viewer', 'member', 'admin')),
    PRIMARY KEY (registry_id, user)
) STRICT, WITHOUT ROWID;

CREATE TABLE protected_aliases (
    registry_id INTEGER NOT NULL REFERENCES registries(id),
    alias       TEXT NOT NULL,
    PRIMARY KEY (registry_id, alias)
) STRICT, WITHOUT ROWID;

CREATE TABLE org_admins (
    user TEXT PRIMARY KEY
) STRICT, WITHOUT ROWID;
INSERT INTO org_admins(user) SELECT value FROM settings WHERE key = 'created_by';

-- A link: a version of a registry collection whose content is its source's.
ALTER TABLE versions ADD COLUMN source_id INTEGER REFERENCES versions(id);
CREATE INDEX versions_by_source ON versions(source_id) WHERE source_id IS NOT NULL;

CREATE TABLE audit (
    id            INTEGER PRIMARY KEY,
    at            TEXT NOT NULL,
    user          TEXT NOT NULL,
    action        TEXT NOT NULL,
    registry_id   INTEGER,
    collection_id INTEGER,
    version_id    INTEGER,
    alias         TEXT,
    detail        TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(detail)),
    hash          TEXT NOT NULL
) STRICT;
CREATE INDEX audit_by_alias ON audit(collection_id, alias) WHERE alias IS NOT NULL;

-- The core registries every registry file has.
INSERT INTO projects(name, created_at)
    VALUES ('wandb-registry-model', strftime('%Y-%m-%dT%H:%M:%S.000000Z', 'now')),
           ('wandb-registry-dataset', strftime('%Y-%m-%dT%H:%M:%S.000000Z', 'now'))
    ON CONFLICT(name) DO NOTHING;
INSERT INTO registries(name, project_id, description, all_types, created_at, created_by)
    SELECT substr(p.name, 16), p.id, 'Core registry for ' || substr(p.name, 16) || 's', 0, p.created_at,
           (SELECT value FROM settings WHERE key = 'created_by')
    FROM projects AS p WHERE p.name IN ('wandb-registry-model', 'wandb-registry-dataset');
INSERT INTO registry_types(registry_id, type) SELECT id, name FROM registries;
"""

# Full-text search (SPEC §11): one row per searchable value in search_docs, indexed by the
# external-content FTS5 table search_fts. Triggers keep both in step with the data, inside
# the transaction of every change. Deleted collections and versions keep their rows; the
# search query skips them (a soft delete is an UPDATE of state, not of the text).
_V4 = """
CREATE TABLE search_docs (
    id     INTEGER PRIMARY KEY,
    kind   TEXT NOT NULL CHECK (kind IN ('registry', 'collection', 'version')),
    ref_id INTEGER NOT NULL,
    field  TEXT NOT NULL CHECK (field IN ('name', 'description', 'alias', 'tag')),
    text   TEXT NOT NULL,
    UNIQUE (kind, ref_id, field, text)
) STRICT;
CREATE VIRTUAL TABLE search_fts USING fts5(text, content='search_docs', content_rowid='id', prefix='2 3');

CREATE TRIGGER search_docs_insert AFTER INSERT ON search_docs BEGIN
    INSERT INTO search_fts(rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER search_docs_delete AFTER DELETE ON search_docs BEGIN
    INSERT INTO search_fts(search_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;

CREATE TRIGGER search_registry_insert AFTER INSERT ON registries BEGIN
    INSERT INTO search_docs(kind, ref_id, field, text) VALUES ('registry', new.id, 'name', new.name);
    INSERT INTO search_docs(kind, ref_id, field, text)
        SELECT 'registry', new.id, 'description', new.description WHERE new.description IS NOT NULL;
END;
CREATE TRIGGER search_registry_update AFTER UPDATE OF name, description ON registries BEGIN
    DELETE FROM search_docs WHERE kind = 'registry' AND ref_id = old.id;
    INSERT INTO search_docs(kind, ref_id, field, text) VALUES ('registry', new.id, 'name', new.name);
    INSERT INTO search_docs(kind, ref_id, field, text)
        SELECT 'registry', new.id, 'description', new.description WHERE new.description IS NOT NULL;
END;
CREATE TRIGGER search_registry_delete AFTER DELETE ON registries BEGIN
    DELETE FROM search_docs WHERE kind = 'registry' AND ref_id = old.id;
END;

CREATE TRIGGER search_collection_insert AFTER INSERT ON collections BEGIN
    INSERT INTO search_docs(kind, ref_id, field, text) VALUES ('collection', new.id, 'name', new.name);
    INSERT INTO search_docs(kind, ref_id, field, text)
        SELECT 'collection', new.id, 'description', new.description WHERE new.description IS NOT NULL;
END;
CREATE TRIGGER search_collection_update AFTER UPDATE OF name, description ON collections BEGIN
    DELETE FROM search_docs WHERE kind = 'collection' AND ref_id = old.id AND field IN ('name', 'description');
    INSERT INTO search_docs(kind, ref_id, field, text) VALUES ('collection', new.id, 'name', new.name);
    INSERT INTO search_docs(kind, ref_id, field, text)
        SELECT 'collection', new.id, 'description', new.description WHERE new.description IS NOT NULL;
END;
CREATE TRIGGER search_collection_tag_insert AFTER INSERT ON collection_tags BEGIN
    INSERT INTO search_docs(kind, ref_id, field, text) VALUES ('collection', new.collection_id, 'tag', new.tag);
END;
CREATE TRIGGER search_collection_tag_delete AFTER DELETE ON collection_tags BEGIN
    DELETE FROM search_docs WHERE kind = 'collection' AND ref_id = old.collection_id AND field = 'tag' AND text = old.tag;
END;

CREATE TRIGGER search_version_insert AFTER INSERT ON versions WHEN new.description IS NOT NULL BEGIN
    INSERT INTO search_docs(kind, ref_id, field, text) VALUES ('version', new.id, 'description', new.description);
END;
CREATE TRIGGER search_version_update AFTER UPDATE OF description ON versions BEGIN
    DELETE FROM search_docs WHERE kind = 'version' AND ref_id = old.id AND field = 'description';
    INSERT INTO search_docs(kind, ref_id, field, text)
        SELECT 'version', new.id, 'description', new.description WHERE new.description IS NOT NULL;
END;
CREATE TRIGGER search_version_tag_insert AFTER INSERT ON version_tags BEGIN
    INSERT INTO search_docs(kind, ref_id, field, text) VALUES ('version', new.version_id, 'tag', new.tag);
END;
CREATE TRIGGER search_version_tag_delete AFTER DELETE ON version_tags BEGIN
    DELETE FROM search_docs WHERE kind = 'version' AND ref_id = old.version_id AND field = 'tag' AND text = old.tag;
END;
CREATE TRIGGER search_alias_insert AFTER INSERT ON aliases BEGIN
    INSERT INTO search_docs(kind, ref_id, field, text) VALUES ('version', new.version_id, 'alias', new.alias);
END;
CREATE TRIGGER search_alias_update AFTER UPDATE OF version_id ON aliases BEGIN
    DELETE FROM search_docs WHERE kind = 'version' AND ref_id = old.version_id AND field = 'alias' AND text = old.alias;
    INSERT INTO search_docs(kind, ref_id, field, text) VALUES ('version', new.version_id, 'alias', new.alias);
END;
CREATE TRIGGER search_alias_delete AFTER DELETE ON aliases BEGIN
    DELETE FROM search_docs WHERE kind = 'version' AND ref_id = old.version_id AND field = 'alias' AND text = old.alias;
END;

-- What the database already holds.
INSERT INTO search_docs(kind, ref_id, field, text)
    SELECT 'registry', id, 'name', name FROM registries
    UNION ALL SELECT 'registry', id, 'description', description FROM registries WHERE description IS NOT NULL
    UNION ALL SELECT 'collection', id, 'name', name FROM collections
    UNION ALL SELECT 'collection', id, 'description', description FROM collections WHERE description IS NOT NULL
    UNION ALL SELECT 'collection', collection_id, 'tag', tag FROM collection_tags
    UNION ALL SELECT 'version', id, 'description', description FROM versions WHERE description IS NOT NULL
    UNION ALL SELECT 'version', version_id, 'tag', tag FROM version_tags
    UNION ALL SELECT 'version', version_id, 'alias', alias FROM aliases;
"""

# Automations (SPEC §11). Webhook automations are rows here; callbacks live only in the
# process that registered them. Each webhook call to make is an outbox row written in the
# transaction of the change that caused it, and stays 'pending' until a 2xx answer (or
# until the retry limit makes it 'failed'); every attempt is a delivery_attempts row.
_V5 = """
CREATE TABLE automations (
    id               INTEGER PRIMARY KEY,
    name             TEXT NOT NULL UNIQUE,
    event            TEXT NOT NULL CHECK (event IN ('version_created', 'alias_added', 'version_linked')),
    scope_kind       TEXT NOT NULL CHECK (scope_kind IN ('registry', 'project', 'collection')),
    scope_id         INTEGER NOT NULL,
    alias_regex      TEXT,
    collection_regex TEXT,
    url              TEXT NOT NULL,
    secret_env       TEXT,
    payload_template TEXT,
    enabled          INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    created_at       TEXT NOT NULL,
    created_by       TEXT NOT NULL
) STRICT;
CREATE INDEX automations_by_event ON automations(event, enabled);

-- url and secret_env are copied from the automation, so a row is delivered as it was emitted.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    automation_id   INTEGER NOT NULL,
    automation      TEXT NOT NULL,
    event           TEXT NOT NULL,
    url             TEXT NOT NULL,
    secret_env      TEXT,
    payload         TEXT NOT NULL CHECK (json_valid(payload)),
    body            TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    state           TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed', 'cancelled')),
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at TEXT NOT NULL,
    finished_at     TEXT
) STRICT;
CREATE INDEX outbox_due ON outbox(next_attempt_at) WHERE state = 'pending';
CREATE INDEX outbox_by_automation ON outbox(automation_id, state);

CREATE TABLE delivery_attempts (
    id        INTEGER PRIMARY KEY,
    outbox_id INTEGER NOT NULL REFERENCES outbox(id),
    at        TEXT NOT NULL,
    status    INTEGER,
    error     TEXT,
    seconds   REAL NOT NULL CHECK (seconds >= 0)
) STRICT;
CREATE INDEX delivery_attempts_by_event ON delivery_attempts(outbox_id, id);
"""

# Whole walked trees: a hash of every file's logical path and stat -> the version digest of
# their manifest, so re-logging an unchanged tree of any size is one lookup (_ingest.py).
_V6 = """
CREATE TABLE tree_cache (
    fingerprint TEXT PRIMARY KEY,
    digest      TEXT NOT NULL
) STRICT, WITHOUT ROWID;
"""

# W&B-style runs (SPEC §15): a string id settable by the user (unique in its project), the
# entity and group given at init, the summary (last value of each logged key, JSON that may
# hold NaN, so no json_valid check) and the history of run.log() rows, one per step.
# Distributed versions (§15.1): what upsert_artifact() collects until finish_artifact()
# commits it; nothing here is a version, so readers never see it, and gc keeps its blobs.
_V7 = """
ALTER TABLE runs ADD COLUMN run_key TEXT;
ALTER TABLE runs ADD COLUMN entity TEXT;
ALTER TABLE runs ADD COLUMN run_group TEXT;
ALTER TABLE runs ADD COLUMN summary TEXT NOT NULL DEFAULT '{}';
UPDATE runs SET run_key = CAST(id AS TEXT) WHERE run_key IS NULL;
CREATE UNIQUE INDEX runs_by_key ON runs(project_id, run_key);

CREATE TABLE run_history (
    run_id INTEGER NOT NULL REFERENCES runs(id),
    step   INTEGER NOT NULL CHECK (step >= 0),
    data   TEXT NOT NULL,
    at     TEXT NOT NULL,
    PRIMARY KEY (run_id, step)
) STRICT, WITHOUT ROWID;

CREATE TABLE pending_versions (
    id             INTEGER PRIMARY KEY,
    project_id     INTEGER NOT NULL REFERENCES projects(id),
    name           TEXT NOT NULL,
    type           TEXT NOT NULL,
    distributed_id TEXT NOT NULL,
    description    TEXT,
    metadata       TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(metadata)),
    aliases        TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(aliases)),
    tags           TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(tags)),
    created_at     TEXT NOT NULL,
    created_by     TEXT NOT NULL,
    UNIQUE (project_id, name, distributed_id)
) STRICT;

CREATE TABLE pending_entries (
    pending_id INTEGER NOT NULL REFERENCES pending_versions(id),
    path       TEXT NOT NULL,
    digest     TEXT NOT NULL,
    size       INTEGER NOT NULL CHECK (size >= 0),
    ref        TEXT,
    extra      TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(extra)),
    PRIMARY KEY (pending_id, path)
) STRICT, WITHOUT ROWID;

-- Every run that contributed to a pending version: each becomes a producer at the finish.
CREATE TABLE pending_producers (
    pending_id INTEGER NOT NULL REFERENCES pending_versions(id),
    run_id     INTEGER NOT NULL REFERENCES runs(id),
    PRIMARY KEY (pending_id, run_id)
) STRICT, WITHOUT ROWID;
"""

# Every registry file gets a random identity, its UUID (SPEC §16: copies recognise what came
# from where; §17: a bucket prefix's owner marker and claims name the catalog by it). Text in
# the 8-4-4-4-12 form of a version-4 UUID; a file copied whole keeps it.
_V8 = """
INSERT INTO settings(key, value)
SELECT 'registry_id', substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-4' || substr(h, 14, 3) || '-'
       || substr('89ab', 1 + (abs(random()) % 4), 1) || substr(h, 18, 3) || '-' || substr(h, 21, 12)
FROM (SELECT lower(hex(randomblob(16))) AS h)
WHERE NOT EXISTS (SELECT 1 FROM settings WHERE key = 'registry_id');
"""

# Moving versions between registries (SPEC §16), by the registry UUID of _V8.
# ``version_origins`` and ``run_origins`` map the identity a version or run had in the registry it came from,
# ``<registry uuid>:<id there>``, to the local row it became or was found to be, so that
# copying it again creates nothing. A local row's own identity (``<this uuid>:<id>``) is
# implied and never stored. Origin rows never reference deleted rows away: a version that
# was deleted since keeps its origins, and a copy then finds it deleted and makes a new one.
_V9 = """
CREATE TABLE version_origins (
    origin     TEXT PRIMARY KEY,
    version_id INTEGER NOT NULL REFERENCES versions(id)
) STRICT, WITHOUT ROWID;
CREATE INDEX version_origins_by_version ON version_origins(version_id);

CREATE TABLE run_origins (
    origin TEXT PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs(id)
) STRICT, WITHOUT ROWID;
CREATE INDEX run_origins_by_run ON run_origins(run_id);
"""


# The stat cache compares ctime too (SPEC §23): a same-size rewrite whose mtime was put back,
# or a new file on a reused inode, keeps (dev, ino, size, mtime) but never its ctime. Rows
# made without a ctime cannot be trusted, and trees were fingerprinted without it: both
# caches start afresh (they only spare reading files; nothing else depends on them).
_V10 = """
DROP TABLE stat_cache;
CREATE TABLE stat_cache (
    dev      INTEGER NOT NULL,
    ino      INTEGER NOT NULL,
    size     INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    ctime_ns INTEGER NOT NULL,
    digest   TEXT NOT NULL,
    PRIMARY KEY (dev, ino)
) STRICT, WITHOUT ROWID;
DELETE FROM tree_cache;
"""

# Runs that an import of an earlier release created got no id (it did not carry W&B's run id):
# Run.id was None for them, and two runs of a project could share an id once exported. Each
# gets the id older runs got in migration 7, its row id, or when a run of its project already
# has that one, its row id with a random suffix (a clash there would fail the migration,
# which then changes nothing).
_V11 = """
UPDATE runs SET run_key = CAST(id AS TEXT)
WHERE run_key IS NULL
  AND NOT EXISTS (SELECT 1 FROM runs AS other WHERE other.project_id = runs.project_id AND other.run_key = CAST(runs.id AS TEXT));
UPDATE runs SET run_key = CAST(id AS TEXT) || '-' || lower(hex(randomblob(4))) WHERE run_key IS NULL;
"""

# Manifests as shared chunks (SPEC §22, _chunks.py). chunks: a run of entries consecutive in
# path order, stored once (key = sha256 of its rows) with its part of the version digest's
# text; manifests: a version's chunks in path order, keyed by each chunk's first path;
# chunk_cache: a walked tree's run of files, by their paths and stats -> the chunk logged for
# them. The entries table becomes a view of the same rows for simple readers.
_V12_TABLES = """
CREATE TABLE chunks (
    id         INTEGER PRIMARY KEY,
    key        BLOB NOT NULL UNIQUE CHECK (length(key) = 32),
    count      INTEGER NOT NULL CHECK (count > 0),
    size       INTEGER NOT NULL CHECK (size >= 0),
    first_path TEXT NOT NULL,
    last_path  TEXT NOT NULL CHECK (last_path >= first_path),
    text       BLOB NOT NULL
) STRICT;

CREATE TABLE chunk_entries (
    chunk_id INTEGER NOT NULL REFERENCES chunks(id),
    path     TEXT NOT NULL,
    digest   TEXT NOT NULL,
    size     INTEGER NOT NULL CHECK (size >= 0),
    ref      TEXT,
    extra    TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(extra)),
    PRIMARY KEY (chunk_id, path)
) STRICT, WITHOUT ROWID;

CREATE TABLE manifests (
    version_id INTEGER NOT NULL REFERENCES versions(id),
    first_path TEXT NOT NULL,
    chunk_id   INTEGER NOT NULL REFERENCES chunks(id),
    PRIMARY KEY (version_id, first_path)
) STRICT, WITHOUT ROWID;
-- gc deletes chunks no manifest names; the foreign key check looks them up here.
CREATE INDEX manifests_by_chunk ON manifests(chunk_id);

CREATE TABLE chunk_cache (
    fingerprint BLOB PRIMARY KEY CHECK (length(fingerprint) = 32),
    chunk_key   BLOB NOT NULL
) STRICT, WITHOUT ROWID;
"""
_V12_VIEW = """
DROP TABLE entries;
CREATE VIEW entries(version_id, path, digest, size, ref, extra) AS
SELECT m.version_id, e.path, e.digest, e.size, e.ref, e.extra FROM manifests AS m JOIN chunk_entries AS e ON e.chunk_id = m.chunk_id;
"""
WITH_ENTRIES = "SELECT v.id FROM versions AS v WHERE EXISTS (SELECT 1 FROM entries AS e WHERE e.version_id = v.id) ORDER BY v.id"
OLD_ENTRIES = "SELECT path, digest, size, ref, extra FROM entries WHERE version_id = ? ORDER BY path"


def _v12(con: apsw.Connection) -> None:
    """Every version's entries rows become chunks, in one pass (identical runs stored once)."""
    con.execute(_V12_TABLES)
    reader = con.cursor()
    versions: list[Any] = con.execute(WITH_ENTRIES).fetchall()
    for (version_id,) in versions:
        write_sorted(con, version_id, reader.execute(OLD_ENTRIES, (version_id,)))
    con.execute(_V12_VIEW)


MIGRATIONS: list[str | Callable[[apsw.Connection], None]] = [_V1, _V2, _V3, _V4, _V5, _V6, _V7, _V8, _V9, _V10, _V11, _v12]

SCHEMA_VERSION = len(MIGRATIONS)
