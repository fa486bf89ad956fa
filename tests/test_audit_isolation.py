"""`forensics audit` under hostile conditions: files that hang, crash or eat memory, and kill -9 + --resume."""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from forensics.audit import run_audit, state_path_for
from test_audit_plugins import CHAOS, log_lines, read_jsonl, small_jpeg

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent


@pytest.mark.slow
def test_hanging_crashing_and_memory_hungry_files_cost_only_their_row(tmp_path, monkeypatch):
    log = tmp_path / "calls.log"
    monkeypatch.setenv("AUDIT_TEST_LOG", str(log))
    src = tmp_path / "in"
    src.mkdir()
    for name in ("a.jpg", "slow.jpg", "b.jpg", "crash.jpg", "hog.jpg", "c.jpg", "d.jpg"):
        small_jpeg(src / name, hash(name) % 1000)
    out = tmp_path / "r.jsonl"
    summary = run_audit([str(src)], out, workers=2, analysers=[CHAOS], timeout_per_file=5,
                        memory_per_file_mib=256)
    rows = {Path(r["path"]).name: r for r in read_jsonl(out)}
    assert set(rows) == {"a.jpg", "slow.jpg", "b.jpg", "crash.jpg", "hog.jpg", "c.jpg", "d.jpg"}
    assert rows["slow.jpg"]["error"]["code"] == "timeout"
    assert rows["crash.jpg"]["error"]["code"] == "worker_crashed"
    assert "signal 11" in rows["crash.jpg"]["error"]["message"]
    assert rows["hog.jpg"]["error"]["code"] == "too_large"
    assert "memory cap" in rows["hog.jpg"]["error"]["message"]
    for name in ("a.jpg", "b.jpg", "c.jpg", "d.jpg"):
        assert rows[name]["error"] is None, rows[name]
        assert rows[name]["verdict"]["label"] == "no-evidence"
    assert summary.errors == {"timeout": 1, "worker_crashed": 1, "too_large": 1}
    # each of the three broken files cost one worker, replaced: 2 + 3 starts at most
    inits = [ln for ln in log_lines(log) if ln[1] == "init"]
    assert len(inits) <= 5


def _done_in_state(state: Path) -> set[str]:
    try:
        db = sqlite3.connect(f"file:{state}?mode=ro", uri=True, timeout=5)
        try:
            rows = db.execute("SELECT display FROM items WHERE status='done'").fetchall()
        finally:
            db.close()
    except sqlite3.Error:
        return set()
    return {Path(r[0]).name for r in rows}


@pytest.mark.slow
def test_kill9_then_resume_reports_every_input_exactly_once(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    names = [f"img{i:02d}.jpg" for i in range(16)]
    for i, name in enumerate(names):
        small_jpeg(src / name, i)
    (src / "broken.jpg").write_text("nope")
    out = tmp_path / "r.jsonl"
    state = state_path_for(out)
    log = tmp_path / "calls.log"
    env = dict(os.environ, AUDIT_TEST_LOG=str(log), AUDIT_TEST_DELAY="0.4",
               PYTHONPATH=os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]))
    cmd = [sys.executable, "-m", "forensics", "audit", str(src), "--out", str(out), "--workers", "2", "--quiet",
           "--analyser", CHAOS]
    proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while len(_done_in_state(state)) < 5:
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, "audit made no progress"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)  # the parent only, as `kill -9 PID` would
    proc.wait()
    done_before = _done_in_state(state)
    assert 5 <= len(done_before) < len(names) + 1
    assert not out.exists()  # the report only ever appears complete

    # the orphaned workers notice their parent is gone and exit
    pids = {int(ln[0]) for ln in log_lines(log)}
    t0 = time.monotonic()
    while any(_alive(p) for p in pids) and time.monotonic() - t0 < 15:
        time.sleep(0.1)
    assert not any(_alive(p) for p in pids), "worker processes outlived a killed audit"

    n_before = len(log_lines(log))
    res = subprocess.run([sys.executable, "-m", "forensics", "audit", "--out", str(out), "--resume", "--quiet",
                          "--json"], env=env, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert res.returncode == 2, res.stderr  # broken.jpg could not be processed
    rows = read_jsonl(out)
    reported = [Path(r["path"]).name for r in rows]
    assert sorted(reported) == sorted(names + ["broken.jpg"]), "every input exactly once"
    assert reported == sorted(reported), "report in scan order"
    redone = {ln[2] for ln in log_lines(log)[n_before:] if ln[1] == "analyse"}
    assert not (redone & done_before), f"finished files analysed again: {redone & done_before}"
    assert redone | (done_before - {"broken.jpg"}) == set(names)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover
        return True
    # a zombie still "exists"; check its state
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test_temp_files_of_a_killed_report_write_are_cleaned_up(tmp_path, monkeypatch):
    monkeypatch.setenv("AUDIT_TEST_LOG", str(tmp_path / "log"))
    src = tmp_path / "in"
    src.mkdir()
    small_jpeg(src / "a.jpg", 1)
    out = tmp_path / "r.jsonl"
    stale = tmp_path / "r.jsonl.tmp-abc123"  # what kill -9 during the report phase leaves behind
    stale.write_text('{"half": ')
    run_audit([str(src)], out, workers=1, analysers=[CHAOS])
    assert not stale.exists()
    assert len(read_jsonl(out)) == 1
