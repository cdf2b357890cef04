"""``artreg copy SRC DST [REF...]``: a registry or a bundle on either side, opened here.

The command's own rules (which side is a bundle, ``-`` as a pipe, what a URL cannot be); the
copy itself is ``Registry.copy_to``, ``export_bundle`` or ``import_bundle``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import BinaryIO

from ._bundle import CopyReport
from ._errors import InvalidName, NotFound, SchemaError
from ._progress import ProgressCallback
from ._registry import Registry
from .storage._catalog_open import is_catalog_url


def _url_refusal(place: str) -> str:
    """What ``copy`` says of a URL given where a registry or a bundle goes."""
    scheme = place.partition("://")[0].lower()
    if scheme == "s3":
        why = ("a bucket holds a registry's blobs, not a registry: open the registry with blobs= (or run "
               "'artreg blobs move URL'), or write the bundle to a file or to - and upload that")
    else:
        why = "the only catalog opened by URL is PostgreSQL's (postgresql://)"
    return (f"copy cannot use {place!r}: {why}; it copies between registry folders or .db files, postgresql:// catalogs, "
            ".tar bundles and - (a pipe)")


def is_bundle(place: str) -> bool:
    """True when a ``copy`` argument names a bundle (``-`` or a ``.tar`` path) rather than a registry."""
    return place == "-" or place.endswith(".tar")


def _require_registry(path: str) -> None:
    """Refuse a copy source that is not a registry, rather than create an empty one there."""
    if is_catalog_url(path):
        return  # opened with create=False
    database = path if path.endswith((".db", ".sqlite")) else os.path.join(path, "registry.db")
    if not os.path.isfile(database):
        raise NotFound(f"no registry at {path!r}")


@contextmanager
def _stdio(place: str, mode: str) -> Iterator[BinaryIO | str]:
    """``-`` as the process's stdin or stdout (bytes, 1 MiB buffer); anything else as given."""
    if place != "-":
        yield place
        return
    stream = sys.stdin if mode == "r" else sys.stdout
    if stream.isatty():
        raise InvalidName(f"a bundle cannot be {'read from' if mode == 'r' else 'written to'} a terminal: use a pipe or a file")
    if mode == "w":
        stream.flush()
    with open(stream.fileno(), f"{mode}b", buffering=1 << 20, closefd=False) as handle:
        yield handle  # type: ignore[misc]  # open() in a computed mode is typed IO[Any]


def copy(
    src: str,
    dst: str,
    refs: Sequence[str] | None,
    *,
    user: str | None,
    basis: Sequence[str] = (),
    keep_destination_aliases: bool = False,
    progress: ProgressCallback | None = None,
    blobs: str | None = None,
) -> CopyReport:
    """``artreg copy SRC DST [REF...]``: each side a registry path, a ``postgresql://`` catalog, a ``.tar`` bundle, or ``-``.

    ``blobs`` is where a destination registry created here keeps its blobs (``open(blobs=)``):
    a new catalog in PostgreSQL needs it, ``s3://bucket/prefix`` or a folder all its machines
    reach; by default one takes the bucket prefix of a source whose blobs are in a bucket.
    """
    if is_bundle(src) and is_bundle(dst):
        raise InvalidName("copy needs a registry on at least one side: use 'artreg bundle verify' to check a bundle")
    for place in (src, dst):
        if "://" in place and not is_catalog_url(place):  # not a folder to create
            raise InvalidName(_url_refusal(place))
    if basis and not is_bundle(dst):
        raise InvalidName("--basis applies when the destination is a bundle")
    if keep_destination_aliases and is_bundle(dst):
        raise InvalidName("--keep-destination-aliases applies when the destination is a registry")
    with ExitStack() as stack:
        if is_bundle(src):
            if refs:
                raise InvalidName("a bundle is imported whole: choose the versions when it is made")
            source = stack.enter_context(_stdio(src, "r"))
            reg = stack.enter_context(Registry(dst, user=user, blobs=blobs))
            return reg.import_bundle(source, keep_destination_aliases=keep_destination_aliases, progress=progress)
        _require_registry(src)
        origin = stack.enter_context(Registry(src, user=user, create=False))
        if is_bundle(dst):
            target = stack.enter_context(_stdio(dst, "w"))
            return origin.export_bundle(target, refs or None, basis=list(basis) or None, progress=progress)
        try:
            destination = stack.enter_context(Registry(dst, user=user, blobs=blobs))
        except SchemaError:
            if blobs is not None or not is_catalog_url(dst) or origin.blobs is None:
                raise
            # An empty database becomes a team catalog keeping its blobs in the bucket the source uses: none are sent.
            destination = stack.enter_context(Registry(dst, user=user, blobs=origin.blobs))
        return origin.copy_to(destination, refs or None, keep_destination_aliases=keep_destination_aliases, progress=progress)
    raise AssertionError("unreachable")

