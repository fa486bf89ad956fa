"""A manifest stored remotely (issue 13, finding 12b): with --allow-network the report says what happened
(fetched, or the fetch failed and why), never "not fetched because verification is offline"."""
from __future__ import annotations

import http.server
import io
import json
import socket
import threading

import pytest
from PIL import Image
from typer.testing import CliRunner

from forensics.cli import app
from forensics.provenance.keys import init_pki
from forensics.provenance.signing import SigningIdentity, manifest_definition

CAPTURE = "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"
OFFLINE = "not fetched because verification is offline"
runner = CliRunner()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def remote_signed(forensics_home, tmp_path):
    """(path of a JPEG whose manifest lives at a loopback URL, the URL, the manifest store bytes)."""
    import c2pa

    init_pki()
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (20, 90, 160)).save(buf, "JPEG")
    url = f"http://127.0.0.1:{_free_port()}/manifest.c2pa"
    signer = SigningIdentity.default()._signer()
    out = io.BytesIO()
    try:
        with c2pa.Builder(manifest_definition(title="remote", actions=None, digital_source_type=CAPTURE,
                                              assertions=None, has_parent=False, claim_generator=None)) as b:
            b.set_no_embed()
            b.set_remote_url(url)
            store = b.sign(signer, "image/jpeg", io.BytesIO(buf.getvalue()), out)
    finally:
        signer.close()
    path = tmp_path / "remote.jpg"
    path.write_bytes(out.getvalue())
    return path, url, store


def _verify(*args):
    r = runner.invoke(app, ["verify", "--no-detector", *map(str, args)], env={"COLUMNS": "400"},
                      catch_exceptions=False)
    assert "Traceback" not in r.output
    return r


def test_offline_says_offline(remote_signed):
    path, url, _ = remote_signed
    [row] = json.loads(_verify("--json", path).stdout)
    [st] = row["c2pa"]["statuses"]
    assert st["code"] == "forensics.manifest.remote" and OFFLINE in st["explanation"] and url in st["explanation"]


def test_allowed_but_unreachable_says_the_fetch_failed(remote_signed):
    path, url, _ = remote_signed  # nothing listens on the port
    [row] = json.loads(_verify("--json", "--allow-network", path).stdout)
    [st] = row["c2pa"]["statuses"]
    assert st["code"] == "forensics.manifest.remote.fetchFailed"
    assert OFFLINE not in st["explanation"] and "fetching it failed" in st["explanation"]
    assert url in st["explanation"]  # c2pa's reason names the URL
    r = _verify("--allow-network", path)
    assert OFFLINE not in " ".join(r.output.split()) and "fetching it failed" in r.output


def test_allowed_and_served_says_fetched(remote_signed):
    path, url, store = remote_signed
    port = int(url.rsplit(":", 1)[1].split("/")[0])

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "application/c2pa")
            self.send_header("Content-Length", str(len(store)))
            self.end_headers()
            self.wfile.write(store)

        def log_message(self, *a):
            pass

    srv = http.server.HTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        [row] = json.loads(_verify("--json", "--allow-network", path).stdout)
    finally:
        srv.shutdown()
        srv.server_close()
    c = row["c2pa"]
    assert c["present"] and c["remote"] and c["state"] in ("Trusted", "Valid")
    assert c["statuses"][0]["code"] == "forensics.manifest.remote.fetched"
    assert url in c["statuses"][0]["explanation"]
    assert not any(OFFLINE in s["explanation"] for s in c["statuses"])
