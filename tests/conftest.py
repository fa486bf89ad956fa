from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FORENSICS_SHARED", REPO.parent / "shared"))
DATA = SHARED / "data"
PHOTOS = DATA / "photos"
AI_DEV = DATA / "ai-dev"

# Vendored, licensed fixtures (tests/fixtures/SOURCES.md): the suite needs nothing outside the repository.
FIXTURES = REPO / "tests" / "fixtures"
C2PA_FIXTURES = FIXTURES / "c2pa" / "sdk"  # c2pa-rs sdk/tests/fixtures (MIT OR Apache-2.0)
C2PA_SDK_ANCHORS = FIXTURES / "c2pa" / "certs" / "test_cert_root_bundle.pem"
C2PA_CLI_ANCHORS = FIXTURES / "c2pa" / "certs" / "cli-anchors.pem"
PHOTO_FIXTURES = FIXTURES / "photos"  # real photos (ML72, MIT): 256² crops and two 481x321 copies

SHARED_DATA_MARK = "shared_data"


def pytest_addoption(parser):
    parser.addoption("--shared-data", action="store_true", default=False,
                     help="also run the opt-in tests that read ../shared datasets and models")


def pytest_configure(config):
    config.addinivalue_line("markers", f"{SHARED_DATA_MARK}: opt-in, reads ../shared datasets or models "
                                       "(run with --shared-data)")


def pytest_collection_modifyitems(config, items):
    """Opt-in tests are deselected unless asked for, so a default run never skips them silently."""
    if config.getoption("--shared-data"):
        return
    keep, dropped = [], []
    for item in items:
        (dropped if item.get_closest_marker(SHARED_DATA_MARK) else keep).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


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


@pytest.fixture
def sample_files(forensics_home, tmp_path) -> dict[str, Path]:
    """One file for each verdict the policy tells apart, made in the test (keys init, sign, embed), plus the
    vendored tampered c2pa fixture: plain, signed, ai, marked, corrupt, text, tampered."""
    from PIL import Image

    import forensics
    from forensics.provenance import keys

    keys.init_pki()
    plain = tmp_path / "plain.jpg"
    Image.fromarray(textured_rgb(200, 300, seed=1)).save(plain, quality=90)
    forensics.sign(plain, tmp_path / "signed.jpg", digital_source_type="digitalCapture", title="Harbour")
    forensics.sign(plain, tmp_path / "ai.png", digital_source_type="trainedAlgorithmicMedia")
    marked = forensics.watermark.embed(textured_rgb(321, 481, seed=2), payload="0123456789ab")
    Image.fromarray(marked.image).save(tmp_path / "marked.png")
    data = plain.read_bytes()
    (tmp_path / "corrupt.jpg").write_bytes(data[: len(data) // 2])
    (tmp_path / "text.jpg").write_text("not an image\n")
    return {"plain": plain, "signed": tmp_path / "signed.jpg", "ai": tmp_path / "ai.png",
            "marked": tmp_path / "marked.png", "corrupt": tmp_path / "corrupt.jpg", "text": tmp_path / "text.jpg",
            "tampered": C2PA_FIXTURES / "XCA.jpg"}


def require(path: Path) -> Path:
    """``path``, which a test needs. Missing: a failure under CI (``CI=true``), else a skip that says why.

    Everything the default suite reads is vendored under tests/fixtures, so in CI a missing input is a bug
    (a fixture not committed), never a reason to pass quietly. Tests that read ../shared are marked
    ``shared_data`` and run only with ``--shared-data``.
    """
    if not path.exists():
        message = f"test input not available: {path}"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message + " (CI: a missing input fails, it does not skip)", pytrace=False)
        pytest.skip(message)
    return path


def photo(name: str) -> Path:
    """A vendored real photo from tests/fixtures/photos (see SOURCES.md there)."""
    return require(PHOTO_FIXTURES / name)


def textured_rgb(height: int = 321, width: int = 481, seed: int = 0):
    """A deterministic photo-like HxWx3 uint8 image: 1/f noise (natural-image spectrum) plus a few edges.

    For tests that need texture (watermarks, detectors) but no particular photo; flat colours are not
    representative of what these signals see.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    fy = np.fft.fftfreq(height)[:, None]
    fx = np.fft.rfftfreq(width)[None, :]
    amp = 1.0 / np.maximum(np.hypot(fy, fx), 1.0 / max(height, width)) ** 1.1
    out = np.empty((height, width, 3))
    base = None
    for c in range(3):
        phase = np.exp(2j * np.pi * rng.random((height, fx.shape[1])))
        ch = np.fft.irfft2(amp * phase, s=(height, width))
        base = ch if base is None else 0.6 * base + 0.4 * ch  # correlated channels, like a photo
        out[..., c] = base
    out = (out - out.mean()) / (out.std() + 1e-9) * 45 + 120
    yy, xx = np.mgrid[0:height, 0:width]
    for _ in range(4):  # a few hard edges (objects), which JPEG and resampling treat differently from noise
        a, b, c0 = rng.normal(size=3)
        out[(a * (xx - width / 2) + b * (yy - height / 2)) > c0 * 40] += rng.uniform(-30, 30)
    return np.clip(out, 0, 255).astype(np.uint8)


@pytest.fixture
def service_db():
    """The database the service tests' apps use (``make_app`` in test_service_support): None = SQLite under
    $FORENSICS_HOME. Test modules that should also run on PostgreSQL override this with ``any_database``."""
    return None
