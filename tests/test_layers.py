"""The layers of ARCHITECTURE.md, pinned: no module imports upward, except the listed debts.

Every ``import`` of an artreg module counts: at the top, inside a function, and under
``TYPE_CHECKING`` (a type-only import is still knowledge of the layer above). A new upward
import fails here; the refactor of issue 18 (context and transaction objects below the
handles) shrinks ``UPWARD`` to empty.
"""

from __future__ import annotations

import ast
from pathlib import Path

import artreg

PACKAGE = Path(artreg.__file__).parent

# Lowest first. A module may import its own layer and any layer below it.
LAYERS: dict[str, set[str]] = {
    "base": {"_errors", "_names", "_clock", "_progress", "_hashing", "_version", "_rows"},
    "storage": {
        "storage", "storage._db", "storage._schema", "storage._pg", "storage._pg_sql", "storage._pg_schema", "storage._catalog_open",
        "storage._location", "storage._manifest", "storage._chunks",
        "storage._chunkcheck", "storage._blob_rows", "storage._blobs", "storage._blob_cache", "storage._s3",
        "storage._s3_store", "storage._s3_gc", "storage._storage", "storage._root",
    },
    "content": {
        "references", "references._common", "references._file", "references._http", "references._s3",
        "_localfiles", "_sources", "_walk",
    },
    "domain": {
        "_context", "_access", "_audit", "_events", "_projects", "_aliases", "_lifecycle", "_links", "_draft", "_based",
        "_chunkcache", "_ingest", "_log_artifact",
        "_download", "_cache", "_paths", "_gc", "_diff", "_lineage", "_svg", "_search", "_filters", "_filters_pg", "_suggest",
        "_webhooks", "_tar", "_bundle", "_bundle_read", "_export", "_import", "_copy",
        "_run_rows",
    },
    "handles": {
        "_registry", "_handle", "_versions", "_collection_edit", "_catalog", "_runs", "_run_data", "_run_exit",
        "_distributed", "_automations",
    },
    "frontends": {"cli", "_copy_command", "_web", "_render", "_demo", "filesystem", "wandb"},
    "package": {"__init__", "__main__"},
}
RANK = {module: rank for rank, modules in enumerate(LAYERS.values()) for module in modules}

# Today's upward imports: (importer, imported). Each is a debt, not a design; the refactor
# pays them off and nothing may be added.
UPWARD: set[tuple[str, str]] = {
    # A frozen draft names the version it became (ArtifactVersion, under TYPE_CHECKING).
    ("_draft", "_versions"),
}


# Front ends kept as packages count as one module each, whatever their inner modules import.
WHOLE = {"wandb", "cli"}


def key(parts: list[str] | tuple[str, ...]) -> str:
    """The name a module has in LAYERS: its dotted path under artreg (a package by its own name)."""
    if not parts:
        return "__init__"
    if parts[0] in WHOLE:
        return parts[0]
    return ".".join(parts)


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    if parts == ("__init__",):
        return "__init__"
    return key(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(parts: list[str]) -> bool:
    where = PACKAGE.joinpath(*parts)
    return where.with_suffix(".py").is_file() or (where / "__init__.py").is_file()


def imports_of(path: Path) -> set[str]:
    """The artreg modules a file imports, anywhere in it."""
    rel = path.relative_to(PACKAGE).with_suffix("").parts
    package = rel[:-1]  # the package the file is in: () for artreg itself
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = [*package[: len(package) - (node.level - 1)], *(node.module.split(".") if node.module else [])]
            elif node.module and (node.module == "artreg" or node.module.startswith("artreg.")):
                base = node.module.split(".")[1:]
            else:
                continue
            # `from .storage import _db` imports the module storage._db; `from ._db import X` imports _db.
            submodules = [[*base, alias.name] for alias in node.names if is_module([*base, alias.name])]
            targets = submodules or [base]
        elif isinstance(node, ast.Import):
            targets = [a.name.split(".")[1:] for a in node.names if a.name == "artreg" or a.name.startswith("artreg.")]
        else:
            continue
        for target in targets:
            found.add(key(target))
    return found


def graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        edges.setdefault(module_name(path), set()).update(imports_of(path))
    return edges


def test_every_module_has_a_layer() -> None:
    assert set(graph()) == set(RANK), "place the new module in a layer of ARCHITECTURE.md and here"


def test_no_module_imports_upward_beyond_the_pinned_debts() -> None:
    upward = {(src, dst) for src, targets in graph().items() for dst in targets if RANK[dst] > RANK[src]}
    assert upward - UPWARD == set(), "a new upward import: pass what is needed down instead"
    assert UPWARD - upward == set(), "a debt was paid off: remove it from UPWARD"


def test_nothing_below_the_handles_imports_the_facade_except_the_pinned_debts() -> None:
    below = {src for src, targets in graph().items() if "_registry" in targets and RANK[src] < RANK["_registry"]}
    assert below == {src for src, dst in UPWARD if dst == "_registry"}


def test_the_layer_test_sees_function_local_and_type_only_imports() -> None:
    source = PACKAGE / "_versions.py"
    assert "_catalog" in imports_of(source)  # imported only inside ArtifactVersion.link()
    assert "_registry" in imports_of(source)  # only under TYPE_CHECKING
