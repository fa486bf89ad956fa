"""Load benchmark of `forensics serve` on loopback. Prints its figures (nothing is asserted).

1. verification: N requests (default 200) over C concurrent connections (default 20) with a signed photo;
   errors, p50/p95/max latency, throughput;
2. memory: RSS of the server process and its verification workers before/after M requests (default 1000);
3. generation burst: a builtin:tiny server with a small queue gets more concurrent requests than it can
   hold: how many 200 / 429, and whether /healthz still answers.

    .venv/bin/python benchmarks/bench_service.py [--requests 200] [--concurrency 20] [--memory-requests 1000]
        [--image PATH] [--quick] [--json OUT]

Each server is the real CLI (`forensics serve`) in a subprocess with a temporary $FORENSICS_HOME.
"""
from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FORENSICS_SHARED", REPO.parent / "shared"))
DEFAULT_IMAGE = SHARED / "data" / "photos" / "ml72-real" / "city_9.jpg"
CLI = [sys.executable, "-m", "forensics"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(env: dict, *args: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([*CLI, "serve", "--port", str(port), "--log-level", "warning", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not start")


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()


def tree_rss(pid: int) -> tuple[int, int]:
    """(server process RSS, sum of its children's RSS) in bytes."""
    p = psutil.Process(pid)
    kids = 0
    for c in p.children(recursive=True):
        try:
            kids += c.memory_info().rss
        except psutil.Error:
            pass
    return p.memory_info().rss, kids


async def verify_load(url: str, data: bytes, n: int, concurrency: int) -> dict:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    lat, codes, detector_ran = [], {}, 0
    queue: asyncio.Queue = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(i)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=300) as client:
        async def conn():
            nonlocal detector_ran
            while True:
                try:
                    i = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                t = time.perf_counter()
                try:
                    r = await client.post("/v1/verify", files={"file": (f"photo{i}.jpg", data, "image/jpeg")})
                    code = r.status_code
                    if code == 200 and r.json().get("detector"):
                        detector_ran += 1
                except httpx.HTTPError as exc:
                    code = type(exc).__name__
                lat.append(time.perf_counter() - t)
                codes[code] = codes.get(code, 0) + 1

        t0 = time.perf_counter()
        await asyncio.gather(*(conn() for _ in range(concurrency)))
        wall = time.perf_counter() - t0
    lat.sort()
    q = statistics.quantiles(lat, n=100) if len(lat) >= 2 else lat * 99
    return {"requests": n, "concurrency": concurrency, "codes": {str(k): v for k, v in codes.items()},
            "errors": n - codes.get(200, 0), "p50_ms": round(q[49] * 1000, 1), "p95_ms": round(q[94] * 1000, 1),
            "max_ms": round(lat[-1] * 1000, 1), "wall_s": round(wall, 2), "req_per_s": round(n / wall, 2),
            "detector_ran": detector_ran}


async def generation_burst(url: str, token: str, n: int) -> dict:
    async with httpx.AsyncClient(base_url=url, timeout=600) as client:
        async def one(i):
            t = time.perf_counter()
            r = await client.post("/v1/generate", json={"prompt": f"burst {i}", "seed": i, "size": "64x64"},
                                  headers={"Authorization": f"Bearer {token}"})
            return r.status_code, time.perf_counter() - t, r.headers.get("retry-after")

        results = await asyncio.gather(*(one(i) for i in range(n)))
        health = (await client.get("/healthz")).json()
    codes: dict = {}
    for c, _, _ in results:
        codes[str(c)] = codes.get(str(c), 0) + 1
    ok = [t for c, t, _ in results if c == 200]
    return {"requests": n, "codes": codes, "retry_after": sorted({ra for c, _, ra in results if c == 429}),
            "ok_latency_s": [round(t, 2) for t in sorted(ok)], "healthz_after": health.get("status"),
            "generator_state": health.get("generator", {}).get("state")}


def prepare(env: dict, image: Path) -> bytes:
    subprocess.run([*CLI, "keys", "init"], env=env, check=True, capture_output=True)
    out = Path(env["FORENSICS_HOME"]) / "signed.jpg"
    subprocess.run([*CLI, "sign", str(image), "-o", str(out), "--title", "bench photo"], env=env, check=True,
                   capture_output=True)
    return out.read_bytes()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=20)
    ap.add_argument("--memory-requests", type=int, default=1000)
    ap.add_argument("--burst", type=int, default=10)
    ap.add_argument("--queue-size", type=int, default=2)
    ap.add_argument("--image", type=Path, default=DEFAULT_IMAGE)
    ap.add_argument("--quick", action="store_true", help="small counts (smoke run)")
    ap.add_argument("--skip-generation", action="store_true")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    a = ap.parse_args()
    if a.quick:
        a.requests, a.memory_requests, a.burst = 40, 100, 6
    if not a.image.is_file():
        sys.exit(f"image not found: {a.image} (pass --image)")

    home = tempfile.mkdtemp(prefix="bench-service-")
    env = {**os.environ, "FORENSICS_HOME": home, "PYTHONUNBUFFERED": "1"}
    env.pop("FORENSICS_REGISTRY", None)
    data = prepare(env, a.image)
    from PIL import Image

    w, h = Image.open(io.BytesIO(data)).size
    out: dict = {"machine": f"{platform.machine()} {psutil.cpu_count()} CPUs, load avg at start "
                            f"{os.getloadavg()[0]:.1f}", "image": f"{a.image.name} {w}x{h} signed, {len(data)} bytes"}
    print(f"machine: {out['machine']}\nimage: {out['image']}")

    proc, url = start_server(env, "--no-generate")
    try:
        asyncio.run(verify_load(url, data, 20, 4))  # warm the worker processes
        res = asyncio.run(verify_load(url, data, a.requests, a.concurrency))
        out["verify"] = res
        print(f"verify: {res['requests']} requests / {res['concurrency']} connections: errors {res['errors']} "
              f"codes {res['codes']}; p50 {res['p50_ms']} ms, p95 {res['p95_ms']} ms, max {res['max_ms']} ms; "
              f"{res['req_per_s']} req/s; detector ran on {res['detector_ran']}")
        samples = [tree_rss(proc.pid)]
        step = max(1, a.memory_requests // 10)
        done = 0
        errors = 0
        while done < a.memory_requests:
            r = asyncio.run(verify_load(url, data, min(step, a.memory_requests - done), a.concurrency))
            errors += r["errors"]
            done += r["requests"]
            samples.append(tree_rss(proc.pid))
        mb = [(round(s / 2**20, 1), round(k / 2**20, 1)) for s, k in samples]
        out["memory"] = {"requests": done, "errors": errors, "server_and_workers_mb": mb}
        print(f"memory over {done} requests (server MB, workers MB) every {step}: {mb}; errors {errors}")
    finally:
        stop_server(proc)

    if not a.skip_generation:
        key = subprocess.run([*CLI, "keys", "create-api-key", "--name", "bench"], env=env, check=True,
                             capture_output=True, text=True).stdout.strip()
        proc, url = start_server(env, "--model", "builtin:tiny", "--device", "cpu", "--queue-size", str(a.queue_size))
        try:
            deadline = time.monotonic() + 300
            while httpx.get(url + "/healthz").json()["generator"]["state"] == "loading" and time.monotonic() < deadline:
                time.sleep(0.5)
            res = asyncio.run(generation_burst(url, key, a.burst))
            out["generation_burst"] = {"queue_size": a.queue_size, **res}
            print(f"generation burst: {a.burst} concurrent requests, queue {a.queue_size} (+1 running): "
                  f"codes {res['codes']}, Retry-After {res['retry_after']}, 200 latencies {res['ok_latency_s']} s, "
                  f"healthz after: {res['healthz_after']} (generator {res['generator_state']})")
        finally:
            stop_server(proc)
    if a.json:
        a.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
