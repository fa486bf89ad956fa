"""`forensics audit --quick [--then-full]`: the screening profile, its reuse rules, and parity with verify;
entries that are not regular files; report files kept by --resume."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from forensics.analysers import VerifyOptions
from forensics.audit import profile_options, run_audit
from test_audit_plugins import CHAOS, html_tables, log_lines, read_jsonl, small_jpeg

PAYLOAD = bytes.fromhex("0123456789ab")


def scene(seed: int, w: int = 640, h: int = 480) -> np.ndarray:
    """A photo-like image: smooth structure at three scales over a gradient (the watermark needs texture)."""
    import cv2

    rng = np.random.default_rng(seed)
    img = np.zeros((h, w, 3), np.float32)
    for s, a in ((64, 60), (16, 30), (4, 15)):
        n = rng.normal(0, 1, (h // s + 2, w // s + 2, 3)).astype(np.float32)
        img += a * cv2.resize(n, (w, h), interpolation=cv2.INTER_CUBIC)
    img += np.linspace(60, 180, w, dtype=np.float32)[None, :, None]
    return np.clip(img, 0, 255).astype(np.uint8)


def test_fsw_native_geometry_switch():
    """search_geometry=False reads the mark as issued, resized or recompressed, skips the rotation search, and
    its false-positive probability counts only the hypotheses it tried."""
    import cv2

    from forensics.provenance import watermark as wm

    marked = wm.embed(scene(1), PAYLOAD, scheme="fsw-v1")  # marks issued before fsw-v2 keep the switch
    resized = cv2.resize(marked, (448, 336), interpolation=cv2.INTER_AREA)
    for image in (marked, resized):
        for search in (True, False):
            (d,) = wm.detect(image, ["fsw-v1"], search_geometry=search)
            assert d.detected and d.payload == PAYLOAD.hex()
    h, w = marked.shape[:2]
    turn = cv2.getRotationMatrix2D((w / 2, h / 2), 4, 1.0)
    rotated = cv2.warpAffine(marked, turn, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    (full,) = wm.detect(rotated, ["fsw-v1"])
    (quick,) = wm.detect(rotated, ["fsw-v1"], search_geometry=False)
    assert full.detected and not quick.detected  # a rotation moves the tile lattice: only the search finds it
    (same,) = wm.detect(marked, ["fsw-v1"], search_geometry=False)
    assert same.false_positive_probability < wm.detect(marked, ["fsw-v1"])[0].false_positive_probability


@pytest.fixture
def media_folder(tmp_path):
    """Native and resized watermarked files, a signed file, a cropped marked file and a plain one."""
    import cv2
    from PIL import Image

    from forensics.provenance import watermark as wm
    from forensics.provenance.keys import init_pki
    from forensics.provenance.signing import SigningIdentity, sign_file

    src = tmp_path / "in"
    src.mkdir()
    marked = wm.embed(scene(2), PAYLOAD)
    Image.fromarray(marked).save(src / "marked.png")
    Image.fromarray(cv2.resize(marked, (480, 360), interpolation=cv2.INTER_AREA)).save(src / "marked-small.jpg",
                                                                                       quality=85)
    Image.fromarray(marked[40:400, 60:560]).save(src / "marked-crop.png")
    # camera-sized: the screening reads it from a reduced-scale JPEG decode
    Image.fromarray(wm.embed(scene(5, 2400, 1800), PAYLOAD)).save(src / "marked-large.jpg", quality=90)
    Image.fromarray(scene(3)).save(src / "plain.jpg", quality=90)
    init_pki()
    Image.fromarray(scene(4)).save(tmp_path / "to-sign.jpg", quality=90)
    sign_file(tmp_path / "to-sign.jpg", src / "signed.jpg", identity=SigningIdentity.default(), title="a photo")
    return src


CONTRACT_FIELDS = ("media_type", "error", "verdict", "c2pa", "watermarks", "detector", "metadata", "frames")


@pytest.mark.slow
def test_quick_finds_native_marks_and_credentials_and_both_profiles_match_verify(media_folder, tmp_path):
    from forensics.verify import Verifier

    rows = {}
    for profile in ("quick", "full"):
        out = tmp_path / f"{profile}.jsonl"
        summary = run_audit([str(media_folder)], out, workers=1, profile=profile)
        assert summary.failed == 0 and summary.profile == profile
        rows[profile] = {Path(r["path"]).name: r for r in read_jsonl(out)}
        verifier = Verifier(profile_options(VerifyOptions(), profile))  # what verify does with these options
        for name, row in rows[profile].items():
            assert row["profile"] == profile
            expected = verifier.verify(media_folder / name, display_path=row["path"]).to_json()
            for k in CONTRACT_FIELDS:
                assert row[k] == expected[k], (profile, name, k)
    quick, full = rows["quick"], rows["full"]
    from typer.testing import CliRunner

    from forensics.cli import app

    res = CliRunner().invoke(app, ["verify", "--quick", "--json", str(media_folder / "marked-large.jpg")])
    assert res.exit_code == 0, res.output
    (cli,) = __import__("json").loads(res.stdout)
    for k in CONTRACT_FIELDS:  # `forensics verify --quick` is the screening too
        assert cli[k] == quick["marked-large.jpg"][k], k
    for name in ("marked.png", "marked-small.jpg", "marked-large.jpg"):  # every native-geometry mark
        (q,) = [w for w in quick[name]["watermarks"] if w["scheme"] == "fsw-v2"]
        assert q["detected"] and q["payload"] == PAYLOAD.hex()
    assert quick["signed.jpg"]["c2pa"]["present"] and quick["signed.jpg"]["c2pa"] == full["signed.jpg"]["c2pa"]
    assert all(r["detector"] is None for r in quick.values())  # no detector in the screening
    assert any(w["detected"] for w in full["marked-crop.png"]["watermarks"])  # the search is full's


def _analysed(log) -> list[tuple[str, str]]:
    return [(ln[2], ln[3]) for ln in log_lines(log) if ln[1] == "analyse"]


@pytest.fixture
def chaos_log(tmp_path, monkeypatch):
    log = tmp_path / "calls.log"
    monkeypatch.setenv("AUDIT_TEST_LOG", str(log))
    return log


def test_profiles_never_share_stored_results(tmp_path, chaos_log):
    src = tmp_path / "in"
    src.mkdir()
    for i in range(3):
        small_jpeg(src / f"p{i}.jpg", i)
    out = tmp_path / "r.jsonl"
    full = run_audit([str(src)], out, workers=1, analysers=[CHAOS])
    assert full.processed == 3 and {r["profile"] for r in read_jsonl(out)} == {"full"}
    quick = run_audit([str(src)], out, workers=1, analysers=[CHAOS], profile="quick")
    assert quick.processed == 3 and quick.reused == 0  # a full result is not a screening result
    assert {r["profile"] for r in read_jsonl(out)} == {"quick"}
    again = run_audit([str(src)], out, workers=1, analysers=[CHAOS], profile="quick")
    assert again.processed == 0 and again.reused == 3
    resumed = run_audit([], out, workers=1, resume=True)  # the recorded profile
    assert resumed.processed == 0 and resumed.profile == "quick"
    back = run_audit([str(src)], out, workers=1, analysers=[CHAOS])
    assert back.processed == 3 and {r["profile"] for r in read_jsonl(out)} == {"full"}
    assert [s for _, s in _analysed(chaos_log)] == ["search=1"] * 3 + ["search=0"] * 3 + ["search=1"] * 3


def test_then_full_rechecks_only_what_the_screening_flagged(tmp_path, chaos_log):
    src = tmp_path / "in"
    src.mkdir()
    for name in ("a.jpg", "ai-1.jpg", "b.jpg", "ai-2.jpg"):
        small_jpeg(src / name, len(name))
    (src / "fake.jpg").write_text("not a jpeg")  # an error row: flagged too
    out = tmp_path / "r.jsonl"
    s = run_audit([str(src)], out, workers=2, analysers=[CHAOS], profile="quick", then_full=True)
    rows = {Path(r["path"]).name: r for r in read_jsonl(out)}
    assert {n: r["profile"] for n, r in rows.items()} == {"a.jpg": "quick", "b.jpg": "quick", "ai-1.jpg": "full",
                                                          "ai-2.jpg": "full", "fake.jpg": "full"}
    assert rows["ai-1.jpg"]["verdict"]["label"] == "ai-generated"
    assert s.rechecked_full == 3 and s.processed == 5
    calls = _analysed(chaos_log)
    assert sorted(n for n, srch in calls if srch == "search=0") == ["a.jpg", "ai-1.jpg", "ai-2.jpg", "b.jpg"]
    assert sorted(n for n, srch in calls if srch == "search=1") == ["ai-1.jpg", "ai-2.jpg"]
    # an unchanged re-run of the same job reuses both the screening and the full results
    n = len(calls)
    again = run_audit([str(src)], out, workers=1, analysers=[CHAOS], profile="quick", then_full=True)
    assert again.processed == 0 and again.rechecked_full == 0 and len(_analysed(chaos_log)) == n
    assert {Path(r["path"]).name: r["profile"] for r in read_jsonl(out)} == {n: r["profile"] for n, r in rows.items()}


def test_then_full_needs_quick(tmp_path):
    from forensics.audit import AuditError

    with pytest.raises(AuditError, match="--quick"):
        run_audit([str(tmp_path)], tmp_path / "r.jsonl", then_full=True)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs and symlinks")
def test_symlink_loops_dangling_links_and_fifos_are_reported_not_dropped(tmp_path, chaos_log):
    src = tmp_path / "in"
    src.mkdir()
    small_jpeg(src / "real.jpg", 1)
    os.symlink("real.jpg", src / "link-ok.jpg")  # a good link is audited like its target
    os.symlink("loop.jpg", src / "loop.jpg")  # a loop
    os.symlink("nowhere.jpg", src / "dangling.jpg")
    os.mkfifo(src / "pipe.jpg")  # opening it would block forever
    os.mkfifo(src / "control")  # not media by name: skipped, and counted as such
    (src / "notes.txt").write_text("x")
    out = tmp_path / "r.jsonl"
    summary = run_audit([str(src)], out, workers=1, analysers=[CHAOS])
    rows = {Path(r["path"]).name: r for r in read_jsonl(out)}
    assert set(rows) == {"real.jpg", "link-ok.jpg", "loop.jpg", "dangling.jpg", "pipe.jpg"}
    assert rows["link-ok.jpg"]["error"] is None
    assert rows["loop.jpg"]["error"]["code"] == "unreadable" and "loop" in rows["loop.jpg"]["error"]["message"]
    assert rows["dangling.jpg"]["error"]["code"] == "not_found"
    assert "broken symbolic link" in rows["dangling.jpg"]["error"]["message"]
    assert rows["pipe.jpg"]["error"]["code"] == "unsupported" and "FIFO" in rows["pipe.jpg"]["error"]["message"]
    assert summary.skipped == 2 and summary.skipped_by == {"not_media": 1, "not_regular": 1}
    assert summary.errors == {"unreadable": 1, "not_found": 1, "unsupported": 1}
    again = run_audit([str(src)], out, workers=1, analysers=[CHAOS])  # stable on a re-run
    assert again.skipped == 2 and len(read_jsonl(out)) == 5
    named = run_audit([str(src / "control"), str(src / "dangling.jpg")], tmp_path / "n.jsonl", workers=1,
                      analysers=[CHAOS])  # named ones always get their row (the FIFO is not opened)
    assert named.errors == {"unsupported": 1, "not_found": 1}


def test_resume_writes_every_requested_report_again_with_every_thumbnail(tmp_path, chaos_log):
    import csv

    src = tmp_path / "in"
    src.mkdir()
    for i in range(6):
        small_jpeg(src / f"p{i}.jpg", i)
    out, html, csv_path = tmp_path / "r.jsonl", tmp_path / "r.html", tmp_path / "r.csv"
    run_audit([str(src)], out, workers=1, analysers=[CHAOS], html=html, csv=csv_path)
    html.unlink()
    csv_path.unlink()
    run_audit([], out, workers=1, resume=True)  # not named again: the recorded job's outputs
    table, thumbs = html_tables(html)
    assert len(table) == 6 and len(thumbs) == 6
    with open(csv_path, newline="") as fh:
        assert len(list(csv.DictReader(fh))) == 6
    # a job first run without --html, then resumed with it: every row gets its thumbnail
    out2, html2 = tmp_path / "s.jsonl", tmp_path / "s.html"
    run_audit([str(src)], out2, workers=1, analysers=[CHAOS])
    n = len(_analysed(chaos_log))
    resumed = run_audit([], out2, workers=1, resume=True, html=html2)
    table, thumbs = html_tables(html2)
    assert len(table) == 6 and len(thumbs) == 6
    assert resumed.processed == 0 and len(_analysed(chaos_log)) == n  # thumbnails only, nothing re-analysed


def test_native_jpeg_decode_equals_pillow_and_truncation_stays_corrupt(tmp_path):
    """The fast native decode of a JPEG gives Pillow's pixels exactly; a cut-off JPEG is still `corrupt`."""
    from PIL import Image

    from forensics.errors import Corrupt
    from forensics.media import Media

    path = tmp_path / "p.jpg"
    Image.fromarray(scene(6, 800, 600)).save(path, quality=90, progressive=False)
    media = Media.open(path)
    assert np.array_equal(media.rgb(), np.asarray(Image.open(path).convert("RGB")))
    media = Media.open(path)
    media.full_decode_expected = True  # the detector's path: the smaller copies derive from the native one
    small = media.rgb(max_side=256)
    assert max(small.shape[:2]) <= 256 and max(small.shape[:2]) >= 192
    assert np.array_equal(media.rgb(), np.asarray(Image.open(path).convert("RGB")))
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size * 2 // 3])
    with pytest.raises(Corrupt):
        Media.open(cut).rgb()
