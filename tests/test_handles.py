"""Handles (versions, collections, registries, runs) are known by their row in the catalog.

Two handles of one row are equal and hash alike, whichever call made them and even through
two ``artreg.open`` of the same file; different rows, kinds or catalogs are never equal.
"""

from __future__ import annotations

from pathlib import Path

import artreg
from conftest import make


def handles(reg: artreg.Registry) -> dict[str, object]:
    """One handle of each kind, each looked up afresh."""
    return {
        "version": reg.artifact("p/ds:v0"),
        "collection": reg.collection("p/ds"),
        "registry": reg.registry("models"),
        "run": reg.artifact("p/ds:v0").logged_by()[0],
        "link": reg.artifact("wandb-registry-models/ds:v0"),
    }


def world(reg: artreg.Registry) -> None:
    reg.create_registry("models")
    with reg.init("p") as run:
        run.log_artifact(make(x="a")).link("wandb-registry-models/ds")


def test_two_lookups_of_one_row_are_equal_and_hash_alike(reg: artreg.Registry) -> None:
    world(reg)
    first, again = handles(reg), handles(reg)
    for kind in first:
        assert first[kind] == again[kind], kind
        assert hash(first[kind]) == hash(again[kind]), kind
        assert first[kind] is not again[kind]
    assert reg.collection("p/ds") == reg.collection("p/ds")  # False before handles had a shared base
    assert len(set(first.values()) | set(again.values())) == len(first)  # one set entry per row


def test_different_rows_and_kinds_are_never_equal(reg: artreg.Registry) -> None:
    world(reg)
    reg.log_artifact(make(x="b"), project="p")
    one = handles(reg)
    assert reg.artifact("p/ds:v0") != reg.artifact("p/ds:v1")
    assert one["version"] != one["link"]  # a link is its own row, not the version it points at
    values = list(one.values())
    assert all(a != b for i, a in enumerate(values) for b in values[i + 1:])
    assert one["version"] != "p/ds:v0" and one["collection"] != one["collection"]._row_id()  # type: ignore[attr-defined]


def test_one_file_opened_twice_gives_equal_handles(tmp_path: Path) -> None:
    with artreg.open(tmp_path / "reg") as first:
        world(first)
        with artreg.open(tmp_path / "reg") as second:
            a, b = handles(first), handles(second)
            assert a == b
            assert {hash(h) for h in a.values()} == {hash(h) for h in b.values()}


def test_handles_of_two_catalogs_differ_even_on_the_same_row(tmp_path: Path) -> None:
    with artreg.open(tmp_path / "one") as one, artreg.open(tmp_path / "two") as two, artreg.open(":memory:") as mem:
        for reg in (one, two, mem):
            world(reg)
        a, b, c = handles(one), handles(two), handles(mem)
        for kind in a:
            assert a[kind]._row_id() == b[kind]._row_id() == c[kind]._row_id()  # type: ignore[attr-defined]
            assert a[kind] != b[kind] and a[kind] != c[kind] and b[kind] != c[kind], kind


def test_two_memory_registries_are_two_catalogs() -> None:
    with artreg.open(":memory:") as one, artreg.open(":memory:") as two:
        world(one)
        world(two)
        assert one.collection("p/ds") != two.collection("p/ds")
        assert one.collection("p/ds") == one.collection("p/ds")


def test_repr_names_the_row_and_refresh_reloads_it(reg: artreg.Registry) -> None:
    world(reg)
    h = handles(reg)
    assert repr(h["version"]) == "<ArtifactVersion p/ds:v0 type='dataset'>"
    assert repr(h["collection"]) == "<Collection p/ds type='dataset'>"
    assert repr(h["registry"]) == "<Catalog 'models' visibility='organization'>"
    assert repr(h["run"]).startswith("<Run p/") and "state='finished'" in repr(h["run"])
    reg.collection("p/ds").description = "edited elsewhere"
    other = reg.collection("p/ds")
    other.description = "saved"
    other.save()
    reg.registry("models").set_description("about models")
    for kind, handle in h.items():
        before = hash(handle)
        handle.refresh()  # type: ignore[attr-defined]
        assert hash(handle) == before and handle == handles(reg)[kind], kind  # identity does not move
    assert h["collection"].description == "saved"  # type: ignore[attr-defined]
    assert h["registry"].description == "about models"  # type: ignore[attr-defined]
