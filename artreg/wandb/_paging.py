"""W&B's paginated results: ``api.artifacts(...)``, ``collection.artifacts()``, ``artifact.files()``, ``api.runs(...)``.

W&B returns a paginator, not a list: an iterator that fetches ``per_page`` items at a time,
with ``len()``, indexing and slicing, and a ``cursor`` that a later query takes as
``start=`` to resume where this one stopped::

    artifacts = api.artifacts("dataset", "p/ds", per_page=10)
    first_page = list(itertools.islice(artifacts, 10))
    rest = api.artifacts("dataset", "p/ds", per_page=10, start=artifacts.cursor)

Pages are read from the registry as iteration reaches them, so a long listing costs what
is consumed of it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from typing import Generic, TypeVar, overload

from .._errors import InvalidName

T = TypeVar("T")
_CURSOR = re.compile(r"^artreg-offset:(\d+)$")


def check_per_page(per_page: object) -> int:
    if not isinstance(per_page, int) or isinstance(per_page, bool) or per_page < 1:
        raise InvalidName(f"per_page must be a positive integer, not {per_page!r}")
    return per_page


def cursor_offset(start: object) -> int:
    """The position a cursor (``paginator.cursor``, passed back as ``start=``) stands for."""
    if start is None:
        return 0
    match = _CURSOR.match(start) if isinstance(start, str) else None
    if match is None:
        raise InvalidName(f"start must be a cursor taken from a paginator's .cursor, not {start!r}")
    return int(match.group(1))


class Paginator(Iterator[T], Generic[T]):
    """Items read ``per_page`` at a time from ``fetch(offset, limit)``; ``count()`` gives the total for ``len()``."""

    def __init__(self, fetch: Callable[[int, int], Sequence[T]], count: Callable[[], int], per_page: int = 50,
                 start: str | None = None) -> None:
        self.per_page = check_per_page(per_page)
        self._fetch = fetch
        self._count = count
        self._start = start
        self._offset = cursor_offset(start)
        self._exhausted = False
        self.objects: list[T] = []
        self.index = -1

    @classmethod
    def of(cls, items: Callable[[], Sequence[T]], per_page: int = 50, start: str | None = None) -> Paginator[T]:
        """A paginator over what ``items()`` returns, computed once when first needed."""
        cache: list[Sequence[T]] = []

        def everything() -> Sequence[T]:
            if not cache:
                cache.append(items())
            return cache[0]

        return cls(lambda offset, limit: everything()[offset:offset + limit], lambda: len(everything()), per_page, start)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {len(self.objects)} loaded{'' if self._exhausted else ', more'}>"

    @property
    def more(self) -> bool:
        """Whether more pages remain to be read."""
        return not self._exhausted

    @property
    def cursor(self) -> str | None:
        """Where the next page starts: pass it as ``start=`` to a later query to resume there."""
        if not self.objects and self._start is None:
            return None
        return f"artreg-offset:{self._offset + len(self.objects)}"

    @property
    def length(self) -> int:
        """Deprecated in W&B: ``len(...)``."""
        return len(self)

    def _load_page(self) -> bool:
        if self._exhausted:
            return False
        page = list(self._fetch(self._offset + len(self.objects), self.per_page))
        self.objects.extend(page)
        self._exhausted = len(page) < self.per_page
        return bool(page)

    def _load_all(self) -> None:
        while self._load_page():
            pass

    def __iter__(self) -> Paginator[T]:
        self.index = -1
        return self

    def __next__(self) -> T:
        self.index += 1
        while len(self.objects) <= self.index:
            if not self._load_page():
                raise StopIteration
        return self.objects[self.index]

    def __len__(self) -> int:
        """The number of items the query matches in all (from the start position)."""
        return max(0, self._count() - self._offset)

    @overload
    def __getitem__(self, index: int) -> T: ...

    @overload
    def __getitem__(self, index: slice) -> list[T]: ...

    def __getitem__(self, index: int | slice) -> T | list[T]:
        stop = index.stop if isinstance(index, slice) else index
        if isinstance(index, slice) and (stop is None or stop < 0 or (index.start or 0) < 0) or isinstance(stop, int) and stop < 0:
            self._load_all()
        else:
            while stop >= len(self.objects) and self._load_page():
                pass
        return self.objects[index]
