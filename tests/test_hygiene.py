"""Small rules the code keeps: SQL from constants, one chunk size, one user-name rule."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import artreg
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
