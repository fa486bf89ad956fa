"""`forensics` command line. Each command lives in its own module and registers itself here.

Modules import only typer at import time; heavy libraries load inside the command that needs them, so
`forensics verify` never pays for torch.
"""
from __future__ import annotations

import sys

import typer

from .. import __version__
from ..extras import DISTRIBUTION, MissingExtra, extra_for_module

app = typer.Typer(
    name="forensics",
    help="Provenance, invisible watermarks and synthetic-image detection: where did this image come from, "
    "and did a machine make it?",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


def installed_version() -> str:
    """The installed distribution's version (package metadata); the source's own when run uninstalled."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:
        return __version__


def _version(value: bool):
    if value:
        typer.echo(f"{DISTRIBUTION} {installed_version()}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the version and exit.")):
    """forensics-suite command line."""
    import sys

    if "--help" in sys.argv[1:]:  # help never depends on the configuration
        return
    from .. import config
    from ..errors import ConfigError

    try:  # configuration fails closed: a config.toml that cannot be used as written stops every command
        config.settings()
    except ConfigError as exc:
        typer.echo(f"forensics: configuration error: {exc.message}", err=True)
        raise typer.Exit(2)


from . import apikeys, audit, detect, generate, keys, serve, sign, verify, watermark  # noqa: E402
from . import trust  # noqa: E402

for _module in (keys, apikeys, sign, verify, watermark, generate, detect, audit, serve, trust):
    _module.register(app)


def main() -> None:
    # Commands check their extra first (cli/extras.need); this catches any optional import they missed, so a
    # missing extra is still exit 2 with the install line, never a traceback.
    try:
        app()
    except MissingExtra as exc:
        typer.echo(f"error: {exc.message}", err=True)
        sys.exit(2)
    except ModuleNotFoundError as exc:
        extra = extra_for_module(exc.name)
        if extra is None:
            raise
        typer.echo(f"error: {MissingExtra(extra, 'this command', exc.name).message}", err=True)
        sys.exit(2)
