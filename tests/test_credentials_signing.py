"""Signing API and the local test PKI (forensics.provenance.signing / .keys)."""
from __future__ import annotations

import io
import json

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, ObjectIdentifier

from forensics import config
from forensics.errors import ConfigError, CredentialsError
from forensics.provenance import keys
from forensics.provenance.signing import SigningIdentity, has_credentials, sign_bytes, sign_file

AI = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"


def _jpeg(size=(64, 48), color=(200, 30, 60)) -> bytes:
    from PIL import Image

    b = io.BytesIO()
    Image.new("RGB", size, color).save(b, "JPEG", quality=90)
    return b.getvalue()


def _reader_state(data: bytes, anchors_pem: str | None):
    import c2pa

    settings = {"verify": {"verify_trust": True, "remote_manifest_fetch": False}}
    if anchors_pem:
        settings["trust"] = {"trust_anchors": anchors_pem}
    with c2pa.Reader("image/jpeg", io.BytesIO(data), context=c2pa.Context.from_dict(settings)) as r:
        store = json.loads(r.json())
    fails = [s["code"] for s in store["validation_results"]["activeManifest"]["failure"]]
    return store["validation_state"], fails


def test_keys_init_builds_a_c2pa_profile_chain(forensics_home):
    pki = keys.init_pki()
    chain = x509.load_pem_x509_certificates(pki.signer_chain.read_bytes())
    root = x509.load_pem_x509_certificate(pki.root_cert.read_bytes())
    leaf, inter = chain
    assert len(chain) == 2
    assert leaf.issuer == inter.subject and inter.issuer == root.subject and root.issuer == root.subject
    ku = leaf.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.digital_signature and not ku.value.key_cert_sign
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.EMAIL_PROTECTION in eku
    assert ObjectIdentifier(keys.C2PA_CLAIM_SIGNING_OID) in eku
    leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    # every file says it is test-only; private keys are private
    for p in pki.directory.iterdir():
        assert "TEST ONLY" in p.read_text()
    assert (pki.signer_key.stat().st_mode & 0o077) == 0
    # the root, and only the root, is registered as a local anchor
    anchors = x509.load_pem_x509_certificates(config.local_trust_anchors_path().read_bytes())
    assert anchors == [root]
    assert config.local_trust_anchors_path() in config.trust_anchor_paths()


def test_keys_init_refuses_to_overwrite_and_force_replaces_the_anchor(forensics_home):
    first = keys.init_pki()
    old_root = first.root_cert.read_bytes()
    with pytest.raises(ConfigError):
        keys.init_pki()
    second = keys.init_pki(force=True)
    assert second.root_cert.read_bytes() != old_root
    anchors = x509.load_pem_x509_certificates(config.local_trust_anchors_path().read_bytes())
    assert anchors == [x509.load_pem_x509_certificate(second.root_cert.read_bytes())]


def test_keys_init_custom_dir_becomes_the_default_identity(forensics_home, tmp_path):
    pki = keys.init_pki(tmp_path / "elsewhere")
    ident = SigningIdentity.default()
    assert ident.cert_chain_pem == pki.signer_chain.read_bytes()


def test_default_identity_missing_says_what_to_do(forensics_home):
    with pytest.raises(ConfigError, match="forensics keys init"):
        SigningIdentity.default()


def test_signed_with_test_pki_is_trusted_only_with_its_root(forensics_home):
    pki = keys.init_pki()
    asset = sign_bytes(_jpeg(), "image/jpeg", identity=SigningIdentity.default(), title="t",
                       digital_source_type=AI)
    assert asset.manifest_id.startswith("urn:")
    assert asset.manifest_json["active_manifest"] == asset.manifest_id
    assert _reader_state(asset.data, pki.root_cert.read_text()) == ("Trusted", [])
    # c2pa calls it "Valid" while saying the signer is untrusted: trust has to be judged explicitly
    assert _reader_state(asset.data, None) == ("Valid", ["signingCredential.untrusted"])


def test_self_signed_leaf_is_refused(forensics_home, tmp_path):
    """c2pa refuses a self-signed signing certificate: why keys init builds a chain."""
    pki = keys.init_pki()
    root_only = SigningIdentity(pki.root_cert.read_bytes(), (pki.directory / keys.ROOT_KEY).read_bytes())
    with pytest.raises(CredentialsError):
        sign_bytes(_jpeg(), "image/jpeg", identity=root_only, digital_source_type=AI)


def test_manifest_contents_actions_assertions_and_source_type(forensics_home):
    keys.init_pki()
    extra = {"label": "com.example.test", "data": {"hello": "world"}}
    asset = sign_bytes(_jpeg(), "image/jpeg", identity=SigningIdentity.default(), title="T",
                       actions=[{"action": "c2pa.created"}, {"action": "c2pa.resized"}],
                       digital_source_type=AI, assertions=[extra], claim_generator="newsroom-bot/2.0")
    m = asset.manifest
    assert m["title"] == "T"
    acts = next(a for a in m["assertions"] if a["label"].startswith("c2pa.actions"))["data"]["actions"]
    assert [a["action"] for a in acts] == ["c2pa.created", "c2pa.resized"]
    assert acts[0]["digitalSourceType"] == AI
    assert any(a["label"] == "com.example.test" and a["data"] == {"hello": "world"} for a in m["assertions"])
    assert m["claim_generator_info"][0]["name"] == "newsroom-bot"
    assert m["claim_generator_info"][0]["version"] == "2.0"
    with pytest.raises(CredentialsError):
        sign_bytes(_jpeg(), "image/jpeg", identity=SigningIdentity.default(), assertions=[{"label": "x"}])


def test_unsigned_input_without_source_type_is_opened_not_created(forensics_home):
    keys.init_pki()
    asset = sign_bytes(_jpeg(), "image/jpeg", identity=SigningIdentity.default())
    acts = next(a for a in asset.manifest["assertions"] if a["label"].startswith("c2pa.actions"))
    assert acts["data"]["actions"][0]["action"] == "c2pa.opened"
    assert asset.manifest["ingredients"][0]["relationship"] == "parentOf"
    assert "digitalSourceType" not in acts["data"]["actions"][0]


def test_resigning_keeps_existing_credentials_as_parent(forensics_home, tmp_path):
    keys.init_pki()
    ident = SigningIdentity.default()
    first = sign_bytes(_jpeg(), "image/jpeg", identity=ident, title="orig", digital_source_type=AI)
    src = tmp_path / "a.jpg"
    src.write_bytes(first.data)
    assert has_credentials(first.data, "image/jpeg") and not has_credentials(_jpeg(), "image/jpeg")
    second = sign_file(src, tmp_path / "b.jpg", identity=ident, title="edited",
                       actions=[{"action": "c2pa.color_adjustments"}])
    ing = second.manifest["ingredients"][0]
    assert ing["relationship"] == "parentOf" and ing["active_manifest"] == first.manifest_id
    assert first.manifest_id in second.manifest_json["manifests"]
    assert (tmp_path / "b.jpg").read_bytes() == second.data


def test_identity_validation(tmp_path):
    with pytest.raises(CredentialsError):
        SigningIdentity(b"x", b"y", alg="md5")
    assert SigningIdentity(b"x", b"y", tsa_url="").tsa_url is None  # an empty TSA URL breaks c2pa
    (tmp_path / "c.pem").write_text("not a cert")
    (tmp_path / "k.pem").write_text("not a key")
    with pytest.raises(ConfigError):
        SigningIdentity.from_files(tmp_path / "c.pem", tmp_path / "k.pem")
    with pytest.raises(ConfigError):
        SigningIdentity.from_files(tmp_path / "missing.pem", tmp_path / "k.pem")
