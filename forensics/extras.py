"""Optional features and the install hint for each.

The base install is the verify path. Heavier features live in extras (pyproject ``[project.optional-dependencies]``);
code that needs one calls :func:`require` first, so a missing extra is a clear message (exit 2 on the command line)
with the exact install line, never an ``ImportError`` traceback.
"""
from __future__ import annotations

import importlib.util

from .errors import ForensicsError

DISTRIBUTION = "forensics-suite"


class MissingExtra(ForensicsError):
    """A feature needs an optional extra that is not installed."""

    code = "missing_extra"

    def __init__(self, extra: str, feature: str, missing: str):
        self.extra = extra
        self.missing = missing
        super().__init__(f"{feature} needs the '{extra}' extra ({missing} is not installed): {install_hint(extra)}")


def install_hint(extra: str) -> str:
    """The exact pip line that installs ``extra``."""
    return f"pip install '{DISTRIBUTION}[{extra}]'"


def has(*modules: str) -> bool:
    """True when every top-level module is importable (without importing it)."""
    return all(importlib.util.find_spec(m) is not None for m in modules)


def require(extra: str, *modules: str, feature: str | None = None) -> None:
    """Raise :class:`MissingExtra` naming ``extra`` unless every module in ``modules`` is importable."""
    for module in modules:
        if importlib.util.find_spec(module) is None:
            raise MissingExtra(extra, feature or f"this feature", module)
