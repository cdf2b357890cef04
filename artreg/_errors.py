"""The exception tree.

Every error artreg raises on purpose is an :class:`ArtregError`, and each one also
subclasses the builtin a caller would already catch::

    ArtregError
    ├── NotFound(LookupError)          no such project, collection, version, alias, path
    │   └── FileNotFound(FileNotFoundError)
    │                                  what a path names is missing: an entry, a version or a
    │                                  registry read as files (get_entry, open, path, snapshot,
    │                                  artreg://), as fsspec's callers expect
    ├── InvalidName(ValueError)        a name, alias, tag, path, reference or metadata breaks a rule
    ├── TypeMismatch(ValueError)       logging or linking a version of another type
    ├── AlreadyExists(ValueError)      a path or object that is already there
    ├── PermissionDenied(PermissionError)
    ├── Conflict                       the thing is in a state that forbids the action (a version holding aliases)
    ├── IntegrityError                 stored or downloaded bytes do not match their digest
    ├── Busy(TimeoutError)             the database stayed locked past the busy timeout
    ├── SchemaError                    not an artreg database, or one newer than this code
    └── StoreError(OSError)            the blob store (a bucket) failed; nothing was committed
        ├── StoreNotFound(LookupError)         the bucket does not exist
        ├── StoreDenied(PermissionError)       credentials missing or refused
        └── StoreUnavailable(ConnectionError)  unreachable, cut off, or failing (5xx) after retries
"""

from __future__ import annotations

import errno

__all__ = [
    "AlreadyExists",
    "ArtregError",
    "Busy",
    "FileNotFound",
    "Conflict",
    "IntegrityError",
    "InvalidName",
    "NotFound",
    "PermissionDenied",
    "SchemaError",
    "StoreDenied",
    "StoreError",
    "StoreNotFound",
    "StoreUnavailable",
    "TypeMismatch",
]


class ArtregError(Exception):
    """Root of every error artreg raises deliberately."""


class NotFound(ArtregError, LookupError):
    """The named project, collection, version, alias or path does not exist."""


class FileNotFound(NotFound, FileNotFoundError):
    """What a path names does not exist: an entry of a version, the version, or the registry.

    Both a :class:`NotFound` and the builtin ``FileNotFoundError`` (an ``OSError`` with
    ``errno.ENOENT``), which is what file APIs and fsspec's callers (pandas, pyarrow) catch.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.errno = errno.ENOENT
        self.strerror = message

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""  # the message alone, not OSError's "[Errno 2] ..." form


class InvalidName(ArtregError, ValueError):
    """A name, alias, tag, path, reference or metadata value breaks a rule."""


class TypeMismatch(ArtregError, ValueError):
    """A version's type differs from its collection's type."""


class AlreadyExists(ArtregError, ValueError):
    """The thing being created is already there (and differs)."""


class PermissionDenied(ArtregError, PermissionError):
    """The acting user's role does not allow the action."""


class Conflict(ArtregError):
    """The action conflicts with the current state: deleting a version that still holds aliases.

    Not a matter of role (that is PermissionDenied): anyone would be refused until the
    state changes, or asks explicitly (``delete_aliases=True``).
    """


class IntegrityError(ArtregError):
    """Bytes on disk or in the database do not match the digest recorded for them.

    ``missing``, ``extra`` and ``mismatched`` list the logical paths concerned when the
    error comes from :meth:`ArtifactVersion.verify`.
    """

    def __init__(
        self,
        message: str,
        *,
        missing: list[str] | None = None,
        extra: list[str] | None = None,
        mismatched: list[str] | None = None,
    ) -> None:
        super().__init__(message)
        self.missing = missing or []
        self.extra = extra or []
        self.mismatched = mismatched or []


class Busy(ArtregError, TimeoutError):
    """The registry stayed locked by another writer for longer than the busy timeout."""


class SchemaError(ArtregError):
    """The file is not an artreg database, is damaged, or was written by newer code."""


class StoreError(ArtregError, OSError):
    """The blob store (an S3 bucket) could not do what was asked; the catalog is unchanged.

    Raised after botocore's retries for what is retryable. Always built from one message
    (never OSError's ``errno, strerror`` pair).
    """


class StoreNotFound(StoreError, LookupError):
    """The bucket named by the registry's ``blobs=`` location does not exist."""


class StoreDenied(StoreError, PermissionError):
    """The store refused the credentials (missing, wrong, expired) or the action."""


class StoreUnavailable(StoreError, ConnectionError):
    """The store could not be reached, cut a transfer off, or kept failing (5xx) past the retries."""
