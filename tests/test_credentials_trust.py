"""Trust lists by default (official C2PA, interim, TSA, local), `forensics trust`, C2PA Asset Signals,
crJSON, signer identity, and AI origin at any ingredient depth. Every input is built here."""
from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from forensics import config
from forensics.cli import app
from forensics.provenance import credentials, keys, signals, trustlists
from forensics.provenance.credentials import finding_from_store, read_credentials, read_crjson
from forensics.provenance.signing import SigningIdentity, sign_bytes
from forensics.report import Report
from forensics.verdict import decide

IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"
AI = IPTC + "trainedAlgorithmicMedia"
CAPTURE = IPTC + "digitalCapture"
runner = CliRunner()


def _jpeg(color=(20, 120, 200)) -> bytes:
    from PIL import Image

    b = io.BytesIO()
    Image.new("RGB", (48, 32), color).save(b, "JPEG")
    return b.getvalue()


@pytest.fixture
def pki(forensics_home):
    return keys.init_pki()


def _sign(**kw):
    data = kw.pop("data", None) or _jpeg()
    return sign_bytes(data, "image/jpeg", identity=SigningIdentity.default(), **kw)


def _read(asset_or_bytes):
    data = asset_or_bytes if isinstance(asset_or_bytes, bytes) else asset_or_bytes.data
    return read_credentials(data, "image/jpeg", trust_anchor_paths=config.trust_anchor_paths())


def _verdict(f):
    r = Report(path="x.jpg", media_type="image/jpeg", findings={"c2pa": f})
    return decide(r)


# --- shipped lists and `forensics trust list` ---------------------------------------------------------

def test_trust_list_json_has_the_official_roots_and_the_interim_list(pki):
    res = runner.invoke(app, ["trust", "list", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    names = {(c["list"], c["common_name"]) for c in out["certificates"]}
    assert ("c2pa", "Google C2PA Root CA G3") in names
    assert ("local", "forensics-suite TEST Root CA") in names
    interim = [c for c in out["certificates"] if c["list"] == "interim"]
    assert {c["role"] for c in interim} == {"anchor", "allowed"} and len(interim) > 50
    lists = {s["name"]: s for s in out["lists"]}
    assert lists["c2pa"]["issued"] == "2026-08-05T00:11:39Z" and lists["c2pa"]["next_update"] == "2027-08-05T00:11:39Z"
    assert lists["interim"]["frozen"] == "2026-01-01" and lists["c2pa"]["licence"] == "CC BY 4.0"
    google = next(c for c in out["certificates"] if c["common_name"] == "Google C2PA Root CA G3")
    assert google["organization"] == "Google LLC" and len(google["sha256"]) == 64 and google["not_after"]


def test_shipped_material_carries_its_licences_and_sources():
    d = trustlists.SHIPPED_DIR
    for f in ("LICENSE-CC-BY-4.0.txt", "LICENSE-APACHE-2.0.txt", "SOURCES.md", "interim-store.cfg"):
        assert (d / f).is_file()
    assert "2026-01-01" in (d / "SOURCES.md").read_text()


def test_eku_policy_follows_the_lists_configuration():
    cfg = credentials.reader_settings("")["trust"]["trust_config"].split()
    assert "1.3.6.1.4.1.311.76.59.1.9" in cfg  # MS C2PA signing, from the interim store.cfg
    assert set(credentials.ALLOWED_EKUS) <= set(cfg)
    entries = credentials.reader_settings("")["trust"]["anchors"]
    assert [e["trust_uri"] for e in entries] == [trustlists.URIS[n] for n in ("c2pa", "interim", "c2pa-tsa")]
    assert entries[2]["trust_kind"] == "tsa" and entries[1]["allowed_list"]


# --- which list a signer chains to ----------------------------------------------------------------------

def test_capture_and_genai_files_carry_their_signals_and_chain_to_the_local_list(pki):
    cap = _read(_sign(digital_source_type=CAPTURE))
    gen = _read(_sign(digital_source_type=AI))
    assert cap.state == gen.state == "Trusted"
    assert cap.trust_list == gen.trust_list == "local"
    assert {"id": "inception:signal_capturedMedia", "text": "Contains Captured Media"} in cap.signals
    assert {"id": "inception:signal_fullyGenAIMedia", "text": "Contains Fully GenAI Media"} in gen.signals
    assert _verdict(gen).label == "ai-generated"
    assert any('"Contains Fully GenAI Media"' in r and "rubric 1.0" in r for r in _verdict(gen).reasons)
    assert _verdict(cap).label == "authentic-credentials"
    assert any("local trust anchor" in r for r in _verdict(cap).reasons)
    j = cap.to_json()
    assert j["trust_list"] == "local" and j["signals"] and "crjson" not in j


def test_untrusted_signer_has_no_trust_list(pki):
    asset = _sign(digital_source_type=CAPTURE)
    f = read_credentials(asset.data, "image/jpeg", trust_anchor_paths=[])
    assert f.state == "Valid" and f.trust_list is None


def _as_list(name, pem, monkeypatch):
    """Make the shipped list ``name`` hold ``pem`` (our test root) so c2pa must name that list."""
    tl = trustlists.TrustList(name, "".join(trustlists.pem_certificates(pem)),
                              issued="2026-01-01" if name == "interim" else "2026-08-05T00:11:39Z",
                              next_update=None if name == "interim" else "2099-01-01T00:00:00Z",
                              frozen="2026-01-01" if name == "interim" else None)
    fn = {"c2pa": "official_list", "interim": "interim_list", "c2pa-tsa": "tsa_list"}[name]
    monkeypatch.setattr(trustlists, fn, lambda: tl)


@pytest.mark.parametrize("name", ["c2pa", "interim"])
def test_c2pa_reports_the_list_the_signer_chains_to(pki, monkeypatch, name):
    asset = _sign(digital_source_type=CAPTURE)
    _as_list(name, pki.root_cert.read_bytes(), monkeypatch)
    f = read_credentials(asset.data, "image/jpeg", trust_anchor_paths=[])  # no local anchors
    assert f.state == "Trusted" and f.trust_list == name
    reasons = " ".join(_verdict(f).reasons)
    if name == "interim":
        assert "signed under the interim trust list, frozen 2026-01-01" in reasons
        assert any(s.code == "forensics.trustList.interim" for s in f.statuses)
    else:
        assert "on the C2PA trust list" in reasons


def test_a_tsa_root_does_not_vouch_for_a_signer(pki, monkeypatch):
    asset = _sign(digital_source_type=CAPTURE)
    _as_list("c2pa-tsa", pki.root_cert.read_bytes(), monkeypatch)
    f = read_credentials(asset.data, "image/jpeg", trust_anchor_paths=[])
    assert f.state == "Valid" and f.trust_list is None
    assert "forensics.trustList.tsaOnly" in {s.code for s in f.failures}


# --- `trust add` / `trust remove` / `trust update` / stale -----------------------------------------------

def test_trust_add_and_remove_local_anchor(forensics_home, tmp_path):
    other = keys.init_pki(tmp_path / "other")  # registers its root; take it out again, then add it by hand
    root_pem = other.root_cert.read_bytes()
    asset = _sign(digital_source_type=CAPTURE)
    listed = json.loads(runner.invoke(app, ["trust", "list", "--json"]).output)["certificates"]
    sha = next(c["sha256"] for c in listed if c["list"] == "local")
    assert runner.invoke(app, ["trust", "remove", sha]).exit_code == 0
    assert _read(asset).state == "Valid"
    pem = tmp_path / "root.pem"
    pem.write_bytes(root_pem)
    res = runner.invoke(app, ["trust", "add", str(pem)])
    assert res.exit_code == 0 and sha in res.output
    assert _read(asset).trust_list == "local"
    assert runner.invoke(app, ["trust", "remove", "0" * 64]).exit_code == 2
    assert runner.invoke(app, ["trust", "add", str(tmp_path / "missing.pem")]).exit_code == 2


def _fake_urls(tmp_path, *, next_update=None, break_json=False) -> dict[str, str]:
    out = {}
    for fname in trustlists.UPDATE_URLS:
        data = (trustlists.SHIPPED_DIR / fname).read_bytes()
        if fname == "C2PA-TRUST-LIST.json" and (next_update or break_json):
            d = json.loads(data)
            if next_update:
                d["LoTE"]["ListAndSchemeInformation"]["NextUpdate"] = next_update
            if break_json:
                del d["LoTE"]["TrustedEntitiesList"]
            data = json.dumps(d).encode()
        (tmp_path / fname).write_bytes(data)
        out[fname] = (tmp_path / fname).as_uri()
    return out


def test_trust_update_needs_allow_network(forensics_home):
    res = runner.invoke(app, ["trust", "update"])
    assert res.exit_code == 2 and "--allow-network" in res.output
    assert trustlists.official_list().origin == "shipped"


def test_trust_update_installs_lists_that_parse(forensics_home, tmp_path):
    res = trustlists.update(allow_network=True, urls=_fake_urls(tmp_path))
    assert res.ok, res.message
    assert trustlists.official_list().origin == "updated" and trustlists.tsa_list().origin == "updated"
    assert {s["name"] for s in res.lists} == {"c2pa", "c2pa-tsa"}


@pytest.mark.parametrize("failure", ["network", "bad-json", "pem-json-mismatch"])
def test_trust_update_keeps_the_snapshot_on_any_failure(forensics_home, tmp_path, failure):
    urls = _fake_urls(tmp_path, break_json=failure == "bad-json")
    fetch = None
    if failure == "network":
        def fetch(url):
            raise OSError("network is unreachable")
    if failure == "pem-json-mismatch":
        (tmp_path / "C2PA-TRUST-LIST.pem").write_bytes((trustlists.SHIPPED_DIR / "C2PA-TSA-TRUST-LIST.pem").read_bytes())
    res = trustlists.update(allow_network=True, urls=urls, fetch=fetch)
    assert not res.ok and "keeping the shipped list" in res.message
    assert trustlists.official_list().origin == "shipped"
    assert not trustlists.updated_dir().exists() or not any(trustlists.updated_dir().iterdir())


def test_a_stale_list_is_reported_in_verify_and_trust_list(pki, tmp_path):
    assert trustlists.update(allow_network=True, urls=_fake_urls(tmp_path, next_update="2026-02-01T00:00:00Z")).ok
    f = _read(_sign(digital_source_type=CAPTURE))
    stale = [s for s in f.statuses if s.code == "forensics.trustList.stale"]
    assert stale and "2026-02-01" in stale[0].explanation
    assert any("past its own next-update date" in r for r in _verdict(f).reasons)
    out = json.loads(runner.invoke(app, ["trust", "list", "--json"]).output)
    assert {s["name"]: s["stale"] for s in out["lists"]}["c2pa"] is True
    assert "STALE" in runner.invoke(app, ["trust", "list"]).output


# --- C2PA Asset Signals: every statement of asset-rubric-signals-local.yml, positive and negative ---------

EDIT = "c2pa.edited"
SIGNAL_CASES = {
    "inception:signal_blankCanvas": ({"digital_source_type": "http://c2pa.org/digitalsourcetype/empty"},
                                     {"digital_source_type": IPTC + "digitalCreation"}),
    "inception:signal_capturedMedia": ({"digital_source_type": CAPTURE}, {"digital_source_type": IPTC + "screenCapture"}),
    "inception:signal_capturedMediaStitched": ({"digital_source_type": IPTC + "compositeCapture"},
                                               {"digital_source_type": CAPTURE}),
    "inception:signal_compositionMayContainGenAI": ({"digital_source_type": IPTC + "composite"},
                                                    {"digital_source_type": IPTC + "compositeCapture"}),
    "inception:signal_fullyGenAIMedia": ({"digital_source_type": AI},
                                         {"digital_source_type": IPTC + "compositeWithTrainedAlgorithmicMedia"}),
    "inception:signal_mediaUnknownProvenance": ({}, {"digital_source_type": CAPTURE}),  # no source: unsigned parent
    "inception:signal_nonGenAIDigitalCreation": ({"digital_source_type": IPTC + "digitalCreation"},
                                                 {"digital_source_type": IPTC + "digitalArt"}),
    "inception:signal_partlyGenAICreation": ({"digital_source_type": IPTC + "compositeWithTrainedAlgorithmicMedia"},
                                             {"digital_source_type": AI}),
    "inception:signal_screenCaptureMayContainGenAI": ({"digital_source_type": IPTC + "screenCapture"},
                                                      {"digital_source_type": CAPTURE}),
    "transformation:signal_ambiguousActions": ({"digital_source_type": CAPTURE},
                                               {"digital_source_type": CAPTURE, "all_actions_included": True}),
    "transformation:signal_nonEditorial": (
        {"digital_source_type": CAPTURE, "actions": [{"action": "c2pa.resized.proportional"}]},
        {"digital_source_type": CAPTURE, "actions": [{"action": EDIT, "digitalSourceType": IPTC + "digitalCreation"}]}),
    "transformation:signal_perceptibleGenAI": (
        {"digital_source_type": CAPTURE, "actions": [{"action": EDIT, "digitalSourceType": AI}]},
        {"digital_source_type": AI, "actions": [{"action": "c2pa.converted", "digitalSourceType": AI}]}),
    "transformation:signal_perceptibleNonGenAI": (
        {"digital_source_type": CAPTURE, "actions": [{"action": "c2pa.cropped", "digitalSourceType": IPTC + "digitalCreation"}]},
        {"digital_source_type": CAPTURE, "actions": [{"action": "c2pa.cropped", "digitalSourceType": AI}]}),
    "transformation:signal_perceptiblePossiblyGenAI": (
        {"digital_source_type": CAPTURE, "actions": [{"action": EDIT, "digitalSourceType": IPTC + "digitalArt"}]},
        {"digital_source_type": CAPTURE, "actions": [{"action": EDIT, "digitalSourceType": IPTC + "digitalCreation"}]}),
}


def _rubric_statements() -> list[tuple[str, str]]:
    import yaml

    docs = list(yaml.safe_load_all((trustlists.SHIPPED_DIR / "asset-rubric-signals-local.yml").read_text()))
    assert docs[0]["rubric_metadata"]["version"] == signals.RUBRIC["version"] == "1.0"
    return [(s["id"], s["reportText"]["true"]["en"]) for s in docs[1]]


def test_our_statements_are_the_rubric_statements():
    assert [(sid, text) for sid, _, text in signals.STATEMENTS] == _rubric_statements()
    assert set(SIGNAL_CASES) == {sid for sid, _ in _rubric_statements()}


@pytest.mark.parametrize("sid", sorted(SIGNAL_CASES))
def test_every_signal_statement_positive_and_negative(pki, sid):
    positive, negative = SIGNAL_CASES[sid]
    pos, neg = _read(_sign(**positive)), _read(_sign(**negative))
    assert pos.state == neg.state == "Trusted"
    assert sid in {s["id"] for s in pos.signals}
    assert sid not in {s["id"] for s in neg.signals}
    # the same result over the store JSON shaped as crJSON (stores kept only as JSON)
    if sid != "transformation:signal_ambiguousActions":  # needs the claim, which only crJSON has
        assert sid in {s["id"] for s in finding_from_store(pos.manifest_store).signals}


def test_composition_may_contain_genai_is_a_reason_not_a_label(pki):
    f = _read(_sign(digital_source_type=IPTC + "composite"))
    v = _verdict(f)
    assert v.label == "authentic-credentials"
    assert any('"Contains Composition which may contain GenAI content"' in r for r in v.reasons)


def test_partly_genai_is_ai_generated(pki):
    v = _verdict(_read(_sign(digital_source_type=IPTC + "compositeWithTrainedAlgorithmicMedia")))
    assert v.label == "ai-generated" and any('"Contains Partly GenAI Creation"' in r for r in v.reasons)


def test_genai_ingredient_signal_is_evidence_for_the_edit(pki):
    gen = _sign(digital_source_type=AI)
    # an edit that declares its own (non-AI) source type: the history still holds fully GenAI media
    edit = _read(_sign(data=gen.data, parent=gen.data, digital_source_type=IPTC + "digitalCreation"))
    assert any(h["depth"] == 1 and "inception:signal_fullyGenAIMedia" in {s["id"] for s in h["signals"]}
               for h in edit.history_signals)
    assert _verdict(edit).label == "ai-generated"


# --- issue 13 finding 1: AI origin at any depth ----------------------------------------------------------

def _resigned_chain(n: int):
    asset = _sign(digital_source_type=AI)
    for _ in range(n):
        asset = _sign(data=asset.data, parent=asset.data, actions=[{"action": "c2pa.color_adjustments"}])
    return asset


def test_ai_origin_survives_18_re_signs(pki):
    f = _read(_resigned_chain(18))
    assert f.state == "Trusted"
    assert f.digital_source_type == AI and f.ai_generated
    assert any(h["depth"] == 18 and "inception:signal_fullyGenAIMedia" in {s["id"] for s in h["signals"]}
               for h in f.history_signals)
    assert _verdict(f).label == "ai-generated"


def test_a_cut_tree_says_so_and_keeps_the_origin(pki, monkeypatch):
    monkeypatch.setattr(credentials, "TREE_DEPTH", 4)
    f = _read(_resigned_chain(8))
    depth, node = 0, {"ingredients": f.ingredients}
    while node["ingredients"]:
        node, depth = node["ingredients"][0], depth + 1
    assert depth == 4
    assert any(s.code == "forensics.ingredients.truncated" for s in f.statuses)
    assert f.digital_source_type == AI and _verdict(f).label == "ai-generated"


# --- crJSON and identity ----------------------------------------------------------------------------------

def test_read_crjson_and_verify_crjson(pki, tmp_path):
    asset = _sign(digital_source_type=CAPTURE)
    p = tmp_path / "signed.jpg"
    p.write_bytes(asset.data)
    cr = read_crjson(p, trust_anchor_paths=config.trust_anchor_paths())
    assert cr["manifests"][0]["label"] == asset.manifest_id
    assert read_crjson(_jpeg()) == {}
    (tmp_path / "empty.jpg").write_bytes(b"")
    res = runner.invoke(app, ["verify", "--crjson", str(p), str(tmp_path / "missing.jpg"), str(tmp_path / "empty.jpg")])
    assert res.exit_code == 2
    out = json.loads(res.stdout)
    assert len(out) == 3 and out[0]["manifests"][0]["label"] == asset.manifest_id
    assert out[1]["error"]["code"] == "not_found" and out[2]["error"]["code"] == "corrupt"
    assert _read(asset).crjson["manifests"][0]["label"] == asset.manifest_id


def test_signer_organisation_country_and_chain(pki, forensics_home, tmp_path):
    f = _read(_sign(digital_source_type=CAPTURE))
    assert f.signer.organization == "forensics-suite local TEST PKI" and f.signer.country == "XX"
    assert f.signer.not_before and f.signer.not_after
    assert f.signer.chain[0]["source"] == "manifest" and "TEST signer" in f.signer.chain[0]["subject"]
    # a chain whose intermediate is itself an anchor is completed up to the root from the list
    anchors = tmp_path / "both.pem"
    anchors.write_bytes(pki.intermediate_cert.read_bytes() + pki.root_cert.read_bytes())
    f = read_credentials(_sign(digital_source_type=CAPTURE).data, "image/jpeg", trust_anchor_paths=[anchors])
    assert [c["source"] for c in f.signer.chain] == ["manifest", "trust-list", "trust-list"]
    assert "TEST Root CA" in f.signer.chain[-1]["subject"]
    assert f.signer.issuer == "forensics-suite local TEST PKI"  # the issuing CA's organisation


def _chain_of(pki, tmp_path):
    anchors = tmp_path / "both.pem"
    anchors.write_bytes(pki.intermediate_cert.read_bytes() + pki.root_cert.read_bytes())
    return read_credentials(_sign(digital_source_type=CAPTURE).data, "image/jpeg",
                            trust_anchor_paths=[anchors]).signer.chain


@pytest.mark.parametrize("damage", ["missing", "not-json", "wrong-shape", "truncated"])
def test_chain_index_cache_is_rebuilt_when_damaged(pki, forensics_home, tmp_path, monkeypatch, damage):
    from forensics import diskcache
    from forensics.provenance import identity

    monkeypatch.setattr(identity, "_index", {})
    fresh = _chain_of(pki, tmp_path)
    entries = list(diskcache.cache_dir(identity.CERT_INDEX_CACHE).glob("*.json"))
    assert len(entries) == 1  # the parsed bundle, stored under its content hash
    good = entries[0].read_bytes()
    if damage == "missing":
        entries[0].unlink()
    else:
        entries[0].write_bytes({"not-json": b"\x00garbage", "wrong-shape": b'[[{"CN": 1}, {}, {}]]',
                                "truncated": good[:len(good) // 2]}[damage])
    monkeypatch.setattr(identity, "_index", {})  # a new process: only the disk cache is left
    assert _chain_of(pki, tmp_path) == fresh
    assert entries[0].read_bytes() == good  # rewritten


def test_chain_index_cache_is_used_and_optional(pki, forensics_home, tmp_path, monkeypatch):
    from forensics import diskcache
    from forensics.provenance import identity

    monkeypatch.setattr(identity, "_index", {})
    fresh = _chain_of(pki, tmp_path)
    parse = identity._parse_certs
    monkeypatch.setattr(identity, "_index", {})
    monkeypatch.setattr(identity, "_parse_certs", lambda pem: pytest.fail("parsed again despite the cache"))
    assert _chain_of(pki, tmp_path) == fresh
    # a home where nothing can be written still completes the chain
    monkeypatch.setattr(identity, "_parse_certs", parse)
    monkeypatch.setattr(identity, "_index", {})
    monkeypatch.setattr(diskcache, "cache_dir", lambda kind: Path("/proc/forensics-no-such-dir") / kind)
    assert _chain_of(pki, tmp_path) == fresh


CAWG_FIXTURE = Path(__file__).parent / "fixtures" / "C_with_CAWG_data.jpg"


def test_cawg_identity_assertion_is_reported():
    f = read_credentials(CAWG_FIXTURE, "image/jpeg", trust_anchor_paths=[])
    assert f.present and f.identities
    ident = f.identities[0]
    assert ident["label"] == "cawg.identity" and ident["sig_type"] == "cawg.x509.cose"
    assert ident["named_actor"]["common_name"] == "C2PA Signer"
    assert ident["named_actor"]["organization"] == "C2PA Test Signing Cert"
    assert "c2pa.hash.data" in ident["referenced_assertions"]
    from forensics.cli.render import render_credentials
    from rich.console import Console

    console = Console(record=True, width=160)
    console.print(render_credentials(f))
    assert "Identity (CAWG)" in console.export_text()


def test_verified_identities_of_an_identity_claims_aggregation():
    from forensics.provenance.identity import identities

    cr = {"assertions": {"cawg.identity__1": {
        "signer_payload": {"sig_type": "cawg.identity_claims_aggregation", "referenced_assertions": []},
        "signature": {"credentialSubject": {"verifiedIdentities": [
            {"type": "cawg.social_media", "name": "Jane Doe", "username": "jdoe", "uri": "https://example.net/jdoe",
             "provider": {"id": "https://example.net", "name": "Example"}, "verifiedAt": "2026-01-01T00:00:00Z"}]}}}}}
    out = identities(cr, None)
    assert out[0]["verified_identities"][0]["name"] == "Jane Doe"
    assert out[0]["verified_identities"][0]["provider"] == "Example"


def test_an_allowed_end_entity_certificate_is_reported_as_the_interim_list(pki, monkeypatch):
    """c2pa trusts an allowed-list certificate without naming a list; we still say which one."""
    asset = _sign(digital_source_type=CAPTURE)
    leaf = trustlists.pem_certificates(pki.signer_chain.read_bytes())[0]
    tl = trustlists.TrustList("interim", "", leaf, issued="2026-01-01", frozen="2026-01-01")
    monkeypatch.setattr(trustlists, "interim_list", lambda: tl)
    f = read_credentials(asset.data, "image/jpeg", trust_anchor_paths=[])
    assert f.state == "Trusted" and f.trust_list == "interim"


def test_ingredient_cycles_end():
    store = {"active_manifest": "urn:a", "validation_state": "Valid", "manifests": {
        "urn:a": {"assertions": [], "ingredients": [{"title": "b", "relationship": "parentOf", "active_manifest": "urn:b"}]},
        "urn:b": {"assertions": [], "ingredients": [{"title": "a", "relationship": "parentOf", "active_manifest": "urn:a"},
                                                    {"title": "b", "relationship": "componentOf", "active_manifest": "urn:b"}]},
    }}
    f = finding_from_store(store)
    assert f.ingredients[0]["manifest_id"] == "urn:b"
    assert [n["manifest_id"] for n in f.ingredients[0]["ingredients"]] == ["urn:a", "urn:b"]
    assert f.ingredients[0]["ingredients"][0]["ingredients"] == []  # urn:a is not expanded again
    assert f.digital_source_type is None


def test_the_tsa_list_judges_timestamps(monkeypatch):
    """The vendored CAWG fixture carries a DigiCert RFC 3161 timestamp: trusted exactly when the TSA list
    holds DigiCert's time-stamping CAs (taken here from the shipped interim anchors)."""
    from cryptography import x509

    interim = trustlists.pem_certificates((trustlists.SHIPPED_DIR / "interim-anchors.pem").read_bytes())
    digicert_tsa = "".join(c for c in interim if "TimeStamping" in x509.load_pem_x509_certificate(c.encode()).subject.rfc4514_string())
    assert digicert_tsa
    monkeypatch.setattr(trustlists, "interim_list", lambda: trustlists.TrustList("interim", "", frozen="2026-01-01"))

    def ts_codes(tsa_pem):
        monkeypatch.setattr(trustlists, "tsa_list", lambda: trustlists.TrustList("c2pa-tsa", tsa_pem,
                                                                                 next_update="2099-01-01T00:00:00Z"))
        f = read_credentials(CAWG_FIXTURE, "image/jpeg", trust_anchor_paths=[])
        return {s.code for s in f.statuses if s.code.startswith("timeStamp.")}

    assert "timeStamp.trusted" in ts_codes(digicert_tsa)
    assert "timeStamp.untrusted" in ts_codes(trustlists.pem_certificates(
        (trustlists.SHIPPED_DIR / "C2PA-TRUST-LIST.pem").read_bytes())[5])  # an unrelated root: not trusted
