"""Name rules (SPEC §3): validation of every user-supplied name, and the reference grammar.

Each ``check_*`` function returns the value it accepts (normalised where the rule says
so) and raises :class:`InvalidName` naming the offending part otherwise.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from ._errors import InvalidName

MAX_LEN = 128
MAX_METADATA_KEYS = 100
# How deep dicts and lists may nest in metadata (and filters): far beyond real metadata,
# far below where Python's recursion or SQLite's JSON functions (1,000 levels) give up.
MAX_DEPTH = 100
# SQLite's integers are 64-bit; a larger Python int cannot be bound to a statement.
INT64_MAX = 2**63 - 1
REGISTRY_PROJECT_PREFIX = "wandb-registry-"
DEFAULT_PROJECT = "uncategorized"
LATEST = "latest"

_ARTIFACT_NAME = re.compile(r"[A-Za-z0-9_.\-]+")
_TAG = re.compile(r"[-\w]+(?: [-\w]+)*")
_VERSION_ALIAS = re.compile(r"v[0-9]+")
# Control characters, and lone surrogates (which cannot be stored as UTF-8).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_PROJECT_FORBIDDEN = re.compile(r"[/\\#?%:\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def _require_str(kind: str, value: object) -> str:
    if not isinstance(value, str):
        raise InvalidName(f"{kind} must be a string, not {type(value).__name__}: {value!r}")
    if not 1 <= len(value) <= MAX_LEN:
        raise InvalidName(f"{kind} must be 1-{MAX_LEN} characters long: {value!r}")
    return value


def check_artifact_name(name: object) -> str:
    """An artifact or collection name: ``[A-Za-z0-9_.-]+``, 1-128 characters."""
    value = _require_str("artifact name", name)
    if not _ARTIFACT_NAME.fullmatch(value):
        raise InvalidName(f"artifact name may only contain letters, digits, '_', '.' and '-': {value!r}")
    return value


def check_type(type_: object) -> str:
    """An artifact type: 1-128 characters, no ``/`` or ``:``; ``wandb-*`` is reserved."""
    value = _require_str("artifact type", type_)
    if "/" in value or ":" in value or _CONTROL.search(value):
        raise InvalidName(f"artifact type may not contain '/', ':' or control characters: {value!r}")
    if value.startswith("wandb-"):
        raise InvalidName(f"artifact types starting with 'wandb-' are reserved: {value!r}")
    return value


def is_reserved_alias(alias: str) -> bool:
    """True for ``latest`` and ``v<digits>``, which only artreg assigns."""
    return alias == LATEST or _VERSION_ALIAS.fullmatch(alias) is not None


def version_index(selector: str) -> int | None:
    """The index a ``v<digits>`` selector names (ASCII digits only), else None.

    An index past SQLite's 64-bit integers names no version: None, and the lookup finds nothing.
    """
    if not _VERSION_ALIAS.fullmatch(selector):
        return None
    index = int(selector[1:])
    return index if index <= INT64_MAX else None


def at_most_int64(value: int) -> int:
    """A count or limit as SQLite can take it: larger ones mean the same as its largest integer."""
    return min(value, INT64_MAX)


def check_alias(alias: object, *, allow_reserved: bool = False) -> str:
    """An alias: 1-128 characters, no ``/``, ``:`` or control characters.

    ``latest`` and ``v<digits>`` are refused unless ``allow_reserved`` (for selectors).
    """
    value = _require_str("alias", alias)
    if "/" in value or ":" in value or _CONTROL.search(value):
        raise InvalidName(f"alias may not contain '/', ':' or control characters: {value!r}")
    if not allow_reserved and is_reserved_alias(value):
        raise InvalidName(f"alias {value!r} is reserved: artreg assigns 'latest' and 'v<N>' itself")
    return value


def check_tag(tag: object) -> str:
    """A tag: words of ``[-\\w]`` separated by single spaces, 1-128 characters."""
    value = _require_str("tag", tag)
    if not _TAG.fullmatch(value):
        raise InvalidName(f"tag must be words of letters, digits, '_' or '-' separated by single spaces: {value!r}")
    return value


def check_project(name: object, *, kind: str = "project name") -> str:
    """A project or registry name: 1-128 characters, none of ``/ \\ # ? % :`` or controls."""
    value = _require_str(kind, name)
    if _PROJECT_FORBIDDEN.search(value):
        raise InvalidName(f"{kind} may not contain '/', '\\', '#', '?', '%', ':' or control characters: {value!r}")
    return value


def check_aliases(aliases: object, *, allow_reserved: bool = False) -> list[str]:
    """A list of aliases, deduplicated in order; a bare string is refused (it is not a list)."""
    return _unique(as_list("aliases", aliases), lambda a: check_alias(a, allow_reserved=allow_reserved))


def given_aliases(aliases: object) -> list[str]:
    """Aliases given to a log or a link: ``latest`` is accepted (it lands there anyway) and dropped; ``v<N>`` is refused."""
    return [alias for alias in check_aliases([a for a in as_list("aliases", aliases) if a != LATEST])]


def check_tags(tags: object) -> list[str]:
    """A list of tags, deduplicated in order."""
    return _unique(as_list("tags", tags), check_tag)


def as_list(kind: str, values: object) -> list[object]:
    """A list from an iterable argument; a bare string or bytes is refused (it is not a list of names)."""
    if values is None:
        return []
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise InvalidName(f"{kind} must be a list of strings, not {values!r}")
    return list(values)  # type: ignore[call-overload,unused-ignore]


def _unique(values: list[object], check: Any) -> list[str]:
    seen: dict[str, None] = {}
    for value in values:
        seen[check(value)] = None
    return list(seen)


def normalize_path(path: object) -> str:
    """Normalise a logical manifest path and refuse one that could leave a download root.

    ``a//b`` becomes ``a/b`` and ``./x`` becomes ``x``. Refused afterwards: empty paths, a
    ``..`` segment, a leading ``/``, NUL or control characters and backslashes.
    """
    if not isinstance(path, str):
        raise InvalidName(f"path must be a string, not {type(path).__name__}: {path!r}")
    if _SURROGATE.search(path):
        raise InvalidName(f"path is not valid UTF-8 (a file name in another encoding?): {path!r}")
    if _CONTROL.search(path):
        raise InvalidName(f"path may not contain NUL or control characters: {path!r}")
    if "\\" in path:
        raise InvalidName(f"path may not contain a backslash: {path!r}")
    if path.startswith("/"):
        raise InvalidName(f"path must be relative, not absolute: {path!r}")
    parts = [part for part in path.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise InvalidName(f"path may not contain a '..' segment: {path!r}")
    if not parts:
        raise InvalidName(f"path is empty after normalisation: {path!r}")
    return "/".join(parts)


def check_metadata(metadata: object) -> dict[str, Any]:
    """A JSON object of at most 100 top-level keys, string keys, no NaN or Infinity, nested
    at most ``MAX_DEPTH`` (100) levels deep."""
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise InvalidName(f"metadata must be a dict, not {type(metadata).__name__}")
    if len(metadata) > MAX_METADATA_KEYS:
        raise InvalidName(f"metadata has {len(metadata)} top-level keys; at most {MAX_METADATA_KEYS} are allowed")
    _check_json_value(metadata, "metadata", 0)
    return json.loads(dump_json(metadata))  # type: ignore[no-any-return]


def _check_json_value(value: object, where: str, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise InvalidName(f"{where[:200]} is nested more than {MAX_DEPTH} levels deep")
    if isinstance(value, str):
        check_text(value, where)
        return
    if value is None or isinstance(value, (bool, int)):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidName(f"{where} is {value!r}; NaN and Infinity are not JSON")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidName(f"{where} has a non-string key {key!r}")
            check_text(key, f"{where} key")
            _check_json_value(item, f"{where}.{key}", depth + 1)
        return
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check_json_value(item, f"{where}[{i}]", depth + 1)
        return
    raise InvalidName(f"{where} holds a {type(value).__name__}, which is not JSON: {value!r}")


def check_text(value: str, where: str) -> str:
    """Free text (descriptions, metadata strings): anything UTF-8 can hold."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidName(f"{where} is not valid Unicode text (a lone surrogate?): {value!r}") from exc
    return value


def dump_json(value: object) -> str:
    """Compact, deterministic JSON as stored in the database."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False, ensure_ascii=False)


@dataclass(frozen=True)
class Ref:
    """A parsed reference ``[entity/][project/]name[:selector]``.

    ``registry`` is set when the project is ``wandb-registry-<registry>``. ``selector`` is
    ``latest`` when the string had none.
    """

    name: str
    project: str | None = None
    entity: str | None = None
    selector: str = LATEST

    @property
    def registry(self) -> str | None:
        if self.project is not None and self.project.startswith(REGISTRY_PROJECT_PREFIX):
            return self.project[len(REGISTRY_PROJECT_PREFIX):]
        return None

    def __str__(self) -> str:
        prefix = "".join(f"{part}/" for part in (self.entity, self.project) if part is not None)
        return f"{prefix}{self.name}:{self.selector}"


def parse_ref(text: object) -> Ref:
    """Parse ``[entity/][project/]name[:selector]``, split at the first ``:``."""
    if not isinstance(text, str):
        raise InvalidName(f"reference must be a string, not {type(text).__name__}: {text!r}")
    path, colon, selector = text.partition(":")
    if colon:
        check_alias(selector, allow_reserved=True)
    else:
        selector = LATEST
    parts = path.split("/")
    if len(parts) > 3:
        raise InvalidName(f"reference has too many '/' parts (at most entity/project/name): {text!r}")
    name = check_artifact_name(parts[-1])
    project = check_project(parts[-2]) if len(parts) >= 2 else None
    entity = check_project(parts[0], kind="entity name") if len(parts) == 3 else None
    if project is not None and project.startswith(REGISTRY_PROJECT_PREFIX):
        check_project(project[len(REGISTRY_PROJECT_PREFIX):], kind="registry name")
    return Ref(name=name, project=project, entity=entity, selector=selector)


def check_page(offset: object, limit: object) -> tuple[int, int]:
    """(offset, limit) checked, with -1 for "no limit" as SQLite takes it."""
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise InvalidName(f"offset must be a non-negative number, not {offset!r}")
    if limit is None:
        return offset, -1
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
        raise InvalidName(f"limit must be a non-negative number or None, not {limit!r}")
    return offset, limit
