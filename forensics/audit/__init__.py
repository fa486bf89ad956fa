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
DEFAULT_HTML_MAX_ROWS = 200_000


@dataclass
class AuditSummary:
    report: str
    state: str
    engine: str
    workers: int | None
    inputs: int = 0  # everything the scan listed
    reported: int = 0  # rows in the report (inputs minus skipped non-media files)
    skipped: int = 0  # entries found in folders that get no row: not images or videos, or not regular files
    skipped_by: dict[str, int] = field(default_factory=dict)  # not_media | not_regular -> count
    processed: int = 0  # images and videos analysed by a worker in this run
    reused: int = 0  # results reused from the state (unchanged since the last run, or resumed)
    verdicts: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    elapsed_s: float = 0.0
    audit_s: float = 0.0  # phase 2 (workers running), worker start-up included
    startup_s: float = 0.0  # of which: until every worker had loaded its models
    steady_files: int = 0  # files finished after that (the steady-state rate's numerator)
    outputs: dict[str, str] = field(default_factory=dict)
    profile: str = "full"  # quick | full
    rechecked_full: int = 0  # --then-full: files the screening flagged, analysed again with the full profile

    @property
    def failed(self) -> int:
        return sum(self.errors.values())

    @property
    def files_per_s(self) -> float:
        busy = self.audit_s - self.startup_s  # steady state: from every worker ready to the last result
        return self.steady_files / busy if busy > 0 else 0.0

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


PROFILES = ("full", "quick")
# --then-full re-checks every file the screening labelled anything else
SCREENED_BENIGN = ("authentic-credentials", "no-evidence")


def profile_options(options: VerifyOptions, profile: str) -> VerifyOptions:
    """The verify options a profile runs with. ``quick`` (screening): credentials, metadata, the watermark
    at native geometry (no crop/scale/rotation search) and the repository lookups; no detector."""
    from ..analysers import screening_options

    return screening_options(options) if profile == "quick" else options


def fingerprint(options: VerifyOptions, analysers: Sequence[str] | None, profile: str = "full") -> str:
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
                       "detector": detector, "profile": profile}, sort_keys=True, default=str)
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
    html_max_rows: int | None = None,
    progress: ProgressFn | None = None,
    profile: str | None = None,
    then_full: bool | None = None,
) -> AuditSummary:
    """Audit ``inputs`` (files, folders, globs, fsspec URLs) into ``out`` (JSONL, one verify object per input).

    ``resume=True`` continues the job recorded in ``OUT.state.sqlite``: with no ``inputs`` (and no
    ``options``/``analysers``) the recorded ones are used. Without ``resume`` the state still acts as a cache,
    so re-running on an unchanged archive only lists it. ``force=True`` analyses everything again.
    ``profile="quick"`` screens (see :func:`profile_options`); ``then_full=True`` then re-checks with the full
    profile every file the screening did not label authentic-credentials or no-evidence. A result is only
    reused by a run of the same profile. On resume, the recorded profile and report files are used unless
    given again.
    Raises :class:`AuditError` when the audit as a whole cannot run (nothing to resume, workers cannot start).
    """
    t_start = time.monotonic()
    if engine not in ("local", "ray"):
        raise AuditError(f"unknown engine {engine!r} (local or ray)")
    if profile is not None and profile not in PROFILES:
        raise AuditError(f"unknown profile {profile!r} (full or quick)")
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
        job = _read_job(state, state_path) if resume else state.get("job")
        if resume:
            if not job:
                raise AuditError(f"nothing to resume in {state_path}")
            inputs = list(inputs) or job["inputs"]
            if options is None:  # fields a newer/older version does not know are ignored
                known = VerifyOptions.__dataclass_fields__
                options = VerifyOptions(**{k: v for k, v in job["options"].items() if k in known})
            if analysers is None:
                analysers = job.get("analysers")
            # the report files asked for when the job started are written again, completely
            outs = job.get("outputs") or {}
            html = html if html is not None else outs.get("html")
            csv = csv if csv is not None else outs.get("csv")
            parquet = parquet if parquet is not None else outs.get("parquet")
            html_max_rows = html_max_rows if html_max_rows is not None else outs.get("html_max_rows")
            profile = profile or job.get("profile")
            then_full = then_full if then_full is not None else job.get("then_full")
        profile = profile or "full"
        then_full = bool(then_full)
        if then_full and profile != "quick":
            raise AuditError("--then-full follows a --quick screening")
        html_max_rows = html_max_rows or DEFAULT_HTML_MAX_ROWS
        inputs = list(inputs)
        if not inputs:
            raise AuditError("no inputs: give files, folders, globs or URLs")
        options = options or VerifyOptions()
        _check_trust_anchors(options)
        fp = fingerprint(profile_options(options, profile), analysers, profile)
        fp_full = fingerprint(options, analysers, "full")
        outputs = {k: os.path.abspath(str(v)) for k, v in (("html", html), ("csv", csv), ("parquet", parquet)) if v}
        outputs["html_max_rows"] = html_max_rows
        state.set(job={"inputs": inputs, "options": asdict(options),
                       "analysers": list(analysers) if analysers is not None else None,
                       "profile": profile, "then_full": then_full, "outputs": outputs})

        # 1. scan
        from .inputs import scan as scan_inputs

        scan = state.begin_scan()
        own = {os.path.abspath(str(p)) for p in (out, html, csv, parquet) if p}
        own |= {os.path.abspath(str(state_path) + sfx) for sfx in ("", "-wal", "-shm", "-journal")}
        total = state.add_items(scan, _counted(scan_inputs(inputs, storage_options, exclude=own), progress),
                                profile=profile)
        # a screening followed by a full re-check keeps the full results of the files it re-checked
        also = (fp_full,) if then_full else ()
        thumbs = html is not None
        todo_n = state.count_todo(scan, fp, force, also=also, thumbs=thumbs)
        n_scan_errors = state.db.execute("SELECT COUNT(*) FROM items WHERE scan=? AND source='error'",
                                         (scan,)).fetchone()[0]
        finished = total - todo_n
        if progress:
            progress(finished, total)

        # 2. audit
        def make_pool(prof: str, n_todo: int):
            nonlocal workers
            config = WorkerConfig(options=profile_options(options, prof),
                                  analysers=list(analysers) if analysers is not None else None,
                                  memory_per_file=memory_per_file_mib * 1024**2 if memory_per_file_mib else None,
                                  storage_options=dict(storage_options or {}), thumbnails=thumbs, profile=prof)
            if engine == "ray":
                from .ray_engine import RayPool

                return RayPool(config, workers, timeout_per_file, address=ray_address, limit=n_todo)
            workers = workers or default_workers()
            return LocalPool(config, min(workers, max(1, n_todo)), timeout_per_file)

        counts_now = {"done": 0, "unchanged": 0, "skipped": 0, "thumb": 0}

        def run_pass(pool, todos, result_fp: str, prof: str) -> None:
            nonlocal finished
            for todo, result in pool.results(todos):
                if result.get("row") is not None:  # rows made by the pool (timeout, crash) too
                    result["row"]["profile"] = prof
                state.record(todo, result_fp, result)
                counts_now[result.get("status")] = counts_now.get(result.get("status"), 0) + 1
                finished += 1
                if progress:
                    progress(finished, total)

        t_audit = time.monotonic()
        all_ready, before_ready = None, 0
        if todo_n:
            pool = make_pool(profile, todo_n)
            run_pass(pool, state.todo(scan, fp, force, also=also, thumbs=thumbs), fp, profile)
            all_ready = getattr(pool, "all_ready", None) or getattr(pool, "first_ready", None)
            before_ready = getattr(pool, "results_before_all_ready", 0)
        rechecked = 0
        if then_full:
            recheck_n = sum(1 for _ in state.flagged(scan, fp, SCREENED_BENIGN))
            if recheck_n:
                total += recheck_n
                before = counts_now["done"]
                pool = make_pool("full", recheck_n)
                run_pass(pool, state.flagged(scan, fp, SCREENED_BENIGN), fp_full, "full")
                rechecked = counts_now["done"] - before
        t_end = time.monotonic()
        audit_s = t_end - t_audit
        startup_s = (all_ready - t_audit) if all_ready else 0.0

        # 3. report
        counts = state.counts(scan)
        analysed = counts_now["done"] - rechecked  # files analysed (first pass) in this run
        summary = AuditSummary(report=str(out), state=str(state_path), engine=engine, workers=workers,
                               inputs=counts["inputs"], reported=counts["reported"], skipped=counts["skipped"],
                               skipped_by=counts["skipped_by"], processed=analysed,
                               reused=counts["inputs"] - n_scan_errors - analysed - counts_now["skipped"],
                               verdicts=counts["verdicts"], errors=counts["errors"], audit_s=audit_s,
                               startup_s=startup_s, profile=profile, rechecked_full=rechecked,
                               steady_files=max(0, counts_now["done"] - before_ready))
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


def _read_job(state: AuditState, state_path: Path) -> dict | None:
    """The recorded job, checked before --resume relies on it: a damaged record is a clear AuditError."""
    try:
        job = state.get("job")
    except (ValueError, TypeError, sqlite3.Error) as exc:  # not JSON, or an unreadable state table
        raise AuditError(f"the job record in {state_path} is damaged ({exc}); run the audit again without "
                         "--resume") from None
    if job is None:
        return None
    if not (isinstance(job, dict) and isinstance(job.get("inputs"), list)
            and all(isinstance(i, str) for i in job["inputs"]) and isinstance(job.get("options", {}), dict)
            and isinstance(job.get("analysers"), (list, type(None)))):
        raise AuditError(f"the job record in {state_path} is damaged (unexpected shape); run the audit again "
                         "without --resume")
    job.setdefault("options", {})
    return job

