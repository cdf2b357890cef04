"""What a run records besides lineage: its config, its summary and its ``log()`` history (SPEC §15).

``config`` and ``summary`` are mappings that write through: each change is one IMMEDIATE
transaction that reads the stored JSON, merges the change and writes it back, so two
processes setting different keys of one run both keep theirs. History rows are written
when a step is committed, in the same transaction as the summary they update.

History values may be NaN or infinite (a diverging loss is worth recording), so they are
stored as Python's JSON with those tokens; config stays strict JSON (its column checks it).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any

from ._errors import InvalidName
from ._names import MAX_DEPTH, _check_json_value, check_text, dump_json, dump_metrics

if TYPE_CHECKING:
    from ._runs import Run

SELECT_CONFIG = "SELECT config FROM runs WHERE id = ?"
SELECT_SUMMARY = "SELECT summary FROM runs WHERE id = ?"
UPDATE_CONFIG = "UPDATE runs SET config = ? WHERE id = ?"
UPDATE_SUMMARY = "UPDATE runs SET summary = ? WHERE id = ?"
INSERT_HISTORY = """
INSERT INTO run_history(run_id, step, data, at) VALUES (?, ?, ?, ?)
ON CONFLICT(run_id, step) DO UPDATE SET data = excluded.data, at = excluded.at
"""
SELECT_HISTORY = "SELECT step, data FROM run_history WHERE run_id = ? ORDER BY step"
SELECT_LAST_STEP = "SELECT max(step) FROM run_history WHERE run_id = ?"


def metric_value(value: object, where: str, depth: int = 0) -> Any:
    """A logged value as JSON-able data: numbers (NaN included), strings, lists and dicts of them.

    Scalars of numpy or torch (anything with ``.item()``) become Python numbers; arrays
    with ``.tolist()`` become lists. Anything else, or nesting deeper than ``MAX_DEPTH``,
    raises InvalidName naming the key.
    """
    if depth > MAX_DEPTH:
        raise InvalidName(f"{where[:200]} is nested more than {MAX_DEPTH} levels deep")
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return check_text(value, where)
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidName(f"{where} has a non-string key {key!r}")
            out[check_text(key, f"{where} key")] = metric_value(item, f"{where}.{key}", depth + 1)
        return out
    if isinstance(value, (list, tuple)):
        return [metric_value(item, f"{where}[{i}]", depth + 1) for i, item in enumerate(value)]
    for method in ("item", "tolist"):
        convert = getattr(value, method, None)
        if callable(convert):
            try:
                converted = convert()
            except (TypeError, ValueError):  # .item() of an array with more than one element
                continue
            if converted is not value:
                return metric_value(converted, where)
    raise InvalidName(
        f"{where} is a {type(value).__module__}.{type(value).__qualname__}; a run records numbers, strings, "
        "and lists or dicts of them (store files in an artifact: new_file, add_file)"
    )


def config_value(value: object, where: str) -> Any:
    """A config value: strict JSON (no NaN), after the conversions of ``metric_value``."""
    converted = metric_value(value, where)
    _check_json_value(converted, where, 0)
    return converted


def load_json(text: str) -> Any:
    return json.loads(text)


class _SavedMapping(MutableMapping[str, Any]):
    """A run's dict that writes every change through to its row: reads from memory, ``_remove`` saves."""

    def __init__(self, run: Run, data: dict[str, Any]) -> None:
        self._run = run
        self._data = data

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __setitem__(self, key: str, value: Any) -> None:
        self.update({key: value})

    def __delitem__(self, key: str) -> None:
        if key not in self._data:
            raise KeyError(key)
        self._remove(key)

    def __eq__(self, other: object) -> bool:
        return dict(self._data) == other if isinstance(other, Mapping) else NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(self._data)

    def _remove(self, key: str) -> None:
        raise NotImplementedError


class RunConfig(_SavedMapping):
    """A run's config: a dict that saves every change (``config["lr"] = 0.1``, ``config.update(...)``)."""

    def _remove(self, key: str) -> None:
        self._write({}, [key])

    def __getattr__(self, name: str) -> Any:
        # W&B code reads config keys as attributes (``wandb.config.lr``).
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self._data[name]
        except KeyError:
            raise AttributeError(f"config has no key {name!r}") from None

    def update(self, other: Any = (), /, allow_val_change: bool | None = None, **kwargs: Any) -> None:
        """Set several keys in one transaction (``allow_val_change`` is W&B's and changes nothing here)."""
        changes = dict(other, **kwargs)
        for key in changes:
            if not isinstance(key, str) or not key:
                raise InvalidName(f"config keys must be non-empty strings, not {key!r}")
        self._write({key: config_value(value, f"config[{key!r}]") for key, value in changes.items()}, [])

    def setdefaults(self, defaults: Mapping[str, Any]) -> None:
        """Set the keys of ``defaults`` that the config does not have yet (W&B's ``setdefaults``)."""
        self.update({k: v for k, v in defaults.items() if k not in self._data})

    def as_dict(self) -> dict[str, Any]:
        return dict(self._data)

    def _write(self, changes: dict[str, Any], removed: list[str]) -> None:
        run = self._run
        with run._reg._db.write() as con:
            row = con.execute(SELECT_CONFIG, (run._row,)).fetchone()
            stored: dict[str, Any] = json.loads(row[0]) if row else {}
            stored.update(changes)
            for key in removed:
                stored.pop(key, None)
            con.execute(UPDATE_CONFIG, (dump_json(stored), run._row))
        self._data = stored


class RunSummary(_SavedMapping):
    """A run's summary: the last value logged for each key, or what was set here directly."""

    def _remove(self, key: str) -> None:
        with self._run._reg._db.write() as con:
            stored = _stored_summary(con, self._run._row)
            stored.pop(key, None)
            con.execute(UPDATE_SUMMARY, (dump_metrics(stored), self._run._row))
        self._data = stored

    def update(self, other: Any = (), /, **kwargs: Any) -> None:
        changes = dict(other, **kwargs)
        values = {_key(key): metric_value(value, f"summary[{key!r}]") for key, value in changes.items()}
        with self._run._reg._db.write() as con:
            self._data = merge_summary(con, self._run._row, values)


def _key(key: object) -> str:
    if not isinstance(key, str) or not key:
        raise InvalidName(f"keys must be non-empty strings, not {key!r}")
    return check_text(key, "key")


def _stored_summary(con: Any, row: int) -> dict[str, Any]:
    found = con.execute(SELECT_SUMMARY, (row,)).fetchone()
    return json.loads(found[0]) if found else {}


def merge_summary(con: Any, row: int, values: dict[str, Any]) -> dict[str, Any]:
    """Merge ``values`` into the stored summary (inside the caller's transaction); returns the new summary."""
    stored = _stored_summary(con, row)
    stored.update(values)
    con.execute(UPDATE_SUMMARY, (dump_metrics(stored), row))
    return stored


def check_row(data: object) -> dict[str, Any]:
    """The values of one ``run.log()`` call, checked and converted."""
    if not isinstance(data, Mapping):
        raise InvalidName(f"run.log takes a dict of values, not {type(data).__name__}")
    return {_key(key): metric_value(value, f"log[{key!r}]") for key, value in data.items()}
