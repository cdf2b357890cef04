"""The one chunk size for streaming file bytes, and sha256 of a stream or a file.

Content is named by sha256 hex everywhere in artreg (blobs, manifests, bundles); these are
the plain whole-stream helpers. Copy-while-hashing pipelines live with the stores that use
them (``_blobs._copy_hashing``).
"""

from __future__ import annotations

import hashlib
import os
from typing import BinaryIO

# 1 MiB: large enough that per-call overhead vanishes next to sha256 and the I/O, small
# enough that a few buffers per thread cost nothing.
CHUNK = 1 << 20


def sha256_stream(handle: BinaryIO) -> tuple[str, int]:
    """sha256 hex of what ``handle`` reads to its end, and how many bytes that was."""
    hasher = hashlib.sha256()
    seen = 0
    while chunk := handle.read(CHUNK):
        hasher.update(chunk)
        seen += len(chunk)
    return hasher.hexdigest(), seen


def sha256_file(path: str | os.PathLike[str]) -> tuple[str, int]:
    """sha256 hex of a file's bytes and their count (raises what ``open`` raises)."""
    with open(path, "rb") as handle:
        return sha256_stream(handle)


__all__ = ["CHUNK", "sha256_file", "sha256_stream"]
