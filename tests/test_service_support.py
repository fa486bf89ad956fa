"""Helpers for the service tests (no tests here): a fake generator, a uvicorn server on loopback, and the
database fixtures (SQLite, and PostgreSQL where $FORENSICS_TEST_POSTGRES_URL names a server)."""
from __future__ import annotations

import io
import os
import socket
import threading
import time
import uuid

import pytest


class FakeGenerator:
    """Stands in for forensics.generate's generator where the model itself is not under test. It honours
    the progress callback (so cancellation can be tested) and can be held on a gate."""

    model_id = "fake/model@1"
    has_safety_checker = False

    def __init__(self, gate: threading.Event | None = None, fail: BaseException | None = None,
                 step_s: float = 0.0, steps: int = 4):
        self.gate, self.fail, self.step_s, self.steps = gate, fail, step_s, steps
        self.calls: list[dict] = []
        self.aborted = 0

    def request_factory(self, **params):
        return params

    def generate(self, request, progress=None):
        from PIL import Image

        from forensics.generate.types import GeneratedImage

        self.calls.append(request)
        try:
            if self.gate is not None:
                while not self.gate.wait(0.02):
                    if progress:
                        progress(0, self.steps)
            for i in range(self.steps):
                if self.step_s:
                    time.sleep(self.step_s)
                if progress:
                    progress(i + 1, self.steps)
        except BaseException:
            self.aborted += 1
            raise
        if self.fail is not None:
            raise self.fail
        buf = io.BytesIO()
        Image.new("RGB", (32, 32), (10, 120, 200)).save(buf, "PNG")
        return [GeneratedImage(data=buf.getvalue(), media_type="image/png",
                               manifest_id=f"urn:c2pa:{uuid.uuid4()}", watermark="0123456789ab",
                               seed=request.get("seed") or 0, width=32, height=32, manifest={"title": "fake"})]


class LiveServer:
    """uvicorn on 127.0.0.1 with a free port, in a thread (lifespan included)."""

    def __init__(self, app):
        import uvicorn

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(15)
        self.sock.close()


def jpeg_bytes(size=(64, 64), color=(200, 30, 30)) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def png_noise(size=(96, 96), seed=0) -> bytes:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


# -- databases (fixtures: import them into a test module to use them): SQLite always; PostgreSQL when $FORENSICS_TEST_POSTGRES_URL names a server (.ci/run starts one) --
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
def make_app(tmp_path, service_db):
    """make_app(generator=..., **settings) -> (app, store, api key with both scopes), on ``service_db``
    (SQLite by default; test_service.py runs on PostgreSQL too)."""
    from forensics.service import ServiceSettings, create_app

    made = []

    def _make(generator=None, identity=None, **overrides):
        # threads: no worker processes to spawn per test (process isolation has its own tests)
        db = {"database_url": service_db, "registry_url": service_db} if service_db else {}
        settings = ServiceSettings.load(**{"detector": False, "verify_isolation": "thread", **db, **overrides})
        app = create_app(settings, generator=generator if generator is not None else FakeGenerator(),
                         identity=identity)
        token, _ = app.state.store.create_api_key("desk" + "-2" * len(made), ["generate", "verify"])
        made.append(app)
        return app, app.state.store, token

    return _make


def make_identity(alg: str = "es256"):
    """A throwaway self-signed signing identity (the audit checkpoint needs one; no PKI on disk)."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    from forensics.provenance.signing import SigningIdentity

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test newsroom")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30)).sign(key, hashes.SHA256()))
    return SigningIdentity(cert.public_bytes(serialization.Encoding.PEM),
                           key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                             serialization.NoEncryption()), alg=alg)


# -- run inside verify worker processes (module level: picklable) ------------------------------------
def rlimit_as() -> int:
    import resource

    return resource.getrlimit(resource.RLIMIT_AS)[0]


def allocate(n_bytes: int) -> str:
    try:
        block = bytearray(n_bytes)
        return f"allocated {len(block)}"
    except MemoryError:
        return "MemoryError"


def any_database(request, tmp_path):
    """For a fixture parametrized over ("sqlite", "postgresql"): a fresh database URL of that kind
    (PostgreSQL: postgres_url, skipped outside CI when no server is configured)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'db.sqlite'}"
    return request.getfixturevalue("postgres_url")
