"""The Python API: forensics.verify / sign / watermark / Generator, typed reports, no import side effects."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

import forensics
from conftest import C2PA_FIXTURES, REPO, textured_rgb
from forensics.cli import app
from forensics.report import Report, Verdict, VerdictLabel

AI = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"


def _run_python(code: str, **env) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **env}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180, cwd=REPO,
                          env=full_env)


def _without_timings(obj: dict) -> dict:
    """timings_ms measures the run itself: same keys, values differ between two runs."""
    out = dict(obj)
    timings = out.pop("timings_ms", None)
    if timings is not None:
        out["timings_ms"] = sorted(timings)
    return out


@pytest.fixture
def files(sample_files):
    return sample_files


def _cli_objects(*paths, detector=False) -> list[dict]:
    args = ["verify", "--json", *([] if detector else ["--no-detector"]), *map(str, paths)]
    r = CliRunner().invoke(app, args, catch_exceptions=False)
    assert r.exit_code in (0, 2), r.output
    return json.loads(r.stdout)


# --- verify ---------------------------------------------------------------------------------------

def test_to_dict_equals_the_cli_json_object(files):
    names = ["plain", "signed", "ai", "marked", "corrupt", "text", "tampered"]
    cli = _cli_objects(*(files[n] for n in names))
    for name, expected in zip(names, cli):
        got = forensics.verify(files[name], detector=False).to_dict()
        assert _without_timings(got) == _without_timings(expected), name
    labels = {n: o["verdict"]["label"] for n, o in zip(names, cli)}
    assert labels == {"plain": "no-evidence", "signed": "authentic-credentials", "ai": "ai-generated",
                      "marked": "no-evidence", "corrupt": "error", "text": "error", "tampered": "tampered"}
    assert cli[names.index("marked")]["watermarks"][0]["payload"] == "0123456789ab"


def test_to_dict_equals_the_cli_json_object_with_the_detector(files):
    (expected,) = _cli_objects(files["plain"], detector=True)
    got = forensics.verify(files["plain"]).to_dict()
    assert expected["detector"] is not None
    assert _without_timings(got) == _without_timings(expected)


def test_path_bytes_and_file_object_give_the_same_report(files):
    p = files["signed"]
    by_path = forensics.verify(p, detector=False).to_dict()
    by_bytes = forensics.verify(p.read_bytes(), detector=False).to_dict()
    with open(p, "rb") as fh:
        by_file = forensics.verify(fh, detector=False).to_dict()
    by_stream = forensics.verify(io.BytesIO(p.read_bytes()), detector=False).to_dict()
    import gzip

    (p.parent / "s.gz").write_bytes(gzip.compress(p.read_bytes()))
    with gzip.open(p.parent / "s.gz") as gz:  # a reader whose mode is not a string
        assert forensics.verify(gz, detector=False).credentials.state == "Trusted"
    assert by_bytes["path"] == "<bytes>" and by_file["path"] == str(p) and by_stream["path"] == "<bytes>"
    for other in (by_bytes, by_file, by_stream):
        assert _without_timings({**other, "path": None}) == _without_timings({**by_path, "path": None})
    assert forensics.verify(Path(p), detector=False).to_dict()["c2pa"]["state"] == "Trusted"


def test_report_is_typed(files):
    r = forensics.verify(files["signed"], detector=False)
    assert isinstance(r, forensics.Report) and isinstance(r.verdict, Verdict)
    assert r.verdict.label is VerdictLabel.AUTHENTIC_CREDENTIALS and r.verdict.label == "authentic-credentials"
    assert isinstance(r.verdict.label, str) and f"{r.verdict.label}" == "authentic-credentials"
    assert isinstance(r.credentials, forensics.CredentialsFinding) and r.credentials.state == "Trusted"
    assert isinstance(r.credentials.signer, forensics.Signer)
    assert all(isinstance(s, forensics.Status) for s in r.credentials.statuses)
    assert isinstance(r.metadata, forensics.MetadataFinding)
    assert isinstance(r.watermarks, forensics.WatermarkFinding)
    assert [label.value for label in VerdictLabel] == ["ai-generated", "likely-synthetic", "authentic-credentials",
                                                       "tampered", "no-evidence", "error"]
    assert json.dumps(r.to_dict()["verdict"]["label"]) == '"authentic-credentials"'
    assert Report(path="x").verdict.label is VerdictLabel.ERROR  # never None
    assert Verdict("tampered").label is VerdictLabel.TAMPERED
    with pytest.raises(ValueError):
        Verdict("maybe")


def test_bad_media_is_an_error_entry_not_an_exception(files, tmp_path):
    for source, code in [(files["text"], "unsupported"), (b"\xff\xd8\xff" + b"\x00" * 40, "corrupt"),
                         (tmp_path / "missing.jpg", "not_found"), (b"plain text", "unsupported")]:
        r = forensics.verify(source, detector=False)
        assert r.error is not None and r.error.code == code, (source, r.error)
        assert r.verdict.label is VerdictLabel.ERROR and r.verdict.reasons
        assert "forensics-" not in r.error.message  # never the name of a temporary copy


def test_check_inputs_rejects_bad_arguments(files, tmp_path):
    (tmp_path / "t.txt").write_text("x")
    with open(tmp_path / "t.txt") as text_file:
        cases = [
            ((12,), {}, TypeError, "path .*bytes.*binary file"),
            ((None,), {}, TypeError, "not NoneType"),
            ((text_file,), {}, TypeError, "binary mode"),
            ((b"",), {}, ValueError, "empty"),
            (("",), {}, ValueError, "empty"),
            ((files["plain"],), {"detector": "yes"}, TypeError, "detector"),
            ((files["plain"],), {"allow_network": 1}, TypeError, "allow_network"),
            ((files["plain"],), {"trust_anchors": "a.pem"}, TypeError, "wrap a single path in a list"),
            ((files["plain"],), {"trust_anchors": [3]}, TypeError, "trust_anchors entries"),
            ((files["plain"],), {"registry": 5}, TypeError, "registry"),
        ]
        for args, kwargs, exc, match in cases:
            with pytest.raises(exc, match=match):
                forensics.verify(*args, **kwargs)
    with pytest.raises(forensics.ForensicsError, match="not found"):
        forensics.verify(files["plain"], trust_anchors=[tmp_path / "nope.pem"])


def test_trust_anchors_and_registry_options(files, forensics_home, tmp_path):
    from forensics import config

    root = forensics_home / "keys" / "root-ca.pem"
    config.local_trust_anchors_path().unlink()
    assert forensics.verify(files["signed"], detector=False).credentials.state == "Valid"
    assert forensics.verify(files["signed"], detector=False, trust_anchors=[root]).credentials.state == "Trusted"
    r = forensics.verify(files["plain"], detector=False, registry=tmp_path / "none.sqlite")
    assert r.error is None


# --- sign -------------------------------------------------------------------------------------------

def test_sign_bytes_and_paths(files, tmp_path, forensics_home):
    signed = forensics.sign(files["plain"].read_bytes(), digital_source_type=AI, title="T")
    assert isinstance(signed, forensics.Signed) and signed.output is None and signed.media_type == "image/jpeg"
    r = forensics.verify(signed.data, detector=False)
    assert r.verdict.label is VerdictLabel.AI_GENERATED and r.credentials.manifest_id == signed.manifest_id
    assert r.credentials.title == "T"
    edit = forensics.sign(signed.data, tmp_path / "edit.jpg", action="color_adjustments")
    assert edit.parent_ingredient and edit.output.read_bytes() == edit.data
    c = forensics.verify(edit.output, detector=False).credentials
    assert c.actions == ["c2pa.opened", "c2pa.color_adjustments"] and c.ai_generated
    keys = forensics_home / "keys"
    own = forensics.sign(files["plain"], cert=keys / "signer-chain.pem", key=keys / "signer.key",
                         digital_source_type="digitalCapture")
    assert forensics.verify(own.data, detector=False).credentials.state == "Trusted"
    with pytest.raises(ValueError, match="go together"):
        forensics.sign(files["plain"], cert=keys / "signer-chain.pem")
    with pytest.raises(TypeError, match="action"):
        forensics.sign(files["plain"], action=[3])
    with pytest.raises(forensics.MediaError):
        forensics.sign(b"not an image")


# --- watermark --------------------------------------------------------------------------------------

def test_watermark_embed_and_detect_accept_every_kind_of_image(tmp_path):
    rgb = textured_rgb(321, 481, seed=4)
    out = forensics.watermark.embed(rgb, payload=bytes.fromhex("a1b2c3d4e5f6"))
    assert isinstance(out.image, np.ndarray) and out.payload == "a1b2c3d4e5f6" and out.scheme == "fsw-v2"
    pil = forensics.watermark.embed(Image.fromarray(rgb))
    assert isinstance(pil.image, Image.Image) and len(pil.payload) == 12  # a random payload, reported
    path = tmp_path / "m.png"
    Image.fromarray(out.image).save(path)
    data = path.read_bytes()
    for source in (path, str(path), data, io.BytesIO(data), out.image, Image.open(path)):
        (d,) = [d for d in forensics.watermark.detect(source) if d.scheme == "fsw-v2"]
        assert d.detected and d.payload == "a1b2c3d4e5f6", type(source)
    (d,) = forensics.watermark.detect(path, scheme="fsw-v2")
    assert d.detected
    assert not any(d.detected for d in forensics.watermark.detect(rgb))
    from_file = forensics.watermark.embed(data, payload="a1b2c3d4e5f6")
    assert isinstance(from_file.image, Image.Image)
    with pytest.raises(forensics.watermark.WatermarkError, match="unknown watermark scheme"):
        forensics.watermark.detect(rgb, scheme="nope")
    with pytest.raises(forensics.watermark.WatermarkError, match="detect-only"):
        forensics.watermark.embed(rgb, scheme="sd-dwtDct")
    with pytest.raises(TypeError):
        forensics.watermark.embed(42)
    with pytest.raises(forensics.MediaError):
        forensics.watermark.detect(b"not an image")


# --- the package itself -----------------------------------------------------------------------------

def test_public_surface():
    for name in forensics.__all__:
        assert getattr(forensics, name) is not None, name
    assert (REPO / "forensics" / "py.typed").exists()
    with pytest.raises(AttributeError):
        forensics.no_such_name  # noqa: B018


def test_verify_stays_the_function_after_the_pipeline_module_is_imported():
    code = ("import forensics\n"
            "from forensics.verify import Verifier\n"
            "import forensics.verify\n"
            "import forensics.audit.worker, forensics.cli.verify\n"
            "assert callable(forensics.verify) and forensics.verify.__module__ == 'forensics', forensics.verify\n"
            "from forensics import verify\n"
            "assert verify is forensics.verify\n"
            "print('OK')\n")
    p = _run_python(code)
    assert p.stdout.strip() == "OK", p.stderr


def test_import_forensics_is_light():
    code = ("import sys, forensics\n"
            "heavy = ['torch', 'diffusers', 'timm', 'numpy', 'PIL', 'c2pa', 'cv2', 'onnxruntime', 'sqlalchemy',\n"
            "         'scipy', 'typer', 'rich']\n"
            "print(sorted(m for m in heavy if m in sys.modules))\n")
    p = _run_python(code)
    assert p.stdout.strip() == "[]", p.stdout + p.stderr


def test_no_process_wide_pixel_limit_change():
    # the host application's Pillow limit, whatever it is, survives import, verify (also of an image over
    # that limit), watermark detection and the generator's image decoding; our own limit is ours only
    code = ("import io, warnings\n"
            "from PIL import Image\n"
            "Image.MAX_IMAGE_PIXELS = 1234567\n"
            "bomb = lambda: [f for f in warnings.filters if f[2] is Image.DecompressionBombWarning]\n"
            "filters = bomb()\n"
            "import forensics\n"
            "assert Image.MAX_IMAGE_PIXELS == 1234567\n"
            "b = io.BytesIO(); Image.new('RGB', (300, 200), (9, 99, 199)).save(b, 'PNG')\n"
            "r = forensics.verify(b.getvalue(), detector=False)\n"
            "assert r.error is None, r.error\n"
            "forensics.watermark.detect(b.getvalue())\n"
            "from forensics.generate.pipeline import _open_image\n"
            "_open_image(b.getvalue(), 'init image')\n"
            "big = io.BytesIO(); Image.new('L', (2000, 1300)).save(big, 'PNG')\n"
            "forensics.verify(big.getvalue(), detector=False)\n"
            "assert bomb() == filters\n"
            "print(Image.MAX_IMAGE_PIXELS)\n")
    p = _run_python(code)
    assert p.stdout.strip() == "1234567", p.stdout + p.stderr


def test_generator_is_the_real_class_when_the_extra_is_installed():
    pytest.importorskip("diffusers")  # the [generate] extra; the placeholder test below covers its absence
    from forensics.generate.pipeline import Generator, load_generator

    assert forensics.Generator is Generator and forensics.load_generator is load_generator


def test_generator_without_the_extra_raises_missing_extra_with_the_pip_line():
    code = ("import sys\n"
            "sys.modules['torch'] = None; sys.modules['diffusers'] = None\n"  # as if [generate] were absent
            "import forensics\n"
            "from forensics.extras import MissingExtra\n"
            "G = forensics.Generator\n"
            "for attempt in (lambda: G(), lambda: G.generate, lambda: forensics.load_generator('builtin:tiny')):\n"
            "    try:\n"
            "        attempt()\n"
            "    except MissingExtra as exc:\n"
            "        print(exc.extra, '|', exc)\n"
            "    else:\n"
            "        print('no error')\n")
    p = _run_python(code)
    lines = p.stdout.strip().splitlines()
    assert len(lines) == 3, p.stdout + p.stderr
    for line in lines:
        assert line.startswith("generate |") and "pip install 'forensics-suite[generate]'" in line, line
