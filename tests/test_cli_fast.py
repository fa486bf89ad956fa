"""`forensics verify` parsed without typer (forensics/cli/fast.py): same values, same output, lighter process."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import C2PA_FIXTURES, REPO, require
from forensics.cli import app
from forensics.cli import verify as verify_module
from forensics.cli.fast import parse_verify

# command lines the fast parser takes over; typer must pass verify_command the very same values
HANDLED = [
    ["verify", "a.jpg"],
    ["verify", "--json", "a.jpg", "b.png"],
    ["verify", "a.jpg", "--no-detector", "--json", "b.png"],
    ["verify", "--trust-anchors", "x.pem", "--trust-anchors=y.pem", "a.jpg"],
    ["verify", "--registry", "db.sqlite", "--registry=other.sqlite", "a.jpg"],
    ["verify", "--registry", "--json", "a.jpg"],  # the value is the next word, whatever it looks like
    ["verify", "--registry=", "a.jpg"],
    ["verify", "--fail-on", "synthetic,tampered", "--allow-network", "--quick", "a.jpg"],
    ["verify", "--fail-on=", "a.jpg"],
    ["verify", "--watermark-search", "--json", "a.jpg"],
    ["verify", "--crjson", "--json", "--json", "a.jpg"],
    ["verify", "--json", "--", "--no-detector", "-x.jpg"],
    ["verify", "-", "a.jpg"],
]
# left to typer: help, usage errors, anything the fast parser does not know
DEFERRED = [
    [], ["--version"], ["keys", "init"], ["verify"], ["verify", "--json"], ["verify", "--help"],
    ["verify", "a.jpg", "--help"], ["verify", "--bogus", "a.jpg"], ["verify", "-j", "a.jpg"],
    ["verify", "--json=yes", "a.jpg"], ["verify", "a.jpg", "--registry"], ["verify", "--fail-on", "bogus", "a.jpg"],
    ["verify", "-x.jpg"], ["verify", "--"],
]


def _typer_kwargs(monkeypatch, argv: list[str]) -> dict:
    seen: dict = {}

    def record(paths, **kwargs):
        seen.update(kwargs, paths=paths)
        return 0

    monkeypatch.setattr(verify_module, "verify_command", record)
    monkeypatch.setattr(sys, "argv", ["forensics", *argv])
    try:
        app(argv, standalone_mode=False)
    except SystemExit:
        pass
    return seen


def _normalised(kwargs: dict) -> dict:
    defaults = {"json_out": False, "trust_anchors": [], "registry": None, "no_detector": False,
                "allow_network": False, "fail_on": None, "crjson": False, "quick": False, "watermark_search": False}
    out = {**defaults, **kwargs}
    return {k: list(v) if isinstance(v, (list, tuple)) else v for k, v in out.items()}


@pytest.mark.parametrize("argv", HANDLED, ids=" ".join)
def test_fast_parser_passes_what_typer_passes(monkeypatch, argv):
    fast = parse_verify(argv)
    assert fast is not None
    assert _normalised(fast) == _normalised(_typer_kwargs(monkeypatch, argv))


@pytest.mark.parametrize("argv", DEFERRED, ids=lambda a: " ".join(a) or "(none)")
def test_fast_parser_leaves_the_rest_to_typer(argv):
    assert parse_verify(argv) is None


# what a JSON verify never needs: the CLI stack (typer, click, pydantic, rich) and, without a config.toml, the
# configuration schema (which imports the generation limits)
LIGHT = ("typer", "click", "pydantic", "rich", "forensics.configfile", "forensics.generate")


def _cold_verify(args: list[str], cwd, **env_extra: str) -> subprocess.CompletedProcess:
    """A new `python -m forensics verify` process that also prints which CLI libraries it imported."""
    code = ("import atexit, json, os, sys\n"
            "atexit.register(lambda: sys.stderr.write('LOADED=' + json.dumps(sorted(m for m in "
            f"{LIGHT!r} if m in sys.modules)) + '\\n'))\n"
            "atexit.register(lambda: sys.stderr.write('BLAS=' + os.environ.get('OPENBLAS_NUM_THREADS', '') + '\\n'))\n"
            f"sys.argv = ['forensics'] + {args!r}\n"
            "from forensics.cli import main\n"
            "main()\n")
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    env.update(PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""), **env_extra)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd, env=env,
                          timeout=300)


def _loaded(p: subprocess.CompletedProcess) -> list[str]:
    line = [ln for ln in p.stderr.splitlines() if ln.startswith("LOADED=")]
    assert line, p.stderr[-3000:]
    return json.loads(line[-1][len("LOADED="):])


def _without_timings(text: str) -> list[dict]:
    reports = json.loads(text)
    for r in reports:
        r.pop("timings_ms", None)
    return reports


def test_verify_json_loads_no_cli_library_and_says_what_typer_says(tmp_path):
    files = [str(require(C2PA_FIXTURES / "CA.jpg")), str(REPO / "tests" / "fixtures" / "photos" / "nature_2-481x321.jpg"),
             str(tmp_path / "missing.jpg")]
    fast = _cold_verify(["verify", "--json", "--no-detector", *files], tmp_path)
    assert fast.returncode == 2, fast.stderr[-3000:]  # the missing file is an error entry
    assert _loaded(fast) == []  # none of LIGHT is imported by a JSON verify
    # the same command line through typer
    code = ("import sys\nfrom forensics.cli import app\n"
            f"app({['verify', '--json', '--no-detector', *files]!r})\n")
    typer_run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                               env=dict(os.environ, PYTHONPATH=str(REPO)), timeout=300)
    assert typer_run.returncode == fast.returncode
    assert _without_timings(fast.stdout) == _without_timings(typer_run.stdout)


def test_fast_path_runs_numpy_blas_on_one_thread_unless_told(tmp_path):
    photo = str(REPO / "tests" / "fixtures" / "photos" / "nature_2-481x321.jpg")
    p = _cold_verify(["verify", "--json", "--no-detector", photo], tmp_path)
    assert p.returncode == 0 and "BLAS=1" in p.stderr.splitlines(), p.stderr[-2000:]
    p = _cold_verify(["verify", "--json", "--no-detector", photo], tmp_path, OPENBLAS_NUM_THREADS="2")
    assert p.returncode == 0 and "BLAS=2" in p.stderr.splitlines(), p.stderr[-2000:]


def test_usage_errors_still_come_from_typer(tmp_path):
    p = _cold_verify(["verify", "--fail-on", "bogus", "a.jpg"], tmp_path)
    assert p.returncode == 2 and "Invalid value for --fail-on" in p.stderr and "Traceback" not in p.stderr
    p = _cold_verify(["verify"], tmp_path)
    assert p.returncode == 2 and "Missing argument" in p.stderr


def test_fast_path_stops_on_a_bad_configuration(tmp_path, forensics_home):
    (forensics_home / "config.toml").write_text("[verify\n")
    p = _cold_verify(["verify", "--json", str(tmp_path / "a.jpg")], tmp_path)
    assert p.returncode == 2 and "forensics: configuration error:" in p.stderr, p.stderr
    assert p.stdout == ""
