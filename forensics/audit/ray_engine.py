"""The Ray engine: the same per-file function in Ray actors, one Verifier (models loaded once) per actor.

The driver keeps the SQLite state and writes the report exactly as the local engine does; only where
``WorkerState.process`` runs changes. Each actor serves one file at a time; an actor that overruns the
per-file time limit is killed (``ray.kill``) and replaced, an actor that dies yields a ``worker_crashed``
row. Local paths must be readable at the same path on every node (shared storage); fsspec URLs (s3://,
gs://…) are read by the actors themselves.
"""
from __future__ import annotations

import time
from collections import deque
from typing import Iterable, Iterator

from .pool import STARTUP_TIMEOUT_S, AuditError
from .state import Todo
from .worker import WorkerConfig, error_row


class _AuditActor:
    def __init__(self, config: WorkerConfig):
        from .worker import WorkerState, limit_threads

        limit_threads()
        self.state = WorkerState(config)

    def ready(self) -> bool:
        return True

    def process(self, todo: Todo) -> dict:
        out = self.state.process(todo)
        out["recycle"] = self.state.recycle
        return out


class RayPool:
    def __init__(self, config: WorkerConfig, workers: int | None, timeout_per_file: float | None,
                 address: str | None = None, limit: int | None = None):
        self.config = config
        self.workers = workers
        self.timeout = timeout_per_file
        self.address = address
        self.limit = limit
        self.respawned = 0
        self.first_ready: float | None = None  # when the first actor had its models loaded

    def results(self, todos: Iterable[Todo]) -> Iterator[tuple[Todo, dict]]:
        try:
            import ray
        except ImportError:
            raise AuditError("--engine ray needs Ray: pip install 'forensics-suite[ray]'") from None
        started_here = not ray.is_initialized()
        if started_here:
            try:
                # address=None starts a local Ray for this run; "auto" or "ray://host:10001" joins a cluster
                ray.init(address=self.address, num_cpus=self.workers if self.address is None else None,
                         include_dashboard=False, log_to_driver=False, configure_logging=False)
            except Exception as exc:
                raise AuditError(f"cannot start or reach Ray ({self.address or 'local'}): {exc}") from None
        try:
            yield from self._run(ray, todos)
        finally:
            if started_here:
                ray.shutdown()

    def _run(self, ray, todos: Iterable[Todo]) -> Iterator[tuple[Todo, dict]]:
        from ray.exceptions import RayActorError, RayError

        n = self.workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        n = min(n, self.limit) if self.limit else n  # no more actors than files to analyse
        Actor = ray.remote(num_cpus=1, max_restarts=0, max_task_retries=0)(_AuditActor)

        def start():
            a = Actor.remote(self.config)
            return a, a.ready.remote(), time.monotonic()

        idle: deque = deque()
        starting: dict = {}  # ready ref -> (actor, t0)
        running: dict = {}  # result ref -> (actor, todo, deadline)
        for _ in range(n):
            a, ref, t0 = start()
            starting[ref] = (a, t0)
        it = iter(todos)
        exhausted = False
        failures = 0
        last_error = ""

        def replace(actor):
            try:
                ray.kill(actor, no_restart=True)
            except Exception:
                pass
            a, ref, t0 = start()
            starting[ref] = (a, t0)
            self.respawned += 1

        try:
            while True:
                while idle and not exhausted:
                    todo = next(it, None)
                    if todo is None:
                        exhausted = True
                        break
                    actor = idle.popleft()
                    deadline = time.monotonic() + self.timeout if self.timeout else float("inf")
                    running[actor.process.remote(todo)] = (actor, todo, deadline)
                if exhausted and not running:
                    return
                refs = list(starting) + list(running)
                now = time.monotonic()
                deadlines = [d for (_, _, d) in running.values()] + [t0 + STARTUP_TIMEOUT_S for (_, t0) in starting.values()]
                wait_s = max(0.0, min(deadlines) - now) if deadlines else None
                done, rest = ray.wait(refs, num_returns=1, timeout=wait_s)
                if done and rest:  # collect everything else already finished in the same pass (big clusters)
                    more, _ = ray.wait(rest, num_returns=len(rest), timeout=0)
                    done += more
                now = time.monotonic()
                for ref in done:
                    if ref in starting:
                        actor, _ = starting.pop(ref)
                        try:
                            ray.get(ref)
                            idle.append(actor)
                            failures = 0
                            self.first_ready = self.first_ready or time.monotonic()
                        except RayError as exc:
                            failures += 1
                            last_error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                            if failures > 2 * n:
                                raise AuditError(f"Ray audit actors cannot start: {last_error}") from None
                            replace(actor)
                        continue
                    actor, todo, _ = running.pop(ref)
                    try:
                        result = ray.get(ref)
                    except RayActorError:
                        yield todo, {"status": "done", "row": error_row(
                            todo.display, "worker_crashed",
                            "the Ray actor died while analysing this file; a new actor took over")}
                        replace(actor)
                        continue
                    except RayError as exc:
                        yield todo, {"status": "done", "row": error_row(
                            todo.display, "internal", f"Ray task failed: {type(exc).__name__}")}
                        replace(actor)
                        continue
                    yield todo, result
                    if result.get("recycle"):
                        replace(actor)
                    else:
                        idle.append(actor)
                for ref, (actor, todo, deadline) in list(running.items()):
                    if now >= deadline:
                        del running[ref]
                        yield todo, {"status": "done", "row": error_row(
                            todo.display, "timeout",
                            f"gave up after {self.timeout:g} s (per-file time limit); the actor was stopped")}
                        replace(actor)
                for ref, (actor, t0) in list(starting.items()):
                    if now >= t0 + STARTUP_TIMEOUT_S:
                        del starting[ref]
                        failures += 1
                        if failures > 2 * n:
                            raise AuditError("Ray audit actors did not start in time")
                        replace(actor)
        finally:
            for actor, *_ in list(starting.values()) + list(running.values()):
                try:
                    ray.kill(actor, no_restart=True)
                except Exception:
                    pass
            for actor in idle:
                try:
                    ray.kill(actor, no_restart=True)
                except Exception:
                    pass
