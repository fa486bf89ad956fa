"""Analysers that misbehave on purpose, for the audit's isolation / resume tests (no tests in this module).

The file *name* decides: ``slow*`` sleeps past any time limit, ``crash*`` kills its process with SIGSEGV,
``hog*`` allocates far more memory than the per-file cap. Every call is logged (``pid path``) to
``$AUDIT_TEST_LOG`` so tests can count how often a file was analysed and how many workers loaded models.
``$AUDIT_TEST_DELAY`` (seconds) slows every file down, to kill an audit mid-run. ``ai*`` files carry a
(pretend) generator watermark, so they are labelled ai-generated; the log line says which profile's options
analysed the file (``search=0``: the quick screening, ``search=1``: full).
"""
from __future__ import annotations

import os
import signal
import time

CHAOS = "test_audit_plugins:ChaosAnalyser"


def _log(line: str) -> None:
    path = os.environ.get("AUDIT_TEST_LOG")
    if path:
        with open(path, "a") as fh:
            fh.write(f"{os.getpid()} {line}\n")


class ChaosAnalyser:
    name = "chaos"

    def __init__(self):
        _log("init")

    def applies_to(self, media, options) -> bool:
        return True

    def analyse(self, media, ctx):
        name = media.path.name
        if name.startswith("warm."):  # the worker's warm-up image
            return None
        _log(f"analyse {name} search={int(ctx.options.watermark_geometry_search)}")
        delay = float(os.environ.get("AUDIT_TEST_DELAY") or 0)
        if delay:
            time.sleep(delay)
        if name.startswith("slow"):
            time.sleep(600)
        if name.startswith("crash"):
            os.kill(os.getpid(), signal.SIGSEGV)
        if name.startswith("hog"):
            blocks = [bytearray(256 * 1024**2) for _ in range(64)]  # 16 GiB: far over any cap
            return len(blocks)
        if name.startswith("ai"):
            from forensics.report import WatermarkDetection, WatermarkFinding

            return WatermarkFinding([WatermarkDetection("test-mark", True, source="a test generator",
                                                        implies_ai=True)])
        return None


# -- helpers shared by the audit tests ----------------------------------------------------------------------

def bomb_png(path) -> None:
    """A valid PNG header claiming 30000 x 30000 pixels, with almost no data: a decompression bomb's shape."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", 30000, 30000, 8, 2, 0, 0, 0)
    with open(path, "wb") as fh:
        fh.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
                 + chunk(b"IEND", b""))


def small_jpeg(path, seed: int = 0, size=(64, 48), exif: dict | None = None) -> None:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    img = Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))
    kwargs = {}
    if exif:
        ex = Image.Exif()
        for tag, value in exif.items():
            ex[tag] = value
        kwargs["exif"] = ex
    img.save(path, "JPEG", quality=85, **kwargs)


def read_jsonl(path) -> list[dict]:
    import json

    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def log_lines(path) -> list[list[str]]:
    try:
        with open(path) as fh:
            return [line.split() for line in fh if line.strip()]
    except FileNotFoundError:
        return []


def html_tables(path) -> tuple[list[dict], dict[str, str]]:
    """(table rows, thumbnails by row id) from the JSON blocks of an audit HTML report."""
    import json
    import re

    page = open(path, encoding="utf-8").read()

    def block(name):
        m = re.search(rf'<script type="application/json" id="{name}">(.*?)</script>', page, re.S)
        return json.loads(m.group(1))

    data = block("audit-rows")
    for r in data["rows"]:
        r["label"] = data["labels"][r["v"]]
        r["folder"] = data["folders"][r["f"]]
    return data["rows"], block("audit-thumbs")
