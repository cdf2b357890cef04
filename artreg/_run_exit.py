"""Runs that their process never finished: ``finished`` at a normal exit, ``crashed`` on an uncaught exception.

Every run started in this process is remembered here until it finishes. An ``atexit``
handler finishes the rest when the interpreter exits; ``sys.excepthook`` is wrapped (the
previous hook still runs after) so that an exception that ends the program marks them
``crashed`` first, with the error. Forked children inherit both hooks, so only runs
started by the current process are touched. A process killed by a signal runs neither:
its runs stay ``running``, which is the truth as far as the file can know.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import threading
from types import TracebackType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._runs import Run

_lock = threading.Lock()
_live: dict[int, tuple[int, Run]] = {}  # id(run) -> (pid that started it, run)
_installed = False


def remember(run: Run) -> None:
    """Finish ``run`` at interpreter exit unless it is finished before."""
    global _installed
    with _lock:
        _live[id(run)] = (os.getpid(), run)
        if not _installed:
            _installed = True
            atexit.register(_at_exit)
            previous = sys.excepthook

            def hook(kind: type[BaseException], error: BaseException, tb: TracebackType | None) -> None:
                _finish_all(error)
                previous(kind, error, tb)

            sys.excepthook = hook


def forget(run: Run) -> None:
    with _lock:
        _live.pop(id(run), None)


def _at_exit() -> None:
    _finish_all(None)


def _finish_all(error: BaseException | None) -> None:
    with _lock:
        mine = [run for pid, run in _live.values() if pid == os.getpid()]
        _live.clear()
    for run in mine:
        with contextlib.suppress(Exception):  # the process is ending; nothing could report it
            run._finish_at_exit(error)
