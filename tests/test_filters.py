"""SPEC §11: ``reg.versions(filter=...)``, MongoDB-style filters compiled to one SQL query."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import artreg
from artreg._filters import version_ids
from conftest import CATALOGS, Clock, made_by, make

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)

# name, type, size of its one file, metadata, aliases, tags; logged an hour apart from T0.
ROWS: list[tuple[str, str, int, dict[str, Any], list[str], list[str]]] = [
    ("cnn", "model", 10, {"acc": 0.91, "opt": "adam", "cfg": {"lr": 0.01, "layers": 3}, "ok": True}, ["best"], ["vision"]),
    ("cnn", "model", 20, {"acc": 0.95, "opt": "sgd", "cfg": {"lr": 0.001, "layers": 5}, "ok": False}, ["production"], ["vision", "big"]),
    ("rnn", "model", 30, {"acc": "n/a", "opt": "adam", "labels": ["a", "b"], "ok": None}, [], ["text"]),
    ("rnn", "model", 40, {"acc": 1, "cfg": {"lr": 0.1}}, ["candidate"], []),
    ("zoo", "dataset", 50, {"rows": 101}, [], ["raw"]),
]


@pytest.fixture(params=CATALOGS)
def reg(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[artreg.Registry]:
    clock = Clock(T0)
    with artreg.open(made_by(request, tmp_path, "r", "boss"), user="boss", clock=clock) as registry:
        for hour, (name, type_, size, metadata, aliases, tags) in enumerate(ROWS):
            clock.now = T0 + timedelta(hours=hour)
            art = make(name, type=type_, f="x" * size)
            art.metadata = metadata
            registry.log_artifact(art, project="p", aliases=aliases, tags=tags)
        yield registry


def names(reg: artreg.Registry, spec: dict[str, Any] | None, **kwargs: Any) -> list[str]:
    return [v.name for v in reg.versions(spec, **kwargs)]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (None, ["zoo:v0", "rnn:v1", "rnn:v0", "cnn:v1", "cnn:v0"]),
        ({}, ["zoo:v0", "rnn:v1", "rnn:v0", "cnn:v1", "cnn:v0"]),
        ({"name": "cnn"}, ["cnn:v1", "cnn:v0"]),
        ({"name": {"$ne": "cnn"}, "type": "model"}, ["rnn:v1", "rnn:v0"]),
        ({"type": {"$in": ["dataset", "table"]}}, ["zoo:v0"]),
        ({"name": {"$nin": ["cnn", "zoo"]}}, ["rnn:v1", "rnn:v0"]),
        ({"name": {"$regex": "^.nn$"}, "size": {"$gt": 10, "$lte": 30}}, ["rnn:v0", "cnn:v1"]),
        ({"name": {"$regex": "CNN", "$options": "i"}}, ["cnn:v1", "cnn:v0"]),
        ({"size": {"$gte": 40}}, ["zoo:v0", "rnn:v1"]),
        ({"size": {"$lt": 20.5}}, ["cnn:v1", "cnn:v0"]),
        ({"size": {"$exists": True}, "name": "zoo"}, ["zoo:v0"]),
        ({"size": {"$exists": False}}, []),
        # created_at: ISO strings (with or without a zone) or datetimes
        ({"created_at": {"$gte": "2026-03-01T14:00:00Z"}}, ["zoo:v0", "rnn:v1", "rnn:v0"]),
        ({"created_at": {"$lt": T0 + timedelta(hours=1)}}, ["cnn:v0"]),
        ({"created_at": {"$gt": "2026-03-01T14:30:00+01:00", "$lt": datetime(2026, 3, 1, 14, 30)}}, ["rnn:v0"]),
        ({"created_at": {"$in": ["2026-03-01T12:00:00Z", T0 + timedelta(hours=4)]}}, ["zoo:v0", "cnn:v0"]),
        # aliases and tags hold several values: any of them may match; $ne/$nin: none may
        ({"alias": "best"}, ["cnn:v0"]),
        ({"alias": "latest"}, ["zoo:v0", "rnn:v1", "cnn:v1"]),
        ({"alias": {"$ne": "latest"}}, ["rnn:v0", "cnn:v0"]),
        ({"alias": {"$in": ["best", "candidate"]}}, ["rnn:v1", "cnn:v0"]),
        ({"alias": {"$nin": ["latest", "best"]}}, ["rnn:v0"]),
        ({"alias": {"$regex": "^prod"}}, ["cnn:v1"]),
        ({"alias": {"$gt": "c", "$lt": "d"}}, ["rnn:v1"]),
        ({"tag": "vision"}, ["cnn:v1", "cnn:v0"]),
        ({"tag": {"$exists": False}}, ["rnn:v1"]),
        ({"tag": {"$ne": "vision", "$exists": True}}, ["zoo:v0", "rnn:v0"]),
        # metadata: typed comparisons, nested keys, null and missing, whole values
        ({"metadata.acc": {"$gt": 0.92}}, ["rnn:v1", "cnn:v1"]),
        ({"metadata.acc": {"$gte": "a"}}, ["rnn:v0"]),
        ({"metadata.acc": 1}, ["rnn:v1"]),
        ({"metadata.acc": 1.0}, ["rnn:v1"]),
        ({"metadata.acc": "n/a"}, ["rnn:v0"]),
        ({"metadata.ok": True}, ["cnn:v0"]),
        ({"metadata.ok": False}, ["cnn:v1"]),
        ({"metadata.ok": 1}, []),
        ({"metadata.ok": None}, ["zoo:v0", "rnn:v1", "rnn:v0"]),
        ({"metadata.ok": {"$ne": None}}, ["cnn:v1", "cnn:v0"]),
        ({"metadata.ok": {"$exists": True}}, ["rnn:v0", "cnn:v1", "cnn:v0"]),
        ({"metadata.opt": {"$ne": "adam"}}, ["zoo:v0", "rnn:v1", "cnn:v1"]),
        ({"metadata.opt": {"$nin": ["adam", "sgd"]}}, ["zoo:v0", "rnn:v1"]),
        ({"metadata.opt": {"$in": ["sgd", None]}}, ["zoo:v0", "rnn:v1", "cnn:v1"]),
        ({"metadata.opt": {"$in": []}}, []),
        ({"metadata.cfg.lr": {"$lt": 0.05}}, ["cnn:v1", "cnn:v0"]),
        ({"metadata.cfg.layers": {"$exists": False}, "type": "model"}, ["rnn:v1", "rnn:v0"]),
        ({"metadata.cfg": {"lr": 0.1}}, ["rnn:v1"]),
        ({"metadata.labels": ["a", "b"]}, ["rnn:v0"]),
        ({"metadata.labels": ["b", "a"]}, []),
        ({"metadata.opt": {"$regex": "^ad"}}, ["rnn:v0", "cnn:v0"]),
        ({"metadata.acc": {"$regex": "9"}}, []),  # numbers are not text
        # $and / $or
        ({"$or": [{"name": "zoo"}, {"metadata.acc": {"$gte": 0.95}}]}, ["zoo:v0", "rnn:v1", "cnn:v1"]),
        ({"$and": [{"type": "model"}, {"$or": [{"alias": "best"}, {"tag": "text"}]}]}, ["rnn:v0", "cnn:v0"]),
        ({"$or": [{"name": "cnn", "size": 10}, {"name": "rnn", "size": 40}]}, ["rnn:v1", "cnn:v0"]),
    ],
)
def test_filters(reg: artreg.Registry, spec: dict[str, Any] | None, expected: list[str]) -> None:
    assert names(reg, spec) == expected


def test_order_limit_and_scope(reg: artreg.Registry) -> None:
    assert names(reg, {"type": "model"}, order="metadata.cfg.lr", limit=3) == ["rnn:v0", "cnn:v1", "cnn:v0"]  # null sorts first
    assert names(reg, None, order="-size", limit=2) == ["zoo:v0", "rnn:v1"]
    assert names(reg, None, order="name") == ["cnn:v0", "cnn:v1", "rnn:v0", "rnn:v1", "zoo:v0"]
    assert names(reg, None, order="+created_at", limit=1) == ["cnn:v0"]
    assert names(reg, {"name": "cnn"}, order="-index") == ["cnn:v1", "cnn:v0"]
    reg.log_artifact(make("cnn", type="model", f="other"), project="q")
    assert names(reg, {"name": "cnn"}, project="q") == ["cnn:v0"]
    assert names(reg, {"name": "cnn"}, project="nowhere") == []
    (version,) = reg.versions({"name": "cnn", "size": 10})
    assert isinstance(version, artreg.ArtifactVersion) and version.metadata["opt"] == "adam"


def test_deleted_versions_are_left_out(reg: artreg.Registry) -> None:
    reg.artifact("p/cnn:v0").delete(delete_aliases=True)
    assert names(reg, {"name": "cnn"}) == ["cnn:v1"]
    reg.collection("p/rnn").delete()
    assert names(reg, {"type": "model"}) == ["cnn:v1"]


def test_links_filter_on_their_sources_metadata_and_tags_and_their_own_aliases(reg: artreg.Registry) -> None:
    reg.artifact("p/cnn:v1").link("wandb-registry-model/Vision", aliases=["staging"])
    reg.artifact("p/rnn:v1").link("wandb-registry-model/Vision")
    assert names(reg, {"metadata.opt": "sgd"}, registry="model") == ["Vision:v0"]
    assert names(reg, {"tag": "big"}, registry="model") == ["Vision:v0"]
    assert names(reg, {"alias": "production"}, registry="model") == []  # the source's alias is its own
    assert names(reg, {"alias": "staging"}, project="wandb-registry-model") == ["Vision:v0"]
    assert names(reg, {"metadata.acc": {"$gte": 0.95}}) == ["rnn:v1", "cnn:v1"]  # no registry: project versions only
    assert names(reg, {"metadata.acc": {"$gte": 0.95}}, registry="model", order="metadata.acc") == ["Vision:v0", "Vision:v1"]
    vault = reg.create_registry("vault", visibility="restricted")
    reg.artifact("p/cnn:v0").link("wandb-registry-vault/Secret")
    with artreg.open(reg.path, user="eve") as eve:
        assert names(eve, {"alias": "staging"}, registry="model") == ["Vision:v0"]
        with pytest.raises(artreg.PermissionDenied, match="vault"):
            eve.versions(registry="vault")
    vault.add_member("eve", "restricted_viewer")
    with artreg.open(reg.path, user="eve") as eve:
        assert names(eve, None, registry="vault") == ["Secret:v0"]
    with pytest.raises(artreg.NotFound, match="nope"):
        reg.versions(registry="nope")


def test_a_filter_is_one_query(reg: artreg.Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    """On PostgreSQL a $regex first reads the field's distinct values (matched in Python): one more query."""
    spec = {"$or": [{"metadata.cfg.lr": {"$lt": 0.05}}, {"tag": {"$regex": "te"}}], "alias": {"$nin": ["x"]}, "size": {"$gt": 0}}
    statements: list[str] = []

    def trace(_cursor: Any, sql: str, _bindings: Any) -> bool:
        statements.append(sql)
        return True

    with reg._db.read() as con:
        if reg._db.dialect == "postgresql":
            run = type(con)._run
            monkeypatch.setattr(type(con), "_run", lambda self, sql, params: (statements.append(sql), run(self, sql, params))[1])
        con.exec_trace = trace
        try:
            ids = version_ids(reg._ctx, con, spec, registry=None, project=None, order="metadata.cfg.lr", limit=None)
        finally:
            con.exec_trace = None
    assert len(ids) == 3
    assert len(statements) == (2 if reg._db.dialect == "postgresql" else 1)  # one SELECT, every value bound
    assert "0.05" not in statements[-1] and "'te'" not in statements[-1] and "'x'" not in statements[-1]


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ({"colour": "red"}, "unknown filter field 'colour'"),
        ({"metadata": {"a": 1}}, "unknown filter field 'metadata'"),
        ({"name": {"$like": "c%"}}, "unknown filter operator '\\$like'"),
        ({"$nor": [{"name": "cnn"}]}, "unknown filter operator '\\$nor'"),
        ({"name": {"$eq": "cnn", "size": 3}}, "unknown filter operator 'size'"),
        ({"$or": {"name": "cnn"}}, "\\$or takes a non-empty list"),
        ({"$and": []}, "\\$and takes a non-empty list"),
        ({"$or": ["name"]}, "a filter is a dict"),
        ({"name": {"$regex": "(unclosed"}}, "not a valid pattern"),
        ({"tag": {"$regex": 3}}, "takes a pattern string"),
        ({"name": {"$regex": "c", "$options": "g"}}, "\\$options"),
        ({"name": {"$options": "i"}}, "needs a \\$regex"),
        ({"size": {"$regex": "1"}}, "does not apply to filter field 'size'"),
        ({"name": {"$exists": 1}}, "takes True or False"),
        ({"name": {"$in": "cnn"}}, "takes a list"),
        ({"name": 3}, "compares with strings"),
        ({"alias": ["best"]}, "compares with strings"),
        ({"size": "big"}, "numbers of bytes"),
        ({"size": True}, "numbers of bytes"),
        ({"created_at": "yesterday"}, "not an ISO-8601 time"),
        ({"created_at": 1700000000}, "ISO-8601 strings or datetimes"),
        ({"metadata.acc": {"$gt": None}}, "compares with a number or a string"),
        ({"metadata.acc": {"$gt": True}}, "compares with a number or a string"),
        ({"metadata.acc": {"$gt": math.inf}}, "not a JSON number"),
        ({"metadata.acc": {1, 2}}, "compares with JSON values"),
        ({'metadata.a"b': 1}, "metadata keys"),
        ({"metadata.a..b": 1}, "metadata keys"),
        ({3: 1}, "field names are strings"),
        ("name", "a filter is a dict"),
    ],
)
def test_bad_filters_are_invalid_name(reg: artreg.Registry, spec: Any, match: str) -> None:
    with pytest.raises(artreg.InvalidName, match=match):
        reg.versions(spec)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"order": "colour"}, "cannot order by 'colour'"),
        ({"order": "-"}, "order must be a field name"),
        ({"order": 3}, "order must be a field name"),
        ({"limit": 0}, "limit must be a positive"),
        ({"limit": "10"}, "limit must be a positive"),
        ({"registry": "model", "project": "p"}, "not both"),
        ({"project": "a/b"}, "project name"),
    ],
)
def test_bad_arguments_are_invalid_name(reg: artreg.Registry, kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(artreg.InvalidName, match=match):
        reg.versions(None, **kwargs)


# -- metadata comparisons against a model of the documented semantics ------------------------

SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.sampled_from([-1.5, 0.5, 2.0]), st.sampled_from(["", "a", "b", "2"]))
OPS = ["$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists"]


def model_match(present: bool, stored: Any, op: str, operand: Any) -> bool:
    """What the module docstring promises, in Python."""

    def kind(value: Any) -> str:
        if value is None:
            return "null"
        if isinstance(value, bool):
            return "bool"
        return "number" if isinstance(value, (int, float)) else "text"

    def equals(value: Any) -> bool:
        if value is None:
            return not present or stored is None
        return present and kind(stored) == kind(value) and stored == value

    if op == "$exists":
        return present == operand
    if op == "$eq":
        return equals(operand)
    if op == "$ne":
        return not equals(operand)
    if op in ("$in", "$nin"):
        return any(equals(item) for item in operand) == (op == "$in")
    if not present or kind(stored) != kind(operand):
        return False
    return {"$gt": stored > operand, "$gte": stored >= operand, "$lt": stored < operand, "$lte": stored <= operand}[op]


def operands(op: str) -> st.SearchStrategy[Any]:
    if op == "$exists":
        return st.booleans()
    if op in ("$in", "$nin"):
        return st.lists(SCALARS, max_size=3)
    if op in ("$eq", "$ne"):
        return SCALARS
    return st.one_of(st.integers(-3, 3), st.sampled_from([-1.5, 0.5, "", "a", "b", "2"]))


@settings(max_examples=60, deadline=None)
@given(
    stored=st.lists(st.tuples(st.booleans(), SCALARS), min_size=1, max_size=6),
    op_and_operand=st.sampled_from(OPS).flatmap(lambda op: st.tuples(st.just(op), operands(op))),
)
def test_metadata_comparisons_match_the_model(stored: list[tuple[bool, Any]], op_and_operand: tuple[str, Any]) -> None:
    op, operand = op_and_operand
    with artreg.open(":memory:") as reg:
        for i, (present, value) in enumerate(stored):
            art = make(f"m{i}", f=str(i))
            art.metadata = {"k": value} if present else {}
            reg.log_artifact(art, project="p")
        got = {v.collection_name for v in reg.versions({"metadata.k": {op: operand}})}
    expected = {f"m{i}" for i, (present, value) in enumerate(stored) if model_match(present, value, op, operand)}
    assert got == expected
