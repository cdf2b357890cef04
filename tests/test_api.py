"""The public surface: what `import artreg` offers, and the exception tree."""

from __future__ import annotations

from typing import Any

import pytest

import artreg

PUBLIC = [
    "AliasChange",
    "AlreadyExists",
    "Artifact",
    "ArtifactVersion",
    "ArtregError",
    "AuditEntry",
    "AuditLog",
    "Automation",
    "AutomationEvent",
    "Automations",
    "BundleSummary",
    "Busy",
    "CacheUsage",
    "Callback",
    "Catalog",
    "CatalogDenied",
    "CatalogUnavailable",
    "CheckReport",
    "Collection",
    "Conflict",
    "Copied",
    "CopyReport",
    "Delivery",
    "DeliveryAttempt",
    "DeliveryReport",
    "DiskError",
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
    "MissingExtra",
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
    "SourceError",
    "StoreDenied",
    "StoreError",
    "StoreNotFound",
    "StoreUnavailable",
    "TTL",
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
        (artreg.DiskError, OSError),
        (artreg.SourceError, OSError),
        (artreg.MissingExtra, ImportError),
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


def test_disk_error_carries_the_cause_errno_and_pickles() -> None:
    import errno
    import pickle

    exc = artreg.DiskError("the disk holding '/x' is full", errno.ENOSPC)
    assert isinstance(exc, OSError) and exc.errno == errno.ENOSPC
    assert str(exc) == "the disk holding '/x' is full"  # the message alone, not "[Errno 28] ..."
    again = pickle.loads(pickle.dumps(exc))
    assert type(again) is artreg.DiskError and str(again) == str(exc) and again.errno == errno.ENOSPC
    assert artreg.DiskError("x").errno is None


def test_every_error_class_is_public_and_has_an_exit_code() -> None:
    from artreg import _errors
    from artreg.cli import EXIT_CODES

    classes = {cls for cls in vars(_errors).values() if isinstance(cls, type) and issubclass(cls, artreg.ArtregError)}
    assert classes == {getattr(artreg, name) for name in _errors.__all__}
    assert all(getattr(artreg, cls.__name__) is cls for cls in classes)
    # FileNotFound is a NotFound (exit 3); every other class has a code of its own.
    assert classes - {artreg.FileNotFound} == set(EXIT_CODES)


def _artreg_classes(annotation: object) -> list[type]:
    import typing

    found = [annotation] if isinstance(annotation, type) and annotation.__module__.startswith("artreg") else []
    for arg in typing.get_args(annotation):
        found += _artreg_classes(arg)
    return found


def test_every_class_a_public_call_returns_or_takes_can_be_imported_from_artreg() -> None:
    """Whatever a user gets back (or passes) through the public surface, they can annotate."""
    import inspect
    import sys
    import typing

    # Names imported only under TYPE_CHECKING, found in the core modules (the W&B shim reuses
    # names such as Artifact for classes of its own).
    core = [mod for m, mod in list(sys.modules.items()) if m.startswith("artreg.") and not m.startswith("artreg.wandb")]
    names = {n: o for mod in core for n, o in vars(mod).items() if isinstance(o, type) and o.__module__.startswith("artreg._")}

    def hints_of(fn: Any) -> dict[str, Any]:
        return typing.get_type_hints(fn, localns={k: v for k, v in names.items() if k not in fn.__globals__})

    exported = {obj for name in artreg.__all__ if isinstance(obj := getattr(artreg, name), type)}
    seen: set[type] = set()
    todo = list(exported)
    missing: dict[str, str] = {}
    while todo:
        cls = todo.pop()
        if cls in seen:
            continue
        seen.add(cls)
        hints: list[tuple[str, object]] = []
        if hasattr(cls, "__dataclass_fields__") or hasattr(cls, "_fields"):
            own = vars(sys.modules[cls.__module__])
            hints += typing.get_type_hints(cls, localns={k: v for k, v in names.items() if k not in own}).items()
        for name in dir(cls):
            raw = inspect.getattr_static(cls, name, None)
            if name.startswith("_") and name not in ("__iter__", "__getitem__", "__enter__"):
                continue
            fn = raw.fget if isinstance(raw, property) else raw.__func__ if isinstance(raw, (staticmethod, classmethod)) else raw
            if inspect.isfunction(fn):
                hints += [(f"{name}:{arg}", tp) for arg, tp in hints_of(fn).items()]
        for where, annotation in hints:
            for found in _artreg_classes(annotation):
                if found not in exported:
                    missing.setdefault(found.__qualname__, f"{cls.__name__}.{where}")
                todo.append(found)
    assert missing == {}


def test_no_error_is_raised_as_the_bare_root_class() -> None:
    """Every deliberate error names its kind; the root class is only for what is not known.

    The exceptions are the last lines of ``_db.translate`` and of ``_pg.translate_error``: a
    database error of a kind artreg has no class for (it does not raise one on purpose) keeps
    the root class.
    """
    import ast
    from pathlib import Path

    found = []
    for path in sorted(Path(artreg.__file__).parent.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call) and (
                (isinstance(node.func, ast.Name) and node.func.id == "ArtregError")
                or (isinstance(node.func, ast.Attribute) and node.func.attr == "ArtregError")
            ):
                found.append(f"{path.name}:{node.lineno}")
    assert [where.split(":")[0] for where in found] == ["_db.py", "_pg.py"], found
