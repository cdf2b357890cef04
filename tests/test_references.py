"""SPEC §10: references to external data over file://, http(s):// and s3://.

HTTP tests run against a ``http.server`` the test starts on 127.0.0.1; S3 tests against
moto's S3 server (``ThreadedMotoServer``) on 127.0.0.1, reached through boto3 with dummy
credentials and ``AWS_ENDPOINT_URL_S3``.
"""

from __future__ import annotations

import hashlib
import http.server
import os
import sys
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import artreg
from artreg import references
from artreg.references import _s3 as s3_references
from conftest import past_racy_window, serve
from s3servers import point_at


def sha(data: bytes | str) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


def spec_digest(pairs: dict[str, str]) -> str:
    text = "artreg-manifest-v1\n" + "".join(f"{p}:{d}\n" for p, d in sorted(pairs.items()))
    return sha(text)


def file_uri(path: Path) -> str:
    return "file://" + urllib.parse.quote(str(path))


def tree(root: str | Path) -> dict[str, bytes]:
    base = Path(root)
    return {p.relative_to(base).as_posix(): p.read_bytes() for p in sorted(base.rglob("*")) if p.is_file()}


# -- servers -----------------------------------------------------------------------------


@dataclass
class Route:
    body: bytes
    etag: str | None = None
    delay: float = 0.0


@dataclass
class Web:
    """A local HTTP server: ``routes`` maps a URL path to what it serves; ``hits`` counts requests."""

    base: str
    routes: dict[str, Route] = field(default_factory=dict)
    hits: int = 0

    def url(self, path: str) -> str:
        return self.base + path


@pytest.fixture
def web() -> Iterator[Web]:
    state = Web("")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            state.hits += 1
            route = state.routes.get(self.path)
            try:
                if route is None:
                    self.send_error(404)
                    return
                time.sleep(route.delay)
                self.send_response(200)
                if route.etag is not None:
                    self.send_header("ETag", route.etag)
                self.send_header("Content-Length", str(len(route.body)))
                self.end_headers()
                self.wfile.write(route.body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test) or needed only the headers

        def log_message(self, format: str, *args: Any) -> None:
            pass

    with serve(Handler) as base:
        state.base = base
        yield state


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    try:
        import boto3  # noqa: F401
        from moto.server import ThreadedMotoServer
    except ImportError as exc:
        pytest.skip(f"s3:// tests need boto3 and moto[server] (pip install -e '.[test]'): {exc}")

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@dataclass
class S3:
    client: Any
    bucket: str

    def put(self, key: str, body: bytes) -> str:
        """Write an object; returns its version id (None-ish 'null' when unversioned)."""
        return str(self.client.put_object(Bucket=self.bucket, Key=key, Body=body).get("VersionId"))


_buckets = iter(range(10**6))


@pytest.fixture
def s3(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> S3:
    """A fresh unversioned bucket on the local moto server, with dummy credentials in the environment."""
    import boto3

    point_at(monkeypatch, moto_endpoint, tmp_path)
    client = boto3.session.Session().client("s3")
    bucket = f"bucket-{next(_buckets)}"
    client.create_bucket(Bucket=bucket)
    return S3(client, bucket)


def versioned(s3: S3) -> S3:
    s3.client.put_bucket_versioning(Bucket=s3.bucket, VersioningConfiguration={"Status": "Enabled"})
    return s3


# -- 1. file:// --------------------------------------------------------------------------


def test_file_folder_with_checksum_is_a_manifest_of_sha256_digests(reg: artreg.Registry, src: Path) -> None:
    art = artreg.Artifact("raw", type="dataset")
    added = art.add_reference(file_uri(src), name="raw")
    assert sorted(e.path for e in added) == ["raw/a.txt", "raw/big.bin", "raw/sub/b.txt"]
    assert art.entries["raw/a.txt"].ref == file_uri(src / "a.txt")
    v = reg.log_artifact(art, project="p")
    files = {e.path: e for e in v.files()}
    contents = {f"raw/{k}": data for k, data in tree(src).items()}
    assert {p: e.digest for p, e in files.items()} == {p: sha(d) for p, d in contents.items()}
    assert files["raw/sub/b.txt"].ref == file_uri(src / "sub" / "b.txt")
    assert files["raw/sub/b.txt"].extra == {"checksum": "sha256"}
    assert (v.size, v.file_count) == (sum(map(len, contents.values())), 3)
    assert list(reg.objects.rglob("??/*")) == []  # type: ignore[union-attr]  # nothing was stored
    with reg._db.read() as con:
        assert con.execute("SELECT count(*) FROM blobs").fetchone() == (0,)
    # The version digest is SPEC §2 exactly: the same paths and bytes stored give the same digest.
    stored = artreg.Artifact("copy", type="dataset")
    stored.add_dir(src, name="raw")
    assert reg.log_artifact(stored, project="p").digest == v.digest == spec_digest({p: sha(d) for p, d in contents.items()})


def test_file_reference_dedups_then_versions_then_downloads_checked(reg: artreg.Registry, src: Path, tmp_path: Path) -> None:
    def log() -> artreg.ArtifactVersion:
        art = artreg.Artifact("raw", type="dataset")
        art.add_reference(file_uri(src))
        return reg.log_artifact(art, project="p")

    v0 = log()
    assert log() == v0
    (src / "a.txt").write_text("ALPHA!")
    v1 = log()
    assert v1.version == "v1" and v1.get_entry("a.txt").digest == sha("ALPHA!")
    assert tree(v1.download(tmp_path / "d1")) == tree(src)
    v1.verify(tmp_path / "d1")
    v1.verify()
    assert v1.open("sub/b.txt").read() == b"bravo"
    with pytest.raises(artreg.IntegrityError) as info:  # v0 recorded "alpha": the source changed
        v0.download(tmp_path / "d0")
    assert "a.txt" in str(info.value) and info.value.mismatched == ["a.txt"]
    assert not (tmp_path / "d0" / "a.txt").exists()
    assert not [p for p in (tmp_path / "d0").rglob("*") if ".artreg-" in p.name]
    with pytest.raises(artreg.IntegrityError) as info:
        v0.verify()
    assert info.value.mismatched == ["a.txt"]


def test_missing_file_source_raises_or_is_skipped_with_a_warning(reg: artreg.Registry, src: Path, tmp_path: Path) -> None:
    art = artreg.Artifact("raw", type="dataset")
    art.add_reference(file_uri(src))
    v = reg.log_artifact(art, project="p")
    (src / "sub" / "b.txt").unlink()
    with pytest.raises(artreg.NotFound, match="b.txt"):
        v.download(tmp_path / "x")
    with pytest.warns(UserWarning, match=r"skipped missing reference 'sub/b\.txt'"):
        root = v.download(tmp_path / "y", allow_missing_references=True)
    assert sorted(tree(root)) == ["a.txt", "big.bin"]
    with pytest.raises(artreg.IntegrityError) as info:
        v.verify()
    assert info.value.missing == ["sub/b.txt"]


def test_file_reference_without_checksum_records_locations(reg: artreg.Registry, src: Path, tmp_path: Path) -> None:
    art = artreg.Artifact("loc", type="dataset")
    art.add_reference(file_uri(src), checksum=False)
    v = reg.log_artifact(art, project="p")
    entry = v.get_entry("a.txt")
    assert (entry.digest, entry.extra) == (sha(file_uri(src / "a.txt")), {"checksum": "none"})
    assert v.file_count == 3
    (src / "a.txt").write_text("changed, same place")
    again = artreg.Artifact("loc", type="dataset")
    again.add_reference(file_uri(src), checksum=False)
    assert reg.log_artifact(again, project="p") == v  # dedup by URI
    assert tree(v.download(tmp_path / "x"))["a.txt"] == b"changed, same place"  # not checked
    v.verify()


def test_single_file_reference_names_and_the_stat_cache(reg: artreg.Registry, src: Path) -> None:
    for path in (src / "a.txt", src / "big.bin"):
        os.utime(path, ns=(path.stat().st_atime_ns, time.time_ns() - 10**10))
    past_racy_window()  # not racily new: utime set the ctimes to now
    art = artreg.Artifact("one", type="dataset")
    assert [e.path for e in art.add_reference(file_uri(src / "a.txt"))] == ["a.txt"]
    assert [e.path for e in art.add_reference(file_uri(src / "big.bin"), name="data/blob")] == ["data/blob"]
    v = reg.log_artifact(art, project="p")
    with reg._db.read() as con:  # hashed while logging, so cached like stored files
        assert con.execute("SELECT count(*) FROM stat_cache").fetchone() == (2,)
    same = artreg.Artifact("one", type="dataset")
    same.add_reference("file://localhost" + str(src / "a.txt"))
    assert same.add_reference(file_uri(src / "a.txt"))[0] is same.entries["a.txt"]  # the same entry: a no-op
    same.add_reference(file_uri(src / "big.bin"), name="data/blob")
    assert reg.log_artifact(same, project="p") == v
    assert same.entries["a.txt"].known_digest is not None and same.entries["data/blob"].known_digest is None  # from the cache
    # A reference and stored bytes at one path are different entries.
    with pytest.raises(artreg.AlreadyExists):
        art2 = v.new_draft()
        art2.add_file(src / "a.txt")
    # new_draft keeps references as references.
    nxt = v.new_draft()
    assert nxt.entries["a.txt"].ref == file_uri(src / "a.txt")
    assert reg.log_artifact(nxt, project="p") == v


# -- 2. http(s):// -----------------------------------------------------------------------


def test_http_etag_is_recorded_without_reading_the_body(reg: artreg.Registry, web: Web, tmp_path: Path) -> None:
    web.routes["/data/zoo.csv"] = Route(b"a,b\n1,2\n", etag='"v1"')
    art = artreg.Artifact("zoo", type="dataset")
    (entry,) = art.add_reference(web.url("/data/zoo.csv"))
    assert (entry.path, entry.size, entry.digest) == ("zoo.csv", 8, references.etag_digest('"v1"'))
    v = reg.log_artifact(art, project="p")
    assert v.get_entry("zoo.csv").extra == {"checksum": "etag", "etag": '"v1"'}
    assert tree(v.download(tmp_path / "x")) == {"zoo.csv": b"a,b\n1,2\n"}
    v.verify()
    v.verify(tmp_path / "x")
    web.routes["/data/zoo.csv"] = Route(b"a,b\n3,4\n", etag='"v2"')
    with pytest.raises(artreg.IntegrityError, match=r"ETag '\"v2\"'"):
        v.download(tmp_path / "y")
    assert not (tmp_path / "y" / "zoo.csv").exists()
    with pytest.raises(artreg.IntegrityError) as info:
        v.verify()
    assert info.value.mismatched == ["zoo.csv"]


def test_http_without_etag_records_the_sha256_of_the_body(reg: artreg.Registry, web: Web, tmp_path: Path) -> None:
    web.routes["/m.bin"] = Route(b"weights" * 1000)
    art = artreg.Artifact("m", type="model")
    art.add_reference(web.url("/m.bin"), name="model.bin")
    v = reg.log_artifact(art, project="p")
    entry = v.get_entry("model.bin")
    assert (entry.digest, entry.size, entry.extra) == (sha(b"weights" * 1000), 7000, {"checksum": "sha256"})
    assert v.open("model.bin").read() == b"weights" * 1000
    web.routes["/m.bin"] = Route(b"WEIGHTS" * 1000)
    with pytest.raises(artreg.IntegrityError, match="sha256"):
        v.download(tmp_path / "x")
    assert not [p for p in (tmp_path / "x").rglob("*") if p.is_file()]


def test_http_404_and_allow_missing(reg: artreg.Registry, web: Web, tmp_path: Path) -> None:
    art = artreg.Artifact("w", type="dataset")
    with pytest.raises(artreg.NotFound, match="HTTP 404"):
        art.add_reference(web.url("/nope.txt"))
    assert dict(art.entries) == {}
    web.routes["/f.txt"] = Route(b"f", etag='"1"')
    web.routes["/g.txt"] = Route(b"g")
    art.add_reference(web.url("/f.txt"))
    art.add_reference(web.url("/g.txt"))
    v = reg.log_artifact(art, project="p")
    del web.routes["/f.txt"]
    with pytest.raises(artreg.NotFound, match="f.txt"):
        v.download(tmp_path / "x")
    with pytest.warns(UserWarning, match="f.txt"):
        root = v.download(tmp_path / "y", allow_missing_references=True)
    assert tree(root) == {"g.txt": b"g"}


def test_http_slow_server_times_out_within_the_configured_bound(web: Web, monkeypatch: pytest.MonkeyPatch) -> None:
    web.routes["/slow"] = Route(b"late", delay=3.0)
    monkeypatch.setenv("ARTREG_REFERENCE_TIMEOUT", "0.2")
    art = artreg.Artifact("w", type="dataset")
    started = time.monotonic()
    with pytest.raises(artreg.SourceError, match=r"no answer within 0\.2 s"):
        art.add_reference(web.url("/slow"))
    assert time.monotonic() - started < 2.0
    assert dict(art.entries) == {}
    monkeypatch.setenv("ARTREG_REFERENCE_TIMEOUT", "soon")
    with pytest.raises(artreg.InvalidName, match="ARTREG_REFERENCE_TIMEOUT"):
        art.add_reference(web.url("/slow"))


def test_http_without_checksum_makes_no_request(reg: artreg.Registry, web: Web, tmp_path: Path) -> None:
    art = artreg.Artifact("w", type="dataset")
    (entry,) = art.add_reference(web.url("/later.txt"), checksum=False)
    assert web.hits == 0
    assert (entry.digest, entry.size) == (sha(web.url("/later.txt")), 0)
    v = reg.log_artifact(art, project="p")
    web.routes["/later.txt"] = Route(b"now here")
    assert tree(v.download(tmp_path / "x")) == {"later.txt": b"now here"}


# -- 3. s3:// ----------------------------------------------------------------------------


def test_s3_prefix_is_listed_page_by_page(reg: artreg.Registry, s3: S3, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(s3_references, "S3_PAGE_SIZE", 2)
    bodies = {f"k{i}.txt": f"object {i}".encode() for i in range(7)}
    for key, body in bodies.items():
        s3.put(f"data/{key}", body)
    s3.put("data/", b"")  # a console's folder marker is not data
    s3.put("data2/other", b"not under data/")
    art = artreg.Artifact("s3data", type="dataset")
    art.add_reference(f"s3://{s3.bucket}/data")
    assert sorted(art.entries) == sorted(bodies)
    v = reg.log_artifact(art, project="p")
    entry = v.get_entry("k3.txt")
    assert entry.ref == f"s3://{s3.bucket}/data/k3.txt"
    assert entry.extra == {"checksum": "etag", "etag": f'"{hashlib.md5(b"object 3").hexdigest()}"'}  # noqa: S324
    assert tree(v.download(tmp_path / "x")) == bodies
    v.verify()
    with pytest.raises(artreg.InvalidName, match="max_objects=6"):
        artreg.Artifact("s3data", type="dataset").add_reference(f"s3://{s3.bucket}/data/", max_objects=6)


def test_s3_unversioned_change_is_refused_and_missing_is_skipped(reg: artreg.Registry, s3: S3, tmp_path: Path) -> None:
    s3.put("d/a", b"alpha")
    s3.put("d/b", b"bravo")
    art = artreg.Artifact("s3data", type="dataset")
    art.add_reference(f"s3://{s3.bucket}/d/")
    v = reg.log_artifact(art, project="p")
    s3.put("d/a", b"ALPHA")
    with pytest.raises(artreg.IntegrityError, match="changed"):
        v.download(tmp_path / "x")
    with pytest.raises(artreg.IntegrityError) as info:
        v.verify()
    assert info.value.mismatched == ["a"]
    s3.client.delete_object(Bucket=s3.bucket, Key="d/b")
    with pytest.raises(artreg.NotFound):
        v.download(tmp_path / "y", path_prefix="b")
    with pytest.warns(UserWarning, match="'b'"):
        v.download(tmp_path / "y", path_prefix="b", allow_missing_references=True)


def test_s3_versions_are_recorded_and_pinned(reg: artreg.Registry, s3: S3, tmp_path: Path) -> None:
    versioned(s3)
    old = s3.put("m/weights.bin", b"old weights")
    art = artreg.Artifact("m", type="model")
    art.add_reference(f"s3://{s3.bucket}/m/weights.bin")
    v0 = reg.log_artifact(art, project="p")
    assert v0.get_entry("weights.bin").extra["version_id"] == old
    new = s3.put("m/weights.bin", b"new weights")
    art = artreg.Artifact("m", type="model")
    art.add_reference(f"s3://{s3.bucket}/m/weights.bin")
    v1 = reg.log_artifact(art, project="p")
    assert v1.version == "v1" and v1.get_entry("weights.bin").extra["version_id"] == new
    assert tree(v0.download(tmp_path / "x")) == {"weights.bin": b"old weights"}  # the pinned version
    v0.verify()
    pinned = artreg.Artifact("m", type="model")
    pinned.add_reference(f"s3://{s3.bucket}/m/weights.bin?versionId={old}")
    v2 = reg.log_artifact(pinned, project="p")
    assert (v2.version, v2.digest) == ("v2", v0.digest)  # the same object version as v0
    assert v2.open("weights.bin").read() == b"old weights"
    with pytest.raises(artreg.NotFound):
        artreg.Artifact("m", type="model").add_reference(f"s3://{s3.bucket}/m/weights.bin?versionId=nope")
    s3.client.delete_object(Bucket=s3.bucket, Key="m/weights.bin", VersionId=old)
    with pytest.raises(artreg.NotFound):
        v0.download(tmp_path / "y")


def test_s3_missing_objects_and_endpoint_from_the_environment(s3: S3, monkeypatch: pytest.MonkeyPatch) -> None:
    art = artreg.Artifact("s", type="dataset")
    with pytest.raises(artreg.NotFound, match="no S3 object"):
        art.add_reference(f"s3://{s3.bucket}/nothing/here")
    with pytest.raises(artreg.NotFound):
        art.add_reference("s3://no-such-bucket-here/x")
    s3.put("x", b"x")
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3")
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3.client.meta.endpoint_url)  # the generic variable works too
    assert [e.path for e in art.add_reference(f"s3://{s3.bucket}/x", checksum=False)] == ["x"]


def test_s3_without_boto3_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "boto3", None)
    art = artreg.Artifact("s", type="dataset")
    with pytest.raises(artreg.MissingExtra, match=r"pip install 'artreg\[s3\]'"):
        art.add_reference("s3://bucket/key")
    assert dict(art.entries) == {}


# -- 4. max_objects ----------------------------------------------------------------------


def test_max_objects_refuses_whole_references_for_every_scheme(src: Path, web: Web) -> None:
    art = artreg.Artifact("m", type="dataset")
    with pytest.raises(artreg.InvalidName, match="max_objects=2"):
        art.add_reference(file_uri(src), max_objects=2)
    assert dict(art.entries) == {}
    assert len(art.add_reference(file_uri(src), max_objects=3)) == 3
    for bad in (0, -1, 1.5, True, "10"):
        with pytest.raises(artreg.InvalidName, match="max_objects"):
            art.add_reference(web.url("/x"), max_objects=bad)  # type: ignore[arg-type]
    assert web.hits == 0
    assert references.DEFAULT_MAX_OBJECTS == 10_000_000


# -- 6. bad input ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("data/raw", "no scheme"),
        ("/abs/path", "no scheme"),
        ("ftp://host/file", "unknown reference scheme 'ftp'"),
        ("gs://bucket/key", "unknown reference scheme 'gs'"),
        ("s3://", "no bucket"),
        ("s3:///key", "no bucket"),
        ("s3://bad bucket/key", "bucket name"),
        ("s3://bucket/key?acl=1", "versionId"),
        ("s3://bucket/prefix/?versionId=3", "names a prefix"),
        ("file://otherhost/data", "host 'otherhost'"),
        ("file://", "no path"),
        ("http:///path", "no host"),
    ],
)
def test_bad_uris_are_refused_and_add_nothing(uri: str, message: str) -> None:
    art = artreg.Artifact("bad", type="dataset")
    with pytest.raises(artreg.InvalidName, match=message):
        art.add_reference(uri)
    assert dict(art.entries) == {}


def test_other_bad_arguments(src: Path) -> None:
    art = artreg.Artifact("bad", type="dataset")
    with pytest.raises(artreg.InvalidName, match="string"):
        art.add_reference(src)  # type: ignore[arg-type]
    with pytest.raises(artreg.InvalidName, match="checksum"):
        art.add_reference(file_uri(src), checksum="yes")  # type: ignore[arg-type]
    with pytest.raises(artreg.InvalidName, match=r"'\.\.'"):
        art.add_reference(file_uri(src), name="../out")
    with pytest.raises(artreg.NotFound):
        art.add_reference(file_uri(src / "nope"))
    assert dict(art.entries) == {}


# -- log_artifact with a URI, and the whole story ----------------------------------------


def test_log_artifact_takes_a_uri(reg: artreg.Registry, src: Path, s3: S3) -> None:
    s3.put("prefix/one", b"1")
    v = reg.log_artifact(f"s3://{s3.bucket}/prefix", name="from-s3", type="dataset", project="p")
    assert (v.name, v.type, [e.path for e in v.files()]) == ("from-s3:v0", "dataset", ["one"])
    local = reg.log_artifact(file_uri(src), project="p")
    assert (local.name, local.type, local.file_count) == ("src:v0", "unspecified", 3)
    assert local.get_entry("a.txt").ref == file_uri(src / "a.txt")


def test_a_dataset_of_folder_http_and_s3_references(
    reg: artreg.Registry, src: Path, web: Web, s3: S3, tmp_path: Path
) -> None:
    web.routes["/labels.csv"] = Route(b"id,label\n1,cat\n", etag='"L1"')
    s3.put("images/1.png", b"png-1")
    s3.put("images/2.png", b"png-2")

    def log() -> artreg.ArtifactVersion:
        art = artreg.Artifact("zoo", type="dataset")
        art.add_reference(file_uri(src), name="local")
        art.add_reference(web.url("/labels.csv"))
        art.add_reference(f"s3://{s3.bucket}/images", name="images")
        return reg.log_artifact(art, project="zoo")

    v0 = log()
    assert sorted(e.path for e in v0.files()) == [
        "images/1.png", "images/2.png", "labels.csv", "local/a.txt", "local/big.bin", "local/sub/b.txt",
    ]
    assert log() == v0  # nothing changed: dedup
    s3.put("images/2.png", b"png-2, retouched")
    v1 = log()
    assert v1.version == "v1"
    changed = {e.path for e in v1.files()} ^ {e.path for e in v0.files()}
    assert changed == set()
    assert [e.path for e in v1.files() if e.digest != v0.get_entry(e.path).digest] == ["images/2.png"]
    root = v1.download(tmp_path / "zoo")
    assert tree(root) == {
        "images/1.png": b"png-1", "images/2.png": b"png-2, retouched", "labels.csv": b"id,label\n1,cat\n",
        **{f"local/{k}": d for k, d in tree(src).items()},
    }
    v1.verify(root)
    v1.verify()
    (src / "sub" / "b.txt").write_text("tampered")
    with pytest.raises(artreg.IntegrityError, match="local/sub/b.txt"):
        v1.download(tmp_path / "again")
    with pytest.raises(artreg.IntegrityError, match="images/2.png"):
        v0.download(tmp_path / "old", path_prefix="images")
