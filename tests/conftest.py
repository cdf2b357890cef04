from __future__ import annotations

import http.server
import os
import select
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

import artreg
import pgserver

# Real S3 servers for the tests of blobs in a bucket (SPEC §17), one of each per session.
pytest_plugins = ["s3servers"]

# The checkout under test. Child processes get it first on PYTHONPATH, so they run this
# tree's artreg and not whatever copy happens to be installed.
REPO_ROOT = Path(__file__).resolve().parents[1]


def child_env(**extra: str) -> dict[str, str]:
    """The environment for a child Python process that must import this checkout's artreg."""
    path = os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, **extra}


# Manifest rows back in an entries table of their own, as schema versions 1-10 kept them: run on a
# current registry, it undoes the last migration, for tests that turn a registry back into an older one.

def older_schema(con: Any, upto: int) -> None:
    """Make ``con``'s empty file an artreg registry as a release of schema ``upto`` wrote it:
    the first ``upto`` migrations, the application id, the version number and who created it."""
    from artreg.storage._schema import APPLICATION_ID, MIGRATIONS

    for number, step in enumerate(MIGRATIONS[:upto]):
        if callable(step):
            step(con)
        else:
            con.execute(step)
        if number == 0:
            con.execute("INSERT INTO settings(key, value) VALUES ('created_by', 'old')")
    con.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    con.execute(f"PRAGMA user_version = {upto}")


UNDO_CHUNKS = """
CREATE TABLE entries_old (
    version_id INTEGER NOT NULL REFERENCES versions(id), path TEXT NOT NULL, digest TEXT NOT NULL,
    size INTEGER NOT NULL CHECK (size >= 0), ref TEXT, extra TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(extra)),
    PRIMARY KEY (version_id, path)
) STRICT, WITHOUT ROWID;
INSERT INTO entries_old SELECT * FROM entries;
DROP VIEW entries;
DROP TABLE chunk_cache; DROP TABLE manifests; DROP TABLE chunk_entries; DROP TABLE chunks;
ALTER TABLE entries_old RENAME TO entries;
"""


def readline(proc: subprocess.Popen[str], deadline: float) -> str:
    """One line of a child's stdout, failing the test when it does not come by ``deadline`` (monotonic).

    Reads the descriptor a byte at a time, so nothing after the line sits in a buffer that
    ``communicate()`` (which reads the descriptor directly) would never see.
    """
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    line = b""
    while not line.endswith(b"\n"):
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        assert ready, f"child {proc.args} printed no whole line in time (so far {line!r})"
        byte = os.read(fd, 1)
        if not byte:
            break
        line += byte
    return line.decode()


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test touches the real user data folder, the caller's cwd or their user name."""
    monkeypatch.setenv("ARTREG_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ARTREG_USER", "tester")
    monkeypatch.delenv("ARTREG_ARTIFACT_DIR", raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture(autouse=True)
def _wandb_state() -> Iterator[None]:
    """artreg.wandb's current run and chosen registry never leak from one test into the next."""
    yield
    state = sys.modules.get("artreg.wandb._state")
    if state is not None:
        state.reset()  # type: ignore[attr-defined]


CATALOGS = ["sqlite", "postgresql"]


@pytest.fixture(params=CATALOGS)
def catalog(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Where a test's registry keeps its catalog: a folder (SQLite), or a new catalog in a database of its own.

    Every test that takes ``reg`` (or this) runs once per catalog (SPEC §18).
    """
    if request.param == "sqlite":
        yield str(tmp_path / "reg")
        return
    cluster: pgserver.Cluster = request.getfixturevalue("pg_cluster")
    url = fresh_catalog(cluster, request.getfixturevalue("pg_template"), tmp_path)
    yield url
    cluster.start()  # a test that stopped the server leaves it running for the next
    cluster.drop_database(url)


@pytest.fixture(scope="session")
def pg_template(pg_cluster: pgserver.Cluster, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The name of a database holding a new catalog (created by "tester"), to copy for each test.

    Copying it takes a few tens of milliseconds; making the schema in an empty database takes
    ten times that, and most of the suite runs once on PostgreSQL.
    """
    url = pg_cluster.create_database()
    artreg.open(url, user="tester", blobs=str(tmp_path_factory.mktemp("template-blobs"))).close()
    return url.rsplit("/", 1)[1]


def fresh_catalog(cluster: pgserver.Cluster, template: str, tmp_path: Path) -> str:
    """A copy of the template catalog with an identity of its own and its blobs in ``tmp_path/blobs``."""
    url = cluster.create_database(template)
    with psycopg.connect(url, autocommit=True) as con:
        con.execute("UPDATE settings SET value = gen_random_uuid()::text WHERE key = 'registry_id'")
        con.execute("UPDATE settings SET value = %s WHERE key = 'objects'", (str(tmp_path / "blobs"),))
    return url


def made_by(request: pytest.FixtureRequest, tmp_path: Path, name: str, user: str) -> str:
    """Where a module's own registry goes, for a fixture parametrised over ``CATALOGS``.

    SQLite: ``tmp_path/name``, made by its first open. PostgreSQL: an empty database, made a
    catalog by ``user`` now (its blob files in ``tmp_path/blobs``), so that any later open,
    in this process or a child, needs only the URL and finds ``user`` its creator.
    """
    if request.param == "sqlite":
        return str(tmp_path / name)
    url: str = request.getfixturevalue("pg_url")
    artreg.open(url, user=user, blobs=str(tmp_path / "blobs")).close()
    return url


def open_catalog(catalog: str, tmp_path: Path, **options: Any) -> artreg.Registry:
    """Open the registry of ``catalog``: a PostgreSQL catalog keeps its blob files in ``tmp_path/blobs``."""
    if catalog.startswith("postgresql://"):
        options.setdefault("blobs", str(tmp_path / "blobs"))
    return artreg.open(catalog, **options)


@pytest.fixture
def reg(catalog: str, tmp_path: Path) -> Iterator[artreg.Registry]:
    """A registry on each catalog; inline_limit=1 KiB so tests see both inline and file blobs."""
    with open_catalog(catalog, tmp_path, inline_limit=1024) as registry:
        yield registry


@pytest.fixture
def mem() -> Iterator[artreg.Registry]:
    with artreg.open(":memory:") as registry:
        yield registry


@pytest.fixture
def src(tmp_path: Path) -> Path:
    """A small source tree: two small files and one above the 1 KiB inline limit."""
    root = tmp_path / "src"
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_text("alpha")
    (root / "sub" / "b.txt").write_text("bravo")
    (root / "big.bin").write_bytes(os.urandom(4096))
    return root


def make(name: str = "ds", type: str = "dataset", **files: bytes | str) -> artreg.Artifact:
    """A draft holding the given files (keyword = logical path with '__' for '/')."""
    art = artreg.Artifact(name, type=type)
    for path, content in files.items():
        mode = "wb" if isinstance(content, bytes) else "w"
        with art.new_file(path.replace("__", "/"), mode=mode) as f:  # type: ignore[call-overload]
            f.write(content)
    return art


def past_racy_window() -> None:
    """Wait until files written (or touched) just now are settled enough for the stat cache.

    Their ctime is now, and the caches trust a stat only once its newest timestamp lies a
    tick (50 ms, plus the filesystem's granularity) before the moment a log reads the file.
    """
    time.sleep(0.1)


class Clock:
    """An injectable clock (``artreg.open(..., clock=Clock(t))``); tests move ``now`` by hand."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


@contextmanager
def serve(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[str]:
    """An HTTP server on 127.0.0.1 (a free port) in a thread; yields its base URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@dataclass
class Hostile:
    """A running ``hostile_server.py`` (an HTTP server that misbehaves on purpose, in its own process)."""

    proc: subprocess.Popen[str]
    base: str

    def url(self, path: str) -> str:
        return self.base + path

    def sent(self) -> tuple[str, int]:
        """The next request the server has finished with: its path and the body bytes it wrote."""
        word, path, count = readline(self.proc, time.monotonic() + 60).split()
        assert word == "sent"
        return path, int(count)


@pytest.fixture
def hostile() -> Iterator[Hostile]:
    """``hostile_server.py`` on 127.0.0.1, stopped by its process id when the test ends."""
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve().with_name("hostile_server.py"))],
        stdout=subprocess.PIPE, text=True, env=child_env(),
    )
    try:
        word, port = readline(proc, time.monotonic() + 60).split()
        assert word == "port"
        yield Hostile(proc, f"http://127.0.0.1:{port}")
    finally:
        proc.kill()
        proc.communicate(timeout=60)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[pgserver.Cluster]:
    """A throwaway PostgreSQL cluster on 127.0.0.1, one per test process (xdist worker), deleted at the end."""
    with pgserver.cluster() as cluster:
        yield cluster


@pytest.fixture
def pg_url(pg_cluster: pgserver.Cluster) -> Iterator[str]:
    """The URL of a fresh, empty database on ``pg_cluster`` (``postgresql://postgres@127.0.0.1:PORT/NAME``), dropped afterwards.

    A test that stops the server gets it started again here, so the next test finds it running.
    """
    url = pg_cluster.create_database()
    yield url
    pg_cluster.start()
    pg_cluster.drop_database(url)
