"""`make demo`: the main job, offline, on files this script creates itself.

1. a local test PKI (`forensics keys init`)
2. a "camera" photo signed with Content Credentials → verify: authentic-credentials
3. the same photo with its pixels edited after signing → verify: tampered
4. an AI image from the offline builtin:tiny model, watermarked + signed at decode → verify: ai-generated
5. that image with its metadata stripped (re-encoded as JPEG) → verify recovers the manifest via the watermark
6. a batch audit of the whole folder with an HTML report

Every step runs the real `forensics` command line; nothing is downloaded.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image
from rich.console import Console
from rich.rule import Rule

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "demo-output"
console = Console()


def forensics(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "forensics", *args]
    console.print(f"[bold cyan]$ forensics {' '.join(args)}[/]")
    proc = subprocess.run(cmd, env=ENV, text=True, capture_output=True)
    if proc.stdout.strip():
        console.print(proc.stdout.rstrip(), markup=False, highlight=False)
    if proc.returncode not in (0, 1):
        console.print(proc.stderr.rstrip(), markup=False, highlight=False)
        if check:
            raise SystemExit(f"demo step failed (exit {proc.returncode})")
    return proc


def verify_label(path: Path) -> dict:
    proc = subprocess.run([sys.executable, "-m", "forensics", "verify", "--json", str(path)], env=ENV,
                          text=True, capture_output=True)
    return json.loads(proc.stdout)[0]


def make_photo(path: Path, seed: int = 7, size=(1024, 768)) -> None:
    """A photo-like test image: smooth sky gradient, hills, sensor noise (no network, no shared data)."""
    rng = np.random.default_rng(seed)
    w, h = size
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    sky = np.stack([110 + 60 * (y / h), 150 + 50 * (y / h), 230 - 30 * (y / h)], axis=-1)
    hill = (y > h * 0.55 + 60 * np.sin(x / 140.0) + 30 * np.sin(x / 37.0))[..., None]
    ground = np.stack([60 + 40 * np.sin(x / 23.0) * np.cos(y / 31.0), 120 + 30 * np.sin(y / 17.0),
                       50 + 0 * x], axis=-1)
    img = np.where(hill, ground, sky) + rng.normal(0, 4.0, (h, w, 3))
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(path, quality=92)


def main() -> None:
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir()
    home = OUT / "home"
    global ENV
    ENV = dict(os.environ, FORENSICS_HOME=str(home), FORENSICS_REGISTRY=str(home / "registry.sqlite"),
               HF_HUB_OFFLINE="1", PYTHONWARNINGS="ignore")
    media = OUT / "media"
    media.mkdir()

    console.print(Rule("1. A local test PKI (root → intermediate → ES256 leaf)"))
    forensics("keys", "init")

    console.print(Rule("2. A camera photo signed with Content Credentials"))
    make_photo(OUT / "camera.jpg")
    forensics("sign", str(OUT / "camera.jpg"), "-o", str(media / "signed-photo.jpg"), "--title", "Harbour at dawn",
              "--action", "c2pa.created",
              "--digital-source-type", "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture")
    forensics("verify", str(media / "signed-photo.jpg"))

    console.print(Rule("3. The same photo, pixels edited after signing"))
    img = Image.open(media / "signed-photo.jpg")
    data = (media / "signed-photo.jpg").read_bytes()
    # flip bytes inside the entropy-coded image data (after the manifest), keeping the file decodable
    cut = len(data) - 4000
    tampered = data[:cut] + bytes(b ^ 0x01 if i % 97 == 0 else b for i, b in enumerate(data[cut:-2])) + data[-2:]
    (media / "tampered-photo.jpg").write_bytes(tampered)
    del img
    forensics("verify", str(media / "tampered-photo.jpg"))

    console.print(Rule("4. An AI image: generated offline, watermarked and signed at decode"))
    console.print("builtin:tiny is a random-weight pipeline: its pictures are abstract noise, by design.")
    forensics("generate", "a lighthouse in a storm, editorial illustration", "-o", str(media / "generated.png"),
              "--model", "builtin:tiny", "--seed", "42", "--steps", "4", "--size", "256x256")
    forensics("verify", str(media / "generated.png"))

    console.print(Rule("5. The AI image after a platform stripped its metadata (JPEG re-encode)"))
    Image.open(media / "generated.png").convert("RGB").save(media / "stripped-copy.jpg", quality=85)
    forensics("verify", str(media / "stripped-copy.jpg"))

    console.print(Rule("6. A batch audit of the folder"))
    (media / "notes.jpg").write_text("not an image, despite the name")
    forensics("audit", str(media), "--out", str(OUT / "audit.jsonl"), "--html", str(OUT / "audit.html"),
              "--workers", "2", check=False)

    console.print(Rule("Summary"))
    for name in ("signed-photo.jpg", "tampered-photo.jpg", "generated.png", "stripped-copy.jpg", "notes.jpg"):
        r = verify_label(media / name)
        extra = f" (recovered from {r['c2pa']['recovered_from']})" if r["c2pa"].get("recovered_from") else ""
        console.print(f"  {name:22s} → [bold]{r['verdict']['label']}[/]{extra}")
    console.print(f"\nHTML audit report: {OUT / 'audit.html'}")


ENV: dict = {}

if __name__ == "__main__":
    main()
