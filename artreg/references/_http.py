"""``http://`` and ``https://`` references: one object per URL, checked by ETag or sha256."""

from __future__ import annotations

import hashlib
import http.client
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, BinaryIO

from .._errors import IntegrityError, InvalidName, NotFound, SourceError
from .._hashing import CHUNK
from ..storage._manifest import ManifestEntry
from ._common import (
    ETAG,
    NONE,
    SHA256,
    TIMEOUT_ENV,
    Deadline,
    RefObject,
    Scheme,
    checksum_kind,
    etag_digest,
    read_some,
    reference_timeout,
    uri_digest,
)

_USER_AGENT = "artreg (+references)"


class HttpScheme(Scheme):
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
