"""The documented interface: docs/schema/verify.schema.json validates real CLI, API and HTTP outputs;
docs/cli.md covers every command; docs/python.md's examples run; the README stays inside the repository."""
from __future__ import annotations

import json
import re
import shutil

import jsonschema  # the [test] extra
import pytest
from typer.testing import CliRunner

import forensics
from conftest import C2PA_FIXTURES, REPO, textured_rgb
from forensics.cli import app
from test_service_support import make_app  # noqa: F401  (fixture)

SCHEMA = json.loads((REPO / "docs" / "schema" / "verify.schema.json").read_text(encoding="utf-8"))
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker())


def _errors(obj) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in VALIDATOR.iter_errors(obj)]


def test_schema_is_valid_draft_2020_12_and_names_the_contract():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert set(SCHEMA["required"]) == {"path", "media_type", "error", "verdict", "c2pa", "watermarks", "detector",
                                       "metadata", "frames"}
    assert SCHEMA["properties"]["verdict"]["properties"]["label"]["enum"] == [v.value for v in forensics.VerdictLabel]
    c2pa = SCHEMA["properties"]["c2pa"]["properties"]
    assert {"trust_list", "signals"} <= set(c2pa) and "trust_list" not in SCHEMA["properties"]["c2pa"]["required"]
    assert "content_match" in SCHEMA["$defs"]["watermark"]["properties"]
    assert "model_sha256" in SCHEMA["properties"]["detector"]["oneOf"][1]["properties"]


def test_schema_rejects_what_breaks_the_contract(sample_files):
    good = forensics.verify(sample_files["signed"], detector=False).to_dict()
    assert _errors(good) == []
    assert _errors({**good, "verdict": {"label": "maybe", "reasons": []}})
    assert _errors({k: v for k, v in good.items() if k != "c2pa"})
    assert _errors({**good, "c2pa": {**good["c2pa"], "state": "Fine"}})
    assert _errors({**good, "watermarks": [{"scheme": "fsw-v1"}]})
    assert _errors({**good, "detector": {"model": "m", "probability_synthetic": 1.5, "threshold": 0.5,
                                         "label": "real"}})
    # extensions stay valid: added fields, plugin signals, the 2026-12-01 fields
    extended = {**good, "plugin_signal": {"x": 1},
                "c2pa": {**good["c2pa"], "trust_list": "local",
                         "signals": [{"id": "inception:signal_capturedMedia", "text": "Contains Captured Media"}]}}
    assert _errors(extended) == []


def test_cli_outputs_validate(sample_files, tmp_path):
    video = tmp_path / "clip.mp4"
    shutil.copy(C2PA_FIXTURES / "dashinit.mp4", video)
    paths = [*sample_files.values(), video, tmp_path / "missing.jpg"]
    r = CliRunner().invoke(app, ["verify", "--json", *map(str, paths)], catch_exceptions=False)
    assert r.exit_code == 2  # corrupt, text and missing inputs
    out = json.loads(r.stdout)
    assert len(out) == len(paths)
    for obj in out:
        assert _errors(obj) == [], obj["path"]
    assert {o["verdict"]["label"] for o in out} >= {"authentic-credentials", "ai-generated", "tampered", "error",
                                                    "no-evidence"}
    assert any(o["detector"] is not None for o in out)


def test_video_frames_validate(tmp_path):
    cv2 = pytest.importorskip("cv2")
    import numpy as np

    path = tmp_path / "clip.mp4"
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (160, 128))
    assert w.isOpened()
    for i in range(12):
        w.write(np.ascontiguousarray(np.roll(textured_rgb(128, 160, seed=5), 3 * i, axis=1)))
    w.release()
    obj = forensics.verify(path).to_dict()
    assert obj["frames"] is not None and obj["frames"]["sampled"] > 0
    assert _errors(obj) == []


def test_api_outputs_validate(sample_files):
    for name, path in sample_files.items():
        assert _errors(forensics.verify(path, detector=False).to_dict()) == [], name
        assert _errors(forensics.verify(path.read_bytes(), detector=False).to_dict()) == [], name


def test_http_outputs_validate(make_app, sample_files):
    from fastapi.testclient import TestClient

    app_, _, _ = make_app()
    with TestClient(app_) as c:
        for name in ("signed", "ai", "marked", "tampered", "corrupt"):
            data = sample_files[name].read_bytes()
            r = c.post("/v1/verify", files={"file": (sample_files[name].name, data, "application/octet-stream")})
            assert r.status_code in (200, 422), (name, r.status_code, r.text[:200])  # 422: the file failed
            assert _errors(r.json()) == [], name
            assert "forensics-upload" not in r.text  # messages name the upload, not its temporary copy


# --- docs -------------------------------------------------------------------------------------------

def _commands(group=None, prefix=()):
    import typer.main

    click_group = group or typer.main.get_command(app)
    for name, cmd in click_group.commands.items():
        if getattr(cmd, "hidden", False):
            continue
        if hasattr(cmd, "commands"):
            yield from _commands(cmd, (*prefix, name))
        else:
            yield (*prefix, name), cmd


def test_cli_doc_covers_every_command_and_option():
    doc = (REPO / "docs" / "cli.md").read_text(encoding="utf-8")
    missing = []
    for words, cmd in _commands():
        title = "forensics " + " ".join(words)
        if f"`{title}" not in doc:
            missing.append(title)
            continue
        section = doc[doc.index(f"`{title}"):]
        for param in cmd.params:
            for opt in getattr(param, "opts", []):
                if opt.startswith("--") and opt not in section and opt != "--help":
                    missing.append(f"{title} {opt}")
    assert missing == []
    for code in ("`0`", "`1`", "`2`"):
        assert code in doc


def test_readme_and_docs_link_nothing_outside_the_repository():
    for page in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        text = page.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)#\s]+)", text):
            if re.match(r"[a-z]+://", target):
                continue
            resolved = (page.parent / target).resolve()
            assert resolved.is_relative_to(REPO) and resolved.exists(), f"{page.name}: {target}"
    for page in (REPO / "README.md", REPO / "docs" / "cli.md", REPO / "docs" / "python.md"):
        assert "../shared" not in page.read_text(encoding="utf-8"), page.name


def _python_blocks() -> list[str]:
    text = (REPO / "docs" / "python.md").read_text(encoding="utf-8")
    return re.findall(r"```python\n(.*?)```", text, re.S)


def _run_blocks(blocks, folder, monkeypatch) -> None:
    monkeypatch.chdir(folder)
    namespace: dict = {"__name__": "__docs__"}
    for i, block in blocks:
        try:
            exec(compile(block, f"docs/python.md block {i + 1}", "exec"), namespace)
        except Exception as exc:  # name the block that failed
            raise AssertionError(f"docs/python.md block {i + 1} failed: {type(exc).__name__}: {exc}\n{block}") from exc


def test_python_doc_examples_run(sample_files, tmp_path, monkeypatch):
    """Every ```python block of docs/python.md but the generator's, in order, in one namespace, in a folder
    with the files the examples name (photo.jpg, signed.jpg, tampered.jpg)."""
    blocks = [(i, b) for i, b in enumerate(_python_blocks()) if "load_generator" not in b]
    assert len(blocks) >= 6
    work = tmp_path / "docs-run"
    work.mkdir()
    for name, src in {"photo.jpg": "plain", "signed.jpg": "signed", "tampered.jpg": "tampered"}.items():
        shutil.copy(sample_files[src], work / name)
    _run_blocks(blocks, work, monkeypatch)
    assert (work / "marked.png").exists() and (work / "photo-signed.jpg").exists()


@pytest.mark.slow  # loads torch and the builtin:tiny pipeline
def test_python_doc_generator_example_runs(forensics_home, tmp_path, monkeypatch):
    from forensics.provenance import keys

    keys.init_pki()
    blocks = [(i, b) for i, b in enumerate(_python_blocks()) if "load_generator" in b]
    assert blocks
    _run_blocks([(-1, "import forensics\n"), *blocks], tmp_path, monkeypatch)
    if "diffusers" in __import__("sys").modules:
        assert (tmp_path / "generated.png").exists()
