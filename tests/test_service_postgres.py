"""PostgreSQL specifics: migrations = models, the append-only trigger, atomic quota, repository lookups and
a generation through the app. Needs $FORENSICS_TEST_POSTGRES_URL (a server where the test may create
databases, e.g. postgresql+psycopg://postgres@127.0.0.1:5432/postgres); .ci/run starts a throwaway one, and
under CI=true a missing server fails these tests instead of skipping them (test_service_support.require_postgres)."""
from __future__ import annotations

import pytest

from test_service_support import postgres_url  # noqa: F401 (fixture)


@pytest.fixture
def pg_url(postgres_url):
    return postgres_url


def test_postgres_migrations_store_and_append_only_audit(pg_url):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    import forensics.provenance.repository as repo_mod
    from forensics import migrations
    from forensics.db import Base, engine_for
    from forensics.service.store import ServiceStore

    migrations.upgrade(pg_url)
    assert migrations.current(pg_url) == migrations.head()
    with engine_for(pg_url).connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []

    store = ServiceStore(pg_url)
    token, info = store.create_api_key("desk", ["generate"])
    assert store.authenticate(token).name == "desk"
    assert [store.consume_quota(info.key_id, 2) for _ in range(3)] == [True, True, False]
    store.audit("generated", key_name="desk", manifest_id="urn:a", prompt_sha256="00", model="m")
    store.audit("refused", key_name="desk", detail="deny_people: …")
    assert store.verify_audit_chain() == (True, None)
    with engine_for(pg_url).connect() as conn:
        with pytest.raises(DBAPIError, match="append-only"):
            conn.execute(text("DELETE FROM service_audit_log"))
    with engine_for(pg_url).connect() as conn:
        with pytest.raises(DBAPIError, match="append-only"):
            conn.execute(text("UPDATE service_audit_log SET model = 'x'"))

    repo = repo_mod.ManifestRepository(pg_url)
    repo.store(manifest_id="urn:c2pa:x", manifest_store={"active_manifest": "urn:c2pa:x", "manifests": {}},
               watermark_scheme="fsw-v1", watermark_value="a1b2c3d4e5f6", phash="ffd8ffe000104a46")
    assert repo.by_watermark("fsw-v1", "A1B2C3D4E5F6").manifest_id == "urn:c2pa:x"
    assert repo.by_fingerprint("ffd8ffe000104a47", 2)[0].manifest_id == "urn:c2pa:x"


def test_service_on_postgres(pg_url):
    from fastapi.testclient import TestClient

    from forensics.service import ServiceSettings, create_app
    from test_service_support import FakeGenerator

    app = create_app(ServiceSettings.load(database_url=pg_url, registry_url=pg_url, detector=False,
                                          verify_isolation="thread"), generator=FakeGenerator())
    token, _ = app.state.store.create_api_key("desk", ["generate"])
    with TestClient(app) as c:
        r = c.post("/v1/generate", json={"prompt": "a lighthouse"}, headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200
    assert app.state.store.audit_entries()[-1]["manifest_id"] == r.headers["x-manifest-id"]


def test_postgres_audit_truncation_is_detected(pg_url, tmp_path):
    from sqlalchemy import text

    from forensics import migrations
    from forensics.db import engine_for
    from forensics.service.checkpoint import AuditCheckpoint, database_digest
    from forensics.service.store import ServiceStore
    from test_service_support import make_identity

    migrations.upgrade(pg_url)
    store = ServiceStore(pg_url, checkpoint=AuditCheckpoint(tmp_path / "head.json", make_identity(),
                                                            database_digest(pg_url)))
    for i in range(3):
        store.audit("generated", key_name="desk", manifest_id=f"urn:{i}", prompt_sha256="00", model="m")
    assert store.verify_audit_chain() == (True, None)
    with engine_for(pg_url).begin() as conn:  # someone with raw access drops the trigger and cuts the tail
        conn.execute(text("DROP TRIGGER service_audit_log_append_only ON service_audit_log"))
        conn.execute(text("DELETE FROM service_audit_log WHERE id = (SELECT max(id) FROM service_audit_log)"))
    ok, bad = store.verify_audit_chain()
    assert not ok and bad is not None and "removed" in store.audit_status()["reason"]
