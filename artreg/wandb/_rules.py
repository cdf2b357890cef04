"""W&B's rules for artifacts, as ``artreg.wandb`` applies them: names, types, policies, link targets, TTL."""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from typing import Any

from .. import _sources
from .._errors import IntegrityError, InvalidName, NotFound

_NAME = re.compile(r"^[a-zA-Z0-9_\-.]+$")
# W&B's reserved types: "job" for every name, and types that reserve a name prefix.
_RESERVED_NAME_PREFIX = {"job": "", "run_table": "run-", "code": "source-"}
MEDIA_HINT = (
    "W&B media objects (wandb.Table, wandb.Image, ...) are not part of an artifact registry; "
    "write the data into the artifact with artifact.new_file(name) (or add_file) and read it back with "
    "artifact.get_entry(name).download()"
)


class ArtifactTTL(enum.Enum):
    """``artifact.ttl = ArtifactTTL.INHERIT``: take the project's default TTL."""

    INHERIT = 0


class VerificationError(IntegrityError, ValueError):
    """``verify()`` found files that differ from the manifest (W&B raises ValueError there)."""


class PathNotFoundError(NotFound, FileNotFoundError):
    """``remove()`` of a path the draft does not hold (W&B raises FileNotFoundError)."""


def check_name_and_type(name: object, type_: object) -> None:
    """W&B's rules and messages: names of letters, digits, ``-``, ``_`` and ``.``; reserved types."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidName(
            "Artifact name may only contain alphanumeric characters, dashes, underscores, and dots. "
            f"Invalid name: {name!r}"
        )
    if not isinstance(type_, str):
        raise InvalidName(f"Artifact type must be a string, not {type(type_).__name__}")
    prefix = _RESERVED_NAME_PREFIX.get(type_)
    if type_.startswith("wandb-") or (prefix is not None and name.startswith(prefix)):
        raise InvalidName(f"Artifact type {type_!r} is reserved for internal use. Please use a different type.")


def registry_target(target_path: str) -> str:
    """A link target as artreg takes it: the legacy ``model-registry`` project is the core ``model`` registry."""
    if not isinstance(target_path, str):
        raise InvalidName(f"target_path must be a string, not {type(target_path).__name__}")
    parts = target_path.split("/")
    if len(parts) >= 2 and parts[-2] == "model-registry":
        return "/".join([*parts[:-2], "wandb-registry-model", parts[-1]])
    return target_path


def _alias_list(aliases: Iterable[str] | str | None) -> list[str] | None:
    if aliases is None:
        return None
    return [aliases] if isinstance(aliases, str) else list(aliases)


def _check_policy(policy: object) -> None:
    if policy not in (None, "mutable", "immutable"):
        raise InvalidName(f"Invalid policy {policy!r}. Policy may only be `mutable` or `immutable`.")


def _extra(entry: _sources.DraftEntry) -> dict[str, Any]:
    return dict(entry.source.extra) if isinstance(entry.source, _sources.RefSource) else {}


def _local(entry: _sources.DraftEntry) -> str | None:
    return entry.source.path if isinstance(entry.source, _sources.FileSource) else None
