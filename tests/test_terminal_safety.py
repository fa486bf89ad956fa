"""Terminal spoofing (issue 13, finding 11): one sanitiser (forensics.textsafe.printable) for every string
that comes from a file, in every human view; JSON keeps the exact data."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from forensics.cli import app
from forensics.textsafe import json_text, printable

runner = CliRunner()
# what a hostile file name or manifest field carries: clear screen, fake line, bidi override and isolate,
# zero-width space and joiner, BOM, line/paragraph separators, a C1 control, rich markup
NASTY = "a\x1b[2J\nFAKE LINE\r\u202eevil\u2066x\u2069\u200b\u200d\ufeff\u2028\u2029\x9b[bold]b[/bold]"
RAW = ["\x1b", "\n", "\r", "\u202e", "\u2066", "\u2069", "\u200b", "\u200d", "\ufeff", "\u2028", "\u2029", "\x9b"]
SHOWN = ["\\x1b[2J", "\\nFAKE LINE\\r", "\\u202eevil", "\\u2066x\\u2069", "\\u200b\\u200d\\ufeff",
         "\\u2028\\u2029", "\\x9b", "[bold]b[/bold]"]


def cli(*args, **kw):
    return runner.invoke(app, [str(a) for a in args], env={"COLUMNS": "1000"}, catch_exceptions=False, **kw)


def assert_safe(text: str) -> None:
    # newlines separate the command's own lines; none may come from the hostile value
    for line in text.splitlines():
        for ch in RAW:
            assert ch not in line, (repr(ch), line)
    assert "FAKE LINE" not in [line.strip() for line in text.splitlines()]


def test_printable_escapes_every_unsafe_character_and_nothing_else():
    out = printable(NASTY)
    for ch in RAW:
        assert ch not in out
    for shown in SHOWN:
        assert shown in out
    assert printable("Größe 4×3 — 東京 café") == "Größe 4×3 — 東京 café"
    assert printable("\U000e0041") == "\\U000e0041"  # tag characters hide text too
    assert printable("x\udcff") == "x\\udcff"  # an undecodable byte of a file name


def test_json_text_keeps_the_data_exact():
    doc = {"title": NASTY + "\U000e0041 東京"}
    text = json_text(json.dumps(doc, ensure_ascii=False, indent=2))
    for ch in RAW + ["\U000e0041"]:
        assert ch not in text.replace("\n", "")  # JSON's own line breaks stay
    assert json.loads(text) == doc and "東京" in text


@pytest.fixture
def hostile_file(tmp_path):
    rng = np.random.default_rng(0)
    p = tmp_path / f"{NASTY}.jpg".replace("/", "_")
    Image.fromarray(rng.integers(0, 255, (64, 96, 3), dtype=np.uint8)).save(p, "JPEG", quality=90)
    return p


def test_detect_score_and_watermark_detect_escape_file_names(hostile_file, tmp_path):
    r = cli("detect", "score", hostile_file)
    assert r.exit_code == 0, r.output
    assert_safe(r.output)
    assert "\\x1b[2J" in r.output
    r = cli("watermark", "detect", hostile_file, tmp_path / f"missing{NASTY}.jpg".replace("/", "_"))
    assert_safe(r.output)
    assert "\\u202eevil" in r.output and "no watermark detected" in r.output and "not_found" in r.output


def test_verify_escapes_manifest_fields_and_file_names(forensics_home, hostile_file, tmp_path):
    assert cli("keys", "init").exit_code == 0
    signed = tmp_path / f"signed{NASTY}.jpg".replace("/", "_")
    r = cli("sign", hostile_file, "-o", signed, "--title", NASTY, "--digital-source-type", "digitalCapture")
    assert r.exit_code == 0, r.output
    assert_safe(r.output)  # sign's own message names the output file
    r = cli("verify", "--no-detector", signed)
    assert r.exit_code == 0, r.output
    assert_safe(r.output)
    for shown in SHOWN:
        assert shown in r.output
    # JSON: the exact title, and no raw bidi/zero-width character on the terminal
    r = cli("verify", "--json", "--no-detector", signed)
    for ch in RAW:
        assert ch not in r.stdout.replace("\n", "")
    [row] = json.loads(r.stdout)
    assert row["c2pa"]["title"] == NASTY and row["path"] == str(signed)


def test_sign_and_verify_errors_escape_the_path(tmp_path):
    missing = tmp_path / f"gone{NASTY}.jpg".replace("/", "_")
    r = cli("verify", "--no-detector", missing)
    assert r.exit_code == 2
    assert_safe(r.output)
    r = cli("verify", "--no-detector", "--trust-anchors", missing, missing)
    assert r.exit_code == 2
    assert_safe(r.output)
    assert cli("keys", "init").exit_code == 0
    r = cli("sign", missing, "-o", tmp_path / "o.jpg")
    assert r.exit_code == 2
    assert_safe(r.output)


def test_audit_summary_escapes_paths(hostile_file, tmp_path):
    out = tmp_path / f"report{NASTY}.jsonl".replace("/", "_")
    r = cli("audit", hostile_file, "--out", out, "--no-detector", "--workers", "1")
    assert r.exit_code == 0, r.output
    assert_safe(r.output)
    assert "\\u202eevil" in r.output  # the 'written:' line names the report
