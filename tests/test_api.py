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
    "Callback",
    "CheckReport",
    "Collection",
    "Copied",
    "CopyReport",
    "Delivery",
    "DeliveryAttempt",
    "DeliveryReport",
    "DraftEntry",
    "GcReport",
    "INHERIT",
    "IntegrityError",
    "InvalidName",
    "LineageEdge",
    "LineageGraph",
    "LineageNode",
    "ManifestEntry",
    "NotFound",
    "PermissionDenied",
    "Progress",
    "Ref",
    "Registry",
    "RetryPolicy",
    "Run",
    "SchemaError",
    "SearchHit",
    "TypeMismatch",
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
        (artreg.InvalidName, ValueError),
        (artreg.TypeMismatch, ValueError),
        (artreg.AlreadyExists, ValueError),
        (artreg.PermissionDenied, PermissionError),
        (artreg.IntegrityError, Exception),
        (artreg.Busy, TimeoutError),
        (artreg.SchemaError, Exception),
    ],
)
def test_every_error_formats_and_subclasses_its_builtin(cls: type[artreg.ArtregError], builtin: type) -> None:
    exc = cls(f"something about {cls.__name__}")
    assert isinstance(exc, artreg.ArtregError)
    assert isinstance(exc, builtin)
    assert str(exc) == f"something about {cls.__name__}"
    with pytest.raises(builtin):
        raise exc


def test_integrity_error_carries_the_paths() -> None:
    exc = artreg.IntegrityError("differs", missing=["a"], extra=["b"], mismatched=["c"])
    assert (exc.missing, exc.extra, exc.mismatched) == (["a"], ["b"], ["c"])
    assert artreg.IntegrityError("x").missing == []
