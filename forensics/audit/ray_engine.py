"""The Ray engine: the same per-file function in Ray actors, one Verifier (models loaded once) per actor.

The driver keeps the SQLite state and writes the report exactly as the local engine does; only where
``WorkerState.process`` runs changes. Each actor serves one file at a time; an actor that overruns the
per-file time limit is killed (``ray.kill``) and replaced. Local paths must be readable at the same path
on every node (shared storage); fsspec URLs (s3://, gs://…) are read by the actors themselves.

When an actor dies, the driver asks why: if its *node* is gone (Ray reports the actor unavailable, or its
node dead), the file is not to blame — it goes back to the queue and another actor, on a node that is still there, does
it again (at most ``MAX_NODE_RETRIES`` times). Only an actor that died on a live node (a decoder segfault,
the OOM killer) gives the file a ``worker_crashed`` row. Actors are created with ``max_restarts=0`` and
``max_task_retries=0`` (Ray's at-most-once default): retrying is the driver's decision, so a file that
crashes its worker every time is not retried forever. Results are recorded by the driver alone, once per
file, so a task that ran twice (once on the lost node) still gives one row.
"""
from __future__ import annotations

import time
from collections import deque
from typing import Iterable, Iterator

from .pool import STARTUP_TIMEOUT_S, AuditError
from .state import Todo
from .worker import WorkerConfig, error_row

MAX_NODE_RETRIES = 3  # times one file is sent again because the node under its actor was lost


class _AuditActor:
    def __init__(self, config: WorkerConfig):
        from .worker import WorkerState, limit_threads

        limit_threads()
        self.state = WorkerState(config)

    def ready(self) -> str:
        import ray

        return ray.get_runtime_context().get_node_id()  # where it runs: to tell node loss from a crash

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
        self.resubmitted = 0  # files sent again after their node was lost
        self.first_ready: float | None = None  # when the first actor had its models loaded
        self.all_ready: float | None = None  # when every first actor had (the steady state starts)
        self.results_before_all_ready = 0

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

    @staticmethod
    def _node_lost(ray, node: str | None, exc) -> bool:
        """Did the actor die with its node (not the file's fault)? A lost node shows up as the actor being
        unavailable (its connection dropped) or, once Ray has noticed, as an actor whose node is dead; a
        worker that crashed on a live node is reported as a death with its exit detail."""
        from ray.exceptions import ActorUnavailableError

        if isinstance(exc, ActorUnavailableError) or getattr(exc, "preempted", False):
            return True
        if node is None:
            return False
        try:
            return not {n["NodeID"]: n["Alive"] for n in ray.nodes()}.get(node, False)
        except Exception:  # the GCS itself unreachable: the driver fails on its own soon
            return False

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
        node_of: dict = {}  # actor -> node id (from its ready())
        retry: deque = deque()  # files whose actor was lost with its node: done again first
        retries: dict[str, int] = {}
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
                while idle and (retry or not exhausted):
                    todo = retry.popleft() if retry else next(it, None)
                    if todo is None:
                        exhausted = True
                        break
                    actor = idle.popleft()
                    deadline = time.monotonic() + self.timeout if self.timeout else float("inf")
                    running[actor.process.remote(todo)] = (actor, todo, deadline)
                if exhausted and not running and not retry:
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
                            node_of[actor] = ray.get(ref)
                            idle.append(actor)
                            failures = 0
                            self.first_ready = self.first_ready or time.monotonic()
                            if self.all_ready is None and len(node_of) >= n:
                                self.all_ready = time.monotonic()
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
                    except RayActorError as exc:
                        node = node_of.pop(actor, None)
                        replace(actor)
                        if self._node_lost(ray, node, exc) and retries.get(todo.key, 0) < MAX_NODE_RETRIES:
                            retries[todo.key] = retries.get(todo.key, 0) + 1
                            retry.append(todo)  # redone on a node that is still there
                            self.resubmitted += 1
                            continue
                        lost = retries.get(todo.key)
                        yield todo, {"status": "done", "row": error_row(
                            todo.display, "worker_crashed",
                            f"the Ray node was lost {lost} times while analysing this file" if lost else
                            "the Ray actor died while analysing this file; a new actor took over")}
                        continue
                    except RayError as exc:
                        yield todo, {"status": "done", "row": error_row(
                            todo.display, "internal", f"Ray task failed: {type(exc).__name__}")}
                        replace(actor)
                        continue
                    self.results_before_all_ready += self.all_ready is None
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
                        if idle or running:  # waits for a free CPU (a lost node's share): not a failure
                            starting[ref] = (actor, now)
                            continue
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
