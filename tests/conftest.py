from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FORENSICS_SHARED", REPO.parent / "shared"))
DATA = SHARED / "data"
PHOTOS = DATA / "photos"
AI_DEV = DATA / "ai-dev"
C2PA_FIXTURES = DATA / "c2pa" / "sdk-fixtures"


@pytest.fixture(autouse=True)
def forensics_home(tmp_path_factory, monkeypatch):
    """Every test gets its own $FORENSICS_HOME and registry: nothing touches ~/.config."""
    home = tmp_path_factory.mktemp("fhome")
    monkeypatch.setenv("FORENSICS_HOME", str(home))
    monkeypatch.delenv("FORENSICS_REGISTRY", raising=False)
    monkeypatch.delenv("FORENSICS_TRUST_ANCHORS", raising=False)
    from forensics import config

    config.settings.cache_clear()
    return home


def require(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"shared data not available: {path}")
    return path


# -- databases: SQLite always; PostgreSQL when $FORENSICS_TEST_POSTGRES_URL names a server (.ci/run starts one) --
POSTGRES_URL = os.environ.get("FORENSICS_TEST_POSTGRES_URL")


def require_postgres() -> str:
    """The admin URL of the test PostgreSQL server. Skips where none is configured, except under CI, where
    a missing server is a failure (CI must run these tests)."""
    if not POSTGRES_URL:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but FORENSICS_TEST_POSTGRES_URL is not set: .ci/run should have started PostgreSQL")
        pytest.skip("set FORENSICS_TEST_POSTGRES_URL to also run this test against PostgreSQL (CI does)")
    return POSTGRES_URL


@pytest.fixture
def postgres_url():
    """A fresh, empty PostgreSQL database for one test (dropped afterwards)."""
    import uuid

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin_url = require_postgres()
    name = "forensics_test_" + uuid.uuid4().hex[:12]
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    yield url
    from forensics.db import engine_for

    engine_for(url).dispose()
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def service_db():
    """The database the service tests' apps use: None = SQLite under $FORENSICS_HOME. Test modules that
    should also run on PostgreSQL override this with :func:`any_database`."""
    return None

