"""Print what `forensics verify` says about some files, minus the timings: to diff two versions of the code.

Each file is verified in a fresh `python -m forensics verify --json` process (the cold path, fast CLI
parsing included) and once more as the terminal report; ``timings_ms`` is the only field dropped
(and heap addresses in library log lines).

    PYTHONPATH=old python scripts/verify_snapshot.py FILE... > old.txt
    PYTHONPATH=new python scripts/verify_snapshot.py FILE... > new.txt && diff old.txt new.txt
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys


def snapshot(path: str, *extra: str) -> str:
    env = dict(os.environ, COLUMNS="100", NO_COLOR="1")
    # -P: the code on PYTHONPATH, never a forensics/ folder that happens to be in the working directory
    j = subprocess.run([sys.executable, "-P", "-m", "forensics", "verify", "--json", *extra, path], env=env,
                       capture_output=True, text=True)
    try:
        reports = json.loads(j.stdout)
        for r in reports:
            r.pop("timings_ms", None)
        body = json.dumps(reports, indent=1, sort_keys=True)
    except ValueError:
        body = j.stdout
    t = subprocess.run([sys.executable, "-P", "-m", "forensics", "verify", *extra, path], env=env,
                       capture_output=True, text=True)
    out = (f"== {path} {' '.join(extra)} json rc={j.returncode}\n{body}\n{j.stderr}"
           f"== terminal rc={t.returncode}\n{t.stdout}{t.stderr}")
    return re.sub(r"0x[0-9a-f]{6,}", "0x…", out)  # FFmpeg's log lines name heap addresses


def main() -> None:
    for path in sys.argv[1:]:
        for extra in ((), ("--no-detector",)):
            sys.stdout.write(snapshot(path, *extra))


if __name__ == "__main__":
    main()
