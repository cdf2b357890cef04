"""Which registry ``artreg.wandb`` writes to, and which run is current (``wandb.run``).

The registry is the one given to ``use_registry()``, else the default of ``artreg.open()``
(``$ARTREG_HOME``, else the platform's user data folder), opened on first use and opened
again when ``$ARTREG_HOME`` changes.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any

from .._errors import InvalidName
from .._registry import Registry, default_home

if TYPE_CHECKING:
    from ._run import Run

_lock = threading.RLock()
_chosen: Registry | None = None
_default: tuple[str, Registry] | None = None
current: Run | None = None


def use_registry(path_or_registry: Registry | str | os.PathLike[str]) -> Registry:
    """Make ``artreg.wandb`` use this registry (an open ``Registry``, or a path ``artreg.open`` takes)."""
    global _chosen
    if isinstance(path_or_registry, Registry):
        registry = path_or_registry
    elif isinstance(path_or_registry, (str, os.PathLike)):
        registry = Registry(path_or_registry)
    else:
        raise InvalidName(f"use_registry takes a Registry or a path, not {type(path_or_registry).__name__}")
    with _lock:
        _chosen = registry
    return registry


def registry() -> Registry:
    """The registry in use (opening the default one when none was chosen)."""
    global _default
    with _lock:
        if _chosen is not None and not _chosen._db._closed:
            return _chosen
        home = default_home()
        if _default is None or _default[0] != home or _default[1]._db._closed:
            _default = (home, Registry(home))
        return _default[1]


def set_current(run: Run | None) -> None:
    global current
    with _lock:
        current = run


def get_current() -> Run | None:
    return current


def reset() -> None:
    """Forget the chosen registry and the current run (for tests)."""
    global _chosen, _default, current
    with _lock:
        if _default is not None:
            _default[1].close()
        _chosen = None
        _default = None
        current = None


def ignore(*_args: Any, **_kwargs: Any) -> None:
    """A W&B call that means nothing offline."""
