"""SPEC §18: what only a catalog in PostgreSQL has — a server that can be down, a connection
that can drop, credentials, a database shared with other schemas — and moving a local
registry into one with ``artreg copy``.

The rest of the suite runs against both catalogs through the ``catalog`` fixture.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

import artreg
import pgserver
from artreg import cli
from artreg.storage._schema import SCHEMA_VERSION
from conftest import child_env, make
from s3servers import Bucket, blob_key


def versions_of(reg: artreg.Registry) -> list[tuple[str, int, str]]:
    with reg._db.read() as con:
        return [tuple(r) for r in con.execute(  # type: ignore[misc]
            "SELECT c.name, v.idx, v.digest FROM versions AS v JOIN collections AS c ON c.id = v.collection_id ORDER BY c.name, v.idx"
        )]


def test_a_new_catalog_needs_a_place_for_its_blobs_and_changes_nothing_without_one(pg_url: str, tmp_path: Path) -> None:
    with pytest.raises(artreg.SchemaError, match="blobs="):
        artreg.open(pg_url)
    with psycopg.connect(pg_url) as con:
        assert con.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone() == (0,)
    with pytest.raises(artreg.InvalidName, match="s3://bucket/prefix URL or a folder"):
        artreg.open(pg_url, blobs="https://example.com/blobs")
    with artreg.open(pg_url, blobs=str(tmp_path / "blobs")) as reg:
        reg.log_artifact(make(big=b"x" * 100_000))
        assert list((tmp_path / "blobs").rglob("*")), "the large blob went to the folder"


def test_another_applications_database_is_refused_untouched(pg_url: str, tmp_path: Path) -> None:
    with psycopg.connect(pg_url, autocommit=True) as con:
        con.execute("CREATE TABLE orders (id int)")
    with pytest.raises(artreg.SchemaError, match="tables of its own, not an artreg catalog"):
        artreg.open(pg_url, blobs=str(tmp_path / "blobs"))
    with psycopg.connect(pg_url) as con:
        names = [r[0] for r in con.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
    assert names == ["orders"]


def test_a_catalog_of_a_newer_schema_is_refused_untouched(pg_url: str, tmp_path: Path) -> None:
    with artreg.open(pg_url, blobs=str(tmp_path / "blobs")) as reg:
        reg.log_artifact(make(a="1"))
    with psycopg.connect(pg_url, autocommit=True) as con:
        con.execute("UPDATE artreg_catalog SET version = %s", (SCHEMA_VERSION + 1,))
    with pytest.raises(artreg.SchemaError, match="newer than this artreg understands"):
        artreg.open(pg_url)
    assert cli.main(["--registry", pg_url, "ls"]) == cli.EXIT_CODES[artreg.SchemaError]
    with psycopg.connect(pg_url) as con:
        assert con.execute("SELECT version FROM artreg_catalog").fetchone() == (SCHEMA_VERSION + 1,)


def test_refused_credentials_raise_catalog_denied(pg_cluster: pgserver.Cluster, pg_url: str, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    dbname = pg_url.rsplit("/", 1)[1]
    wrong = pg_cluster.url(dbname, user=pgserver.PASSWORD_ROLE, password="wrong")
    with pytest.raises(artreg.CatalogDenied, match="refused the credentials") as caught:
        artreg.open(wrong, blobs=str(tmp_path / "blobs"))
    assert isinstance(caught.value, PermissionError) and "wrong" not in str(caught.value)  # the password is not shown
    assert cli.main(["--registry", wrong, "ls"]) == 20
    assert "refused the credentials" in capsys.readouterr().err


def test_a_server_that_is_down_raises_catalog_unavailable_and_the_registry_recovers(
        pg_cluster: pgserver.Cluster, pg_url: str, tmp_path: Path) -> None:
    reg = artreg.open(pg_url, blobs=str(tmp_path / "blobs"))
    reg.log_artifact(make(a="1"), aliases=["prod"])
    before = versions_of(reg)
    pg_cluster.stop()
    try:
        with pytest.raises(artreg.CatalogUnavailable) as caught:
            reg.log_artifact(make(a="2"), aliases=["prod"])
        assert isinstance(caught.value, ConnectionError)
        with pytest.raises(artreg.CatalogUnavailable):
            artreg.open(pg_url)
        assert subprocess.run([sys.executable, "-m", "artreg", "--registry", pg_url, "ls"], env=child_env(),
                              capture_output=True, timeout=60).returncode == 19
    finally:
        pg_cluster.start()
    # The same object connects again; nothing of the failed log is there.
    assert versions_of(reg) == before
    assert reg.artifact("ds:prod").index == 0
    assert reg.log_artifact(make(a="2"), aliases=["prod"]).index == 1
    reg.close()


def test_a_connection_dropped_mid_transaction_leaves_nothing_half_written(
        pg_cluster: pgserver.Cluster, pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The server is killed out from under a log after its version row is written, before the commit."""
    reg = artreg.open(pg_url, blobs=str(tmp_path / "blobs"))
    reg.log_artifact(make(a="1"), aliases=["prod"])
    before = versions_of(reg)
    import artreg._log_artifact as log_module

    real = log_module.apply_retention

    def cut(*args: object, **kwargs: object) -> object:
        result = real(*args, **kwargs)  # type: ignore[arg-type]
        pg_cluster.terminate_backends(pg_url)
        return result

    monkeypatch.setattr(log_module, "apply_retention", cut)
    with pytest.raises(artreg.CatalogUnavailable, match="lost"):
        reg.log_artifact(make(a="2"), aliases=["prod"])
    monkeypatch.undo()
    assert versions_of(reg) == before
    assert reg.artifact("ds:prod").index == 0 and reg.artifact("ds:latest").index == 0
    reg.audit.verify()
    assert reg.log_artifact(make(a="2"), aliases=["prod"]).index == 1  # the index the lost log took is free again
    reg.close()


def test_copy_moves_a_local_registry_into_a_postgresql_catalog(pg_url: str, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    files = {"small.txt": b"small", "big.bin": hashlib.sha256(b"seed").digest() * 4000}
    with artreg.open(tmp_path / "local", inline_limit=1024) as local:
        with local.init("zoo", id="train", config={"lr": 0.1}) as run:
            art = artreg.Artifact("animals", type="dataset", metadata={"rows": 3})
            for name, data in files.items():
                with art.new_file(name, mode="wb") as f:
                    f.write(data)
            first = run.log_artifact(art, aliases=["best"])
        second = local.log_artifact(make("animals", a="changed"), project="zoo", aliases=["best"])
        local.create_registry("models", description="the team's models")
        first.link("wandb-registry-models/animals", aliases=["staging"])
        expected = versions_of(local)
        assert second.index == 1
    blobs = tmp_path / "team-blobs"
    assert cli.main(["copy", str(tmp_path / "local"), pg_url, "--blobs", str(blobs), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["versions_created"] == 2 and report["links_created"] == 1 and report["runs_created"] == 1
    with artreg.open(pg_url) as team:  # the blob folder was remembered when the copy created the catalog
        assert versions_of(team) == expected
        assert team.artifact("zoo/animals:best").index == 1
        v0 = team.artifact("zoo/animals:v0")
        assert v0.metadata == {"rows": 3} and [r.id for r in v0.logged_by()] == ["train"]
        out = Path(v0.download(root=str(tmp_path / "out")))
        assert {name: (out / name).read_bytes() for name in files} == files
        assert team.artifact("wandb-registry-models/animals:staging").digest == v0.digest
        team.audit.verify()
    # Copying again creates nothing.
    assert cli.main(["copy", str(tmp_path / "local"), pg_url, "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["versions_created"] == 0 and again["versions_reused"] == 2
    # And back out, through a bundle, into a registry file.
    assert cli.main(["copy", pg_url, str(tmp_path / "backup.tar")]) == 0
    assert cli.main(["copy", str(tmp_path / "backup.tar"), str(tmp_path / "restored")]) == 0
    with artreg.open(tmp_path / "restored") as restored:
        assert versions_of(restored) == expected


def test_processes_share_the_resolve_memo_of_nothing(pg_url: str, tmp_path: Path) -> None:
    """The memo is stamped with the server's snapshot: another process's alias move is seen by the next resolve."""
    with artreg.open(pg_url, blobs=str(tmp_path / "blobs")) as reg:
        reg.log_artifact(make(a="0"), aliases=["best"])
        reg.log_artifact(make(a="1"))
        for expected in (1, 0, 1):
            assert reg.artifact("ds:best").index != expected  # remembered now
            script = "import sys, artreg\nv = artreg.open(sys.argv[1]).artifact(sys.argv[2]); v.aliases.append('best'); v.save()\n"
            subprocess.run([sys.executable, "-c", script, pg_url, f"ds:v{expected}"], env=child_env(), check=True, timeout=60)
            assert reg.artifact("ds:best").index == expected


def test_search_splits_words_at_punctuation_as_fts5_does(pg_url: str, tmp_path: Path) -> None:
    with artreg.open(pg_url, blobs=str(tmp_path / "blobs")) as reg:
        reg.log_artifact(make("resnet-50.weights", type="model"), project="vision", aliases=["production-us"])
        reg.log_artifact(make("unrelated", type="model"), project="vision")
        for text in ("resnet", "weights", "resnet-50", '"resnet 50"', "res*", "production-us", "production AND us"):
            assert {h.ref.split(":")[0] for h in reg.search(text)} == {"vision/resnet-50.weights"}, text
        assert reg.search("resnet NOT weights") == []
        assert {h.ref for h in reg.search("unrelated OR resnet", kinds=["collection"])} == {"vision/resnet-50.weights", "vision/unrelated"}
        for bad in ('"unterminated', "resnet AND", "(resnet", "OR resnet"):
            with pytest.raises(artreg.InvalidName):
                reg.search(bad)
        assert reg.search("resnet")  # a refused query leaves the registry as it was


def test_a_read_only_open_reads_and_the_server_refuses_its_writes(pg_url: str, tmp_path: Path) -> None:
    with pytest.raises(artreg.SchemaError, match="read-only open creates"):
        artreg.open(pg_url, read_only=True)
    with artreg.open(pg_url, blobs=str(tmp_path / "blobs")) as reg:
        reg.log_artifact(make(a="1"), aliases=["prod"])
    with artreg.open(pg_url, read_only=True) as ro:
        assert ro.artifact("ds:prod").index == 0 and ro.read_only
        with pytest.raises(artreg.PermissionDenied):
            ro.log_artifact(make(a="2"))
        with pytest.raises(artreg.PermissionDenied), ro._db.read() as con:  # past the API: the server itself refuses
            con.execute("DELETE FROM aliases")
    with artreg.open(pg_url) as reg:
        assert reg.artifact("ds:prod").index == 0 and len(reg.artifacts("uncategorized", "ds")) == 1


def test_a_team_catalog_with_blobs_in_a_bucket_serves_two_machines(pg_url: str, moto_bucket: Bucket, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's set-up: the catalog in PostgreSQL, the bytes in a bucket, each machine its own cache."""
    large = os.urandom(200_000)
    monkeypatch.setenv("ARTREG_HOME", str(tmp_path / "machine-a"))
    with artreg.open(pg_url, blobs=moto_bucket.url("team"), inline_limit=1024) as a:
        v = a.log_artifact(make(small=b"tiny", large=large), project="p", aliases=["prod"])
        assert a.blobs == moto_bucket.url("team") and a.objects == tmp_path / "machine-a" / "catalogs" / a.uuid
    assert moto_bucket.blob_keys("team") == [blob_key("team", large)]
    monkeypatch.setenv("ARTREG_HOME", str(tmp_path / "machine-b"))
    with artreg.open(pg_url) as b:  # another machine: only the URL, an empty cache
        assert b.artifact("p/ds:prod").digest == v.digest
        out = Path(b.artifact("p/ds:prod").download(root=str(tmp_path / "out-b")))
        assert (out / "large").read_bytes() == large and (out / "small").read_bytes() == b"tiny"
        assert b.check().ok
        with pytest.raises(artreg.AlreadyExists):
            artreg.open(pg_url, blobs=moto_bucket.url("elsewhere"))


def test_what_postgresql_cannot_hold_is_refused_as_invalid_and_changes_nothing(pg_url: str, tmp_path: Path) -> None:
    """No NUL in text, and an index entry of at most 2,704 bytes: SQLite has neither limit."""
    import random
    import string

    rng = random.Random(7)
    long_path = "/".join("".join(rng.choice(string.ascii_letters) for _ in range(200)) for _ in range(20)) + "/x.txt"
    with artreg.open(pg_url, blobs=str(tmp_path / "blobs")) as reg:
        reg.log_artifact(make(a="1"), aliases=["prod"])
        before = versions_of(reg)
        art = artreg.Artifact("ds", type="dataset")
        with art.new_file(long_path) as f:
            f.write("deep")
        with pytest.raises(artreg.InvalidName, match="cannot hold a value this large"):
            reg.log_artifact(art)
        nul = make(a="3")
        nul.description = "a \x00 b"
        with pytest.raises(artreg.InvalidName, match="NUL"):
            reg.log_artifact(nul)
        assert versions_of(reg) == before and reg.artifact("ds:prod").index == 0
        reg.audit.verify()


def test_copy_into_an_empty_database_takes_the_bucket_of_a_source_whose_blobs_are_there(
        pg_url: str, moto_bucket: Bucket, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    large = os.urandom(100_000)
    with artreg.open(tmp_path / "local", blobs=moto_bucket.url("team"), inline_limit=1024) as local:
        local.log_artifact(make(large=large), project="p", aliases=["prod"])
    keys = moto_bucket.blob_keys("team")
    assert cli.main(["copy", str(tmp_path / "local"), pg_url, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["versions_created"] == 1 and report["blobs_shared"] == 1 and report["bytes_sent"] == 0
    assert moto_bucket.blob_keys("team") == keys  # nothing uploaded again
    with artreg.open(pg_url) as team:
        assert team.blobs == moto_bucket.url("team")
        assert team.artifact("p/ds:prod").get_entry("large").digest == hashlib.sha256(large).hexdigest()


def test_artreg_home_may_name_the_team_catalog(pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """``ARTREG_HOME=postgresql://…`` makes the catalog the default of artreg.open(), the CLI, artreg.wandb and artreg://."""
    import fsspec

    import artreg.wandb

    with artreg.open(pg_url, blobs=str(tmp_path / "blobs")) as reg:
        reg.log_artifact(make(a="alpha"), project="p", aliases=["prod"])
    monkeypatch.setenv("ARTREG_HOME", pg_url)
    with artreg.open() as reg:
        assert reg.path == pg_url and reg.artifact("p/ds:prod").index == 0
    assert cli.main(["ls", "p"]) == 0 and "ds" in capsys.readouterr().out
    run = artreg.wandb.init(project="p")
    assert run.use_artifact("ds:prod").version == "v0"
    run.finish()
    assert fsspec.open("artreg://p/ds:prod/a").open().read() == b"alpha"
    assert not Path(pg_url).exists() and not (tmp_path / "postgresql:").exists()


def test_writers_queue_correctly_whatever_isolation_the_server_defaults_to(pg_url: str, tmp_path: Path) -> None:
    """A database set to SERIALIZABLE by its administrator: each writer still sees the one before it."""
    import threading

    with psycopg.connect(pg_url, autocommit=True) as con:
        dbname = pg_url.rsplit("/", 1)[1]
        con.execute(f"ALTER DATABASE {dbname} SET default_transaction_isolation = 'serializable'")
    reg = artreg.open(pg_url, blobs=str(tmp_path / "blobs"))
    errors: list[BaseException] = []

    def log(who: int) -> None:
        try:
            for i in range(15):
                reg.log_artifact(make(a=f"{who}-{i}"), aliases=[f"by{who}"])
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=log, args=(who,)) for who in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    indices = sorted(v.index for v in reg.artifacts("uncategorized", "ds"))
    assert indices == list(range(45))
    assert reg.artifact("ds:latest").index == 44
    reg.audit.verify()
    reg.close()


SEARCHES = [
    "alpha", "alp*", "alpha beta", "alpha AND beta", "alpha OR gamma", "alpha NOT beta", "(alpha OR gamma) AND delta",
    '"alpha beta"', '"beta alpha"', "alpha & beta", "& alpha", "alpha OR &", "& OR gamma", "alpha NOT &", "& NOT alpha",
    "alpha AND &", "(&) OR gamma", "&", "café", "CAFE", "naïve", "model-v2", "model.pt", "v2", "NOT", "alpha AND", "(alpha", "alpha)",
]


def test_search_answers_as_fts5_does_for_each_query(pg_url: str, tmp_path: Path) -> None:
    """The same registries, collections and versions, the same query texts: the same hits (their order may differ)."""
    descriptions = ["alpha beta delta", "beta alpha", "gamma delta", "Café au lait, naïve", "the model-v2 in model.pt"]

    def fill(reg: artreg.Registry) -> None:
        for i, description in enumerate(descriptions):
            v = reg.log_artifact(make(f"c{i}", a=str(i)), project="p")
            v.description = description
            v.save()

    def answers(reg: artreg.Registry) -> list[object]:
        out: list[object] = []
        for text in SEARCHES:
            try:
                out.append(sorted((h.kind, h.field, h.ref) for h in reg.search(text)))
            except artreg.InvalidName:
                out.append("refused")
        return out

    with artreg.open(tmp_path / "local") as local, artreg.open(pg_url, blobs=str(tmp_path / "blobs")) as team:
        fill(local)
        fill(team)
        assert answers(team) == answers(local)


def test_a_database_not_in_utf8_is_refused_untouched(pg_cluster: pgserver.Cluster, tmp_path: Path) -> None:
    url = pg_cluster.create_database()
    name = url.rsplit("/", 1)[1] + "_latin1"
    with psycopg.connect(pg_cluster.url(), autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name} ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0")
    latin1 = pg_cluster.url(name)
    with pytest.raises(artreg.SchemaError, match="needs one in UTF8"):
        artreg.open(latin1, blobs=str(tmp_path / "blobs"))
    with psycopg.connect(latin1) as con:
        assert con.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone() == (0,)
    pg_cluster.drop_database(latin1)
    pg_cluster.drop_database(url)


def test_a_password_never_shows_in_the_registry_path_or_its_errors(pg_cluster: pgserver.Cluster, pg_url: str,
                                                                    tmp_path: Path) -> None:
    from artreg.storage._pg import redact

    assert redact("postgresql://ml:s3cret@db/artreg") == "postgresql://ml:***@db/artreg"
    assert redact("postgresql://ml@db/artreg?sslmode=require&password=s3cret") == "postgresql://ml@db/artreg?sslmode=require&password=***"
    assert redact("postgresql://ml@db/artreg") == "postgresql://ml@db/artreg"
    dbname = pg_url.rsplit("/", 1)[1]
    with psycopg.connect(pg_url, autocommit=True) as con:
        con.execute(f"GRANT ALL ON DATABASE {dbname} TO {pgserver.PASSWORD_ROLE}")
        con.execute(f"GRANT ALL ON SCHEMA public TO {pgserver.PASSWORD_ROLE}")
    url = f"{pg_cluster.url(dbname, user=pgserver.PASSWORD_ROLE)}?password={pgserver.PASSWORD}"
    with artreg.open(url, blobs=str(tmp_path / "blobs")) as reg:
        assert pgserver.PASSWORD not in reg.path and reg.path.endswith("password=***")
        with pytest.raises(artreg.NotFound) as caught:
            reg.artifact("nothing:latest")
        assert pgserver.PASSWORD not in str(caught.value)
