"""The vendored fixtures are what tests/fixtures/SOURCES.md says they are, and stay small."""
from __future__ import annotations

import hashlib
import re

from conftest import FIXTURES

LIMIT_BYTES = 15 * 1024 * 1024


def test_every_fixture_is_listed_with_its_sha256_and_the_folder_stays_small():
    listed = dict(re.findall(r"^\| `([^`]+)` \| \d+ \| `([0-9a-f]{64})` \|$",
                             (FIXTURES / "SOURCES.md").read_text(encoding="utf-8"), re.M))
    files = {p.relative_to(FIXTURES).as_posix(): p for p in FIXTURES.rglob("*")
             if p.is_file() and p.name != "SOURCES.md"}
    assert sorted(files) == sorted(listed)
    for name, p in files.items():
        assert hashlib.sha256(p.read_bytes()).hexdigest() == listed[name], name
    assert sum(p.stat().st_size for p in files.values()) <= LIMIT_BYTES


def test_a_missing_input_fails_under_ci_and_skips_only_elsewhere(monkeypatch, tmp_path):
    import pytest

    from conftest import require

    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="does not skip"):
        require(tmp_path / "absent.jpg")
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception):
        require(tmp_path / "absent.jpg")
    assert require(FIXTURES / "SOURCES.md") == FIXTURES / "SOURCES.md"
