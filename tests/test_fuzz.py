"""SPEC §3, §13: fuzzing the reference parser, manifest paths and metadata with Hypothesis.

Whatever the input, the only exception is InvalidName; what is accepted round-trips
(``parse_ref(str(ref)) == ref``) or is a fixed point that cannot leave a download root.
``ARTREG_FUZZ_EXAMPLES`` (default 400) sets the number of examples per test.
"""

from __future__ import annotations

import json
import math
import os
import posixpath
import re
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from artreg import InvalidName, Ref, parse_ref
from artreg._names import check_metadata, normalize_path
from strategies import artifact_names, manifest_paths, projects, reserved_aliases, user_aliases

# ARTREG_FUZZ_EXAMPLES raises the budget for a longer local hunt.
EXAMPLES = int(os.environ.get("ARTREG_FUZZ_EXAMPLES", "400"))
FAST = settings(max_examples=EXAMPLES, deadline=None)
SLOW = settings(max_examples=max(1, EXAMPLES // 2), deadline=None)
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")

# Characters the grammars give a meaning to, so random text hits the edges often.
EDGES = ["/", ":", "\\", ".", "..", "//", "./", "\x00", "\n", "\x7f", "\x85", "\ud800", " ", "#", "%", "?",
         "v", "0", "9", "\u0661", "latest", "wandb-registry-", "wandb-registry-model", "a", "Z", "_", "-", "é", "\u2028"]
edgy_text = st.lists(st.one_of(st.sampled_from(EDGES), st.text(max_size=3)), max_size=12).map("".join)
any_text = st.one_of(st.text(), edgy_text)


def registry_projects() -> st.SearchStrategy[str]:
    return projects(max_size=128 - len("wandb-registry-")).map(lambda name: f"wandb-registry-{name}")


@st.composite
def refs(draw: st.DrawFn) -> Ref:
    """Valid references, every shape the grammar allows (an entity only with a project)."""
    project = draw(st.none() | projects() | registry_projects())
    entity = draw(st.none() | projects()) if project is not None else None
    selector = draw(user_aliases() | reserved_aliases(max_index=10**6))
    return Ref(name=draw(artifact_names()), project=project, entity=entity, selector=selector)


@FAST
@given(refs())
def test_a_formatted_reference_parses_back_to_itself(ref: Ref) -> None:
    assert parse_ref(str(ref)) == ref


@FAST
@given(any_text)
@example("wandb-registry-/x")
@example("org/wandb-registry-model/Zoo:production")
@example("a/b/c/d")
@example("name:")
@example(":v0")
def test_parse_ref_raises_only_invalid_name_and_what_it_accepts_round_trips(text: str) -> None:
    try:
        ref = parse_ref(text)
    except InvalidName as exc:
        assert str(exc)
        return
    assert str(ref) == (text if ":" in text else f"{text}:latest")
    assert parse_ref(str(ref)) == ref
    assert not CONTROL.search(str(ref))
    assert ref.registry is None or (ref.registry != "" and "/" not in ref.registry)


@given(st.one_of(st.none(), st.integers(), st.binary(), st.lists(st.text()), st.dictionaries(st.text(), st.text())))
def test_parse_ref_refuses_what_is_not_a_string(value: object) -> None:
    try:
        parse_ref(value)
    except InvalidName:
        return
    raise AssertionError(f"parse_ref accepted {value!r}")


def assert_cannot_escape(path: str) -> None:
    segments = path.split("/")
    assert path and not path.startswith("/"), path
    assert all(s not in ("", ".", "..") for s in segments), path
    assert "\\" not in path and not CONTROL.search(path), path
    assert posixpath.normpath(posixpath.join("/root", path)).startswith("/root/"), path


@FAST
@given(any_text)
@example("a//b")
@example("./x")
@example("a/./b/")
@example("x/../y")
@example("...")
@example(". ./ ..")
def test_normalize_path_is_idempotent_and_never_escapes(path: str) -> None:
    try:
        normal = normalize_path(path)
    except InvalidName as exc:
        assert str(exc)
        return
    assert normalize_path(normal) == normal
    assert_cannot_escape(normal)


@SLOW
@given(manifest_paths(), st.data())
def test_every_spelling_of_a_path_normalises_to_it(path: str, data: st.DataObject) -> None:
    """``a//b``, ``./a/b`` and ``a/b/`` all name ``a/b``; valid paths are fixed points."""
    assert normalize_path(path) == path
    noise = st.sampled_from(["/", "//", "/./", "/././/"])
    spelled = data.draw(st.sampled_from(["", "./", ".//"])) + "".join(
        segment + (data.draw(noise) if i < len(path.split("/")) - 1 else data.draw(st.sampled_from(["", "/", "/."])))
        for i, segment in enumerate(path.split("/"))
    )
    assert normalize_path(spelled) == path


json_leaves = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(), st.binary(max_size=4),
                        st.sets(st.integers(), max_size=2))
json_like = st.recursive(
    json_leaves,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4) | st.integers(), inner, max_size=4),
    max_leaves=12,
)


@SLOW
@given(st.one_of(st.dictionaries(st.text(max_size=5), json_like, max_size=6), json_like,
                 st.dictionaries(st.integers(0, 200).map(str), st.none(), min_size=95, max_size=110)))
def test_metadata_is_json_or_invalid_name(value: Any) -> None:
    try:
        checked = check_metadata(value)
    except InvalidName as exc:
        assert str(exc)
        return
    assert isinstance(checked, dict) and len(checked) <= 100
    text = json.dumps(checked, allow_nan=False)
    assert json.loads(text) == checked
    assert not any(isinstance(x, float) and not math.isfinite(x) for x in _leaves(checked))


def _leaves(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [leaf for item in value.values() for leaf in _leaves(item)]
    if isinstance(value, list):
        return [leaf for item in value for leaf in _leaves(item)]
    return [value]
