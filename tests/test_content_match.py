"""Forged and transplanted watermarks must not borrow credentials (issue 13, finding 14).

fsw-v1's key is public, so anyone can embed any manifest's ID into any photo. The repository keeps a
content descriptor of each registered image; recovery only presents a manifest as a file's credentials
when the file is a derived copy of that image (``watermarks[i].content_match``).
"""
from __future__ import annotations

import io
import json
import secrets
import sqlite3

import cv2
import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from forensics.cli import app
from forensics.provenance import content_match as cm
from forensics.provenance import watermark as wm
from forensics.provenance.keys import init_pki
from forensics.provenance.repository import ManifestRepository
from forensics.provenance.watermark.attacks import chain, crop, jpeg, resize, rotate
from test_recovery import _publish
from test_service_support import make_app  # noqa: F401  (fixture)

runner = CliRunner()


def scene(seed: int, size=(640, 480)) -> np.ndarray:
    """A synthetic 'photo' with structure (shapes, edges, a gradient): what local features need."""
    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([(xx * 255 / w), (yy * 255 / h), np.full((h, w), 90.0)], -1).astype(np.uint8)
    img = np.ascontiguousarray(img)
    for _ in range(60):
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        kind = rng.integers(0, 3)
        if kind == 0:
            cv2.rectangle(img, (x, y), (x + int(rng.integers(10, 90)), y + int(rng.integers(10, 90))), colour, -1)
        elif kind == 1:
            cv2.circle(img, (x, y), int(rng.integers(5, 40)), colour, -1)
        else:
            cv2.line(img, (x, y), (int(rng.integers(0, w)), int(rng.integers(0, h))), colour, 3)
    return img


def _png(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "PNG")
    return buf.getvalue()


def _jpeg(rgb: np.ndarray, path, quality=85):
    Image.fromarray(rgb).save(path, "JPEG", quality=quality)
    return path


def publish(rgb: np.ndarray, *, descriptor: bool = True):
    """Mark, sign and store the way the generator does. Returns (manifest id, payload hex, marked pixels)."""
    signed, payload, marked = _publish(rgb, descriptor=descriptor)
    return signed.manifest_id, payload, marked


def verify_json(*paths):
    r = runner.invoke(app, ["verify", "--json", "--no-detector", *map(str, paths)], catch_exceptions=False)
    assert "Traceback" not in r.output
    return json.loads(r.stdout)


def fsw(report: dict) -> dict:
    [d] = [d for d in report["watermarks"] if d["scheme"] == wm.DEFAULT_SCHEME and d["detected"]]
    return d


@pytest.fixture
def pki(forensics_home):
    return init_pki()


# -- the descriptor itself ------------------------------------------------------------------------
def test_descriptor_is_small_and_tells_copies_from_other_images():
    a, b = scene(1), scene(2)
    d = cm.describe(a)
    assert len(d) <= 8 * 1024
    copies = {
        "jpeg50": jpeg(50)(a),
        "resize0.5": resize(0.5)(a),
        "crop70": crop(0.7, "centre")(a),
        "rotate3": rotate(3)(a),
        "rotate12": rotate(12)(a),
        "aspect1.2": cv2.resize(a, (round(a.shape[1] * 1.2), a.shape[0]), interpolation=cv2.INTER_AREA),
        "hflip": np.ascontiguousarray(a[:, ::-1]),
        "grey": np.repeat(a.mean(2, keepdims=True).astype(np.uint8), 3, 2),
        "chain": chain(jpeg(75), resize(0.7), crop(0.8, "centre"))(a),
    }
    for name, copy in copies.items():
        assert cm.compare(d, copy).match is True, name
    for other in (b, jpeg(75)(b), crop(0.8, "centre")(b)):
        assert cm.compare(d, other).match is False


def test_flat_image_descriptor_cannot_decide():
    flat = np.full((256, 256, 3), 128, np.uint8)
    assert cm.compare(cm.describe(flat), flat).match is None


def test_damaged_descriptor_is_refused():
    with pytest.raises(ValueError):
        cm.compare(b"CM1garbage", scene(1))


# -- through verify -------------------------------------------------------------------------------
def test_transplanted_watermark_does_not_borrow_the_manifest(pki, tmp_path):
    mid, payload, marked = publish(scene(1))
    # a derived copy of the registered image: recovered, content_match true
    derived = _jpeg(chain(resize(0.8), crop(0.85, "centre"))(marked), tmp_path / "derived.jpg")
    # the same manifest's ID embedded (public key) into an unrelated photo
    other = _jpeg(scene(7), tmp_path / "other.jpg", quality=95)
    forged = tmp_path / "forged.png"
    r = runner.invoke(app, ["watermark", "embed", str(other), "-o", str(forged), "--payload", payload])
    assert r.exit_code == 0, r.output
    forged_jpeg = _jpeg(np.asarray(Image.open(forged).convert("RGB")), tmp_path / "forged.jpg")

    ok, bad, bad2 = verify_json(derived, forged, forged_jpeg)
    assert fsw(ok)["manifest_id"] == mid and fsw(ok)["content_match"] is True
    assert ok["c2pa"]["recovered_from"] == "watermark" and ok["verdict"]["label"] == "ai-generated"
    for rep in (bad, bad2):
        d = fsw(rep)
        assert d["payload"] == payload and d["manifest_id"] == mid and d["content_match"] is False
        assert rep["c2pa"]["recovered_from"] is None and rep["c2pa"]["present"] is False
        assert rep["c2pa"]["manifest_id"] is None and rep["c2pa"]["digital_source_type"] is None
        assert rep["verdict"]["label"] != "ai-generated"
        assert (f"the watermark points to manifest {mid}, but this image is not a copy of the image {mid} "
                "was issued for") in rep["verdict"]["reasons"]
        assert not any("links to manifest" in x or "no known watermark" in x for x in rep["verdict"]["reasons"])
    # the human view says it too
    r = runner.invoke(app, ["verify", "--no-detector", str(forged)], env={"COLUMNS": "400"},
                      catch_exceptions=False)
    assert "this image is not a copy of the image" in r.output and "not this image" in r.output


def test_records_without_a_descriptor_answer_null_and_still_recover(pki, tmp_path):
    mid, _, marked = publish(scene(3), descriptor=False)
    [rep] = verify_json(_jpeg(marked, tmp_path / "copy.jpg"))
    assert fsw(rep)["content_match"] is None
    assert rep["c2pa"]["recovered_from"] == "watermark" and rep["c2pa"]["manifest_id"] == mid


def test_no_manifest_means_null(pki, tmp_path):
    ManifestRepository()  # an empty repository
    marked = wm.embed(scene(4), secrets.token_bytes(wm.PAYLOAD_BYTES))
    [rep] = verify_json(_jpeg(marked, tmp_path / "m.jpg"))
    assert fsw(rep)["manifest_id"] is None and fsw(rep)["content_match"] is None


def test_repository_made_before_the_column_still_works(pki, tmp_path, forensics_home):
    mid, _, marked = publish(scene(5))
    db = forensics_home / "registry.sqlite"
    with sqlite3.connect(db) as conn:  # the table as a repository made before content descriptors has it
        conn.execute("ALTER TABLE manifests DROP COLUMN content_descriptor")
    [rep] = verify_json(_jpeg(marked, tmp_path / "copy.jpg"))
    assert rep["c2pa"]["recovered_from"] == "watermark" and fsw(rep)["content_match"] is None
    with sqlite3.connect(db) as conn:  # a reader did not change the schema
        assert "content_descriptor" not in {r[1] for r in conn.execute("PRAGMA table_info(manifests)")}
    publish(scene(6))  # a writer adds the column and stores descriptors again
    with sqlite3.connect(db) as conn:
        assert "content_descriptor" in {r[1] for r in conn.execute("PRAGMA table_info(manifests)")}


def test_migration_adds_the_column(tmp_path):
    from sqlalchemy import create_engine, inspect

    from forensics import migrations

    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    migrations.upgrade(url)
    cols = {c["name"] for c in inspect(create_engine(url)).get_columns("manifests")}
    assert "content_descriptor" in cols


def test_generation_stores_a_descriptor(pki):
    from forensics.generate import GenerationRequest, load_generator

    [img] = load_generator("builtin:tiny").generate(GenerationRequest("a harbour", seed=3, size=(256, 256)))
    rec = ManifestRepository().get(img.manifest_id)
    assert rec.content_descriptor and len(rec.content_descriptor) <= 8 * 1024


def test_soft_binding_resolution_by_content_refuses_a_transplanted_mark(pki, make_app):
    from fastapi.testclient import TestClient

    mid, payload, marked = publish(scene(1))
    forged = wm.embed(scene(7), bytes.fromhex(payload))
    app, _, _ = make_app()
    with TestClient(app) as c:
        def ids(rgb):
            r = c.post("/matches/byContent", content=_png(rgb), headers={"Content-Type": "image/png"})
            assert r.status_code == 200, r.text
            return [m["manifestId"] for m in r.json()["matches"]]

        assert mid in ids(jpeg(80)(marked))
        assert mid not in ids(forged)
