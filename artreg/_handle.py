"""The shared base of the objects that stand for one catalog row: versions, collections, registries, runs.

A handle is a snapshot of its row (``refresh()`` reloads it) and is known by where that
row lives: two handles are equal, and hash alike, when they name the same row of the same
catalog, even through two ``artreg.open`` calls on one file. Handles of different kinds
are never equal, whatever their row numbers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from ._registry import Registry


class Handle:
    """One row of the catalog, seen through a registry; equality and hashing by that row."""

    _reg: Registry
    _kind: ClassVar[str]  # "version", "collection", "registry", "run": what the row is

    def _row_id(self) -> int:
        """The row's id in its table."""
        raise NotImplementedError

    def _label(self) -> str:
        """What ``repr`` shows after the class name (the names a person knows it by)."""
        raise NotImplementedError

    def refresh(self) -> None:
        """Reload from the database, dropping unsaved edits."""
        raise NotImplementedError

    def _key(self) -> tuple[object, str, int]:
        return (self._reg._db.identity, self._kind, self._row_id())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Handle) and other._key() == self._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._label()}>"


__all__ = ["Handle"]
