"""`forensics audit`: inputs, bad files, incremental re-runs, report formats, HTML escaping."""
from __future__ import annotations

import base64
import csv
import hashlib
import json
import os
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from forensics.audit import AuditError, run_audit, state_path_for
from forensics.cli import app
from test_audit_plugins import CHAOS, bomb_png, html_tables, log_lines, read_jsonl, small_jpeg

from conftest import photo


@pytest.fixture
def chaos_log(tmp_path, monkeypatch):
    log = tmp_path / "calls.log"
    monkeypatch.setenv("AUDIT_TEST_LOG", str(log))
    return log


@pytest.fixture
def archive(tmp_path) -> Path:
    """Two good JPEGs, one without extension in a subfolder, and the usual junk."""
    root = tmp_path / "archive"
    (root / "sub").mkdir(parents=True)
    (root / ".hidden").mkdir()
    small_jpeg(root / "a.jpg", 1)
    small_jpeg(root / "b.jpeg", 2)
    small_jpeg(root / "sub" / "IMG_0003", 3)  # no extension: found by content
    small_jpeg(root / ".hidden" / "c.jpg", 4)  # hidden folders are not walked
    (root / "notes.txt").write_text("not an image")  # skipped: neither content nor name says media
    (root / "fake.jpg").write_text("text pretending to be a JPEG")  # name says media: error row
    (root / "empty.jpg").write_bytes(b"")
    bomb_png(root / "bomb.png")
    return root


def _by_name(rows):
    return {Path(r["path"]).name: r for r in rows}


def test_audit_reports_every_input_once_with_error_rows(archive, tmp_path, chaos_log):
    out = tmp_path / "out" / "report.jsonl"
    missing = str(tmp_path / "missing.jpg")
    nomatch = str(tmp_path / "nothing-*.png")
    summary = run_audit([str(archive), missing, nomatch, str(archive / "a.jpg")], out, workers=2,
                        analysers=[CHAOS])
    rows = read_jsonl(out)
    paths = [r["path"] for r in rows]
    assert len(paths) == len(set(paths)), "an input listed twice must be reported once"
    by = _by_name(rows)
    assert set(by) == {"a.jpg", "b.jpeg", "IMG_0003", "fake.jpg", "empty.jpg", "bomb.png", "missing.jpg",
                       "nothing-*.png"}
    assert by["a.jpg"]["error"] is None and by["a.jpg"]["media_type"] == "image/jpeg"
    assert by["IMG_0003"]["media_type"] == "image/jpeg"
    assert by["a.jpg"]["sha256"] == hashlib.sha256((archive / "a.jpg").read_bytes()).hexdigest()
    assert by["fake.jpg"]["error"]["code"] == "unsupported"
    assert by["empty.jpg"]["error"]["code"] == "corrupt"
    assert by["bomb.png"]["error"]["code"] == "too_large"
    assert by["missing.jpg"]["error"]["code"] == "not_found"
    assert by["nothing-*.png"]["error"]["code"] == "not_found"
    for r in rows:  # every row is the verify object
        assert {"path", "media_type", "error", "verdict", "c2pa", "watermarks", "detector", "metadata",
                "frames"} <= set(r)
        assert (r["verdict"]["label"] == "error") == (r["error"] is not None)
    assert summary.skipped == 1 and summary.reported == 8
    assert summary.errors == {"unsupported": 1, "corrupt": 1, "too_large": 1, "not_found": 2}
    assert summary.failed == 5
    assert state_path_for(out).exists()
    # models loaded once per worker: at most 2 analyser instances for 3 analysed images
    inits = [ln for ln in log_lines(chaos_log) if ln[1] == "init"]
    assert 1 <= len(inits) <= 2


def test_cli_exit_codes_and_json_summary(archive, tmp_path, chaos_log):
    runner = CliRunner()
    out = tmp_path / "r.jsonl"
    res = runner.invoke(app, ["audit", str(archive / "a.jpg"), str(archive / "b.jpeg"), "--out", str(out),
                              "--workers", "1", "--json", "--quiet", "--analyser", CHAOS])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["reported"] == 2 and summary["failed"] == 0
    res = runner.invoke(app, ["audit", str(archive / "a.jpg"), str(archive / "fake.jpg"), "--out", str(out),
                              "--workers", "1", "--quiet", "--analyser", CHAOS])
    assert res.exit_code == 2  # one input could not be processed
    assert "Traceback" not in res.output
    assert len(read_jsonl(out)) == 2
    res = runner.invoke(app, ["audit", str(archive / "a.jpg"), "--out", str(out), "--workers", "1", "--quiet",
                              "--analyser", CHAOS, "--fail-on", "no-evidence"])
    assert res.exit_code == 1  # every input processed, but a --fail-on verdict matched
    res = runner.invoke(app, ["audit", str(archive / "a.jpg"), "--out", str(out), "--fail-on", "bogus"])
    assert res.exit_code == 2
    res = runner.invoke(app, ["audit", str(archive / "a.jpg"), "--out", str(out), "--quiet",
                              "--trust-anchors", str(tmp_path / "no-such-anchors.pem")])
    assert res.exit_code == 2 and "Traceback" not in res.output
    res = runner.invoke(app, ["audit", "--out", str(tmp_path / "x.jsonl"), "--resume"])
    assert res.exit_code == 2 and "nothing to resume" in res.output
    res = runner.invoke(app, ["audit", "--out", str(tmp_path / "x.jsonl")])
    assert res.exit_code == 2


def test_rerun_is_incremental_by_mtime_and_hash(archive, tmp_path, chaos_log):
    out = tmp_path / "r.jsonl"
    inputs = [str(archive / "a.jpg"), str(archive / "b.jpeg"), str(archive / "sub")]
    first = run_audit(inputs, out, workers=1, analysers=[CHAOS])
    assert first.processed == 3 and first.reused == 0

    def analysed():
        return [ln[2] for ln in log_lines(chaos_log) if ln[1] == "analyse"]

    n0 = len(analysed())
    assert n0 == 3
    second = run_audit(inputs, out, workers=1, analysers=[CHAOS])
    assert second.processed == 0 and second.reused == 3
    assert len(analysed()) == n0, "an unchanged archive must not be analysed again"
    # same bytes, new mtime: hashed, not analysed
    st = os.stat(archive / "a.jpg")
    os.utime(archive / "a.jpg", ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    third = run_audit(inputs, out, workers=1, analysers=[CHAOS])
    assert third.processed == 0 and len(analysed()) == n0
    # new content: analysed again, and the report carries the new hash
    small_jpeg(archive / "b.jpeg", 99)
    fourth = run_audit(inputs, out, workers=1, analysers=[CHAOS])
    assert fourth.processed == 1 and analysed()[n0:] == ["b.jpeg"]
    rows = _by_name(read_jsonl(out))
    assert rows["b.jpeg"]["sha256"] == hashlib.sha256((archive / "b.jpeg").read_bytes()).hexdigest()
    # a file that disappears leaves the report; --force analyses everything again
    (archive / "sub" / "IMG_0003").unlink()
    (archive / "sub" / "IMG_0004.jpg").write_bytes((archive / "a.jpg").read_bytes())
    fifth = run_audit(inputs, out, workers=1, analysers=[CHAOS], force=True)
    assert fifth.processed == 3 and set(_by_name(read_jsonl(out))) == {"a.jpg", "b.jpeg", "IMG_0004.jpg"}
    assert fifth.errors == {}


def test_named_file_is_reported_even_if_a_folder_scan_skipped_it(archive, tmp_path, chaos_log):
    out = tmp_path / "r.jsonl"
    first = run_audit([str(archive / "sub"), str(archive / "notes.txt")], out, workers=1, analysers=[CHAOS])
    assert first.skipped == 0 and {Path(r["path"]).name for r in read_jsonl(out)} == {"IMG_0003", "notes.txt"}
    run_audit([str(archive)], out, workers=1, analysers=[CHAOS])  # notes.txt found by walking: skipped
    assert "notes.txt" not in {Path(r["path"]).name for r in read_jsonl(out)}
    again = run_audit([str(archive / "notes.txt")], out, workers=1, analysers=[CHAOS])
    (row,) = read_jsonl(out)
    assert Path(row["path"]).name == "notes.txt" and row["error"]["code"] == "unsupported"
    assert again.failed == 1


def test_video_found_by_content_gets_a_row_and_thumbnail(tmp_path):
    cv2 = pytest.importorskip("cv2")
    import numpy as np

    src = tmp_path / "in"
    src.mkdir()
    path = src / "clip.bin"  # the name says nothing: the content does
    w = cv2.VideoWriter(str(path) + ".mp4", cv2.VideoWriter_fourcc(*"mp4v"), 10, (64, 48))
    if not w.isOpened():
        pytest.skip("no mp4v encoder in this OpenCV build")
    for i in range(10):
        w.write(np.full((48, 64, 3), i * 20, np.uint8))
    w.release()
    os.rename(str(path) + ".mp4", path)
    out = tmp_path / "r.jsonl"
    run_audit([str(src)], out, html=tmp_path / "r.html", workers=1, analysers=[])
    (row,) = read_jsonl(out)
    assert row["media_type"] == "video/mp4" and row["error"] is None
    table, thumbs = html_tables(tmp_path / "r.html")
    assert [r["p"] for r in table] == [row["path"]] and set(thumbs) == {str(table[0]["i"])}


def test_csv_and_parquet_reports(archive, tmp_path, chaos_log):
    pa = pytest.importorskip("pyarrow.parquet")
    out = tmp_path / "r.jsonl"
    run_audit([str(archive)], out, csv=tmp_path / "r.csv", parquet=tmp_path / "r.parquet", workers=1,
              analysers=[CHAOS])
    rows = read_jsonl(out)
    with open(tmp_path / "r.csv", newline="", encoding="utf-8") as fh:
        flat = list(csv.DictReader(fh))
    assert [r["path"] for r in flat] == [r["path"] for r in rows]
    by = {Path(r["path"]).name: r for r in flat}
    assert by["bomb.png"]["error_code"] == "too_large" and by["bomb.png"]["verdict"] == "error"
    table = pa.read_table(tmp_path / "r.parquet")
    assert table.num_rows == len(rows)
    assert [json.loads(j)["path"] for j in table.column("json").to_pylist()] == [r["path"] for r in rows]


def test_csv_defuses_spreadsheet_formulas(tmp_path):
    from forensics.audit.outputs import CsvWriter

    w = CsvWriter(tmp_path / "x.csv")
    w.add({"path": "a.jpg", "verdict": {"label": "no-evidence", "reasons": []},
           "c2pa": {"present": True, "title": "=HYPERLINK(\"http://evil\")"}}, ".", None)
    w.close()
    with open(tmp_path / "x.csv", newline="") as fh:
        row = next(csv.DictReader(fh))
    assert row["c2pa_title"].startswith("'=")


def _assert_safe_html(page: str) -> None:
    assert "<script>alert" not in page and "<img src=x" not in page
    assert page.count("<script>") == 1  # only the report's own script; the rest are JSON data blocks
    assert page.count("<script") == 3 and page.count('<script type="application/json"') == 2
    assert "innerHTML" not in page and "insertAdjacentHTML" not in page and "document.write" not in page
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page), "no external requests"
    assert "@import" not in page and "url(http" not in page
    # the Content-Security-Policy allows exactly the inline script that is there
    script = page.split("<script>", 1)[1].split("</script>", 1)[0]
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in page


METADATA = "forensics.provenance.metadata:MetadataAnalyser"
CREDENTIALS = "forensics.provenance.credentials:CredentialsAnalyser"


def test_html_escapes_exif_markup(tmp_path):
    pytest.importorskip("forensics.provenance.metadata")
    src = tmp_path / "in"
    src.mkdir()
    small_jpeg(src / "evil.jpg", 5, exif={0x010E: "<script>alert(1)</script>", 0x013B: "<img src=x onerror=alert(2)>",
                                          0x0110: "Cam&Co \"quoted\""})
    bad_name = src / "<b onmouseover=x>.jpg"
    small_jpeg(bad_name, 6)
    out = tmp_path / "r.jsonl"
    run_audit([str(src)], out, html=tmp_path / "r.html", workers=1, analysers=[METADATA])
    rows = _by_name(read_jsonl(out))
    assert rows["evil.jpg"]["metadata"]["exif"].get("ImageDescription") == "<script>alert(1)</script>"
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    _assert_safe_html(page)
    table, thumbs = html_tables(tmp_path / "r.html")
    by = {Path(r["p"]).name: r for r in table}
    meta = dict(by["evil.jpg"]["m"])
    assert meta["ImageDescription"] == "<script>alert(1)</script>"  # the data, to be shown as text
    assert meta["Artist"] == "<img src=x onerror=alert(2)>"
    assert "<b onmouseover=x>.jpg" in by
    assert len(thumbs) == 2  # thumbnails inline
    assert "<svg" in page and "Per folder" in page


def test_html_escapes_c2pa_title(tmp_path):
    pytest.importorskip("forensics.provenance.signing")
    pytest.importorskip("forensics.provenance.credentials")
    from forensics.provenance.keys import init_pki
    from forensics.provenance.signing import SigningIdentity, sign_file

    init_pki()
    small_jpeg(tmp_path / "plain.jpg", 7, size=(128, 96))
    signed = tmp_path / "signed.jpg"
    title = "<script>alert(1)</script>"
    sign_file(tmp_path / "plain.jpg", signed, identity=SigningIdentity.default(), title=title)
    out = tmp_path / "r.jsonl"
    run_audit([str(signed)], out, html=tmp_path / "r.html", workers=1, analysers=[METADATA, CREDENTIALS])
    (row,) = read_jsonl(out)
    assert row["c2pa"]["present"] is True and row["c2pa"]["title"] == title
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    _assert_safe_html(page)
    (rec,), _ = html_tables(tmp_path / "r.html")
    assert dict(rec["c"])["title"] == title


def test_real_photos_with_default_analysers(tmp_path):
    """The default analysers (whatever is installed) over a few shared photos: clean rows, same as verify."""
    src = tmp_path / "p"
    src.mkdir()
    for name in ("nature_2-481x321.jpg", "animals_10-crop256.png"):
        shutil.copy(photo(name), src / name)
    out = tmp_path / "r.jsonl"
    from forensics.analysers import VerifyOptions
    from forensics.verify import Verifier

    opts = VerifyOptions(detector=False)
    summary = run_audit([str(src)], out, workers=1, options=opts)
    assert summary.failed == 0 and summary.reported == 2
    v = Verifier(opts)
    for row in read_jsonl(out):
        expected = v.verify(row["path"]).to_json()
        for k in ("media_type", "error", "verdict", "c2pa", "watermarks", "detector", "metadata"):
            assert row[k] == expected[k], k


def test_resume_without_state_is_an_error(tmp_path):
    with pytest.raises(AuditError):
        run_audit([], tmp_path / "r.jsonl", resume=True)


def test_one_audit_per_report_at_a_time(tmp_path, archive):
    from forensics.audit.state import AuditState

    out = tmp_path / "r.jsonl"
    holder = AuditState(state_path_for(out))  # as if another audit were running on this report
    try:
        with pytest.raises(AuditError, match="another audit"):
            run_audit([str(archive / "a.jpg")], out, workers=1, analysers=[CHAOS])
    finally:
        holder.close()
    with pytest.raises(AuditError, match="folder"):
        run_audit([str(archive / "a.jpg")], tmp_path, workers=1, analysers=[CHAOS])


CHROMIUM = Path("/usr/bin/chromium")


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium (Debian package)")
def test_html_report_in_a_browser(tmp_path):
    """No script from a file runs, no request leaves the page, sorting and filtering work, CSP allows our script."""
    pytest.importorskip("forensics.provenance.signing")
    from playwright.sync_api import sync_playwright

    from forensics.provenance.keys import init_pki
    from forensics.provenance.signing import SigningIdentity, sign_file

    init_pki()
    src = tmp_path / "in"
    src.mkdir()
    small_jpeg(src / "plain.jpg", 1, size=(96, 64))
    sign_file(src / "plain.jpg", src / "signed.jpg", identity=SigningIdentity.default(),
              title="<script>alert(1)</script><img src=x onerror=alert(2)>")
    small_jpeg(src / "exif.jpg", 2, exif={0x010E: "<svg onload=alert(3)>", 0x013B: "<script>alert(4)</script>"})
    (src / "broken.jpg").write_text("x")
    out = tmp_path / "r.jsonl"
    run_audit([str(src)], out, html=tmp_path / "r.html", workers=1, analysers=[METADATA, CREDENTIALS])
    dialogs, requests, errors = [], [], []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                     args=["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                                           "--disable-background-networking", "--disable-component-update"])
        try:
            page = browser.new_page()
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.on("request", lambda r: requests.append(r.url))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto((tmp_path / "r.html").as_uri())
            assert page.locator("#rows tbody tr").count() == 4
            assert page.inner_text("#shown") == "4"
            assert "<script>alert(1)</script>" in page.inner_text("#rows")  # shown as text
            page.fill("#q", "signed")
            assert page.inner_text("#shown") == "1"  # our script runs: the CSP hash matches it
            page.fill("#q", "")
            page.select_option("#fverdict", "error")
            assert page.inner_text("#shown") == "1"
            page.select_option("#fverdict", "")
            page.click("#rows th:nth-child(2)")  # sort by path, ascending
            names = [Path(t).name for t in page.locator("#rows tbody td.path").all_inner_texts()]
            assert names == sorted(names)
            page.click("#rows th:nth-child(2)")
            names = [Path(t).name for t in page.locator("#rows tbody td.path").all_inner_texts()]
            assert names == sorted(names, reverse=True)
            page.wait_for_timeout(200)
        finally:
            browser.close()
    assert dialogs == []
    assert [u for u in requests if not u.startswith(("file:", "data:"))] == []
    assert errors == []


def _launch(pw):
    return pw.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                              args=["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                                    "--disable-background-networking", "--disable-component-update"])


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium (Debian package)")
def test_html_report_of_100k_rows_pages_in_a_browser(tmp_path):
    """A 100,000-row report: one page of rows in the DOM, images only for that page, paging, filtering, and a
    hostile file name shown as text."""
    from playwright.sync_api import sync_playwright

    from forensics.audit.html import THUMBS_MAX, HtmlWriter
    from PIL import Image
    import io

    buf = io.BytesIO()
    Image.new("RGB", (96, 72), (120, 80, 40)).save(buf, "JPEG", quality=70)
    thumb = buf.getvalue()
    hostile = "<img src=x onerror=alert(1)>.jpg"
    n = 100_000
    w = HtmlWriter(tmp_path / "big.html")
    for i in range(n):
        label = "ai-generated" if i % 50 == 7 else "no-evidence"
        w.add({"path": hostile if i == 12_345 else f"archive/{i // 1000:03d}/IMG_{i:06d}.jpg",
               "verdict": {"label": label, "reasons": [f"reason {i}"]},
               "detector": {"probability_synthetic": (i % 100) / 100, "threshold": 0.5},
               "metadata": {"exif": {"Make": "Cam", "Model": f"M{i % 7}"}}}, f"archive/{i // 1000:03d}", thumb)
    w.close()
    size = (tmp_path / "big.html").stat().st_size
    assert size < 400 * n + 4 * len(thumb) * THUMBS_MAX  # the stated bound: rows and capped thumbnails
    dialogs, errors = [], []
    with sync_playwright() as pw:
        browser = _launch(pw)
        try:
            page = browser.new_page()
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto((tmp_path / "big.html").as_uri(), timeout=60_000)
            page.wait_for_selector("body[data-ready='1']", timeout=60_000)
            assert page.inner_text("#shown") == str(n)
            assert page.locator("#rows tbody tr").count() == 100  # one page in the DOM
            assert page.locator("#rows img.thumb").count() == 100  # images for the rows in view only
            assert page.inner_text("#pageinfo") == "page 1 of 1000"
            first = page.locator("#rows tbody td.path").first.inner_text()
            page.click("#next")
            assert page.inner_text("#pageinfo") == "page 2 of 1000"
            assert page.locator("#rows tbody td.path").first.inner_text() != first
            assert page.locator("#rows tbody tr").count() == 100
            page.select_option("#fverdict", "ai-generated")
            assert page.inner_text("#shown") == str(n // 50)
            assert page.inner_text("#pageinfo") == "page 1 of 20"
            page.select_option("#fverdict", "")
            page.fill("#q", "onerror")
            assert page.inner_text("#shown") == "1"
            assert page.locator("#rows tbody td.path").inner_text() == hostile  # text, not an element
            assert page.locator("#rows tbody img:not(.thumb)").count() == 0
            page.fill("#q", "")
            page.click("#rows th:nth-child(4)")  # sort by p(synthetic), ascending
            cells = page.locator("#rows tbody tr td:nth-child(4)").all_inner_texts()
            assert cells == sorted(cells) and cells[0] == "0.00"
        finally:
            browser.close()
    assert dialogs == [] and errors == []


def test_html_table_cap_keeps_flagged_rows(tmp_path):
    from forensics.audit.html import HtmlWriter

    w = HtmlWriter(tmp_path / "r.html", max_rows=3)
    for i in range(10):
        label = "error" if i in (7, 9) else "no-evidence"
        w.add({"path": f"f{i}.jpg", "verdict": {"label": label, "reasons": []},
               "error": {"code": "corrupt", "message": "x"} if label == "error" else None}, "d", None)
    w.close()
    page = (tmp_path / "r.html").read_text()
    shown = [r["p"] for r in html_tables(tmp_path / "r.html")[0]]
    assert shown == ["f0.jpg", "f7.jpg", "f9.jpg"]  # both errors kept, scan order
    assert "3 of 10 rows" in page
    assert ">10<" in page or "10 files" in page  # the charts count every row


def test_file_names_that_are_not_utf8(tmp_path, chaos_log):
    src = tmp_path / "in"
    src.mkdir()
    small_jpeg(src / "ok.jpg", 1)
    raw = os.path.join(os.fsencode(src), b"caf\xe9.jpg")  # Latin-1 name on a UTF-8 system
    with open(raw, "wb") as fh:
        fh.write((src / "ok.jpg").read_bytes())
    out = tmp_path / "r.jsonl"
    summary = run_audit([str(src)], out, csv=tmp_path / "r.csv", html=tmp_path / "r.html", workers=1,
                        analysers=[CHAOS])
    names = sorted(Path(r["path"]).name for r in read_jsonl(out))
    assert names == ["caf\\xe9.jpg", "ok.jpg"] and summary.failed == 0  # analysed, shown escaped
    again = run_audit([str(src)], out, workers=1, analysers=[CHAOS])
    assert again.processed == 0  # the state keys round-trip


def test_report_inside_the_audited_folder_is_not_audited(tmp_path, chaos_log):
    src = tmp_path / "in"
    src.mkdir()
    small_jpeg(src / "a.jpg", 1)
    out = src / "report.jsonl"
    run_audit([str(src)], out, html=src / "report.html", workers=1, analysers=[CHAOS])
    again = run_audit([str(src)], out, html=src / "report.html", workers=1, analysers=[CHAOS])
    assert [Path(r["path"]).name for r in read_jsonl(out)] == ["a.jpg"]
    assert again.skipped == 0 and again.inputs == 1
