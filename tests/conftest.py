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
