"""`forensics generate` command line: output files, JSON, the builtin:tiny note, clear usage errors."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from forensics.cli import app
from forensics.provenance.keys import init_pki

runner = CliRunner()


def _run(*args):
    return runner.invoke(app, ["generate", *args])


@pytest.mark.slow
def test_generate_tiny_json_and_verify(forensics_home, tmp_path):
    init_pki()
    out = tmp_path / "img.jpg"
    res = _run("a lighthouse", "-o", str(out), "--model", "builtin:tiny", "--seed", "7", "--size", "256x256",
               "--json")
    assert res.exit_code == 0, res.output
    assert "abstract noise" in res.stderr
    [row] = json.loads(res.stdout)
    assert row["path"] == str(out) and out.read_bytes()[:3] == b"\xff\xd8\xff"  # format from the extension
    assert row["media_type"] == "image/jpeg" and row["seed"] == 7 and (row["width"], row["height"]) == (256, 256)
    assert row["manifest_id"].startswith("urn:") and len(row["watermark"]["payload"]) == 12
    res = runner.invoke(app, ["verify", str(out), "--json", "--no-detector"])
    [rep] = json.loads(res.stdout)
    assert rep["c2pa"]["state"] == "Trusted" and rep["c2pa"]["manifest_id"] == row["manifest_id"]
    assert rep["verdict"]["label"] == "ai-generated"


@pytest.mark.slow
def test_generate_several_images_names(forensics_home, tmp_path):
    init_pki()
    res = _run("two", "-o", str(tmp_path / "set.png"), "--model", "builtin:tiny", "--n", "2", "--seed", "1",
               "--size", "64x64", "--steps", "1")
    assert res.exit_code == 0, res.output
    assert (tmp_path / "set-1.png").is_file() and (tmp_path / "set-2.png").is_file()
    assert "manifest urn:" in res.stdout


@pytest.mark.parametrize("args, words", [
    (["--size", "big"], "WIDTHxHEIGHT"),
    (["--format", "gif"], "unknown --format"),
    (["--mask", "m.png"], "--mask needs --init-image"),
    (["--cert", "c.pem"], "--cert and --key go together"),
    (["--init-image", "/nonexistent/src.png"], "no such file"),
])
def test_usage_errors_exit_2_without_traceback(tmp_path, args, words):
    res = _run("x", "-o", str(tmp_path / "o.png"), "--model", "builtin:tiny", *args)
    assert res.exit_code == 2
    assert words in res.stderr and "Traceback" not in res.output


def test_missing_signing_key_is_one_line(forensics_home, tmp_path):
    res = _run("x", "-o", str(tmp_path / "o.png"), "--model", "builtin:tiny")
    assert res.exit_code == 2
    assert "forensics keys init" in res.stderr and "Traceback" not in res.output
    assert not (tmp_path / "o.png").exists()


def test_help_lists_contract_options():
    res = _run("--help")
    assert res.exit_code == 0
    for opt in ("--model", "--seed", "--steps", "--guidance", "--size", "--negative-prompt", "--n", "--format",
                "--device", "--init-image", "--mask", "--strength", "--lora", "--cert", "--key"):
        assert opt in res.stdout
