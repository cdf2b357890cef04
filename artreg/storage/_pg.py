"""The catalog in PostgreSQL (SPEC §18): connections, transactions, the memo, migrations.

``PgDatabase`` has the interface of ``Database`` (the SQLite file), so every module above
it runs unchanged: ``connection()``, ``write()``, ``read()``, ``memo()``, ``setting()``.
Its connections answer the few calls artreg makes of an apsw connection (``execute``,
``executemany``, ``in_transaction``, ``changes``) and run each statement as ``_pg_sql``
rewrites it, through psycopg 3 with server-side placeholders and prepared statements.

Transactions keep SQLite's guarantees:

- A write transaction takes one transaction-level advisory lock first, so writers are
  serialised as SQLite's IMMEDIATE transactions are, and every check-then-write in the
  domain code (the next index, the alias that moves, the audit chain's previous hash,
  retention, gc's reachability) runs against a catalog no other writer changes under it:
  no retries and no serialisation failures. Readers never wait for it.
- A read is one REPEATABLE READ, READ ONLY transaction: several SELECTs see one snapshot.
- The memo (resolved references) is stamped with the server's current snapshot
  (``pg_current_snapshot()``): equal snapshots see the same committed transactions, so
  an equal stamp proves nothing was committed since. One short query, as SQLite's
  ``PRAGMA data_version``.
- Migrations run under a second advisory lock, so processes opening a new catalog at
  once migrate it once.

Errors: the server down or unreachable, and a connection lost mid-transaction, raise
``CatalogUnavailable`` (the transaction is rolled back by the server: nothing half
written); a refused password ``CatalogDenied``; a catalog of a newer schema ``SchemaError``.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import socket
import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .._errors import (
    ArtregError,
    Busy,
    CatalogDenied,
    CatalogUnavailable,
    Conflict,
    IntegrityError,
    InvalidName,
    MissingExtra,
    PermissionDenied,
    SchemaError,
)
from ._db import CommitHooks
from ._pg_schema import create_schema, pg_schema_version, upgrade_schema
from ._pg_sql import translate
from ._schema import APPLICATION_ID

try:
    import psycopg
    from psycopg import errors as pgerrors
except ImportError:  # pragma: no cover - the postgres extra is part of the test extra
    psycopg = None  # type: ignore[assignment]

MEMO_SIZE = 1024
LOCK_TIMEOUT_MS = 60_000  # a writer waits this long for another's transaction, as SQLite's busy timeout
# Transaction-level advisory lock keys: ("artr" << 32) | n.
WRITE_LOCK = 0x61727472_00000001
MIGRATE_LOCK = 0x61727472_00000002
CONNECT_TIMEOUT = 10


def is_url(path: str) -> bool:
    """True for the ``postgresql://`` (or ``postgres://``) URLs ``artreg.open`` takes as a catalog."""
    return path.lower().startswith(("postgresql://", "postgres://"))


def redact(url: str) -> str:
    """``url`` without its password (in the user part or a ``password=`` parameter), for messages and ``Registry.path``."""
    parts = urlsplit(url)
    if parts.password is not None:
        netloc = parts.netloc.rsplit("@", 1)
        parts = parts._replace(netloc=f"{netloc[0].split(':', 1)[0]}:***@{netloc[1]}")
    if parts.query:
        pairs = [pair.split("=", 1) for pair in parts.query.split("&")]
        parts = parts._replace(query="&".join(f"{p[0]}=***" if p[0] == "password" and len(p) == 2 else "=".join(p) for p in pairs))
    return urlunsplit(parts)


class Cursor:
    """The rows of one statement, as apsw's cursor gives them: iterate, ``fetchone``, ``fetchall``."""

    def __init__(self, con: Connection) -> None:
        self._con = con
        self._cur: Any = None

    def execute(self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None) -> Cursor:
        self._cur = self._con._run(sql, params)
        return self

    def __iter__(self) -> Cursor:
        return self

    def __next__(self) -> tuple[Any, ...]:
        row = self.fetchone()
        if row is None:
            raise StopIteration
        return row

    def fetchone(self) -> tuple[Any, ...] | None:
        if self._cur is None or self._cur.description is None:
            return None
        return self._cur.fetchone()  # type: ignore[no-any-return]

    def fetchall(self) -> list[tuple[Any, ...]]:
        if self._cur is None or self._cur.description is None:
            return []
        return self._cur.fetchall()  # type: ignore[no-any-return]


class Connection:
    """One psycopg connection, answering the calls artreg makes of an apsw connection."""

    def __init__(self, raw: Any, url: str) -> None:
        self.raw = raw
        self.url = url
        self._changes = 0
        self._total = 0
        self._savepoints = 0
        self.round_trips = 0  # requests sent to the server and answered (benchmarks/bench_pg.py counts them)

    @property
    def in_transaction(self) -> bool:
        return bool(self.raw.info.transaction_status != psycopg.pq.TransactionStatus.IDLE)

    def _run(self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None) -> Any:
        statement = translate(sql)
        cur = self.raw.cursor()
        self.round_trips += 1
        try:
            cur.execute(statement.text, statement.values(params) if statement.params else None)
        except psycopg.Error as exc:
            raise translate_error(exc, self.url, self) from exc
        count = cur.rowcount if cur.rowcount > 0 else 0
        self._changes = count
        self._total += count
        return cur

    def execute(self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None) -> Cursor:
        return Cursor(self).execute(sql, params)

    def executemany(self, sql: str, rows: Any) -> Cursor:
        statement = translate(sql)
        batch = [statement.values(r) for r in rows]
        if not batch:
            return Cursor(self)
        cur = self.raw.cursor()
        self.round_trips += 1  # psycopg pipelines the rows: one exchange
        try:
            cur.executemany(statement.text, batch)
        except psycopg.Error as exc:
            raise translate_error(exc, self.url, self) from exc
        count = cur.rowcount if cur.rowcount > 0 else 0
        self._changes = count
        self._total += count
        return Cursor(self)

    def cursor(self) -> Cursor:
        return Cursor(self)

    def changes(self) -> int:
        """Rows changed by the last statement (apsw's ``changes()``)."""
        return self._changes

    def total_changes(self) -> int:
        """Rows changed on this connection so far (apsw's ``total_changes()``)."""
        return self._total

    def simple(self, sql: str) -> None:
        """A statement (or several) without parameters, as written (transaction control, DDL)."""
        self.round_trips += 1
        try:
            self.raw.execute(sql, prepare=False)
        except psycopg.Error as exc:
            raise translate_error(exc, self.url, self) from exc

    def __enter__(self) -> Connection:
        """A savepoint inside the open transaction (apsw's ``with con:`` when nested)."""
        assert self.in_transaction, "PgDatabase.write() begins the transaction; with con: nests in it"
        self._savepoints += 1
        self.simple(f"SAVEPOINT artreg_{self._savepoints}")
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        name = f"artreg_{self._savepoints}"
        self._savepoints -= 1
        if exc_type is None:
            self.simple(f"RELEASE SAVEPOINT {name}")
        elif not self._broken():
            self.simple(f"ROLLBACK TO SAVEPOINT {name}; RELEASE SAVEPOINT {name}")

    def commit(self) -> None:
        """COMMIT the open transaction. Lost on the way, it may or may not have committed, whole either way."""
        self._savepoints = 0
        try:
            self.raw.execute("COMMIT", prepare=False)
            self.round_trips += 1
        except psycopg.Error as exc:
            if self._broken():
                raise CatalogUnavailable(
                    f"the connection to the catalog {redact(self.url)} was lost during COMMIT: the change is either whole "
                    f"or absent, and which cannot be known here; look before doing it again ({exc})"
                ) from exc
            raise translate_error(exc, self.url, self) from exc

    def rollback(self) -> None:
        """Roll the open transaction back, unless the connection is gone (the server has rolled it back then)."""
        self._savepoints = 0
        if not self._broken() and self.in_transaction:
            self.simple("ROLLBACK")

    def _broken(self) -> bool:
        return bool(self.raw.closed or self.raw.broken)

    def close(self) -> None:
        self.raw.close()


# READ COMMITTED whatever the server's default: the lock is taken by a statement, and each
# statement after it must see what the writer before committed (a snapshot from before the
# wait, as REPEATABLE READ or SERIALIZABLE would keep, would not).
BEGIN_WRITE = (f"BEGIN ISOLATION LEVEL READ COMMITTED; SET LOCAL lock_timeout = {LOCK_TIMEOUT_MS}; "
               f"SELECT pg_advisory_xact_lock({WRITE_LOCK})")
BEGIN_READ = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
SNAPSHOT = "SELECT pg_current_snapshot()::text"


def translate_error(exc: Exception, url: str, con: Connection | None = None) -> ArtregError:
    """The ArtregError for a psycopg error that reaches a public call; its ``sqlstate`` is the server's."""
    error = _translated(exc, url, con)
    error.sqlstate = getattr(exc, "sqlstate", None)  # type: ignore[attr-defined]
    return error


def _translated(exc: Exception, url: str, con: Connection | None) -> ArtregError:
    where = redact(url)
    state = getattr(exc, "sqlstate", None) or ""
    if con is not None and con._broken():
        return CatalogUnavailable(f"the connection to the catalog {where} was lost; the transaction was rolled back: {exc}")
    if isinstance(exc, pgerrors.InvalidPassword | pgerrors.InvalidAuthorizationSpecification):
        return CatalogDenied(f"the catalog {where} refused the credentials: {exc}")
    if isinstance(exc, pgerrors.LockNotAvailable | pgerrors.QueryCanceled):
        return Busy(f"the catalog {where} stayed locked by another writer for longer than {LOCK_TIMEOUT_MS // 1000} s")
    if state.startswith("54"):  # program limit exceeded: an index entry over 2,704 bytes, most often
        return InvalidName(f"the catalog {where} cannot hold a value this large (a path longer than about 2,700 bytes?): {exc}")
    if isinstance(exc, psycopg.DataError):
        return InvalidName(f"the catalog {where} cannot hold this value (PostgreSQL text has no NUL character): {exc}")
    if isinstance(exc, pgerrors.IntegrityError):
        return IntegrityError(f"a database constraint refused the change: {exc}")
    if isinstance(exc, pgerrors.InsufficientPrivilege | pgerrors.ReadOnlySqlTransaction):
        return PermissionDenied(f"the catalog {where} refused the change: {exc}")
    if isinstance(exc, pgerrors.UndefinedTable | pgerrors.UndefinedColumn):
        return SchemaError(f"{where} is a damaged artreg catalog: {exc}")
    if isinstance(exc, psycopg.OperationalError) and (not state or state.startswith(("08", "57P"))):
        # No SQLSTATE: the client could not connect. 08: a connection exception; 57P: the server shutting down.
        text = str(exc).strip()
        if "password authentication failed" in text or "no password supplied" in text or "authentication failed" in text:
            return CatalogDenied(f"the catalog {where} refused the credentials: {text}")
        if "does not exist" in text and "database" in text:
            return SchemaError(f"no catalog at {where}: {text}")
        return CatalogUnavailable(f"cannot reach the catalog {where}: {text}")
    return ArtregError(f"database error on {where}: {exc}")


class PgDatabase(CommitHooks):
    """An artreg catalog in a PostgreSQL database: validated, migrated, one connection per thread."""

    memory = False
    dialect = "postgresql"

    def __init__(self, url: str, *, initial_settings: dict[str, str], create: bool = True, read_only: bool = False,
                 cannot_create: str = "") -> None:
        """``cannot_create``: why an empty database may not become a catalog here (the SchemaError says it)."""
        if psycopg is None:
            raise MissingExtra("a catalog in PostgreSQL needs the postgres extra: pip install 'artreg[postgres]'")
        self.url = url
        self.path = redact(url)
        self.read_only = read_only
        self._initial_settings = initial_settings
        self._create = create
        self._cannot_create = cannot_create
        self.created = False
        self._local = threading.local()
        self._after = threading.local()
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._connections: list[Connection] = []
        self._closed = False
        self.connection()

    @property
    def identity(self) -> tuple[str, object]:
        """The catalog's URL (its server, database and options, without the password): registries opened on one compare equal."""
        return ("postgresql", self.path)

    def connection(self) -> Connection:
        if self._closed:
            raise Conflict("the registry is closed")
        if os.getpid() != self._pid:
            # A connection must not cross fork(): its socket is the parent's.
            self._pid = os.getpid()
            self._local = threading.local()
            self._connections = []
        con: Connection | None = getattr(self._local, "con", None)
        if con is None or con._broken():
            # First use on this thread, or the last connection was lost (a restarted server, a
            # dropped network): the error went to that call; this one connects again.
            con = self._connect()
            self._local.con = con
        return con

    def _connect(self) -> Connection:
        try:
            raw = psycopg.connect(self.url, autocommit=True, connect_timeout=CONNECT_TIMEOUT, cursor_factory=psycopg.RawCursor)
        except psycopg.Error as exc:
            raise translate_error(exc, self.url) from exc
        con = Connection(raw, self.url)
        try:
            con.simple(f"SET artreg.machine = '{machine_salt()}'")
            if self.read_only:  # the server refuses every write on this session, as SQLite's read-only connections do
                con.simple("SET default_transaction_read_only = on")
            self._migrate(con)
        except BaseException:
            con.close()
            raise
        with self._lock:
            self._connections.append(con)
            self._create = False
        return con

    def _migrate(self, con: Connection) -> None:
        version = _catalog_version(con, self.path)
        if version == pg_schema_version():
            return
        if self.read_only:
            raise SchemaError(f"{self.path!r} has no artreg catalog of this version; a read-only open creates and migrates nothing")
        con.simple(f"BEGIN ISOLATION LEVEL READ COMMITTED; SELECT pg_advisory_xact_lock({MIGRATE_LOCK})")
        try:
            version = _catalog_version(con, self.path)  # another process may have done it meanwhile
            execute = psycopg.Cursor(con.raw).execute  # %s placeholders, as _pg_schema writes them
            if version is None:
                if not self._create:
                    raise SchemaError(f"{self.path!r} is an empty database, not an artreg catalog{self._cannot_create}")
                encoding = con.execute("SELECT current_setting('server_encoding')").fetchone()
                if encoding is None or encoding[0] != "UTF8":
                    raise SchemaError(f"{self.path!r} is a database in {encoding and encoding[0]}: an artreg catalog needs "
                                      "one in UTF8 (CREATE DATABASE ... ENCODING 'UTF8' TEMPLATE template0)")
                create_schema(execute, self._initial_settings)
                self.created = True
            elif version < pg_schema_version():
                upgrade_schema(execute, version)
            con.simple("COMMIT")
        except psycopg.Error as exc:
            self._abandon(con)
            raise translate_error(exc, self.url, con) from exc
        except BaseException:
            self._abandon(con)
            raise

    @staticmethod
    def _abandon(con: Connection) -> None:
        if not con._broken() and con.in_transaction:
            con.simple("ROLLBACK")

    def check_file(self) -> None:
        """Nothing to check: a database on a server cannot be deleted from under a connection unnoticed."""

    def same(self, other: object) -> bool:
        return isinstance(other, PgDatabase) and other.identity == self.identity

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if os.getpid() == self._pid:
                for con in self._connections:
                    con.close()
            self._connections = []
            self._local = threading.local()

    # -- transactions ------------------------------------------------------------------

    @contextmanager
    def write(self, *, durable: bool = False) -> Iterator[Connection]:
        """One transaction holding the catalog's write lock (a savepoint when nested); rolled back on error.

        ``durable`` is what every commit is here (the server's ``synchronous_commit``).
        """
        if self.read_only:
            raise PermissionDenied(f"registry {self.path!r} is open read-only")
        con = self.connection()
        queued = self._queued()
        mark = len(queued)
        if con.in_transaction:
            try:
                with con:
                    yield con
            except BaseException:
                del queued[mark:]
                raise
            return
        con = self._begin(BEGIN_WRITE)
        try:
            yield con
        except BaseException:
            del queued[mark:]
            con.rollback()
            raise
        try:
            con.commit()
        except BaseException:
            del queued[mark:]
            raise
        ready = queued[:]
        queued.clear()
        for fn in ready:
            fn()

    def _begin(self, sql: str) -> Connection:
        """This thread's connection with ``sql`` (a BEGIN) run on it; once again on a new one if it was lost.

        Nothing has happened in the transaction yet, so beginning it on a fresh connection is
        safe: a server restarted since the last call costs nothing but the reconnection.
        """
        con = self.connection()
        try:
            self._begin_on(con, sql)
        except CatalogUnavailable:
            if not con._broken():
                raise
            con = self.connection()
            self._begin_on(con, sql)
        return con

    @staticmethod
    def _begin_on(con: Connection, sql: str) -> None:
        """Run ``sql`` on ``con``; if it fails once begun (the write lock's wait timed out: Busy), end that transaction.

        Left open, the failed transaction would refuse every later statement on this
        thread's connection, and be taken for an outer transaction to nest in.
        """
        try:
            con.simple(sql)
        except BaseException:
            con.rollback()
            raise

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A consistent snapshot for several SELECTs (no lock taken)."""
        con = self.connection()
        if con.in_transaction:
            yield con
            return
        con = self._begin(BEGIN_READ)
        try:
            yield con
        finally:
            con.rollback()  # nothing to keep: a read-only transaction

    def memo(self) -> dict[Any, Any] | None:
        """This thread's cache of things read, emptied whenever anything was committed since (see the module docstring)."""
        con = self.connection()
        if con.in_transaction:
            return None
        try:
            row = con.execute(SNAPSHOT).fetchone()
        except CatalogUnavailable:
            if not con._broken():
                raise
            row = self.connection().execute(SNAPSHOT).fetchone()
        stamp = None if row is None else row[0]
        held: tuple[Any, dict[Any, Any]] | None = getattr(self._local, "memo", None)
        if held is None or held[0] != stamp or len(held[1]) >= MEMO_SIZE:
            held = (stamp, {})
            self._local.memo = held
        return held[1]

    @contextmanager
    def guard(self) -> Iterator[None]:
        yield

    def integrity_check(self) -> list[str]:
        """What is wrong with the catalog's schema: ``[]`` when every artreg table, index, view and trigger is there.

        The consistency of the rows themselves is the server's (constraints, WAL, checksums).
        """
        with self.read() as con:
            present = {str(r[0]) for r in con.execute(SCHEMA_OBJECTS)}
        return [f"the catalog lacks {name}" for name in sorted(expected_objects() - present)]

    def setting(self, key: str) -> str | None:
        with self.read() as con:
            row = con.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])


@functools.cache
def machine_salt() -> int:
    """This machine (as booted) as a 62-bit number: what keeps its file caches apart from other machines'.

    The stat, tree and chunk caches are keyed by device and inode numbers, which mean
    something only on the machine that read them; a catalog in PostgreSQL is shared. The boot
    id changes at each boot (device numbers may too), the host name tells cloned machines
    apart. Without a boot id (not Linux), the host name and the MAC address.
    """
    try:
        with open("/proc/sys/kernel/random/boot_id", "rb") as f:
            boot = f.read().strip()
    except OSError:
        boot = str(uuid.getnode()).encode()
    digest = hashlib.sha256(b"artreg-machine\n" + boot + b"\n" + socket.gethostname().encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 2


CATALOG_PRESENT = """
SELECT to_regclass('artreg_catalog') IS NOT NULL, EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = current_schema())
"""


def _catalog_version(con: Connection, where: str) -> int | None:
    """The catalog's schema version; None for an empty database. Refuses another application's or a newer one."""
    row = con.execute(CATALOG_PRESENT).fetchone()
    assert row is not None
    ours, any_tables = row
    if not ours:
        if any_tables:
            raise SchemaError(f"{where!r} is a PostgreSQL database with tables of its own, not an artreg catalog")
        return None
    found = con.execute("SELECT application_id, version FROM artreg_catalog").fetchone()
    if found is None or found[0] != APPLICATION_ID:
        raise SchemaError(f"{where!r} is not an artreg catalog")
    version = int(found[1])
    if version > pg_schema_version():
        raise SchemaError(
            f"{where!r} has schema version {version}, newer than this artreg understands ({pg_schema_version()}); "
            "upgrade artreg to open it"
        )
    return version


# What the catalog's schema holds (names, as SQLite's sqlite_schema lists them).
SCHEMA_OBJECTS = """
SELECT c.relname FROM pg_class AS c WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'i', 'v')
UNION SELECT t.tgname FROM pg_trigger AS t JOIN pg_class AS c ON c.oid = t.tgrelid
WHERE c.relnamespace = current_schema()::regnamespace AND NOT t.tgisinternal
"""


def expected_objects() -> frozenset[str]:
    """The tables, indexes, views and triggers ``_pg_schema`` makes (parsed from its DDL)."""
    from ._pg_schema import PG_BASELINE_TABLES

    found = re.findall(r"CREATE\s+(?:UNIQUE\s+)?(?:TABLE|INDEX|VIEW|TRIGGER)\s+(?:IF NOT EXISTS\s+)?([A-Za-z_]+)", PG_BASELINE_TABLES)
    return frozenset(found)
