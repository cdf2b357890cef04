"""Opening a catalog in PostgreSQL (SPEC §18): the database, and where its blobs and caches are.

A catalog on a server is shared by many machines, so its blobs must be somewhere they all
reach: ``blobs="s3://bucket/prefix"`` (a local folder per machine then caches them), or a
folder every machine mounts at some path (given as ``blobs="/mnt/team/blobs"``). Either is
remembered when the catalog is created, so later opens may leave it out; a folder given
again wins over the remembered one, since machines mount shares at different paths.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import cast

from .._errors import InvalidName
from ._db import Database
from ._pg import PgDatabase, is_url
from ._s3 import S3Location, parse_location

CACHES = "catalogs"  # under the artreg home: one cache folder per catalog, by its UUID


def is_catalog_url(path: str) -> bool:
    """True for a ``postgresql://`` URL: a catalog on a server rather than a registry file."""
    return is_url(path)


def open_catalog(url: str, blobs: str | None, user: str, home: str, *, create: bool,
                 read_only: bool) -> tuple[Database, Path, S3Location | None]:
    """The catalog's database, its local blob folder (the store, or the cache of a bucket) and its bucket.

    The database is a ``PgDatabase``, typed as the ``Database`` whose interface it has: the
    modules above speak to either through the same calls (see ``_pg``).
    """
    location = folder = None
    settings = {"created_by": user}
    if blobs is not None:
        if not isinstance(blobs, str) or not blobs:
            raise InvalidName(f"blobs= takes an s3://bucket/prefix URL or a folder, not {blobs!r}")
        if blobs.startswith("s3://"):
            location = parse_location(blobs)
            settings["blobs"] = location.url
        elif "://" in blobs:
            raise InvalidName(f"blobs= takes an s3://bucket/prefix URL or a folder, not {blobs!r}")
        else:
            folder = os.path.abspath(os.path.expanduser(blobs))
            settings["objects"] = folder
    hint = "; to create one there, open it with blobs='s3://bucket/prefix' or blobs= a folder every machine reaches"
    db = cast(Database, PgDatabase(url, initial_settings=settings, create=create and blobs is not None, read_only=read_only,
                                   cannot_create=hint if create and blobs is None else ""))
    try:
        if db.setting("blobs") is not None:
            uuid = db.setting("registry_id")
            return db, Path(home) / CACHES / str(uuid), location
        if folder is None:
            folder = db.setting("objects")
        if folder is None:
            raise InvalidName(
                f"the catalog {db.path} keeps no blobs yet: open it with blobs='s3://bucket/prefix' "
                "or blobs= a folder every machine of the team reaches"
            )
        return db, Path(folder), location
    except BaseException:
        db.close()
        raise
