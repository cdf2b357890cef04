"""Filters (SPEC §11) for a catalog in PostgreSQL: the same conditions, typed for its SQL.

SQLite's ``json_extract`` returns a typed value; PostgreSQL's twin (``_pg_sql.FUNCTIONS``)
returns text, so comparisons read the value by its ``json_type``: numbers as ``numeric``,
strings in byte order (``COLLATE "C"``, as SQLite's BINARY), arrays and objects as
``jsonb`` (so key order does not matter there, where SQLite compares their text).

``$regex`` keeps Python's ``re`` semantics (PostgreSQL's own regular expressions differ:
``\\b``, ``.`` and newlines, named groups, Unicode classes): the pattern is matched here,
in Python, against every distinct value the field has, and the condition becomes
membership in the values that matched. One extra query per pattern, over distinct values.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ._filters import Compiler, _json_types

# Sorting by a metadata value as SQLite's json_extract sorts: null (or missing) first, then
# numbers (true and false as 1 and 0; equal numbers tie, whatever their type), then text in
# byte order, where an array or an object is its JSON text (compact, keys sorted: as stored,
# so the ``json`` type's subvalue is that text) among the strings.
ORDER_RANK = (
    "CASE coalesce({t}, 'null') WHEN 'null' THEN 0 WHEN 'integer' THEN 1 WHEN 'real' THEN 1 WHEN 'true' THEN 1 "
    "WHEN 'false' THEN 1 ELSE 2 END"
)
ORDER_NUMBER = "CASE {t} WHEN 'true' THEN 1 WHEN 'false' THEN 0 WHEN 'integer' THEN ({e})::numeric WHEN 'real' THEN ({e})::numeric END"
ORDER_TEXT = "(CASE {t} WHEN 'text' THEN {e} WHEN 'array' THEN {j} WHEN 'object' THEN {j} END) COLLATE \"C\""


class PgCompiler(Compiler):
    """``Compiler`` for PostgreSQL: booleans, typed comparisons, patterns matched in Python."""

    TRUE, FALSE = "TRUE", "FALSE"
    NO_LIMIT = None  # LIMIT NULL: no limit

    def __init__(self, con: Any, *, links: bool = True) -> None:
        super().__init__(links=links)
        self._con = con

    def regex(self, pattern: str, sql: str, values: str) -> str:
        compiled = re.compile(pattern)
        matched = [v for (v,) in self._con.execute(values) if isinstance(v, str) and compiled.search(v)]
        return f"{sql} IN (SELECT value FROM json_each({self.bind(json.dumps(matched))}))"

    def metadata_regex(self, pattern: str, path: str) -> str:
        source = "LEFT JOIN versions AS s ON s.id = v.source_id" if self.meta != "v.metadata" else ""
        values = f"SELECT DISTINCT json_extract({self.meta}, ?1) FROM versions AS v {source} WHERE json_type({self.meta}, ?1) = 'text'"
        compiled = re.compile(pattern)
        matched = [v for (v,) in self._con.execute(values, (path,)) if isinstance(v, str) and compiled.search(v)]
        return f"{self.extract(path)} IN (SELECT value FROM json_each({self.bind(json.dumps(matched))}))"

    def order_metadata(self, path: str, direction: str) -> str:
        t, e = self.json_type(path), self.extract(path)
        j = f"(({self.meta})::json #> artreg_json_path({self.bind(path)}))::text"
        rank, number, text = ORDER_RANK.format(t=t), ORDER_NUMBER.format(t=t, e=e), ORDER_TEXT.format(t=t, e=e, j=j)
        return f"{rank}{direction}, {number}{direction}, {text}{direction}"

    def ordered(self, path: str, symbol: str, value: int | float | str) -> str:
        t, e = self.json_type(path), self.extract(path)
        if isinstance(value, str):
            return f"(CASE WHEN {t} = 'text' THEN {e} COLLATE \"C\" {symbol} {self.bind(value)} ELSE FALSE END)"
        return f"(CASE WHEN {t} IN ('integer', 'real') THEN ({e})::numeric {symbol} {self.bind(repr(value))}::numeric ELSE FALSE END)"

    def equals(self, field: str, path: str, value: object) -> str:
        t = self.json_type(path)
        if value is None:
            return f"coalesce({t}, 'null') = 'null'"
        if isinstance(value, bool):
            return f"coalesce({t} = '{'true' if value else 'false'}', FALSE)"
        if isinstance(value, (int, float, str)):
            return f"coalesce({self.ordered(path, '=', value)}, FALSE)"
        from ._filters import _json_text

        text = _json_text(field, value)
        whole = f"({self.meta})::jsonb #> artreg_json_path({self.bind(path)})"
        return f"coalesce(CASE WHEN {t} IN {_json_types(value)} THEN {whole} = {self.bind(text)}::jsonb ELSE FALSE END, FALSE)"
