"""`forensics` command line: :func:`main` and the typer application (:mod:`forensics.cli.commands`).

Importing this package loads no third-party library. A plain `forensics verify …` is parsed without
building the typer application (:mod:`forensics.cli.fast`): typer, click and the pydantic coercion layer
cost more than the credentials check of a photo. Everything else, errors and help included, goes through
typer, so those messages come from one place.
"""
from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..extras import DISTRIBUTION, MissingExtra, extra_for_module

if TYPE_CHECKING:  # pragma: no cover
    import typer

    app: typer.Typer


def installed_version() -> str:
    """The installed distribution's version (package metadata); the source's own when run uninstalled."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:
        return __version__


def __getattr__(name: str) -> Any:
    if name == "app":  # built on first use; cached here (and replaceable, e.g. by tests)
        from .commands import app

        globals()["app"] = app
        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _echo_err(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def main() -> None:
    # Commands check their extra first (cli/extras.need); this catches any optional import they missed, so a
    # missing extra is still exit 2 with the install line, never a traceback.
    try:
        from .fast import fast_main

        code = fast_main(sys.argv[1:])
        if code is None:
            sys.modules[__name__].app()
        else:
            sys.exit(code)
    except MissingExtra as exc:
        _echo_err(f"error: {exc.message}")
        sys.exit(2)
    except ModuleNotFoundError as exc:
        extra = extra_for_module(exc.name)
        if extra is None:
            raise
        _echo_err(f"error: {MissingExtra(extra, 'this command', exc.name).message}")
        sys.exit(2)
