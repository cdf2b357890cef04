"""The events a write emits (a version created, linked, or given an alias), and who hears them.

Alias, link and version code announces what happened here and knows nothing of who listens;
the automation engine subscribes (when it is imported, as ``Registry`` does). An event is
appended to its transaction's ``events`` and every subscriber hears it inside that
transaction: what it writes commits or rolls back with the change, and work meant for after
the commit it queues on the transaction (``Transaction.after_commit``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from ._context import Transaction


@dataclass(frozen=True, slots=True)
class VersionCreated:
    """A new version was committed to a collection (logged or imported)."""

    name: ClassVar[str] = "version_created"
    collection_id: int
    version_id: int
    alias: None = None


@dataclass(frozen=True, slots=True)
class VersionLinked:
    """A version was linked into a registry collection; ``version_id`` is the link's row."""

    name: ClassVar[str] = "version_linked"
    collection_id: int
    version_id: int
    alias: None = None


@dataclass(frozen=True, slots=True)
class AliasAdded:
    """An alias was pointed at a version, new or moved from another."""

    name: ClassVar[str] = "alias_added"
    collection_id: int
    version_id: int
    alias: str


Event = VersionCreated | VersionLinked | AliasAdded
Subscriber = Callable[["Transaction", Event], None]

# Filled once, at import, by the modules that listen; read by every write.
_subscribers: list[Subscriber] = []


def subscribe(subscriber: Subscriber) -> None:
    """Have ``subscriber`` hear every event from now on (once, however often it is subscribed)."""
    if subscriber not in _subscribers:
        _subscribers.append(subscriber)


def emit(tx: Transaction, event: Event) -> None:
    """Record ``event`` in its transaction and tell every subscriber, in that transaction."""
    tx.events.append(event)
    for subscriber in _subscribers:
        subscriber(tx, event)


__all__ = ["AliasAdded", "Event", "Subscriber", "VersionCreated", "VersionLinked", "emit", "subscribe"]
