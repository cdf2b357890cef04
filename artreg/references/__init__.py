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

Each scheme is one small class in its own module (``_file``, ``_http``, ``_s3``), a subclass of
``_common.Scheme``: ``list`` finds the objects under a URI with their digests, ``open``
streams one recorded object (NotFound when it is gone, IntegrityError when its ETag no longer
matches), ``check`` re-checks one without keeping its bytes. ``open_reference`` wraps
``open`` so that the size, and a sha256 digest, are checked when the stream ends. This module
parses a URI and hands it to its scheme (``SCHEMES``): a new scheme is a module and a line there.

Network calls give up after ``$ARTREG_REFERENCE_TIMEOUT`` seconds (default 60) without
progress on a connect or a read, and a whole fetch of one object after
``$ARTREG_REFERENCE_DEADLINE`` seconds (default 3600), so a source that drips a byte now and
then cannot hold a download forever. A source that sends more bytes than were recorded is
cut off at the first extra byte. boto3 is imported only when an ``s3://`` URI is used.
"""

from __future__ import annotations

import re
from typing import BinaryIO

from .._errors import InvalidName
from ..storage._manifest import ManifestEntry
from ._common import (
    DEFAULT_MAX_OBJECTS,
    NONE,
    SHA256,
    RefObject,
    Scheme,
    checksum_kind,
    etag_digest,
    open_checked,
    too_many,
)
from ._file import FileScheme
from ._http import HttpScheme
from ._s3 import S3Scheme

_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")

SCHEMES: dict[str, Scheme] = {"file": FileScheme(), "http": HttpScheme(), "https": HttpScheme(), "s3": S3Scheme()}


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


def parse(uri: object) -> tuple[str, Scheme]:
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
    return open_checked(_scheme_of(entry), entry)


def check_reference(entry: ManifestEntry) -> None:
    """Re-check a reference entry against its source: NotFound if gone, IntegrityError if changed."""
    _scheme_of(entry).check(entry)


def _check_max_objects(value: object) -> int:
    if value is None:
        return DEFAULT_MAX_OBJECTS
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidName(f"max_objects must be a positive integer or None, not {value!r}")
    return value


def _scheme_of(entry: ManifestEntry) -> Scheme:
    if entry.ref is None:
        raise InvalidName(f"entry {entry.path!r} is not a reference")
    return parse(entry.ref)[1]


__all__ = [
    "DEFAULT_MAX_OBJECTS", "NONE", "SHA256", "SCHEMES", "RefObject", "check_reference", "checksum_kind", "default_name",
    "etag_digest", "is_uri", "list_objects", "open_reference", "parse",
]
