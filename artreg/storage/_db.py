"""The SQLite connection: pragmas, schema checks, migrations and transactions.

One connection per thread (reopened after ``fork``), because an apsw connection carries
one transaction at a time. ``:memory:`` has a single connection, so its transactions
are serialised by a lock.
"""

from __future__ import annotations

import errno
import functools
import os
import random
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import apsw

from .._errors import ArtregError, Busy, Conflict, DiskError, IntegrityError, PermissionDenied, SchemaError
from ._schema import APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION

BUSY_TIMEOUT_MS = 60_000
MEMO_SIZE = 1024  # entries a thread's memo holds before it starts afresh
# Checkpoint once the WAL holds this many pages (SQLite's own autocheckpoint default).
CHECKPOINT_PAGES = 1000
# ... and at most this many seconds after a commit, which bounds what a power cut can take
# back under synchronous=NORMAL (README, Guarantees).
SYNC_WITHIN = 1.0


def translate(exc: apsw.Error, path: str) -> ArtregError:
    """The ArtregError for an apsw error that reaches a public call."""
    if isinstance(exc, apsw.BusyError):
        return Busy(f"registry {path!r} stayed locked for longer than the busy timeout")
    if isinstance(exc, (apsw.NotADBError, apsw.CorruptError)):
        return SchemaError(f"{path!r} is damaged or is not an SQLite database: {exc}")
    if isinstance(exc, apsw.FullError):
        return DiskError(f"the disk holding {path!r} is full: {exc}", errno.ENOSPC)
    if isinstance(exc, apsw.IOError):
        return DiskError(f"reading or writing {path!r} failed (a full disk, a file size limit, a failing device?): {exc}", errno.EIO)
    if isinstance(exc, (apsw.ReadOnlyError, apsw.CantOpenError, apsw.PermissionsError)):
        return DiskError(f"cannot write registry {path!r}: {exc}")
    if isinstance(exc, apsw.ConstraintError):
        return IntegrityError(f"a database constraint refused the change: {exc}")
    if isinstance(exc, apsw.SQLError) and str(exc).startswith(("no such table", "no such column")):
        return SchemaError(f"{path!r} is a damaged artreg registry: {exc}")
    return ArtregError(f"database error on {path!r}: {exc}")


def first_error(exc: apsw.Error) -> apsw.Error:
    """The apsw error that started a chain of them.

    When a COMMIT fails with a full disk or an I/O error, SQLite has already rolled the
    transaction back, so the ROLLBACK that apsw's ``with con:`` then issues fails as well
    ("no transaction is active") and would hide the error that explains what happened.
    """
    while isinstance(exc.__context__, apsw.Error):
        exc = exc.__context__
    return exc


def busy_handler(timeout: float) -> Callable[[int], bool]:
    """A busy handler that retries with short sleeps until ``timeout`` seconds have passed.

    Not ``set_busy_timeout``: apsw's SQLite is built with SQLITE_ENABLE_SETLK_TIMEOUT, and
    with it two threads of one process contending for the write lock starve each other
    until the whole timeout runs out (measured: 4 threads x 200 inserts, 9 s and BusyError
    with the timeout; 0.3 s with this handler). Processes are unaffected either way.

    The sleeps start at 0.1 ms and stop growing at 2 ms, each scaled by a random factor
    in [0.5, 1.5): a write transaction holds the lock for well under a millisecond, so a
    waiter that slept for longer would leave the lock idle, and the jitter keeps waiters
    from waking in step.
    """
    started = 0.0

    def handler(count: int) -> bool:
        nonlocal started
        now = time.monotonic()
        if count == 0:
            started = now
        if now - started >= timeout:
            return False
        time.sleep(min(0.0001 * 2 ** min(count, 5), 0.002) * (0.5 + random.random()))
        return True

    return handler


@functools.lru_cache(maxsize=64)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def regexp(pattern: str, value: object) -> bool:
    """SQL ``regexp(pattern, value)`` (and ``value REGEXP pattern``): Python ``re.search``; non-text never matches.

    Patterns come from filters that compiled them first, so a bad one is refused before
    any query runs.
    """
    return isinstance(value, str) and _compiled(pattern).search(value) is not None


class Checkpointer:
    """Runs PASSIVE checkpoints on a thread of its own, off the committing thread.

    With SQLite's autocheckpoint, the commit that crosses the threshold copies the whole WAL
    back into the database and fsyncs it before returning: for a 40 MiB log of small files
    that doubled the time of ``log_artifact`` (0.23 s of 0.6 s, measured). A WAL hook on
    every connection wakes this thread instead.

    It also checkpoints at most ``SYNC_WITHIN`` seconds after any commit. Under
    synchronous=NORMAL a commit becomes durable when the WAL is fsynced, which a checkpoint
    does first; without this a long-lived process making small changes (alias moves) could
    go hours without one, and a power cut would take all of them back. A checkpoint that
    could not copy the whole WAL (a reader still needs part of it) is tried again later.
    """

    def __init__(self, path: str, same_file: Callable[[], bool] = lambda: True) -> None:
        self._path = path
        self._same_file = same_file
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self._closing = False
        self._due: float | None = None  # time.monotonic() by which the next checkpoint should run

    def hook(self, _con: apsw.Connection, _name: str, pages: int) -> int:
        self.request(0.0 if pages >= CHECKPOINT_PAGES else SYNC_WITHIN)
        return apsw.SQLITE_OK

    def request(self, within: float = 0.0) -> None:
        """Ask for a checkpoint within ``within`` seconds (starts the thread on first use, and after fork)."""
        due = time.monotonic() + within
        with self._lock:
            if self._closing:
                return
            if self._thread is None or self._pid != os.getpid():
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._run, name="artreg-checkpoint", daemon=True)
                self._thread.start()
            if self._due is not None and self._due <= due:
                return
            self._due = due
        self._wake.set()

    def _run(self) -> None:
        try:
            # Never with SQLITE_OPEN_CREATE: a file deleted under us must not come back empty.
            con = apsw.Connection(self._path, flags=apsw.SQLITE_OPEN_READWRITE)
        except apsw.Error:
            return  # no file, nothing to make durable; the registry's own calls report the loss
        try:
            while True:
                with self._lock:
                    closing, due = self._closing, self._due
                if due is None and closing:
                    return
                wait = None if due is None else due - time.monotonic()
                if not closing and (wait is None or wait > 0):
                    self._wake.wait(wait)
                    self._wake.clear()
                    continue
                with self._lock:
                    self._due = None
                if not self._same_file():
                    return  # deleted or replaced: its WAL may be another file's now (Database.check_file)
                if not _checkpoint(con) and not closing:
                    self.request(SYNC_WITHIN)
        finally:
            con.close()

    def close(self) -> None:
        """Stop the thread, after one last checkpoint if one is due."""
        with self._lock:
            self._closing = True
            thread = self._thread if self._pid == os.getpid() else None
        self._wake.set()
        if thread is not None:
            thread.join()


class CommitHooks:
    """Work queued for after this thread's outermost write commits (both catalogs' ``after_commit``)."""

    _after: threading.local

    def after_commit(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` after the current write transaction commits (never if it rolls back)."""
        self._queued().append(fn)

    def _queued(self) -> list[Callable[[], None]]:
        queued: list[Callable[[], None]] | None = getattr(self._after, "queued", None)
        if queued is None:
            queued = self._after.queued = []
        return queued


class Database(CommitHooks):
    """The registry's SQLite file: validated, migrated, one connection per thread."""

    dialect = "sqlite"  # the SQL it speaks; see _pg.PgDatabase for the other

    def __init__(self, path: str, *, initial_settings: dict[str, str], create: bool = True, read_only: bool = False) -> None:
        self.path = path
        self.memory = path == ":memory:"
        # Read-only connections (SQLITE_OPEN_READONLY) refuse every write in SQLite itself;
        # they neither create, migrate nor checkpoint the file.
        self.read_only = read_only
        self._initial_settings = initial_settings
        # Only the first connection may create the file or initialise an empty one: a later
        # connection (another thread's, or after fork) that found the file gone would
        # otherwise make a new, empty registry in its place.
        self._create = create
        self.created = False  # this object initialised a new, empty file
        self._local = threading.local()
        self._lock = threading.RLock()
        self._pid = os.getpid()
        self._connections: list[apsw.Connection] = []
        self._shared: apsw.Connection | None = None
        self._closed = False
        self._identity: tuple[int, int] | None = None  # (st_dev, st_ino) of the file first opened
        self._checkpointer = None if self.memory or read_only else Checkpointer(path, self._same_file)
        self._after = threading.local()
        if not self.memory:
            _check_not_orphaned_log(path)
        self.connection()

    # -- connections -------------------------------------------------------------------

    def connection(self) -> apsw.Connection:
        """This thread's connection, opened (and the schema checked) on first use."""
        if self._closed:
            raise Conflict("the registry is closed")
        if self.memory:
            if self._shared is None:
                self._shared = self._connect()
            return self._shared
        if os.getpid() != self._pid:
            # A connection must not cross fork(): start afresh in the child and leave the
            # parent's objects alone (closing them here could disturb the parent's locks).
            self._pid = os.getpid()
            self._local = threading.local()
            self._connections = []
        con: apsw.Connection | None = getattr(self._local, "con", None)
        if con is None:
            con = self._connect()
            self._local.con = con
        return con

    def _connect(self) -> apsw.Connection:
        if self.read_only:
            flags = apsw.SQLITE_OPEN_READONLY
        else:
            flags = apsw.SQLITE_OPEN_READWRITE | (apsw.SQLITE_OPEN_CREATE if self._create else 0)
        try:
            con = apsw.Connection(self.path, flags=flags)
        except apsw.Error as exc:
            raise translate(exc, self.path) from exc
        try:
            if not self.memory:
                self._remember_file()
            con.set_busy_handler(busy_handler(BUSY_TIMEOUT_MS / 1000))
            if _check_foreign(con, self.path) and not self._create:
                raise SchemaError(f"{self.path!r} is an empty file, not an artreg registry")
            if self.read_only:
                _check_current(con, self.path)
            elif not self.memory:
                _enable_wal(con, BUSY_TIMEOUT_MS / 1000)
            # NORMAL in WAL: a process crash loses nothing committed; a power loss may lose
            # the last commits since a checkpoint, never half of one (README, Guarantees).
            # Deleting files on the strength of a commit waits for it: write(durable=True).
            con.execute("PRAGMA synchronous = NORMAL")
            con.execute("PRAGMA foreign_keys = ON")
            con.create_scalar_function("regexp", regexp, 2, deterministic=True)  # type: ignore[arg-type]  # apsw types it *args
            if self._checkpointer is not None:
                con.set_wal_hook(self._checkpointer.hook)  # replaces the in-commit autocheckpoint
            # In WAL a DEFERRED read-then-write fails at once with SQLITE_BUSY_SNAPSHOT and
            # ignores the busy timeout; IMMEDIATE takes the write lock up front and waits.
            con.transaction_mode = "IMMEDIATE"
            if not self.read_only:
                self._migrate(con)
        except apsw.Error as exc:
            con.close()
            raise translate(first_error(exc), self.path) from exc
        except BaseException:
            con.close()
            raise
        with self._lock:
            self._connections.append(con)
            self._create = False
        return con

    # -- the file itself -----------------------------------------------------------------

    def _remember_file(self) -> None:
        """Record which file the first connection opened; a later one must open the same."""
        try:
            st = os.stat(self.path)
        except OSError as exc:
            raise _gone(self.path) from exc
        identity = (st.st_dev, st.st_ino)
        with self._lock:
            if self._identity is None:
                self._identity = identity
        if identity != self._identity:
            raise _gone(self.path)

    def _same_file(self) -> bool:
        try:
            st = os.stat(self.path)
        except OSError:
            return False
        return (st.st_dev, st.st_ino) == self._identity

    @property
    def identity(self) -> tuple[str, object]:
        """Which catalog this is: its file's (device, inode), or this object's id for ``:memory:``.

        Registries opened on one file share it, so handles of one row compare equal through
        either (see ``_handle.Handle``). The file's is taken by the first connection, in
        ``__init__``, so it never changes afterwards.
        """
        return ("file", self._identity) if self._identity is not None else ("memory", id(self))

    def same(self, other: object) -> bool:
        """True when ``other`` is a Database of the same file (or this very ``:memory:`` one)."""
        if other is self:
            return True
        if not isinstance(other, Database) or self.memory or other.memory:
            return False
        try:
            return os.path.samefile(self.path, other.path)
        except OSError:
            return False

    def check_file(self) -> None:
        """Raise SchemaError when the database file was deleted or replaced since it was opened.

        SQLite keeps using the file it opened, so writes to a deleted one would be lost
        without a word, and while it stays open its WAL and shared-memory files (found by
        name) confuse any process that opens a new file at the same path. One ``stat``
        (about a microsecond) before every write transaction.
        """
        if not self.memory and not self._same_file():
            raise _gone(self.path)

    def _migrate(self, con: apsw.Connection) -> None:
        if _user_version(con) != SCHEMA_VERSION:
            with con:
                _check_foreign(con, self.path)
                self.created = _user_version(con) == 0
                migrate(con, self._initial_settings)
        _check_complete(con, self.path)

    def close(self) -> None:
        """Close every connection this object opened in this process."""
        if self._checkpointer is not None:
            self._checkpointer.close()
        with self._lock:
            self._closed = True
            if os.getpid() == self._pid:
                for con in self._connections:
                    con.close()
            self._connections = []
            self._shared = None
            self._local = threading.local()

    # -- transactions ------------------------------------------------------------------

    @contextmanager
    def write(self, *, durable: bool = False) -> Iterator[apsw.Connection]:
        """One IMMEDIATE transaction (a savepoint when nested); rolled back on error.

        Functions queued with ``after_commit`` run once the outermost transaction has
        committed, on this thread, outside the lock; a rollback discards them.

        ``durable``: the commit is fsynced before this returns (synchronous=FULL for this
        transaction), and with it every earlier commit in the WAL. For a caller that acts
        outside the database on what it committed, such as deleting files.
        """
        if self.read_only:
            raise PermissionDenied(f"registry {self.path!r} is open read-only")
        con = self.connection()
        queued = self._queued()
        mark = len(queued)
        try:
            with self._serialised():
                # Only under the lock: ":memory:" shares its connection between threads.
                outer = not con.in_transaction
                if outer:
                    self.check_file()
                full = durable and outer and not self.memory
                try:
                    if full:
                        con.execute("PRAGMA synchronous = FULL")
                    try:
                        with con:
                            yield con
                    finally:
                        if full:
                            con.execute("PRAGMA synchronous = NORMAL")
                except apsw.Error as exc:
                    self._explain(exc)
                    raise translate(first_error(exc), self.path) from exc
        except BaseException:
            del queued[mark:]
            raise
        if outer:
            ready = queued[:]
            queued.clear()
            for fn in ready:
                fn()

    @contextmanager
    def read(self) -> Iterator[apsw.Connection]:
        """A consistent snapshot for several SELECTs (no write lock taken)."""
        con = self.connection()
        with self._serialised():
            if con.in_transaction:
                yield con
                return
            try:
                con.execute("BEGIN DEFERRED")
                try:
                    yield con
                finally:
                    con.execute("COMMIT")
            except apsw.Error as exc:
                self._explain(exc)
                raise translate(exc, self.path) from exc

    def memo(self) -> dict[Any, Any] | None:
        """This thread's cache of things read, emptied whenever the database has changed since.

        Any commit empties it: another process's or another connection's (``PRAGMA
        data_version``, one short read, ~3 us) or this connection's own (apsw's
        ``data_version()``, which counts those too). None inside a transaction, whose
        uncommitted writes neither counts. Whatever is put in must be read after this call.
        """
        con = self.connection()
        with self.guard():  # ":memory:" shares its connection: even these reads take the lock
            if con.in_transaction:
                return None
            (others,) = con.execute("PRAGMA data_version").fetchone() or (None,)
            stamp = (others, con.data_version())
        held: tuple[tuple[Any, int], dict[Any, Any]] | None = getattr(self._local, "memo", None)
        if held is None or held[0] != stamp or len(held[1]) >= MEMO_SIZE:
            held = (stamp, {})
            self._local.memo = held
        return held[1]

    @contextmanager
    def guard(self) -> Iterator[None]:
        """For one statement outside read()/write(): serialised on ``:memory:``, errors translated."""
        with self._serialised():
            try:
                yield
            except apsw.Error as exc:
                self._explain(exc)
                raise translate(exc, self.path) from exc

    def _explain(self, exc: apsw.Error) -> None:
        """An I/O error is often the file deleted or replaced under us: say so when it is."""
        troubled = isinstance(first_error(exc), (apsw.IOError, apsw.ReadOnlyError, apsw.CorruptError))
        if troubled and not self.memory and not self._same_file():
            raise _gone(self.path) from exc

    @contextmanager
    def _serialised(self) -> Iterator[None]:
        if self.memory:
            with self._lock:
                yield
        else:
            yield

    def integrity_check(self) -> list[str]:
        """SQLite's ``PRAGMA integrity_check``: ``[]`` when the file is sound, else its findings.

        Run on a connection of its own, opened for this and closed after: on a connection
        that has read the file before, FTS5's part of the check reports "corruption found
        reading blob" when other processes have written since (measured: 26 of 1,256 checks
        during two processes' logs, none of 458 on fresh connections), though every search
        on it still agrees with the table it indexes.
        """
        if self.memory:
            with self.read() as con:
                rows = [str(r[0]) for r in con.execute("PRAGMA integrity_check")]
        else:
            self.check_file()
            try:
                con = apsw.Connection(self.path, flags=apsw.SQLITE_OPEN_READWRITE)
            except apsw.Error as exc:
                raise translate(exc, self.path) from exc
            try:
                con.set_busy_handler(busy_handler(BUSY_TIMEOUT_MS / 1000))
                with con:
                    rows = [str(r[0]) for r in con.execute("PRAGMA integrity_check")]
            except apsw.Error as exc:
                raise translate(first_error(exc), self.path) from exc
            finally:
                con.close()
        return [] if rows == ["ok"] else rows

    def setting(self, key: str) -> str | None:
        """A value from the ``settings`` table."""
        with self.read() as con:
            row = con.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])


def _gone(path: str) -> SchemaError:
    return SchemaError(
        f"the registry file {path!r} was deleted or replaced while it was open; nothing more is written to it. "
        "Close this registry and open it again"
    )


def _check_not_orphaned_log(path: str) -> None:
    """Refuse a missing database whose write-ahead log is still there.

    That is a file deleted while some process had it open (or after a crash): its WAL and
    shared-memory files are found by name, so a new database made at the path would read
    the old one's frames, and every process on it would fail with "disk I/O error" or worse.
    """
    if os.path.exists(path):
        return
    leftovers = [f"{path}{suffix}" for suffix in ("-wal", "-shm") if os.path.exists(f"{path}{suffix}")]
    if leftovers:
        raise SchemaError(
            f"the registry file {path!r} is missing but {' and '.join(repr(p) for p in leftovers)} are still there: "
            "it was deleted while a process had it open (or after a crash). Stop the processes using it, "
            "then remove those files too to start a new registry there"
        )


def _checkpoint(con: apsw.Connection) -> bool:
    """One PASSIVE checkpoint; True when it copied the whole WAL (so every commit in it is on disk)."""
    try:
        row: Any = con.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    except apsw.Error:
        return False
    busy, frames, copied = row
    return not busy and copied >= frames


def _enable_wal(con: apsw.Connection, timeout: float) -> None:
    """Put the file in WAL mode (once, when it is new), retrying while other processes do the same.

    Switching takes the file from a shared to an exclusive lock. When two processes open a
    new file at once, each holds its shared lock while waiting for the other's, so SQLite
    answers SQLITE_BUSY at once, without the busy handler (measured: 1 in 40 rounds of four
    processes). The failed statement releases its lock; trying again soon succeeds.
    """
    deadline = time.monotonic() + timeout
    delay = 0.001
    while True:
        try:
            if con.execute("PRAGMA journal_mode").fetchone() != ("wal",):
                con.execute("PRAGMA journal_mode = WAL").fetchall()
            return
        except apsw.BusyError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.05)


def migrate(con: apsw.Connection, initial_settings: dict[str, str]) -> None:
    """Apply the migrations a database lacks (inside the caller's transaction)."""
    for number in range(_user_version(con), SCHEMA_VERSION):
        step = MIGRATIONS[number]
        if callable(step):
            step(con)
        else:
            con.execute(step)
        con.execute(f"PRAGMA user_version = {number + 1}")
        if number == 0:
            # A new file: later migrations may read these (the creator, for one).
            con.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            con.executemany("INSERT INTO settings(key, value) VALUES (?, ?)", initial_settings.items())


SCHEMA_OBJECTS = "SELECT name FROM sqlite_schema WHERE type IN ('table', 'index', 'trigger', 'view') AND name NOT LIKE 'sqlite_%'"


@functools.cache
def _schema_objects() -> frozenset[str]:
    """The tables, indexes and triggers the migrations make: built once, in memory, by running them."""
    con = apsw.Connection(":memory:")
    try:
        with con:
            migrate(con, {"created_by": "artreg"})
        return frozenset(str(r[0]) for r in con.execute(SCHEMA_OBJECTS))
    finally:
        con.close()


def _check_complete(con: apsw.Connection, path: str) -> None:
    """Refuse an artreg database missing a table, index, trigger or view (one query per connection).

    Without this a dropped table showed as a plain "no such table" error on first use, and
    a dropped trigger not at all (search results quietly going stale).
    """
    present = {str(r[0]) for r in con.execute(SCHEMA_OBJECTS)}
    missing = sorted(_schema_objects() - present)
    if missing:
        raise SchemaError(f"{path!r} is a damaged artreg registry: it lacks {', '.join(missing)}")


def _user_version(con: apsw.Connection) -> int:
    return int(con.execute("PRAGMA user_version").fetchone()[0])  # type: ignore[index]


# One statement, so one snapshot: read separately, the three could straddle another
# process's commit of a new file's schema and describe a file that never existed.
FILE_IDENTITY = """
SELECT (SELECT application_id FROM pragma_application_id), (SELECT user_version FROM pragma_user_version),
       EXISTS (SELECT 1 FROM sqlite_schema)
"""


def _check_current(con: apsw.Connection, path: str) -> None:
    """A read-only open needs a registry whose schema is this code's: it cannot create or migrate one."""
    version = _user_version(con)
    if version == 0:
        raise SchemaError(f"{path!r} is not an artreg registry yet; a read-only open does not create one")
    if version < SCHEMA_VERSION:
        raise SchemaError(
            f"{path!r} has schema version {version}, older than this artreg's ({SCHEMA_VERSION}); "
            "open it once without read_only to upgrade it"
        )


def _check_foreign(con: apsw.Connection, path: str) -> bool:
    """Refuse, without writing anything, a database that is not artreg's or is newer; True when it is empty."""
    row: Any = con.execute(FILE_IDENTITY).fetchone()
    app_id, version, has_tables = int(row[0]), int(row[1]), bool(row[2])
    if app_id == 0 and version == 0 and not has_tables:
        return True
    if app_id != APPLICATION_ID:
        raise SchemaError(f"{path!r} is an SQLite database but not an artreg registry (application_id {app_id:#x})")
    if version > SCHEMA_VERSION:
        raise SchemaError(
            f"{path!r} has schema version {version}, newer than this artreg understands ({SCHEMA_VERSION}); "
            "upgrade artreg to open it"
        )
    return False
