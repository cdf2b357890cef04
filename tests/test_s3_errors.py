"""SPEC §17: what goes wrong between a registry and its bucket gets a clear ArtregError subclass,
retries where retrying helps, and never a half-committed version.

Faults come from the real network path: a missing bucket and wrong credentials from the
servers themselves (SeaweedFS checks credentials), 5xx storms and connections cut mid-upload
from a proxy between client and server (``FaultProxy``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

import artreg
from artreg.storage import _s3, _s3_store
from conftest import make
from s3servers import Bucket, FaultProxy, Server, point_at

BIG = 2 << 20  # one PutObject of 2 MiB: big enough for the proxy to cut mid-body


def nothing_committed(reg: artreg.Registry) -> None:
    assert reg.collections() == []
    with reg._db.read() as con:
        assert con.execute("SELECT count(*) FROM blobs").fetchone()[0] == 0


def test_a_missing_bucket_is_store_not_found(moto_server: Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    point_at(monkeypatch, moto_server.endpoint, tmp_path)
    with pytest.raises(artreg.StoreNotFound, match="does not exist") as caught:
        artreg.open(tmp_path / "reg", blobs="s3://no-such-bucket-here/team")
    assert isinstance(caught.value, LookupError) and isinstance(caught.value, OSError)


def test_wrong_credentials_are_store_denied_and_change_nothing(
    seaweed_bucket: Bucket, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    with artreg.open(tmp_path / "reg", inline_limit=1024, blobs=seaweed_bucket.url()) as reg:
        reg.log_artifact(make("ok", data=os.urandom(5000)), project="p")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    with artreg.open(tmp_path / "reg", inline_limit=1024) as reg:
        with pytest.raises(artreg.StoreDenied, match="credentials"):
            reg.log_artifact(make("denied", data=os.urandom(5000)), project="p")
        assert [c.name for c in reg.collections()] == ["ok"]
        reg.prune_cache(0)
        with pytest.raises(artreg.StoreDenied):
            reg.artifact("p/ok").download(tmp_path / "out")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "nobody")
    with pytest.raises(artreg.StoreDenied):
        artreg.open(tmp_path / "other", blobs=seaweed_bucket.url())


def test_a_transient_5xx_storm_is_retried_with_backoff(fault_proxy: tuple[FaultProxy, Bucket], tmp_path: Path) -> None:
    proxy, bucket = fault_proxy
    with artreg.open(tmp_path / "reg", inline_limit=1024, blobs=bucket.url()) as reg:
        proxy.fail_next(2, 503)  # the claim's PUT fails twice, then goes through (3 attempts allowed)
        v = reg.log_artifact(make(data=os.urandom(5000)), project="p")
        assert proxy.failures == []
        reg.prune_cache(0)
        proxy.fail_next(2, 500)
        v.verify()


def test_a_5xx_storm_past_the_retries_is_store_unavailable_and_commits_nothing(
    fault_proxy: tuple[FaultProxy, Bucket], tmp_path: Path,
) -> None:
    proxy, bucket = fault_proxy
    with artreg.open(tmp_path / "reg", inline_limit=1024, blobs=bucket.url()) as reg:
        proxy.fail_next(50, 503)
        with pytest.raises(artreg.StoreUnavailable, match="503|ServiceUnavailable") as caught:
            reg.log_artifact(make(data=os.urandom(5000)), project="p")
        assert isinstance(caught.value, ConnectionError)
        nothing_committed(reg)
        proxy.failures.clear()
        reg.log_artifact(make(data=os.urandom(5000)), project="p")  # the storm is over
        assert len(reg.collections()) == 1


def test_a_connection_cut_mid_upload_is_retried(fault_proxy: tuple[FaultProxy, Bucket], tmp_path: Path) -> None:
    proxy, bucket = fault_proxy
    data = os.urandom(BIG)
    with artreg.open(tmp_path / "reg", inline_limit=1024, blobs=bucket.url()) as reg:
        proxy.cut_uploads(1)
        v = reg.log_artifact(make(data=data), project="p")
        assert proxy.cuts == 0
        reg.prune_cache(0)
        assert Path(v.download(tmp_path / "out")).joinpath("data").read_bytes() == data


def test_a_network_failure_mid_upload_commits_nothing_and_leaves_no_upload_behind(
    fault_proxy: tuple[FaultProxy, Bucket], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    proxy, bucket = fault_proxy
    monkeypatch.setattr(_s3_store, "MULTIPART_THRESHOLD", 6 << 20)
    monkeypatch.setattr(_s3_store, "PART_SIZE", 5 << 20)
    with artreg.open(tmp_path / "reg", inline_limit=1024, blobs=bucket.url()) as reg:
        proxy.cut_uploads(1000)
        with pytest.raises(artreg.StoreUnavailable):
            reg.log_artifact(make(single=os.urandom(BIG)), project="p")
        with pytest.raises(artreg.StoreUnavailable):
            reg.log_artifact(make(parts=os.urandom(12 << 20)), project="p")
        nothing_committed(reg)
        proxy.cuts = 0
    assert bucket.blob_keys() == []
    assert bucket.client.list_multipart_uploads(Bucket=bucket.name).get("Uploads", []) == []  # aborted


def test_an_unreachable_store_is_store_unavailable(fault_proxy: tuple[FaultProxy, Bucket], tmp_path: Path) -> None:
    proxy, bucket = fault_proxy
    with artreg.open(tmp_path / "reg", inline_limit=1024, blobs=bucket.url()) as reg:
        v = reg.log_artifact(make("there", data=os.urandom(5000)), project="p")
        reg.prune_cache(0)
        proxy.down = True
        with pytest.raises(artreg.StoreUnavailable):
            reg.log_artifact(make("lost", data=os.urandom(5000)), project="p")
        with pytest.raises(artreg.StoreUnavailable):
            v.download(tmp_path / "out")
        assert not (tmp_path / "out" / "data").exists()
        assert [c.name for c in reg.collections()] == ["there"]
        # Inline content and metadata need no store: they still work offline.
        reg.log_artifact(make("small", data=b"tiny"), project="p")
        assert reg.artifact("p/there").digest == v.digest


def test_botocore_checksums_default_to_when_required_and_the_aws_variables_apply(
    moto_server: Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    point_at(monkeypatch, moto_server.endpoint, tmp_path)
    config = _s3.client(4).meta.config
    assert (config.request_checksum_calculation, config.response_checksum_validation) == ("when_required", "when_required")
    assert config.retries["mode"] == "standard" and config.retries["total_max_attempts"] == 5
    assert config.s3 == {"addressing_style": "path"}  # not AWS: path-style
    # Blob bodies carry their sha256 (signed, checked by the server): not hashed again for SigV4.
    assert _s3.client(4, data=True).meta.config.s3 == {"addressing_style": "path", "payload_signing_enabled": False}
    assert _s3.client(4).meta.endpoint_url == moto_server.endpoint  # AWS_ENDPOINT_URL_S3
    monkeypatch.setenv("AWS_REQUEST_CHECKSUM_CALCULATION", "when_supported")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
    config = _s3.client(4).meta.config
    assert config.request_checksum_calculation == "when_supported" and config.response_checksum_validation == "when_required"
    assert config.retries == {"mode": "standard", "total_max_attempts": 2}
    (tmp_path / "no-aws-config").write_text("[default]\nresponse_checksum_validation = when_supported\n")
    monkeypatch.delenv("AWS_REQUEST_CHECKSUM_CALCULATION")
    monkeypatch.setenv("AWS_RETRY_MODE", "adaptive")
    config = _s3.client(4).meta.config
    assert (config.request_checksum_calculation, config.response_checksum_validation) == ("when_required", "when_supported")
    assert config.retries == {"mode": "adaptive", "total_max_attempts": 2}


def test_without_boto3_a_bucket_registry_says_what_to_install(
    moto_bucket: Bucket, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    monkeypatch.setattr(_s3, "_clients", {})
    monkeypatch.setitem(sys.modules, "boto3", None)
    with pytest.raises(artreg.MissingExtra, match=r"pip install 'artreg\[s3\]'"):
        artreg.open(tmp_path / "reg", blobs=moto_bucket.url())
    artreg.open(tmp_path / "plain").close()  # a registry without a bucket never needs boto3
