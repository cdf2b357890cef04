"""W&B's MongoDB-style filters, as ``api.registries(filter=...)``, ``collections(filter=...)`` and ``api.runs(filters=...)`` take them.

Each searchable object is described by a flat document (``name``, ``tag``, ``created_at``,
``config.<key>``, ...) and matched here; a list field (``tag``) matches when one of its
items does. Timestamps are ``YYYY-MM-DD HH:MM:SS`` strings, so ``$gte``/``$lte`` against a
date or a date-time string compare as W&B's do.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from .._errors import InvalidName


def stamp(moment: datetime) -> str:
    """A time as filters compare it (UTC, ``YYYY-MM-DD HH:MM:SS``)."""
    return moment.strftime("%Y-%m-%d %H:%M:%S")


_LOGICAL = ("$and", "$or", "$nor")
_OPERATORS = ("$exists", "$not", "$eq", "$ne", "$in", "$nin", "$regex", "$contains", "$gt", "$gte", "$lt", "$lte")


def check_filter(spec: object) -> dict[str, Any] | None:
    """The filter, once every operator in it is known and every ``$regex`` compiles (InvalidName otherwise).

    Filters are checked when a query is made, as W&B's server does, not when its results are read.
    """
    if not spec:
        return None
    if not isinstance(spec, dict):
        raise InvalidName(f"a filter is a dict, not {spec!r}")
    for key, cond in spec.items():
        if key in _LOGICAL:
            for clause in _clauses(key, cond):
                check_filter(clause)
        elif key.startswith("$"):
            raise InvalidName(f"unknown filter operator {key!r}")
        else:
            _check_condition(cond)
    return spec


def _check_condition(cond: object) -> None:
    if not (isinstance(cond, dict) and cond and all(isinstance(k, str) and k.startswith("$") for k in cond)):
        return
    for op, operand in cond.items():
        if op not in _OPERATORS:
            raise InvalidName(f"unknown filter operator {op!r}")
        if op == "$not":
            _check_condition(operand)
        elif op == "$regex":
            try:
                re.compile(str(operand))
            except re.error as exc:
                raise InvalidName(f"$regex {operand!r} is not a regular expression: {exc}") from exc
        elif op in ("$in", "$nin") and not isinstance(operand, (list, tuple, set)):
            raise InvalidName(f"{op} takes a list, not {operand!r}")


def matches(doc: dict[str, Any], spec: dict[str, Any] | None) -> bool:
    """Whether a document matches a W&B/MongoDB-style filter: fields, ``$eq $ne $gt $gte $lt $lte $in $nin $regex
    $exists $contains``, ``$and $or $nor $not``. A list field (``tag``) matches when one of its items does."""
    if not spec:
        return True
    if not isinstance(spec, dict):
        raise InvalidName(f"a filter is a dict, not {spec!r}")
    for key, cond in spec.items():
        if key == "$and":
            ok = all(matches(doc, c) for c in _clauses(key, cond))
        elif key == "$or":
            ok = any(matches(doc, c) for c in _clauses(key, cond))
        elif key == "$nor":
            ok = not any(matches(doc, c) for c in _clauses(key, cond))
        elif key.startswith("$"):
            raise InvalidName(f"unknown filter operator {key!r}")
        else:
            ok = _field(doc.get(key), key in doc, cond)
        if not ok:
            return False
    return True


def _clauses(op: str, cond: object) -> list[dict[str, Any]]:
    if not isinstance(cond, list) or not all(isinstance(c, dict) for c in cond):
        raise InvalidName(f"{op} takes a list of filters, not {cond!r}")
    return cond


def _field(value: Any, present: bool, cond: Any) -> bool:
    if not (isinstance(cond, dict) and cond and all(isinstance(k, str) and k.startswith("$") for k in cond)):
        return _any(value, lambda v: v == cond)
    return all(_operator(value, present, op, operand) for op, operand in cond.items())


def _any(value: Any, test: Any) -> bool:
    return any(test(v) for v in value) if isinstance(value, list) else bool(test(value))


def _operator(value: Any, present: bool, op: str, operand: Any) -> bool:
    if op == "$exists":
        return present == bool(operand)
    if op == "$not":
        return not _field(value, present, operand)
    if op == "$eq":
        return _any(value, lambda v: v == operand)
    if op == "$ne":
        return not _any(value, lambda v: v == operand)
    if op == "$in":
        return _any(value, lambda v: v in operand)
    if op == "$nin":
        return not _any(value, lambda v: v in operand)
    if op == "$regex":
        pattern = re.compile(str(operand))
        return _any(value, lambda v: isinstance(v, str) and pattern.search(v) is not None)
    if op == "$contains":
        return _any(value, lambda v: isinstance(v, str) and str(operand) in v)
    compare = {"$gt": lambda a, b: a > b, "$gte": lambda a, b: a >= b, "$lt": lambda a, b: a < b, "$lte": lambda a, b: a <= b}.get(op)
    if compare is None:
        raise InvalidName(f"unknown filter operator {op!r}")
    return _any(value, lambda v: v is not None and _comparable(v, operand) and compare(v, operand))


def _comparable(a: Any, b: Any) -> bool:
    numbers = (int, float)
    return (isinstance(a, numbers) and isinstance(b, numbers)) or (isinstance(a, str) and isinstance(b, str))
