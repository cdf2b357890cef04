"""``file://`` references: a local file, or a folder walked like ``add_dir``."""

from __future__ import annotations

import os
import urllib.parse
from typing import BinaryIO

from .._errors import InvalidName, NotFound
from .._localfiles import open_regular
from .._sources import FileSource
from .._walk import walk
from ..storage._manifest import ManifestEntry
from ._common import NONE, SHA256, RefObject, Scheme, too_many, uri_digest


class FileScheme(Scheme):
    """``file:///abs/path`` (or ``file://localhost/abs/path``): a file, or a folder walked like ``add_dir``."""

    def parse(self, uri: str) -> None:
        self.path(uri)

    @staticmethod
    def path(uri: str) -> str:
        host, slash, rest = uri[len("file://"):].partition("/")
        if host not in ("", "localhost"):
            raise InvalidName(f"file reference must name a local absolute path (file:///path), not host {host!r}: {uri!r}")
        if not slash:
            raise InvalidName(f"file reference has no path: {uri!r}")
        # Percent-decoding only: '#' and '?' are part of a file name here, never a fragment or query.
        path = urllib.parse.unquote(rest)
        if "\x00" in path:
            raise InvalidName(f"file reference may not contain a NUL byte (%00): {uri!r}")
        return os.path.abspath("/" + path)

    @staticmethod
    def uri(path: str) -> str:
        return "file://" + urllib.parse.quote(path)

    def default_name(self, uri: str) -> str:
        return os.path.basename(self.path(uri).rstrip("/"))

    def list(self, uri: str, *, checksum: bool, max_objects: int) -> list[RefObject]:
        path = self.path(uri)
        try:
            st = os.stat(path)
        except FileNotFoundError as exc:
            raise NotFound(f"no such file or folder: {uri!r}") from exc
        if os.path.isdir(path):
            base = path if path.endswith(os.sep) else path + os.sep
            found = [(rel, FileSource(base + rel, dev, ino, size, mtime, ctime)) for rel, dev, ino, size, mtime, ctime in walk(path, "")]
        elif os.path.isfile(path):
            found = [("", FileSource.of(path, st))]
        else:
            raise InvalidName(f"{uri!r} is not a regular file or folder")
        if len(found) > max_objects:
            raise too_many(uri, max_objects)
        objects = []
        for rel, source in found:
            location = self.uri(source.path)
            if checksum:
                objects.append(RefObject(location, rel, source.size, None, {"checksum": SHA256}, source))
            else:
                objects.append(RefObject(location, rel, source.size, uri_digest(location), {"checksum": NONE}))
        return objects

    def open(self, entry: ManifestEntry) -> BinaryIO:
        assert entry.ref is not None
        path = self.path(entry.ref)
        what = f"referenced file {entry.ref!r} (entry {entry.path!r})"
        try:
            fd, _ = open_regular(path, what)
        except NotFound as exc:
            raise NotFound(f"{what} is gone") from exc
        return open(fd, "rb")  # noqa: SIM115 - returned to the caller
