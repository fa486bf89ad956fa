"""The typer application: each command lives in its own module and registers itself here.

Modules import only typer at import time; heavy libraries load inside the command that needs them, so
`forensics verify` never pays for torch.
"""
from __future__ import annotations

import typer

from ..extras import DISTRIBUTION
from . import installed_version

app = typer.Typer(
    name="forensics",
    help="Provenance, invisible watermarks and synthetic-image detection: where did this image come from, "
    "and did a machine make it?",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


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

