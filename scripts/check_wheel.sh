#!/usr/bin/env bash
# Build the sdist and wheel, install the wheel with no extras into a fresh virtual environment, and verify a
# file made there: catches package data left out of the wheel (detector model, web page, migrations, trust
# lists) and a base install that needs an extra. CI runs it after `make test`.
#   scripts/check_wheel.sh            (BUILD_PYTHON: a Python with `build`, default .venv/bin/python)
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
BUILD_PYTHON=${BUILD_PYTHON:-$REPO/.venv/bin/python}
BASE_PYTHON=${BASE_PYTHON:-python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== build"
"$BUILD_PYTHON" -m build --outdir "$work/dist" . >"$work/build.log" 2>&1 || { tail -40 "$work/build.log"; exit 1; }
wheel=$(ls "$work"/dist/*.whl)
sdist=$(ls "$work"/dist/*.tar.gz)

echo "== every file of the package is in the wheel and the sdist"
git ls-files forensics | "$BUILD_PYTHON" -c '
import sys, tarfile, zipfile
wheel, sdist = sys.argv[1:3]
tracked = {p.strip() for p in sys.stdin if p.strip() and "__pycache__" not in p}
in_wheel = set(zipfile.ZipFile(wheel).namelist())
with tarfile.open(sdist) as t:
    in_sdist = {n.split("/", 1)[1] for n in t.getnames() if "/" in n}
missing = sorted(tracked - in_wheel) + sorted("sdist:" + p for p in tracked - in_sdist)
assert "forensics/py.typed" in in_wheel, "py.typed is not in the wheel"
assert not missing, "not packaged: " + ", ".join(missing)
print(f"{len(tracked)} files, all in {wheel.rsplit(chr(47), 1)[1]} and the sdist")
' "$wheel" "$sdist"

echo "== base install (no extras) into a fresh venv"
"$BASE_PYTHON" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install -q "$wheel" 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; }
"$work/venv/bin/python" -m pip check
"$work/venv/bin/python" - <<'EOF'
from importlib.metadata import distributions
names = sorted(d.metadata["Name"].lower() for d in distributions())
optional = {"torch", "scipy", "diffusers", "transformers", "timm", "scikit-learn", "fastapi", "alembic",
            "invisible-watermark", "imagehash", "pywavelets", "matplotlib", "ray", "s3fs", "pyarrow"}
heavy = [n for n in names if n in optional]
opencv = [n for n in names if n.startswith("opencv")]
assert not heavy, f"the base install pulled in {heavy}"
assert len(opencv) == 1, f"OpenCV distributions: {opencv}"
print(f"{len(names)} distributions, no optional one; OpenCV: {opencv[0]}")
EOF

echo "== verify a watermarked, signed file with the installed package"
cd "$work"  # not the checkout: the installed package must be the one imported
export FORENSICS_HOME="$work/home" PATH="$work/venv/bin:$PATH"
unset PYTHONPATH
forensics --version
forensics keys init >/dev/null
python -c '
import numpy as np
from PIL import Image
rng = np.random.default_rng(1)
yy, xx = np.mgrid[0:480, 0:640]
rgb = np.stack([xx % 256, yy % 256, (xx + yy) % 256], -1) * 0.6 + rng.normal(0, 20, (480, 640, 3)) + 30
Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)).save("photo.jpg", quality=95)
'
forensics watermark embed photo.jpg -o marked.jpg --payload 0123456789ab >/dev/null
forensics sign marked.jpg -o signed.jpg --digital-source-type digitalCapture >/dev/null
forensics verify --json signed.jpg >report.json
python - <<'EOF'
import json
from importlib.resources import files
r = json.load(open("report.json"))[0]
assert r["error"] is None, r["error"]
assert r["c2pa"]["present"] and r["c2pa"]["state"] == "Trusted", r["c2pa"]
assert any(w["detected"] and w["payload"] == "0123456789ab" for w in r["watermarks"]), r["watermarks"]
assert r["detector"] is not None, "no detector result: is the ONNX model in the wheel?"
pkg = files("forensics")
for data in ("service/static/index.html", "migrations/script.py.mako", "detect/models/default/model.onnx"):
    assert (pkg / data).is_file(), f"{data} is not installed"
print(f"verify: {r['verdict']['label']}, c2pa {r['c2pa']['state']}, watermark "
      f"{[w['scheme'] for w in r['watermarks'] if w['detected']]}, detector {r['detector']['model']}")
EOF
set +e
forensics generate "x" -o gen.png --model builtin:tiny 2>gen.err
rc=$?
set -e
grep -q "pip install 'forensics-suite\[generate\]'" gen.err && [ "$rc" = 2 ] && ! grep -q Traceback gen.err \
  || { echo "generate without its extra: exit $rc"; cat gen.err; exit 1; }
echo "generate without the extra: exit 2, $(cat gen.err)"
echo "wheel OK"
