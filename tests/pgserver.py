"""A throwaway PostgreSQL cluster on 127.0.0.1 for the tests of the PostgreSQL catalog (SPEC §18).

Debian's server binaries (``/usr/lib/postgresql/<major>/bin``, 15 preferred) initialise a cluster
in a temporary folder and run it on a free port; the tests stop it by its own process id. ``initdb``
and ``postgres`` refuse to run as root, so under root both run as the ``postgres`` user in a
folder handed to it.

The cluster trades durability for speed (``fsync``, ``full_page_writes`` and
``synchronous_commit`` off): the tests kill clients, never the server or the machine, and the
folder is deleted afterwards. Authentication: ``postgres`` (the superuser) is trusted on
127.0.0.1; every other role, such as ``PASSWORD_ROLE``, must give its password (scram-sha-256).
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

SUPERUSER = "postgres"
# A role that must authenticate by password, for the tests of a refused login.
PASSWORD_ROLE = "artreg_pw"
PASSWORD = "secret"
PREFERRED_MAJOR = 15
# CREATE DATABASE ... STRATEGY came in 15.
OLDEST_MAJOR = 15
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0

# postgresql.conf additions. The server never crashes in the tests (clients do), so nothing needs
# to survive a power cut; 300 connections leave room for the multi-process tests.
SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "fsync": "off",
    "full_page_writes": "off",
    "synchronous_commit": "off",
    "max_connections": "300",
    # Up to two clusters per test session on a shared machine: keep each one small.
    "shared_buffers": "'32MB'",
    "max_wal_size": "'256MB'",
    "log_min_messages": "warning",
    "log_checkpoints": "off",
}

# First match wins: the password role (and any other role a test creates) by scram-sha-256, the
# superuser trusted, over TCP on 127.0.0.1 and on the cluster's own socket.
HBA = f"""\
host  all  {SUPERUSER}  127.0.0.1/32  trust
local all  {SUPERUSER}                trust
host  all  all          127.0.0.1/32  scram-sha-256
local all  all                        scram-sha-256
"""

TERMINATE = sql.SQL("SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()")


def bin_dir() -> Path:
    """The folder of PostgreSQL's server binaries: Debian's for major 15 if present, else the newest Debian
    has, else the one ``pg_config`` on PATH names (15 or newer)."""
    found: dict[int, Path] = {}
    for folder in glob.glob("/usr/lib/postgresql/*/bin"):
        major = Path(folder).parent.name
        if major.isdigit() and int(major) >= OLDEST_MAJOR and os.access(os.path.join(folder, "initdb"), os.X_OK):
            found[int(major)] = Path(folder)
    if found:
        return found.get(PREFERRED_MAJOR, found[max(found)])
    pg_config = shutil.which("pg_config")
    if pg_config is not None:
        answer = subprocess.run([pg_config, "--bindir", "--version"], capture_output=True, text=True, check=True)
        folder, version = answer.stdout.splitlines()
        number = re.search(r"(\d+)", version)
        if number is not None and int(number.group(1)) >= OLDEST_MAJOR and (Path(folder) / "initdb").exists():
            return Path(folder)
    raise RuntimeError(f"no PostgreSQL {OLDEST_MAJOR}+ server binaries: install Debian's postgresql package "
                       "(the README's test command does)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _scratch_parent(as_other_user: bool) -> str:
    """Where the cluster's folder goes: the temp folder, unless the server could not use a folder there.

    The server's socket path must fit in 107 bytes, and a server run as another user (``postgres``
    under root) must be able to pass through every folder above its own; /tmp satisfies both.
    """
    parent = Path(tempfile.gettempdir()).resolve()
    too_long = len(str(parent)) > 60
    closed = as_other_user and any(not folder.stat().st_mode & stat.S_IXOTH for folder in (parent, *parent.parents))
    return "/tmp" if too_long or closed else str(parent)


class Cluster:
    """A PostgreSQL cluster in a temporary folder, served on 127.0.0.1 by a ``postgres`` process this object started.

    ``stop()`` and ``start()`` keep the folder and the port, for tests of a server that goes away
    and comes back; ``close()`` stops it and deletes the folder.
    """

    def __init__(self) -> None:
        self.bin = bin_dir()
        self._account = pwd.getpwnam(SUPERUSER) if os.geteuid() == 0 else None
        self.root = Path(tempfile.mkdtemp(prefix="artreg-pg-", dir=_scratch_parent(self._account is not None)))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._admin: psycopg.Connection[Any] | None = None
        try:
            if self._account is not None:
                os.chown(self.root, self._account.pw_uid, self._account.pw_gid)
            self._initdb()
            self._start_on_a_free_port()
            self._execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(PASSWORD_ROLE), sql.Literal(PASSWORD)))
        except BaseException:
            self.close()
            raise

    # -- processes ---------------------------------------------------------------------------

    def _run_as(self) -> dict[str, Any]:
        """Popen arguments that run a child as the cluster's owner (``postgres`` under root, else this user)."""
        if self._account is None:
            return {}
        return {"user": self._account.pw_uid, "group": self._account.pw_gid, "extra_groups": [],
                "env": {**os.environ, "HOME": self._account.pw_dir, "USER": SUPERUSER, "LOGNAME": SUPERUSER}}

    def _initdb(self) -> None:
        # --no-sync: the folder is scratch, and fsyncing a fresh cluster is most of initdb's time.
        command = [str(self.bin / "initdb"), "-D", str(self.data), "-U", SUPERUSER, "--auth=trust",
                   "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"]
        done = subprocess.run(command, cwd=self.root, capture_output=True, text=True, **self._run_as())
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")
        settings = "".join(f"{key} = {value}\n" for key, value in SETTINGS.items())
        settings += f"unix_socket_directories = '{self.root}'\n"
        with open(self.data / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write("\n# artreg's test cluster\n" + settings)
        (self.data / "pg_hba.conf").write_text(HBA, encoding="utf-8")

    def _start_on_a_free_port(self) -> None:
        # Another process may take the port between choosing and binding it: choose again.
        for attempt in range(5):
            self.port = _free_port()
            try:
                self.start()
                return
            except RuntimeError:
                if attempt == 4 or "could not bind" not in self._log_tail():
                    raise

    @property
    def pid(self) -> int:
        """The process id of the running server (the postmaster)."""
        if self._proc is None:
            raise RuntimeError("the PostgreSQL test cluster is not running")
        return self._proc.pid

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start the server on the cluster's folder and port and return once it accepts connections."""
        if self.running:
            return
        with open(self.log, "ab") as log:
            self._proc = subprocess.Popen([str(self.bin / "postgres"), "-D", str(self.data), "-p", str(self.port)],
                                          cwd=self.root, stdin=subprocess.DEVNULL, stdout=log, stderr=log, **self._run_as())
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                code, self._proc = self._proc.returncode, None
                raise RuntimeError(f"postgres exited with {code} while starting on port {self.port}:\n{self._log_tail()}")
            try:
                psycopg.connect(self.url("postgres"), connect_timeout=2).close()
                return
            except psycopg.OperationalError as exc:
                last = exc
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"postgres did not accept connections on port {self.port} in {timeout} s: {last}\n{self._log_tail()}")

    def stop(self) -> None:
        """Stop the server by its process id: a fast shutdown (SIGINT: clients cut, data kept), SIGKILL as a last resort.

        Returns once the postmaster has exited, and it waits for its backends before it does.
        """
        if self._admin is not None:
            self._admin.close()
            self._admin = None
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        os.kill(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=STOP_TIMEOUT)

    def close(self) -> None:
        """Stop the server and delete the cluster's folder."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    # -- databases ---------------------------------------------------------------------------

    def url(self, dbname: str = "postgres", user: str = SUPERUSER, password: str | None = None) -> str:
        """A ``postgresql://`` URL of database ``dbname`` on this cluster, over TCP on 127.0.0.1."""
        secret = f":{password}" if password is not None else ""
        return f"postgresql://{user}{secret}@127.0.0.1:{self.port}/{dbname}"

    def connect(self, dbname: str = "postgres") -> psycopg.Connection[Any]:
        """A superuser connection in autocommit mode, for set-up the tests do behind artreg's back."""
        return psycopg.connect(self.url(dbname), autocommit=True, connect_timeout=5)

    def _execute(self, query: sql.SQL | sql.Composed, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Run one statement on the cluster's kept superuser connection (opened again if the server dropped it)."""
        for attempt in range(2):
            if self._admin is None or self._admin.closed or self._admin.broken:
                self._admin = self.connect()
            try:
                cursor = self._admin.execute(query, params)
                return cursor.fetchall() if cursor.description is not None else []
            except psycopg.OperationalError:
                if attempt == 1 or not self._admin.broken:
                    raise
        raise AssertionError("unreachable")

    def create_database(self, template: str = "template0") -> str:
        """Create a database with a name of its own (a copy of ``template``: empty by default) and return its URL."""
        name = f"t_{uuid.uuid4().hex[:16]}"
        # FILE_COPY copies the template's files and checkpoints, which costs nothing with fsync off:
        # about half the time of the default WAL_LOG, which writes every page to the WAL.
        self._execute(sql.SQL("CREATE DATABASE {} TEMPLATE {} STRATEGY FILE_COPY").format(sql.Identifier(name), sql.Identifier(template)))
        return self.url(name)

    def drop_database(self, url: str) -> None:
        """Drop the database of ``url`` (one ``create_database`` made), cutting any connection still open to it."""
        self._execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(_dbname(url))))

    def terminate_backends(self, dbname_or_url: str) -> int:
        """Cut every connection to a database (``pg_terminate_backend``), as a dropped network would; returns how many.

        Waits up to 5 s for each backend to end, so the cut has happened when this returns.
        """
        rows = self._execute(TERMINATE, (_dbname(dbname_or_url),))
        return sum(1 for (ended,) in rows if ended)

    def backend_pids(self) -> list[int]:
        """The process ids of the server's children (backends and background workers), read from /proc."""
        parent = self.pid
        children = []
        for entry in glob.glob("/proc/[0-9]*/stat"):
            try:
                text = Path(entry).read_text()
            except OSError:
                continue  # the process ended while listing
            # Field 4 (ppid) follows the command name, which is in parentheses and may hold spaces.
            if int(text[text.rindex(")") + 2:].split()[1]) == parent:
                children.append(int(Path(entry).parent.name))
        return children


def _dbname(dbname_or_url: str) -> str:
    match = re.fullmatch(r"postgresql://[^/]*/([^/?]+)(\?.*)?", dbname_or_url)
    return match.group(1) if match else dbname_or_url


@contextmanager
def cluster() -> Iterator[Cluster]:
    """A running cluster for the duration of the block; stopped and deleted afterwards."""
    running = Cluster()
    try:
        yield running
    finally:
        running.close()
