"""An S3 bucket prefix as a blob location: its URL, its boto3 client, and its errors.

The client is built the way the AWS tools build theirs, so ``AWS_ENDPOINT_URL_S3``,
``AWS_PROFILE``, credentials, ``AWS_MAX_ATTEMPTS`` and the config file all apply. Three
defaults differ from botocore's, each only while the user has not chosen otherwise:

- request and response checksums ``when_required``: boto3 1.36 made ``when_supported`` the
  default, and many S3-compatible servers answer it with ``XAmzContentSHA256Mismatch`` or
  ``MissingContentMD5`` (boto3#4392, aws-cli#9214). artreg sends its own
  ``x-amz-checksum-sha256`` on every upload, which is the check that matters to it;
- retries in botocore's ``standard`` mode (exponential backoff with jitter on throttling, 5xx
  and dropped connections), 5 attempts;
- path-style addressing for an endpoint that is not AWS's (``bucket.host`` names rarely
  resolve on a private server).
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass
from typing import Any, NoReturn

from .._errors import ArtregError, IntegrityError, InvalidName, MissingExtra, StoreDenied, StoreError, StoreNotFound, StoreUnavailable

S3_EXTRA = "artreg[s3]"
CHECKSUM_DEFAULT = "when_required"
RETRY_MODE = "standard"
MAX_ATTEMPTS = 5
_BUCKET = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{1,254}")

# Error codes, by what they mean to the caller.
MISSING_BUCKET = {"NoSuchBucket"}
MISSING_KEY = {"NoSuchKey", "404", "NotFound"}
DENIED = {
    "AccessDenied", "403", "Forbidden", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken",
    "InvalidToken", "TokenRefreshRequired", "AllAccessDisabled", "AccountProblem",
}
CORRUPT = {"BadDigest", "InvalidDigest", "XAmzContentSHA256Mismatch", "XAmzContentChecksumMismatch", "InvalidChecksum"}
PRECONDITION = {"PreconditionFailed", "412"}
CONFLICT = {"ConditionalRequestConflict", "409", "OperationAborted"}


@dataclass(frozen=True)
class S3Location:
    """``s3://bucket/prefix``, parsed and normalised (no slashes around the prefix)."""

    bucket: str
    prefix: str

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"

    def key(self, name: str) -> str:
        """The object key of ``name`` under the prefix."""
        return f"{self.prefix}/{name}" if self.prefix else name


def parse_location(url: object) -> S3Location:
    """An ``s3://bucket[/prefix]`` URL as an S3Location; anything else raises InvalidName."""
    if not isinstance(url, str) or not url.startswith("s3://"):
        raise InvalidName(f"blobs= takes an s3://bucket/prefix URL, not {url!r}")
    bucket, _, prefix = url[len("s3://"):].partition("/")
    if not _BUCKET.fullmatch(bucket):
        raise InvalidName(f"{url!r}: the bucket name must be 2-255 letters, digits, '.', '_' or '-'")
    prefix = prefix.strip("/")
    segments = prefix.split("/") if prefix else []
    if any(s in ("", ".", "..") for s in segments) or any(ord(c) < 32 or c in "?#\\" for c in prefix):
        raise InvalidName(f"{url!r}: the prefix must be plain path segments (no empty, '.' or '..' parts, '?', '#' or '\\')")
    return S3Location(bucket, prefix)


_clients: dict[tuple[object, ...], Any] = {}
_clients_lock = threading.Lock()
# Variables that change which client (endpoint, credentials, settings) boto3 would build.
_ENV = (
    "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION",
    "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_CA_BUNDLE", "AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE", "AWS_REQUEST_CHECKSUM_CALCULATION",
    "AWS_RESPONSE_CHECKSUM_VALIDATION", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
)


def client(max_connections: int, *, data: bool = False) -> Any:
    """A boto3 S3 client for the current environment, shared by every store that asks with it.

    Low-level boto3 clients are thread-safe; one is kept per distinct environment because
    building one takes tens of milliseconds.

    ``data``: the client that sends blob bytes, every body with its ``x-amz-checksum-sha256``.
    Its payloads are not hashed again for the SigV4 signature (``UNSIGNED-PAYLOAD``, which
    botocore already chooses over HTTPS when a checksum is present): the checksum header is
    signed and the server checks the body against it, so the body stays covered, and the
    client saves a sha256 pass over every byte on plain HTTP endpoints.
    """
    boto3, botocore = _import()
    key = (os.getpid(), max_connections, data, *(os.environ.get(name) for name in _ENV))  # no connection crosses a fork
    with _clients_lock:
        found = _clients.get(key)
        if found is not None:
            return found
        try:
            core = botocore.session.get_session()
            scoped = core.get_scoped_config()
            settings: dict[str, Any] = {"max_pool_connections": max_connections, "tcp_keepalive": True}
            for name in ("request_checksum_calculation", "response_checksum_validation"):
                if not os.environ.get(f"AWS_{name.upper()}") and name not in scoped:
                    settings[name] = CHECKSUM_DEFAULT
            retries: dict[str, Any] = {}
            if not os.environ.get("AWS_RETRY_MODE") and "retry_mode" not in scoped:
                retries["mode"] = RETRY_MODE
            if not os.environ.get("AWS_MAX_ATTEMPTS") and "max_attempts" not in scoped:
                retries["total_max_attempts"] = MAX_ATTEMPTS  # botocore reads the others itself
            if retries:
                settings["retries"] = retries
            profile_s3 = scoped.get("s3") if isinstance(scoped.get("s3"), dict) else {}
            s3: dict[str, Any] = {}
            if data and "payload_signing_enabled" not in profile_s3:
                s3["payload_signing_enabled"] = False
            session = boto3.session.Session(botocore_session=core)
            made = session.client("s3", config=botocore.config.Config(**settings, s3=s3 or None))
            if "addressing_style" not in profile_s3 and "amazonaws.com" not in (made.meta.endpoint_url or ""):
                s3["addressing_style"] = "path"
                made = session.client("s3", config=botocore.config.Config(**settings, s3=s3))
        except botocore.exceptions.BotoCoreError as exc:
            raise StoreError(f"cannot set up an S3 client: {exc}") from exc
        if len(_clients) >= 8:
            _clients.clear()
        _clients[key] = made
        return made


def _import() -> tuple[Any, Any]:
    try:
        import boto3
        import botocore.config
        import botocore.exceptions
        import botocore.session
    except ImportError as exc:
        raise MissingExtra(f"blobs on s3:// need boto3, which is not installed: pip install '{S3_EXTRA}'") from exc
    return boto3, botocore


def exceptions() -> Any:
    """botocore.exceptions (imported on first use: boto3 is an optional extra)."""
    return _import()[1].exceptions


def error_code(exc: BaseException) -> str:
    """The S3 error code of a botocore ClientError ("" for anything else)."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return ""
    code = str(response.get("Error", {}).get("Code", ""))
    return code or str(response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))


def status(exc: BaseException) -> int:
    response = getattr(exc, "response", None)
    return int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)) if isinstance(response, dict) else 0


def raise_store_error(exc: BaseException, doing: str) -> NoReturn:
    """Raise the ArtregError for a botocore exception met while ``doing`` something (after botocore's retries)."""
    raise store_error(exc, doing) from exc


def store_error(exc: BaseException, doing: str) -> ArtregError:
    """The ArtregError for a botocore exception met while ``doing`` something."""
    errors = exceptions()
    if isinstance(exc, ArtregError):
        return exc
    if isinstance(exc, errors.ClientError):
        code = error_code(exc)
        detail = f"{doing}: {code} {exc.response.get('Error', {}).get('Message', '')}".rstrip()
        if code in MISSING_BUCKET:
            return StoreNotFound(f"{doing}: the bucket does not exist ({code})")
        if code in DENIED:
            return StoreDenied(f"{detail} (check the credentials and the bucket's policy)")
        if code in CORRUPT:
            return IntegrityError(f"{detail}: the store received other bytes than were hashed; nothing was committed")
        if status(exc) >= 500 or code in ("SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout"):
            return StoreUnavailable(f"{detail} (still failing after {MAX_ATTEMPTS} attempts)")
        return StoreError(detail)
    if isinstance(exc, (errors.NoCredentialsError, errors.PartialCredentialsError, errors.ProfileNotFound)):
        return StoreDenied(f"{doing}: {exc}")
    if isinstance(exc, (errors.ConnectionError, errors.HTTPClientError, errors.ReadTimeoutError, errors.ConnectTimeoutError,
                        errors.IncompleteReadError)):
        return StoreUnavailable(f"{doing}: {exc}")
    if isinstance(exc, errors.BotoCoreError):
        return StoreError(f"{doing}: {exc}")
    if isinstance(exc, OSError):
        return StoreUnavailable(f"{doing}: {exc}")
    return StoreError(f"{doing}: {type(exc).__name__}: {exc}")


def is_error(exc: BaseException) -> bool:
    """Whether ``exc`` comes from botocore (or the connection under it), so store_error can name it."""
    errors = exceptions()
    return isinstance(exc, (errors.ClientError, errors.BotoCoreError, OSError)) and not isinstance(exc, ArtregError)
