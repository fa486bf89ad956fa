"""`forensics verify …` parsed without typer: the common invocation of the one latency-bound command.

Building the typer application imports typer, click and pydantic (typer coerces every option through a
pydantic adapter) and every command module: more than the credentials check of a photo costs. A command
line this parser fully understands runs :func:`forensics.cli.verify.verify_command` directly, with the
same values typer would pass; anything else (``--help``, an unknown or malformed option, no path, a bad
``--fail-on``, shell completion) returns ``None`` and goes through typer, which owns every usage message.
"""
from __future__ import annotations

import os
import sys

_FLAGS = {"--json": "json_out", "--no-detector": "no_detector", "--allow-network": "allow_network",
          "--crjson": "crjson", "--quick": "quick", "--watermark-search": "watermark_search"}
_VALUES = {"--registry": "registry", "--fail-on": "fail_on"}  # the last one given wins, as in click
_LISTS = {"--trust-anchors": "trust_anchors"}  # repeatable


def parse_verify(argv: list[str]) -> dict | None:
    """``verify_command`` keyword arguments for ``argv`` (after the program name), or None when typer
    must handle it. Follows click's rules: options and paths in any order, ``--opt value`` or
    ``--opt=value`` (the value is the next word whatever it looks like), every word after ``--`` a path."""
    if not argv or argv[0] != "verify" or "--help" in argv:
        return None
    out: dict = {"paths": [], "trust_anchors": []}
    words = iter(argv[1:])
    for word in words:
        if word == "--":
            out["paths"].extend(words)
            break
        if not word.startswith("-") or word == "-":
            out["paths"].append(word)
            continue
        name, eq, value = word.partition("=")
        if name in _FLAGS and not eq:
            out[_FLAGS[name]] = True
        elif name in _VALUES or name in _LISTS:
            if not eq:
                value = next(words, None)
                if value is None:
                    return None  # "requires an argument": typer says so
            if name in _LISTS:
                out[_LISTS[name]].append(value)
            else:
                out[_VALUES[name]] = value
        else:
            return None
    if not out["paths"]:
        return None
    from .verify import fail_on_is_valid

    if not fail_on_is_valid(out.get("fail_on")):
        return None
    return out


def _completion_requested() -> bool:
    return any(k.startswith("_") and k.endswith("_COMPLETE") for k in os.environ)


def fast_main(argv: list[str]) -> int | None:
    """Run a plain `verify` command line and return its exit code; None: not handled here (use typer)."""
    kwargs = parse_verify(argv)
    if kwargs is None or _completion_requested():
        return None
    # numpy's OpenBLAS starts its thread pool on import (≈ 50 ms of a cold verify); verify's linear algebra
    # (3×3 solves, small products, a luma dot per pixel) gives the same bits on one thread. A user's value wins.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from .. import config
    from ..errors import ConfigError

    try:  # as the typer root callback: a config.toml that cannot be used as written stops every command
        config.settings()
    except ConfigError as exc:
        sys.stderr.write(f"forensics: configuration error: {exc.message}\n")
        return 2
    from .verify import verify_command

    try:
        return verify_command(**kwargs)
    except KeyboardInterrupt:
        return 130  # typer's code for an interrupted command
    except BrokenPipeError:  # the reader went away (`| head`): quiet exit 1, as click does
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
