"""Hypothesis strategies for the names and contents artreg accepts (SPEC §3).

Each strategy yields only *valid* values. The optional ``alphabet`` / size parameters
shrink the space on purpose: a stateful test wants aliases and paths to collide, so that
moves, dedups and file/folder clashes actually happen within a few steps.
"""

from __future__ import annotations

import re
import string

from hypothesis import strategies as st

MAX_LEN = 128
REGISTRY_PROJECT_PREFIX = "wandb-registry-"

ARTIFACT_NAME_ALPHABET = string.ascii_letters + string.digits + "_.-"

# SPEC §3 "control characters" are exactly Unicode category Cc (U+0000-001F, U+007F-009F).
# Lone surrogates (Cs) cannot be encoded as UTF-8, so no SQLite text can hold them (artreg
# currently lets them through its name checks and fails later with UnicodeEncodeError).
_NO_CONTROLS = ("Cc", "Cs")

# The reserved rule as written in SPEC §3: `latest`, and `v` followed by ASCII digits.
_RESERVED_ALIAS = re.compile(r"latest|v[0-9]+")

# Valid user aliases that sit next to the reserved ones or use characters a ref parser
# might trip on; mixed into the machine's pool so the edge cases get exercised.
TRICKY_ALIASES = ("Latest", "latest-1", "V1", "v", "v1a", "v-1", " best", "best model", "#?%\\", ".")


def is_reserved_alias(alias: str) -> bool:
    """True for ``latest`` and ``v<digits>``, which only artreg may assign."""
    return _RESERVED_ALIAS.fullmatch(alias) is not None


def artifact_names(*, max_size: int = MAX_LEN) -> st.SearchStrategy[str]:
    """Artifact / collection names: ``[A-Za-z0-9_.-]{1,128}``."""
    return st.text(ARTIFACT_NAME_ALPHABET, min_size=1, max_size=max_size)


def user_aliases(*, alphabet: str | None = None, max_size: int = MAX_LEN) -> st.SearchStrategy[str]:
    """Aliases a user may set: 1-128 characters, no ``/``, ``:`` or controls, not reserved.

    With a small ``alphabet`` (say ``"ab"`` and ``max_size=2``) the same alias comes up
    again and again, which is what makes alias moves happen in a stateful test.
    """
    chars = (
        st.characters(exclude_categories=_NO_CONTROLS, exclude_characters="/:")
        if alphabet is None
        else st.sampled_from(sorted(set(alphabet) - set("/:")))
    )
    return st.text(chars, min_size=1, max_size=max_size).filter(lambda a: not is_reserved_alias(a))


def reserved_aliases(*, max_index: int = 20) -> st.SearchStrategy[str]:
    """Aliases only artreg assigns: ``latest`` and ``v<N>``."""
    return st.one_of(st.just("latest"), st.integers(0, max_index).map(lambda n: f"v{n}"))


def tags(*, alphabet: str | None = None, max_words: int = 4, max_word_size: int = 16) -> st.SearchStrategy[str]:
    """Tags: words of ``[-\\w]`` separated by single spaces, 1-128 characters."""
    if alphabet is None:
        word = st.from_regex(rf"[-\w]{{1,{max_word_size}}}", fullmatch=True)
    else:
        assert all(re.fullmatch(r"[-\w]", c) for c in alphabet), alphabet
        word = st.text(st.sampled_from(sorted(set(alphabet))), min_size=1, max_size=max_word_size)
    return (
        st.lists(word, min_size=1, max_size=max_words)
        .map(" ".join)
        .filter(lambda t: len(t) <= MAX_LEN)
    )


def projects(*, allow_registry: bool = False, max_size: int = MAX_LEN) -> st.SearchStrategy[str]:
    """Project names: 1-128 characters, none of ``/ \\ # ? % :`` or controls.

    ``wandb-registry-<name>`` names a registry rather than a project (SPEC §3), so it is
    left out unless ``allow_registry``.
    """
    chars = st.characters(exclude_categories=_NO_CONTROLS, exclude_characters="/\\#?%:")
    names = st.text(chars, min_size=1, max_size=max_size)
    if allow_registry:
        return names
    return names.filter(lambda p: not p.startswith(REGISTRY_PROJECT_PREFIX))


def path_segments(*, alphabet: str | None = None, max_size: int = 16) -> st.SearchStrategy[str]:
    """One segment of a logical path: no ``/``, backslash or controls, not ``.`` or ``..``."""
    chars = (
        st.characters(exclude_categories=_NO_CONTROLS, exclude_characters="/\\")
        if alphabet is None
        else st.sampled_from(sorted(set(alphabet) - set("/\\")))
    )
    return st.text(chars, min_size=1, max_size=max_size).filter(lambda s: s not in (".", ".."))


def manifest_paths(
    *, alphabet: str | None = None, max_segments: int = 3, max_segment_size: int = 16
) -> st.SearchStrategy[str]:
    """Logical manifest paths, already normalised (what ``normalize_path`` returns unchanged)."""
    segment = path_segments(alphabet=alphabet, max_size=max_segment_size)
    return st.lists(segment, min_size=1, max_size=max_segments).map("/".join)


def contents(*, max_size: int = 64) -> st.SearchStrategy[bytes]:
    """A small file's bytes (empty included)."""
    return st.binary(max_size=max_size)


def manifests(
    paths: st.SearchStrategy[str] | None = None,
    data: st.SearchStrategy[bytes] | None = None,
    *,
    min_size: int = 1,
    max_size: int = 4,
) -> st.SearchStrategy[dict[str, bytes]]:
    """A draft's files, logical path -> bytes, with no path both a file and a folder.

    Clashing paths (``a`` next to ``a/b``) are dropped rather than filtered out, so the
    strategy never rejects an example; at least ``min(min_size, 1)`` entries survive.
    """
    drawn = st.dictionaries(
        manifest_paths() if paths is None else paths,
        contents() if data is None else data,
        min_size=min_size,
        max_size=max_size,
    )
    return drawn.map(_drop_file_folder_clashes)


def _drop_file_folder_clashes(files: dict[str, bytes]) -> dict[str, bytes]:
    kept: dict[str, bytes] = {}
    folders: set[str] = set()
    for path in sorted(files, key=lambda p: (p.count("/"), p)):
        parents = _parents(path)
        if path in folders or any(parent in kept for parent in parents):
            continue
        kept[path] = files[path]
        folders.update(parents)
    return kept


def _parents(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]
