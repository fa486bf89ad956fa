"""Small derived-data caches under ``$FORENSICS_HOME/cache``, keyed by the content hash of what they derive from.

A cache only saves work: an entry that is missing, unreadable or malformed reads as a miss (the caller
recomputes and rewrites it), and a cache that cannot be written (read-only home, full disk) is skipped.
Entries are written to a temporary file and renamed, so a reader never sees half an entry.
"""
from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

_KEY = re.compile(r"^[0-9a-f]{16,128}$")  # a hex digest: never a path


def cache_dir(kind: str) -> Path:
    from .config import home

    return home() / "cache" / kind


def entry_path(kind: str, key: str, suffix: str = ".json") -> Path:
    if not _KEY.match(key):
        raise ValueError(f"cache key must be a hex digest, not {key!r}")
    return cache_dir(kind) / f"{key}{suffix}"


def read_json(kind: str, key: str) -> Any | None:
    """The entry's value, or None when there is no usable entry."""
    try:
        return json.loads(entry_path(kind, key).read_bytes())
    except (OSError, ValueError):
        return None


def write_bytes(kind: str, key: str, data: bytes, suffix: str = ".json") -> Path | None:
    """Store ``data`` atomically; the entry's path, or None when the cache cannot be written."""
    path = entry_path(kind, key, suffix)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError:
        return None
    return path


def write_json(kind: str, key: str, value: Any) -> Path | None:
    return write_bytes(kind, key, json.dumps(value, separators=(",", ":")).encode())
