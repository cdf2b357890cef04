"""The PostgreSQL test cluster does what the catalog's tests rely on: fresh databases, password refusal, a clean stop."""

from __future__ import annotations

import os

import psycopg
import pytest

import pgserver


def _tables(url: str) -> list[str]:
    with psycopg.connect(url) as con:
        rows = con.execute("SELECT table_name FROM information_schema.tables "
                           "WHERE table_schema NOT IN ('pg_catalog', 'information_schema')")
        return [name for (name,) in rows]


def test_each_fresh_database_is_its_own_and_empty(pg_cluster: pgserver.Cluster, pg_url: str) -> None:
    other = pg_cluster.create_database()
    assert other != pg_url
    assert pg_url.startswith(f"postgresql://postgres@127.0.0.1:{pg_cluster.port}/")
    assert _tables(pg_url) == [] and _tables(other) == []
    with psycopg.connect(pg_url) as con:
        con.execute("CREATE TABLE t (x int)")
        assert con.execute("SELECT current_database(), current_setting('server_encoding')").fetchone() == (pg_url.rsplit("/", 1)[1], "UTF8")
    assert _tables(pg_url) == ["t"]
    assert _tables(other) == []
    pg_cluster.drop_database(other)
    with pytest.raises(psycopg.OperationalError, match="does not exist"):
        psycopg.connect(other, connect_timeout=5)


def test_the_cluster_is_set_up_for_tests(pg_cluster: pgserver.Cluster) -> None:
    with pg_cluster.connect() as con:
        settings = dict(con.execute(
            "SELECT name, setting FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'max_connections', 'listen_addresses')",
        ).fetchall())
        major = con.info.server_version // 10000
    assert settings == {"fsync": "off", "synchronous_commit": "off", "max_connections": "300", "listen_addresses": "127.0.0.1"}
    # Debian's 15 when the machine has it (the README's test command installs it), else a newer one.
    assert major == pgserver.PREFERRED_MAJOR if os.path.isdir("/usr/lib/postgresql/15/bin") else major >= pgserver.OLDEST_MAJOR


def test_a_password_role_is_refused_a_wrong_password_and_let_in_with_the_right_one(pg_cluster: pgserver.Cluster, pg_url: str) -> None:
    dbname = pg_url.rsplit("/", 1)[1]
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(pg_cluster.url(dbname, user=pgserver.PASSWORD_ROLE, password="wrong"), connect_timeout=5)
    with pytest.raises(psycopg.OperationalError, match="password"):
        psycopg.connect(pg_cluster.url(dbname, user=pgserver.PASSWORD_ROLE), connect_timeout=5)
    with psycopg.connect(pg_cluster.url(dbname, user=pgserver.PASSWORD_ROLE, password=pgserver.PASSWORD)) as con:
        assert con.execute("SELECT current_user").fetchone() == (pgserver.PASSWORD_ROLE,)
    with pg_cluster.connect() as con:
        stored = con.execute("SELECT left(rolpassword, 13) FROM pg_authid WHERE rolname = %s", (pgserver.PASSWORD_ROLE,)).fetchone()
    assert stored == ("SCRAM-SHA-256",)


def test_terminate_backends_cuts_open_connections(pg_cluster: pgserver.Cluster, pg_url: str) -> None:
    con = psycopg.connect(pg_url)
    try:
        con.execute("SELECT 1")
        assert pg_cluster.terminate_backends(pg_url) == 1
        with pytest.raises(psycopg.OperationalError):
            con.execute("SELECT 1")
        assert con.broken
    finally:
        con.close()
    assert pg_cluster.terminate_backends(pg_url) == 0


def test_stop_and_start_keep_the_data_and_the_port(pg_cluster: pgserver.Cluster, pg_url: str) -> None:
    with psycopg.connect(pg_url) as con:
        con.execute("CREATE TABLE kept (x int)")
        con.execute("INSERT INTO kept VALUES (42)")
    port, pid = pg_cluster.port, pg_cluster.pid
    client = psycopg.connect(pg_url)
    pg_cluster.stop()
    assert not pg_cluster.running
    with pytest.raises(psycopg.OperationalError):
        client.execute("SELECT 1")
    client.close()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(pg_url, connect_timeout=2)
    pg_cluster.start()
    assert pg_cluster.port == port and pg_cluster.pid != pid
    with psycopg.connect(pg_url) as con:
        assert con.execute("SELECT x FROM kept").fetchall() == [(42,)]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_stop_leaves_no_process_and_close_leaves_no_folder() -> None:
    cluster = pgserver.Cluster()
    try:
        client = psycopg.connect(cluster.url())
        pid, children = cluster.pid, cluster.backend_pids()
        # The postmaster's children include the backend serving the open client, and the background workers.
        (backend,) = client.execute("SELECT pg_backend_pid()").fetchone() or (0,)
        assert backend in children and len(children) >= 3
        cluster.stop()
        client.close()
        assert not _alive(pid)
        assert [child for child in children if _alive(child)] == []
        with pytest.raises(RuntimeError, match="not running"):
            cluster.pid  # noqa: B018 - the property raises
    finally:
        cluster.close()
    assert not cluster.root.exists()
