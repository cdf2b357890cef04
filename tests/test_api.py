"""The public surface: what `import artreg` offers, and the exception tree."""

from __future__ import annotations

import pytest

import artreg

PUBLIC = [
    "AlreadyExists",
    "Artifact",
    "ArtifactVersion",
    "ArtregError",
    "Automation",
    "AutomationEvent",
    "BundleSummary",
    "Busy",
    "CacheUsage",
    "Callback",
    "CheckReport",
    "Collection",
    "Conflict",
    "Copied",
    "CopyReport",
    "Delivery",
    "DeliveryAttempt",
    "DeliveryReport",
    "DraftEntry",
    "EntryChange",
    "FileNotFound",
    "GcReport",
    "INHERIT",
    "IntegrityError",
    "InvalidName",
    "LineageEdge",
    "LineageGraph",
    "LineageNode",
    "ManifestEntry",
    "MetadataChange",
    "MoveReport",
    "NotFound",
    "PermissionDenied",
    "Progress",
    "Ref",
    "Registry",
    "RetryPolicy",
    "Run",
    "SchemaError",
    "SearchHit",
    "StoreDenied",
    "StoreError",
    "StoreNotFound",
    "StoreUnavailable",
    "TypeMismatch",
    "VersionDiff",
    "Webhook",
    "__version__",
    "callback",
    "open",
    "parse_ref",
    "verify_bundle",
    "webhook",
]


def test_all_is_pinned_and_sorted() -> None:
    assert artreg.__all__ == PUBLIC
    assert sorted(artreg.__all__) == artreg.__all__
    for name in artreg.__all__:
        assert hasattr(artreg, name), name


@pytest.mark.parametrize(
    ("cls", "builtin"),
    [
        (artreg.NotFound, LookupError),
        (artreg.FileNotFound, FileNotFoundError),
        (artreg.FileNotFound, artreg.NotFound),
        (artreg.InvalidName, ValueError),
        (artreg.TypeMismatch, ValueError),
        (artreg.AlreadyExists, ValueError),
        (artreg.PermissionDenied, PermissionError),
        (artreg.Conflict, Exception),
        (artreg.IntegrityError, Exception),
        (artreg.Busy, TimeoutError),
        (artreg.SchemaError, Exception),
        (artreg.StoreError, OSError),
        (artreg.StoreNotFound, LookupError),
        (artreg.StoreDenied, PermissionError),
        (artreg.StoreUnavailable, ConnectionError),
    ],
)
def test_every_error_formats_and_subclasses_its_builtin(cls: type[artreg.ArtregError], builtin: type) -> None:
    exc = cls(f"something about {cls.__name__}")
    assert isinstance(exc, artreg.ArtregError)
    assert isinstance(exc, builtin)
    assert str(exc) == f"something about {cls.__name__}"
    with pytest.raises(builtin):
        raise exc


def test_file_not_found_is_an_os_error_with_enoent_and_pickles() -> None:
    import errno
    import pickle

    exc = artreg.FileNotFound("zoo/ds:v0 has no entry 'x.csv'")
    assert exc.errno == errno.ENOENT
    assert str(exc) == "zoo/ds:v0 has no entry 'x.csv'"  # not OSError's "[Errno 2] ..." form
    again = pickle.loads(pickle.dumps(exc))
    assert type(again) is artreg.FileNotFound and str(again) == str(exc) and again.errno == errno.ENOENT
    # The CLI maps it to NotFound's exit code.
    from artreg.cli import exit_code

    assert exit_code(exc) == exit_code(artreg.NotFound("x")) == 3


def test_integrity_error_carries_the_paths() -> None:
    exc = artreg.IntegrityError("differs", missing=["a"], extra=["b"], mismatched=["c"])
    assert (exc.missing, exc.extra, exc.mismatched) == (["a"], ["b"], ["c"])
    assert artreg.IntegrityError("x").missing == []
