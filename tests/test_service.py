"""The newsroom service with a fake generator: auth, scopes, policy, audit log, limits, uploads, headers,
Soft Binding Resolution, migrations. The real model end to end is in test_service_e2e.py."""
from __future__ import annotations

import asyncio
import base64
import sqlite3
import threading

import httpx
import pytest
from fastapi.testclient import TestClient

from test_service_support import FakeGenerator, LiveServer, jpeg_bytes, make_app, png_noise  # noqa: F401


def auth(token):
    return {"Authorization": f"Bearer {token}"}


# -- health, page, headers, OpenAPI ---------------------------------------------------------------
def test_health_page_headers_and_openapi(make_app):
    app, _, _ = make_app()
    with TestClient(app) as c:
        assert c.get("/healthz").json()["status"] == "ok"
        page = c.get("/")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        csp = page.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "unsafe-inline" not in csp
        assert page.headers["x-content-type-options"] == "nosniff"
        assert page.headers["x-frame-options"] == "DENY"
        assert page.headers["referrer-policy"] == "no-referrer"
        assert "<script>" not in page.text.replace('<script src="/static/app.js" defer></script>', "")
        js = c.get("/static/app.js").text
        assert "innerHTML" not in js.replace("never innerHTML", "") and "textContent" in js
        paths = c.get("/openapi.json").json()["paths"]
        for p in ("/healthz", "/v1/generate", "/v1/verify", "/v1/manifests/{manifest_id}", "/matches/byBinding",
                  "/matches/byContent", "/manifests/{manifest_id}", "/services/supportedAlgorithms"):
            assert p in paths
        assert c.get("/docs").status_code == 404  # the stock docs page pulls scripts from a CDN
        # CORS is off by default
        r = c.get("/healthz", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in r.headers


def test_cors_only_when_configured(make_app):
    app, _, _ = make_app(cors_origins=["https://newsroom.example"])
    with TestClient(app) as c:
        ok = c.get("/healthz", headers={"Origin": "https://newsroom.example"})
        assert ok.headers["access-control-allow-origin"] == "https://newsroom.example"
        other = c.get("/healthz", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers


# -- auth and scopes ------------------------------------------------------------------------------
def test_generate_needs_a_key_with_the_generate_scope(make_app):
    app, store, token = make_app()
    verify_only, _ = store.create_api_key("reader", ["verify"])
    with TestClient(app) as c:
        assert c.post("/v1/generate", json={"prompt": "a lighthouse"}).status_code == 401
        r = c.post("/v1/generate", json={"prompt": "a lighthouse"}, headers=auth(token + "x"))
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        assert c.post("/v1/generate", json={"prompt": "a lighthouse"},
                      headers={"Authorization": "Basic Zm9vOmJhcg=="}).status_code == 401
        assert c.post("/v1/generate", json={"prompt": "a lighthouse"}, headers=auth(verify_only)).status_code == 403
        assert c.post("/v1/generate", json={"prompt": "a lighthouse"}, headers=auth(token)).status_code == 200
        assert store.revoke("desk")
        assert c.post("/v1/generate", json={"prompt": "a lighthouse"}, headers=auth(token)).status_code == 401


def test_api_keys_are_stored_hashed(make_app, tmp_path):
    app, store, token = make_app()
    db_path = store.url[len("sqlite:///"):]
    raw = open(db_path, "rb").read() + b"".join(
        open(db_path + s, "rb").read() for s in ("-wal",) if __import__("os").path.exists(db_path + s))
    assert token.encode() not in raw
    # fsk_<key id (hex)>_<secret (urlsafe base64, may itself contain "_")>
    secret = token.removeprefix("fsk_").split("_", 1)[1]
    assert len(secret) >= 40
    assert secret.encode() not in raw


def test_verify_and_resolution_public_by_default_closable_by_config(make_app):
    app, store, token = make_app(public_verify=False, public_resolve=False)
    gen_only, _ = store.create_api_key("gen-only", ["generate"])
    with TestClient(app) as c:
        files = {"file": ("a.jpg", jpeg_bytes(), "image/jpeg")}
        assert c.post("/v1/verify", files=files).status_code == 401
        assert c.post("/v1/verify", files=files, headers=auth(gen_only)).status_code == 403
        assert c.post("/v1/verify", files=files, headers=auth(token)).status_code == 200
        assert c.get("/services/supportedAlgorithms").status_code == 401
        assert c.get("/v1/manifests/urn:x", headers=auth(token)).status_code == 404
    app2, _, _ = make_app()
    with TestClient(app2) as c:
        assert c.post("/v1/verify", files={"file": ("a.jpg", jpeg_bytes(), "image/jpeg")}).status_code == 200
        assert c.get("/services/supportedAlgorithms").status_code == 200


# -- generation, audit log ------------------------------------------------------------------------
def test_generate_returns_image_header_and_audits(make_app):
    gen = FakeGenerator()
    app, store, token = make_app(generator=gen)
    with TestClient(app) as c:
        r = c.post("/v1/generate", json={"prompt": "a lighthouse at dusk", "seed": 7, "size": "64x48",
                                         "format": "png"}, headers=auth(token))
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "image/png" and r.content.startswith(b"\x89PNG")
        mid = r.headers["x-manifest-id"]
        assert mid.startswith("urn:c2pa:")
        assert gen.calls[-1]["size"] == (64, 48) and gen.calls[-1]["seed"] == 7
        j = c.post("/v1/generate", json={"prompt": "a lighthouse", "size": [32, 32]},
                   headers={**auth(token), "Accept": "application/json"})
        body = j.json()
        assert body["manifest_id"] == j.headers["x-manifest-id"] != mid
        assert base64.b64decode(body["image_base64"]).startswith(b"\x89PNG")
        assert c.post("/v1/generate", json={"prompt": "x", "size": "63x64"}, headers=auth(token)).status_code == 422
        assert c.post("/v1/generate", json={"prompt": "x", "steps": 10_000}, headers=auth(token)).status_code == 422
        assert c.post("/v1/generate", json={"prompt": ""}, headers=auth(token)).status_code == 422
        assert c.post("/v1/generate", json={"prompt": "x", "bogus": 1}, headers=auth(token)).status_code == 422
    log = store.audit_entries()
    assert [e["event"] for e in log] == ["generated", "generated"]
    import hashlib

    assert log[0]["manifest_id"] == mid and log[0]["key_name"] == "desk"
    assert log[0]["prompt_sha256"] == hashlib.sha256(b"a lighthouse at dusk").hexdigest()
    assert log[0]["model"] == "fake/model@1" and log[0]["at"]
    assert store.verify_audit_chain() == (True, None)


def test_audit_log_is_append_only_and_tamper_evident(make_app):
    app, store, _ = make_app()
    store.audit("generated", key_name="desk", manifest_id="urn:a", prompt_sha256="00", model="m")
    store.audit("generated", key_name="desk", manifest_id="urn:b", prompt_sha256="11", model="m")
    path = store.url[len("sqlite:///"):]
    con = sqlite3.connect(path)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        con.execute("DELETE FROM service_audit_log")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        con.execute("UPDATE service_audit_log SET manifest_id='urn:evil'")
    # Someone with raw access drops the trigger and edits history: the hash chain shows where.
    con.execute("DROP TRIGGER service_audit_log_no_update")
    con.execute("UPDATE service_audit_log SET manifest_id='urn:evil' WHERE manifest_id='urn:b'")
    con.commit()
    con.close()
    ok, bad = store.verify_audit_chain()
    assert not ok and bad == 2


def test_prompt_policy_refuses_with_reason_and_logs(make_app):
    app, store, token = make_app(deny_people=["José García"], deny_patterns=[r"\bexecution\b"])
    with TestClient(app) as c:
        r = c.post("/v1/generate", json={"prompt": "jose  GARCIA shaking hands"}, headers=auth(token))
        assert r.status_code == 422 and "José García" in r.json()["detail"]
        r = c.post("/v1/generate", json={"prompt": "a public Execution scene"}, headers=auth(token))
        assert r.status_code == 422 and "deny pattern" in r.json()["detail"]
        # whole words only: a different name that contains the letters is fine
        assert c.post("/v1/generate", json={"prompt": "josé garcíarena's bakery"},
                      headers=auth(token)).status_code == 200
    events = [(e["event"], (e["detail"] or "").split(":")[0]) for e in store.audit_entries()]
    assert events == [("refused", "deny_people"), ("refused", "deny_patterns"), ("generated", "")]


def test_model_safety_checker_refusal_is_422_and_logged(make_app):
    from forensics.generate import SafetyRefusal

    app, store, token = make_app(generator=FakeGenerator(fail=SafetyRefusal("NSFW content detected")))
    with TestClient(app) as c:
        r = c.post("/v1/generate", json={"prompt": "a beach"}, headers=auth(token))
    assert r.status_code == 422 and "NSFW" in r.json()["detail"]
    assert store.audit_entries()[-1]["event"] == "refused"
    assert store.audit_entries()[-1]["detail"].startswith("safety_checker")


def test_generator_failure_is_500_without_traceback(make_app):
    app, store, token = make_app(generator=FakeGenerator(fail=RuntimeError("CUDA out of memory at /secret/path")))
    with TestClient(app) as c:
        r = c.post("/v1/generate", json={"prompt": "a beach"}, headers=auth(token))
    assert r.status_code == 500 and "secret" not in r.text and "Traceback" not in r.text
    assert store.audit_entries()[-1]["event"] == "failed"


def test_rate_limit_and_daily_quota(make_app):
    app, store, token = make_app(rate_per_minute=1, burst=2)  # one token a minute: no refill during the test
    limited, _ = store.create_api_key("quota-1", ["generate"], rate_per_minute=0, daily_quota=1)
    with TestClient(app) as c:
        codes = [c.post("/v1/generate", json={"prompt": "a cat"}, headers=auth(token)) for _ in range(3)]
        assert [r.status_code for r in codes] == [200, 200, 429]
        assert 1 <= int(codes[2].headers["retry-after"]) <= 60
        assert c.post("/v1/generate", json={"prompt": "a cat"}, headers=auth(limited)).status_code == 200
        r = c.post("/v1/generate", json={"prompt": "a cat"}, headers=auth(limited))
        assert r.status_code == 429 and "quota" in r.json()["detail"]
        assert 0 < int(r.headers["retry-after"]) <= 86400
    assert store.usage(store.authenticate(limited).key_id) == 1  # persisted


def test_queue_full_gives_429_and_server_stays_healthy(make_app):
    gate = threading.Event()
    gen = FakeGenerator(gate=gate)
    app, _, token = make_app(generator=gen, queue_size=2, rate_per_minute=0)

    async def burst(url):
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            tasks = [asyncio.create_task(client.post("/v1/generate", json={"prompt": f"p{i}"}, headers=auth(token)))
                     for i in range(8)]
            # 1 running + 2 waiting fit; the rest must be refused while the first ones still wait (the gate
            # is closed, so nothing can complete with 200 before it opens)
            for _ in range(600):
                if sum(t.done() for t in tasks) >= 5:
                    break
                await asyncio.sleep(0.1)
            assert (await client.get("/healthz")).json()["status"] == "ok"
            refused = [t for t in tasks if t.done()]
            assert all(t.result().status_code == 429 for t in refused)
            gate.set()
            results = await asyncio.gather(*tasks)
            return results, refused

    with LiveServer(app) as srv:
        results, refused = asyncio.run(burst(srv.url))
        codes = sorted(r.status_code for r in results)
        assert codes.count(429) == 5 and codes.count(200) == 3, codes
        assert len(refused) == 5
        r429 = next(r for r in results if r.status_code == 429)
        assert int(r429.headers["retry-after"]) >= 1
        assert httpx.get(srv.url + "/healthz").json()["generator"]["queue_waiting"] == 0


def test_generation_timeout_is_504_and_the_job_is_aborted(make_app):
    gen = FakeGenerator(gate=threading.Event())  # never opens
    app, store, token = make_app(generator=gen, generate_timeout_s=0.5)
    with TestClient(app) as c:
        r = c.post("/v1/generate", json={"prompt": "slow"}, headers=auth(token))
        assert r.status_code == 504
        for _ in range(600):  # the worker notices the cancelled job at its next progress callback
            if gen.aborted:
                break
            threading.Event().wait(0.05)
        assert gen.aborted == 1
        assert app.state.worker.running == 0
    assert store.audit_entries()[-1]["event"] == "timeout"


def test_no_generate_mode(tmp_path):
    from forensics.service import ServiceSettings, create_app

    app = create_app(ServiceSettings.load(generate=False, detector=False, verify_isolation="thread"))
    token, _ = app.state.store.create_api_key("k", ["generate"])
    with TestClient(app) as c:
        assert c.get("/healthz").json()["generator"]["state"] == "disabled"
        assert c.post("/v1/generate", json={"prompt": "x"}, headers=auth(token)).status_code == 503


# -- uploads ----------------------------------------------------------------------------------------
def test_verify_upload_sniffs_type_and_never_uses_the_client_name(make_app, tmp_path):
    app, _, _ = make_app()
    with TestClient(app) as c:
        r = c.post("/v1/verify", files={"file": ("../../../../tmp/evil<b>.jpg", jpeg_bytes(), "text/plain")})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["path"] == "evil<b>.jpg" and body["media_type"] == "image/jpeg"
        assert body["verdict"]["label"] in ("no-evidence", "likely-synthetic")
        for key in ("c2pa", "watermarks", "detector", "metadata", "frames", "error"):
            assert key in body
        r = c.post("/v1/verify", files={"file": ("photo.jpg", b"<html>not an image</html>", "image/jpeg")})
        assert r.status_code == 415 and r.json()["error"]["code"] == "unsupported"
        r = c.post("/v1/verify", files={"file": ("t.jpg", jpeg_bytes()[:200], "image/jpeg")})  # truncated
        assert r.status_code in (200, 422) and r.json()["verdict"]["label"] in ("error", "no-evidence")
        assert c.post("/v1/verify", files={"other": ("a.jpg", jpeg_bytes(), "image/jpeg")}).status_code == 400
        assert c.post("/v1/verify", content=jpeg_bytes(), headers={"Content-Type": "image/jpeg"}).status_code == 415
        assert c.post("/v1/verify", files={"file": ("e.jpg", b"", "image/jpeg")}).status_code == 400
    assert not (tmp_path / "evil<b>.jpg").exists()


def test_upload_limit_is_enforced_while_streaming(make_app):
    app, _, _ = make_app(max_upload_mb=0.05)  # 52 KB
    big = png_noise((300, 300))
    assert len(big) > 60_000
    with TestClient(app) as c:
        r = c.post("/v1/verify", files={"file": ("big.png", big, "image/png")})
        assert r.status_code == 413
        assert c.post("/v1/verify", files={"file": ("ok.jpg", jpeg_bytes(), "image/jpeg")}).status_code == 200

    def chunks():  # no Content-Length: the limit must bite while reading
        boundary = b"XyZ"
        yield b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\n\r\n"
        for i in range(0, len(big), 8192):
            yield big[i:i + 8192]
        yield b"\r\n--" + boundary + b"--\r\n"

    with LiveServer(app) as srv:
        r = httpx.post(srv.url + "/v1/verify", content=chunks(),
                       headers={"Content-Type": "multipart/form-data; boundary=XyZ"})
        assert r.status_code == 413
        assert httpx.get(srv.url + "/healthz").status_code == 200


def test_json_body_limit(make_app):
    app, _, token = make_app()
    with TestClient(app) as c:
        r = c.post("/v1/generate", content=b'{"prompt": "' + b"a" * 2_000_000 + b'"}',
                   headers={**auth(token), "Content-Type": "application/json"})
        assert r.status_code == 413


# -- manifests and Soft Binding Resolution ---------------------------------------------------------
def _stored_manifest(app):
    """Put one manifest in the repository the app reads, keyed like the generator does."""
    import numpy as np

    from forensics.provenance import watermark as wm
    from forensics.provenance.repository import ManifestRepository, fingerprint

    rng = np.random.default_rng(3)
    rgb = (rng.integers(0, 255, (8, 8, 3)).repeat(32, 0).repeat(32, 1)).astype(np.uint8)  # 256x256 blocks
    payload = bytes.fromhex("a1b2c3d4e5f6")
    marked = wm.embed(rgb, payload)
    repo = ManifestRepository(app.state.settings.resolved_registry_url())
    mid = "urn:c2pa:11111111-2222-3333-4444-555555555555"
    store = {"active_manifest": mid, "manifests": {mid: {"title": "<script>alert(1)</script>"}}}
    repo.store(manifest_id=mid, manifest_store=store, watermark_scheme=wm.DEFAULT_SCHEME,
               watermark_value=payload.hex(), phash=fingerprint(marked), media_type="image/png")
    return mid, payload, marked, fingerprint(marked)


def test_manifest_lookup_and_soft_binding_resolution(make_app):
    import io

    from PIL import Image

    from forensics.provenance import watermark as wm

    app, _, _ = make_app()
    mid, payload, marked, phash = _stored_manifest(app)
    with TestClient(app) as c:
        store = c.get(f"/v1/manifests/{mid}").json()
        assert store["active_manifest"] == mid
        assert c.get("/v1/manifests/urn:c2pa:nope").status_code == 404
        assert c.get(f"/manifests/{mid}", params={"returnActiveManifest": "true"}).json()["title"] == \
            "<script>alert(1)</script>"
        algs = c.get("/services/supportedAlgorithms").json()
        assert {"alg": wm.DEFAULT_SCHEME} in algs["watermarks"] and algs["fingerprints"]
        b64 = base64.b64encode(payload).decode()
        r = c.get("/matches/byBinding", params={"alg": wm.DEFAULT_SCHEME, "value": b64})
        assert r.json() == {"matches": [{"manifestId": mid, "similarityScore": 100}]}
        r = c.get("/matches/byBinding", params={"alg": wm.DEFAULT_SCHEME, "value": payload.hex()})
        assert r.json()["matches"][0]["manifestId"] == mid
        r = c.post("/matches/byBinding", json={"alg": wm.DEFAULT_SCHEME, "value": b64})
        assert r.json()["matches"][0]["manifestId"] == mid
        assert c.get("/matches/byBinding", params={"alg": wm.DEFAULT_SCHEME,
                                                   "value": base64.b64encode(b"\0" * 6).decode()}).json() == \
            {"matches": []}
        fp_alg = algs["fingerprints"][0]["alg"]
        r = c.get("/matches/byBinding", params={"alg": fp_alg, "value": base64.b64encode(bytes.fromhex(phash)).decode()})
        assert r.json()["matches"][0]["manifestId"] == mid
        assert c.get("/matches/byBinding", params={"alg": "nope", "value": "AA=="}).status_code == 400
        assert c.get("/matches/byBinding", params={"alg": wm.DEFAULT_SCHEME, "value": "!!"}).status_code == 400
        # byContent: a re-encoded copy without any metadata, raw body and multipart
        buf = io.BytesIO()
        Image.fromarray(marked).save(buf, "JPEG", quality=90)
        r = c.post("/matches/byContent", content=buf.getvalue(), headers={"Content-Type": "image/jpeg"})
        assert r.status_code == 200 and r.json()["matches"][0]["manifestId"] == mid
        r = c.post("/matches/byContent", files={"file": ("x.jpg", buf.getvalue(), "image/jpeg")})
        assert r.json()["matches"][0]["manifestId"] == mid
        r = c.post("/matches/byContent", content=b"plain text", headers={"Content-Type": "text/plain"})
        assert r.status_code == 415


# -- store, policy, rate limiter units --------------------------------------------------------------
def test_token_bucket_refills():
    from forensics.service.ratelimit import RateLimiter

    now = [0.0]
    rl = RateLimiter(default_per_minute=6, burst=2, clock=lambda: now[0])  # one token per 10 s
    assert rl.check("k") == 0 and rl.check("k") == 0
    assert rl.check("k") == pytest.approx(10.0)
    now[0] = 10.0
    assert rl.check("k") == 0
    assert rl.check("other") == 0  # per key
    assert rl.check("k", per_minute=0) == 0  # 0 disables


def test_policy_bad_pattern_is_a_config_error():
    from forensics.errors import ConfigError
    from forensics.service.policy import PromptPolicy

    with pytest.raises(ConfigError, match="regular expression"):
        PromptPolicy(deny_patterns=["(unclosed"])


def test_settings_from_config_toml(forensics_home):
    from forensics import config
    from forensics.service import ServiceSettings

    (forensics_home / "config.toml").write_text(
        '[service]\npublic_verify = false\nmax_upload_mb = 5\nqueue_size = 2\n'
        '[policy]\ndeny_people = ["Jane Example"]\n')
    config.settings.cache_clear()
    s = ServiceSettings.load(queue_size=7)
    assert (s.public_verify, s.max_upload_bytes, s.queue_size, s.deny_people) == \
        (False, 5 * 1024 * 1024, 7, ["Jane Example"])


# -- migrations --------------------------------------------------------------------------------------
def test_migrations_create_the_schema_the_models_describe(tmp_path):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    import forensics.provenance.repository  # noqa: F401
    import forensics.service.store  # noqa: F401
    from forensics import migrations
    from forensics.db import Base, engine_for

    url = f"sqlite:///{tmp_path / 'fresh.sqlite'}"
    migrations.upgrade(url)
    assert migrations.current(url) == migrations.head()
    with engine_for(url).connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == [], f"models changed without a migration: {diff}"


def test_migrations_adopt_a_repository_created_without_them(tmp_path):
    from forensics import migrations
    from forensics.provenance.repository import ManifestRepository

    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    repo = ManifestRepository(url)  # creates its table itself (as `forensics generate` does)
    repo.store(manifest_id="urn:x", manifest_store={"manifests": {}})
    migrations.upgrade(url)
    assert migrations.current(url) == migrations.head()
    assert ManifestRepository(url).get("urn:x") is not None


def test_cli_create_api_key_and_db_upgrade(forensics_home):
    from typer.testing import CliRunner

    from forensics.cli import app
    from forensics.service.store import ServiceStore
    from forensics import config

    runner = CliRunner()
    r = runner.invoke(app, ["keys", "create-api-key", "--name", "desk", "--scopes", "generate"])
    assert r.exit_code == 0, r.output
    token = r.stdout.strip().splitlines()[0]
    info = ServiceStore(config.registry_url()).authenticate(token)
    assert info.name == "desk" and info.scopes == {"generate"}
    again = runner.invoke(app, ["keys", "create-api-key", "--name", "desk"])
    assert again.exit_code == 2 and "already exists" in again.output and "Traceback" not in again.output
    bad = runner.invoke(app, ["keys", "create-api-key", "--name", "x", "--scopes", "admin"])
    assert bad.exit_code == 2 and "unknown scope" in bad.output
    up = runner.invoke(app, ["db", "upgrade"])
    from forensics import migrations

    assert up.exit_code == 0 and migrations.head() in up.output
    assert runner.invoke(app, ["keys", "revoke-api-key", "--name", "desk"]).exit_code == 0
    assert ServiceStore(config.registry_url()).authenticate(token) is None


def test_process_pool_survives_a_crashing_worker():
    import os

    from forensics.service import ServiceSettings
    from forensics.service.pool import VerifyPool, WorkerCrashed

    pool = VerifyPool(ServiceSettings(verify_workers=1, verify_isolation="process"))

    async def scenario():
        with pytest.raises(WorkerCrashed):
            await pool.run(os._exit, 3)  # stands in for a native decoder crashing on a hostile file
        return await pool.run(sum, [1, 2, 3])  # a fresh worker takes the next request

    try:
        assert asyncio.run(scenario()) == 6
        assert pool.pending == 0
    finally:
        pool.close()


def test_serve_without_a_signing_identity_is_a_clear_error(forensics_home):
    from typer.testing import CliRunner

    from forensics.cli import app

    r = CliRunner().invoke(app, ["serve", "--model", "builtin:tiny", "--port", "0"])
    assert r.exit_code == 2, r.output
    assert "keys init" in r.output and "Traceback" not in r.output
    assert "--no-generate" in CliRunner().invoke(app, ["serve", "--help"]).output


def test_process_pool_recycles_workers_without_hanging():
    """Workers are replaced after max_tasks files (CPython's max_tasks_per_child deadlocks on 3.11:
    gh-115634); every queued file still completes."""
    import os

    from forensics.service import ServiceSettings
    from forensics.service.pool import VerifyPool

    pool = VerifyPool(ServiceSettings(verify_workers=1, verify_isolation="process", verify_max_tasks_per_worker=3))

    async def scenario():
        return await asyncio.wait_for(asyncio.gather(*(pool.run(os.getpid) for _ in range(10))), 120)

    try:
        pids = asyncio.run(scenario())
        assert len(pids) == 10 and len(set(pids)) >= 3
        assert pool.generation >= 4 and pool.pending == 0
    finally:
        pool.close()
