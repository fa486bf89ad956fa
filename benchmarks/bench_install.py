"""The base install: its size, how long it takes, `import forensics`, and a cold `verify` against another install.

Builds the wheel (or takes --wheel), installs it with no extras into a fresh venv (timed; pip's cache is
whatever this machine has), measures the venv (du), then times fresh processes: `import forensics` beside a
bare interpreter, and `forensics verify --json` on a 12-MP watermarked, signed JPEG, alternating with the same
command run by --compare-python (e.g. a full `.[all,test]` venv), and reports the medians and the median of
the pairwise ratios.

    python benchmarks/bench_install.py --compare-python .venv/bin/python [--runs 7] [--venv DIR]
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _timed(cmd: list[str], **kw) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)
    return time.perf_counter() - t


def _du_mb(path: Path) -> float:
    return int(subprocess.run(["du", "-sk", str(path)], capture_output=True, text=True, check=True)
               .stdout.split()[0]) / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--wheel", type=Path, help="the wheel to install (default: build one from this checkout)")
    ap.add_argument("--venv", type=Path, help="where to create the base venv (default: a temporary folder)")
    ap.add_argument("--compare-python", help="interpreter of the install to compare verify with")
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        wheel = args.wheel
        if wheel is None:
            subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", str(tmp / "dist"), str(REPO)],
                           check=True, stdout=subprocess.DEVNULL)
            wheel = next((tmp / "dist").glob("*.whl"))
        venv = args.venv or tmp / "venv-base"
        if venv.exists():
            shutil.rmtree(venv)
        t_venv = _timed([sys.executable, "-m", "venv", str(venv)])
        t_pip = _timed([str(venv / "bin/python"), "-m", "pip", "install", "-q", str(wheel)])
        base_py = str(venv / "bin/python")
        print(f"wheel {wheel.name}; venv {t_venv:.1f} s + pip install {t_pip:.1f} s; size {_du_mb(venv):.0f} MB")

        env = dict(os.environ, FORENSICS_HOME=str(tmp / "home"), OMP_NUM_THREADS="1")
        env.pop("PYTHONPATH", None)
        env.pop("FORENSICS_TRUST_ANCHORS", None)
        run = dict(cwd=tmp, env=env)
        sys.path.insert(0, str(REPO / "benchmarks"))
        from bench_verify import make_photo

        make_photo(tmp / "photo.jpg")
        fx = [base_py, "-m", "forensics"]
        subprocess.run(fx + ["keys", "init"], check=True, stdout=subprocess.DEVNULL, **run)
        subprocess.run(fx + ["watermark", "embed", "photo.jpg", "-o", "marked.jpg", "--payload", "0123456789ab"],
                       check=True, stdout=subprocess.DEVNULL, **run)
        subprocess.run(fx + ["sign", "marked.jpg", "-o", "signed.jpg", "--digital-source-type", "digitalCapture"],
                       check=True, stdout=subprocess.DEVNULL, **run)

        bare, imp = [], []
        for _ in range(args.runs):
            bare.append(_timed([base_py, "-c", "pass"], **run))
            imp.append(_timed([base_py, "-c", "import forensics, forensics.cli"], **run))
        print(f"import forensics + forensics.cli: {statistics.median(imp) * 1000:.0f} ms median "
              f"(bare interpreter {statistics.median(bare) * 1000:.0f} ms)")

        verify = ["-m", "forensics", "verify", "--json", "signed.jpg"]
        a, b = [], []
        _timed([base_py] + verify, **run)  # warm the page cache
        if args.compare_python:
            _timed([args.compare_python] + verify, **run)
        for _ in range(args.runs):
            a.append(_timed([base_py] + verify, **run))
            if args.compare_python:
                b.append(_timed([args.compare_python] + verify, **run))
        line = f"cold verify --json (12 MP, watermarked, signed, detector on): base {statistics.median(a):.3f} s median"
        if b:
            ratio = statistics.median(x / y for x, y in zip(a, b))
            line += f"; {args.compare_python}: {statistics.median(b):.3f} s; ratio base/other {ratio:.2f}"
        print(line)


if __name__ == "__main__":
    main()
