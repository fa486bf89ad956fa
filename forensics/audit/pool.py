"""The local engine: long-lived worker processes, one pipe each, supervised by the parent.

Why not ``ProcessPoolExecutor``: with ``max_tasks_per_child=1`` every file would pay for loading the
models again, and without it a worker that hangs or is killed takes the whole executor down
(``BrokenProcessPool``) and there is no per-task time limit. Here each worker loads the models once and
serves files until it misbehaves; the parent waits on every worker's pipe *and* its process sentinel,
so a worker that overruns its time limit is killed (SIGKILL), one that dies is noticed at once, and
either way that file gets an error row and a fresh worker takes the slot. One pipe per worker (instead
of a shared queue) means a killed worker can never corrupt what the others are sending.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import time
from collections import deque
from dataclasses import dataclass
from multiprocessing.connection import wait
from typing import Iterable, Iterator

from .state import Todo
from .worker import WorkerConfig, error_row

STARTUP_TIMEOUT_S = 300.0


class AuditError(RuntimeError):
    """The audit as a whole cannot run (workers cannot start, Ray not reachable…)."""


def _worker_main(conn, config: WorkerConfig) -> None:  # runs in the child
    import signal

    from .worker import limit_threads

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle: it stops the workers
    limit_threads()
    try:
        from .worker import WorkerState

        state = WorkerState(config)
    except BaseException as exc:  # noqa: BLE001 - report why the worker cannot start, then exit
        try:
            conn.send(("fatal", f"{type(exc).__name__}: {exc}"))
        except OSError:
            pass
        return
    conn.send(("ready", os.getpid()))
    while True:
        try:
            todo = conn.recv()
        except (EOFError, OSError):  # the parent is gone (even after kill -9): stop
            return
        if todo is None:
            return
        result = state.process(todo)
        result["recycle"] = state.recycle
        try:
            conn.send(("result", result))
        except OSError:  # the parent died while we worked
            return
        if state.recycle:  # after a MemoryError the heap may be in a poor state: let a fresh worker continue
            return


@dataclass
class _Slot:
    proc: mp.process.BaseProcess
    conn: object
    ready: bool = False
    todo: Todo | None = None
    deadline: float = 0.0
    started: float = 0.0


class LocalPool:
    def __init__(self, config: WorkerConfig, workers: int, timeout_per_file: float | None):
        self.config = config
        self.workers = max(1, workers)
        self.timeout = timeout_per_file
        # spawn, not fork: the parent may hold threads (progress bar, SQLite) and fork would copy their locks
        self.ctx = mp.get_context("spawn")
        self.startup_failures = 0
        self.last_fatal: str | None = None
        self.respawned = 0
        self.first_ready: float | None = None  # when the first worker had its models loaded
        self.all_ready: float | None = None  # when every worker had (the steady state starts)
        self.results_before_all_ready = 0
        self._ready_pids: set[int] = set()

    def _start(self) -> _Slot:
        parent, child = self.ctx.Pipe(duplex=True)
        proc = self.ctx.Process(target=_worker_main, args=(child, self.config), daemon=True,
                                name="forensics-audit-worker")
        proc.start()
        child.close()
        return _Slot(proc=proc, conn=parent, started=time.monotonic())

    @staticmethod
    def _kill(slot: _Slot) -> None:
        if slot.proc.is_alive():
            slot.proc.kill()
        slot.proc.join(5)
        slot.conn.close()

    def _restart(self, slots: list[_Slot], i: int) -> None:
        self._kill(slots[i])
        slots[i] = self._start()
        self.respawned += 1

    def results(self, todos: Iterable[Todo]) -> Iterator[tuple[Todo, dict]]:
        """Run every todo; yield (todo, result) as they finish, in completion order."""
        it = iter(todos)
        retry: deque[Todo] = deque()  # handed to a worker that turned out to be dead: not the file's fault
        exhausted = False
        slots = [self._start() for _ in range(self.workers)]
        try:
            while True:
                now = time.monotonic()
                for i, s in enumerate(slots):
                    if not (s.ready and s.todo is None):
                        continue
                    if retry:
                        todo = retry.popleft()
                    elif exhausted:
                        break
                    else:
                        todo = next(it, None)
                        if todo is None:
                            exhausted = True
                            break
                    try:
                        s.conn.send(todo)
                    except OSError:  # died while idle (e.g. the OOM killer): retry elsewhere
                        retry.append(todo)
                        self._restart(slots, i)
                        continue
                    s.todo = todo
                    s.deadline = now + self.timeout if self.timeout else float("inf")
                if exhausted and not retry and all(s.todo is None for s in slots):
                    return
                deadlines = [s.deadline for s in slots if s.todo is not None]
                deadlines += [s.started + STARTUP_TIMEOUT_S for s in slots if not s.ready]
                wait_s = max(0.0, min(deadlines) - now) if deadlines else None
                ready = set(wait([s.conn for s in slots] + [s.proc.sentinel for s in slots], timeout=wait_s))
                now = time.monotonic()
                for i, s in enumerate(slots):
                    if s.conn in ready:
                        try:
                            kind, payload = s.conn.recv()
                        except (EOFError, OSError):
                            kind, payload = "dead", None
                        if kind == "ready":
                            s.ready = True
                            self.startup_failures = 0
                            self.first_ready = self.first_ready or time.monotonic()
                            self._ready_pids.add(payload)
                            if self.all_ready is None and len(self._ready_pids) >= self.workers:
                                self.all_ready = time.monotonic()
                        elif kind == "result":
                            todo, s.todo = s.todo, None
                            self.results_before_all_ready += self.all_ready is None
                            yield todo, payload
                            if payload.get("recycle"):  # the worker exits after a MemoryError
                                self._restart(slots, i)
                        else:
                            if kind == "fatal":
                                self.last_fatal = payload
                            yield from self._died(slots, i, "worker_crashed")
                    elif s.proc.sentinel in ready:
                        yield from self._died(slots, i, "worker_crashed")
                    elif s.todo is not None and now >= s.deadline:
                        yield from self._died(slots, i, "timeout")
                    elif not s.ready and now >= s.started + STARTUP_TIMEOUT_S:
                        self.last_fatal = f"a worker did not start within {STARTUP_TIMEOUT_S:.0f} s"
                        yield from self._died(slots, i, "startup")
        finally:
            for s in slots:
                try:
                    s.conn.send(None)
                except OSError:
                    pass
            for s in slots:
                s.proc.join(2)
                self._kill(s)

    def _died(self, slots: list[_Slot], i: int, why: str) -> Iterator[tuple[Todo, dict]]:
        """Replace worker ``i``; if it was working on a file, that file gets an error row."""
        s = slots[i]
        todo = s.todo
        self._kill(s)
        if not s.ready:  # died or hung before it was ready: a startup problem, not a file problem
            self.startup_failures += 1
            if self.startup_failures > 2 * self.workers:
                raise AuditError("audit workers cannot start: " + (self.last_fatal or "they exit at startup"))
        slots[i] = self._start()
        self.respawned += 1
        if todo is None:
            return
        if why == "timeout":
            code = "timeout"
            msg = f"gave up after {self.timeout:g} s (per-file time limit); the worker was stopped"
        else:
            code = "worker_crashed"
            rc = s.proc.exitcode
            how = f"signal {-rc}" if rc is not None and rc < 0 else f"exit code {rc}"
            msg = f"the worker process died while analysing this file ({how}); a new worker took over"
        yield todo, {"status": "done", "row": error_row(todo.display, code, msg)}


def default_workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS / Windows
        return os.cpu_count() or 1
