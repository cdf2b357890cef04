"""Filters over versions (SPEC §11): W&B/MongoDB-style conditions compiled to one SQL query.

    reg.versions(filter={"metadata.accuracy": {"$gte": 0.9}, "alias": "production"})

A filter is a dict of field -> condition, all of which must hold; ``$and`` and ``$or``
take lists of filters. A condition is a value (equality) or a dict of operators:
``$eq $ne $gt $gte $lt $lte $in $nin $regex`` (with ``$options``, letters of ``imsx``)
and ``$exists``. Fields:

- ``name`` (the collection's name), ``type``, ``created_at`` (ISO strings or datetimes;
  naive means UTC), ``size`` (bytes);
- ``alias`` and ``tag``, which hold several values: a condition holds when *some* alias
  (tag) satisfies it, and ``$ne``/``$nin`` when *none* equals the value(s), as in MongoDB;
- ``metadata.<dotted.key>``: JSON values compared by type (a number never equals a
  string, ``True`` only equals ``true``); ``None`` equals null or a missing key;
  ``$exists`` asks whether the key is there; a list or dict compares as a whole value.

``$regex`` is Python's ``re.search`` (unanchored). Everything compiles to SQL with bound
values (JSON1 for metadata, the connection's ``regexp`` function for patterns): rows are
never fetched to be filtered in Python. Unknown operators, fields and ill-typed operands
raise InvalidName naming them.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import apsw

from ._access import require
from ._clock import format_time
from ._errors import InvalidName, NotFound
from ._names import INT64_MAX, MAX_DEPTH, REGISTRY_PROJECT_PREFIX, at_most_int64, check_project
from ._projects import NOT_A_REGISTRY

if TYPE_CHECKING:
    from ._context import Context

COMPARISONS = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}
OPERATORS = ("$eq", "$ne", *COMPARISONS, "$in", "$nin", "$regex", "$options", "$exists")
FIELDS = "name, type, alias, tag, created_at, size and metadata.<key>"
METADATA = "metadata."
# A link's metadata (and tags) are its source's; only registries hold links, so elsewhere
# the join to the source is left out (it costs a third of a metadata filter's time).
LINK_META = "coalesce(s.metadata, v.metadata)"
SOURCE_JOIN = "LEFT JOIN versions AS s ON s.id = v.source_id"
SET_FIELDS = {
    "alias": "SELECT 1 FROM aliases AS a WHERE a.version_id = v.id AND {}",
    "tag": "SELECT 1 FROM version_tags AS t WHERE t.version_id = coalesce(v.source_id, v.id) AND {}",
}
SET_COLUMNS = {"alias": "a.alias", "tag": "t.tag"}
# Every value a field can have, for a catalog that matches patterns outside SQL (_filters_pg).
SET_VALUES = {"alias": "SELECT DISTINCT a.alias FROM aliases AS a", "tag": "SELECT DISTINCT t.tag FROM version_tags AS t"}
COLUMN_VALUES = "SELECT DISTINCT {} FROM versions AS v JOIN collections AS c ON c.id = v.collection_id"
_REGEX_FLAGS = "imsx"
SELECT_VERSIONS = """
SELECT v.id FROM versions AS v
JOIN collections AS c ON c.id = v.collection_id JOIN projects AS p ON p.id = c.project_id
{source_join}
WHERE v.state = 'committed' AND c.deleted_at IS NULL AND {scope} AND {condition}
ORDER BY {order} LIMIT {limit}
"""


def _text(field: str, value: object) -> str:
    if not isinstance(value, str):
        raise InvalidName(f"filter field {field!r} compares with strings, not {value!r}")
    return value


def _size(field: str, value: object) -> int | float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidName(f"filter field {field!r} compares with numbers of bytes, not {value!r}")
    return value


def _time(field: str, value: object) -> str:
    """The stored (sortable) form of an ISO-8601 string or a datetime; naive means UTC."""
    moment = value
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith("Z") else value)
        except ValueError as exc:
            raise InvalidName(f"filter field {field!r}: {value!r} is not an ISO-8601 time") from exc
    if not isinstance(moment, datetime):
        raise InvalidName(f"filter field {field!r} compares with ISO-8601 strings or datetimes, not {value!r}")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return format_time(moment)


@dataclass(frozen=True)
class _Column:
    """A field with exactly one value per version: ``name``, ``type``, ``created_at``, ``size``."""

    sql: str
    value: Callable[[str, object], object]
    regex: bool = True


COLUMNS = {
    "name": _Column("c.name", _text),
    "type": _Column("c.type", _text),
    "created_at": _Column("v.created_at", _time),
    "size": _Column("v.size", _size, regex=False),
}
ORDER_COLUMNS = {"name": "c.name", "type": "c.type", "created_at": "v.created_at", "size": "v.size", "index": "v.idx"}


def metadata_path(field: str) -> str:
    """The JSON path of ``metadata.<dotted.key>``: ``$."a"."b"``, each key quoted."""
    keys = field[len(METADATA):].split(".")
    for key in keys:
        if not key or '"' in key or any(ord(c) < 32 for c in key):
            raise InvalidName(f"filter field {field!r}: metadata keys must be non-empty, without '\"' or control characters")
    return "$" + "".join(f'."{key}"' for key in keys)


class Compiler:
    """Turns a filter (and the rest of a query) into SQL; ``args`` collects the bound values.

    Parameters are numbered (``?3``), so a clause may bind values in any order. ``links``:
    the query may meet links, whose metadata is their source's (``s``, see SOURCE_JOIN).
    """

    TRUE, FALSE = "1", "0"  # SQL's truth values (PostgreSQL's compiler has booleans)
    NO_LIMIT: object = -1

    def __init__(self, *, links: bool = True) -> None:
        self.args: list[Any] = []
        self.meta = LINK_META if links else "v.metadata"

    def bind(self, value: object) -> str:
        if isinstance(value, int) and not isinstance(value, bool) and not -INT64_MAX <= value <= INT64_MAX:
            value = float(value)  # past SQLite's integers, compared by value as JSON numbers are
        self.args.append(value)
        return f"?{len(self.args)}"

    def condition(self, spec: object, depth: int = 0) -> str:
        """The SQL condition for a filter dict (all of its fields and ``$and``/``$or``)."""
        if not isinstance(spec, Mapping):
            raise InvalidName(f"a filter is a dict of field -> condition, not {spec!r}"[:500])
        if depth > MAX_DEPTH:
            raise InvalidName(f"a filter's $and/$or may nest at most {MAX_DEPTH} levels deep")
        clauses: list[tuple[int, str]] = []
        for key, cond in spec.items():
            if not isinstance(key, str):
                raise InvalidName(f"filter field names are strings, not {key!r}")
            if key in ("$and", "$or"):
                if isinstance(cond, (str, bytes, Mapping)) or not isinstance(cond, (list, tuple)) or not cond:
                    raise InvalidName(f"{key} takes a non-empty list of filters, not {cond!r}")
                joiner = " AND " if key == "$and" else " OR "
                clauses.append((1, "(" + joiner.join(self.condition(item, depth + 1) for item in cond) + ")"))
            elif key.startswith("$"):
                raise InvalidName(f"unknown filter operator {key!r} (a filter's keys are fields, $and or $or)")
            else:
                clauses.append((_cost(key), self.field(key, cond)))
        # SQLite tests AND terms in the order written: columns first, JSON parsing last.
        clauses.sort(key=lambda clause: clause[0])
        return "(" + " AND ".join(sql for _, sql in clauses) + ")" if clauses else self.TRUE

    def order(self, order: object) -> str:
        """The ORDER BY of ``order`` (``field`` or ``-field``; None: newest first)."""
        if order is None:
            return "v.id DESC"
        if not isinstance(order, str) or not order.lstrip("+-"):
            raise InvalidName(f"order must be a field name, '-' first for descending, not {order!r}")
        direction = " DESC" if order.startswith("-") else ""
        field = order.lstrip("+-")
        if field.startswith(METADATA):
            return f"{self.order_metadata(metadata_path(field), direction)}, v.id{direction}"
        if field not in ORDER_COLUMNS:
            raise InvalidName(f"cannot order by {field!r}; order by {', '.join(ORDER_COLUMNS)} or metadata.<key>")
        return f"{ORDER_COLUMNS[field]}{direction}, v.id{direction}"

    def field(self, field: str, cond: object) -> str:
        operators = _operators(field, cond)
        if field.startswith(METADATA):
            path = metadata_path(field)
            return _all(self.metadata(field, path, op, value, operators) for op, value in operators.items() if op != "$options")
        if field in SET_FIELDS:
            return _all(self.multi(field, op, value, operators) for op, value in operators.items() if op != "$options")
        column = COLUMNS.get(field)
        if column is None:
            raise InvalidName(f"unknown filter field {field!r}; fields are {FIELDS}")
        return _all(self.column(field, column, op, value, operators) for op, value in operators.items() if op != "$options")

    # -- one value per version ---------------------------------------------------------

    def column(self, field: str, column: _Column, op: str, value: object, ops: Mapping[str, object]) -> str:
        if op == "$exists":
            return self.TRUE if _flag(field, value) else self.FALSE
        if op == "$regex":
            if not column.regex:
                raise InvalidName(f"$regex does not apply to filter field {field!r}")
            return self.regex(_pattern(field, value, ops), column.sql, COLUMN_VALUES.format(column.sql))
        if op in ("$in", "$nin"):
            values = [column.value(field, item) for item in _list(field, op, value)]
            sql = f"{column.sql} IN (SELECT value FROM json_each({self.bind(json.dumps(values))}))"
            return sql if op == "$in" else f"NOT {sql}"
        symbol = {"$eq": "=", "$ne": "!=", **COMPARISONS}[op]
        return f"{column.sql} {symbol} {self.bind(column.value(field, value))}"

    # -- several values per version (aliases, tags) --------------------------------------

    def multi(self, field: str, op: str, value: object, ops: Mapping[str, object]) -> str:
        column, exists = SET_COLUMNS[field], SET_FIELDS[field]
        if op == "$exists":
            return f"{'' if _flag(field, value) else 'NOT '}EXISTS ({exists.format(self.TRUE)})"
        if op == "$regex":
            return f"EXISTS ({exists.format(self.regex(_pattern(field, value, ops), column, SET_VALUES[field]))})"
        if op in ("$in", "$nin"):
            values = [_text(field, item) for item in _list(field, op, value)]
            some = f"EXISTS ({exists.format(f'{column} IN (SELECT value FROM json_each({self.bind(json.dumps(values))}))')})"
            return some if op == "$in" else f"NOT {some}"
        symbol = {"$eq": "=", "$ne": "=", **COMPARISONS}[op]
        some = f"EXISTS ({exists.format(f'{column} {symbol} {self.bind(_text(field, value))}')})"
        return f"NOT {some}" if op == "$ne" else some

    # -- metadata ------------------------------------------------------------------------

    def metadata(self, field: str, path: str, op: str, value: object, ops: Mapping[str, object]) -> str:
        # The value test comes before the type test: it fails first for most rows, and
        # SQLite then skips the second JSON call.
        if op == "$exists":
            return f"{self.json_type(path)} IS {'NOT ' if _flag(field, value) else ''}NULL"
        if op == "$regex":
            return f"({self.metadata_regex(_pattern(field, value, ops), path)} AND {self.json_type(path)} IS 'text')"
        if op in ("$in", "$nin"):
            items = _list(field, op, value)
            some = "(" + " OR ".join(self.equals(field, path, item) for item in items) + ")" if items else self.FALSE
            return some if op == "$in" else f"NOT {some}"
        if op in ("$eq", "$ne"):
            same = self.equals(field, path, value)
            return same if op == "$eq" else f"NOT {same}"
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise InvalidName(f"{op} on filter field {field!r} compares with a number or a string, not {value!r}")
        return self.ordered(path, COMPARISONS[op], _json_value(field, value))

    def ordered(self, path: str, symbol: str, value: int | float | str) -> str:
        """The metadata value at ``path`` compares by ``symbol`` with ``value``, and is of a type it orders with."""
        compare = f"{self.extract(path)} {symbol} {self.bind(value)}"
        return f"({compare} AND {self.json_type(path)} IN {_json_types(value)})"

    def equals(self, field: str, path: str, value: object) -> str:
        """A null-safe (never NULL, so NOT works) test that the metadata value at ``path`` equals ``value``."""
        if value is None:
            return f"coalesce({self.json_type(path)}, 'null') = 'null'"
        if isinstance(value, bool):
            return f"{self.json_type(path)} IS '{'true' if value else 'false'}'"
        if isinstance(value, (int, float, str)):
            same = f"{self.extract(path)} = {self.bind(_json_value(field, value))}"
        elif isinstance(value, (list, dict)):
            same = f"{self.extract(path)} = json({self.bind(_json_text(field, value))})"
        else:
            raise InvalidName(f"filter field {field!r} compares with JSON values, not {value!r}")
        return f"coalesce({same} AND {self.json_type(path)} IN {_json_types(value)}, 0)"

    def regex(self, pattern: str, sql: str, values: str) -> str:
        """A test that ``sql`` (a text expression; ``values`` selects every value it can have) matches ``pattern``."""
        return f"regexp({self.bind(pattern)}, {sql})"

    def metadata_regex(self, pattern: str, path: str) -> str:
        return self.regex(pattern, self.extract(path), "")

    def order_metadata(self, path: str, direction: str) -> str:
        return f"json_extract({self.meta}, {self.bind(path)}){direction}"

    def extract(self, path: str) -> str:
        return f"json_extract({self.meta}, {self.bind(path)})"

    def json_type(self, path: str) -> str:
        return f"json_type({self.meta}, {self.bind(path)})"


def _json_types(value: object) -> str:
    """The ``json_type`` names a value of this Python type can equal or be ordered with."""
    if isinstance(value, str):
        return "('text')"
    if isinstance(value, (list, dict)):
        return "('array', 'object')"
    return "('integer', 'real')"


def _cost(field: str) -> int:
    """How dear a field's test is per row: a column, an indexed subquery, a JSON parse."""
    return 3 if field.startswith(METADATA) else 2 if field in SET_FIELDS else 0


def _operators(field: str, cond: object) -> dict[str, object]:
    """A condition as {operator: operand}; a plain value means ``$eq``."""
    if not isinstance(cond, Mapping) or not any(isinstance(k, str) and k.startswith("$") for k in cond):
        return {"$eq": cond}
    ops = dict(cond)
    for op in ops:
        if op not in OPERATORS:
            raise InvalidName(f"unknown filter operator {op!r} on field {field!r}; operators are {', '.join(OPERATORS)}")
    if "$options" in ops and "$regex" not in ops:
        raise InvalidName(f"$options on filter field {field!r} needs a $regex")
    return ops


def _all(clauses: Any) -> str:
    return "(" + " AND ".join(clauses) + ")"


def _flag(field: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise InvalidName(f"$exists on filter field {field!r} takes True or False, not {value!r}")
    return value


def _list(field: str, op: str, value: object) -> list[object]:
    if not isinstance(value, (list, tuple)):
        raise InvalidName(f"{op} on filter field {field!r} takes a list, not {value!r}")
    return list(value)


def _pattern(field: str, value: object, ops: Mapping[str, object]) -> str:
    """The pattern to bind, with ``$options`` as inline flags; refuses one Python cannot compile."""
    if not isinstance(value, str):
        raise InvalidName(f"$regex on filter field {field!r} takes a pattern string, not {value!r}")
    options = ops.get("$options", "")
    if not isinstance(options, str) or any(c not in _REGEX_FLAGS for c in options):
        raise InvalidName(f"$options on filter field {field!r} takes letters of {_REGEX_FLAGS!r}, not {options!r}")
    pattern = f"(?{''.join(sorted(set(options)))}){value}" if options else value
    try:
        re.compile(pattern)
    except re.error as exc:
        raise InvalidName(f"$regex on filter field {field!r}: {value!r} is not a valid pattern ({exc})") from exc
    return pattern


def _json_value(field: str, value: int | float | str) -> int | float | str:
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidName(f"filter field {field!r}: {value!r} is not a JSON number")
    return value


def _json_text(field: str, value: object) -> str:
    try:
        # Keys sorted, as stored (dump_json): {"b": 1, "a": 2} equals what was logged as {"a": 2, "b": 1}.
        return json.dumps(value, sort_keys=True, allow_nan=False, ensure_ascii=False, separators=(",", ":"))
    except RecursionError as exc:
        raise InvalidName(f"filter field {field!r} compares with a JSON value nested too deep") from exc
    except (TypeError, ValueError) as exc:
        raise InvalidName(f"filter field {field!r} compares with JSON values, not {value!r}") from exc


def version_ids(
    ctx: Context,
    con: apsw.Connection,
    spec: object,
    *,
    registry: str | None,
    project: str | None,
    order: object,
    limit: object,
) -> list[int]:
    """The ids of the live versions matching a filter, from one SELECT (inside the caller's read; see ``Registry.versions``)."""
    if registry is not None and project is not None:
        raise InvalidName(f"pass a registry or a project, not both (registry={registry!r}, project={project!r})")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        raise InvalidName(f"limit must be a positive number of versions or None, not {limit!r}")
    if isinstance(limit, int):
        limit = at_most_int64(limit)
    if project is not None and check_project(project).startswith(REGISTRY_PROJECT_PREFIX):
        registry = project[len(REGISTRY_PROJECT_PREFIX):]
    if ctx.db.dialect == "postgresql":
        from ._filters_pg import PgCompiler

        query: Compiler = PgCompiler(con, links=registry is not None)
    else:
        query = Compiler(links=registry is not None)
    condition = query.condition(spec) if spec is not None else query.TRUE
    ordering = query.order(order)
    if registry is not None:
        name = check_project(registry, kind="registry name")
        row = con.execute("SELECT id, project_id FROM registries WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise NotFound(f"no registry named {name!r}")
        require(con, row[0], ctx.user, "restricted_viewer", f"reading registry {name!r}")
        scope = f"c.project_id = {query.bind(row[1])}"
    elif project is not None:
        scope = f"p.name = {query.bind(project)}"
    else:
        scope = NOT_A_REGISTRY
    limit_sql = query.bind(query.NO_LIMIT if limit is None else limit)
    joins = SOURCE_JOIN if registry is not None else ""
    sql = SELECT_VERSIONS.format(source_join=joins, scope=scope, condition=condition, order=ordering, limit=limit_sql)
    return [r[0] for r in con.execute(sql, query.args)]
