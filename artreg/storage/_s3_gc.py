"""Sharing one bucket prefix between catalogs: claims, the gc lock, and the owner's sweep.

Several catalogs (a registry per machine, a team catalog) may keep their blobs under one
prefix, and none of them knows what the others name. The DVC lesson (treeverse/dvc#1300:
``gc -c`` on a shared remote deleted other projects' data) is that a sweep must see every
user's needs. Here:

- **Claims.** Before a catalog uploads a blob, or takes one it found already there, it writes
  ``claims/<registry id>/<time>-<id>.json`` listing the digests. A claim of a catalog that
  does not own the prefix stays until that catalog's own ``gc`` replaces its claims by one
  listing exactly what it still names; the owner's claims only announce in-flight logs
  and its gc drops them once older than the grace period.
- **Ownership.** The first catalog to use a prefix writes the marker (``artreg.json``, with
  ``If-None-Match: *``) naming itself the owner. Only the owner's gc deletes blobs there;
  another catalog's gc deletes nothing in the bucket, says so, and compacts its claims.
- **The sweep** deletes an object only when the owner's catalog does not name it, no claim
  of any catalog names it, and it is older than the grace period (24 h by default); an
  abandoned multipart upload older than that is aborted.
- **The gc lock** closes the race between a log and a sweep on two machines. A log writes its
  claim, then looks for ``gc.lock`` and waits while it is there; the sweep writes
  ``gc.lock``, then reads the claims, then deletes. S3 reads are strongly consistent, so
  either the sweep reads the claim, or the log sees the lock and waits for the sweep to end
  before it trusts that a blob is present. The lock is refreshed while the sweep runs
  (claims are read again with it); a lock not refreshed for ``LOCK_STALE`` is a crashed
  gc's and is ignored.

Time: ages compare the server's ``LastModified`` with the registry's clock (injectable, as
for ``expire``); a grace period of hours dwarfs any sane clock skew.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Collection, Iterator
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

from .._errors import Busy, StoreError
from . import _s3

if TYPE_CHECKING:
    from ._s3_store import S3Files

CLAIMS = "claims/"
GC_LOCK = "gc.lock"
DEFAULT_GRACE = timedelta(hours=24)
LOCK_STALE = timedelta(seconds=120)
LOCK_REFRESH = 30.0  # seconds between refreshes of the lock (and re-reads of the claims) during a sweep
LOCK_WAIT = 3600.0  # how long a log waits for a sweep before giving up (Busy)
DELETE_BATCH = 1000  # DeleteObjects takes at most 1000 keys


@dataclass(frozen=True)
class RemoteSweep:
    """What gc did (or, dry, would do) in a bucket prefix."""

    deleted: int = 0
    deleted_bytes: int = 0
    kept_young: int = 0
    kept_claimed: int = 0
    aborted_uploads: int = 0
    note: str = ""


class Claims:
    """This process's claims on one prefix: written in batches, each followed by a look for the gc lock.

    A digest stays claimed for this process while any log in it is under way (the store lock
    is held shared); when the last one ends the memory is dropped, because a later gc of this
    catalog may compact the claims away.
    """

    def __init__(self, files: S3Files) -> None:
        self._files = files
        self._lock = threading.Lock()
        self._waiting: set[str] = set()
        self._claimed: set[str] = set()
        self._active = 0

    def begin(self) -> None:
        with self._lock:
            self._active += 1

    def end(self) -> None:
        with self._lock:
            self._active -= 1
            if self._active == 0:
                self._claimed.clear()
                self._waiting.clear()

    def announce(self, digest: str) -> None:
        """A blob about to go up: claimed with the next batch."""
        with self._lock:
            if digest not in self._claimed:
                self._waiting.add(digest)

    def cover(self, digests: Collection[str]) -> None:
        """Return once every digest is claimed and no sweep is deleting."""
        with self._lock:
            need = set(digests) - self._claimed
            if not need:
                return
            batch = sorted(need | (self._waiting - self._claimed))
            write_claim(self._files, batch)
            self._claimed.update(batch)
            self._waiting.difference_update(batch)
            wait_for_sweep(self._files)


def write_claim(files: S3Files, digests: list[str]) -> str:
    """One claim object listing ``digests``; returns its key."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    key = files.location.key(f"{CLAIMS}{files.registry_id}/{stamp}-{uuid.uuid4().hex[:12]}.json")
    body = json.dumps({"registry": files.registry_id, "digests": digests}, separators=(",", ":")).encode()
    files.call("writing a claim", "put_object", Key=key, Body=body, ContentType="application/json")
    return key


def wait_for_sweep(files: S3Files, timeout: float = LOCK_WAIT) -> None:
    """Wait while a fresh gc lock is in the prefix."""
    deadline = time.monotonic() + timeout
    delay = 0.2
    while True:
        try:
            head = files.client().head_object(Bucket=files.location.bucket, Key=files.location.key(GC_LOCK))
        except Exception as exc:
            if _s3.error_code(exc) in _s3.MISSING_KEY:
                return
            if _s3.is_error(exc):
                _s3.raise_store_error(exc, f"looking for the gc lock of {files.url}")
            raise
        if _age(head) > LOCK_STALE:
            return  # a gc that died: nobody will remove its lock, and nobody is deleting
        if time.monotonic() >= deadline:
            raise Busy(f"a gc has been deleting in {files.url} for over {timeout:.0f} s; try again later")
        time.sleep(delay)
        delay = min(delay * 2, 1.0)


def _age(head: dict[str, Any]) -> timedelta:
    """How old an object is by the server's own clock (its Date header against LastModified)."""
    modified: datetime = head["LastModified"]
    date = head.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
    now = parsedate_to_datetime(date) if date else datetime.now(timezone.utc)
    return now - modified


def list_objects(files: S3Files, name: str) -> Iterator[dict[str, Any]]:
    """Every object under ``prefix/name``, page by page."""
    paginator = files.client().get_paginator("list_objects_v2")
    try:
        for page in paginator.paginate(Bucket=files.location.bucket, Prefix=files.location.key(name)):
            yield from page.get("Contents", [])
    except Exception as exc:
        if _s3.is_error(exc):
            _s3.raise_store_error(exc, f"listing {files.location.key(name)!r} in {files.url}")
        raise


def sweep(files: S3Files, known: set[str], *, now: datetime, grace: timedelta, dry_run: bool) -> RemoteSweep:
    """The bucket side of gc: the owner deletes what nobody names; anyone else compacts its claims."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)  # a clock without a zone is taken as UTC, as S3's times are
    marker = files.read_marker()
    if marker is None or marker.store_id != files.store_id:
        return RemoteSweep(note=f"{files.url} has no marker of this store (its artreg.json is gone or replaced): "
                                "nothing was deleted there")
    if marker.owner != files.registry_id:
        if not dry_run:
            compact(files, known)
        return RemoteSweep(note=f"{files.url} is shared and owned by catalog {marker.owner}: nothing was deleted there "
                                "(its owner's gc sweeps it); this registry's claims now list only the blobs it names")
    prefix = files.location.key("blobs/sha256/")
    unreferenced = []
    for item in list_objects(files, "blobs/sha256/"):
        digest = item["Key"][len(prefix):].replace("/", "")
        if len(digest) == 64 and digest not in known:
            unreferenced.append((digest, item["Key"], int(item["Size"]), item["LastModified"]))
    old = [u for u in unreferenced if now - u[3] >= grace]
    young = len(unreferenced) - len(old)
    # Claims never change once written: read them all before taking the lock, so that the
    # lock (which holds logs back) is held only for a second listing and the new ones.
    seen: dict[str, list[str]] = {}
    protected, _ = _read_claims(files, now, grace, seen)
    if dry_run:
        doomed = [u for u in old if u[0] not in protected]
        return RemoteSweep(len(doomed), sum(u[2] for u in doomed), young, len(old) - len(doomed))
    lock = _GcLock(files)
    lock.take()
    try:
        protected, dead = _read_claims(files, now, grace, seen)
        doomed = [u for u in old if u[0] not in protected]
        deleted: list[tuple[str, str, int, datetime]] = []
        for start in range(0, len(doomed), DELETE_BATCH):
            if lock.due():
                lock.refresh()
                protected, dead = _read_claims(files, now, grace, seen)
            batch = [u for u in doomed[start:start + DELETE_BATCH] if u[0] not in protected]
            _delete(files, [u[1] for u in batch])
            deleted.extend(batch)
        aborted = _abort_stale_uploads(files, now, grace)
        _delete(files, dead)
    finally:
        lock.release()
    return RemoteSweep(len(deleted), sum(u[2] for u in deleted), young, len(old) - len(deleted), aborted)


def compact(files: S3Files, live: set[str]) -> None:
    """Replace this catalog's claims by one listing ``live`` (called under the exclusive store lock)."""
    mine = files.location.key(f"{CLAIMS}{files.registry_id}/")
    old = [item["Key"] for item in list_objects(files, f"{CLAIMS}{files.registry_id}/") if item["Key"].startswith(mine)]
    if live:
        new = write_claim(files, sorted(live))
        old = [key for key in old if key != new]
    if old:
        wait_for_sweep(files)  # a sweep under way may be reading them
        _delete(files, old)


def _read_claims(files: S3Files, now: datetime, grace: timedelta, seen: dict[str, list[str]]) -> tuple[set[str], list[str]]:
    """(digests claimed by anyone, keys of this catalog's own claims past the grace period).

    ``seen`` holds the claims read before (key -> digests), which are not read again. A
    claim that disappears between the listing and its reading was compacted into a newer
    one, which sorts after it: the listing is taken again (three times at most).
    """
    own = files.location.key(f"{CLAIMS}{files.registry_id}/")
    for _ in range(3):
        protected: set[str] = set()
        dead: list[str] = []
        vanished = False
        for item in list_objects(files, CLAIMS):
            key = item["Key"]
            if key.startswith(own) and now - item["LastModified"] >= grace:
                dead.append(key)
                continue
            digests = seen.get(key)
            if digests is None:
                digests = _claim_digests(files, key)
                if digests is None:
                    vanished = True
                    break
                seen[key] = digests
            protected.update(digests)
        if not vanished:
            return protected, dead
    raise StoreError(f"the claims in {files.url} kept changing while gc read them; nothing was deleted there, try again")


def _claim_digests(files: S3Files, key: str) -> list[str] | None:
    try:
        body = files.client().get_object(Bucket=files.location.bucket, Key=key)["Body"].read()
    except Exception as exc:
        if _s3.error_code(exc) in _s3.MISSING_KEY:
            return None
        if _s3.is_error(exc):
            _s3.raise_store_error(exc, f"reading claim {key!r} in {files.url}")
        raise
    try:
        digests = json.loads(body)["digests"]
        if not isinstance(digests, list):
            raise TypeError(type(digests))
        return [str(d) for d in digests]
    except (ValueError, KeyError, TypeError) as exc:
        # Unreadable: it might name anything, so nothing may be swept until someone looks.
        raise StoreError(f"claim {key!r} in {files.url} is not a list of digests; gc deleted nothing there") from exc


def _delete(files: S3Files, keys: list[str]) -> None:
    for start in range(0, len(keys), DELETE_BATCH):
        chunk = keys[start:start + DELETE_BATCH]
        answer = files.call("deleting unreferenced blobs", "delete_objects",
                            Delete={"Objects": [{"Key": key} for key in chunk], "Quiet": True})
        failed = [e for e in answer.get("Errors", []) if e.get("Code") not in _s3.MISSING_KEY]
        if failed:
            first = failed[0]
            raise StoreError(f"{files.url} refused to delete {len(failed)} object(s), e.g. {first.get('Key')!r}: "
                             f"{first.get('Code')} {first.get('Message', '')}")


def _abort_stale_uploads(files: S3Files, now: datetime, grace: timedelta) -> int:
    """Abort multipart uploads of blobs started longer ago than the grace period (crashed logs)."""
    aborted = 0
    paginator = files.client().get_paginator("list_multipart_uploads")
    try:
        for page in paginator.paginate(Bucket=files.location.bucket, Prefix=files.location.key("blobs/")):
            for upload in page.get("Uploads", []):
                if now - upload["Initiated"] >= grace:
                    files.call("aborting an abandoned upload", "abort_multipart_upload", Key=upload["Key"], UploadId=upload["UploadId"])
                    aborted += 1
    except Exception as exc:
        if _s3.is_error(exc):
            _s3.raise_store_error(exc, f"listing the unfinished uploads of {files.url}")
        raise
    return aborted


class _GcLock:
    """``gc.lock`` in the prefix, held by one sweep (taken with If-None-Match, or over a stale one)."""

    def __init__(self, files: S3Files) -> None:
        self._files = files
        self._key = files.location.key(GC_LOCK)
        self._token = uuid.uuid4().hex
        self._refreshed = 0.0

    def take(self) -> None:
        try:
            self._put(IfNoneMatch="*")
        except StoreError as exc:
            if _s3.error_code(exc.__cause__ or exc) not in _s3.PRECONDITION | _s3.CONFLICT:
                raise
            head = self._files.call("reading the gc lock", "head_object", Key=self._key)
            if _age(head) <= LOCK_STALE:
                raise Busy(f"another gc is deleting in {self._files.url}; try again later") from exc
            self._put()  # a dead gc's lock

    def _put(self, **condition: str) -> None:
        body = json.dumps({"registry": self._files.registry_id, "token": self._token}).encode()
        self._files.call("writing the gc lock", "put_object", Key=self._key, Body=body, **condition)
        self._refreshed = time.monotonic()

    def due(self) -> bool:
        return time.monotonic() - self._refreshed >= LOCK_REFRESH

    def refresh(self) -> None:
        self._put()

    def release(self) -> None:
        with suppress(StoreError):  # else it goes stale in LOCK_STALE, and logs stop waiting for it
            self._files.call("removing the gc lock", "delete_object", Key=self._key)
