"""SPEC §16 over §17: bundles and ``copy`` for registries whose blobs are in a bucket.

Against real S3 servers on 127.0.0.1 (moto; SeaweedFS where the round trip's uploads must be
checked by the server). A copy between two registries on one prefix sends no blob bytes (seen
on the wire, through a recording proxy); an import into a bucket registry uploads as it reads,
under claims that hold from its first upload to its commit, so the owner's gc on another
machine never sweeps what it sent; a failed import leaves only objects that the owner's gc
sweeps once nobody claims them and the grace period is over; an export streams the blobs from
the bucket (or the cache) and checks them.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

import artreg
from artreg import cli
from artreg.storage import _s3_store
from conftest import child_env, make, readline
from s3servers import Bucket, FaultProxy, blob_key

BIG = 200_000  # above the 1 KiB inline limit of these tests
DAY = timedelta(hours=25)  # past the default grace period of 24 h
CHILD_TIMEOUT = 120


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()

def catalog(reg: artreg.Registry) -> dict[str, Any]:
    """Every row of every table and the audit head: what an import that changes nothing leaves as it was."""
    with reg._db.read() as con:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")]
        content = {t: sorted(repr(tuple(r)) for r in con.execute(f'SELECT * FROM "{t}"')) for t in tables}
    return {"audit": reg.audit.head(), "rows": content}


def files_of(reg: artreg.Registry, ref: str, where: Path) -> dict[str, bytes]:
    root = Path(reg.artifact(ref).download(where))
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def cached(reg: artreg.Registry) -> list[str]:
    assert reg.objects is not None
    return sorted(p.parent.name + p.name for p in reg.objects.glob("??/*"))


class LiveClock:
    """The real time, plus ``ahead`` (an injectable clock that moves on by itself, as S3's does)."""

    def __init__(self) -> None:
        self.ahead = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(timezone.utc) + self.ahead


@pytest.fixture
def small_parts(monkeypatch: pytest.MonkeyPatch) -> int:
    """Multipart from 6 MiB in 5 MiB parts (S3's smallest), so the tests need not send 32 MiB."""
    monkeypatch.setattr(_s3_store, "MULTIPART_THRESHOLD", 6 << 20)
    monkeypatch.setattr(_s3_store, "PART_SIZE", 5 << 20)
    return 5 << 20


# -- one prefix, two registries: no bytes move -------------------------------------------------------


def blob_traffic(proxy: FaultProxy) -> list[tuple[str, str]]:
    """The requests seen that read or wrote a blob object (a listing's prefix is in its query, not its path)."""
    return [(method, path) for method, path in proxy.seen if "/blobs/sha256/" in path.partition("?")[0]]


def test_copy_between_registries_on_one_prefix_sends_no_blob_bytes(
    fault_proxy: tuple[FaultProxy, Bucket], tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    proxy, bucket = fault_proxy
    # above the command line's default inline limit (64 KiB) too
    one, two, weights, small = os.urandom(BIG), os.urandom(BIG + 1), os.urandom(BIG + 2), b"inline bytes"
    with artreg.open(tmp_path / "a", inline_limit=1024, blobs=bucket.url()) as a, \
            artreg.open(tmp_path / "b", inline_limit=1024, blobs=bucket.url()) as b:
        assert a._store.identity == b._store.identity
        a.log_artifact(make(one=one, two=two, small=small), project="p", aliases=["best"])
        with a.init("p", id="train-1") as run:
            run.log({"loss": 0.5})
            run.log_artifact(make("model", type="model", weights=weights)).link("wandb-registry-model/zoo")
        proxy.seen.clear()
        report = a.copy_to(b)
        traffic = blob_traffic(proxy)
        assert traffic and {method for method, _ in traffic} == {"HEAD"}, traffic  # presence checked, nothing read or written
        assert (report.versions_created, report.links_created, report.runs_created) == (2, 1, 1)
        assert (report.blobs_sent, report.bytes_sent, report.blobs_shared) == (1, len(small), 3)  # only the inline one travels
        claims = [path for method, path in proxy.seen if method == "PUT" and f"/claims/{b.uuid}/" in path]
        assert claims  # b claimed what it took
        assert cached(b) == []  # and fetched nothing
        assert b.check().ok
        assert files_of(b, "p/ds:best", tmp_path / "out") == {"one": one, "two": two, "small": small}
        assert b.artifact("p/model:v0").logged_by()[0].history() == [{"loss": 0.5, "_step": 0}]

        # copied again: nothing travels, nothing changes
        before = catalog(b)
        proxy.seen.clear()
        again = a.copy_to(b)
        assert (again.versions_created, again.versions_reused, again.blobs_sent, again.blobs_shared) == (0, 2, 0, 0)
        assert blob_traffic(proxy) == [] and catalog(b) == before

        # a lets go of everything: b's claims keep the blobs it names from the owner's gc
        for version in a.artifacts("wandb-registry-model", "zoo") + a.artifacts("p", "ds") + a.artifacts("p", "model"):
            version.delete(delete_aliases=True)
        assert a.gc(grace=timedelta(0)).remote_objects == 0
        assert sorted(bucket.blob_keys()) == sorted(blob_key("team", d) for d in (one, two, weights))
        b.prune_cache(0)
        assert b.check().ok

    # the command line says the same, and a third registry on the prefix gets the blobs the same way
    artreg.open(tmp_path / "c", inline_limit=1024, blobs=bucket.url()).close()
    proxy.seen.clear()
    assert cli.main(["copy", str(tmp_path / "b"), str(tmp_path / "c"), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert (printed["versions_created"], printed["blobs_sent"], printed["bytes_sent"], printed["blobs_shared"]) == (2, 1, len(small), 3)
    assert {method for method, _ in blob_traffic(proxy)} == {"HEAD"}
    assert cli.main(["copy", str(tmp_path / "b"), str(tmp_path / "c")]) == 0
    assert "0 blobs (0 B) sent" in capsys.readouterr().out


def test_a_shared_blob_missing_from_the_bucket_fails_the_copy_and_changes_nothing(moto_bucket: Bucket, tmp_path: Path) -> None:
    gone, kept = os.urandom(6000), os.urandom(6000)
    with artreg.open(tmp_path / "a", inline_limit=1024, blobs=moto_bucket.url()) as a, \
            artreg.open(tmp_path / "b", inline_limit=1024, blobs=moto_bucket.url()) as b:
        a.log_artifact(make(gone=gone, kept=kept), project="p")
        moto_bucket.client.delete_object(Bucket=moto_bucket.name, Key=blob_key("team", gone))
        before = catalog(b)
        with pytest.raises(artreg.IntegrityError, match=f"{sha(gone)} is not in {moto_bucket.url()}"):
            a.copy_to(b)
        assert catalog(b) == before


def test_a_destination_that_keeps_such_blobs_inline_gets_their_bytes(moto_bucket: Bucket, tmp_path: Path) -> None:
    data = os.urandom(6000)
    with artreg.open(tmp_path / "a", inline_limit=1024, blobs=moto_bucket.url()) as a, \
            artreg.open(tmp_path / "b", inline_limit=100_000, blobs=moto_bucket.url()) as b:
        a.log_artifact(make(data=data), project="p")
        report = a.copy_to(b)
        assert (report.blobs_sent, report.bytes_sent, report.blobs_shared) == (1, len(data), 0)
        assert b._store.rows([sha(data)]) == {sha(data): data}  # inline in b's catalog
        assert b.artifact("p/ds:v0").open("data").read() == data


def test_registries_on_different_prefixes_copy_the_bytes(moto_bucket: Bucket, tmp_path: Path) -> None:
    data = os.urandom(6000)
    with artreg.open(tmp_path / "a", inline_limit=1024, blobs=moto_bucket.url("one")) as a, \
            artreg.open(tmp_path / "b", inline_limit=1024, blobs=moto_bucket.url("two")) as b:
        assert a._store.identity != b._store.identity
        a.log_artifact(make(data=data), project="p")
        report = a.copy_to(b)
        assert (report.blobs_sent, report.bytes_sent, report.blobs_shared) == (1, len(data), 0)
    assert moto_bucket.blob_keys("two") == [blob_key("two", data)]


# -- a bundle through a bucket registry ---------------------------------------------------------------


def test_a_bundle_round_trips_local_to_bucket_to_local_byte_for_byte(bucket: Bucket, tmp_path: Path, small_parts: int) -> None:
    contents = {"small": b"tiny", "medium": os.urandom(BIG), "large": os.urandom(small_parts * 2 + 123), "dir/other": os.urandom(5000)}
    with artreg.open(tmp_path / "local", inline_limit=1024) as local:
        with local.init("p", id="prep-1", entity="team", config={"seed": 7}) as run:
            run.log({"loss": float("nan")})
            version = run.log_artifact(make(**{k.replace("/", "__"): v for k, v in contents.items()}), aliases=["best"])
        version.link("wandb-registry-dataset/data", aliases=["prod"])
        local.export_bundle(tmp_path / "one.tar")
    with artreg.open(tmp_path / "team", inline_limit=1024, blobs=bucket.url()) as team:
        report = team.import_bundle(tmp_path / "one.tar")
        assert (report.versions_created, report.links_created, report.runs_created, report.blobs_sent) == (1, 1, 1, 4)
        large_blobs = [contents[k] for k in ("medium", "large", "dir/other")]
        assert sorted(bucket.blob_keys()) == sorted(blob_key("team", d) for d in large_blobs)
        assert bucket.client.list_multipart_uploads(Bucket=bucket.name).get("Uploads", []) == []
        team.prune_cache(0)  # what follows reads the bucket, not the copies the import left in the cache
        assert team.check().ok
        sent = team.export_bundle(tmp_path / "two.tar")
        assert (sent.blobs_sent, sent.bytes_sent) == (4, sum(map(len, contents.values())))
        assert cached(team) == []  # streamed from the bucket, not through the cache
        assert artreg.verify_bundle(tmp_path / "two.tar").blobs == 4
    with artreg.open(tmp_path / "back", inline_limit=1024) as back:
        back.import_bundle(tmp_path / "two.tar")
        assert files_of(back, "p/ds:best", tmp_path / "out") == contents
        assert back.artifact("wandb-registry-dataset/data:prod").digest == version.digest
        run = back.artifact("p/ds:v0").logged_by()[0]
        assert (run.id, run.entity, run.config, json.dumps(run.history())) == ("prep-1", "team", {"seed": 7}, '[{"loss": NaN, "_step": 0}]')


def test_an_export_checks_what_the_bucket_gives_and_leaves_no_bundle_when_it_is_wrong(moto_bucket: Bucket, tmp_path: Path) -> None:
    data = os.urandom(6000)
    with artreg.open(tmp_path / "team", inline_limit=1024, blobs=moto_bucket.url()) as team:
        team.log_artifact(make(data=data), project="p")
        team.prune_cache(0)
        moto_bucket.client.put_object(Bucket=moto_bucket.name, Key=blob_key("team", data), Body=b"x" * len(data))
        with pytest.raises(artreg.IntegrityError, match=f"p/ds:v0 'data'.*{sha(data)} is corrupt in {moto_bucket.url()}"):
            team.export_bundle(tmp_path / "out.tar")
        moto_bucket.client.delete_object(Bucket=moto_bucket.name, Key=blob_key("team", data))
        with pytest.raises(artreg.IntegrityError, match=f"p/ds:v0 'data'.*missing from {moto_bucket.url()}"):
            team.export_bundle(tmp_path / "out.tar")
    assert [p.name for p in tmp_path.iterdir() if "out" in p.name] == []


def test_a_bucket_failing_during_an_import_commits_nothing(fault_proxy: tuple[FaultProxy, Bucket], tmp_path: Path) -> None:
    """The uploads an import starts while it reads are all done before the commit that names them."""
    proxy, bucket = fault_proxy
    contents = [os.urandom(6000 + i) for i in range(3)]
    with artreg.open(tmp_path / "src", inline_limit=1024) as src:
        src.log_artifact(make(**{f"f{i}": d for i, d in enumerate(contents)}, small=b"s"), project="p")
        src.export_bundle(tmp_path / "all.tar")
    with artreg.open(tmp_path / "team", inline_limit=1024, blobs=bucket.url()) as team:
        before = catalog(team)
        proxy.fail_next(100)  # a 5xx storm that outlasts botocore's retries
        with pytest.raises(artreg.StoreUnavailable):
            team.import_bundle(tmp_path / "all.tar")
        assert catalog(team) == before
        proxy.failures.clear()
        assert team.import_bundle(tmp_path / "all.tar").versions_created == 1
        team.prune_cache(0)
        assert team.check().ok
    assert sorted(bucket.blob_keys()) == sorted(blob_key("team", d) for d in contents)


def test_an_upload_cut_off_during_an_import_leaves_nothing_half_written(fault_proxy: tuple[FaultProxy, Bucket], tmp_path: Path) -> None:
    """A blob upload that keeps dying mid-body fails the import with StoreUnavailable, after the
    uploads that did go through: no version, no run, no alias, no half object; a retry goes in whole."""
    proxy, bucket = fault_proxy
    small = os.urandom(6000)  # goes up whole: the proxy cuts bodies of 1 MiB or more
    large = [os.urandom((1 << 20) + 1000 + i) for i in range(2)]
    with artreg.open(tmp_path / "src", inline_limit=1024) as src:
        with src.init("p", id="prep-1") as run:
            run.log({"loss": 0.5})
            run.log_artifact(make(small=small, **{f"large{i}": d for i, d in enumerate(large)}), aliases=["best"])
        src.export_bundle(tmp_path / "all.tar")
    with artreg.open(tmp_path / "team", inline_limit=1024, blobs=bucket.url()) as team:
        team.log_artifact(make("kept", w=os.urandom(5000)), project="p")
        before, kept_keys = catalog(team), bucket.blob_keys()
        proxy.cut_uploads(1000)  # every attempt, past botocore's retries
        with pytest.raises(artreg.StoreUnavailable) as failed:
            team.import_bundle(tmp_path / "all.tar")
        assert isinstance(failed.value, artreg.ArtregError) and proxy.cuts < 1000
        assert catalog(team) == before
        assert [c.name for c in team.collections("p")] == ["kept"]
        # Left over: the local cache's copies of the three (admitted as they were read, before their
        # uploads), named by nothing. Never taken for the bucket's: only a committed row is proof of an
        # object, so they are only disk the cache's pruning gives back.
        checked = team.check()
        assert (checked.integrity, checked.missing, checked.corrupt) == ([], [], [])
        assert sorted(Path(p).parent.name + Path(p).name for p in checked.orphans) == sorted(map(sha, [small, *large]))
        # what went up whole is an object nobody names (swept once unclaimed); no large one is there, not even in part
        assert sorted(bucket.blob_keys()) == sorted([*kept_keys, blob_key("team", small)])
        assert bucket.client.list_multipart_uploads(Bucket=bucket.name).get("Uploads", []) == []
        proxy.cuts = 0
        report = team.import_bundle(tmp_path / "all.tar")
        assert (report.versions_created, report.runs_created) == (1, 1)
        team.prune_cache(0)
        assert team.check().ok
        assert files_of(team, "p/ds:best", tmp_path / "out") == {"small": small, "large0": large[0], "large1": large[1]}
        assert team.artifact("p/ds:v0").logged_by()[0].history() == [{"loss": 0.5, "_step": 0}]
    assert sorted(bucket.blob_keys()) == sorted([*kept_keys, blob_key("team", small), *(blob_key("team", d) for d in large)])


def flip_in_blob(bundle: Path, data: bytes, out: Path) -> None:
    """A copy of ``bundle`` with one bit of the blob ``data`` flipped."""
    raw = bundle.read_bytes()
    at = raw.index(data) + len(data) // 2
    out.write_bytes(raw[:at] + bytes([raw[at] ^ 1]) + raw[at + 1:])


def test_a_damaged_bundle_changes_nothing_in_a_bucket_registry_and_its_uploads_are_swept_later(
    moto_bucket: Bucket, tmp_path: Path,
) -> None:
    blobs = sorted((os.urandom(6000) for _ in range(4)), key=sha)  # the bundle holds them in this order
    with artreg.open(tmp_path / "src", inline_limit=1024) as src:
        src.log_artifact(make(**{f"f{i}": d for i, d in enumerate(blobs)}), project="p")
        src.export_bundle(tmp_path / "good.tar")
    flip_in_blob(tmp_path / "good.tar", blobs[-1], tmp_path / "bad.tar")
    clock = LiveClock()
    with artreg.open(tmp_path / "owner", inline_limit=1024, blobs=moto_bucket.url(), clock=clock) as owner, \
            artreg.open(tmp_path / "sharer", inline_limit=1024, blobs=moto_bucket.url(), clock=clock) as sharer:
        for importer in (owner, sharer):
            before = catalog(importer)
            with pytest.raises(artreg.IntegrityError, match=f"{sha(blobs[-1])} .*does not match its digest"):
                importer.import_bundle(tmp_path / "bad.tar")
            assert catalog(importer) == before
        # the blobs before the damaged one went up (an import has no rename); the damaged bytes did not
        assert sorted(moto_bucket.blob_keys()) == sorted(blob_key("team", d) for d in blobs[:-1])
        assert owner.gc().remote_objects == 0  # within the grace period
        clock.ahead = DAY
        assert owner.gc().remote_objects == 0  # the sharer's claims hold them until its own gc lets go
        assert sharer.gc().remote_objects == 0 and sharer.check().ok  # compacts its claims to what it names: nothing
        assert owner.gc().remote_objects == 3
        assert moto_bucket.blob_keys() == []
        # and the good bundle goes in whole
        assert sharer.import_bundle(tmp_path / "good.tar").versions_created == 1
        sharer.prune_cache(0)
        assert sharer.check().ok


# -- an import racing the owner's gc on another machine ----------------------------------------------

PAUSED_IMPORT = textwrap.dedent("""
    import json, sys
    import artreg, artreg._import as imp
    path, bundle = sys.argv[1], sys.argv[2]
    real_run = imp._Replay.run
    def paused(self, *, rehearse=False):
        if not rehearse:
            print("staged", flush=True)  # every blob is in the bucket; the commit has not come
            if sys.stdin.readline().strip() != "go":
                raise SystemExit(3)
        return real_run(self, rehearse=rehearse)
    imp._Replay.run = paused
    with artreg.open(path, inline_limit=1024, user="machine-b") as reg:
        print("ready", flush=True)
        sys.stdin.readline()
        report = reg.import_bundle(bundle)
    print(json.dumps({"created": report.versions_created, "sent": report.blobs_sent}), flush=True)
""")


@pytest.fixture
def racing(moto_bucket: Bucket, tmp_path: Path) -> Iterator[tuple[artreg.Registry, subprocess.Popen[str], list[bytes], LiveClock]]:
    """The owner ``a`` (here) whose bucket holds the bundle's blobs unreferenced, and an import into
    ``b`` on another machine (a child process), paused once its blobs are uploaded."""
    contents = [os.urandom(6000 + i) for i in range(6)]
    with artreg.open(tmp_path / "src", inline_limit=1024) as src:
        src.log_artifact(make(**{f"f{i}": d for i, d in enumerate(contents)}), project="p")
        src.export_bundle(tmp_path / "all.tar")
    clock = LiveClock()
    with artreg.open(tmp_path / "a", inline_limit=1024, blobs=moto_bucket.url(), clock=clock) as a:
        # The owner held these blobs once and let go of them: with no grace period its gc deletes
        # them unless a claim stops it; the import's uploads find them there (412) and count on them.
        a.log_artifact(make("old", **{f"f{i}": d for i, d in enumerate(contents)}), project="p").delete(delete_aliases=True)
        artreg.open(tmp_path / "b", inline_limit=1024, blobs=moto_bucket.url()).close()
        child = subprocess.Popen([sys.executable, "-c", PAUSED_IMPORT, str(tmp_path / "b"), str(tmp_path / "all.tar")],
                                 env=child_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert readline(child, time.monotonic() + CHILD_TIMEOUT) == "ready\n"
            assert child.stdin is not None
            child.stdin.write("start\n")
            child.stdin.flush()
            assert readline(child, time.monotonic() + CHILD_TIMEOUT) == "staged\n"
            yield a, child, contents, clock
        finally:
            if child.poll() is None:
                child.kill()
            child.communicate(timeout=CHILD_TIMEOUT)


def test_the_owners_gc_never_sweeps_what_a_running_import_has_uploaded(
    racing: tuple[artreg.Registry, subprocess.Popen[str], list[bytes], LiveClock], moto_bucket: Bucket, tmp_path: Path,
) -> None:
    a, child, contents, _clock = racing
    junk = os.urandom(9000)
    a.log_artifact(make("junk", data=junk), project="p").delete(delete_aliases=True)  # unclaimed: the sweeps do delete
    deleted = kept = 0
    for _ in range(3):
        report = a.gc(grace=timedelta(0))
        deleted += report.remote_objects
        kept = report.remote_kept
    assert deleted == 1 and kept == len(contents)  # the junk went; every blob of the import stayed, claimed
    assert sorted(moto_bucket.blob_keys()) == sorted(blob_key("team", d) for d in contents)
    assert child.stdin is not None
    child.stdin.write("go\n")
    child.stdin.flush()
    out, err = child.communicate(timeout=CHILD_TIMEOUT)
    assert child.returncode == 0, err
    assert json.loads(out.splitlines()[-1]) == {"created": 1, "sent": len(contents)}
    assert a.gc(grace=timedelta(0)).remote_objects == 0  # b's catalog names them now, and its claims stay
    with artreg.open(tmp_path / "b", inline_limit=1024) as b:
        b.prune_cache(0)
        assert b.check().ok
        assert sorted(files_of(b, "p/ds:v0", tmp_path / "out").values()) == sorted(contents)


def test_an_import_killed_before_its_commit_leaves_objects_the_owner_sweeps_once_unclaimed(
    racing: tuple[artreg.Registry, subprocess.Popen[str], list[bytes], LiveClock], moto_bucket: Bucket, tmp_path: Path,
) -> None:
    a, child, contents, clock = racing
    os.kill(child.pid, signal.SIGKILL)
    child.communicate(timeout=CHILD_TIMEOUT)
    assert child.returncode == -signal.SIGKILL
    with artreg.open(tmp_path / "b", inline_limit=1024, clock=clock) as b:
        assert b.collections() == [] and b.check().integrity == []  # never a version naming a blob
        clock.ahead = DAY
        assert a.gc().remote_objects == 0  # b's claims hold them...
        b.gc()  # ...until b's own gc lists what it names: nothing
        assert a.gc().remote_objects == len(contents)
    assert moto_bucket.blob_keys() == []
