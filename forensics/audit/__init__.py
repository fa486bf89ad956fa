"""Batch audit: the verification of ``forensics verify`` over folders, globs and fsspec URLs, in parallel,
resumable, with JSONL / CSV / Parquet / HTML reports.

    from forensics.audit import run_audit
    summary = run_audit(["archive/"], "report.jsonl", html="report.html", workers=8)

The pipeline has three phases, all driven from the SQLite state beside the report:

1. **scan** — list the inputs (stat / object listing only) into the state, in a stable order;
2. **audit** — send every input whose stored result cannot be reused to the workers (local processes or
   Ray actors, each holding one :class:`~forensics.verify.Verifier`), committing each result as it comes;
3. **report** — stream the stored results, in scan order, into the report files (temp file + rename).
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sqlite3
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from .. import __version__
from ..analysers import DEFAULT_ANALYSERS, VerifyOptions
from .pool import AuditError, LocalPool, default_workers
from .state import AuditState, StateLocked, state_path_for
from .worker import WorkerConfig

__all__ = ["run_audit", "AuditSummary", "AuditError", "state_path_for", "DEFAULT_TIMEOUT_S",
           "DEFAULT_MEMORY_MIB"]

DEFAULT_TIMEOUT_S = 120.0
DEFAULT_MEMORY_MIB = 2048


@dataclass
class AuditSummary:
    report: str
    state: str
    engine: str
    workers: int | None
    inputs: int = 0  # everything the scan listed
    reported: int = 0  # rows in the report (inputs minus skipped non-media files)
    skipped: int = 0  # files found in folders that are not images or videos
    processed: int = 0  # images and videos analysed by a worker in this run
    reused: int = 0  # results reused from the state (unchanged since the last run, or resumed)
    verdicts: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    elapsed_s: float = 0.0
    audit_s: float = 0.0  # phase 2 (workers running), worker start-up included
    startup_s: float = 0.0  # of which: until the first worker had loaded its models
    outputs: dict[str, str] = field(default_factory=dict)

    @property
    def failed(self) -> int:
        return sum(self.errors.values())

    @property
    def files_per_s(self) -> float:
        busy = self.audit_s - self.startup_s  # steady state: from the first worker ready to the last result
        return self.processed / busy if busy > 0 else 0.0

    def to_json(self) -> dict:
        d = asdict(self)
        d["failed"] = self.failed
        d["files_per_s"] = round(self.files_per_s, 2)
        d["elapsed_s"] = round(self.elapsed_s, 2)
        d["audit_s"] = round(self.audit_s, 2)
        d["startup_s"] = round(self.startup_s, 2)
        return d


# (inputs finished, inputs listed); while the scan is still listing: (inputs listed so far, None)
ProgressFn = Callable[[int, "int | None"], None]


def fingerprint(options: VerifyOptions, analysers: Sequence[str] | None) -> str:
    """What a stored result depends on besides the file: a change here means every file is analysed again."""
    from ..config import trust_anchor_paths

    anchors = []
    for p in trust_anchor_paths(options.trust_anchors):
        try:
            anchors.append(hashlib.sha256(Path(p).read_bytes()).hexdigest())
        except OSError:
            anchors.append(f"missing:{p}")
    specs = list(analysers) if analysers is not None else [
        s for s in DEFAULT_ANALYSERS if _module_exists(s.partition(":")[0])]
    opts = asdict(options)
    opts.pop("trust_anchors", None)
    from ..detect.inference import model_identity  # a retrained or recalibrated detector invalidates stored verdicts

    detector = model_identity() if options.detector else None
    blob = json.dumps({"version": __version__, "options": opts, "anchors": anchors, "analysers": specs,
                       "detector": detector}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def _check_trust_anchors(options: VerifyOptions) -> None:
    """Bad trust anchors are a usage error: say so once, before any file is read (as `verify` does)."""
    from ..config import trust_anchor_paths
    from ..errors import ForensicsError

    try:
        from ..provenance.credentials import load_trust_anchors
    except ImportError:  # credentials support not installed: nothing to check
        return
    try:
        load_trust_anchors(trust_anchor_paths(options.trust_anchors))
    except ForensicsError as exc:
        raise AuditError(exc.message) from None


def _module_exists(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def run_audit(
    inputs: Sequence[str],
    out: str | Path,
    *,
    html: str | Path | None = None,
    csv: str | Path | None = None,
    parquet: str | Path | None = None,
    workers: int | None = None,
    engine: str = "local",
    ray_address: str | None = None,
    resume: bool = False,
    options: VerifyOptions | None = None,
    analysers: Sequence[str] | None = None,
    timeout_per_file: float | None = DEFAULT_TIMEOUT_S,
    memory_per_file_mib: int | None = DEFAULT_MEMORY_MIB,
    storage_options: dict | None = None,
    force: bool = False,
    html_max_rows: int = 5000,
    progress: ProgressFn | None = None,
) -> AuditSummary:
    """Audit ``inputs`` (files, folders, globs, fsspec URLs) into ``out`` (JSONL, one verify object per input).

    ``resume=True`` continues the job recorded in ``OUT.state.sqlite``: with no ``inputs`` (and no
    ``options``/``analysers``) the recorded ones are used. Without ``resume`` the state still acts as a cache,
    so re-running on an unchanged archive only lists it. ``force=True`` analyses everything again.
    Raises :class:`AuditError` when the audit as a whole cannot run (nothing to resume, workers cannot start).
    """
    t_start = time.monotonic()
    if engine not in ("local", "ray"):
        raise AuditError(f"unknown engine {engine!r} (local or ray)")
    out = Path(out)
    if out.is_dir():
        raise AuditError(f"--out {out} is a folder; give the report's file name (e.g. {out / 'audit.jsonl'})")
    state_path = state_path_for(out)
    if resume and not state_path.exists():
        raise AuditError(f"nothing to resume: {state_path} does not exist")
    try:
        state = AuditState(state_path)
    except StateLocked as exc:
        raise AuditError(str(exc)) from None
    except (OSError, sqlite3.Error) as exc:
        raise AuditError(f"cannot open the audit state {state_path}: {exc}") from None
    try:
        job = state.get("job")
        if resume:
            if not job:
                raise AuditError(f"nothing to resume in {state_path}")
            inputs = list(inputs) or job["inputs"]
            if options is None:  # fields a newer/older version does not know are ignored
                known = VerifyOptions.__dataclass_fields__
                options = VerifyOptions(**{k: v for k, v in job["options"].items() if k in known})
            if analysers is None:
                analysers = job.get("analysers")
        inputs = list(inputs)
        if not inputs:
            raise AuditError("no inputs: give files, folders, globs or URLs")
        options = options or VerifyOptions()
        _check_trust_anchors(options)
        fp = fingerprint(options, analysers)
        state.set(job={"inputs": inputs, "options": asdict(options),
                       "analysers": list(analysers) if analysers is not None else None})

        # 1. scan
        from .inputs import scan as scan_inputs

        scan = state.begin_scan()
        own = {os.path.abspath(str(p)) for p in (out, html, csv, parquet) if p}
        own |= {os.path.abspath(str(state_path) + sfx) for sfx in ("", "-wal", "-shm", "-journal")}
        total = state.add_items(scan, _counted(scan_inputs(inputs, storage_options, exclude=own), progress))
        todo_n = state.count_todo(scan, fp, force)
        n_scan_errors = state.db.execute("SELECT COUNT(*) FROM items WHERE scan=? AND source='error'",
                                         (scan,)).fetchone()[0]
        finished = total - todo_n
        if progress:
            progress(finished, total)

        # 2. audit
        config = WorkerConfig(options=options, analysers=list(analysers) if analysers is not None else None,
                              memory_per_file=memory_per_file_mib * 1024**2 if memory_per_file_mib else None,
                              storage_options=dict(storage_options or {}), thumbnails=html is not None)
        if engine == "ray":
            from .ray_engine import RayPool

            pool = RayPool(config, workers, timeout_per_file, address=ray_address, limit=todo_n)
        else:
            workers = workers or default_workers()
            pool = LocalPool(config, min(workers, max(1, todo_n)), timeout_per_file)
        processed = unchanged = skipped_now = 0
        t_audit = time.monotonic()
        if todo_n:
            for todo, result in pool.results(state.todo(scan, fp, force)):
                state.record(todo, fp, result)
                processed += 1
                unchanged += result.get("status") == "unchanged"
                skipped_now += result.get("status") == "skipped"
                finished += 1
                if progress:
                    progress(finished, total)
        t_end = time.monotonic()
        audit_s = t_end - t_audit
        first_ready = getattr(pool, "first_ready", None)
        startup_s = (first_ready - t_audit) if first_ready else 0.0

        # 3. report
        counts = state.counts(scan)
        summary = AuditSummary(report=str(out), state=str(state_path), engine=engine, workers=workers,
                               inputs=counts["inputs"], reported=counts["reported"], skipped=counts["skipped"],
                               processed=processed - unchanged - skipped_now,
                               reused=counts["inputs"] - n_scan_errors - (processed - unchanged),
                               verdicts=counts["verdicts"], errors=counts["errors"], audit_s=audit_s,
                               startup_s=startup_s)
        _write_reports(state, scan, out, html=html, csv=csv, parquet=parquet, html_max_rows=html_max_rows,
                       summary=summary)
        state.set(run_state="complete")
        state.forget_unlisted(scan)
        summary.elapsed_s = time.monotonic() - t_start
        return summary
    finally:
        state.close()


def _counted(items, progress: ProgressFn | None, every: int = 1000):
    """Report listing progress: a 10-million-file scan takes minutes."""
    n = 0
    for n, item in enumerate(items, 1):
        if progress and n % every == 0:
            progress(n, None)
        yield item


def _write_reports(state: AuditState, scan: int, out: Path, *, html, csv, parquet, html_max_rows: int,
                   summary: AuditSummary) -> None:
    from .outputs import CsvWriter, JsonlWriter, ParquetWriter, remove_stale_temps

    for target in (out, html, csv, parquet):  # left by a run killed while writing (we hold the lock)
        if target:
            remove_stale_temps(target)
    writers: list = []
    try:
        writers.append(JsonlWriter(out))
        summary.outputs["jsonl"] = str(out)
        if csv:
            writers.append(CsvWriter(csv))
            summary.outputs["csv"] = str(csv)
        if parquet:
            try:
                writers.append(ParquetWriter(parquet))
            except RuntimeError as exc:
                raise AuditError(str(exc)) from None
            summary.outputs["parquet"] = str(parquet)
        html_writer = None
        if html:
            from .html import HtmlWriter

            html_writer = HtmlWriter(html, max_rows=html_max_rows, jsonl_name=out.name,
                                     title=f"forensics audit — {out.name}")
            writers.append(html_writer)
            summary.outputs["html"] = str(html)
        for _key, folder, row, thumb in state.rows(scan, with_thumbs=html_writer is not None):
            for w in writers:
                w.add(row, folder, thumb)
        for w in writers:
            if w is html_writer:
                w.close(summary=summary.to_json())
            else:
                w.close()
    except BaseException:
        for w in writers:
            try:
                w.abort()
            except Exception:
                pass
        raise
