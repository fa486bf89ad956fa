"""Audit throughput vs. the decode floor (issue #6, item 6).

    .venv/bin/python benchmarks/bench_audit.py [--photos ../shared/data/photos] [--workers N] [--limit N]
    .venv/bin/python benchmarks/bench_audit.py --only-scale --scale 20000 [--scale-engine ray]

* decode floor: N processes, each opening and ``load()``-ing its share of the photos with Pillow;
* audit, all signals: ``run_audit`` with the default analysers (whatever is installed), N workers;
* audit, engine only: ``run_audit`` with no analysers (open + guards + hash + state + report): the cost of
  the audit machinery itself.

Prints files/s for each, the ratio audit/floor (target <= 2x), the mean per-analyser time from the
reports' ``timings_ms`` (to say which analyser dominates), and the per-core figures used in the sizing
note of docs/audit.md. Worker start-up (model loading) is reported separately from steady state.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _media_files(root: Path, limit: int | None) -> list[Path]:
    from forensics.media import sniff_path

    out = [p for p in sorted(root.rglob("*")) if p.is_file() and sniff_path(p)]
    return out[:limit] if limit else out


def _decode(path: str) -> int:
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = None
    with Image.open(path) as img:
        img.load()
        return img.size[0] * img.size[1]


def _noop(_):
    return None


def _spin(seconds: float) -> int:
    t, n = time.perf_counter(), 0
    while time.perf_counter() - t < seconds:
        for i in range(10_000):
            n += i
    return n


def machine_scaling(workers: int, seconds: float = 2.0) -> float:
    """How much more work `workers` processes get done than one, on a pure CPU loop, right now: on a shared
    machine the other jobs take cores, and this bounds any parallel efficiency we can measure (1.0 idle)."""
    ctx = mp.get_context("spawn")
    with ctx.Pool(workers) as pool:
        pool.map(_noop, range(workers))
        one = pool.map(_spin, [seconds])[0]
        many = sum(pool.map(_spin, [seconds] * workers))
    return many / (workers * one)


def _decode_cpu(path: str) -> float:
    t = time.process_time()
    _decode(path)
    return time.process_time() - t


def decode_cpu_per_file(files: list[Path], workers: int) -> float:
    """CPU seconds one Pillow decode takes (median over the files): the floor, by CPU time."""
    ctx = mp.get_context("spawn")
    with ctx.Pool(workers) as pool:
        pool.map(_decode, [str(files[0])] * workers)
        return statistics.median(pool.map(_decode_cpu, [str(p) for p in files] * 2))


def audit_cpu_per_file(files: list[Path], workers: int, profile: str) -> float:
    """CPU seconds per file of the whole audit (workers and driver), start-up excluded: the difference
    between an audit of every file and one of the first two, over the extra files. Unlike a rate, CPU time
    hardly moves with the machine's load (other processes take wall time, not our CPU seconds)."""
    import resource

    def cpu() -> float:
        c, me = resource.getrusage(resource.RUSAGE_CHILDREN), resource.getrusage(resource.RUSAGE_SELF)
        return c.ru_utime + c.ru_stime + me.ru_utime + me.ru_stime

    c0 = cpu()
    run(files[:2], workers, None, "cpu probe (2 files)", profile)
    c1 = cpu()
    run(files, workers, None, "cpu probe", profile)
    c2 = cpu()
    return ((c2 - c1) - (c1 - c0)) / (len(files) - 2)


def decode_floor(files: list[Path], workers: int) -> float:
    ctx = mp.get_context("spawn")
    with ctx.Pool(workers) as pool:
        pool.map(_noop, range(workers))  # processes started and importing before the clock starts
        pool.map(_decode, [str(files[0])] * workers)
        times = []
        for _ in range(3):  # the floor is short (< 1 s on the photos): the median of 3 passes, not one
            t0 = time.perf_counter()
            pool.map(_decode, [str(p) for p in files], chunksize=4)
            times.append(time.perf_counter() - t0)
        return statistics.median(times)


def run(files: list[Path], workers: int, analysers, label: str, profile: str = "full") -> dict:
    from forensics.audit import run_audit

    with tempfile.TemporaryDirectory(prefix="bench-audit-") as d:
        src = Path(d) / "in"
        src.mkdir()
        for i, p in enumerate(files):  # links: the audit sees exactly these files, in one folder
            os.symlink(p, src / f"{i:05d}{p.suffix}")
        t0 = time.perf_counter()
        load0 = os.getloadavg()[0]
        summary = run_audit([str(src)], Path(d) / "r.jsonl", workers=workers, analysers=analysers, profile=profile)
        load1 = os.getloadavg()[0]
        total = time.perf_counter() - t0
        rows = [json.loads(line) for line in open(Path(d) / "r.jsonl")]
        jsonl_bytes = (Path(d) / "r.jsonl").stat().st_size
        state_bytes = sum(p.stat().st_size for p in Path(d).glob("r.jsonl.state.sqlite*"))

    per = defaultdict(list)
    for r in rows:
        for k, v in (r.get("timings_ms") or {}).items():
            per[k].append(v)
    errors = summary.errors
    return {"label": label, "files": len(rows), "jsonl_bytes": jsonl_bytes, "state_bytes": state_bytes,
            "total_s": total, "audit_s": summary.audit_s, "startup_s": summary.startup_s,
            "steady": summary.files_per_s, "load": (load0, load1), "rows": rows,
            "timings": {k: statistics.mean(v) for k, v in per.items()}, "errors": errors,
            "analyser_errors": sorted({e["analyser"] + ": " + e["code"] for r in rows
                                       for e in r.get("analyser_errors", [])})}


def _worker_memory(paths: list[str], q) -> None:
    """In a fresh process: one audit worker (all signals, no cap), its RSS after warm-up and its peak."""
    from forensics.audit.state import Todo
    from forensics.audit.worker import WorkerConfig, WorkerState, limit_threads

    def status(key: str) -> int:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
        return 0

    limit_threads()
    w = WorkerState(WorkerConfig(memory_per_file=None))
    warm = status("VmRSS")
    for p in paths:
        w.process(Todo(p, p, "local", True, None, None, None))
    q.put({"rss_warm": warm, "rss_peak": status("VmHWM"), "rss_end": status("VmRSS")})


def worker_memory(files: list[Path]) -> dict:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    # the largest photos: the peak is what a worker must be given
    biggest = sorted(files, key=lambda p: -p.stat().st_size)[:20]
    proc = ctx.Process(target=_worker_memory, args=([str(p) for p in biggest], q))
    proc.start()
    out = q.get(timeout=600)
    proc.join()
    return out


def scale(n: int, workers: int, engine: str) -> None:
    """The audit machinery alone on many tiny files: what the driver costs per file at archive scale."""
    from PIL import Image

    from forensics.audit import run_audit

    with tempfile.TemporaryDirectory(prefix="bench-audit-scale-") as d:
        img = Image.new("RGB", (32, 32), (10, 20, 30))
        for i in range(n):
            sub = Path(d) / "in" / f"d{i // 1000:04d}"
            sub.mkdir(parents=True, exist_ok=True)
            img.save(sub / f"{i:07d}.png")
        out = Path(d) / "r.jsonl"
        cpu0, t0 = time.process_time(), time.perf_counter()
        s = run_audit([str(Path(d) / "in")], out, workers=workers, analysers=[], engine=engine)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - t0
        t1 = time.perf_counter()
        again = run_audit([str(Path(d) / "in")], out, workers=workers, analysers=[], engine=engine)
        rerun = time.perf_counter() - t1
        state = sum(p.stat().st_size for p in Path(d).glob("r.jsonl.state.sqlite*"))
        print(f"scale, engine {engine}, no analysers, {n} tiny PNGs, {workers} workers: "
              f"{s.files_per_s:.0f} files/s steady (start-up {s.startup_s:.1f} s, {wall:.1f} s in all); "
              f"driver CPU {cpu / n * 1000:.2f} ms/file; unchanged re-run {rerun:.1f} s "
              f"({n / rerun:.0f} files/s listed, {again.processed} analysed); state {state / n:.0f} B/file")


def _report(r: dict, floor: float) -> None:
    r["rate_total"] = r["files"] / r["total_s"]
    print(f"{r['label']}: {r['rate_total']:.1f} files/s end to end ({r['total_s']:.1f} s incl. scan, "
          f"worker start-up and report), {r['steady']:.1f} files/s once workers were up "
          f"(start-up {r['startup_s']:.1f} s); ratio to the decode floor {floor / r['steady']:.2f}x; "
          f"load {r['load'][0]:.1f}->{r['load'][1]:.1f}; errors {r['errors'] or 'none'}")
    if r["timings"]:
        parts = ", ".join(f"{k} {v:.1f}" for k, v in sorted(r["timings"].items(), key=lambda kv: -kv[1]))
        print(f"  mean ms per file: {parts}")


def profiles(files: list[Path], w: int) -> dict:
    """Issue #15's targets on the same files and processes: quick <= 2x and full <= 4x the decode floor, and
    the parallel efficiency from 1 to w workers (rate with w / (w x rate with 1))."""
    out = {}
    t_floor = decode_floor(files, w)
    floor = len(files) / t_floor
    print(f"decode floor (Pillow open+load, {w} processes): {floor:.1f} files/s ({t_floor:.1f} s), "
          f"load {os.getloadavg()[0]:.1f}")
    dec_cpu = decode_cpu_per_file(files, w)
    print(f"decode floor by CPU time: {dec_cpu * 1000:.1f} ms per file")
    for profile in ("quick", "full"):
        cpu = audit_cpu_per_file(files, w, profile)
        out[f"{profile}_cpu"] = cpu / dec_cpu
        print(f"RATIO {profile} / decode floor by CPU time = {cpu / dec_cpu:.2f}x ({cpu * 1000:.1f} ms per file, "
              f"workers and driver)")
        r = run(files, w, None, f"audit --{profile}, {w} workers", profile)
        _report(r, floor)
        out[profile] = floor / r["steady"]
        m0 = machine_scaling(w)
        one = run(files, 1, None, f"audit --{profile}, 1 worker", profile)
        _report(one, floor)
        m1 = machine_scaling(w)
        eff = r["steady"] / (w * one["steady"])
        out[f"{profile}_efficiency"] = eff
        print(f"RATIO {profile} / decode floor = {out[profile]:.2f}x (target <= {2 if profile == 'quick' else 4}x); "
              f"parallel efficiency 1 -> {w} workers = {eff:.2f} (target >= 0.85); the machine's own scaling on "
              f"a CPU loop meanwhile {m0:.2f} / {m1:.2f}, so relative to it {eff / ((m0 + m1) / 2):.2f}")
        out[f"{profile}_rows"] = r["rows"]
    return out


def detector_batching(files: list[Path], groups=(1, 2, 4, 8)) -> None:
    """Does scoring the tiles of several files in one ONNX run beat one run per file? (1 thread, as in a
    worker.) Tiles are cut once; only the session.run calls are timed, median of 5 passes."""
    from PIL import Image

    from forensics.detect.inference import Detector, tile

    det = Detector.from_pretrained(threads=1)
    tiles = []
    import numpy as np

    for p in files[:max(groups)]:
        with Image.open(p) as im:
            tiles.append(tile(np.asarray(im.convert("RGB")), det.patch, det.max_patches))

    det.session.run(None, {det.input_name: tiles[0]})
    times: dict[int, list[float]] = {g: [] for g in groups}
    for _ in range(7):  # interleaved, so a change in the machine's load hits every batch size alike
        for g in groups:
            batch = np.concatenate(tiles[:g])
            t0 = time.perf_counter()
            det.session.run(None, {det.input_name: batch})
            times[g].append(time.perf_counter() - t0)
    base = statistics.median(times[groups[0]]) / len(tiles[0])
    for g in groups:
        t = statistics.median(times[g])
        n = sum(len(x) for x in tiles[:g])
        print(f"detector batching: {g} file(s) per run ({n} tiles of {det.patch}^2): {t * 1000 / n:.2f} ms per "
              f"tile ({base / (t / n):.2f}x the per-tile speed of one file per run)")


def compare(files: list[Path], w: int, skip_engine_only: bool) -> tuple[float, dict]:
    n = len(files)
    t_floor = decode_floor(files, w)
    floor = n / t_floor
    print(f"decode floor (Pillow open+load, {w} processes): {floor:.1f} files/s ({t_floor:.1f} s)")

    results = []
    if not skip_engine_only:
        results.append(run(files, w, [], "audit, engine only (no analysers)"))
    results.append(run(files, w, None, "audit, all signals (default analysers)"))
    for r in results:
        r["rate_total"] = r["files"] / r["total_s"]
        print(f"{r['label']}: {r['rate_total']:.1f} files/s end to end ({r['total_s']:.1f} s incl. scan, "
              f"worker start-up and report), {r['steady']:.1f} files/s once workers were up "
              f"(start-up {r['startup_s']:.1f} s); "
              f"ratio to the decode floor {floor / r['steady']:.2f}x; errors {r['errors'] or 'none'}")
        if r["timings"]:
            parts = ", ".join(f"{k} {v:.1f}" for k, v in sorted(r["timings"].items(), key=lambda kv: -kv[1]))
            print(f"  mean ms per file: {parts}")
        if r["analyser_errors"]:
            print(f"  analyser errors: {'; '.join(r['analyser_errors'])}")
    full = results[-1]
    print(f"RATIO audit(all signals) / decode floor = {floor / full['steady']:.2f}x steady state, "
          f"{floor / full['rate_total']:.2f}x end to end (target <= 2x)")
    return floor, full


def camera_like(photos: list[Path], n: int, d: Path) -> list[Path]:
    """n synthetic 12-MP camera-sized JPEGs (q92): photos up-scaled to 4000x3000 plus sensor-like noise, so
    the files decode like camera files (~4-6 MB of entropy), not like smooth up-scales."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        with Image.open(photos[i * len(photos) // n]) as im:
            big = np.asarray(im.convert("RGB").resize((4000, 3000), Image.LANCZOS), dtype=np.int16)
        noise = rng.normal(0, 4, big.shape[:2] + (1,)).astype(np.int16)
        path = d / f"cam{i:03d}.jpg"
        Image.fromarray(np.clip(big + noise, 0, 255).astype(np.uint8)).save(path, quality=92)
        out.append(path)
    return out


def seed_registry(path: Path, n: int) -> None:
    """A manifest repository with n records (random pHash and watermark values), so the recovery analyser
    does its lookups as it would against a real newsroom repository instead of finding none."""
    import secrets

    from forensics.provenance.repository import ManifestRepository

    repo = ManifestRepository(f"sqlite:///{path}")
    for i in range(n):
        repo.store(manifest_id=f"urn:uuid:bench-{i}", manifest_store={"bench": i}, watermark_scheme="fsw-v1",
                   watermark_value=secrets.token_hex(6), phash=secrets.token_hex(8), media_type="image/png",
                   validation_state="Valid")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--photos", type=Path, default=REPO.parent / "shared" / "data" / "photos")
    ap.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--limit", type=int, default=None, help="use only the first N photos")
    ap.add_argument("--skip-engine-only", action="store_true")
    ap.add_argument("--scale", type=int, default=0, metavar="N",
                    help="also run the machinery alone on N generated tiny files (driver cost per file)")
    ap.add_argument("--scale-engine", default="local", choices=["local", "ray"])
    ap.add_argument("--only-scale", action="store_true", help="skip the photo benchmark")
    ap.add_argument("--camera-like", type=int, default=0, metavar="N",
                    help="also compare on N synthetic 12-MP camera-sized JPEGs (the ratio depends on file size): "
                         "the quick and full profiles, and the parallel efficiency 1 -> N workers")
    ap.add_argument("--only-camera-like", action="store_true", help="skip the photo benchmark")
    ap.add_argument("--detector-batching", action="store_true",
                    help="time ONNX runs over the tiles of 1, 2, 4, 8 files at once (camera-like files)")
    ap.add_argument("--registry-records", type=int, default=2000, metavar="N",
                    help="seed a temporary manifest repository with N records for the recovery lookups (0: none)")
    args = ap.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # progress visible when redirected to a file
    if args.registry_records:
        reg_dir = tempfile.TemporaryDirectory(prefix="bench-audit-registry-")
        reg = Path(reg_dir.name) / "registry.sqlite"
        t = time.perf_counter()
        seed_registry(reg, args.registry_records)
        os.environ["FORENSICS_REGISTRY"] = str(reg)  # the spawned audit workers inherit it
        print(f"manifest repository: {args.registry_records} records ({time.perf_counter() - t:.1f} s to seed)")

    if args.scale:
        scale(args.scale, args.workers, args.scale_engine)
    if args.only_scale:
        return
    files = _media_files(args.photos, args.limit)
    n, w = len(files), args.workers
    if args.only_camera_like:
        with tempfile.TemporaryDirectory(prefix="bench-audit-cam-") as d:
            cams = camera_like(files, args.camera_like or 40, Path(d))
            mb = sum(p.stat().st_size for p in cams) / 1e6
            print(f"camera-like: {len(cams)} synthetic 4000x3000 JPEGs q92 ({mb:.0f} MB), {w} processes, "
                  f"load {os.getloadavg()}")
            if args.detector_batching:
                print(f"small photos ({args.photos}):")
                detector_batching(files[:8])
                print("camera-like:")
                detector_batching(cams)
            profiles(cams, w)
        return
    size_mb = sum(p.stat().st_size for p in files) / 1e6
    print(f"{n} files ({size_mb:.1f} MB) from {args.photos}, {w} processes, {os.cpu_count()} CPUs")

    floor, full = compare(files, w, args.skip_engine_only)
    # Like for like: the floor is timed with its processes already started, so the audit's steady-state
    # rate (from the first worker with its models loaded) is the comparable figure; end to end is printed too.
    per_core = full["steady"] / w
    dominant = max(full["timings"].items(), key=lambda kv: kv[1]) if full["timings"] else ("-", 0)
    print(f"per core: {per_core:.2f} files/s/core; dominant analyser: {dominant[0]} ({dominant[1]:.0f} ms/file)")
    print(f"10 million files at this rate: {1e7 / per_core / 3600:.0f} core-hours")
    print(f"report size: {full['jsonl_bytes'] / full['files']:.0f} B/file JSONL, "
          f"{full['state_bytes'] / full['files']:.0f} B/file state SQLite "
          f"(10 million files: {full['jsonl_bytes'] / full['files'] * 1e7 / 1e9:.1f} GB JSONL, "
          f"{full['state_bytes'] / full['files'] * 1e7 / 1e9:.1f} GB state)")
    if args.camera_like:
        with tempfile.TemporaryDirectory(prefix="bench-audit-cam-") as d:
            cams = camera_like(files, args.camera_like, Path(d))
            mb = sum(p.stat().st_size for p in cams) / 1e6
            print(f"\ncamera-like: {len(cams)} synthetic 4000x3000 JPEGs q92 ({mb:.0f} MB), {w} processes")
            compare(cams, w, skip_engine_only=True)
    mem = worker_memory(files)
    print(f"worker memory (all signals): {mem['rss_warm'] / 2**20:.0f} MiB RSS after warm-up, "
          f"{mem['rss_peak'] / 2**20:.0f} MiB peak over the 20 largest photos")


if __name__ == "__main__":
    main()
