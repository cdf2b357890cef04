"""Which blob store a registry uses, remembered in its settings; moving to a bucket.

The settings rows (all written once, or by ``move_blobs``):

- ``blobs``: ``s3://bucket/prefix`` when the blobs are in a bucket; absent for ``objects/``;
- ``blobs_store_id``: the id in the prefix's marker once this catalog has bound to it (its
  ``BlobStore.identity``: two registries with the same one share their blobs, so a copy
  between them moves no bytes);
- ``blobs_owner``: the registry id of the catalog that owns the prefix (only it sweeps there).

Copying between registries (``artreg copy``): when ``src._store.identity ==
dst._store.identity`` the two share one physical store, and each blob above the inline
limit is recorded at the destination with ``dst._store.adopt(digest, size)`` (claimed in
the bucket, checked present, no byte sent) and waited for like an upload before the commit
that names it. ``_ingest._store_blob`` does exactly that for a draft made from another
registry's version.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .._errors import AlreadyExists, InvalidName
from . import _blob_rows as blob_rows
from ._blob_cache import BlobCache, CacheUsage
from ._blobs import BlobStore, Stored
from ._db import Database
from ._s3 import S3Location, parse_location

UPSERT_SETTING = "INSERT INTO settings(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value"


@dataclass(frozen=True)
class MoveReport:
    """What ``move_blobs`` did: blobs sent to the bucket, those it already held, and the bytes sent."""

    url: str
    blobs: int
    uploaded: int
    present: int
    bytes: int
    owner: bool


def open_store(db: Database, objects: Path | None, inline_limit: int, *, requested: S3Location | None,
               cache_size: int | None, user: str, create: bool = True) -> BlobStore:
    """The registry's BlobStore, from its settings; ``requested`` (``blobs=``) must agree with them.

    ``create=False`` (a read-only registry) makes no folder.
    """
    store = BlobStore(db, objects, inline_limit, create=create)
    stored = db.setting("blobs")
    if requested is not None and stored != requested.url:
        where = "in its own objects/ folder" if stored is None else f"in {stored}"
        hint = f"; `artreg blobs move {requested.url}` moves them there" if stored is None else ""
        raise AlreadyExists(f"the registry {db.path!r} keeps its blobs {where}, not in {requested.url}{hint}")
    if stored is None:
        if cache_size is not None:
            raise InvalidName("cache_size= bounds the cache of a registry whose blobs are in a bucket; "
                              "this one keeps them in objects/, which is its store, not a cache")
        return store
    assert objects is not None
    attach(store, parse_location(stored), cache_size, user)
    return store


def attach(store: BlobStore, location: S3Location, cache_size: int | None, user: str) -> None:
    """Make ``store`` keep its files in ``location``, binding to the prefix's marker if not done yet."""
    from ._s3_store import S3Files  # boto3 is imported only by registries that use a bucket

    assert store.objects is not None
    registry_id = store.db.setting("registry_id")
    assert registry_id is not None
    files = S3Files(location, BlobCache(store.objects, cache_size), registry_id, store.db.setting("blobs_store_id"),
                    lambda exclusive: store.lock(exclusive=exclusive))
    if files.store_id is None:  # created with blobs=, but not bound yet (or binding failed then)
        marker = files.bind(user)
        with store.db.write() as con:
            con.execute(UPSERT_SETTING, ("blobs_store_id", marker.store_id))
            con.execute(UPSERT_SETTING, ("blobs_owner", marker.owner))
    store.files = files


def move_blobs(store: BlobStore, url: str, user: str) -> MoveReport:
    """Send every blob file to ``url`` and make it the registry's store; ``objects/`` becomes its cache.

    Under the exclusive store lock (no log or gc runs meanwhile), each blob goes up as a log
    would send it (claimed, conditional, its sha256 checked by the server); only then does one
    transaction switch the setting. Interrupted, nothing has changed but objects sent to the
    bucket, and running it again skips them. Processes that opened the registry before the
    switch refuse their next log or fetch until reopened.
    """
    location = parse_location(url)
    current = store.db.setting("blobs")
    if current == location.url:
        raise AlreadyExists(f"the registry's blobs are already in {location.url}")
    if current is not None:
        raise InvalidName(f"the registry's blobs are in {current}; moving them from one bucket to another is not supported")
    if store.objects is None:
        raise InvalidName("a :memory: registry keeps every blob inline; there is nothing to move")
    from ._s3_store import S3Files

    local = store.files
    assert local is not None
    registry_id = store.db.setting("registry_id")
    assert registry_id is not None
    cache = BlobCache(store.objects, None)
    remote = S3Files(location, cache, registry_id, None, lambda exclusive: store.lock(exclusive=exclusive))
    marker = remote.bind(user)
    uploaded = present = sent = 0
    with store.lock(exclusive=True):
        with store.db.read() as con:
            rows = blob_rows.file_blobs(con)
        remote.claims.begin()
        try:
            pending: list[Stored] = []
            for digest, size in rows:
                path = local.local_file(digest, size)  # IntegrityError when a blob file is already missing
                pending.append(remote.send_file(path, digest, size))
            for stored in pending:
                assert stored.pending is not None
                sent_now = bool(stored.pending.result())
                uploaded += sent_now
                present += not sent_now
                sent += stored.size if sent_now else 0
        finally:
            remote.claims.end()
        with store.db.write() as con:
            con.execute(UPSERT_SETTING, ("blobs", location.url))
            con.execute(UPSERT_SETTING, ("blobs_store_id", marker.store_id))
            con.execute(UPSERT_SETTING, ("blobs_owner", marker.owner))
        cache.record(rows)  # the files already in objects/ are now cached copies
        store.files = remote
    return MoveReport(location.url, len(rows), uploaded, present, sent, marker.owner == registry_id)


def cache_of(store: BlobStore) -> BlobCache:
    """The bucket's local cache; InvalidName for a registry whose objects/ is its store."""
    cache = getattr(store.files, "cache", None)
    if not isinstance(cache, BlobCache):
        raise InvalidName("this registry keeps its blobs in its own objects/ folder: that is its store, not a cache")
    return cache


def cache_usage(store: BlobStore) -> CacheUsage:
    return cache_of(store).usage()


def prune_cache(store: BlobStore, size: int | None) -> CacheUsage:
    return cache_of(store).prune(size)


