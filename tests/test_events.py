"""The events seam: alias, link and version code emits typed events; automations subscribe."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import artreg
from artreg import _events
from artreg._audit import Actor
from artreg._context import Transaction
from conftest import make

ARTREG = Path(artreg.__file__).parent


def imported_modules(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            found.add(node.module or "")
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


@pytest.mark.parametrize("module", ["_aliases", "_log_artifact", "_links", "_import"])  # _links emits for _catalog
def test_emitters_do_not_import_the_automation_engine(module: str) -> None:
    imports = imported_modules(ARTREG / f"{module}.py")
    assert "_events" in imports
    assert "_automations" not in imports and "artreg._automations" not in imports


@pytest.fixture
def heard(monkeypatch: pytest.MonkeyPatch) -> list[_events.Event]:
    got: list[_events.Event] = []

    def listen(tx: Transaction, event: _events.Event) -> None:
        assert tx.con.in_transaction  # subscribers run inside the emitting transaction
        assert tx.events[-1] is event  # and the transaction keeps what it emitted
        got.append(event)

    monkeypatch.setattr(_events, "_subscribers", [*_events._subscribers, listen])
    return got


def test_a_log_an_alias_and_a_link_emit_typed_events_in_order(reg: artreg.Registry, heard: list[_events.Event]) -> None:
    reg.create_registry("models")
    v = reg.log_artifact(make(x="a"), project="p", aliases=["best"])
    link = v.link("wandb-registry-models/ds", aliases=["prod"])
    c, lc = v.collection.id, link.collection.id
    assert heard == [
        _events.VersionCreated(c, v.id),
        _events.AliasAdded(c, v.id, "latest"),
        _events.AliasAdded(c, v.id, "best"),
        _events.VersionLinked(lc, link.id),
        _events.AliasAdded(lc, link.id, "latest"),
        _events.AliasAdded(lc, link.id, "prod"),
    ]
    assert [e.name for e in heard] == ["version_created", *["alias_added"] * 2, "version_linked", *["alias_added"] * 2]


def test_a_subscriber_that_fails_rolls_the_change_back(reg: artreg.Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(tx: Transaction, event: _events.Event) -> None:
        if isinstance(event, _events.AliasAdded) and event.alias == "best":
            raise artreg.Conflict("refused by a subscriber")

    monkeypatch.setattr(_events, "_subscribers", [*_events._subscribers, refuse])
    with pytest.raises(artreg.Conflict, match="subscriber"):
        reg.log_artifact(make(x="a"), project="p", aliases=["best"])
    assert reg.collections() == []


def test_subscribing_twice_is_hearing_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_events, "_subscribers", [])
    got: list[_events.Event] = []

    def listen(tx: Transaction, event: _events.Event) -> None:
        got.append(event)

    _events.subscribe(listen)
    _events.subscribe(listen)
    tx = Transaction(None, Actor("u", "t"), None)  # type: ignore[arg-type]
    _events.emit(tx, _events.VersionCreated(1, 2))
    assert got == [_events.VersionCreated(1, 2)]
    assert tx.events == [_events.VersionCreated(1, 2)]


def test_a_transaction_keeps_its_events_and_nested_writes_share_it(reg: artreg.Registry) -> None:
    """One transaction, one actor and timestamp; a write inside it is a savepoint of the same one,
    and what a rolled-back savepoint emitted leaves the transaction's list with it."""
    from artreg._aliases import set_alias

    v = reg.log_artifact(make(x="a"), project="p")
    c = v.collection.id
    with reg._ctx.write() as tx:
        set_alias(tx, c, "kept", v.id)
        with pytest.raises(RuntimeError), reg._ctx.write() as inner:
            assert inner is tx
            set_alias(inner, c, "undone", v.id)
            raise RuntimeError("roll back the savepoint")
        assert tx.events == [_events.AliasAdded(c, v.id, "kept")]
    assert sorted(reg.artifact(f"p/{v.collection.name}:v0").aliases) == ["kept", "latest"]
