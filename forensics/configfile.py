"""config.toml: one schema (each key's type, range and allowed values) and a loader that fails closed.

A syntax error, an unknown section or key, a wrong type or an out-of-range value is a
:class:`ConfigFileError` naming the file and line; nothing falls back to defaults. Stdlib only (every command
reads the configuration). A new config key is one entry in :data:`SCHEMA`.
"""
from __future__ import annotations

import math
import re
import stat
import tomllib
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError

@dataclass(frozen=True)
class Option:
    """One config.toml key: its type, bounds and (for strings) allowed values."""

    kind: str  # "bool" | "int" | "float" | "str" | "optional_str" ("" means unset) | "str_list"
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] | None = None

    def check(self, value):
        """The value as the program uses it, or raise ValueError saying what is wrong."""
        kind = self.kind
        if kind == "bool":
            if not isinstance(value, bool):
                raise ValueError(f"must be true or false, not {_toml_type(value)}")
            return value
        if kind in ("str", "optional_str"):
            if not isinstance(value, str):
                raise ValueError(f"must be a string, not {_toml_type(value)}")
            if self.choices is not None and value not in self.choices and not (kind == "optional_str" and not value):
                raise ValueError(f"must be one of {', '.join(repr(c) for c in self.choices)}, not {value!r}")
            return (value or None) if kind == "optional_str" else value
        if kind == "str_list":
            if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
                raise ValueError("must be a list of strings")
            return list(value)
        if kind == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"must be a whole number, not {_toml_type(value)}")
        elif kind == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"must be a number, not {_toml_type(value)}")
            if not math.isfinite(value):
                raise ValueError("must be a finite number")
        else:  # pragma: no cover - a schema bug
            raise AssertionError(kind)
        if self.minimum is not None and value < self.minimum:
            raise ValueError(f"must be at least {self.minimum:g}, not {value}")
        if self.maximum is not None and value > self.maximum:
            raise ValueError(f"must be at most {self.maximum:g}, not {value}")
        return value


def _toml_type(value) -> str:
    return {bool: "a boolean", int: "an integer", float: "a float", str: "a string", list: "an array",
            dict: "a table"}.get(type(value), type(value).__name__)


def _schema() -> dict[str, dict[str, Option]]:
    from .config import DEFAULT_MAX_PIXELS
    from .generate.limits import HARD_LIMITS as L

    return {
        "service": {
            "model": Option("str"),
            "device": Option("optional_str"),
            "generate": Option("bool"),
            "database_url": Option("optional_str"),
            "registry_url": Option("optional_str"),
            "trust_anchors": Option("str_list"),
            "detector": Option("bool"),
            "public_verify": Option("bool"),
            "public_resolve": Option("bool"),
            "max_upload_mb": Option("float", 0.001, 10240),
            "verify_workers": Option("int", 1, 256),
            "verify_isolation": Option("str", choices=("process", "thread")),
            "verify_max_tasks_per_worker": Option("int", 0, 10**9),
            "verify_max_pixels": Option("int", 1, DEFAULT_MAX_PIXELS),
            "verify_memory_mb": Option("int", 0, 1024**2),
            "max_pending_verify": Option("int", 1, 100_000),
            "verify_timeout_s": Option("float", 0.001, 86400),
            "queue_size": Option("int", 1, 10_000),
            "generate_timeout_s": Option("float", 0.001, 86400),
            "max_steps": Option("int", 1, L.max_steps),
            "max_side": Option("int", L.min_side, L.max_side),
            "min_side": Option("int", L.min_side, L.max_side),
            "rate_per_minute": Option("float", 0, 10**6),
            "burst": Option("int", 1, 10**6),
            "daily_quota": Option("int", 0, 10**9),
            "private_prompt": Option("bool"),
            "cors_origins": Option("str_list"),
            "signing_cert": Option("optional_str"),
            "signing_key": Option("optional_str"),
            "signer_callback": Option("optional_str"),
            "signing_alg": Option("str", choices=("es256", "es384", "es512", "ps256", "ps384", "ps512", "ed25519")),
            "audit_checkpoint": Option("optional_str"),
        },
        "policy": {
            "deny_patterns": Option("str_list"),
            "deny_people": Option("str_list"),
        },
        "registry": {
            "fingerprint_max_distance": Option("int", 0, 64),
        },
    }


SCHEMA: dict[str, dict[str, Option]] = _schema()


class ConfigFileError(ConfigError):
    """config.toml cannot be used as written (syntax, unknown key, wrong type, out of range)."""

    def __init__(self, path: Path, line: int | None, message: str):
        self.path, self.line = path, line
        where = f"{path}:{line}" if line else str(path)
        super().__init__(f"{where}: {message}")


MAX_CONFIG_BYTES = 1024 * 1024
_AT = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")


def _key_line(text: str, section: str | None, key: str | None) -> int | None:
    """Line (1-based) where ``[section]`` (or ``key`` in it) is written; tomllib gives lines only for syntax
    errors. Dotted keys inside inline tables are not traced (the message still names section and key)."""
    current = None
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        m = re.match(r"^\[+\s*([^\]]+?)\s*\]", line)
        if m:
            current = m.group(1).strip().strip('"')
            if current == (section if key is None else f"{section}.{key}") or \
                    (key is not None and current.startswith(f"{section}.{key}.")):
                return n
            continue
        if key is not None and current == section and re.match(rf"^[\"']?{re.escape(key)}[\"']?\s*[.=]", line):
            return n
    return None


def load_config(path: Path) -> dict:
    """Parse and validate one config.toml. Returns {section: {key: value}} with every value checked
    against :data:`SCHEMA`; raises :class:`ConfigFileError` naming the file and line otherwise."""
    try:
        st = path.stat()
        if not stat.S_ISREG(st.st_mode):
            raise ConfigFileError(path, None, "the configuration must be a regular file")
        if st.st_size > MAX_CONFIG_BYTES:
            raise ConfigFileError(path, None, f"the configuration is over {MAX_CONFIG_BYTES // 1024} KiB")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigFileError(path, None, f"cannot read the configuration: {exc}") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        m = _AT.search(msg)
        line = int(m.group(1)) if m else None
        detail = _AT.sub("", msg) + (f" (column {m.group(2)})" if m else "")
        raise ConfigFileError(path, line, f"invalid TOML: {detail}") from None
    out: dict = {}
    for section, table in raw.items():
        options = SCHEMA.get(section)
        if options is None:
            raise ConfigFileError(path, _key_line(text, section, None) or _key_line(text, None, section),
                                  f"unknown section [{section}] (known: {', '.join(f'[{s}]' for s in SCHEMA)})")
        if not isinstance(table, dict):
            raise ConfigFileError(path, _key_line(text, None, section), f"{section} must be a table ([{section}])")
        checked = {}
        for key, value in table.items():
            option = options.get(key)
            if option is None:
                raise ConfigFileError(path, _key_line(text, section, key),
                                      f"unknown key '{key}' in [{section}] (known: {', '.join(sorted(options))})")
            try:
                checked[key] = option.check(value)
            except ValueError as exc:
                raise ConfigFileError(path, _key_line(text, section, key), f"[{section}] {key} {exc}") from None
        out[section] = checked
    return out
