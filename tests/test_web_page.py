"""The verification page in a real browser (Debian's Chromium driven by Playwright), at phone size.

A signed file whose manifest title is ``<script>alert(1)</script>`` must show that string as text: no dialog,
no extra script element. Skipped (not failed) where /usr/bin/chromium is absent; .ci/run installs it.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from test_service_support import LiveServer, jpeg_bytes

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
XSS = "<script>alert(1)</script>"
CAWG_FIXTURE = Path(__file__).parent / "fixtures" / "C_with_CAWG_data.jpg"

pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium (Debian package)")]


@pytest.fixture
def signed_xss_file(tmp_path, forensics_home):
    from forensics.provenance.keys import init_pki
    from forensics.provenance.signing import SigningIdentity, sign_bytes

    init_pki()
    ident = SigningIdentity.default()
    parent = sign_bytes(jpeg_bytes((320, 240), (30, 90, 160)), "image/jpeg", identity=ident,
                        title="original photo \u202e<img src=x onerror=alert(2)>")
    child = sign_bytes(parent.data, "image/jpeg", identity=ident, title=XSS, parent=parent.data,
                       parent_media_type="image/jpeg", actions=[{"action": "c2pa.edited"}])
    path = tmp_path / "signed-xss.jpg"
    path.write_bytes(child.data)
    return path


def test_page_shows_report_and_escapes_manifest_strings(signed_xss_file, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    from forensics.service import ServiceSettings, create_app

    app = create_app(ServiceSettings.load(generate=False))
    dialogs: list[str] = []
    console_errors: list[str] = []
    with LiveServer(app) as srv, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2,
                                    is_mobile=True, has_touch=True)
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
            page.goto(srv.url + "/")
            page.wait_for_selector("body[data-ready='1']")
            page.set_input_files("#file", str(signed_xss_file))
            page.wait_for_selector("#result:not([hidden])", timeout=60_000)
            expect(page.locator("#raw")).not_to_be_empty()  # (string predicates would need eval: CSP forbids it)

            dd = page.locator("#c2pa-fields dd").all_text_contents()
            assert XSS in dd, dd
            assert page.locator("#verdict-label").text_content() == "Authentic credentials"
            assert "trusted" in page.locator("#c2pa-summary").text_content().lower()
            assert "TEST signer" in " ".join(dd)  # signer shown
            ingredients = page.locator("#ingredients li").all_text_contents()
            assert any("onerror=alert(2)" in t for t in ingredients), ingredients  # ingredient tree, as text
            assert any("[U+202E]" in t for t in ingredients), ingredients  # bidi override made visible
            assert page.locator("#filename").text_content() == "signed-xss.jpg"
            # trust list, signer organisation/country and the Asset Signals, as in the terminal report
            assert any("Local trust anchor" in t for t in dd) and "XX" in dd, dd
            assert "Trust list: Local trust anchor" in page.locator("#c2pa-summary").text_content()
            signals = page.locator("#signals li").all_text_contents()
            assert any("Contains ambiguous actions" in t and "transformation:signal_ambiguousActions" in t
                       for t in signals), signals
            assert any("Contains Media of Unknown Provenance" in t for t in ingredients), ingredients
            report = json.loads(page.locator("#raw").text_content())
            if report["detector"] is not None:  # a detector model is installed: score and explanation shown
                assert page.locator("#det-meter").is_visible()
                assert "Probability synthetic" in page.locator("#det-summary").text_content()
                assert "not proof" in page.locator("#det-explain").text_content()
            # nothing from the file became markup
            assert page.evaluate("document.querySelectorAll('script').length") == 1
            assert page.evaluate("document.querySelectorAll('#result img:not(#preview)').length") == 0
            # laid out for a phone: nothing wider than the screen
            assert page.evaluate("document.documentElement.scrollWidth") <= 390
            shot = tmp_path / "phone.png"
            page.screenshot(path=str(shot), full_page=True)
            if os.environ.get("FORENSICS_SCREENSHOT"):
                page.screenshot(path=os.environ["FORENSICS_SCREENSHOT"], full_page=True)
            assert shot.stat().st_size > 10_000

            # CAWG identity assertion: named actor shown as text
            page.set_input_files("#file", str(CAWG_FIXTURE))
            expect(page.locator("#identities li")).to_have_count(1, timeout=30_000)
            assert "C2PA Signer" in page.locator("#identities li").first.text_content()
            assert "cawg.x509.cose" in page.locator("#identities li").first.text_content()

            # a non-image shows a clear message, not a crash
            bad = tmp_path / "notes.jpg"
            bad.write_text("just text")
            page.set_input_files("#file", str(bad))
            expect(page.locator("#verdict-label")).to_have_text("Could not check", timeout=30_000)
            assert "could not be fully checked" in page.locator("#status").text_content()
        finally:
            browser.close()
    assert dialogs == []
    assert not [e for e in console_errors if "Content Security Policy" in e], console_errors
