"""``s3://`` references: one object (a version pinned by ``?versionId=``), or every object under a prefix.

boto3 is imported only when an ``s3://`` URI is used.
"""

from __future__ import annotations

import os
import re
import threading
import urllib.parse
from collections.abc import Iterator
from typing import Any, BinaryIO

from .._errors import ArtregError, IntegrityError, InvalidName, MissingExtra, NotFound, SourceError
from ..storage._manifest import ManifestEntry
from ._common import ETAG, NONE, RefObject, Scheme, checksum_kind, etag_digest, reference_timeout, too_many, uri_digest

S3_EXTRA = "artreg[s3]"
S3_PAGE_SIZE = 1000  # keys per listing request (S3's own maximum)
_BUCKET = re.compile(r"[A-Za-z0-9._-]+")
# The environment boto3 reads when it builds a client: a client is reused only while these stay the same.
_AWS_ENV = (
    "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_REGION", "AWS_REGION",
)
_S3_MISSING = {"NoSuchKey", "NoSuchBucket", "NoSuchVersion", "404", "NotFound"}


class S3Scheme(Scheme):
    """``s3://bucket/key`` (one object; ``?versionId=`` pins a version) or ``s3://bucket/prefix/``.

    A key that is not an object is taken as a folder prefix (``key/``). In a versioned bucket
    each object's current version id is recorded and downloads fetch exactly that version.
    """

    @staticmethod
    def split(uri: str) -> tuple[str, str, str | None]:
        """(bucket, key, version id) of an ``s3://`` URI."""
        rest, question, query = uri[len("s3://"):].partition("?")
        bucket, _, key = rest.partition("/")
        if not bucket:
            raise InvalidName(f"s3 reference has no bucket: {uri!r}")
        if not _BUCKET.fullmatch(bucket):
            raise InvalidName(f"s3 bucket name may only contain letters, digits, '.', '_' and '-': {bucket!r} in {uri!r}")
        version = None
        if question:
            name, equals, value = query.partition("=")
            if name != "versionId" or not equals or not value:
                raise InvalidName(f"the only query an s3 reference takes is ?versionId=<id>: {uri!r}")
            if not key or key.endswith("/"):
                raise InvalidName(f"?versionId= pins one object, but {uri!r} names a prefix")
            version = urllib.parse.unquote(value)
        return bucket, key, version

    def parse(self, uri: str) -> None:
        self.split(uri)

    def default_name(self, uri: str) -> str:
        bucket, key, _ = self.split(uri)
        return key.rstrip("/").rpartition("/")[2] or bucket

    def list(self, uri: str, *, checksum: bool, max_objects: int) -> list[RefObject]:
        bucket, key, version = self.split(uri)
        if not checksum:
            # The location only, as W&B records it: one entry for the whole URI (an object or
            # a prefix), at the key (or the bucket) unless a name is given; S3 is not asked.
            location = f"s3://{bucket}/{key}"
            extra: dict[str, Any] = {"checksum": NONE}
            if version is not None:
                extra["version_id"] = version
                location_id = f"{location}?versionId={urllib.parse.quote(version, safe='')}"
            else:
                location_id = location
            return [RefObject(location, "", 0, uri_digest(location_id), extra, path=key.rstrip("/") or bucket)]
        client, errors = _s3_client()
        with _s3_errors(errors, uri):
            if key and not key.endswith("/"):
                head = self._head(client, errors, bucket, key, version)
                if head is not None:
                    vid = head.get("VersionId") if version is None else version
                    return [_s3_object(bucket, key, "", head["ContentLength"], head["ETag"], vid, checksum, pinned=version)]
                if version is not None:
                    raise NotFound(f"no S3 object {uri!r}")
            prefix = key if not key or key.endswith("/") else key + "/"
            objects = []
            for obj_key, size, etag, vid in _s3_listing(client, errors, bucket, prefix, versions=checksum):
                if obj_key.endswith("/"):
                    continue  # a zero-byte "folder" marker made by consoles, not data
                objects.append(_s3_object(bucket, obj_key, obj_key[len(prefix):], size, etag, vid, checksum))
                if len(objects) > max_objects:
                    raise too_many(uri, max_objects)
        if not objects:
            raise NotFound(f"no S3 object or prefix {uri!r}")
        return objects

    @staticmethod
    def _head(client: Any, errors: Any, bucket: str, key: str, version: str | None) -> dict[str, Any] | None:
        kwargs = {"Bucket": bucket, "Key": key} | ({"VersionId": version} if version else {})
        try:
            return client.head_object(**kwargs)  # type: ignore[no-any-return]
        except errors.ClientError as exc:
            if _s3_code(exc) in _S3_MISSING:
                return None
            raise

    @staticmethod
    def _is_prefix(client: Any, errors: Any, bucket: str, key: str) -> bool:
        """Whether some object lies under ``key/`` (what a ``checksum=False`` entry may name)."""
        with _s3_errors(errors, f"s3://{bucket}/{key}"):
            page = client.list_objects_v2(Bucket=bucket, Prefix=key.rstrip("/") + "/", MaxKeys=1)
        return bool(page.get("KeyCount") or page.get("Contents"))

    def open(self, entry: ManifestEntry) -> BinaryIO:
        assert entry.ref is not None
        bucket, key, _ = self.split(entry.ref)
        client, errors = _s3_client()
        version = entry.extra.get("version_id")
        kwargs = {"Bucket": bucket, "Key": key} | ({"VersionId": version} if version else {})
        try:
            with _s3_errors(errors, entry.ref, entry.path):
                response = client.get_object(**kwargs)
        except NotFound as exc:
            if checksum_kind(entry) == NONE and self._is_prefix(client, errors, bucket, key):
                raise NotFound(
                    f"{entry.ref!r} (entry {entry.path!r}) is the location of a prefix, recorded with checksum=False: its "
                    "objects were not listed, so they cannot be downloaded (copy them from there, or log it with checksum=True)"
                ) from exc
            raise
        if checksum_kind(entry) == ETAG and response["ETag"] != entry.extra.get("etag"):
            response["Body"].close()
            raise _s3_changed(entry, response["ETag"])
        return response["Body"]  # type: ignore[no-any-return]

    def check(self, entry: ManifestEntry) -> None:
        assert entry.ref is not None
        bucket, key, _ = self.split(entry.ref)
        client, errors = _s3_client()
        with _s3_errors(errors, entry.ref, entry.path):
            head = self._head(client, errors, bucket, key, entry.extra.get("version_id"))
        if head is None:
            if checksum_kind(entry) == NONE and self._is_prefix(client, errors, bucket, key):
                return  # a location-only prefix is there while it holds an object
            raise NotFound(f"referenced S3 object {entry.ref!r} (entry {entry.path!r}) is gone")
        if checksum_kind(entry) == ETAG and (head["ETag"] != entry.extra.get("etag") or head["ContentLength"] != entry.size):
            raise _s3_changed(entry, head["ETag"])


def _s3_object(
    bucket: str, key: str, rel: str, size: int, etag: str, version_id: str | None, checksum: bool, *, pinned: str | None = None,
) -> RefObject:
    location = f"s3://{bucket}/{key}"
    if checksum:
        extra: dict[str, Any] = {"checksum": ETAG, "etag": etag} | ({"version_id": version_id} if version_id else {})
        return RefObject(location, rel, size, etag_digest(etag, version_id), extra)
    if pinned is None:
        return RefObject(location, rel, size, uri_digest(location), {"checksum": NONE})
    pin = urllib.parse.quote(pinned, safe="")
    return RefObject(location, rel, size, uri_digest(f"{location}?versionId={pin}"), {"checksum": NONE, "version_id": pinned})


def _s3_listing(client: Any, errors: Any, bucket: str, prefix: str, *, versions: bool) -> Iterator[tuple[str, int, str, str | None]]:
    """(key, size, ETag, version id) of the current objects under ``prefix``, page by page.

    Versions are listed only where the bucket keeps them; where the setting cannot be read
    the plain listing is used and no version id is recorded.
    """
    if versions:
        try:
            status = client.get_bucket_versioning(Bucket=bucket).get("Status")
        except errors.ClientError as exc:
            if _s3_code(exc) == "NoSuchBucket":
                raise
            status = None
        versions = status in ("Enabled", "Suspended")
    if versions:
        for page in client.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix, **_pages()):
            for item in page.get("Versions", []):
                if item["IsLatest"]:
                    vid = item.get("VersionId")
                    yield item["Key"], item["Size"], item["ETag"], None if vid in (None, "null") else vid
    else:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, **_pages()):
            for item in page.get("Contents", []):
                yield item["Key"], item["Size"], item["ETag"], None


def _pages() -> dict[str, Any]:
    return {"PaginationConfig": {"PageSize": S3_PAGE_SIZE}}


def _s3_changed(entry: ManifestEntry, etag: str) -> IntegrityError:
    return IntegrityError(
        f"referenced S3 object {entry.ref!r} (entry {entry.path!r}) changed: ETag {etag}, {entry.extra.get('etag')} recorded",
        mismatched=[entry.path],
    )


def _s3_code(exc: Any) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class _s3_errors:  # noqa: N801 - used like a function: ``with _s3_errors(...):``
    """Turns botocore errors into ArtregErrors naming the URI: missing objects become NotFound."""

    def __init__(self, errors: Any, uri: str, path: str | None = None) -> None:
        self._errors = errors
        self._where = repr(uri) if path is None else f"{uri!r} (entry {path!r})"

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if exc is None or isinstance(exc, ArtregError):
            return
        if isinstance(exc, self._errors.ClientError):
            if _s3_code(exc) in _S3_MISSING:
                raise NotFound(f"no S3 object {self._where}: {_s3_code(exc)}") from exc
            raise SourceError(f"S3 refused {self._where}: {exc}") from exc
        if isinstance(exc, self._errors.BotoCoreError):
            raise SourceError(f"cannot reach S3 for {self._where}: {exc}") from exc


_clients: dict[tuple[object, ...], Any] = {}
_clients_lock = threading.Lock()


def _s3_client() -> tuple[Any, Any]:
    """A boto3 S3 client for the current environment (endpoint, credentials), and botocore's exceptions.

    boto3 itself honours ``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_S3``. Building a client
    takes tens of milliseconds, so one is kept per distinct environment.
    """
    try:
        import boto3
        import botocore.config
        import botocore.exceptions
    except ImportError as exc:
        raise MissingExtra(f"s3:// references need boto3, which is not installed: pip install '{S3_EXTRA}'") from exc
    timeout = reference_timeout()
    key = (timeout, *(os.environ.get(name) for name in _AWS_ENV))
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            if len(_clients) >= 8:
                _clients.clear()
            config = botocore.config.Config(connect_timeout=timeout, read_timeout=timeout, retries={"max_attempts": 3})
            # A session of its own: boto3's default session is not safe to share between threads.
            client = _clients[key] = boto3.session.Session().client("s3", config=config)
    return client, botocore.exceptions
