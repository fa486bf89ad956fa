"""Issue 13, service side: configuration fails closed, no 500s, bounded uploads that clients can read the
413 of, per-upload pixel/memory budgets, no temp paths in answers, schema races and bad databases, a signed
audit-log head, one set of generation limits."""
from __future__ import annotations

import io
import json
import math
import random
import socket
import sqlite3
import struct
import urllib.error
import urllib.request
import zlib

import httpx
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from test_service_support import LiveServer, jpeg_bytes, make_app, make_identity  # noqa: F401


def auth(token):
    return {"Authorization": f"Bearer {token}"}


def _strict_json(text: str):
    """json.loads that refuses NaN/Infinity, as a browser's JSON.parse does."""
    def refuse(name):
        raise ValueError(f"non-JSON constant {name}")
    return json.loads(text, parse_constant=refuse)


def _cli(*args):
    from forensics.cli import app

    return CliRunner().invoke(app, list(args))


# -- finding 2: config.toml fails closed --------------------------------------------------------------
def _write_config(home, text):
    from forensics import config

    (home / "config.toml").write_text(text)
    config.settings.cache_clear()


def test_config_syntax_error_is_refused_not_defaulted(forensics_home):
    from forensics.errors import ConfigError
    from forensics.service import ServiceSettings

    _write_config(forensics_home, "[service]\npublic_verify = false\nrate_per_minute = 10,\n")
    with pytest.raises(ConfigError) as exc:
        ServiceSettings.load()  # a fallback to defaults would quietly make /v1/verify public again
    assert f"{forensics_home / 'config.toml'}:3:" in exc.value.message and "invalid TOML" in exc.value.message
    for args in (["serve", "--no-generate", "--port", "0"], ["keys", "list-api-keys"], ["verify", "x.jpg"]):
        r = _cli(*args)
        assert r.exit_code == 2, (args, r.output)
        assert "config.toml:3" in r.output and "Traceback" not in r.output


@pytest.mark.parametrize("text, words", [
    ("[service]\nqueue_size = 2\npublic_verfy = false\n", ["config.toml:3", "unknown key 'public_verfy'", "[service]"]),
    ("[service]\npublic_verify = \"no\"\n", ["config.toml:2", "[service] public_verify", "true or false"]),
    ("[service]\nmax_upload_mb = -5\n", ["config.toml:2", "max_upload_mb", "at least"]),
    ("[service]\nverify_isolation = \"fork\"\n", ["config.toml:2", "verify_isolation", "'process'"]),
    ("[service]\nmax_steps = 100000\n", ["config.toml:2", "max_steps", "at most 200"]),
    ("[policy]\ndeny_people = \"Jane\"\n", ["config.toml:2", "deny_people", "list of strings"]),
    ("\n[registry]\nfingerprint_max_distance = 99\n", ["config.toml:3", "fingerprint_max_distance", "at most 64"]),
    ("[servce]\nmodel = \"x\"\n", ["config.toml:1", "unknown section [servce]"]),
    ("[service]\nrate_per_minute = nan\n", ["config.toml:2", "rate_per_minute", "finite"]),
])
def test_config_unknown_key_wrong_type_out_of_range(forensics_home, text, words):
    from forensics.errors import ConfigError
    from forensics.service import ServiceSettings

    _write_config(forensics_home, text)
    with pytest.raises(ConfigError) as exc:
        ServiceSettings.load()
    for w in words:
        assert w in exc.value.message, exc.value.message
    r = _cli("serve", "--no-generate", "--port", "0")
    assert r.exit_code == 2 and words[0] in r.output and "Traceback" not in r.output


def test_config_valid_file_still_applies_and_overrides_are_checked(forensics_home):
    from forensics.errors import ConfigError
    from forensics.service import ServiceSettings

    _write_config(forensics_home, '[service]\npublic_verify = false\ndatabase_url = ""\nmax_upload_mb = 5\n'
                                  '[policy]\ndeny_people = ["Jane Example"]\n[registry]\nfingerprint_max_distance = 4\n')
    s = ServiceSettings.load()
    assert (s.public_verify, s.database_url, s.max_upload_bytes, s.deny_people) == \
        (False, None, 5 * 1024 * 1024, ["Jane Example"])
    with pytest.raises(ConfigError, match="verify_workers"):
        ServiceSettings.load(verify_workers=0)


def test_one_schema_for_config_and_service_settings():
    from dataclasses import fields

    from forensics import configfile
    from forensics.service.settings import SECTIONS, ServiceSettings

    configurable = {k for sec in SECTIONS for k in configfile.SCHEMA[sec]}
    assert configurable == {f.name for f in fields(ServiceSettings)}
    defaults = ServiceSettings()
    for name in configurable:  # every default passes its own schema entry
        value = getattr(defaults, name)
        if value is not None:
            option = configfile.SCHEMA["policy" if name in configfile.SCHEMA["policy"] else "service"][name]
            assert option.check(value) == value


# -- finding 4: no 500s, JSON errors with the security headers ------------------------------------------
SECURITY_HEADERS = ("content-security-policy", "x-content-type-options", "x-frame-options", "referrer-policy")


def _assert_safe_error(r, status=None):
    assert r.status_code < 500 if status is None else r.status_code == status, (r.status_code, r.text[:300])
    for h in SECURITY_HEADERS:
        assert h in r.headers, (h, r.status_code, r.request.url)
    if r.status_code >= 400:
        assert r.headers["content-type"].startswith("application/json"), r.headers["content-type"]
        _strict_json(r.text)


def test_long_multipart_boundary_is_400(make_app):
    app, _, _ = make_app()
    b = "b" * 300
    body = (f"--{b}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.jpg\"\r\n\r\n").encode() \
        + jpeg_bytes() + f"\r\n--{b}--\r\n".encode()
    with TestClient(app, raise_server_exceptions=False) as c:
        for path in ("/v1/verify", "/matches/byContent"):
            r = c.post(path, content=body, headers={"Content-Type": f"multipart/form-data; boundary={b}"})
            _assert_safe_error(r, 400)


def test_nan_and_infinity_are_422_with_json_bodies(make_app):
    app, _, token = make_app()
    with TestClient(app, raise_server_exceptions=False) as c:
        for raw in (b'{"prompt": "x", "guidance": NaN}', b'{"prompt": "x", "guidance": Infinity}',
                    b'{"prompt": "x", "guidance": -Infinity}', b'{"prompt": "x", "seed": NaN}'):
            r = c.post("/v1/generate", content=raw, headers={**auth(token), "Content-Type": "application/json"})
            _assert_safe_error(r, 422)
        for raw in (b'{"alg": NaN, "value": "AA=="}', b'{"alg": "fsw-v1", "value": Infinity}'):
            r = c.post("/matches/byBinding", content=raw, headers={"Content-Type": "application/json"})
            _assert_safe_error(r, 422)
        r = c.get("/matches/byBinding", params={"alg": "fsw-v1", "value": "AA==", "maxResults": "NaN"})
        _assert_safe_error(r, 422)


def test_unexpected_exception_is_a_json_500_with_security_headers(make_app):
    app, _, _ = make_app()

    @app.get("/boom")
    async def boom():
        raise RuntimeError("a bug at /secret/path")

    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.get("/boom")
    assert r.status_code == 500
    for h in SECURITY_HEADERS:
        assert h in r.headers
    assert "secret" not in r.text and _strict_json(r.text)["detail"]


def test_fuzzed_requests_never_give_500(make_app):
    """A bounded loop of hostile requests against every endpoint: no 500, headers and JSON on every error."""
    app, _, token = make_app(rate_per_minute=0)
    rng = random.Random(13)
    junk_values = ["NaN", "Infinity", "-1", "1e999", "9" * 5000, "", "\x00", "%00", "../../etc/passwd", "💥" * 50,
                   "A" * 5000, "[]", "{}", "null", "true"]
    json_values = [float("nan"), float("inf"), -1, 10**30, "", "x" * 3000, [], {}, None, True, [1, 2, 3],
                   "512x512x512", [8, 8, 8], [-8, 8], "0x0", 2**64, 1.5]
    hosts = ["/v1/verify", "/matches/byContent", "/v1/generate", "/matches/byBinding", "/v1/manifests/x",
             "/manifests/x", "/services/supportedAlgorithms", "/healthz", "/", "/static/x", "/nope"]
    seen = set()
    with TestClient(app, raise_server_exceptions=False) as c:
        for i in range(240):
            path = rng.choice(hosts)
            kind = rng.randrange(6)
            headers = {**auth(token)} if rng.random() < 0.5 else {}
            if kind == 0:  # JSON bodies with hostile values (serialised allowing NaN, as a hostile client would)
                body = {k: rng.choice(json_values) for k in rng.sample(
                    ["prompt", "seed", "steps", "guidance", "size", "format", "alg", "value", "negative_prompt",
                     "private_prompt", "bogus"], rng.randrange(1, 6))}
                r = c.post(path, content=json.dumps(body).encode(), headers={**headers, "Content-Type": "application/json"})
            elif kind == 1:  # random bytes with a random content type
                ctype = rng.choice(["image/png", "application/json", "multipart/form-data", "text/plain",
                                    "multipart/form-data; boundary=" + "x" * rng.choice([1, 70, 257, 1000]),
                                    "multipart/form-data; boundary=\"\"", "image/jpeg; charset=\x7f"])
                r = c.post(path, content=rng.randbytes(rng.randrange(0, 3000)), headers={**headers, "Content-Type": ctype})
            elif kind == 2:  # query strings
                params = {k: rng.choice(junk_values) for k in ("alg", "value", "maxResults", "response", "returnActiveManifest")}
                r = c.request(rng.choice(["GET", "POST"]), path.replace("/x", "/" + rng.choice(junk_values)[:200]),
                              params=params, headers=headers)
            elif kind == 3:  # multipart with odd parts
                data = rng.choice([jpeg_bytes()[:rng.randrange(1, 600)], b"\x89PNG\r\n\x1a\n" + rng.randbytes(100),
                                   b"GIF89a" + rng.randbytes(50), b"RIFF\x00\x00\x00\x00WEBPVP8 " + rng.randbytes(40)])
                r = c.post(path, files={rng.choice(["file", "other"]): (rng.choice(["a.jpg", "../x", "\u202e.png", ""]),
                                                                         data, "image/jpeg")}, headers=headers)
            elif kind == 4:  # bad auth headers
                r = c.post(path, json={"prompt": "x"}, headers={"Authorization": rng.choice(
                    ["Bearer ", "Bearer fsk_", "Bearer fsk_" + "a" * 300, "Basic ???", ("Bearer fsk_zz_" + "\u00ff" * 5).encode("latin-1")])})
            else:  # a wrong Content-Length
                r = c.post(path, content=b"{}", headers={**headers, "Content-Type": "application/json",
                                                         "Content-Length": rng.choice(["abc", "-1", "99999999999"])})
            seen.add(r.status_code)
            _assert_safe_error(r)
    assert any(s >= 400 for s in seen) and 200 in seen


# -- finding 12 (first bullet): no server temp path in answers -----------------------------------------
def test_verify_errors_name_the_upload_not_the_temp_path(make_app):
    app, _, _ = make_app()
    broken_png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200
    with TestClient(app) as c:
        r = c.post("/v1/verify", files={"file": ("holiday.png", broken_png, "image/png")})
        assert r.status_code == 422 and r.json()["error"] is not None
        assert "forensics-upload-" not in r.text and "/tmp" not in r.text
        assert "holiday.png" in r.json()["error"]["message"]
        r = c.post("/v1/verify", files={"file": (None, broken_png, "image/png")})
        assert "forensics-upload-" not in r.text and "upload" in r.json()["error"]["message"]
        r = c.post("/matches/byContent", content=broken_png, headers={"Content-Type": "image/png"})
        assert 400 <= r.status_code < 500 and "forensics-upload-" not in r.text


# -- finding 10: per-upload pixel and memory budgets ------------------------------------------------------
def _png_header_only(width: int, height: int, bit_depth: int = 16) -> bytes:
    """A small PNG whose header declares width x height RGB at ``bit_depth`` (the pixel data is a stub)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 4096)) + chunk(b"IEND", b"")


def test_huge_16_bit_png_is_refused_from_its_header(make_app):
    app, _, _ = make_app()
    assert app.state.settings.verify_max_pixels < 9999 * 10000 <= 100_000_000  # under the CLI's bomb guard
    with TestClient(app) as c:
        r = c.post("/v1/verify", files={"file": ("big.png", _png_header_only(9999, 10000), "image/png")})
        assert r.status_code == 422
        err = r.json()["error"]
        assert err["code"] == "too_large" and "pixel" in err["message"] and "nothing was decoded" in err["message"]
        r = c.post("/matches/byContent", content=_png_header_only(9999, 10000), headers={"Content-Type": "image/png"})
        assert r.status_code == 400 and "pixel" in r.json()["detail"]


def test_verify_worker_processes_have_a_memory_cap():
    import asyncio

    from forensics.service import ServiceSettings
    from forensics.service.pool import VerifyPool
    from test_service_support import allocate, rlimit_as

    pool = VerifyPool(ServiceSettings(verify_workers=1, verify_isolation="process", detector=False,
                                      verify_memory_mb=256))

    async def scenario():
        return (await pool.run(rlimit_as), await pool.run(allocate, 1024**3), await pool.run(allocate, 16 * 1024**2))

    try:
        cap, big, small = asyncio.run(scenario())
    finally:
        pool.close()
    import resource

    assert cap != resource.RLIM_INFINITY
    assert big == "MemoryError" and small.startswith("allocated")


# -- finding 13: a large upload's 413 reaches ordinary Python clients ----------------------------------
def test_413_reaches_urllib_httpx_and_expect_continue_clients(make_app):
    app, _, token = make_app(max_upload_mb=1)
    big = b"\xff\xd8\xff" + b"\x00" * (24 * 1024 * 1024)  # 24 MB: far past the socket buffers
    body = b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.jpg\"\r\n\r\n" + big + b"\r\n--XyZ--\r\n"
    with LiveServer(app) as srv:
        req = urllib.request.Request(srv.url + "/v1/verify", data=body, method="POST",
                                     headers={"Content-Type": "multipart/form-data; boundary=XyZ"})
        with pytest.raises(urllib.error.HTTPError) as exc:
            urllib.request.urlopen(req, timeout=60)
        assert exc.value.code == 413 and "limit" in json.loads(exc.value.read())["detail"]
        # no Content-Length (chunked): the limit bites while streaming, and the answer still arrives
        r = httpx.post(srv.url + "/v1/verify", content=iter([body[i:i + 65536] for i in range(0, len(body), 65536)]),
                       headers={"Content-Type": "multipart/form-data; boundary=XyZ"}, timeout=60)
        assert r.status_code == 413
        # a JSON body over the 1 MiB cap, from urllib
        req = urllib.request.Request(srv.url + "/v1/generate", data=b'{"prompt": "' + b"a" * (8 * 1024 * 1024) + b'"}',
                                     method="POST", headers={**auth(token), "Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as exc:
            urllib.request.urlopen(req, timeout=60)
        assert exc.value.code == 413
        # Expect: 100-continue: the refusal comes before the client sends the body
        with socket.create_connection(("127.0.0.1", srv.port), timeout=30) as s:
            s.sendall(b"POST /v1/verify HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=XyZ\r\n"
                      b"Content-Length: %d\r\nExpect: 100-continue\r\n\r\n" % len(body))
            head = s.recv(65536)
        assert head.startswith(b"HTTP/1.1 413"), head[:100]
        assert httpx.get(srv.url + "/healthz").status_code == 200


# -- finding 8: schema races, read-only and broken databases --------------------------------------------
def test_losing_the_create_table_race_is_not_an_error(tmp_path, monkeypatch):
    """Another process creates the table between our check and our CREATE TABLE (what three parallel
    `forensics generate` runs on a new registry do)."""
    from sqlalchemy.dialects.sqlite.base import SQLiteDialect

    from forensics.provenance.repository import ManifestRepository

    url = f"sqlite:///{tmp_path / 'new.sqlite'}"
    ManifestRepository(url)  # the winner made it; the next check is made to look as if it had not yet
    real = SQLiteDialect.has_table
    calls = {"n": 0}

    def stale_has_table(self, connection, table_name, *a, **k):
        calls["n"] += 1
        return False if calls["n"] == 1 else real(self, connection, table_name, *a, **k)

    monkeypatch.setattr(SQLiteDialect, "has_table", stale_has_table)
    repo = ManifestRepository(url)
    monkeypatch.setattr(SQLiteDialect, "has_table", real)
    repo.store(manifest_id="urn:x", manifest_store={})
    assert repo.get("urn:x") is not None


def test_parallel_generate_style_repositories_on_a_new_registry(tmp_path):
    import subprocess
    import sys

    code = ("import sys; from forensics.provenance.repository import ManifestRepository as R; "
            "R(sys.argv[1]).count()")
    for trial in range(2):
        url = f"sqlite:///{tmp_path / f'reg{trial}.sqlite'}"
        procs = [subprocess.Popen([sys.executable, "-c", code, url], stderr=subprocess.PIPE, text=True)
                 for _ in range(3)]
        for p in procs:
            _, err = p.communicate(timeout=120)
            assert p.returncode == 0, err


def _not_a_database(tmp_path):
    bad = tmp_path / "registry.sqlite"
    bad.write_bytes(b"this is not a database\n" * 100)
    return bad


def test_non_database_registry_is_a_clear_error_for_keys_and_serve(tmp_path, monkeypatch):
    bad = _not_a_database(tmp_path)
    monkeypatch.setenv("FORENSICS_REGISTRY", str(bad))
    for args in (["keys", "list-api-keys"], ["keys", "create-api-key", "--name", "x"],
                 ["serve", "--no-generate", "--port", "0"], ["db", "upgrade"]):
        r = _cli(*args)
        assert r.exit_code == 2, (args, r.output)
        assert "not a database" in r.output and str(bad) in r.output and "Traceback" not in r.output


def test_list_api_keys_works_on_a_read_only_database(tmp_path):
    from forensics import migrations
    from forensics.service.store import ServiceStore

    path = tmp_path / "keys.sqlite"
    url = f"sqlite:///{path}"
    migrations.upgrade(url)
    ServiceStore(url).create_api_key("desk", ["verify"])
    from forensics.db import engine_for

    engine_for(url).dispose()
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=DELETE")  # a file copied or archived out of WAL mode
    con.close()
    ro = f"sqlite:///file:{path}?mode=ro&uri=true"
    r = _cli("keys", "list-api-keys", "--db", ro, "--json")
    assert r.exit_code == 0, r.output
    assert [k["name"] for k in json.loads(r.stdout)] == ["desk"]
    r = _cli("keys", "revoke-api-key", "--name", "desk", "--db", ro)
    assert r.exit_code == 2 and "readonly" in r.output.replace("-", "").replace(" ", "") and "Traceback" not in r.output


def test_wrong_schema_registry_is_a_clear_error(tmp_path):
    from forensics.errors import ConfigError
    from forensics.provenance.repository import ManifestRepository

    path = tmp_path / "other.sqlite"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE manifests (id INTEGER PRIMARY KEY, name TEXT)")
    con.commit()
    con.close()
    with pytest.raises(ConfigError, match="another schema.*manifest_id"):
        ManifestRepository(f"sqlite:///{path}")
    with pytest.raises(ConfigError, match="another schema"):
        ManifestRepository.existing(f"sqlite:///{path}")


def test_corrupt_registry_is_a_reason_in_the_verify_report(tmp_path, monkeypatch):
    from forensics.analysers import VerifyOptions
    from forensics.verify import verify_path

    bad = _not_a_database(tmp_path)
    img = tmp_path / "photo.jpg"
    img.write_bytes(jpeg_bytes())
    report = verify_path(img, VerifyOptions(detector=False, registry_url=str(bad)))
    reasons = " ".join(report.verdict.reasons)
    assert "manifest repository could not be searched" in reasons and "not a database" in reasons


# -- finding 9: truncating the audit log is detected ----------------------------------------------------
def _drop_triggers_and_delete(path, where):
    con = sqlite3.connect(path)
    con.execute("DROP TRIGGER service_audit_log_no_delete")
    con.execute(f"DELETE FROM service_audit_log WHERE {where}")
    con.commit()
    con.close()


def test_deleting_the_newest_audit_entries_is_detected(make_app):
    app, store, _ = make_app(identity=make_identity())
    for i in range(4):
        store.audit("generated", key_name="desk", manifest_id=f"urn:{i}", prompt_sha256="00", model="m")
    assert store.verify_audit_chain() == (True, None)
    cp = json.loads(store.checkpoint.path.read_text())
    assert cp["rows"] == 4 and cp["signature"]
    _drop_triggers_and_delete(store.url[len("sqlite:///"):], "id > 2")  # the chain of ids 1-2 is intact
    ok, bad = store.verify_audit_chain()
    assert not ok and bad == 4
    assert "newest entries were removed" in store.audit_status()["reason"]


def test_audit_checkpoint_must_be_signed_by_the_service(make_app):
    app, store, _ = make_app(identity=make_identity())
    store.audit("generated", key_name="desk", manifest_id="urn:a", prompt_sha256="00", model="m")
    store.audit("generated", key_name="desk", manifest_id="urn:b", prompt_sha256="00", model="m")
    # an attacker truncates and writes a matching checkpoint, but cannot sign it with the service's key
    _drop_triggers_and_delete(store.url[len("sqlite:///"):], "id = 2")
    from forensics.service.checkpoint import AuditCheckpoint

    forged = AuditCheckpoint(store.checkpoint.path, make_identity(), store.checkpoint.database)
    with store._sessions() as s:
        from forensics.service.store import AuditEntry

        head = s.get(AuditEntry, 1).entry_sha256
    forged.write(1, 1, head)
    ok, _ = store.verify_audit_chain()
    assert not ok and "not signed by this service" in store.audit_status()["reason"]
    store.checkpoint.path.unlink()  # removing the anchor is not a way out either
    assert not store.verify_audit_chain()[0] and "no signed checkpoint" in store.audit_status()["reason"]


# -- finding 16: one set of limits; no unmarked public path ---------------------------------------------
def test_generation_limits_agree_across_service_settings_and_generator(make_app):
    from types import SimpleNamespace

    from forensics.errors import ConfigError
    from forensics.generate import GenerationRequest
    from forensics.generate.limits import HARD_LIMITS, check_request
    from forensics.generate.pipeline import Generator

    app, _, token = make_app(rate_per_minute=0, max_steps=20, max_side=512, min_side=64)
    limits = app.state.settings.generation_limits()
    assert (limits.max_steps, limits.min_side, limits.max_side) == (20, 64, 512)
    gen = Generator(SimpleNamespace(), model_id="x", revision=None, weights_sha256=None)
    gen.limits = limits
    cases = [dict(steps=0), dict(steps=20), dict(steps=21), dict(steps=201), dict(seed=-1), dict(seed=0),
             dict(seed=2**32), dict(seed=2**63 - 1), dict(seed=2**63), dict(guidance=0.0), dict(guidance=50.5),
             dict(guidance=7.5), dict(size=(63, 64)), dict(size=(64, 64)), dict(size=(56, 64)), dict(size=(512, 520)),
             dict(size=(512, 512))]
    with TestClient(app) as c:
        for case in cases:
            body = {"prompt": "x", **{k: list(v) if k == "size" else v for k, v in case.items()}}
            status = c.post("/v1/generate", json=body, headers=auth(token)).status_code
            try:
                check_request(limits, **case)
                lib_ok = True
            except ConfigError:
                lib_ok = False
            try:
                gen._validate(GenerationRequest("x", **case))
                gen_ok = True
            except ConfigError:
                gen_ok = False
            assert (status == 200) == lib_ok == gen_ok, (case, status, lib_ok, gen_ok)
    # the service can narrow the generator's limits, never widen them
    from forensics.service import ServiceSettings

    with pytest.raises(ConfigError):
        ServiceSettings(max_steps=HARD_LIMITS.max_steps + 1)
    with pytest.raises(ConfigError):
        ServiceSettings(max_side=HARD_LIMITS.max_side + 8)


def test_generator_has_no_public_unmarked_path():
    from forensics.generate.pipeline import Generator

    public = [n for n in dir(Generator) if not n.startswith("_")]
    assert "sample" not in public and "generate" in public  # GeneratedImage.pixels: see test_generate.py


@pytest.mark.parametrize("damage", ["not json {", '{"inputs": 3}', '["a"]', '{"inputs": ["x"], "options": 7}'])
def test_damaged_audit_job_record_is_a_clear_error_on_resume(tmp_path, damage):
    from forensics.audit.state import AuditState, state_path_for

    out = tmp_path / "report.jsonl"
    state = AuditState(state_path_for(out))
    state.db.execute("INSERT INTO meta(k, v) VALUES('job', ?) ON CONFLICT(k) DO UPDATE SET v=excluded.v", (damage,))
    state.close()
    r = _cli("audit", "--resume", "--out", str(out))
    assert r.exit_code == 2, r.output
    assert "job record" in r.output and "damaged" in r.output and "Traceback" not in r.output


@pytest.mark.slow
def test_generate_on_a_wrong_schema_registry_exits_2_without_traceback(forensics_home, tmp_path, monkeypatch):
    from forensics.provenance.keys import init_pki

    init_pki()
    path = tmp_path / "other.sqlite"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE manifests (id INTEGER PRIMARY KEY, name TEXT)")
    con.commit()
    con.close()
    monkeypatch.setenv("FORENSICS_REGISTRY", str(path))
    r = _cli("generate", "a lighthouse", "-o", str(tmp_path / "x.png"), "--model", "builtin:tiny", "--size", "64x64")
    assert r.exit_code == 2, r.output
    assert "another schema" in r.output and "Traceback" not in r.output and not (tmp_path / "x.png").exists()


def test_cors_preflight_answers_carry_the_security_headers(make_app):
    app, _, _ = make_app(cors_origins=["https://newsroom.example"])
    with TestClient(app) as c:
        r = c.options("/v1/verify", headers={"Origin": "https://newsroom.example",
                                             "Access-Control-Request-Method": "POST"})
    assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "https://newsroom.example"
    for h in SECURITY_HEADERS:
        assert h in r.headers


def test_cli_verify_audit_reports_intact_and_truncated_logs(make_app, forensics_home):
    from forensics.provenance.keys import init_pki
    from forensics.provenance.signing import SigningIdentity

    init_pki()
    app, store, _ = make_app(identity=SigningIdentity.default())
    for i in range(3):
        store.audit("generated", key_name="desk", manifest_id=f"urn:{i}", prompt_sha256="00", model="m")
    r = _cli("db", "verify-audit", "--url", store.url)
    assert r.exit_code == 0 and "intact: 3 entries" in r.output, r.output
    _drop_triggers_and_delete(store.url[len("sqlite:///"):], "id = 3")
    r = _cli("db", "verify-audit", "--url", store.url, "--json")
    assert r.exit_code == 1, r.output
    out = json.loads(r.stdout)
    assert out["ok"] is False and out["rows"] == 2 and "removed" in out["reason"]
