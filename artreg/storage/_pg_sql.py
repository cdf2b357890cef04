"""artreg's SQLite statements as PostgreSQL runs them (SPEC §18).

The domain modules write their SQL once, in SQLite's dialect, as constant strings. For a
catalog in PostgreSQL each distinct statement is rewritten once (the result is cached) by
the rules below; the few statements no rule can carry (full-text search, the stat cache's
pairs) have hand-written PostgreSQL twins in ``OVERRIDES``. What is rewritten:

- placeholders: ``?``, ``?NNN`` and ``:name`` become PostgreSQL's ``$n`` (psycopg's raw
  cursor), and a dict of named values becomes the matching list;
- ``json_each(?)``, the way artreg passes a list of values in one bound JSON text, becomes
  ``unnest($n)`` of a typed array: the value is decoded before it is sent, so PostgreSQL
  compares ids with ids and text with text;
- SQLite's scalar ``max(a, b)``/``min(a, b)`` become ``greatest``/``least``, ``iif`` a
  ``CASE``, ``json_group_array`` ``json_agg``, ``a IS ?`` ``IS NOT DISTINCT FROM``,
  ``LIMIT -1`` ``LIMIT ALL``, ``column = ? COLLATE NOCASE`` a comparison of both sides
  lower-cased in the "C" collation (ASCII letters only, as SQLite's NOCASE), and the
  column name ``user`` (a reserved word there) is quoted;
- SQLite's other functions (``json_extract``, ``json_type``, ``typeof``, ``unhex``,
  ``unixepoch``) exist in the catalog itself as functions of the same name and meaning
  (``_pg_schema``), so they need no rewriting.

Anything inside a string literal or a quoted identifier is left alone.
"""

from __future__ import annotations

import functools
import json
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

_TOKEN = re.compile(
    r"""
    (?P<string>'(?:[^']|'')*')
  | (?P<quoted>"(?:[^"]|"")*")
  | (?P<comment>--[^\n]*|/\*.*?\*/)
  | (?P<positional>\?[0-9]*)
  | (?P<named>(?<!:):[A-Za-z_][A-Za-z0-9_]*)
  | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<space>\s+)
  | (?P<number>[0-9]+(?:\.[0-9]+)?)
  | (?P<other>::|->>|->|<>|!=|<=|>=|\|\||.)
    """,
    re.VERBOSE | re.DOTALL,
)


@dataclass(frozen=True)
class Param:
    """Where the value of one ``$n`` comes from: a position or a name, decoded from JSON when ``array``."""

    key: int | str
    array: bool = False


@dataclass(frozen=True)
class Statement:
    """One statement in PostgreSQL's dialect and how to build its ``$1..$n`` values."""

    text: str
    params: tuple[Param, ...]

    def values(self, given: Sequence[Any] | Mapping[str, Any] | None) -> list[Any]:
        if not self.params:
            return []
        if given is None:
            given = ()
        # A key is a position for a sequence of values, a name for a mapping (see _Translator.placeholder).
        return [_array(given[p.key]) if p.array else given[p.key] for p in self.params]  # type: ignore[index]


def _array(value: Any) -> list[Any]:
    """A ``json_each(?)`` value (a JSON array as text) as the list psycopg sends as a typed array."""
    decoded = json.loads(value) if isinstance(value, (str, bytes)) else value
    if not isinstance(decoded, list):
        raise TypeError(f"json_each() takes a JSON array here, not {value!r}")
    return decoded


def _tokens(sql: str) -> list[tuple[str, str]]:
    """``sql`` as (kind, text) pairs, the kinds of ``_TOKEN``'s groups; together they are the whole text."""
    return [(str(m.lastgroup), m.group()) for m in _TOKEN.finditer(sql)]


def _split_args(tokens: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    """A call's argument tokens (between its parentheses), split at its top-level commas."""
    args: list[list[tuple[str, str]]] = [[]]
    depth = 0
    for kind, text in tokens:
        if text == "(":
            depth += 1
        elif text == ")":
            depth -= 1
        if text == "," and depth == 0:
            args.append([])
        else:
            args[-1].append((kind, text))
    return args


def _closing(tokens: list[tuple[str, str]], open_at: int) -> int:
    depth = 0
    for i in range(open_at, len(tokens)):
        text = tokens[i][1]
        if text == "(":
            depth += 1
        elif text == ")":
            depth -= 1
            if depth == 0:
                return i
    raise ValueError("unbalanced parentheses in SQL")


def _next_code(tokens: list[tuple[str, str]], start: int) -> int:
    """The index of the first token at or after ``start`` that is not space or a comment (len when none)."""
    i = start
    while i < len(tokens) and tokens[i][0] in ("space", "comment"):
        i += 1
    return i


class _Translator:
    def __init__(self) -> None:
        self.params: list[Param] = []
        self.numbered: dict[int | str, int] = {}
        self.position = 0

    def placeholder(self, kind: str, text: str, array: bool) -> str:
        if kind == "positional":
            if len(text) > 1:
                key: int | str = int(text[1:]) - 1
            else:
                key = self.position
                self.position += 1
        else:
            key = text[1:]
        found = self.numbered.get(key)
        if found is not None and not array and not self.params[found - 1].array:
            return f"${found}"
        self.params.append(Param(key, array))
        number = len(self.params)
        self.numbered[key] = number
        return f"${number}"

    def render(self, tokens: list[tuple[str, str]], array: bool = False) -> str:
        out: list[str] = []
        unnamed = _unnamed_subqueries(tokens)
        i = 0
        while i < len(tokens):
            kind, text = tokens[i]
            lower = text.lower()
            if i in unnamed:
                out.append(f") AS subquery_{i}")
                i += 1
                continue
            if kind in ("positional", "named"):
                out.append(self.placeholder(kind, text, array))
            elif kind == "word":
                j = _next_code(tokens, i + 1)
                calls = j < len(tokens) and tokens[j][1] == "("
                if calls and lower in _CALLS:
                    end = _closing(tokens, j)
                    args = _split_args(tokens[j + 1:end])
                    rewritten = _CALLS[lower](self, args)
                    if rewritten is not None:
                        out.append(rewritten)
                        i = end + 1
                        if lower == "json_each":
                            i = self._alias_unnest(tokens, i, out)
                        continue
                if lower == "user" and not calls:
                    out.append('"user"')
                elif lower == "limit" and _is_minus_one(tokens, i + 1):
                    out.append("LIMIT ALL")
                    i = _skip_minus_one(tokens, i + 1)
                    continue
                elif lower == "limit" and tokens[j][0] in ("positional", "named"):
                    # SQLite reads a negative limit as none; PostgreSQL reads NULL so.
                    value = f"CAST({self.placeholder(tokens[j][0], tokens[j][1], False)} AS bigint)"
                    out.append(f"LIMIT CASE WHEN {value} < 0 THEN NULL ELSE {value} END")
                    i = j + 1
                    continue
                elif lower == "collate" and tokens[_next_code(tokens, i + 1)][1].lower() == "nocase":
                    raise ValueError("COLLATE NOCASE is rewritten only in `column = ? COLLATE NOCASE`")
                elif (found_nocase := _nocase_comparison(tokens, i)) is not None:
                    column, param, end = found_nocase
                    value = self.placeholder(param[0], param[1], False)
                    out.append(f'lower({column} COLLATE "C") = lower(CAST({value} AS text) COLLATE "C")')
                    i = end + 1
                    continue
                elif lower == "is":
                    i = self._is(tokens, i, out)
                    continue
                elif lower == "in" and (found := _in_json_each(tokens, i)) is not None:
                    param, end = found
                    negated = bool(out) and out[-1].strip() == "" and len(out) > 1 and out[-2].lower() == "not"
                    if negated:
                        del out[-2:]
                    value = self.placeholder(param[0], param[1], True)
                    out.append(f"<> ALL({value})" if negated else f"= ANY({value})")
                    i = end + 1
                    continue
                else:
                    out.append(text)
            else:
                out.append(text)
            i += 1
        return "".join(out)

    def _is(self, tokens: list[tuple[str, str]], i: int, out: list[str]) -> int:
        """``a IS b`` / ``a IS NOT b`` with b not NULL/TRUE/FALSE: SQLite's null-safe (in)equality."""
        j = _next_code(tokens, i + 1)
        negated = j < len(tokens) and tokens[j][1].lower() == "not"
        k = _next_code(tokens, j + 1) if negated else j
        if k < len(tokens) and tokens[k][1].lower() in ("null", "true", "false", "distinct"):
            out.append(tokens[i][1])
            return i + 1
        out.append("IS DISTINCT FROM " if negated else "IS NOT DISTINCT FROM ")
        return k

    def _alias_unnest(self, tokens: list[tuple[str, str]], i: int, out: list[str]) -> int:
        """``unnest(...)`` names its column ``unnest``; artreg's SQL reads json_each's ``value``."""
        j = _next_code(tokens, i)
        alias = None
        if j < len(tokens) and tokens[j][1].lower() == "as":
            k = _next_code(tokens, j + 1)
            alias = tokens[k][1]
            i = k + 1
        elif j < len(tokens) and tokens[j][0] == "word" and tokens[j][1].lower() not in _KEYWORDS:
            alias = tokens[j][1]
            i = j + 1
        out.append(f" AS {alias or 'json_each'}(value)")
        return i


_IN_JSON_EACH = ("(", "select", "value", "from", "json_each", "(", None, ")", ")")


def _in_json_each(tokens: list[tuple[str, str]], at: int) -> tuple[tuple[str, str], int] | None:
    """At ``IN``: ``(SELECT value FROM json_each(P))``'s placeholder P and the index of its last ``)``, if that follows."""
    i = at
    param = None
    for expected in _IN_JSON_EACH:
        i = _next_code(tokens, i + 1)
        if i >= len(tokens):
            return None
        kind, text = tokens[i]
        if expected is None:
            if kind not in ("positional", "named"):
                return None
            param = (kind, text)
        elif text.lower() != expected:
            return None
    assert param is not None
    return param, i


def _nocase_comparison(tokens: list[tuple[str, str]], at: int) -> tuple[str, tuple[str, str], int] | None:
    """At a column: ``column = P COLLATE NOCASE``'s column text, placeholder P and the index of ``NOCASE``, if that follows.

    SQLite's NOCASE folds ASCII letters only; ``lower()`` in the "C" collation does the same
    (an ICU case-insensitive collation would also fold é and É, ignore a soft hyphen and
    equate full-width letters, so names SQLite keeps apart would meet).
    """
    column = [tokens[at][1]]
    i = _next_code(tokens, at + 1)
    if i + 1 < len(tokens) and tokens[i][1] == "." and tokens[i + 1][0] == "word":
        column += [".", tokens[i + 1][1]]
        i = _next_code(tokens, i + 2)
    if i >= len(tokens) or tokens[i][1] != "=":
        return None
    i = _next_code(tokens, i + 1)
    if i >= len(tokens) or tokens[i][0] not in ("positional", "named"):
        return None
    param = tokens[i]
    i = _next_code(tokens, i + 1)
    if i >= len(tokens) or tokens[i][1].lower() != "collate":
        return None
    i = _next_code(tokens, i + 1)
    if i >= len(tokens) or tokens[i][1].lower() != "nocase":
        return None
    return "".join(column), param, i


def _unnamed_subqueries(tokens: list[tuple[str, str]]) -> set[int]:
    """Where a subquery in FROM/JOIN ends without a name (PostgreSQL before 16 needs one): its ``)``."""
    ends: set[int] = set()
    previous = ""
    for i, (kind, text) in enumerate(tokens):
        if kind in ("space", "comment"):
            continue
        if text == "(" and previous in ("from", "join"):
            inner = _next_code(tokens, i + 1)
            if inner < len(tokens) and tokens[inner][1].lower() in ("select", "with", "values"):
                end = _closing(tokens, i)
                after = _next_code(tokens, end + 1)
                named = after < len(tokens) and (
                    tokens[after][1].lower() == "as" or (tokens[after][0] == "word" and tokens[after][1].lower() not in _KEYWORDS)
                )
                if not named:
                    ends.add(end)
        previous = text.lower()
    return ends


_KEYWORDS = {
    "where", "join", "on", "order", "group", "limit", "union", "except", "intersect", "left", "inner", "cross", "and", "or",
    "having", "window", "offset", "natural", "right", "full", "using", "returning",
}


def _is_minus_one(tokens: list[tuple[str, str]], start: int) -> bool:
    j = _next_code(tokens, start)
    k = _next_code(tokens, j + 1)
    return j < len(tokens) and tokens[j][1] == "-" and k < len(tokens) and tokens[k][1] == "1"


def _skip_minus_one(tokens: list[tuple[str, str]], start: int) -> int:
    return _next_code(tokens, _next_code(tokens, start) + 1) + 1


def _scalar(name: str) -> Callable[[_Translator, list[list[tuple[str, str]]]], str | None]:
    def rewrite(tr: _Translator, args: list[list[tuple[str, str]]]) -> str | None:
        if len(args) < 2:
            return None  # the aggregate: the same in both
        return f"{name}({', '.join(tr.render(a) for a in args)})"

    return rewrite


def _iif(tr: _Translator, args: list[list[tuple[str, str]]]) -> str:
    cond, then, other = (tr.render(a).strip() for a in args)
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", cond):
        cond = f"{cond} <> 0"  # a 0/1 column, true in SQLite when non-zero
    return f"CASE WHEN {cond} THEN {then} ELSE {other} END"


def _json_each(tr: _Translator, args: list[list[tuple[str, str]]]) -> str:
    """``json_each(? /* bigint */)`` as a table: the rows of a typed array.

    The comment names the type of the values (SQLite ignores it): with an empty list,
    PostgreSQL would have nothing else to type the rows by. ``x IN (SELECT value FROM
    json_each(?))``, the common form, is rewritten before it gets here (``= ANY``), and needs
    no comment.
    """
    (arg,) = args
    params = [t for t in arg if t[0] in ("positional", "named")]
    hints = [t[1][2:-2].strip() for t in arg if t[0] == "comment" and t[1].startswith("/*")]
    if len(params) != 1 or len(hints) != 1 or not re.fullmatch(r"[a-z ]+", hints[0]):
        raise ValueError("json_each(?) as a table needs its type for PostgreSQL: json_each(? /* bigint */)")
    return f"unnest(CAST({tr.placeholder(params[0][0], params[0][1], True)} AS {hints[0]}[]))"


def _json_group_array(tr: _Translator, args: list[list[tuple[str, str]]]) -> str:
    (arg,) = args
    return f"coalesce(json_agg({tr.render(arg)})::text, '[]')"


_CALLS: dict[str, Callable[[_Translator, list[list[tuple[str, str]]]], str | None]] = {
    "max": _scalar("greatest"),
    "min": _scalar("least"),
    "iif": _iif,
    "json_each": _json_each,
    "json_group_array": _json_group_array,
}

SYNTAX_ERROR = "42601"  # PostgreSQL's SQLSTATE for a syntax error (to_tsquery raises it too)

# Statements no rule carries: the SQLite text -> its PostgreSQL twin (registered by the
# module that owns the statement, beside its SQLite text).
OVERRIDES: dict[str, str] = {}


def override(sqlite: str, postgres: str) -> str:
    """Register ``postgres`` as the PostgreSQL form of ``sqlite``; returns ``sqlite``, for use in a constant."""
    OVERRIDES[sqlite] = postgres
    return sqlite


@functools.lru_cache(maxsize=4096)
def translate(sql: str) -> Statement:
    """``sql`` (SQLite's dialect, as artreg writes it) as PostgreSQL runs it."""
    tr = _Translator()
    text = tr.render(_tokens(OVERRIDES.get(sql, sql)))
    return Statement(text, tuple(tr.params))


# SQLite's functions that artreg's statements call, made in the catalog with the same names
# and meaning, so no rewrite is needed for them. Paths are SQLite's JSON paths as artreg
# writes them: ``$``, then ``.key``, ``."key"`` or ``[n]`` steps.
FUNCTIONS = r"""
CREATE OR REPLACE FUNCTION artreg_json_path(path text) RETURNS text[] LANGUAGE plpgsql IMMUTABLE STRICT AS $$
DECLARE
    steps text[] := '{}';
    rest text := path;
    m text[];
BEGIN
    IF left(rest, 1) <> '$' THEN
        RAISE EXCEPTION 'bad JSON path: %', path USING ERRCODE = '22023';
    END IF;
    rest := substr(rest, 2);
    WHILE rest <> '' LOOP
        m := regexp_match(rest, '^(\.(?:"([^"]*)"|([^.\[]+))|\[([0-9]+)\])');
        IF m IS NULL THEN
            RAISE EXCEPTION 'bad JSON path: %', path USING ERRCODE = '22023';
        END IF;
        steps := steps || coalesce(m[2], m[3], m[4]);
        rest := substr(rest, length(m[1]) + 1);
    END LOOP;
    RETURN steps;
END $$;

CREATE OR REPLACE FUNCTION json_type(doc text, path text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE jsonb_typeof(v)
        WHEN 'number' THEN CASE WHEN v::text ~ '[.eE]' THEN 'real' ELSE 'integer' END
        WHEN 'string' THEN 'text'
        WHEN 'boolean' THEN v::text
        ELSE jsonb_typeof(v) END
    FROM (SELECT doc::jsonb #> artreg_json_path(path) AS v) AS found
$$;

CREATE OR REPLACE FUNCTION json_extract(doc text, path text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT doc::jsonb #>> artreg_json_path(path)
$$;

CREATE OR REPLACE FUNCTION typeof(value anyelement) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN value IS NULL THEN 'null'
        WHEN pg_typeof(value) IN ('bigint'::regtype, 'integer'::regtype, 'smallint'::regtype, 'boolean'::regtype) THEN 'integer'
        WHEN pg_typeof(value) IN ('double precision'::regtype, 'real'::regtype, 'numeric'::regtype) THEN 'real'
        WHEN pg_typeof(value) = 'bytea'::regtype THEN 'blob'
        ELSE 'text' END
$$;

-- This machine's salt for the caches of local files (stat, tree and chunk caches), set by
-- each connection (PgDatabase): 0 outside artreg's connections.
CREATE OR REPLACE FUNCTION artreg_machine() RETURNS bigint LANGUAGE sql STABLE AS $$
    SELECT coalesce(nullif(current_setting('artreg.machine', true), ''), '0')::bigint
$$;

CREATE OR REPLACE FUNCTION unhex(value text) RETURNS bytea LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT decode(value, 'hex')
$$;

CREATE OR REPLACE FUNCTION unixepoch(moment text, modifier text) RETURNS double precision LANGUAGE sql STABLE STRICT AS $$
    SELECT extract(epoch FROM moment::timestamptz)::double precision
$$;

-- What FTS5's tokenizer does to a letter with diacritics (remove_diacritics): the Latin
-- letters of U+00C0-U+024F that decompose to an ASCII letter and combining marks, as it.
CREATE OR REPLACE FUNCTION artreg_unaccent(value text) RETURNS text LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT translate(value, '{accented}', '{plain}')
$$;
"""


def _diacritics() -> tuple[str, str]:
    """The Latin letters U+00C0-U+024F that decompose to an ASCII letter and combining marks, and those letters."""
    accented, plain = [], []
    for point in range(0xC0, 0x250):
        letter = chr(point)
        parts = unicodedata.normalize("NFD", letter)
        if len(parts) > 1 and parts[0].isascii() and parts[0].isalpha() and all(unicodedata.combining(c) for c in parts[1:]):
            accented.append(letter)
            plain.append(parts[0])
    return "".join(accented), "".join(plain)


FUNCTIONS = FUNCTIONS.replace("{accented}", _diacritics()[0]).replace("{plain}", _diacritics()[1])
