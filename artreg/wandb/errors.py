"""W&B's exception classes, where W&B code catches them; each is also an :class:`artreg.ArtregError`.

    Error(ArtregError)                     W&B's base error
    ├── CommError                          W&B: talking to the server failed; here: what is asked for is not there
    │   └── AuthenticationError
    └── UsageError                         the SDK was used in a way it does not allow
        └── UnsupportedError               a W&B feature artreg does not offer offline
    WandbCoreNotAvailableError(Error)
    ArtifactNotLoggedError(ArtregError, AttributeError)   a logged artifact's property read on a draft
    ArtifactFinalizedError(ArtregError, AttributeError)   a logged artifact edited as a draft
    WaitTimeoutError(Error)

A missing artifact raises ``ArtifactNotFoundError``, a CommError that is also
:class:`artreg.NotFound`, so ``except wandb.errors.CommError`` and ``except artreg.NotFound``
both catch it.
"""

from __future__ import annotations

from typing import Any

from .._errors import ArtregError, NotFound

__all__ = [
    "ArtifactFinalizedError",
    "ArtifactNotFoundError",
    "ArtifactNotLoggedError",
    "AuthenticationError",
    "CommError",
    "Error",
    "UnsupportedError",
    "UsageError",
    "WaitTimeoutError",
    "WandbCoreNotAvailableError",
]


class Error(ArtregError):
    """Base W&B error."""

    def __init__(self, message: str, context: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        if context:
            self.context = context


class CommError(Error):
    """W&B's error for a failed request; artreg raises it where W&B's server would answer "not found"."""

    def __init__(self, msg: str, exc: Exception | None = None) -> None:
        super().__init__(msg)
        self.exc = exc


class ArtifactNotFoundError(CommError, NotFound):
    """No artifact (or collection, or run) of that name: W&B's CommError, and artreg's NotFound."""


class AuthenticationError(CommError):
    """Raised when authentication fails (never, offline)."""


class UsageError(Error):
    """Raised when an invalid usage of the SDK API is detected."""


class UnsupportedError(UsageError):
    """A W&B feature that artreg does not offer (media objects, run files)."""


class WandbCoreNotAvailableError(Error):
    """Raised when wandb core is not available (never, here)."""


class WaitTimeoutError(Error):
    """``wait(timeout=...)`` ran out (never, here: logging is synchronous)."""


class ArtifactNotLoggedError(ArtregError, AttributeError):
    """A property or method of a logged artifact used on a draft, with W&B's message."""

    def __init__(self, fullname: str, obj: object = None) -> None:
        message = (
            f"{fullname!r} used prior to logging artifact or while in offline mode. "
            "Call wait() before accessing logged artifact properties."
        )
        super().__init__(message)
        self.name = fullname.rpartition(".")[2]
        self.obj = obj


class ArtifactFinalizedError(ArtregError, AttributeError):
    """A draft-only method used on a logged artifact, with W&B's message."""

    def __init__(self, fullname: str, obj: object = None) -> None:
        super().__init__(f"{fullname!r} used on logged artifact. Can't modify finalized artifact.")
        self.name = fullname.rpartition(".")[2]
        self.obj = obj
