"""The installable package: a light verify path, extras that fail with their install line, the version.

The wheel itself (base install in a fresh venv, package data present) is checked by scripts/check_wheel.sh,
which CI runs after the test suite.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

from conftest import REPO

# Not one of these may be imported by `forensics verify` (the base install has none of them).
OPTIONAL = ("torch", "torchvision", "scipy", "diffusers", "timm", "transformers", "peft", "sklearn", "onnx",
            "matplotlib", "imwatermark", "imagehash", "pywt", "fastapi", "uvicorn", "alembic", "ray", "s3fs",
            "pyarrow")


def _run(code: str, tmp_path, timeout: int = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
               OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                          timeout=timeout, env=env)


def test_verify_with_detector_imports_no_optional_library(tmp_path):
    rng = np.random.default_rng(5)
    yy, xx = np.mgrid[0:384, 0:512]
    rgb = np.stack([xx % 256, yy % 256, (xx + yy) % 256], -1) * 0.6 + rng.normal(0, 20, (384, 512, 3)) + 30
    Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)).save(tmp_path / "photo.jpg", quality=95)
    from forensics.provenance.repository import ManifestRepository

    ManifestRepository()  # a manifest repository exists: an unsigned photo is looked up by its pHash
    code = textwrap.dedent(f"""
        import json, sys
        from forensics.cli import app

        def run(*args):
            try:
                app(list(args), standalone_mode=False)
            except SystemExit as exc:
                assert not exc.code, (args, exc.code)

        run("keys", "init")
        run("watermark", "embed", "photo.jpg", "-o", "marked.jpg", "--payload", "0123456789ab")
        run("sign", "marked.jpg", "-o", "signed.jpg", "--digital-source-type", "digitalCapture")
        run("verify", "--json", "signed.jpg", "photo.jpg")
        print("IMPORTED=" + json.dumps(sorted(m for m in {OPTIONAL!r} if m in sys.modules)))
    """)
    out = _run(code, tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("IMPORTED="))
    assert json.loads(line[len("IMPORTED="):]) == []
    report, unsigned = json.loads(out.stdout[out.stdout.index("["):out.stdout.index("IMPORTED=")])
    assert unsigned["error"] is None and unsigned["c2pa"]["recovered_from"] is None
    assert report["c2pa"]["present"] and report["c2pa"]["state"] == "Trusted"
    assert any(w["detected"] and w["payload"] == "0123456789ab" for w in report["watermarks"])
    assert report["detector"] is not None and 0 <= report["detector"]["probability_synthetic"] <= 1


# -- a missing extra -------------------------------------------------------------------------------------

# Makes the named top-level modules uninstallable for this process, as if their extra were not installed.
BLOCKER = """
import sys
BLOCKED = {blocked!r}
class _Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None
sys.meta_path.insert(0, _Blocker())
sys.argv = ["forensics"] + {argv!r}
from forensics.cli import main
main()
"""

CASES = [
    (["generate", "a lighthouse", "-o", "out.png", "--model", "builtin:tiny"], "generate", ["torch"]),
    (["serve", "--no-generate"], "service", ["fastapi"]),
    (["serve", "--model", "builtin:tiny"], "generate", ["diffusers"]),
    (["db", "upgrade"], "service", ["alembic"]),
    (["keys", "create-api-key", "--name", "desk"], "service", ["alembic"]),
    (["keys", "list-api-keys"], "service", ["alembic"]),
    (["detect", "train", "--data", ".", "--out", "model"], "train", ["timm"]),
    (["detect", "eval", "--data", "."], "train", ["sklearn"]),
    (["watermark", "embed", "in.png", "-o", "out.png", "--scheme", "rivaGan"], "compat", ["imwatermark"]),
    (["watermark", "detect", "in.png", "--scheme", "rivaGan"], "compat", ["imwatermark"]),
    (["audit", "in.png", "--out", "r.jsonl", "--engine", "ray"], "ray", ["ray"]),
    (["audit", "s3://bucket/photos/", "--out", "r.jsonl"], "s3", ["s3fs"]),
    (["audit", "in.png", "--out", "r.jsonl", "--parquet", "r.parquet"], "parquet", ["pyarrow"]),
]


@pytest.mark.parametrize("argv, extra, blocked", CASES, ids=[" ".join(c[0][:2]) + f" [{c[1]}]" for c in CASES])
def test_missing_extra_exits_2_with_the_install_line(tmp_path, argv, extra, blocked):
    Image.new("RGB", (300, 300), (90, 120, 30)).save(tmp_path / "in.png")
    out = _run(BLOCKER.format(blocked=blocked, argv=argv), tmp_path, timeout=120)
    assert out.returncode == 2, out.stdout + out.stderr
    assert f"pip install 'forensics-suite[{extra}]'" in out.stderr
    assert "Traceback" not in out.stdout + out.stderr
    assert not (tmp_path / "out.png").exists() and not (tmp_path / "r.jsonl").exists()  # failed before any work


def test_a_missed_optional_import_still_gets_the_install_line(monkeypatch, capsys):
    import forensics.cli as cli

    def app():
        raise ModuleNotFoundError("No module named 'diffusers'", name="diffusers")

    monkeypatch.setattr(cli, "app", app)
    with pytest.raises(SystemExit) as exc:
        cli.main()
    assert exc.value.code == 2
    assert "pip install 'forensics-suite[generate]'" in capsys.readouterr().err


def test_an_unrelated_missing_module_is_not_blamed_on_an_extra(monkeypatch):
    import forensics.cli as cli

    def app():
        raise ModuleNotFoundError("No module named 'nonexistent'", name="nonexistent")

    monkeypatch.setattr(cli, "app", app)
    with pytest.raises(ModuleNotFoundError):
        cli.main()


def test_extra_lookup_ignores_a_folder_that_shadows_a_library(tmp_path, monkeypatch):
    from forensics import extras

    (tmp_path / "ray").mkdir()  # e.g. a Ray session folder in the working directory
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(extras.importlib.util, "find_spec",
                        lambda name: None if name != "ray" else _namespace_spec(tmp_path / "ray"))
    assert not extras.has("ray")
    with pytest.raises(extras.MissingExtra) as exc:
        extras.require("ray", feature="audit --engine ray")
    assert exc.value.extra == "ray" and "pip install 'forensics-suite[ray]'" in exc.value.message


def _namespace_spec(folder):
    import importlib.machinery

    spec = importlib.machinery.ModuleSpec("ray", None, is_package=True)
    spec.submodule_search_locations = [str(folder)]
    return spec


def test_extras_match_pyproject():
    import tomllib

    from forensics.extras import EXTRA_MODULES

    optional = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    for extra in EXTRA_MODULES:
        assert extra in optional, extra
    everything = " ".join(optional["all"])
    for extra in EXTRA_MODULES:
        assert extra in everything, f"[all] misses [{extra}]"


# -- version ---------------------------------------------------------------------------------------------

def test_version_comes_from_package_metadata(monkeypatch):
    import importlib.metadata

    import forensics
    from forensics.cli import installed_version

    monkeypatch.setattr(importlib.metadata, "version", lambda dist: "9.8.7" if dist == "forensics-suite" else "")
    assert installed_version() == "9.8.7"

    def not_installed(dist):
        raise importlib.metadata.PackageNotFoundError(dist)

    monkeypatch.setattr(importlib.metadata, "version", not_installed)
    assert installed_version() == forensics.__version__


def test_version_option_prints_it():
    from typer.testing import CliRunner

    from forensics.cli import app, installed_version

    r = CliRunner().invoke(app, ["--version"])
    assert r.exit_code == 0 and r.output.strip() == f"forensics-suite {installed_version()}"
