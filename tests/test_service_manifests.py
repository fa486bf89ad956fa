"""/manifests/{id} and /v1/manifests/{id}: the binary manifest store (application/c2pa) or its JSON form."""
from __future__ import annotations

import io
import json

from fastapi.testclient import TestClient
from PIL import Image

from test_service_support import make_app  # noqa: F401

from forensics.provenance.keys import init_pki
from forensics.provenance.repository import ManifestRepository
from forensics.provenance.signing import SigningIdentity, sign_bytes
from forensics.service.resolve import prefers_c2pa

AI = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"


def _stored(app):
    init_pki()
    b = io.BytesIO()
    Image.new("RGB", (32, 32), (9, 90, 200)).save(b, "PNG")
    signed = sign_bytes(b.getvalue(), "image/png", identity=SigningIdentity.default(), digital_source_type=AI)
    ManifestRepository(app.state.settings.resolved_registry_url()).store(
        manifest_id=signed.manifest_id, manifest_store=signed.manifest_json, media_type="image/png",
        manifest_store_bytes=signed.manifest_store_bytes)
    return signed


def test_manifest_endpoints_serve_application_c2pa_and_json(make_app):
    import c2pa

    app, _, _ = make_app()
    signed = _stored(app)
    mid = signed.manifest_id
    with TestClient(app) as c:
        r = c.get(f"/manifests/{mid}")  # Soft Binding Resolution: application/c2pa by default
        assert r.status_code == 200 and r.headers["content-type"] == "application/c2pa"
        assert r.content == signed.manifest_store_bytes
        with c2pa.Reader("application/c2pa", io.BytesIO(r.content)) as reader:
            assert json.loads(reader.json())["active_manifest"] == mid
        j = c.get(f"/manifests/{mid}", headers={"Accept": "application/json"})
        assert j.headers["content-type"].startswith("application/json") and j.json()["active_manifest"] == mid
        active = c.get(f"/manifests/{mid}", params={"returnActiveManifest": "true"},
                       headers={"Accept": "application/json"}).json()
        assert active["label"] == mid
        # the contract's /v1 form stays JSON by default; application/c2pa on request
        assert c.get(f"/v1/manifests/{mid}").json()["active_manifest"] == mid
        b = c.get(f"/v1/manifests/{mid}", headers={"Accept": "application/c2pa"})
        assert b.headers["content-type"] == "application/c2pa" and b.content == signed.manifest_store_bytes


def test_records_without_bytes_answer_json_or_406(make_app):
    app, _, _ = make_app()
    mid = "urn:c2pa:00000000-0000-0000-0000-000000000001"
    ManifestRepository(app.state.settings.resolved_registry_url()).store(
        manifest_id=mid, manifest_store={"active_manifest": mid, "manifests": {mid: {"title": "t"}}})
    with TestClient(app) as c:
        assert c.get(f"/manifests/{mid}").json()["active_manifest"] == mid
        assert c.get(f"/manifests/{mid}", headers={"Accept": "application/c2pa"}).status_code == 406


def test_accept_negotiation():
    assert prefers_c2pa(None, default=True) and not prefers_c2pa(None, default=False)
    assert prefers_c2pa("*/*", default=True) and not prefers_c2pa("*/*", default=False)
    assert not prefers_c2pa("application/json", default=True)
    assert prefers_c2pa("application/c2pa", default=False)
    assert prefers_c2pa("application/json;q=0.5, application/c2pa", default=False)
    assert not prefers_c2pa("application/c2pa;q=0.1, application/json", default=True)
