"""References to external data (SPEC §10): ``file://``, ``http(s)://`` and ``s3://`` objects.

A reference entry stores no bytes. Its manifest row records the object's URI (``ref``), a
digest and a size, and in ``extra["checksum"]`` how the digest was made:

- ``"sha256"``: the sha256 of the bytes (local files; HTTP bodies served without an ETag).
- ``"etag"``: the sha256 of ``"etag:<ETag>\\n"`` (plus ``"version_id:<id>\\n"`` for a versioned
  S3 object); ``extra`` keeps the ETag and version id. The source's ETag is compared before
  any byte is used.
- ``"none"`` (``checksum=False``): the sha256 of the URI, so such versions dedup by location;
  only the object's presence is checked.

Digests are always 64 hex characters, so the version digest (SPEC §2) keeps its form and
never depends on a URI except through ``checksum=False`` entries, whose content *is* their
location.

Each scheme is one small class: ``list`` finds the objects under a URI with their digests,
``open`` streams one recorded object (NotFound when it is gone, IntegrityError when its ETag
no longer matches), ``check`` re-checks one without keeping its bytes. ``open_reference``
wraps ``open`` so that the size, and a sha256 digest, are checked when the stream ends.

Network calls give up after ``$ARTREG_REFERENCE_TIMEOUT`` seconds (default 60) without
progress on a connect or a read, and a whole fetch of one object after
``$ARTREG_REFERENCE_DEADLINE`` seconds (default 3600), so a source that drips a byte now and
then cannot hold a download forever. A source that sends more bytes than were recorded is
cut off at the first extra byte. boto3 is imported only when an ``s3://`` URI is used.
"""

from __future__ import annotations

import hashlib
import http.client
import io
import os
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from ._errors import ArtregError, IntegrityError, InvalidName, MissingExtra, NotFound, SourceError
from ._hashing import CHUNK
from ._localfiles import open_regular
from ._sources import FileSource
from ._walk import walk
from .storage._manifest import ManifestEntry

DEFAULT_MAX_OBJECTS = 10_000_000
DEFAULT_TIMEOUT = 60.0
TIMEOUT_ENV = "ARTREG_REFERENCE_TIMEOUT"
DEFAULT_DEADLINE = 3600.0
DEADLINE_ENV = "ARTREG_REFERENCE_DEADLINE"
SHA256, ETAG, NONE = "sha256", "etag", "none"
S3_EXTRA = "artreg[s3]"
S3_PAGE_SIZE = 1000  # keys per listing request (S3's own maximum)

_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")
_BUCKET = re.compile(r"[A-Za-z0-9._-]+")
_USER_AGENT = "artreg (+references)"
# The environment boto3 reads when it builds a client: a client is reused only while these stay the same.
_AWS_ENV = (
    "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_REGION", "AWS_REGION",
)
_S3_MISSING = {"NoSuchKey", "NoSuchBucket", "NoSuchVersion", "404", "NotFound"}


@dataclass(frozen=True)
class RefObject:
    """One object found under a reference URI.

    ``rel`` is its path below the listed folder or prefix ("" when the URI names this one
    object). ``digest`` is None for a local file to be hashed when the draft is logged
    (``file`` then holds its stat, as for ``add_file``).
    """

    uri: str
    rel: str
    size: int
    digest: str | None
    extra: dict[str, Any] = field(default_factory=dict)
    file: FileSource | None = None
    path: str | None = None  # the entry's logical path when no name is given (default: the URI's last segment)


# -- the common interface ----------------------------------------------------------------


def list_objects(uri: object, *, checksum: object = True, max_objects: object = None) -> list[RefObject]:
    """Every object a reference URI names, refused whole when there are more than ``max_objects``.

    Raises InvalidName for a malformed URI, an unknown scheme or a bad argument, NotFound
    when nothing is there, and ArtregError when the source cannot be reached.
    """
    if not isinstance(checksum, bool):
        raise InvalidName(f"checksum must be True or False, not {checksum!r}")
    limit = _check_max_objects(max_objects)
    text, scheme = parse(uri)
    objects = scheme.list(text, checksum=checksum, max_objects=limit)
    if len(objects) > limit:
        raise too_many(text, limit)
    return objects


def parse(uri: object) -> tuple[str, _Scheme]:
    """The URI and the scheme handling it; InvalidName without a known scheme."""
    if not isinstance(uri, str):
        raise InvalidName(f"reference URI must be a string, not {type(uri).__name__}: {uri!r}")
    match = _SCHEME.match(uri)
    if match is None:
        raise InvalidName(f"reference URI has no scheme (file://, http://, https://, s3://): {uri!r}")
    scheme = SCHEMES.get(match.group(1).lower())
    if scheme is None:
        raise InvalidName(f"unknown reference scheme {match.group(1)!r} in {uri!r}; use file://, http://, https:// or s3://")
    try:
        scheme.parse(uri)
    except ValueError as exc:  # urllib's, for a malformed URL ("Invalid IPv6 URL", a port out of range)
        if isinstance(exc, InvalidName):
            raise
        raise InvalidName(f"malformed reference URI {uri!r}: {exc}") from exc
    return uri, scheme


def is_uri(text: str) -> bool:
    """True when ``text`` starts like ``scheme://`` (and so is not a local path)."""
    return _SCHEME.match(text) is not None


def default_name(uri: str) -> str:
    """The last segment of a URI's path (an S3 bucket, or an HTTP host, when the path is empty)."""
    _, scheme = parse(uri)
    return scheme.default_name(uri)


def open_reference(entry: ManifestEntry) -> BinaryIO:
    """A reader of a reference entry's bytes, fetched from its source and checked at the end.

    It raises IntegrityError at the first byte beyond the recorded size (for entries with a
    checksum), and ArtregError once the fetch has run past ``$ARTREG_REFERENCE_DEADLINE``.
    """
    scheme = _scheme_of(entry)
    deadline = Deadline(f"{entry.ref!r} (entry {entry.path!r})")
    raw = scheme.open(entry)
    try:
        deadline.check()
    except BaseException:
        raw.close()
        raise
    return _CheckedReader(raw, entry, deadline)  # type: ignore[return-value]


def check_reference(entry: ManifestEntry) -> None:
    """Re-check a reference entry against its source: NotFound if gone, IntegrityError if changed."""
    _scheme_of(entry).check(entry)


def checksum_kind(entry: ManifestEntry) -> str:
    """How a reference entry's digest was made: ``sha256``, ``etag`` or ``none``."""
    return str(entry.extra.get("checksum", SHA256))


def reference_timeout() -> float:
    """Seconds a network call may wait for progress: ``$ARTREG_REFERENCE_TIMEOUT``, else 60."""
    return _seconds(TIMEOUT_ENV, DEFAULT_TIMEOUT)


def reference_deadline() -> float:
    """Seconds one reference fetch may take in all: ``$ARTREG_REFERENCE_DEADLINE``, else 3600."""
    return _seconds(DEADLINE_ENV, DEFAULT_DEADLINE)


def _seconds(env: str, default: float) -> float:
    text = os.environ.get(env)
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        raise InvalidName(f"${env} must be a positive number of seconds, not {text!r}")
    return value


class Deadline:
    """When a fetch of one object must be done by (``$ARTREG_REFERENCE_DEADLINE`` from now)."""

    def __init__(self, what: str) -> None:
        self.seconds = reference_deadline()
        self.what = what
        self._end = time.monotonic() + self.seconds

    def check(self) -> None:
        """Raise ArtregError once the deadline has passed."""
        if time.monotonic() > self._end:
            raise SourceError(
                f"fetching {self.what} took longer than {self.seconds:g} s (${DEADLINE_ENV}); the source is too slow"
            )


def read_some(raw: Any, size: int) -> bytes:
    """Up to ``size`` bytes, returning as soon as some arrive (``read1``) where the stream can.

    ``read(size)`` of an HTTP response waits for all ``size`` bytes, so a source dripping
    a byte a minute would keep one call going for days, past any deadline check.
    """
    read1 = getattr(raw, "read1", None)
    return bytes(read1(size) if read1 is not None else raw.read(size))


def too_many(uri: str, limit: int) -> InvalidName:
    return InvalidName(f"{uri!r} holds more than max_objects={limit:,} objects; nothing was added (pass a larger max_objects)")


def uri_digest(location: str) -> str:
    """The digest of a ``checksum=False`` entry: sha256 of its location."""
    return hashlib.sha256(location.encode()).hexdigest()


def etag_digest(etag: str, version_id: str | None = None) -> str:
    """The digest of an ETag-checked entry."""
    text = f"etag:{etag}\n" + (f"version_id:{version_id}\n" if version_id else "")
    return hashlib.sha256(text.encode()).hexdigest()


def _check_max_objects(value: object) -> int:
    if value is None:
        return DEFAULT_MAX_OBJECTS
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidName(f"max_objects must be a positive integer or None, not {value!r}")
    return value


def _scheme_of(entry: ManifestEntry) -> _Scheme:
    if entry.ref is None:
        raise InvalidName(f"entry {entry.path!r} is not a reference")
    return parse(entry.ref)[1]


class _Scheme:
    """What every scheme provides; ``check`` defaults to opening (and for sha256, reading) the object."""

    def parse(self, uri: str) -> None:
        raise NotImplementedError

    def default_name(self, uri: str) -> str:
        raise NotImplementedError

    def list(self, uri: str, *, checksum: bool, max_objects: int) -> list[RefObject]:
        raise NotImplementedError

    def open(self, entry: ManifestEntry) -> BinaryIO:
        raise NotImplementedError

    def check(self, entry: ManifestEntry) -> None:
        with open_reference(entry) as reader:
            if checksum_kind(entry) == SHA256:
                while reader.read(CHUNK):
                    pass


class _CheckedReader(io.RawIOBase):
    """Streams a referenced object; at EOF checks its size and, for sha256 entries, its digest.

    An entry with a checksum has a recorded size, and more bytes than that are never read:
    the reader asks for at most one byte beyond it and raises IntegrityError when it comes.
    """

    def __init__(self, raw: BinaryIO, entry: ManifestEntry, deadline: Deadline) -> None:
        self._raw = raw
        self._entry = entry
        self._deadline = deadline
        self._kind = checksum_kind(entry)
        self._hasher = hashlib.sha256() if self._kind == SHA256 else None
        self._seen = 0
        self._checked = self._kind == NONE
        self._limit = None if self._kind == NONE else entry.size + 1

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        want = len(buffer) if self._limit is None else min(len(buffer), self._limit - self._seen)
        try:
            data = read_some(self._raw, want)
        except ArtregError:
            raise
        except Exception as exc:
            # The raw stream is a file, an HTTP response or a botocore body, each with its own
            # errors (timeouts, cut connections); callers see one ArtregError naming the source.
            raise SourceError(f"cannot read {self._entry.ref!r} (entry {self._entry.path!r}): {exc}") from exc
        self._deadline.check()
        n = len(data)
        buffer[:n] = data
        if n:
            self._seen += n
            if self._limit is not None and self._seen >= self._limit:
                entry = self._entry
                raise IntegrityError(
                    f"reference {entry.ref!r} (entry {entry.path!r}) changed: it sends more than the {entry.size:,} bytes recorded",
                    mismatched=[entry.path],
                )
            if self._hasher is not None:
                self._hasher.update(data)
        elif len(buffer) and not self._checked:
            self._check()
        return n

    def _check(self) -> None:
        self._checked = True
        entry = self._entry
        if self._seen != entry.size:
            raise IntegrityError(
                f"reference {entry.ref!r} (entry {entry.path!r}) changed: {self._seen} bytes, {entry.size} recorded",
                mismatched=[entry.path],
            )
        if self._hasher is not None and self._hasher.hexdigest() != entry.digest:
            raise IntegrityError(
                f"reference {entry.ref!r} (entry {entry.path!r}) changed: its sha256 differs from the recorded one",
                mismatched=[entry.path],
            )

    def close(self) -> None:
        self._raw.close()
        super().close()


# -- file:// -----------------------------------------------------------------------------


class _File(_Scheme):
    """``file:///abs/path`` (or ``file://localhost/abs/path``): a file, or a folder walked like ``add_dir``."""

    def parse(self, uri: str) -> None:
        self.path(uri)

    @staticmethod
    def path(uri: str) -> str:
        host, slash, rest = uri[len("file://"):].partition("/")
        if host not in ("", "localhost"):
            raise InvalidName(f"file reference must name a local absolute path (file:///path), not host {host!r}: {uri!r}")
        if not slash:
            raise InvalidName(f"file reference has no path: {uri!r}")
        # Percent-decoding only: '#' and '?' are part of a file name here, never a fragment or query.
        path = urllib.parse.unquote(rest)
        if "\x00" in path:
            raise InvalidName(f"file reference may not contain a NUL byte (%00): {uri!r}")
        return os.path.abspath("/" + path)

    @staticmethod
    def uri(path: str) -> str:
        return "file://" + urllib.parse.quote(path)

    def default_name(self, uri: str) -> str:
        return os.path.basename(self.path(uri).rstrip("/"))

    def list(self, uri: str, *, checksum: bool, max_objects: int) -> list[RefObject]:
        path = self.path(uri)
        try:
            st = os.stat(path)
        except FileNotFoundError as exc:
            raise NotFound(f"no such file or folder: {uri!r}") from exc
        if os.path.isdir(path):
            base = path if path.endswith(os.sep) else path + os.sep
            found = [(rel, FileSource(base + rel, dev, ino, size, mtime, ctime)) for rel, dev, ino, size, mtime, ctime in walk(path, "")]
        elif os.path.isfile(path):
            found = [("", FileSource.of(path, st))]
        else:
            raise InvalidName(f"{uri!r} is not a regular file or folder")
        if len(found) > max_objects:
            raise too_many(uri, max_objects)
        objects = []
        for rel, source in found:
            location = self.uri(source.path)
            if checksum:
                objects.append(RefObject(location, rel, source.size, None, {"checksum": SHA256}, source))
            else:
                objects.append(RefObject(location, rel, source.size, uri_digest(location), {"checksum": NONE}))
        return objects

    def open(self, entry: ManifestEntry) -> BinaryIO:
        assert entry.ref is not None
        path = self.path(entry.ref)
        what = f"referenced file {entry.ref!r} (entry {entry.path!r})"
        try:
            fd, _ = open_regular(path, what)
        except NotFound as exc:
            raise NotFound(f"{what} is gone") from exc
        return open(fd, "rb")  # noqa: SIM115 - returned to the caller


# -- http:// and https:// ----------------------------------------------------------------


class _Http(_Scheme):
    """One object per URL. With an ETag and a Content-Length the body is not read at all."""

    def parse(self, uri: str) -> None:
        parts = urllib.parse.urlsplit(uri)
        if not parts.hostname:
            raise InvalidName(f"http reference has no host: {uri!r}")
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in 0-65535

    def default_name(self, uri: str) -> str:
        parts = urllib.parse.urlsplit(uri)
        return urllib.parse.unquote(parts.path).rstrip("/").rpartition("/")[2] or (parts.hostname or "")

    def list(self, uri: str, *, checksum: bool, max_objects: int) -> list[RefObject]:
        if not checksum:
            return [RefObject(uri, "", 0, uri_digest(uri), {"checksum": NONE})]
        deadline = Deadline(repr(uri))
        with self._get(uri) as response:
            etag = response.headers.get("ETag")
            length = response.headers.get("Content-Length")
            if etag and length is not None and length.isdigit():
                return [RefObject(uri, "", int(length), etag_digest(etag), {"checksum": ETAG, "etag": etag})]
            hasher = hashlib.sha256()
            size = 0
            try:
                while chunk := read_some(response, CHUNK):
                    deadline.check()
                    hasher.update(chunk)
                    size += len(chunk)
            except (OSError, http.client.HTTPException) as exc:
                raise SourceError(f"cannot read {uri!r}: {exc}") from exc
        if etag:
            return [RefObject(uri, "", size, etag_digest(etag), {"checksum": ETAG, "etag": etag})]
        return [RefObject(uri, "", size, hasher.hexdigest(), {"checksum": SHA256})]

    def open(self, entry: ManifestEntry) -> BinaryIO:
        assert entry.ref is not None
        response = self._get(entry.ref, entry.path)
        if checksum_kind(entry) == ETAG:
            etag = response.headers.get("ETag")
            if etag != entry.extra.get("etag"):
                response.close()
                raise IntegrityError(
                    f"reference {entry.ref!r} (entry {entry.path!r}) changed: ETag {etag!r}, {entry.extra.get('etag')!r} recorded",
                    mismatched=[entry.path],
                )
        return response  # type: ignore[no-any-return]

    @staticmethod
    def _get(uri: str, path: str | None = None) -> Any:
        where = repr(uri) if path is None else f"{uri!r} (entry {path!r})"
        request = urllib.request.Request(uri, headers={"User-Agent": _USER_AGENT})
        timeout = reference_timeout()
        try:
            return urllib.request.urlopen(request, timeout=timeout)
        except urllib.error.HTTPError as exc:
            exc.close()
            if exc.code in (404, 410):
                raise NotFound(f"{where} is not there: HTTP {exc.code}") from exc
            raise SourceError(f"cannot fetch {where}: HTTP {exc.code} {exc.reason}") from exc
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
            if isinstance(reason, TimeoutError):
                reason = f"no answer within {timeout:g} s (${TIMEOUT_ENV})"
            raise SourceError(f"cannot fetch {where}: {reason}") from exc


# -- s3:// -------------------------------------------------------------------------------


class _S3(_Scheme):
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


SCHEMES: dict[str, _Scheme] = {"file": _File(), "http": _Http(), "https": _Http(), "s3": _S3()}
