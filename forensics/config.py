"""Where things live: $FORENSICS_HOME, the manifest registry URL, trust anchors, limits.

Kept import-light (stdlib only): every command touches it.
"""
from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

# Decompression-bomb guard: refuse before decoding anything larger than this many pixels.
DEFAULT_MAX_PIXELS = 100_000_000  # 100 MP (a 20000x20000 PNG is 400 MP)
DEFAULT_MAX_BYTES = 2 * 1024**3  # 2 GiB per file
# A PEM bundle of every anchor on the C2PA and interim trust lists is ~0.5 MB; 4 MB leaves room, and refuses
# /dev/zero-like inputs before they are read.
MAX_TRUST_ANCHORS_BYTES = 4 * 1024**2


def home() -> Path:
    return Path(os.environ.get("FORENSICS_HOME") or Path.home() / ".config" / "forensics").expanduser()


def registry_url(override: str | None = None) -> str:
    """SQLAlchemy URL of the manifest repository. A bare path is taken as a SQLite file."""
    value = override or os.environ.get("FORENSICS_REGISTRY") or str(home() / "registry.sqlite")
    if "://" in value:
        return value
    return "sqlite:///" + str(Path(value).expanduser().resolve())


def keys_dir() -> Path:
    return home() / "keys"


def local_trust_anchors_path() -> Path:
    """PEM bundle of anchors registered by `forensics keys init` (and `forensics trust add`)."""
    return home() / "trust" / "anchors.pem"


def trust_anchor_paths(extra: list[str] | tuple[str, ...] | None = None) -> list[Path]:
    """All trust-anchor PEM files in force: local anchors, $FORENSICS_TRUST_ANCHORS, then --trust-anchors."""
    paths: list[Path] = []
    local = local_trust_anchors_path()
    if local.is_file():
        paths.append(local)
    env = os.environ.get("FORENSICS_TRUST_ANCHORS")
    if env:
        paths.extend(Path(p).expanduser() for p in env.split(os.pathsep) if p)
    paths.extend(Path(p).expanduser() for p in (extra or ()))
    return paths


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def read_regular_file(path: str | os.PathLike, *, max_bytes: int, what: str) -> bytes:
    """The bytes of a small configuration file (trust anchors…), refusing anything but a regular file.

    The type is checked before opening (opening a FIFO for reading blocks until a writer appears), the file
    is opened non-blocking and re-checked on the descriptor (no swap between the two), and at most
    ``max_bytes`` are read. Raises :class:`~forensics.errors.ConfigError` with the path and the reason.
    """
    from .errors import ConfigError

    p = Path(path)
    try:
        st = os.stat(p)
    except FileNotFoundError:
        raise ConfigError(f"{what} file not found: {p}") from None
    except OSError as exc:
        raise ConfigError(f"cannot access {what} {p}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(st.st_mode):
        raise ConfigError(f"{what} {p} is {_kind(st.st_mode)}, not a regular file")
    if st.st_size > max_bytes:
        raise ConfigError(f"{what} {p} is {st.st_size} bytes, over the {max_bytes}-byte limit")
    try:
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {p}: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ConfigError(f"{what} {p} is {_kind(st.st_mode)}, not a regular file")
        chunks, total = [], 0
        while True:
            chunk = os.read(fd, min(1 << 20, max_bytes + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > max_bytes:
                raise ConfigError(f"{what} {p} is over the {max_bytes}-byte limit")
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {p}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    return b"".join(chunks)


def read_trust_anchor_file(path: str | os.PathLike) -> bytes:
    """One trust-anchor PEM bundle (``--trust-anchors``, ``$FORENSICS_TRUST_ANCHORS``, the local anchors)."""
    return read_regular_file(path, max_bytes=MAX_TRUST_ANCHORS_BYTES, what="trust anchors")


@dataclass(frozen=True)
class Settings:
    """Values from $FORENSICS_HOME/config.toml; every key optional."""

    data: dict

    def get(self, dotted: str, default=None):
        node = self.data
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                return default
            node = node[part]
        return node


@lru_cache(maxsize=1)
def settings() -> Settings:
    """The config.toml, checked against :data:`forensics.configfile.SCHEMA` (empty when there is none). A file
    that is there but not valid raises :class:`~forensics.configfile.ConfigFileError` (file and line): a
    broken configuration never falls back to defaults."""
    path = home() / "config.toml"
    if path.exists() or path.is_symlink():
        from .configfile import load_config  # the schema module (and what its checks import) only when needed

        return Settings(load_config(path))
    return Settings({})
