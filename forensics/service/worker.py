"""One model per process, one worker thread that owns it, and a bounded queue in front of it.

The event loop never blocks on the model: ``submit`` either enqueues at once or raises :class:`QueueFull`
(the app answers 429 + Retry-After), and the request awaits a future with a timeout (504). A job whose
caller gave up is skipped if it has not started, and aborted at the next sampler step if it has (through the
generator's progress callback), so abandoned work does not pile up.
"""
from __future__ import annotations

import concurrent.futures as cf
import logging
import math
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from ..generate.pipeline import accepts_keyword

log = logging.getLogger(__name__)


class QueueFull(Exception):
    def __init__(self, retry_after: int):
        super().__init__(f"generation queue is full; retry after {retry_after} s")
        self.retry_after = retry_after


class GeneratorUnavailable(Exception):
    pass


class JobCancelled(Exception):
    """Raised inside the sampler's progress callback to stop a job nobody waits for any more."""


@dataclass
class Job:
    params: dict
    future: cf.Future = field(default_factory=cf.Future)
    cancelled: threading.Event = field(default_factory=threading.Event)

    def cancel(self) -> None:
        self.cancelled.set()
        self.future.cancel()


_STOP = object()


class GenerationWorker:
    def __init__(self, load: Callable[[], Any], maxsize: int = 4):
        self._load = load
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, maxsize))
        self._thread: threading.Thread | None = None
        self.generator: Any = None
        self.state = "idle"  # idle | loading | ready | failed | stopped
        self.error: str | None = None
        self.ready = threading.Event()
        self.running = 0
        self.completed = 0
        self._mean_s = 10.0  # running mean of job duration, for Retry-After (first guess: 10 s)

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            self.state = "loading"
            self._thread = threading.Thread(target=self._run, name="forensics-generate", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        if self._thread is None:
            return
        # Drop waiting jobs (their callers get an error) and wake the thread.
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(job, Job):
                job.future.cancel()
        try:
            self._queue.put(_STOP, timeout=timeout)
        except queue.Full:
            pass
        self._thread.join(timeout)
        self._thread = None
        self.state = "stopped"

    # -- submission --------------------------------------------------------------------------
    @property
    def waiting(self) -> int:
        return self._queue.qsize()

    def retry_after(self) -> int:
        return max(1, math.ceil(self._mean_s * (self.waiting + self.running)))

    def submit(self, params: dict) -> Job:
        if self.state == "failed":
            raise GeneratorUnavailable(self.error or "the model failed to load")
        if self.state in ("idle", "stopped"):
            raise GeneratorUnavailable("the generation worker is not running")
        job = Job(params)
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            raise QueueFull(self.retry_after()) from None
        return job

    # -- the thread --------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            self.generator = self._load()
        except BaseException as exc:  # the server keeps serving verification; generation answers 503
            log.error("model failed to load: %s", exc)
            self.error = f"the model failed to load: {exc}"
            self.state = "failed"
            self.ready.set()
            while (job := self._queue.get()) is not _STOP:
                job.future.set_exception(GeneratorUnavailable(self.error))
            return
        self.state = "ready"
        self.ready.set()
        takes_progress = accepts_keyword(self.generator.generate, "progress")
        make_request = getattr(self.generator, "request_factory", None) or _default_request
        while True:
            job = self._queue.get()
            if job is _STOP:
                break
            if job.cancelled.is_set() or not job.future.set_running_or_notify_cancel():
                continue

            def progress(*_a, _job=job, **_k):
                if _job.cancelled.is_set():
                    raise JobCancelled("the request timed out")

            self.running = 1
            t0 = time.perf_counter()
            try:
                request = make_request(**job.params)
                kwargs = {"progress": progress} if takes_progress else {}
                result = self.generator.generate(request, **kwargs)
            except BaseException as exc:
                job.future.set_exception(exc)
            else:
                job.future.set_result(result)
            finally:
                self.running = 0
                self.completed += 1
                dt = time.perf_counter() - t0
                self._mean_s = dt if self.completed == 1 else 0.8 * self._mean_s + 0.2 * dt


def _default_request(**params):
    from ..generate import GenerationRequest

    return GenerationRequest(**params)
