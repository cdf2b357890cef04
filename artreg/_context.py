"""What code below the façade is handed: the context of a registry and the transaction of a change.

A ``Context`` is one open registry as the domain code sees it: its database, its blob store,
the local-file cache, the acting user and the clock. ``Registry`` composes one and hands it
down; nothing below the handles knows the façade.

A ``Transaction`` is one IMMEDIATE write: its connection, its actor (the user, and the one
timestamp every row of the change carries), the events it emitted, and work for after the
commit. ``Context.write()`` opens one; a write opened inside another on the same thread is a
savepoint of the same transaction (same actor, same events, same hooks).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

import apsw

from ._audit import Actor
from ._cache import Cache
from ._clock import format_time
from .storage._blobs import BlobStore
from .storage._db import Database

if TYPE_CHECKING:
    from ._events import Event


class Context:
    """One open registry for the code below the façade: database, blobs, cache, user, clock.

    ``automations`` is whatever listens in this process for the events of this registry's
    transactions (set by the automation engine; see ``_events``).
    """

    def __init__(self, db: Database, store: BlobStore, cache: Cache, user: str, clock: Callable[[], datetime]) -> None:
        self.db = db
        self.store = store
        self.cache = cache
        self.user = user
        self.clock = clock
        self.automations: object | None = None
        self._local = threading.local()

    def now(self) -> datetime:
        """The current time by this registry's clock."""
        return self.clock()

    def actor(self) -> Actor:
        """The acting user and the current time, for the rows of one change."""
        return Actor(self.user, format_time(self.clock()))

    @property
    def uuid(self) -> str:
        """This registry file's UUID (see ``Registry.uuid``)."""
        found = self.db.setting("registry_id")
        assert found is not None  # the migration that made copies possible gives every file one
        return found

    @contextmanager
    def write(self, *, durable: bool = False, actor: Actor | None = None) -> Iterator[Transaction]:
        """One IMMEDIATE transaction (a savepoint of the open one, when nested); rolled back on error.

        ``actor`` defaults to the user at the clock's current time; a nested write keeps its
        transaction's. ``durable`` as ``Database.write``.
        """
        current: Transaction | None = getattr(self._local, "tx", None)
        with self.db.write(durable=durable) as con:
            if current is not None and current.con is con:
                mark = len(current.events)
                try:
                    yield current
                except BaseException:
                    del current.events[mark:]
                    raise
                return
            tx = Transaction(con, actor or self.actor(), self)
            self._local.tx = tx
            try:
                yield tx
            finally:
                self._local.tx = None

    @contextmanager
    def read(self) -> Iterator[apsw.Connection]:
        """A consistent snapshot for several SELECTs (``Database.read``)."""
        with self.db.read() as con:
            yield con


@dataclass(eq=False)
class Transaction:
    """One write: its connection, actor and timestamp, the events it emitted, its after-commit work."""

    con: apsw.Connection
    actor: Actor
    ctx: Context
    events: list[Event] = field(default_factory=list)

    @property
    def user(self) -> str:
        return self.actor.user

    @property
    def at(self) -> str:
        """The timestamp every row of this transaction carries."""
        return self.actor.at

    def after_commit(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` once this transaction has committed (never when it rolls back)."""
        self.ctx.db.after_commit(fn)


__all__ = ["Context", "Transaction"]
