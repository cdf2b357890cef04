"""SPEC §17: blobs in an S3 bucket prefix, against real servers on 127.0.0.1 (moto, SeaweedFS).

Layout, the remembered location, upload before commit, downloads through the bounded cache,
``blobs move``, and the server's checksum check (SeaweedFS: moto verifies none).
"""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import artreg
from artreg.storage import _s3_store
from conftest import child_env, make
from s3servers import Bucket, blob_key

BIG = 200_000  # above the 1 KiB inline limit of these tests, below the multipart threshold


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()

@pytest.fixture
def small_parts(monkeypatch: pytest.MonkeyPatch) -> int:
    """Multipart from 6 MiB in 5 MiB parts (S3's smallest), so the tests need not send 32 MiB."""
    monkeypatch.setattr(_s3_store, "MULTIPART_THRESHOLD", 6 << 20)
    monkeypatch.setattr(_s3_store, "PART_SIZE", 5 << 20)
    return 5 << 20


def cached(reg: artreg.Registry) -> list[str]:
    assert reg.objects is not None
    return sorted(p.parent.name + p.name for p in reg.objects.glob("??/*"))


# -- layout and the remembered location ------------------------------------------------------------


def test_large_blobs_go_to_the_prefix_content_addressed_small_ones_stay_inline(bucket: Bucket, tmp_path: Path) -> None:
    small, large = b"tiny", os.urandom(BIG)
    with artreg.open(tmp_path / "reg", inline_limit=1024, blobs=bucket.url("team/a")) as reg:
        v = reg.log_artifact(make(small=small, large=large), project="p")
        assert reg.blobs == bucket.url("team/a")
        assert v.get_entry("small").digest == sha(small) and v.get_entry("large").digest == sha(large)
    assert bucket.blob_keys("team/a") == [blob_key("team/a", large)]
    assert "team/a/artreg.json" in bucket.keys("team/a/")
    body = bucket.client.get_object(Bucket=bucket.name, Key=blob_key("team/a", large))["Body"].read()
    assert body == large


def test_a_log_of_only_inline_files_sends_no_request(fault_proxy: tuple[object, Bucket], tmp_path: Path) -> None:
    proxy, bucket = fault_proxy
    with artreg.open(tmp_path / "reg", blobs=bucket.url()) as reg:  # binding the prefix: a few requests, once
        before = proxy.requests  # type: ignore[attr-defined]
        files = {f"f{i}": os.urandom(4096) for i in range(300)}
        v = reg.log_artifact(make(**files), project="p")
        v.download(tmp_path / "out")
        assert proxy.requests == before  # type: ignore[attr-defined]
    assert bucket.blob_keys() == []


def test_the_location_is_remembered_and_a_different_one_refused(moto_bucket: Bucket, tmp_path: Path) -> None:
    path = tmp_path / "reg"
    with artreg.open(path, inline_limit=1024, blobs=moto_bucket.url()) as reg:
        reg.log_artifact(make(big=os.urandom(5000)), project="p")
    with artreg.open(path, inline_limit=1024) as reg:  # no blobs=: the file knows
        assert reg.blobs == moto_bucket.url()
        reg.log_artifact(make(big=os.urandom(5000)), project="p")
    with artreg.open(path, blobs=moto_bucket.url() + "/") as reg:  # the same location, spelled with a slash
        assert reg.blobs == moto_bucket.url()
    with pytest.raises(artreg.AlreadyExists, match="keeps its blobs in s3://"):
        artreg.open(path, blobs=moto_bucket.url("elsewhere"))
    local = tmp_path / "local"
    artreg.open(local).close()
    with pytest.raises(artreg.AlreadyExists, match="artreg blobs move"):
        artreg.open(local, blobs=moto_bucket.url())
    assert len(moto_bucket.blob_keys()) == 2


@pytest.mark.parametrize("url", ["file:///x", "s3://", "s3://b", "s3://ok-bucket/a//b", "s3://ok-bucket/../x", 42])
def test_a_malformed_location_is_refused_before_anything_is_created(url: object, tmp_path: Path) -> None:
    with pytest.raises(artreg.InvalidName):
        artreg.open(tmp_path / "reg", blobs=url)  # type: ignore[arg-type]
    assert not (tmp_path / "reg").exists()


def test_memory_registries_refuse_a_bucket() -> None:
    with pytest.raises(artreg.InvalidName, match=":memory:"):
        artreg.open(":memory:", blobs="s3://bucket/prefix")


def test_the_cli_finds_the_location_in_the_file(moto_bucket: Bucket, tmp_path: Path) -> None:
    path = tmp_path / "reg"
    artreg.open(path, inline_limit=1024, blobs=moto_bucket.url()).close()
    (tmp_path / "model.bin").write_bytes(os.urandom(100_000))
    env = child_env()
    done = subprocess.run([sys.executable, "-m", "artreg", "--registry", str(path), "put", str(tmp_path / "model.bin"), "-n", "p/m"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert blob_key("team", (tmp_path / "model.bin").read_bytes()) in moto_bucket.blob_keys()
    done = subprocess.run([sys.executable, "-m", "artreg", "--registry", str(path), "--json", "blobs"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert moto_bucket.url() in done.stdout


# -- writing --------------------------------------------------------------------------------------


def test_content_already_in_the_bucket_is_not_sent_again(
    bucket: Bucket, tmp_path: Path, small_parts: int, monkeypatch: pytest.MonkeyPatch,
) -> None:
    medium, large = os.urandom(BIG), os.urandom(small_parts * 2 + 12345)
    with artreg.open(tmp_path / "first", inline_limit=1024, blobs=bucket.url()) as first:
        first.log_artifact(make(medium=medium, large=large), project="p")
    sent: list[str] = []
    real_put, real_part = _s3_store.S3Files._put, _s3_store.S3Files._part

    def put(self: _s3_store.S3Files, digest: str, fd: int) -> bool:
        answered = real_put(self, digest, fd)
        sent.append(f"put {answered}")
        return answered

    def part(self: _s3_store.S3Files, *args: object) -> object:
        sent.append("part")
        return real_part(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(_s3_store.S3Files, "_put", put)
    monkeypatch.setattr(_s3_store.S3Files, "_part", part)
    # Another catalog on the same prefix logs the same bytes: its catalog has no row for them.
    with artreg.open(tmp_path / "second", inline_limit=1024, blobs=bucket.url()) as second:
        v = second.log_artifact(make(medium=medium, large=large), project="p")
        # The medium blob: one conditional PUT, answered 412 (False); the large one: a HEAD, no parts.
        assert sent == ["put False"]
        second.prune_cache(0)
        v.verify()
        # Within one catalog the row is the proof: no request at all.
        second.log_artifact(make("again", medium=medium, large=large), project="p")
        assert sent == ["put False"]
    assert sorted(bucket.blob_keys()) == sorted([blob_key("team", medium), blob_key("team", large)])


def test_a_large_blob_goes_up_in_parts_each_checked_by_its_sha256(seaweed_bucket: Bucket, tmp_path: Path, small_parts: int) -> None:
    large = os.urandom(small_parts * 3 + 777)
    with artreg.open(tmp_path / "reg", inline_limit=1024, blobs=seaweed_bucket.url()) as reg:
        assert reg.log_artifact(make(large=large), project="p").get_entry("large").digest == sha(large)
    head = seaweed_bucket.client.head_object(Bucket=seaweed_bucket.name, Key=blob_key("team", large), ChecksumMode="ENABLED")
    assert head["ContentLength"] == len(large)
    parts = [hashlib.sha256(large[i:i + small_parts]).digest() for i in range(0, len(large), small_parts)]
    composite = __import__("base64").b64encode(hashlib.sha256(b"".join(parts)).digest()).decode()
    assert head["ChecksumSHA256"].split("-")[0] == composite  # the server holds the part checksums we sent
    assert seaweed_bucket.client.list_multipart_uploads(Bucket=seaweed_bucket.name).get("Uploads", []) == []


@pytest.mark.parametrize("size", [BIG, "multipart"])
def test_bytes_changed_after_hashing_are_rejected_by_the_server_and_nothing_is_committed(
    seaweed_bucket: Bucket, tmp_path: Path, small_parts: int, size: int | str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = os.urandom(BIG if size == BIG else small_parts * 2 + 99)
    real_cover = _s3_store.Claims.cover

    def corrupt_then_cover(self: _s3_store.Claims, digests: list[str]) -> None:
        # Between the hash and the upload, a bit flips in the cached copy the upload reads.
        for digest in digests:
            path = self._files.cache.path(digest)
            os.chmod(path, 0o644)
            with open(path, "r+b") as handle:
                handle.seek(len(data) // 3)
                byte = handle.read(1)
                handle.seek(len(data) // 3)
                handle.write(bytes([byte[0] ^ 1]))
        real_cover(self, digests)

    monkeypatch.setattr(_s3_store.Claims, "cover", corrupt_then_cover)
    with artreg.open(tmp_path / "reg", inline_limit=1024, blobs=seaweed_bucket.url()) as reg:
        with pytest.raises(artreg.IntegrityError, match="other bytes than were hashed"):
            reg.log_artifact(make(data=data), project="p")
        assert reg.collections() == []
    assert seaweed_bucket.blob_keys() == []


# -- reading --------------------------------------------------------------------------------------


@pytest.mark.parametrize("link", ["copy", "hardlink", "symlink", "auto"])
def test_downloads_fetch_into_the_cache_verified_then_link_or_copy(bucket: Bucket, tmp_path: Path, link: str) -> None:
    data = os.urandom(BIG)
    with artreg.open(tmp_path / "writer", inline_limit=1024, blobs=bucket.url()) as writer:
        writer.log_artifact(make(data=data, small=b"s"), project="p")
    # Another machine: its own catalog file is a copy, its cache is empty.
    reader_path = tmp_path / "reader"
    reader_path.mkdir()
    (reader_path / "registry.db").write_bytes((tmp_path / "writer" / "registry.db").read_bytes())
    with artreg.open(reader_path, inline_limit=1024) as reg:
        assert cached(reg) == []
        root = Path(reg.artifact("p/ds").download(tmp_path / "out", link=link))
        assert (root / "data").read_bytes() == data and (root / "small").read_bytes() == b"s"
        assert cached(reg) == [sha(data)]
        if link in ("hardlink", "symlink"):
            assert not os.access(root / "data", os.W_OK) or os.geteuid() == 0
            assert stat.S_IMODE(os.stat(root / "data").st_mode) & 0o222 == 0
        if link == "symlink":
            assert os.path.realpath(root / "data") == str(reg._store.object_path(sha(data)))


def test_open_streams_from_the_bucket_without_filling_the_cache_and_can_seek(moto_bucket: Bucket, tmp_path: Path) -> None:
    data = os.urandom(BIG)
    with artreg.open(tmp_path / "reg", inline_limit=1024, blobs=moto_bucket.url()) as reg:
        v = reg.log_artifact(make(data=data), project="p")
        reg.prune_cache(0)
        with v.open("data") as reader:
            assert reader.read() == data
            reader.seek(1000)
            assert reader.read(10) == data[1000:1010]
        assert cached(reg) == []


def test_a_tampered_object_is_refused_on_download_and_nothing_appears(moto_bucket: Bucket, tmp_path: Path) -> None:
    data = os.urandom(BIG)
    with artreg.open(tmp_path / "reg", inline_limit=1024, blobs=moto_bucket.url()) as reg:
        v = reg.log_artifact(make(data=data), project="p")
        reg.prune_cache(0)
        evil = bytearray(data)
        evil[12345] ^= 0xFF
        moto_bucket.client.put_object(Bucket=moto_bucket.name, Key=blob_key("team", data), Body=bytes(evil))
        with pytest.raises(artreg.IntegrityError, match="corrupt") as caught:
            v.download(tmp_path / "out")
        assert caught.value.mismatched == ["data"]
        assert not (tmp_path / "out" / "data").exists()
        assert list((tmp_path / "out").iterdir()) == []
        assert cached(reg) == [] and list((reg.objects / "tmp").iterdir()) == []  # type: ignore[operator]
        with pytest.raises(artreg.IntegrityError):
            v.verify()


def test_the_cache_bound_is_honoured_least_recently_used_first(moto_bucket: Bucket, tmp_path: Path) -> None:
    blobs = [os.urandom(100_000) for _ in range(6)]
    with artreg.open(tmp_path / "reg", inline_limit=1024, blobs=moto_bucket.url(), cache_size=250_000) as reg:
        versions = [reg.log_artifact(make(f"d{i}", data=b), project="p") for i, b in enumerate(blobs)]
        assert reg.cache_usage().bytes <= 250_000
        for i, v in enumerate(versions):
            v.download(tmp_path / f"out{i}")
            usage = reg.cache_usage()
            assert usage.bytes <= 250_000 and usage.limit == 250_000
        # the last two used are the ones kept
        assert cached(reg) == sorted([sha(blobs[4]), sha(blobs[5])])
        versions[4].download(tmp_path / "again4", link="hardlink")  # used again: now the newest
        versions[0].download(tmp_path / "again0")
        assert cached(reg) == sorted([sha(blobs[4]), sha(blobs[0])])
    with artreg.open(tmp_path / "reg") as reg:  # the bound is the cache folder's: remembered
        assert reg.cache_usage().limit == 250_000
        pruned = reg.prune_cache("100KB")
        assert pruned.bytes <= 100_000 and pruned.removed_files == 1
        assert reg.prune_cache(0).files == 0
        for i, v in enumerate(reg.artifacts("p", f"d{i}")[0] for i in range(6)):
            assert Path(v.download(tmp_path / f"final{i}")).joinpath("data").read_bytes() == blobs[i]


def test_cache_size_needs_a_bucket_and_a_sane_value(tmp_path: Path, moto_bucket: Bucket) -> None:
    with pytest.raises(artreg.InvalidName, match="objects/"):
        artreg.open(tmp_path / "local", cache_size="1GB")
    for bad in ("lots", -1, "1.5 XB", True):
        with pytest.raises(artreg.InvalidName):
            artreg.open(tmp_path / "reg", blobs=moto_bucket.url(), cache_size=bad)  # type: ignore[arg-type]
    with artreg.open(tmp_path / "plain") as reg, pytest.raises(artreg.InvalidName, match="not a cache"):
        reg.cache_usage()


# -- moving an existing registry ---------------------------------------------------------------------


def test_blobs_move_sends_every_blob_file_then_switches(moto_bucket: Bucket, tmp_path: Path) -> None:
    path = tmp_path / "reg"
    contents = [os.urandom(5000 + i) for i in range(5)]
    with artreg.open(path, inline_limit=1024) as reg:
        for i, data in enumerate(contents):
            reg.log_artifact(make(f"d{i}", data=data, small=b"x"), project="p")
        report = reg.move_blobs(moto_bucket.url())
        assert (report.blobs, report.uploaded, report.present, report.bytes, report.owner) == (5, 5, 0, sum(map(len, contents)), True)
        assert reg.blobs == moto_bucket.url()
        with pytest.raises(artreg.AlreadyExists):
            reg.move_blobs(moto_bucket.url())
        reg.prune_cache(0)
    assert sorted(moto_bucket.blob_keys()) == sorted(blob_key("team", c) for c in contents)
    with artreg.open(path, inline_limit=1024) as reg:
        for i, data in enumerate(contents):
            root = Path(reg.artifact(f"p/d{i}").download(tmp_path / f"out{i}"))
            assert (root / "data").read_bytes() == data
        assert reg.check().ok


def test_blobs_move_refuses_a_corrupt_blob_file_and_changes_nothing(moto_bucket: Bucket, tmp_path: Path) -> None:
    with artreg.open(tmp_path / "reg", inline_limit=1024) as reg:
        v = reg.log_artifact(make(data=os.urandom(5000)), project="p")
        path = reg._store.object_path(v.get_entry("data").digest)
        os.chmod(path, 0o644)
        path.write_bytes(b"x" * 5000)
        with pytest.raises(artreg.IntegrityError, match="nothing was moved"):
            reg.move_blobs(moto_bucket.url())
        assert reg.blobs is None


def test_a_process_that_opened_the_registry_before_the_move_refuses_to_log(moto_bucket: Bucket, tmp_path: Path) -> None:
    path = tmp_path / "reg"
    artreg.open(path, inline_limit=1024).close()
    script = textwrap.dedent(f"""
        import os, sys, artreg
        reg = artreg.open({str(path)!r}, inline_limit=1024)
        print("open", flush=True)
        sys.stdin.readline()
        art = artreg.Artifact("late", "dataset")
        with art.new_file("f", mode="wb") as f:
            f.write(os.urandom(5000))
        try:
            reg.log_artifact(art, project="p")
            print("logged")
        except artreg.ArtregError as exc:
            print("refused:", exc)
    """)
    child = subprocess.Popen([sys.executable, "-c", script], env=child_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdin is not None
    assert child.stdout.readline() == "open\n"
    with artreg.open(path, inline_limit=1024) as reg:
        reg.move_blobs(moto_bucket.url())
    out, _ = child.communicate("go\n", timeout=120)
    assert out.startswith("refused:") and "open it again" in out
    with artreg.open(path) as reg:
        assert reg.collections() == []


def test_a_cached_copy_written_before_a_reboot_is_checked_before_it_is_trusted(
    moto_bucket: Bucket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from artreg.storage import _blob_cache

    data = os.urandom(BIG)
    with artreg.open(tmp_path / "reg", inline_limit=1024, blobs=moto_bucket.url()) as reg:
        v = reg.log_artifact(make(data=data), project="p")  # cached without an fsync, under this boot id
        copy = reg._store.object_path(sha(data))
        os.chmod(copy, 0o644)
        copy.write_bytes(b"\0" * BIG)  # what a power cut may leave of a file never fsynced
        monkeypatch.setattr(_blob_cache, "BOOT", "another-boot")  # the machine came back up
        root = Path(v.download(tmp_path / "out", link="hardlink"))
        assert (root / "data").read_bytes() == data  # the bad copy was dropped and fetched again
        assert copy.read_bytes() == data


def test_a_forked_child_uploads_through_its_own_connections_and_threads(moto_bucket: Bucket, tmp_path: Path) -> None:
    parent_data, child_data = os.urandom(BIG), os.urandom(BIG)
    with artreg.open(tmp_path / "reg", inline_limit=1024, blobs=moto_bucket.url()) as reg:
        reg.log_artifact(make("parent", data=parent_data), project="p")  # the client and upload threads exist now
        pid = os.fork()
        if pid == 0:  # the child: the parent's threads are gone and its sockets are not the child's to use
            code = 1
            try:
                reg.log_artifact(make("child", data=child_data), project="p")
                code = 0
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        reg.prune_cache(0)
        assert Path(reg.artifact("p/child").download(tmp_path / "out")).joinpath("data").read_bytes() == child_data
        reg.log_artifact(make("after", data=os.urandom(BIG)), project="p")  # the parent's own still work


def test_the_cli_moves_blobs_looks_after_the_cache_and_sweeps(
    moto_bucket: Bucket, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    import json

    from artreg import cli

    path = str(tmp_path / "reg")
    with artreg.open(path, inline_limit=1024) as reg:
        reg.log_artifact(make(data=os.urandom(5000), small=b"s"), project="p").delete(delete_aliases=True)
        reg.log_artifact(make("kept", data=os.urandom(6000)), project="p")

    def run(*argv: str) -> dict[str, object]:
        capsys.readouterr()
        assert cli.main(["--registry", path, "--json", *argv]) == 0
        return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]

    moved = run("blobs", "move", moto_bucket.url())
    assert moved["blobs"] == moto_bucket.url() and moved["owned"] is True
    assert moved["moved"] == {"url": moto_bucket.url(), "blobs": 2, "uploaded": 2, "present": 0, "bytes": 11000, "owner": True}
    assert run("cache", "du")["files"] == 2
    pruned = run("cache", "prune", "--size", "0")
    assert (pruned["files"], pruned["removed_files"], pruned["removed_bytes"]) == (0, 2, 11000)
    swept = run("gc", "--grace", "0")
    assert (swept["blobs"], swept["remote_objects"], swept["notes"]) == (2, 1, [])  # the file blob and the inline one
    assert len(moto_bucket.blob_keys()) == 1
    assert cli.main(["--registry", path, "blobs", "move"]) == 4  # InvalidName: no URL
    assert "needs the URL" in capsys.readouterr().err
    assert cli.main(["--registry", path, "gc", "--grace", "soon"]) == 2  # a usage error
    assert "not a duration: 'soon'" in capsys.readouterr().err
    assert cli.main(["--registry", path, "cache", "prune"]) == 4  # no bound set, no --size


@pytest.mark.parametrize("damage", ["none", "flipped", "longer", "shorter"])
def test_a_large_blob_is_checked_whole_on_download(
    bucket: Bucket, tmp_path: Path, small_parts: int, damage: str,
) -> None:
    data = os.urandom(small_parts * 2 + 4321)
    with artreg.open(tmp_path / "reg", inline_limit=1024, blobs=bucket.url()) as reg:
        v = reg.log_artifact(make(data=data), project="p")
        reg.prune_cache(0)
        bad = {"none": data, "flipped": data[:7_000_000] + bytes([data[7_000_000] ^ 1]) + data[7_000_001:],
               "longer": data + b"tail", "shorter": data[:-1]}[damage]
        if damage != "none":
            bucket.client.put_object(Bucket=bucket.name, Key=blob_key("team", data), Body=bad)
            with pytest.raises(artreg.IntegrityError, match="corrupt"):
                v.download(tmp_path / "out")
            assert not (tmp_path / "out" / "data").exists() and cached(reg) == []
            return
        root = Path(v.download(tmp_path / "out"))
        assert (root / "data").read_bytes() == data and cached(reg) == [sha(data)]


def test_path_and_snapshot_fetch_a_bucket_blob_into_the_cache_checked(moto_bucket: Bucket, tmp_path: Path) -> None:
    """SPEC §20 over §17: path() of a blob kept in a bucket is its cached copy, fetched (and checked) when evicted."""
    data = os.urandom(9000)
    with artreg.open(tmp_path / "reg", inline_limit=1024, blobs=moto_bucket.url()) as reg:
        v = reg.log_artifact(make(data__big_bin=data), project="p")
        assert reg.prune_cache(0).removed_files == 1  # nothing of the blob is local any more
        path = v.path("data/big_bin")
        assert Path(path).read_bytes() == data and os.stat(path).st_mode & 0o222 == 0  # read-only
        root = Path(reg.snapshot("p/ds"))
        assert (root / "data" / "big_bin").read_bytes() == data
        digest = sha(data)
        moto_bucket.client.put_object(Bucket=moto_bucket.name, Key=f"team/blobs/sha256/{digest[:2]}/{digest[2:]}", Body=os.urandom(9000))
        reg.prune_cache(0)
        with pytest.raises(artreg.IntegrityError):
            v.path("data/big_bin")  # the bucket's object was replaced: refused, nothing cached
        assert not reg._store.object_path(sha(data)).exists()


def test_a_distributed_version_over_a_bucket_is_uploaded_before_it_is_committed(moto_bucket: Bucket, tmp_path: Path) -> None:
    """SPEC §15.1 with §17: upsert_artifact() waits for its parts' uploads before the commit
    that names them (it used to reach the commit with the uploads under way)."""
    import artreg.wandb as wandb

    parts = {"parts/a.bin": os.urandom(5000), "parts/b.bin": os.urandom(7000)}
    with artreg.open(tmp_path / "reg", inline_limit=1024, blobs=moto_bucket.url("team")) as reg:
        wandb.use_registry(reg)
        with wandb.init(project="p") as run:
            for path, data in parts.items():
                artifact = wandb.Artifact("parallel", type="dataset")
                with artifact.new_file(path, mode="wb") as f:
                    f.write(data)
                run.upsert_artifact(artifact, distributed_id="d")
            run.finish_artifact(wandb.Artifact("parallel", type="dataset"), distributed_id="d")
        version = reg.artifact("p/parallel:latest")
        assert sorted(e.path for e in version.files()) == sorted(parts)
        for path, data in parts.items():
            assert moto_bucket.client.get_object(Bucket=moto_bucket.name, Key=blob_key("team", data))["Body"].read() == data
            with version.open(path) as f:
                assert f.read() == data
        assert reg.check().ok
