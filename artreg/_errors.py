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
    ├── Conflict                       the thing is in a state that forbids the action (a version holding
    │                                  aliases, a closed registry, a finished run, a logged draft)
    ├── IntegrityError                 bytes do not match what was recorded: a stored blob, a download,
    │                                  a file or reference that changed after it was added
    ├── Busy(TimeoutError)             the database stayed locked past the busy timeout
    ├── SchemaError                    not an artreg database, or one newer than this code
    ├── StoreError(OSError)            the blob store (a bucket) failed; nothing was committed
    │   ├── StoreNotFound(LookupError)         the bucket does not exist
    │   ├── StoreDenied(PermissionError)       credentials missing or refused
    │   └── StoreUnavailable(ConnectionError)  unreachable, cut off, or failing (5xx) after retries
    ├── DiskError(OSError)             a local file or folder could not be read or written: a full disk,
    │                                  a read-only folder, a failing device; nothing was committed
    ├── SourceError(OSError)           a reference's source (file://, http(s)://, s3://) could not be read
    ├── MissingExtra(ImportError)      the feature needs an optional extra that is not installed
    ├── CatalogUnavailable(ConnectionError)
    │                                  a catalog in PostgreSQL could not be reached, or the connection
    │                                  was lost mid-transaction (rolled back: nothing half written)
    └── CatalogDenied(PermissionDenied)
                                       the PostgreSQL server refused the credentials
"""

from __future__ import annotations

import errno

__all__ = [
    "AlreadyExists",
    "ArtregError",
    "Busy",
    "CatalogDenied",
    "CatalogUnavailable",
    "Conflict",
    "DiskError",
    "FileNotFound",
    "IntegrityError",
    "InvalidName",
    "MissingExtra",
    "NotFound",
    "PermissionDenied",
    "SchemaError",
    "SourceError",
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

    Also: using a closed registry, a finished run or a draft already logged, or a registry
    whose blobs moved after it was opened here.

    Not a matter of role (that is PermissionDenied): anyone would be refused until the
    state changes, or asks explicitly (``delete_aliases=True``).
    """


class IntegrityError(ArtregError):
    """Bytes do not match what was recorded for them.

    A stored blob or a download that fails its digest, and equally a local file or a
    reference that changed (size, digest, ETag) between being added and being read.

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


class DiskError(ArtregError, OSError):
    """A local file or folder could not be read or written; nothing was committed.

    A full disk or a file size limit (``errno`` ``ENOSPC``, ``EDQUOT``, ``EFBIG``), a read-only
    folder or file (``EROFS``, ``EACCES``, ``EPERM``), a failing device (``EIO``): whatever the
    cause, the registry is as it was and the message names the folder. ``errno`` is the
    cause's when there was one, else None; ``str()`` is the message alone.
    """

    def __init__(self, message: str, errno: int | None = None) -> None:
        super().__init__(message)
        self.errno = errno
        self.strerror = message

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""

    def __reduce__(self) -> tuple[type[DiskError], tuple[str, int | None]]:
        return type(self), (str(self), self.errno)


class SourceError(ArtregError, OSError):
    """A reference's source (``file://``, ``http(s)://``, ``s3://``) could not be read.

    Unreachable, refused, cut off, or slower than ``$ARTREG_REFERENCE_DEADLINE``. A source
    that is simply not there is :class:`NotFound`; one whose bytes changed is
    :class:`IntegrityError`. Always built from one message.
    """


class MissingExtra(ArtregError, ImportError):
    """The feature needs an optional extra that is not installed; the message says which to install."""


class CatalogUnavailable(ArtregError, ConnectionError):
    """A catalog in PostgreSQL could not be reached, or the connection was lost mid-transaction.

    The server rolls back a transaction whose connection is lost, so nothing was half
    written; the next call on the registry connects again.
    """


class CatalogDenied(PermissionDenied):
    """The PostgreSQL server refused the credentials in the catalog's URL (or the environment's)."""
