"""What the command line prints: a result as text or JSON, an error as one line, exit codes."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

from .. import _errors as errors

Result = dict[str, Any]
Show = Callable[[Result], None]  # prints a result as text

EXIT_CODES: dict[type[errors.ArtregError], int] = {
    errors.NotFound: 3,
    errors.InvalidName: 4,
    errors.TypeMismatch: 5,
    errors.AlreadyExists: 6,
    errors.PermissionDenied: 7,
    errors.IntegrityError: 8,
    errors.Busy: 9,
    errors.SchemaError: 10,
    errors.Conflict: 11,
    errors.StoreError: 12,
    errors.StoreNotFound: 13,
    errors.StoreDenied: 14,
    errors.StoreUnavailable: 15,
    errors.DiskError: 16,
    errors.SourceError: 17,
    errors.MissingExtra: 18,
    errors.CatalogUnavailable: 19,
    errors.CatalogDenied: 20,
    errors.ArtregError: 1,
}
USAGE_EXIT = 2


def exit_code(exc: errors.ArtregError) -> int:
    """The process exit code for an error: the most specific class's, else 1."""
    return EXIT_CODES[_error_class(exc)]


def _error_class(exc: errors.ArtregError) -> type[errors.ArtregError]:
    """The most specific class of ``EXIT_CODES`` that ``exc`` is (its public name and code)."""
    return next(cls for cls in type(exc).__mro__ if cls in EXIT_CODES)  # ArtregError is always there


def _fail(error: str, message: str, code: int, as_json: bool) -> int:
    """Report an error on stderr, one line (a JSON object under ``--json``); returns ``code``."""
    line = " ".join(message.split("\n"))
    if as_json:
        print(json.dumps({"error": error, "message": line, "exit_code": code}), file=sys.stderr)
    else:
        print(f"artreg: error: {line}", file=sys.stderr)
    return code


def _emit(result: Result, show: Show, as_json: bool) -> None:
    if as_json:
        print(json_document(result))
    else:
        show(result)


def json_document(result: Result) -> str:
    """What ``--json`` prints for a command's result (without the final newline)."""
    return json.dumps({k: v for k, v in result.items() if k not in ("verb", "text")}, indent=2, sort_keys=True, default=str)


