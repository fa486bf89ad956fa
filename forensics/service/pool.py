"""Verification off the event loop, in a bounded pool.

Default: worker *processes* (spawned, never forked from the threaded server), each recycled after
``verify_max_tasks_per_worker`` files. Uploaded files are attacker-controlled input to native decoders
(libjpeg/libpng via Pillow and OpenCV, c2pa-rs, onnxruntime); in a separate process a crash or a leak in
one of them costs one request, not the server. A measured leak as well: bchlib 2.1.3's ``BCH.decode``
keeps a reference to its argument buffers on every call (an in-process verifier grew by 88 KB per image
with the watermark detector of 10:25 UTC, 2.8 KB with the one of 10:55, which decodes less often).
``verify_isolation = "thread"`` keeps everything in-process (faster start, used by most unit tests).

Budgets per upload: the pixel count is checked in the file header before any decode
(``verify_max_pixels``), and each worker process's address space is capped at its warmed-up size plus
``verify_memory_mb`` (RLIMIT_AS; not in thread mode, where a cap would bind the whole server).

Recycling is done here, not with ``ProcessPoolExecutor(max_tasks_per_child=…)``: on Python 3.11-3.13 that
option can deadlock the pool once a worker exits at its limit with work queued (CPython gh-115634) — seen
here as a hung load test. After ``max_tasks`` submissions the pool is retired instead (``shutdown(wait=False)``:
its queued and running files finish, then its workers exit) and a fresh, pre-warmed pool takes new work.

At most ``max_pending`` uploads are queued or running; beyond that the answer is 429.
"""
from __future__ import annotations

import asyncio
import multiprocessing
import threading
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from fastapi import HTTPException

from ..resources import set_memory_cap

# -- what runs in a worker (module level: picklable for process pools) ----------------------------
_local = threading.local()


def _verifier(options):
    v = getattr(_local, "verifier", None)
    if v is None:
        from ..verify import Verifier

        v = _local.verifier = Verifier(options)
    return v


def _scrub(value, path: str, name: str):
    """``value`` with the server's temporary path replaced by the client's file name (or "upload")."""
    if isinstance(value, str):
        return value.replace(path, name)
    if isinstance(value, dict):
        return {k: _scrub(v, path, name) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v, path, name) for v in value]
    return value


def verify_job(options, path: str, name: str) -> dict:
    from ..report import ErrorInfo
    from ..verdict import decide

    report = _verifier(options).verify(Path(path), display_path=name)
    if report.error is None and any("MemoryError" in str(e.get("message", "")) for e in report.analyser_errors):
        report.error = ErrorInfo("too_large", "the file needs more memory than one verification may use "
                                              "(the server's per-upload budget)")
        report.verdict = decide(report)
    return _scrub(report.to_json(), path, name)


def content_job(registry_url: str, path: str, alg: str | None, max_results: int, max_pixels: int | None = None
                ) -> list:
    from ..errors import ForensicsError
    from .resolve import Resolver

    try:
        return Resolver(registry_url).by_content(Path(path), alg, max_results, max_pixels=max_pixels)
    except ForensicsError as exc:
        exc.args = (_scrub(exc.message, path, "upload"),)
        raise
    except MemoryError:
        from ..errors import TooLarge

        raise TooLarge("the image needs more memory than one lookup may use") from None


def warm_job(options) -> bool:
    """Import and build the analysers before the first upload arrives."""
    _verifier(options)
    return True


def init_worker(options, memory_bytes: int) -> None:
    """Each verify worker process: build and warm the analysers (models load on first use), then cap the
    address space at what that took plus ``memory_bytes``, so a hostile file costs a MemoryError (422
    too_large) in that worker rather than the machine's memory."""
    try:
        import tempfile

        import numpy as np
        from PIL import Image

        v = _verifier(options)
        with tempfile.TemporaryDirectory(prefix="forensics-warm-") as d:
            warm = Path(d) / "warm.png"
            Image.fromarray(np.random.default_rng(0).integers(0, 255, (256, 256, 3), dtype=np.uint8)).save(warm)
            v.verify(warm)
    except Exception:  # warm-up is best effort; a broken analyser shows up per file
        pass
    if memory_bytes:
        set_memory_cap(memory_bytes)


class WorkerCrashed(Exception):
    pass


class VerifyPool:
    def __init__(self, settings):
        from ..analysers import VerifyOptions

        self.options = VerifyOptions(trust_anchors=list(settings.trust_anchors),
                                     registry_url=settings.resolved_registry_url(), detector=settings.detector,
                                     max_pixels=settings.verify_max_pixels,
                                     max_bytes=settings.max_upload_bytes + 64 * 1024)
        self.max_pixels = settings.verify_max_pixels
        self.memory_bytes = settings.verify_memory_mb * 1024 * 1024
        self.registry_url = settings.resolved_registry_url()
        self.workers = max(1, settings.verify_workers)
        self.isolation = settings.verify_isolation
        self.max_tasks = settings.verify_max_tasks_per_worker
        self.max_pending = settings.max_pending_verify
        self.timeout = settings.verify_timeout_s
        self.pending = 0  # touched only on the event loop thread
        self._executor: Executor | None = None
        self._submitted = 0  # files handed to the current pool
        self._lock = threading.Lock()
        self.generation = 0  # how many pools have been started (recycling and crash recovery)

    def _new_executor(self) -> Executor:
        self.generation += 1
        self._submitted = 0
        if self.isolation == "process":
            ex: Executor = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                               initializer=init_worker, initargs=(self.options, self.memory_bytes))
            for _ in range(self.workers):  # start and warm the workers now, not on the next upload
                ex.submit(warm_job, self.options)
            return ex
        return ThreadPoolExecutor(self.workers, thread_name_prefix="forensics-verify")

    def _submit(self, fn, *args):
        with self._lock:
            if (self._executor is not None and self.isolation == "process" and self.max_tasks
                    and self._submitted >= self.max_tasks):
                old, self._executor = self._executor, None
                old.shutdown(wait=False)  # finishes what it holds, then its workers exit
            if self._executor is None:
                self._executor = self._new_executor()
            self._submitted += 1
            return self._executor.submit(fn, *args)

    def warm(self) -> None:
        with self._lock:
            if self._executor is None:
                self._executor = self._new_executor()

    async def run(self, fn, *args):
        if self.pending >= self.max_pending:
            raise HTTPException(429, "too many verifications in progress; retry shortly",
                                headers={"Retry-After": "2"})
        self.pending += 1
        try:
            fut = self._submit(fn, *args)
            return await asyncio.wait_for(asyncio.wrap_future(fut), self.timeout)
        except TimeoutError:
            raise HTTPException(504, "verification took too long") from None
        except BrokenProcessPool:
            # a worker died (native crash, OOM kill): replace the pool, fail only the requests it held
            with self._lock:
                broken, self._executor = self._executor, None
            if broken is not None:
                broken.shutdown(wait=False, cancel_futures=True)
            raise WorkerCrashed("the verification worker stopped while processing this file") from None
        finally:
            self.pending -= 1

    async def verify(self, path: Path, name: str) -> dict:
        return await self.run(verify_job, self.options, str(path), name)

    async def by_content(self, path: Path, alg: str | None, max_results: int) -> list:
        return await self.run(content_job, self.registry_url, str(path), alg, max_results, self.max_pixels)

    def close(self) -> None:
        with self._lock:
            ex, self._executor = self._executor, None
        if ex is not None:
            ex.shutdown(wait=True, cancel_futures=True)
