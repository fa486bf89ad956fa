"""Hostile inputs through every entry point (issue 13: findings 3, 5, 12c).

A decoder error is ``corrupt`` / ``too_large`` everywhere (one mapping in ``forensics.media``), never a
traceback, an HTTP 500 or an ``internal`` error; trust-anchor paths must be small regular files; ``sign``
refuses what does not fully decode.
"""
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

from conftest import REPO
from test_service_support import make_app  # noqa: F401  (fixture)
from forensics.cli import app

runner = CliRunner()


def cli(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def ztxt_bomb_png(inflated: int = 4 << 20) -> bytes:
    """An 8x8 PNG whose zTXt chunk inflates past Pillow's MAX_TEXT_CHUNK (1 MB): 4 MB of zeros, ~4 KB on disk."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (10, 20, 30)).save(buf, "PNG")
    png = buf.getvalue()
    bomb = _chunk(b"zTXt", b"Comment\x00\x00" + zlib.compress(b"\x00" * inflated, 9))
    return png[:33] + bomb + png[33:]  # right after IHDR: Pillow reads it while opening


@pytest.fixture
def bomb(tmp_path) -> Path:
    p = tmp_path / "ztxt.png"
    p.write_bytes(ztxt_bomb_png())
    return p


@pytest.fixture
def good(tmp_path) -> Path:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(1)
    p = tmp_path / "good.jpg"
    Image.fromarray(rng.integers(0, 255, (96, 128, 3), dtype=np.uint8)).save(p, quality=90)
    return p


def test_the_bomb_png_really_makes_pillow_raise(bomb):
    from PIL import Image

    with pytest.raises(ValueError, match="MAX_TEXT_CHUNK"):
        Image.open(bomb)


def test_verify_calls_a_decoder_error_corrupt_not_internal(bomb, good):
    r = cli("verify", "--json", "--no-detector", bomb, good)
    assert r.exit_code == 2 and "Traceback" not in r.output
    rows = json.loads(r.stdout)
    assert rows[0]["error"]["code"] == "corrupt"
    assert "MAX_TEXT_CHUNK" in rows[0]["error"]["message"]
    assert rows[1]["error"] is None


def test_decoder_errors_map_every_pillow_failure():
    from PIL import Image

    from forensics.errors import Corrupt, TooLarge
    from forensics.media import decoder_errors

    for exc in (ValueError("x"), OSError("x"), SyntaxError("x"), struct.error("x"), EOFError(), IndexError()):
        with pytest.raises(Corrupt):
            with decoder_errors("f.png"):
                raise exc
    with pytest.raises(TooLarge):
        with decoder_errors("f.png"):
            raise Image.DecompressionBombError("too many")
    import cv2
    import numpy as np

    with pytest.raises(Corrupt):
        with decoder_errors("f.mp4"):
            cv2.resize(np.zeros((0, 0), np.uint8), (0, 0))  # cv2.error


def test_pillow_global_pixel_limit_is_left_alone(good, tmp_path):
    from PIL import Image

    from forensics.media import Media

    before = Image.MAX_IMAGE_PIXELS
    assert before is not None
    Media.open(good).rgb()
    cli("verify", "--json", "--no-detector", good)
    assert Image.MAX_IMAGE_PIXELS == before


def test_our_pixel_limit_still_refuses_before_decoding(tmp_path):
    from PIL import Image

    from forensics.errors import TooLarge
    from forensics.media import Media

    p = tmp_path / "big.png"
    Image.new("L", (400, 300)).save(p)
    with pytest.raises(TooLarge, match="pixel limit"):
        Media.open(p, max_pixels=100_000)


def test_detect_score_json_has_an_entry_for_every_input(bomb, good):
    r = cli("detect", "score", "--json", bomb, good)
    assert "Traceback" not in r.output
    rows = json.loads(r.stdout)
    assert [Path(x["path"]).name for x in rows] == ["ztxt.png", "good.jpg"]
    assert rows[0]["error"]["code"] == "corrupt"
    assert rows[1]["error"] is None and rows[1]["detector"] is not None
    assert r.exit_code == 2


def test_sign_refuses_the_bomb_with_exit_2(bomb, tmp_path):
    assert cli("keys", "init").exit_code == 0
    r = cli("sign", bomb, "-o", tmp_path / "out.png")
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert "corrupt" in r.output
    assert not (tmp_path / "out.png").exists()


def test_sign_refuses_a_truncated_jpeg(good, tmp_path):
    assert cli("keys", "init").exit_code == 0
    data = good.read_bytes()
    trunc = tmp_path / "trunc.jpg"
    trunc.write_bytes(data[: len(data) // 2])
    r = cli("sign", trunc, "-o", tmp_path / "out.jpg")
    assert r.exit_code == 2, r.output
    assert "corrupt" in r.output and not (tmp_path / "out.jpg").exists()
    assert cli("sign", good, "-o", tmp_path / "ok.jpg").exit_code == 0  # the whole file still signs


def test_watermark_embed_and_detect_call_it_corrupt(bomb, good, tmp_path):
    r = cli("watermark", "embed", bomb, "-o", tmp_path / "m.png")
    assert r.exit_code == 2 and "Traceback" not in r.output and "corrupt" in r.output
    r = cli("watermark", "detect", "--json", bomb, good)
    rows = json.loads(r.stdout)
    assert rows[0]["error"]["code"] == "corrupt" and rows[1]["error"] is None
    assert r.exit_code == 2


def test_audit_calls_it_corrupt(bomb, good, tmp_path):
    out = tmp_path / "report.jsonl"
    r = cli("audit", bomb, good, "--out", out, "--no-detector", "--workers", "1")
    assert "Traceback" not in r.output
    rows = {Path(x["path"]).name: x for x in map(json.loads, out.read_text().splitlines())}
    assert rows["ztxt.png"]["error"]["code"] == "corrupt"
    assert rows["good.jpg"]["error"] is None


def test_service_verify_and_by_content_answer_4xx_json(make_app, bomb):
    from fastapi.testclient import TestClient

    app, _, _ = make_app()
    data = bomb.read_bytes()
    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.post("/v1/verify", files={"file": ("ztxt.png", data, "image/png")})
        assert r.status_code == 422
        assert r.json()["error"]["code"] == "corrupt"
        r = c.post("/matches/byContent", content=data, headers={"Content-Type": "image/png"})
        assert 400 <= r.status_code < 500
        assert r.json()["code"] == "corrupt"


# -- trust anchors ----------------------------------------------------------------------------------
def _verify_subprocess(args, env_extra=None, timeout=60):
    env = {**os.environ, "PYTHONPATH": str(REPO), **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "forensics", "verify", "--no-detector", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, env=env, cwd=REPO)


@pytest.mark.parametrize("via", ["option", "env"])
def test_trust_anchors_from_dev_zero_are_refused(good, via):
    args = [good] + (["--trust-anchors", "/dev/zero"] if via == "option" else [])
    env = {"FORENSICS_TRUST_ANCHORS": "/dev/zero"} if via == "env" else None
    r = _verify_subprocess(args, env)
    assert r.returncode == 2
    assert "/dev/zero" in r.stderr and "not a regular file" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("via", ["option", "env"])
def test_trust_anchors_from_a_fifo_do_not_hang(good, tmp_path, via):
    fifo = tmp_path / "anchors.pem"
    os.mkfifo(fifo)
    args = [good] + (["--trust-anchors", fifo] if via == "option" else [])
    env = {"FORENSICS_TRUST_ANCHORS": str(fifo)} if via == "env" else None
    r = _verify_subprocess(args, env)  # the old code blocks in open() forever: TimeoutExpired
    assert r.returncode == 2
    assert "FIFO" in r.stderr and "Traceback" not in r.stderr


def test_trust_anchors_directory_and_oversized_file(tmp_path):
    from forensics import config
    from forensics.errors import ConfigError
    from forensics.provenance.credentials import load_trust_anchors

    with pytest.raises(ConfigError, match="directory"):
        load_trust_anchors([tmp_path])
    big = tmp_path / "big.pem"
    with open(big, "wb") as fh:
        fh.truncate(config.MAX_TRUST_ANCHORS_BYTES + 1)
    with pytest.raises(ConfigError, match="limit"):
        load_trust_anchors([big])


def test_our_limit_not_pillows_decides(tmp_path):
    """A header of 20000x10000 (over Pillow's own 2x ceiling) passes a configured 300 MP limit, warning-free,
    and the global stays untouched; the default limit refuses it with its size."""
    import warnings

    from PIL import Image

    from forensics.errors import TooLarge
    from forensics.media import Media

    ihdr = struct.pack(">IIBBBBB", 20000, 10000, 8, 2, 0, 0, 0)
    p = tmp_path / "huge.png"
    p.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(b"\x00" * 64))
                  + _chunk(b"IEND", b""))
    before = Image.MAX_IMAGE_PIXELS
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert Media.open(p, max_pixels=300_000_000).dimensions == (20000, 10000)
    assert Image.MAX_IMAGE_PIXELS == before
    with pytest.raises(TooLarge, match="20000x10000"):
        Media.open(p)
