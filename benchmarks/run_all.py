"""`make bench`: run every benchmark script with its default (quick) settings; each prints its own figures.

Full runs (e.g. the watermark robustness table over all 609 photos) take longer; their commands are in
benchmarks/RESULTS.md and benchmarks/results/*.md.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = ["bench_verify.py", "bench_watermark.py", "bench_detect.py", "bench_generate.py",
           "bench_audit.py", "bench_service.py"]


def main() -> int:
    failed = []
    for name in SCRIPTS:
        print(f"\n===== {name} =====", flush=True)
        rc = subprocess.call([sys.executable, str(HERE / name)])
        if rc != 0:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
