"""End to end with the real generation core (builtin:tiny, offline, random weights) and the real signing
identity from `keys init`: generate over HTTP -> verify the returned bytes -> Trusted, ai-generated ->
strip the metadata -> the watermark still finds the manifest (verify's recovery and Soft Binding Resolution)."""
from __future__ import annotations

import base64
import io

import pytest
from fastapi.testclient import TestClient

pytestmark = pytest.mark.slow


@pytest.fixture
def tiny_service(forensics_home):
    from forensics.provenance.keys import init_pki
    from forensics.service import ServiceSettings, create_app

    init_pki()
    app = create_app(ServiceSettings.load(model="builtin:tiny", device="cpu", rate_per_minute=0))
    token, _ = app.state.store.create_api_key("photo-desk", ["generate"])
    return app, token


def test_generate_verify_and_recover_with_builtin_tiny(tiny_service):
    import numpy as np
    from PIL import Image

    from forensics.provenance import watermark as wm

    app, token = tiny_service
    with TestClient(app) as c:
        r = c.post("/v1/generate", json={"prompt": "a lighthouse at dusk", "seed": 3, "size": "256x256"},
                   headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200, r.text
        mid, mark = r.headers["x-manifest-id"], r.headers["x-watermark"]
        assert r.headers["content-type"] == "image/png"
        signed = r.content

        v = c.post("/v1/verify", files={"file": ("generated.png", signed, "image/png")}).json()
        assert v["error"] is None
        assert v["c2pa"]["present"] and v["c2pa"]["state"] == "Trusted"
        assert v["c2pa"]["manifest_id"] == mid
        assert v["verdict"]["label"] == "ai-generated"
        assert v["c2pa"]["digital_source_type"].endswith("trainedAlgorithmicMedia")
        found = [w for w in v["watermarks"] if w["detected"] and w["scheme"] == wm.DEFAULT_SCHEME]
        assert found and found[0]["payload"] == mark

        # the manifest is in the repository
        assert c.get(f"/v1/manifests/{mid}").json()["active_manifest"] == mid
        value = base64.b64encode(bytes.fromhex(mark)).decode()
        assert c.get("/matches/byBinding", params={"alg": wm.DEFAULT_SCHEME, "value": value}).json() == \
            {"matches": [{"manifestId": mid, "similarityScore": 100}]}

        # a copy without metadata (pixels only, re-encoded as JPEG)
        buf = io.BytesIO()
        Image.fromarray(np.asarray(Image.open(io.BytesIO(signed)).convert("RGB"))).save(buf, "JPEG", quality=92)
        stripped = buf.getvalue()
        assert b"c2pa" not in stripped
        v2 = c.post("/v1/verify", files={"file": ("copy.jpg", stripped, "image/jpeg")}).json()
        assert v2["c2pa"]["recovered_from"] == "watermark" and v2["c2pa"]["manifest_id"] == mid
        assert v2["verdict"]["label"] == "ai-generated"
        m = c.post("/matches/byContent", content=stripped, headers={"Content-Type": "image/jpeg"}).json()
        assert m["matches"][0]["manifestId"] == mid

        health = c.get("/healthz").json()
        assert health["generator"]["state"] == "ready" and health["generator"]["model"] == "builtin:tiny"

    log = app.state.store.audit_entries()
    assert [(e["event"], e["manifest_id"], e["key_name"], e["model"]) for e in log] == \
        [("generated", mid, "photo-desk", "builtin:tiny")]


def test_callback_signer_for_kms_signs_trusted_credentials(forensics_home, monkeypatch):
    """The KMS/HSM hook: the private key lives only inside the callback (here: a closure standing in for
    a KMS client); the service holds the certificate chain only."""
    import sys
    import types

    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from forensics import config
    from forensics.provenance.credentials import read_credentials
    from forensics.provenance.keys import init_pki
    from forensics.provenance.signing import sign_bytes
    from forensics.service import ServiceSettings
    from forensics.service.signing import CallbackSigningIdentity, load_identity

    pki = init_pki()
    key = serialization.load_pem_private_key(pki.signer_key.read_bytes(), None)
    kms = types.ModuleType("fake_kms")
    kms.calls = 0

    def sign(data: bytes) -> bytes:
        kms.calls += 1
        return key.sign(data, ec.ECDSA(hashes.SHA256()))

    kms.sign = sign
    monkeypatch.setitem(sys.modules, "fake_kms", kms)
    ident = load_identity(ServiceSettings(signer_callback="fake_kms:sign", signing_cert=str(pki.signer_chain)))
    assert isinstance(ident, CallbackSigningIdentity) and ident.private_key_pem == b""

    from test_service_support import jpeg_bytes

    asset = sign_bytes(jpeg_bytes(), "image/jpeg", identity=ident, title="kms-signed")
    assert kms.calls >= 1
    finding = read_credentials(asset.data, "image/jpeg", trust_anchor_paths=config.trust_anchor_paths())
    assert finding.present and finding.state == "Trusted"


def test_signing_key_from_environment_is_not_inherited(forensics_home, monkeypatch):
    from forensics.provenance.keys import init_pki
    from forensics.service import ServiceSettings
    from forensics.service.signing import ENV_CERT, ENV_KEY, load_identity

    init_pki()
    from forensics.provenance.keys import default_identity_paths

    cert, key = default_identity_paths()
    monkeypatch.setenv(ENV_KEY, key.read_text())
    monkeypatch.setenv(ENV_CERT, cert.read_text())
    ident = load_identity(ServiceSettings())
    assert ident.private_key_pem == key.read_bytes()
    assert ENV_KEY not in __import__("os").environ  # child processes do not get it
    assert b"PRIVATE KEY" not in repr(ident).encode()
