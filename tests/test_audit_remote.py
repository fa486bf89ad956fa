"""`forensics audit` beyond local folders: S3 (moto on loopback) through fsspec, and the Ray engine."""
from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import pytest

from forensics.audit import run_audit
from test_audit_plugins import CHAOS, bomb_png, read_jsonl, small_jpeg

TESTS = Path(__file__).resolve().parent


@pytest.fixture
def s3_server(monkeypatch):
    pytest.importorskip("s3fs")
    moto_server = pytest.importorskip("moto.server")
    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                 "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(k, v)
    for k in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(k, raising=False)
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.mark.slow
def test_s3_prefix_via_fsspec(s3_server, tmp_path):
    import boto3

    s3 = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1")
    s3.create_bucket(Bucket="newsroom")
    local = tmp_path / "local"
    local.mkdir()
    small_jpeg(local / "one.jpg", 1)
    small_jpeg(local / "two", 2)
    bomb_png(local / "bomb.png")
    uploads = {"archive/2024/one.jpg": (local / "one.jpg").read_bytes(),
               "archive/2024/two": (local / "two").read_bytes(),  # no extension: recognised by content
               "archive/bad.jpg": b"not a jpeg at all",
               "archive/../../etc/passwd.jpg": (local / "one.jpg").read_bytes(),  # hostile key: never a local path
               "archive/bomb.png": (local / "bomb.png").read_bytes(),
               "archive/README.md": b"# notes"}
    for key, body in uploads.items():
        s3.upload_fileobj(io.BytesIO(body), "newsroom", key)
    storage = {"endpoint_url": s3_server, "key": "testing", "secret": "testing"}
    out = tmp_path / "r.jsonl"
    summary = run_audit(["s3://newsroom/archive/", "s3://newsroom/missing.jpg"], out, workers=2,
                        analysers=[CHAOS], storage_options=storage)
    rows = {r["path"]: r for r in read_jsonl(out)}
    assert set(rows) == {"s3://newsroom/archive/2024/one.jpg", "s3://newsroom/archive/2024/two",
                         "s3://newsroom/archive/bad.jpg", "s3://newsroom/archive/../../etc/passwd.jpg",
                         "s3://newsroom/archive/bomb.png", "s3://newsroom/missing.jpg"}
    one = rows["s3://newsroom/archive/2024/one.jpg"]
    assert one["error"] is None and one["media_type"] == "image/jpeg"
    assert one["sha256"] == hashlib.sha256(uploads["archive/2024/one.jpg"]).hexdigest()
    assert rows["s3://newsroom/archive/2024/two"]["media_type"] == "image/jpeg"
    assert rows["s3://newsroom/archive/../../etc/passwd.jpg"]["error"] is None
    assert rows["s3://newsroom/archive/bad.jpg"]["error"]["code"] == "unsupported"
    assert rows["s3://newsroom/archive/bomb.png"]["error"]["code"] == "too_large"
    assert rows["s3://newsroom/missing.jpg"]["error"]["code"] == "not_found"
    assert summary.skipped == 1  # README.md
    # the remote name never became a local path, and no temp file is left behind
    assert not Path("/etc/passwd.jpg").exists()
    # unchanged objects (same ETag) are not downloaded again
    again = run_audit(["s3://newsroom/archive/", "s3://newsroom/missing.jpg"], out, workers=1,
                      analysers=[CHAOS], storage_options=storage)
    assert again.processed == 0 and again.reused == 6  # 6 objects listed, none downloaded again


@pytest.mark.slow
def test_ray_engine_same_report_and_crash_isolation(tmp_path, monkeypatch):
    ray = pytest.importorskip("ray")
    log = tmp_path / "calls.log"
    monkeypatch.setenv("AUDIT_TEST_LOG", str(log))
    src = tmp_path / "in"
    src.mkdir()
    for i in range(4):
        small_jpeg(src / f"p{i}.jpg", i)
    small_jpeg(src / "crash.jpg", 9)
    small_jpeg(src / "slow.jpg", 10)
    (src / "bad.jpg").write_text("no")
    local_out, ray_out = tmp_path / "local.jsonl", tmp_path / "ray.jsonl"
    run_audit([str(src)], local_out, workers=1, analysers=[CHAOS], timeout_per_file=6)
    # Our own small local Ray (2 CPUs), so its workers can import the test analyser; run_audit joins it.
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False,
             runtime_env={"env_vars": {"PYTHONPATH": str(TESTS), "AUDIT_TEST_LOG": str(log)}})
    try:
        summary = run_audit([str(src)], ray_out, engine="ray", workers=2, analysers=[CHAOS], html=tmp_path / "r.html",
                            timeout_per_file=6)
        resumed = run_audit([], ray_out, engine="ray", workers=2, resume=True)
    finally:
        ray.shutdown()

    def strip(rows):
        return [{k: v for k, v in r.items() if k != "timings_ms"} for r in rows]

    local_rows, ray_rows = strip(read_jsonl(local_out)), strip(read_jsonl(ray_out))
    assert [r["path"] for r in ray_rows] == [r["path"] for r in local_rows]
    assert summary.errors == {"worker_crashed": 1, "unsupported": 1, "timeout": 1}
    for lr, rr in zip(local_rows, ray_rows):
        if Path(lr["path"]).name == "crash.jpg":
            assert lr["error"]["code"] == rr["error"]["code"] == "worker_crashed"
        elif Path(lr["path"]).name == "slow.jpg":
            assert lr["error"]["code"] == rr["error"]["code"] == "timeout"
        else:
            assert lr == rr
    assert resumed.processed == 0 and resumed.reused == 7
    assert (tmp_path / "r.html").stat().st_size > 0


@pytest.mark.slow
def test_ray_two_node_cluster_survives_losing_a_node(tmp_path):
    """A head and a worker node (`ray start`, one CPU each) and `forensics audit --engine ray --ray-address`.
    The worker node is killed mid-run: every input is reported exactly once, without error rows, and the
    file that was in flight there is done again on the head. Resuming on the same cluster analyses nothing
    that was finished."""
    pytest.importorskip("ray")
    pytest.importorskip("psutil")
    import json
    import subprocess
    import sys
    import time

    from ray_cluster import TwoNodeCluster
    from test_audit_isolation import _done_in_state
    from test_audit_plugins import log_lines

    from forensics.audit import state_path_for

    log = tmp_path / "calls.log"
    src = tmp_path / "in"
    src.mkdir()
    names = [f"p{i:02d}.jpg" for i in range(10)]
    for i, name in enumerate(names):
        small_jpeg(src / name, i)
    env = {"PYTHONPATH": os.pathsep.join([str(TESTS), str(TESTS.parent)]), "AUDIT_TEST_LOG": str(log),
           "AUDIT_TEST_DELAY": "1.0"}
    cluster = TwoNodeCluster(env)
    try:
        driver_env = dict(os.environ, **cluster.auth, **env)
        out = tmp_path / "r.jsonl"
        cmd = [sys.executable, "-m", "forensics", "audit", "--out", str(out), "--engine", "ray", "--ray-address",
               cluster.address, "--quiet", "--json", "--analyser", CHAOS, "--timeout-per-file", "60"]
        proc = subprocess.Popen(cmd + [str(src), "--workers", "2"], env=driver_env, cwd=TESTS.parent,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 120
        on_worker: set[int] = set()
        while True:  # lose the worker node while its actor is in the middle of a file (1 s each)
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the audit made no progress"
            calls = [(int(ln[0]), ln[2]) for ln in log_lines(log) if ln[1] == "analyse"]
            done = _done_in_state(state_path_for(out))
            if len(done) >= 2 and len({pid for pid, _ in calls}) == 2:
                on_worker.update(cluster.worker.pids())
                mine = [name for pid, name in calls if pid in on_worker]
                if mine and mine[-1] not in done:
                    break
            time.sleep(0.05)
        cluster.worker.kill()
        stdout, stderr = proc.communicate(timeout=150)
        assert proc.returncode == 0, stderr[-3000:]
        summary = json.loads(stdout)
        rows = read_jsonl(out)
        assert sorted(Path(r["path"]).name for r in rows) == names  # every input exactly once
        assert summary["errors"] == {} and all(r["error"] is None for r in rows)
        calls = [(int(ln[0]), ln[2]) for ln in log_lines(log) if ln[1] == "analyse"]
        lost_with_node = [name for pid, name in calls if pid in on_worker][-1]  # its last file, cut short
        assert lost_with_node in {name for pid, name in calls if pid not in on_worker}, \
            "the file lost with the node was redone on the head"

        n = len(calls)  # the same resume semantics as the local engine: nothing finished is analysed again
        res = subprocess.run(cmd + ["--resume"], env=driver_env, cwd=TESTS.parent, capture_output=True,
                             text=True, timeout=120)
        assert res.returncode == 0, res.stderr[-3000:]
        again = json.loads(res.stdout)
        assert again["processed"] == 0 and again["reused"] == len(names)
        assert len([ln for ln in log_lines(log) if ln[1] == "analyse"]) == n
        assert sorted(Path(r["path"]).name for r in read_jsonl(out)) == names
    finally:
        cluster.close()
