"""Progress of long work (logging or downloading many or large files), for a callback."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Progress:
    """How far a log or download has got; passed to ``progress=`` callbacks after each file."""

    files_done: int
    files_total: int
    bytes_done: int
    bytes_total: int


ProgressCallback = Callable[[Progress], None]


class Tracker:
    """Counts files and bytes and reports them to an optional callback."""

    def __init__(self, callback: ProgressCallback | None, files_total: int, bytes_total: int) -> None:
        self._callback = callback
        self._files_total = files_total
        self._bytes_total = bytes_total
        self._files = 0
        self._bytes = 0

    def advance(self, size: int) -> None:
        self._files += 1
        self._bytes += size
        if self._callback is not None:
            self._callback(Progress(self._files, self._files_total, self._bytes, self._bytes_total))
