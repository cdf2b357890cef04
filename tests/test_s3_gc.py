"""SPEC §17: several registries on one bucket prefix; gc only by the owner, after the grace
period, never what a log on any machine announced; check() against the bucket.

"Machines" are separate processes, each with its own registry file, on one prefix of a real
S3 server on 127.0.0.1 (moto).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

import artreg
from artreg.storage import _s3_store
from conftest import Clock, child_env, make, readline
from s3servers import Bucket, blob_key

DAY = timedelta(hours=25)  # past the default grace period of 24 h
CHILD_TIMEOUT = 120


def sha(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()

def now() -> datetime:
    return datetime.now(timezone.utc)


def test_two_registries_share_one_prefix_and_only_the_first_owns_it(
    bucket: Bucket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    one, two = os.urandom(6000), os.urandom(7000)
    with artreg.open(tmp_path / "a", inline_limit=1024, blobs=bucket.url()) as a, \
            artreg.open(tmp_path / "b", inline_limit=1024, blobs=bucket.url()) as b:
        assert a._store.identity == b._store.identity and a._store.identity is not None
        assert a._db.setting("blobs_owner") == b._db.setting("blobs_owner") == a._db.setting("registry_id")
        va = a.log_artifact(make(one=one), project="p")
        vb = b.log_artifact(make(two=two), project="p")

        # b takes a's version as a draft: the blob is in the shared store already, so no byte moves.
        def no_upload(*args: object) -> bool:
            raise AssertionError("a blob was uploaded between registries sharing one store")

        monkeypatch.setattr(_s3_store.S3Files, "_put", no_upload)
        monkeypatch.setattr(_s3_store.S3Files, "_multipart", no_upload)
        monkeypatch.setattr(_s3_store.S3Files, "fetch", no_upload)
        copied = b.log_artifact(va.new_draft(), project="copied")
        monkeypatch.undo()
        assert copied.digest == va.digest
        b.prune_cache(0)
        copied.verify()
        assert Path(copied.download(tmp_path / "out")).joinpath("one").read_bytes() == one

        report = b.gc(grace=timedelta(0))
        assert report.remote_objects == 0 and any("nothing was deleted there" in n for n in report.notes)
        vb.delete(delete_aliases=True)
        report = b.gc(grace=timedelta(0))
        assert report.blobs == 1 and report.remote_objects == 0  # its row goes; the object is not b's to delete
    assert sorted(bucket.blob_keys()) == sorted([blob_key("team", one), blob_key("team", two)])


def test_the_owner_sweeps_only_what_is_older_than_the_grace_period(moto_bucket: Bucket, tmp_path: Path) -> None:
    clock = Clock(now())
    data, kept = os.urandom(6000), os.urandom(6000)
    with artreg.open(tmp_path / "a", inline_limit=1024, blobs=moto_bucket.url(), clock=clock) as a:
        v = a.log_artifact(make("gone", data=data), project="p")
        a.log_artifact(make("kept", data=kept), project="p")
        v.delete(delete_aliases=True)
        report = a.gc()
        assert (report.blobs, report.remote_objects, report.remote_kept) == (1, 0, 1)  # younger than 24 h
        assert blob_key("team", data) in moto_bucket.blob_keys()
        clock.now += DAY
        preview = a.gc(dry_run=True)
        assert (preview.remote_objects, preview.remote_bytes) == (1, 6000)
        assert blob_key("team", data) in moto_bucket.blob_keys()
        report = a.gc()
        assert (report.remote_objects, report.remote_bytes, report.remote_kept) == (1, 6000, 0)
        assert moto_bucket.blob_keys() == [blob_key("team", kept)]
        assert moto_bucket.keys("team/claims/") == []  # the owner's claims, past the grace period, went too
        assert a.check().ok


def test_a_sharers_claims_keep_its_blobs_from_the_owners_gc_until_it_lets_go(moto_bucket: Bucket, tmp_path: Path) -> None:
    clock = Clock(now())
    data = os.urandom(6000)
    with artreg.open(tmp_path / "a", inline_limit=1024, blobs=moto_bucket.url(), clock=clock) as a, \
            artreg.open(tmp_path / "b", inline_limit=1024, blobs=moto_bucket.url(), clock=clock) as b:
        vb = b.log_artifact(make(data=data), project="p")
        clock.now += DAY
        report = a.gc()  # a does not name the blob, but b's claim does
        assert (report.remote_objects, report.remote_kept) == (0, 1)
        assert blob_key("team", data) in moto_bucket.blob_keys()
        b.gc()  # compacting b's claims keeps what b names
        assert a.gc().remote_objects == 0
        vb.delete(delete_aliases=True)
        b.gc()  # now b names nothing: its claims go
        assert moto_bucket.keys("team/claims/") == []
        assert a.gc().remote_objects == 1
    assert moto_bucket.blob_keys() == []


def test_gc_deletes_nothing_where_the_marker_is_not_its_stores(moto_bucket: Bucket, tmp_path: Path) -> None:
    clock = Clock(now())
    with artreg.open(tmp_path / "a", inline_limit=1024, blobs=moto_bucket.url(), clock=clock) as a:
        v = a.log_artifact(make(data=os.urandom(6000)), project="p")
        v.delete(delete_aliases=True)
        moto_bucket.client.delete_object(Bucket=moto_bucket.name, Key="team/artreg.json")
        clock.now += DAY
        report = a.gc()
        assert report.blobs == 1 and report.remote_objects == 0
        assert "nothing was deleted there" in report.notes[0]
    assert len(moto_bucket.blob_keys()) == 1


# -- a crash between upload and commit -----------------------------------------------------------

KILLED_LOG = textwrap.dedent("""
    import os, sys, time, artreg
    from artreg import _ingest
    real_wait = _ingest.Ingested.wait
    def wait_then_stop(self):
        real_wait(self)  # every upload is done: the object is in the bucket
        print("uploaded", flush=True)
        time.sleep(600)  # ...and the commit never comes: killed here
    _ingest.Ingested.wait = wait_then_stop
    reg = artreg.open(sys.argv[1], inline_limit=1024)
    art = artreg.Artifact("doomed", "dataset")
    with art.new_file("data", mode="wb") as f:
        f.write(bytes.fromhex(sys.argv[2]))
    reg.log_artifact(art, project="p")
""")


def test_sigkill_between_upload_and_commit_leaves_an_orphan_object_swept_after_the_grace_period_by_the_owner_only(
    moto_bucket: Bucket, tmp_path: Path,
) -> None:
    clock = Clock(now())
    data = os.urandom(6000)
    owner_path, sharer_path = tmp_path / "a", tmp_path / "b"
    artreg.open(owner_path, inline_limit=1024, blobs=moto_bucket.url()).close()
    artreg.open(sharer_path, inline_limit=1024, blobs=moto_bucket.url()).close()
    child = subprocess.Popen([sys.executable, "-c", KILLED_LOG, str(owner_path), data.hex()], env=child_env(),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert readline(child, time.monotonic() + CHILD_TIMEOUT) == "uploaded\n"
        os.kill(child.pid, signal.SIGKILL)
        child.communicate(timeout=CHILD_TIMEOUT)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == -signal.SIGKILL
    assert blob_key("team", data) in moto_bucket.blob_keys()  # an orphan object...
    with artreg.open(owner_path, inline_limit=1024, clock=clock) as a, artreg.open(sharer_path, inline_limit=1024, clock=clock) as b:
        assert a.collections() == []  # ...never a version naming a blob that is not there
        report = a.check()
        assert report.integrity == report.missing == report.corrupt == []
        assert report.orphans == [str(a._store.object_path(sha(data)))]  # its cached copy: local, gc removes it
        clock.now += DAY
        report = b.gc()  # not the owner: nothing goes, and it says so
        assert report.remote_objects == 0 and "owned by catalog" in report.notes[0]
        assert blob_key("team", data) in moto_bucket.blob_keys()
        clock.now -= DAY
        assert a.gc().remote_objects == 0  # the owner, within the grace period
        assert blob_key("team", data) in moto_bucket.blob_keys()
        clock.now += DAY
        assert a.gc().remote_objects == 1  # the owner, after it
    assert moto_bucket.blob_keys() == []


# -- gc racing a log on another machine -------------------------------------------------------------

RACING_LOGGER = textwrap.dedent("""
    import json, random, sys, artreg
    path, count = sys.argv[1], int(sys.argv[2])
    errors, logged = [], []
    with artreg.open(path, inline_limit=1024, user="machine-b") as reg:
        print("ready", flush=True)
        sys.stdin.readline()
        for i in range(count):
            art = artreg.Artifact(f"m{i}", "model")
            with art.new_file("weights", mode="wb") as f:
                f.write(random.Random(i).randbytes(4000 + i))
            try:
                logged.append(reg.log_artifact(art, project="p").qualified_name)
            except Exception as exc:
                errors.append(f"log {i}: {type(exc).__name__}: {exc}")
        reg.prune_cache(0)  # what follows reads the bucket, not the copies this machine kept
        for name in logged:
            try:
                reg.artifact(name).verify()
            except Exception as exc:
                errors.append(f"verify {name}: {type(exc).__name__}: {exc}")
    print(json.dumps({"logged": logged, "errors": errors}), flush=True)
""")


def test_gc_racing_a_log_on_another_machine_never_leaves_it_a_dangling_version(moto_bucket: Bucket, tmp_path: Path) -> None:
    count = 24
    contents = [random.Random(i).randbytes(4000 + i) for i in range(count)]
    with artreg.open(tmp_path / "a", inline_limit=1024, blobs=moto_bucket.url()) as a:
        # The owner held these blobs once and let go of them: the bucket has them, unreferenced,
        # and with no grace period its gc deletes them unless a claim stops it.
        for i, data in enumerate(contents):
            a.log_artifact(make(f"old{i}", weights=data), project="p").delete(delete_aliases=True)
        assert len(moto_bucket.blob_keys()) == count
        artreg.open(tmp_path / "b", inline_limit=1024, blobs=moto_bucket.url()).close()
        child = subprocess.Popen([sys.executable, "-c", RACING_LOGGER, str(tmp_path / "b"), str(count)], env=child_env(),
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert readline(child, time.monotonic() + CHILD_TIMEOUT) == "ready\n"
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
            sweeps = deleted = 0
            deadline = time.monotonic() + CHILD_TIMEOUT
            while child.poll() is None and time.monotonic() < deadline:
                deleted += a.gc(grace=timedelta(0)).remote_objects
                sweeps += 1
                time.sleep(0.1)  # a gc that never pauses would hold every log back (they wait for its lock)
            out, err = child.communicate(timeout=CHILD_TIMEOUT)
        finally:
            if child.poll() is None:
                child.kill()
                child.communicate()
        report = json.loads(out.splitlines()[-1])
        assert report["errors"] == [], report["errors"]
        assert len(report["logged"]) == count
        assert sweeps >= 2 and deleted >= 1, (sweeps, deleted)  # the sweeps really ran against the logs
        a.gc(grace=timedelta(0))  # one more, after the last log
    with artreg.open(tmp_path / "b", inline_limit=1024) as b:
        b.prune_cache(0)
        assert b.check().ok
        assert len(moto_bucket.blob_keys()) == count  # b's claims keep every blob it names


def test_a_log_waits_while_a_sweep_holds_the_gc_lock(moto_bucket: Bucket, tmp_path: Path) -> None:
    with artreg.open(tmp_path / "a", inline_limit=1024, blobs=moto_bucket.url()) as a:
        moto_bucket.client.put_object(Bucket=moto_bucket.name, Key="team/gc.lock", Body=b"{}")
        done = threading.Event()
        failures: list[BaseException] = []

        def log() -> None:
            try:
                a.log_artifact(make(data=os.urandom(6000)), project="p")
            except BaseException as exc:  # noqa: BLE001 - reported to the test thread
                failures.append(exc)
            done.set()

        worker = threading.Thread(target=log)
        worker.start()
        assert not done.wait(1.5)  # claimed, then waiting for the sweep to end
        assert moto_bucket.blob_keys() == []
        moto_bucket.client.delete_object(Bucket=moto_bucket.name, Key="team/gc.lock")
        assert done.wait(30)
        worker.join()
        assert failures == []
        with pytest.raises(artreg.Busy, match="another gc"):
            moto_bucket.client.put_object(Bucket=moto_bucket.name, Key="team/gc.lock", Body=b"{}")
            a.gc(grace=timedelta(0))
    assert len(moto_bucket.blob_keys()) == 1


# -- check ----------------------------------------------------------------------------------------


def test_check_verifies_the_buckets_objects_and_the_cached_copies(moto_bucket: Bucket, tmp_path: Path) -> None:
    gone, bad, cached = os.urandom(6000), os.urandom(6000), os.urandom(6000)
    with artreg.open(tmp_path / "a", inline_limit=1024, blobs=moto_bucket.url()) as a:
        a.log_artifact(make(gone=gone, bad=bad, cached=cached, small=b"s"), project="p")
        assert a.check().ok
        moto_bucket.client.delete_object(Bucket=moto_bucket.name, Key=blob_key("team", gone))
        moto_bucket.client.put_object(Bucket=moto_bucket.name, Key=blob_key("team", bad), Body=b"y" * 6000)
        copy = a._store.object_path(sha(cached))
        os.chmod(copy, 0o644)
        copy.write_bytes(b"z" * 6000)
        report = a.check()
        assert (report.missing, report.corrupt, report.cache_corrupt) == ([sha(gone)], [sha(bad)], [str(copy)])
        assert not report.ok
        fixed = a.check(fix=True)
        assert str(copy) in fixed.removed_orphans and not copy.exists()
        assert fixed.cache_corrupt == [] and fixed.missing == [sha(gone)]
