"""The bundle format (SPEC §16): what a bundle file holds and the reports of moving one.

A bundle is a tar stream (``_tar.py``) of, in this order:

- ``bundle.json``: the header, ``{"format": "artreg-bundle", "version": 1, "source": <the
  exporting registry's UUID>, "created_at", "created_by", "artreg", "basis"}``.
- ``records/000000.jsonl``, ``records/000001.jsonl``, ...: the metadata, one JSON object per
  line, each member about 1 MiB. Every record has a ``kind``; they come in this order:
  ``registry`` (a registry's settings, to recreate it), ``collection``, ``version`` (each
  followed by the ``entries`` records of its manifest, in path order, unless it is
  ``known``: then the receiver holds it already and only its aliases and tags travel),
  ``link``, ``run`` (with its ``outputs`` and ``inputs``: the lineage edges) and
  ``receiver_blobs`` (blobs that entries name but the bundle leaves out because the
  receiver holds them). Ids in records are the bundle's own; versions and runs also carry
  ``origins``, the ``<registry uuid>:<id>`` identities under which registries know them.
- ``blobs/sha256/ab/cdef...``: the bytes of every stored entry, once per digest, in
  ascending digest order (so a reader checks them off against the entries as they come).
- ``end.json``: counts and the sha256 of all record members' bytes, so a bundle cut short
  or altered anywhere is refused before anything is imported.

Metadata comes before bytes, so a reader knows every blob it should get before the first
one arrives, and can stop after the records (to read a basis) without reading the bytes.
Unknown fields in a record are ignored, so later versions can add fields (a run's history,
say) that older readers skip; an unknown record kind or a newer format version is refused.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import apsw

from ._clock import parse_time
from ._errors import ArtregError, IntegrityError, InvalidName
from ._names import check_metadata, check_text, dump_json
from ._tar import TarWriter

FORMAT = "artreg-bundle"
FORMAT_VERSION = 1
HEADER_MEMBER = "bundle.json"
END_MEMBER = "end.json"
RECORDS_MEMBER = "records/{:06d}.jsonl"
BLOB_PREFIX = "blobs/sha256/"
# A records member is cut after about this many bytes; a reader refuses one above the limit.
RECORDS_BYTES = 1 << 20
RECORDS_LIMIT = 64 << 20
# Manifest rows per ``entries`` record (fewer when their text passes RECORDS_BYTES).
ENTRIES_PER_RECORD = 10_000
# The kinds a record may have, in the order they must come.
KINDS = ("registry", "collection", "version", "entries", "link", "run", "receiver_blobs")

_DIGEST = re.compile(r"[0-9a-f]{64}")
_ORIGIN = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}:[0-9]+")
_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z")


def blob_member(digest: str) -> str:
    """The tar member name of a blob."""
    return f"{BLOB_PREFIX}{digest[:2]}/{digest[2:]}"


def member_digest(name: str) -> str | None:
    """The digest a blob member's name gives, or None when the name is not a blob member's."""
    if not name.startswith(BLOB_PREFIX):
        return None
    folder, slash, rest = name[len(BLOB_PREFIX):].partition("/")
    digest = folder + rest
    return digest if slash and len(folder) == 2 and _DIGEST.fullmatch(digest) else None


def origin(registry_uuid: str, row_id: int) -> str:
    """The identity of a version or run row of a registry, as other registries know it."""
    return f"{registry_uuid}:{row_id}"


def encode(record: dict[str, Any]) -> bytes:
    """One record as a line of compact JSON."""
    return (json.dumps(record, separators=(",", ":"), ensure_ascii=False, allow_nan=False) + "\n").encode()


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def decode(line: bytes, where: str) -> dict[str, Any]:
    """A record from its line; IntegrityError naming ``where`` unless it is a JSON object."""
    try:
        value = json.loads(line, parse_constant=_no_constants)
    except (ValueError, UnicodeDecodeError) as exc:
        raise IntegrityError(f"bundle is damaged: {where} is not a JSON record ({exc})") from exc
    if not isinstance(value, dict):
        raise IntegrityError(f"bundle is damaged: {where} is not a JSON object")
    return value


class RecordWriter:
    """Writes records into ``records/NNNNNN.jsonl`` members of about 1 MiB, hashing their bytes."""

    def __init__(self, tar: TarWriter) -> None:
        self._tar = tar
        self._buffer = bytearray()
        self._hasher = hashlib.sha256()
        self.members = 0
        self.records = 0

    def add(self, record: dict[str, Any]) -> None:
        self.add_line(encode(record))

    def add_line(self, line: bytes) -> None:
        """A record already encoded (``encode``)."""
        self._buffer += line
        self.records += 1
        if len(self._buffer) >= RECORDS_BYTES:
            self.flush()

    def flush(self) -> None:
        if self._buffer:
            self._hasher.update(self._buffer)
            self._tar.add(RECORDS_MEMBER.format(self.members), memoryview(self._buffer))
            self.members += 1
            self._buffer = bytearray()

    def digest(self) -> str:
        """sha256 hex of every record member's bytes, in order (after the last ``flush``)."""
        return self._hasher.hexdigest()


class Fields:
    """Typed reading of one record's fields; anything malformed raises IntegrityError naming the record."""

    def __init__(self, record: dict[str, Any], where: str) -> None:
        self.record = record
        self.where = where

    def fail(self, problem: str) -> IntegrityError:
        return IntegrityError(f"bundle is damaged: {self.where}: {problem}")

    def get(self, key: str) -> Any:
        if key not in self.record:
            raise self.fail(f"field {key!r} is missing")
        return self.record[key]

    def checked(self, key: str, check: Callable[[Any], Any]) -> Any:
        """The field after one of artreg's ``check_*`` functions, whose refusal names the field."""
        return self.apply(key, self.get(key), check)

    def each(self, key: str, check: Callable[[Any], Any]) -> list[Any]:
        """A list field with ``check`` applied to each of its items."""
        return [self.apply(key, item, check) for item in self.items(key)]

    def apply(self, key: str, value: Any, check: Callable[[Any], Any]) -> Any:
        """``check(value)`` for part of the field ``key``; its refusal becomes IntegrityError naming the record."""
        try:
            return check(value)
        except ArtregError as exc:
            raise self.fail(f"{key}: {exc}") from exc

    def text(self, key: str) -> str:
        value = self.get(key)
        if not isinstance(value, str) or not value:
            raise self.fail(f"{key} must be a non-empty string, not {value!r}")
        return value

    def optional_text(self, key: str) -> str | None:
        value = self.get(key)
        if value is not None and not isinstance(value, str):
            raise self.fail(f"{key} must be a string or null, not {value!r}")
        return value

    def user(self, key: str) -> str:
        value = self.text(key)
        if any(ord(c) < 32 or 0xD800 <= ord(c) <= 0xDFFF for c in value):
            raise self.fail(f"{key} may not hold control characters: {value!r}")
        return value

    def integer(self, key: str, minimum: int = 0) -> int:
        value = self.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            raise self.fail(f"{key} must be an integer >= {minimum}, not {value!r}")
        return value

    def flag(self, key: str) -> bool:
        value = self.get(key)
        if not isinstance(value, bool):
            raise self.fail(f"{key} must be true or false, not {value!r}")
        return value

    def digest(self, key: str) -> str:
        return check_digest(self.get(key), self)

    def time(self, key: str) -> str:
        return check_time(self.get(key), self, key)

    def optional_time(self, key: str) -> str | None:
        value = self.get(key)
        return None if value is None else check_time(value, self, key)

    def items(self, key: str) -> list[Any]:
        value = self.get(key)
        if not isinstance(value, list):
            raise self.fail(f"{key} must be a list, not {type(value).__name__}")
        return value

    def ids(self, key: str) -> list[int]:
        values = self.items(key)
        if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in values):
            raise self.fail(f"{key} must be a list of record ids")
        return values

    def origins(self) -> list[str]:
        values = self.items("origins")
        if not values or not all(isinstance(v, str) and _ORIGIN.fullmatch(v) for v in values):
            raise self.fail("origins must be a non-empty list of '<registry uuid>:<id>' strings")
        if len(set(values)) != len(values):
            raise self.fail("origins repeats an origin")
        return values


def check_digest(value: object, fields: Fields) -> str:
    if not isinstance(value, str) or not _DIGEST.fullmatch(value):
        raise fields.fail(f"{value!r} is not a sha256 hex digest")
    return value


def check_time(value: object, fields: Fields, key: str) -> str:
    """A timestamp in artreg's stored form, kept as the same text."""
    if not isinstance(value, str) or not _TIME.fullmatch(value):
        raise fields.fail(f"{key} must be a UTC timestamp like 2024-01-31T12:00:00.000000Z, not {value!r}")
    try:
        parse_time(value)
    except ValueError as exc:
        raise fields.fail(f"{key} is not a valid time: {value!r}") from exc
    return value


# -- checks of single fields, for the reader --------------------------------------------

RUN_STATES = ("running", "finished", "crashed")


def check_uuid(value: object, fields: Fields) -> str:
    """A registry UUID (the header's ``source``)."""
    if not isinstance(value, str) or len(value) != 36:
        raise fields.fail(f"source must be a registry UUID, not {value!r}")
    return value


def check_metadata_object(value: object) -> dict[str, Any]:
    """Metadata (or a run's config) as ``check_metadata`` takes it, which must be an object here, not null."""
    if not isinstance(value, dict):
        raise InvalidName(f"metadata must be an object, not {value!r}")
    return check_metadata(value)


def check_ref(ref: str) -> str:
    """A reference entry's URI: any text UTF-8 can hold."""
    return check_text(ref, "reference")


def dump_extra(extra: dict[str, Any]) -> str:
    """An entry's ``extra`` as stored; text that UTF-8 cannot hold (a lone surrogate) is refused."""
    return check_text(dump_json(extra), "extra")


def check_ttl(value: object) -> str | float | None:
    """A version's TTL as records hold it: ``"inherit"``, null (never expires) or seconds."""
    if value is None:
        return None
    if value == "inherit":
        return "inherit"
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return float(value)
    raise InvalidName(f"ttl must be 'inherit', null or a positive number of seconds, not {value!r}")


def _label(fields: Fields, key: str) -> str:
    value = fields.text(key)
    if len(value) > 128 or any(ord(c) < 32 for c in value):
        raise fields.fail(f"{key} must be 1-128 characters without control characters: {value!r}")
    return str(fields.apply(key, value, lambda v: check_text(v, key)))


def _optional_label(fields: Fields, key: str) -> str | None:
    return None if fields.get(key) is None else _label(fields, key)


def _state(fields: Fields, key: str) -> str:
    value = fields.get(key)
    if value not in RUN_STATES:
        raise fields.fail(f"{key} must be one of {', '.join(RUN_STATES)}, not {value!r}")
    return str(value)


def _optional_text(fields: Fields, key: str) -> str | None:
    value = fields.optional_text(key)
    return None if value is None else fields.checked(key, lambda v: check_text(v, key))


# The columns of ``runs`` that travel with a run, each with the check it gets when it arrives;
# export, import and verify all take the list from here. Adding a column to runs (a W&B run
# id, a summary) is one line here (and ``JSON_RUN_FIELDS`` when it holds JSON); older readers
# ignore a field they do not know. Rows of their own (a run's history) would be a record kind.
RUN_CHECKS: dict[str, Any] = {
    "name": _label,
    "job_type": _optional_label,
    "config": lambda fields, key: fields.checked(key, check_metadata_object),
    "state": _state,
    "error": _optional_text,
    "created_by": Fields.user,
    "started_at": Fields.time,
    "finished_at": Fields.optional_time,
}
RUN_FIELDS = tuple(RUN_CHECKS)
JSON_RUN_FIELDS = frozenset({"config"})


def staging_db() -> apsw.Connection:
    """A private scratch database in the system's temporary folder, gone when closed (or the process ends).

    Holds what a bundle reader or writer must remember per entry or blob, so that its memory
    stays flat however big the bundle. Nothing in it needs to survive a crash.
    """
    con = apsw.Connection("")
    con.execute("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA cache_size = -32768; PRAGMA foreign_keys = OFF")
    return con


def digest_batches(staging: apsw.Connection, size: int = 500) -> Iterator[list[str]]:
    """The digests of the ``need`` table in order, ``size`` at a time, with no cursor left open
    between batches (so the caller may update the rows it was given)."""
    last = ""
    while batch := [r[0] for r in staging.execute("SELECT digest FROM need WHERE digest > ? ORDER BY digest LIMIT ?", (last, size))]:
        yield batch
        last = batch[-1]


@dataclass(frozen=True)
class Copied:
    """One version or link a copy moved: its name at the source and where it landed.

    ``outcome`` is ``created`` (a new version or link at the destination), ``reused`` (the
    destination already had it, from an earlier copy or with the same content), ``sent``
    (written whole into a bundle) or ``known`` (written into a bundle as held by the
    receiver already: aliases and tags only). ``destination`` is None for a bundle.
    """

    source: str
    destination: str | None
    outcome: str


@dataclass(frozen=True)
class CopyReport:
    """What ``copy_to``, ``export_bundle`` or ``import_bundle`` did.

    ``blobs_sent`` and ``bytes_sent`` count the blob bytes that went into (or came out of)
    the bundle stream, each distinct blob once; blobs the receiver already held are not sent.
    ``aliases_moved`` counts aliases set or moved at the destination; ``aliases_kept`` names
    those left where they were (``project/collection:alias``) because of
    ``keep_destination_aliases``.
    """

    versions_created: int = 0
    versions_reused: int = 0
    links_created: int = 0
    links_reused: int = 0
    runs_created: int = 0
    runs_reused: int = 0
    aliases_moved: int = 0
    aliases_kept: tuple[str, ...] = ()
    blobs_sent: int = 0
    bytes_sent: int = 0
    copied: tuple[Copied, ...] = ()


@dataclass(frozen=True)
class BundleSummary:
    """What a bundle holds, as ``verify_bundle`` found it (every blob checked against its digest).

    ``receiver_versions`` and ``receiver_blobs`` count what the bundle leaves out because it
    was made against a basis: the registry that imports it must already hold them.
    """

    source: str
    created_at: str
    created_by: str
    versions: int
    links: int
    runs: int
    blobs: int
    bytes: int
    receiver_versions: int
    receiver_blobs: int

