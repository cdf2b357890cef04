"""W&B's SDK over artreg: W&B code runs unchanged, offline, after ``import artreg.wandb as wandb`` (SPEC §15).

    >>> import artreg.wandb as wandb
    >>> with wandb.init(project="zoo") as run:       # doctest: +SKIP
    ...     artifact = wandb.Artifact("zoo_dataset", type="dataset")
    ...     artifact.add_file("zoo.csv")
    ...     run.log_artifact(artifact)

The registry is ``$ARTREG_HOME`` (else artreg's default), or the one given to
``use_registry(path_or_registry)``. ``install()`` makes ``import wandb`` (and the W&B
submodules integrations import) give this module, so Lightning's ``WandbLogger`` and
Transformers' ``WandbCallback`` log into artreg without a change.

``wandb.run``, ``wandb.config`` and ``wandb.summary`` follow the current run.
"""

from __future__ import annotations

import sys
import types
from typing import Any, NoReturn

from . import errors
from ._api import Api
from ._artifact import Artifact
from ._install import WANDB_VERSION, install
from ._rules import MEDIA_HINT, ArtifactTTL
from ._run import Run, RunDisabled, current_or_raise, init
from ._run import finish as _finish
from ._state import use_registry
from .errors import Error

__version__ = WANDB_VERSION

__all__ = [
    "Api",
    "Artifact",
    "ArtifactTTL",
    "Error",
    "Run",
    "RunDisabled",
    "Settings",
    "__version__",
    "errors",
    "finish",
    "init",
    "install",
    "link_model",
    "log",
    "log_artifact",
    "log_model",
    "login",
    "use_artifact",
    "use_model",
    "use_registry",
]


def finish(exit_code: int | None = None, quiet: bool | None = None) -> None:
    """Finish the current run (``wandb.run``), if any."""
    _finish(exit_code, quiet)


def log(data: dict[str, Any], step: int | None = None, commit: bool | None = None, sync: bool | None = None) -> None:
    """``wandb.run.log(...)``; UsageError without a run."""
    current_or_raise("log").log(data, step, commit)


def log_artifact(artifact_or_path: Any, name: str | None = None, type: str | None = None, aliases: list[str] | None = None,
                 tags: list[str] | None = None) -> Artifact:
    return current_or_raise("log_artifact").log_artifact(artifact_or_path, name, type, aliases, tags)


def use_artifact(artifact_or_name: Any, type: str | None = None, aliases: list[str] | None = None, use_as: str | None = None) -> Artifact:
    return current_or_raise("use_artifact").use_artifact(artifact_or_name, type, aliases, use_as)


def log_model(path: Any, name: str | None = None, aliases: list[str] | None = None) -> None:
    current_or_raise("log_model").log_model(path, name, aliases)


def use_model(name: str) -> str:
    return current_or_raise("use_model").use_model(name)


def link_model(path: Any, registered_model_name: str, name: str | None = None, aliases: list[str] | None = None) -> Artifact | None:
    return current_or_raise("link_model").link_model(path, registered_model_name, name, aliases)


def define_metric(name: str, *args: Any, **kwargs: Any) -> None:
    """Accepted and ignored (charts are not drawn here)."""


def watch(*args: Any, **kwargs: Any) -> None:
    """Accepted and ignored (gradients are not recorded)."""


def unwatch(*args: Any, **kwargs: Any) -> None:
    """Accepted and ignored."""


def login(*args: Any, **kwargs: Any) -> bool:
    """Accepted; there is no account to log in to. Returns True, as W&B does once logged in."""
    return True


def setup(*args: Any, **kwargs: Any) -> None:
    """Accepted and ignored."""


def teardown(*args: Any, **kwargs: Any) -> None:
    """Accepted and ignored."""


def require(*args: Any, **kwargs: Any) -> None:
    """Accepted and ignored (W&B's feature flags)."""


def termlog(message: str = "", *args: Any, **kwargs: Any) -> None:
    print(f"artreg.wandb: {message}", file=sys.stderr)


def termwarn(message: str, *args: Any, **kwargs: Any) -> None:
    print(f"artreg.wandb: WARNING {message}", file=sys.stderr)


def termerror(message: str, *args: Any, **kwargs: Any) -> None:
    print(f"artreg.wandb: ERROR {message}", file=sys.stderr)


class Settings:
    """``wandb.Settings(...)``: accepted, and its fields kept as attributes; none changes what artreg does."""

    def __init__(self, **kwargs: Any) -> None:
        self.__dict__.update(kwargs)

    def __repr__(self) -> str:
        return f"Settings({', '.join(f'{k}={v!r}' for k, v in self.__dict__.items())})"


class _Media:
    """W&B media objects are not part of an artifact registry: making one raises UnsupportedError naming ``new_file``."""

    def __init__(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise errors.UnsupportedError(f"wandb.{type(self).__name__}: {MEDIA_HINT}")


Table = type("Table", (_Media,), {})
Image = type("Image", (_Media,), {})
Audio = type("Audio", (_Media,), {})
Video = type("Video", (_Media,), {})
Html = type("Html", (_Media,), {})
Object3D = type("Object3D", (_Media,), {})
Molecule = type("Molecule", (_Media,), {})
Histogram = type("Histogram", (_Media,), {})
Plotly = type("Plotly", (_Media,), {})
data_types = types.SimpleNamespace(
    Table=Table, Image=Image, Audio=Audio, Video=Video, Html=Html, Object3D=Object3D, Molecule=Molecule,
    Histogram=Histogram, Plotly=Plotly,
    PartitionedTable=type("PartitionedTable", (_Media,), {}), JoinedTable=type("JoinedTable", (_Media,), {}),
)


def __getattr__(name: str) -> Any:
    # wandb.run, wandb.config and wandb.summary follow the current run, as in W&B.
    from . import _state

    if name == "run":
        return _state.get_current()
    if name in ("config", "summary"):
        run = _state.get_current()
        if run is None:
            return {} if name == "summary" else _PreinitConfig()
        return getattr(run, name)
    raise AttributeError(f"module 'artreg.wandb' has no attribute {name!r}")


class _PreinitConfig(dict[str, Any]):
    """``wandb.config`` before ``wandb.init()``: values may be read, not saved (W&B keeps them for init)."""

    def update(self, *args: Any, allow_val_change: bool | None = None, **kwargs: Any) -> None:
        super().update(*args, **kwargs)
