"""Where things live: $FORENSICS_HOME, the manifest registry URL, trust anchors, limits.

Kept import-light (stdlib only): every command touches it.
"""
from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

# Decompression-bomb guard: refuse before decoding anything larger than this many pixels.
DEFAULT_MAX_PIXELS = 100_000_000  # 100 MP (a 20000x20000 PNG is 400 MP)
DEFAULT_MAX_BYTES = 2 * 1024**3  # 2 GiB per file


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
    from .configfile import load_config

    path = home() / "config.toml"
    if path.exists() or path.is_symlink():
        return Settings(load_config(path))
    return Settings({})
