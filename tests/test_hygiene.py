"""Small rules the code keeps: SQL from constants, one chunk size, one user-name rule."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import NamedTuple

import pytest

import artreg
from artreg._rows import select_list
from conftest import make

ARTREG = Path(artreg.__file__).parent
# Where an f-string reaches execute() with something other than a module constant in it, and
# why that is safe. Column and table names are never built from input: they are constants.
DYNAMIC_SQL = {
    ("_audit.py", "entries"),  # WHERE clauses over a fixed tuple of column names; values bound
    ("_db.py", "migrate"),  # PRAGMA user_version / application_id take integers, not parameters
}


def modules() -> list[Path]:
    return sorted(ARTREG.rglob("*.py"))


def _functions(tree: ast.AST) -> dict[ast.AST, str]:
    owner: dict[ast.AST, str] = {}
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for node in ast.walk(fn):
                owner.setdefault(node, fn.name)
    return owner


def test_sql_handed_to_execute_is_built_from_constants() -> None:
    found = set()
    for path in modules():
        tree = ast.parse(path.read_text())
        owner = _functions(tree)
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in ("execute", "executemany") and node.args):
                continue
            sql = node.args[0]
            if isinstance(sql, ast.JoinedStr):
                names = [v.value for v in sql.values if isinstance(v, ast.FormattedValue)]
                if not all(isinstance(n, ast.Name) and n.id.isupper() for n in names):
                    found.add((path.name, owner.get(node, "<module>")))
    assert found == DYNAMIC_SQL


class _Pair(NamedTuple):
    a: int
    b: str


def test_a_typed_row_and_its_select_list_cannot_drift() -> None:
    assert select_list(_Pair, {"a": "t.a", "b": "upper(t.b)"}) == "t.a, upper(t.b)"
    for wrong in ({"b": "t.b", "a": "t.a"}, {"a": "t.a"}, {"a": "t.a", "b": "t.b", "c": "t.c"}):
        with pytest.raises(TypeError, match="_Pair"):
            select_list(_Pair, wrong)


def test_typed_rows_read_every_column_of_their_statement(tmp_path: Path) -> None:
    """Each handle's row has a field per column its statement returns, by name."""
    from artreg._catalog import SELECT_REGISTRY, RegistryRow
    from artreg._runs import SELECT_RUN, RunRow
    from artreg._versions import SELECT_COLLECTION_ROW, SELECT_VERSION, CollectionRow, VersionRow

    with artreg.open(tmp_path / "reg", user="alice") as reg:
        with reg.init(project="p", job_type="train") as run:
            version = run.log_artifact(make(**{"a.txt": "a"}), aliases=["best"])
        reg.create_registry("models")
        con = reg._db.connection()
        for sql, row_type, key in (
            (SELECT_VERSION, VersionRow, version.id), (SELECT_COLLECTION_ROW, CollectionRow, version.collection.id),
            (SELECT_RUN, RunRow, run._row_id()), (SELECT_REGISTRY, RegistryRow, reg.registry("models").id),
        ):
            assert len(con.execute(sql, (key,)).fetchone()) == len(row_type._fields)
        row = VersionRow._make(con.execute(SELECT_VERSION, (version.id,)).fetchone())
        assert (row.idx, row.collection_name, row.project, row.aliases) == (0, "ds", "p", '["best","latest"]')


def test_one_chunk_size_and_one_sha256_helper() -> None:
    defined = []
    for path in modules():
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "CHUNK" for t in node.targets):
                defined.append(path.name)
            if isinstance(node, ast.FunctionDef) and node.name in ("_hash_stream", "_hash_file_path", "_holds_bytes"):
                defined.append(f"{path.name}:{node.name}")
    assert defined == ["_hashing.py"]


@pytest.mark.parametrize("user", ["", "tab\there", "del\x7f", "c1\x85", "surrogate\ud800", 42])
def test_one_user_name_rule_for_the_acting_user_and_members(tmp_path: Path, user: object) -> None:
    with pytest.raises(artreg.InvalidName, match="user name"):
        artreg.open(tmp_path / "reg", user=user)  # type: ignore[arg-type]
    assert not (tmp_path / "reg").exists()
    with artreg.open(":memory:", user="admin") as reg:
        reg.log_artifact(make(x="a"), project="p")
        models = reg.create_registry("models")
        with pytest.raises(artreg.InvalidName, match="user name"):
            models.add_member(user)  # type: ignore[arg-type]
        assert models.members() == {"admin": "admin"}


def test_any_other_user_name_is_taken_as_given(tmp_path: Path) -> None:
    name = "Ada Lovelace <ada@example.org> " + "é" * 200
    with artreg.open(tmp_path / "reg", user=name) as reg:
        models = reg.create_registry("models")
        models.add_member("bob.o'neil")
        assert models.members() == {name: "admin", "bob.o'neil": "member"}
