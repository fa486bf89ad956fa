"""`forensics verify`, `forensics sign`, `forensics keys init` through the command line."""
from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import C2PA_FIXTURES, REPO, require
from forensics import config
from forensics.cli import app

AI = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
runner = CliRunner()


def cli(*args, env=None):
    return runner.invoke(app, [str(a) for a in args], env=env, catch_exceptions=False)


def verify_json(*args):
    r = cli("verify", "--json", "--no-detector", *args)
    assert "Traceback" not in r.output
    return r, json.loads(r.stdout)


def _image(path: Path, fmt: str = "JPEG", size=(96, 64), color=(30, 140, 90)) -> Path:
    from PIL import Image

    Image.new("RGB", size, color).save(path, fmt)
    return path


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def bomb_png(path: Path, w: int = 20000, h: int = 20000) -> Path:
    """A valid PNG header claiming w x h pixels with a tiny IDAT: must be refused from the header alone."""
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr)
                     + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + _png_chunk(b"IEND", b""))
    return path


@pytest.fixture
def pki(forensics_home):
    r = cli("keys", "init")
    assert r.exit_code == 0, r.output
    assert "TEST-ONLY" in r.output
    return forensics_home / "keys"


# --- JSON contract and exit codes ----------------------------------------------------------------

def test_json_is_always_an_array_with_the_contract_fields(pki, tmp_path):
    src = _image(tmp_path / "a.jpg")
    r = cli("sign", src, "-o", tmp_path / "s.jpg", "--digital-source-type", "digitalCapture", "--title", "T")
    assert r.exit_code == 0, r.output
    r, out = verify_json(tmp_path / "s.jpg")
    assert r.exit_code == 0 and isinstance(out, list) and len(out) == 1
    o = out[0]
    assert set(o) >= {"path", "media_type", "error", "verdict", "c2pa", "watermarks", "detector", "metadata", "frames"}
    assert o["media_type"] == "image/jpeg" and o["error"] is None
    c = o["c2pa"]
    assert set(c) >= {"present", "state", "statuses", "signer", "claim_generator", "signed_at", "digital_source_type",
                      "actions", "ingredients", "manifest_id", "recovered_from"}
    assert c["present"] and c["state"] == "Trusted" and c["title"] == "T"
    assert c["signer"]["common_name"] == "forensics-suite TEST signer"
    assert c["digital_source_type"].endswith("/digitalCapture") and c["actions"] == ["c2pa.created"]
    assert all(set(s) >= {"code", "explanation", "kind"} for s in c["statuses"])
    assert "manifest_store" not in c
    assert o["verdict"]["label"] == "authentic-credentials"
    assert set(o["metadata"]) >= {"exif", "xmp_digital_source_type", "generator_text"}


def test_fail_on(pki, tmp_path):
    src = _image(tmp_path / "a.png", "PNG")
    assert cli("sign", src, "-o", tmp_path / "ai.png", "--digital-source-type", AI).exit_code == 0
    r, out = verify_json(tmp_path / "ai.png")
    assert r.exit_code == 0 and out[0]["verdict"]["label"] == "ai-generated" and out[0]["c2pa"]["ai_generated"]
    assert verify_json("--fail-on", "synthetic", tmp_path / "ai.png")[0].exit_code == 1
    assert verify_json("--fail-on", "invalid", tmp_path / "ai.png")[0].exit_code == 0
    assert verify_json("--fail-on", "ai-generated,tampered", tmp_path / "ai.png")[0].exit_code == 1
    xca = require(C2PA_FIXTURES / "XCA.jpg")
    r, out = verify_json("--fail-on", "invalid", xca)
    assert r.exit_code == 1 and out[0]["verdict"]["label"] == "tampered"
    assert "assertion.dataHash.mismatch" in {s["code"] for s in out[0]["c2pa"]["statuses"]}
    bad = cli("verify", "--fail-on", "nonsense", tmp_path / "ai.png")
    assert bad.exit_code == 2 and "Traceback" not in bad.output


def test_trust_anchor_options(pki, tmp_path):
    src = _image(tmp_path / "a.jpg")
    cli("sign", src, "-o", tmp_path / "s.jpg", "--digital-source-type", "digitalCapture")
    root = pki / "root-ca.pem"
    config.local_trust_anchors_path().unlink()
    assert verify_json(tmp_path / "s.jpg")[1][0]["c2pa"]["state"] == "Valid"
    assert verify_json("--trust-anchors", root, tmp_path / "s.jpg")[1][0]["c2pa"]["state"] == "Trusted"
    r = cli("verify", "--json", "--no-detector", tmp_path / "s.jpg", env={"FORENSICS_TRUST_ANCHORS": str(root)})
    assert json.loads(r.stdout)[0]["c2pa"]["state"] == "Trusted"
    r = cli("verify", "--trust-anchors", tmp_path / "nope.pem", tmp_path / "s.jpg")
    assert r.exit_code == 2 and "trust anchors file not found" in r.output and "Traceback" not in r.output


# --- bad input -----------------------------------------------------------------------------------

def test_bad_inputs_each_get_an_error_and_the_rest_is_verified(tmp_path):
    good = _image(tmp_path / "good.jpg")
    full = (tmp_path / "good.jpg").read_bytes()
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "trunc.jpg").write_bytes(full[: len(full) // 2])
    (tmp_path / "text.jpg").write_text("this is not an image\n")
    (tmp_path / "folder").mkdir()
    bomb = bomb_png(tmp_path / "bomb.png")
    inputs = [tmp_path / "missing.jpg", tmp_path / "folder", tmp_path / "empty.jpg", tmp_path / "trunc.jpg",
              tmp_path / "text.jpg", bomb, good]
    r, out = verify_json(*inputs)
    assert r.exit_code == 2
    codes = [o["error"]["code"] if o["error"] else None for o in out]
    assert codes == ["not_found", "unsupported", "corrupt", "corrupt", "unsupported", "too_large", None]
    assert all(o["verdict"]["label"] == "error" and o["error"]["message"] for o in out[:-1])
    assert out[-1]["verdict"]["label"] == "no-evidence"
    assert "20000x20000" in out[5]["error"]["message"]
    # terminal form: one line per bad file, no traceback
    r = cli("verify", "--no-detector", *inputs)
    assert r.exit_code == 2 and "Traceback" not in r.output
    for name, code in [("missing.jpg", "not_found"), ("trunc.jpg", "corrupt"), ("bomb.png", "too_large")]:
        assert any(name in line and f"error ({code})" in line for line in r.output.splitlines())


def test_bomb_is_refused_before_decoding(tmp_path, monkeypatch):
    from PIL import ImageFile

    from forensics.errors import TooLarge
    from forensics.media import Media

    def boom(self, *a, **k):  # any pixel decoding would call load()
        raise AssertionError("decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", boom)
    with pytest.raises(TooLarge):
        Media.open(bomb_png(tmp_path / "b.png"))


HOSTILE = "[bold red]PWNED[/bold red] <script>alert(1)</script> '; DROP TABLE manifests;-- \x1b[31mred\x1b[0m "


def test_hostile_manifest_text_is_shown_escaped_never_interpreted(pki, tmp_path):
    long_title = HOSTILE + "x" * 10_000
    src = _image(tmp_path / "a.jpg")
    r = cli("sign", src, "-o", tmp_path / "h.jpg", "--title", long_title, "--digital-source-type", "digitalCapture")
    assert r.exit_code == 0, r.output
    _, out = verify_json(tmp_path / "h.jpg")
    assert out[0]["c2pa"]["title"] == long_title  # JSON keeps the exact data
    r = cli("verify", "--no-detector", tmp_path / "h.jpg")
    assert r.exit_code == 0
    text = r.output
    assert "[bold red]PWNED[/bold red]" in text  # markup printed literally
    assert "\x1b[31m" not in text and "\\x1b[31mred" in text  # escape sequences neutralised
    assert "DROP TABLE" in text and "more characters" in text  # shortened, not dropped


def test_formats_sign_and_verify(pki, tmp_path):
    from PIL import features

    formats = [("JPEG", "jpg"), ("PNG", "png"), ("WEBP", "webp"), ("TIFF", "tif"), ("GIF", "gif")]
    if features.check("avif"):
        formats.append(("AVIF", "avif"))
    paths = []
    for fmt, ext in formats:
        src = _image(tmp_path / f"a.{ext}", fmt)
        r = cli("sign", src, "-o", tmp_path / f"s.{ext}", "--digital-source-type", "digitalCapture")
        assert r.exit_code == 0, (fmt, r.output)
        paths.append(tmp_path / f"s.{ext}")
    r, out = verify_json(*paths)
    assert r.exit_code == 0, [o["error"] for o in out]
    assert [o["c2pa"]["state"] for o in out] == ["Trusted"] * len(paths)
    assert [o["media_type"] for o in out][:5] == ["image/jpeg", "image/png", "image/webp", "image/tiff",
                                                  "image/gif"]


def test_videos_sign_and_verify(pki, tmp_path):
    paths = []
    for video in ("video1_no_manifest.mp4", "c.mov"):
        src = require(C2PA_FIXTURES / video)
        out = tmp_path / f"s-{video}"
        assert cli("sign", src, "-o", out).exit_code == 0
        paths.append(out)
    r, out = verify_json(*paths)
    assert r.exit_code == 0, [o["error"] for o in out]
    assert [o["c2pa"]["state"] for o in out] == ["Trusted"] * len(paths)
    assert [o["media_type"] for o in out] == ["video/mp4", "video/quicktime"]


def test_resign_makes_existing_credentials_the_parent(pki, tmp_path):
    src = _image(tmp_path / "a.jpg")
    cli("sign", src, "-o", tmp_path / "gen.jpg", "--digital-source-type", AI)
    r = cli("sign", tmp_path / "gen.jpg", "-o", tmp_path / "edit.jpg", "--action", "color_adjustments", "--json")
    info = json.loads(r.stdout)
    assert r.exit_code == 0 and info["parent_ingredient"]
    _, out = verify_json(tmp_path / "edit.jpg")
    c = out[0]["c2pa"]
    assert c["actions"] == ["c2pa.opened", "c2pa.color_adjustments"]
    assert c["ingredients"][0]["relationship"] == "parentOf" and c["ingredients"][0]["state"] == "Trusted"
    assert out[0]["verdict"]["label"] == "ai-generated"  # editing AI media does not launder it


def test_sign_and_keys_errors(forensics_home, tmp_path):
    src = _image(tmp_path / "a.jpg")
    r = cli("sign", src, "-o", tmp_path / "s.jpg")
    assert r.exit_code == 2 and "forensics keys init" in r.output and "Traceback" not in r.output
    assert cli("sign", src, "-o", tmp_path / "s.jpg", "--cert", src).exit_code == 2
    assert cli("keys", "init").exit_code == 0
    r = cli("keys", "init")
    assert r.exit_code == 2 and "--force" in r.output
    assert cli("keys", "init", "--force", "--json").exit_code == 0
    r = cli("sign", tmp_path / "missing.jpg", "-o", tmp_path / "s.jpg")
    assert r.exit_code == 2 and "not_found" in r.output


def test_terminal_report_renders_every_finding_type():
    from rich.console import Console

    from forensics.cli.render import render_report
    from forensics.report import (CredentialsFinding, DetectorFinding, FramesFinding, MetadataFinding, Report,
                                  Signer, Status, Verdict, WatermarkDetection, WatermarkFinding)

    r = Report(path="x.mp4", media_type="video/mp4", verdict=Verdict("ai-generated", ["because [b]x[/b]"]))
    r.findings["c2pa"] = CredentialsFinding(
        present=True, state="Valid", statuses=[Status("signingCredential.untrusted", "untrusted", "failure")],
        signer=Signer("CN", "Org", "Issuer"), claim_generator="gen", digital_source_type=AI, actions=["c2pa.created"],
        ingredients=[{"title": "parent", "relationship": "parentOf", "state": "Trusted", "manifest_id": "urn:p",
                      "digital_source_type": AI, "actions": ["c2pa.created"], "ingredients": []}],
        manifest_id="urn:m", recovered_from="watermark")
    r.findings["watermarks"] = WatermarkFinding([WatermarkDetection("fsw-v1", True, "abcd", 46, 48, 1e-12, "urn:m")])
    r.findings["detector"] = DetectorFinding("tiny@1", 0.9, 0.5, "synthetic", patches=4)
    r.findings["frames"] = FramesFinding(2, [{"t": 0.0, "probability_synthetic": 0.8}, {"t": 1.0, "probability_synthetic": 0.2}])
    r.findings["metadata"] = MetadataFinding(exif={"Make": "Cam"}, xmp_digital_source_type=AI, generator_text="p",
                                             generator_hint="ComfyUI (prompt)")
    r.analyser_errors.append({"analyser": "w", "code": "internal", "message": "oops"})
    console = Console(record=True, width=120, color_system=None)
    console.print(render_report(r))
    text = console.export_text()
    for needle in ("ai-generated", "because [b]x[/b]", "signingCredential.untrusted", "Org / CN", "Ingredients",
                   "parent", "Recovered from", "watermark", "fsw-v1", "46/48", "1.0e-12", "tiny@1", "0.900",
                   "Frames", "0.80", "EXIF Make", "ComfyUI", "trainedAlgorithmicMedia", "oops"):
        assert needle in text, needle


# --- light path ------------------------------------------------------------------------------------

def test_verify_no_detector_does_not_import_torch(pki, tmp_path):
    src = _image(tmp_path / "a.jpg")
    cli("sign", src, "-o", tmp_path / "s.jpg", "--digital-source-type", "digitalCapture")
    code = (
        "import sys, json\n"
        "from forensics.cli import app\n"
        "try:\n"
        f"    app(['verify', '--no-detector', '--json', {str(tmp_path / 's.jpg')!r}], standalone_mode=False)\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('HEAVY=' + json.dumps(sorted(m for m in ('torch', 'diffusers', 'timm') if m in sys.modules)))\n"
    )
    env = dict(os.environ)
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO, env=env)
    line = [ln for ln in p.stdout.splitlines() if ln.startswith("HEAVY=")]
    assert line, p.stdout + p.stderr
    assert json.loads(line[0][6:]) == []
    assert '"state": "Trusted"' in p.stdout


def test_resigning_a_tampered_file_keeps_the_evidence(pki, tmp_path):
    xca = require(C2PA_FIXTURES / "XCA.jpg")
    assert cli("sign", xca, "-o", tmp_path / "re.jpg", "--action", "edited").exit_code == 0
    _, out = verify_json(tmp_path / "re.jpg")
    c = out[0]["c2pa"]
    assert c["state"] in ("Trusted", "Valid")  # what c2pa says of the new manifest
    assert c["ingredients"][0]["state"] == "Invalid"
    assert any("XCA.jpg" in r and "do not validate" in r for r in out[0]["verdict"]["reasons"])
