"""The database schema as an ordered list of migrations (``PRAGMA user_version``).

Migration *n* (1-based) takes a database from ``user_version = n-1`` to ``n``. Never edit
a migration that has shipped: append a new one.
"""

from __future__ import annotations

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

MIGRATIONS: list[str] = [_V1, _V2]

SCHEMA_VERSION = len(MIGRATIONS)
