"""Where a catalog in PostgreSQL once answered differently from the SQLite file (SPEC §18).

Each test runs on both catalogs (``reg``) with the answer SQLite gives written out, or
compares the two catalogs holding the same data: the PostgreSQL catalog must be the same
registry, not a similar one.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

import artreg
from artreg.storage import _pg
from artreg.storage._pg_sql import translate
from conftest import make


def logged(reg: artreg.Registry, name: str, metadata: dict[str, Any], content: str, **options: Any) -> None:
    art = make(name, f=content)
    art.metadata = metadata
    reg.log_artifact(art, **options)


def names(reg: artreg.Registry, spec: Any = None, **options: Any) -> list[str]:
    return [v.qualified_name.split("/")[-1] for v in reg.versions(spec, **options)]


def test_a_filter_on_aliases_not_existing_runs_on_both_catalogs(reg: artreg.Registry) -> None:
    reg.log_artifact(make("a", f="1"), aliases=["best"])
    reg.log_artifact(make("b", f="2"))
    assert names(reg, {"alias": {"$exists": True}}) == ["b:v0", "a:v0"]  # "latest" counts
    assert names(reg, {"alias": {"$exists": False}}) == []
    assert names(reg, {"tag": {"$exists": False}}) == ["b:v0", "a:v0"]
    assert names(reg, {"alias": {"$exists": False}, "name": "a"}) == []


def test_a_dict_in_a_filter_equals_the_logged_dict_whatever_its_key_order(reg: artreg.Registry) -> None:
    logged(reg, "m", {"cfg": {"lr": 0.1, "layers": {"b": 2, "a": 1}}}, "1")
    for value in ({"lr": 0.1, "layers": {"a": 1, "b": 2}}, {"layers": {"b": 2, "a": 1}, "lr": 0.1}):
        assert names(reg, {"metadata.cfg": value}) == ["m:v0"]
        assert names(reg, {"metadata.cfg": {"$in": [value]}}) == ["m:v0"]
        assert names(reg, {"metadata.cfg": {"$ne": value}}) == []
    assert names(reg, {"metadata.cfg": {"lr": 0.1}}) == []


# One value per version, in the order logged (v0..v11); SQLite's json_extract orders them:
# null and missing first, numbers (true and false as 1 and 0, equal ones by id), then text in
# byte order with arrays and objects as their compact JSON text among the strings.
MIXED: list[Any] = ["b", [1, 2], {"x": 1}, 1.0, True, 2, "B", "é", -1, False, None, "MISSING", "[0]", 10**20]
MIXED_ASCENDING = ["v10", "v11", "v8", "v9", "v3", "v4", "v5", "v13", "v6", "v12", "v1", "v0", "v2", "v7"]


def test_ordering_by_a_metadata_key_of_mixed_types_is_sqlites_on_both_catalogs(reg: artreg.Registry) -> None:
    for value in MIXED:
        logged(reg, "mixed", {} if value == "MISSING" else {"k": value}, repr(value))
    ascending = [n.split(":")[1] for n in names(reg, None, order="metadata.k")]
    assert ascending == MIXED_ASCENDING
    # Descending reverses everything but ties, which stay in id order reversed (v.id DESC).
    descending = [n.split(":")[1] for n in names(reg, None, order="-metadata.k")]
    assert descending == ["v7", "v2", "v0", "v1", "v12", "v6", "v13", "v5", "v4", "v3", "v9", "v8", "v11", "v10"]


def test_registry_names_fold_ascii_case_only_on_both_catalogs(reg: artreg.Registry) -> None:
    reg.create_registry("Café")
    assert reg.registry("cAFé").name == "Café"  # ASCII letters fold, as SQLite's NOCASE
    with pytest.raises(artreg.AlreadyExists):
        reg.create_registry("CAFé")
    # Not folded by SQLite, so not the same name: another case of é, a full-width c, a soft hyphen.
    for other in ("CAFÉ", "\uff43afé", "Ca\u00adfé"):
        with pytest.raises(artreg.NotFound):
            reg.registry(other)
        assert reg.create_registry(other).name == other
    assert sorted(r.name for r in reg.registries()) == sorted(["Café", "CAFÉ", "\uff43afé", "Ca\u00adfé", "model", "dataset"])


def test_collate_nocase_becomes_an_ascii_fold_of_both_sides() -> None:
    text = translate("SELECT id FROM registries AS r WHERE r.name = ? COLLATE NOCASE AND id != ?").text
    assert text == 'SELECT id FROM registries AS r WHERE lower(r.name COLLATE "C") = lower(CAST($1 AS text) COLLATE "C") AND id != $2'
    with pytest.raises(ValueError, match="COLLATE NOCASE"):
        translate("SELECT name FROM registries ORDER BY name COLLATE NOCASE")


def test_the_same_filters_and_orders_give_the_same_versions_on_both_catalogs(pg_url: str, tmp_path: Path) -> None:
    values: list[Any] = [1, 2.5, "B", "a", None, True, False, [1, 2], {"x": 1}, 10**20, -3, "é", "", "10", 1.0, 2**63 - 1, [2, 1],
                         {"y": 1, "x": 2}]
    with artreg.open(str(tmp_path / "lite")) as lite, artreg.open(pg_url, blobs=str(tmp_path / "blobs")) as pg:
        for reg in (lite, pg):
            for i, value in enumerate(values):
                name = f"ds{i % 3}" if i % 4 else "Zed"
                logged(reg, name, {"a": value} if i != 4 else {}, str(i), aliases=[f"al{i}"] if i % 3 else [])
        probes: list[Any] = [None, {"alias": {"$exists": False}}, {"alias": {"$nin": ["al1", "al2"]}}, {"name": {"$gt": "Z"}},
                             {"$or": [{"metadata.a": 1}, {"name": "Zed"}]}, {"metadata.a": {"$regex": "^[a-z]"}}]
        for value in [1, 2.5, "B", None, True, [1, 2], {"x": 1}, 10**20, "10", 0, 2**64]:
            probes += [{"metadata.a": {op: [value] if op in ("$in", "$nin") else value}}
                       for op in ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin")]
        for spec in probes:
            for order in (None, "metadata.a", "-metadata.a", "name", "-size"):
                try:
                    expected: Any = names(lite, spec, order=order)
                except artreg.ArtregError as exc:
                    expected = type(exc)
                try:
                    got: Any = names(pg, spec, order=order)
                except artreg.ArtregError as exc:
                    got = type(exc)
                assert got == expected, (spec, order)


def test_a_writer_that_waited_too_long_gets_busy_and_its_next_calls_work(pg_url: str, tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_pg, "BEGIN_WRITE", _pg.BEGIN_WRITE.replace(f"lock_timeout = {_pg.LOCK_TIMEOUT_MS}", "lock_timeout = 200"))
    with artreg.open(pg_url, blobs=str(tmp_path / "blobs")) as holder, artreg.open(pg_url) as other:
        held, release = threading.Event(), threading.Event()

        def hold() -> None:
            with holder._db.write():
                held.set()
                release.wait(30)

        thread = threading.Thread(target=hold)
        thread.start()
        try:
            assert held.wait(30)
            with pytest.raises(artreg.Busy, match="stayed locked by another writer"):
                other.log_artifact(make("a", f="1"))
        finally:
            release.set()
            thread.join(30)
        assert other.versions() == []  # the thread's connection is not left in the failed transaction
        assert other.log_artifact(make("a", f="2")).version == "v0"


def _search_refs(reg: artreg.Registry, text: str) -> list[tuple[str, str, str]]:
    return sorted((h.kind, h.field, h.ref) for h in reg.search(text))


@pytest.fixture
def described(reg: artreg.Registry) -> artreg.Registry:
    art = make("mnist", f="1")
    art.description = "Handwritten digits, naïve café images"
    reg.log_artifact(art)
    return reg


DIGITS = [("version", "description", "uncategorized/mnist:v0")]


def test_search_ignores_words_of_punctuation_alone_as_fts5_does(described: artreg.Registry, catalog: str,
                                                               request: pytest.FixtureRequest) -> None:
    assert _search_refs(described, "digits & images") == DIGITS
    assert _search_refs(described, "&") == []


def test_search_matches_words_without_their_diacritics_as_fts5_does(described: artreg.Registry, catalog: str,
                                                                  request: pytest.FixtureRequest) -> None:
    assert _search_refs(described, "cafe") == DIGITS
    assert _search_refs(described, "NAIVE") == DIGITS

