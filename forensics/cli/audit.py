"""`forensics audit` — the verification of `forensics verify` over whole archives, in parallel and resumable."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer


def _parse_storage_options(items: list[str]) -> dict:
    out: dict = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint="--storage-option")
        node = out
        parts = key.split(".")  # client_kwargs.endpoint_url=… nests
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        low = value.lower()
        node[parts[-1]] = True if low == "true" else False if low == "false" else value
    return out


def register(app: typer.Typer) -> None:
    @app.command("audit")
    def audit(
        paths: Optional[List[str]] = typer.Argument(
            None, metavar="PATH...", show_default=False,
            help="Files, folders (walked; images and videos recognised by content), globs, or fsspec URLs "
                 "(s3://bucket/prefix/ …). Optional with --resume."),
        out: Path = typer.Option(..., "--out", "-o", help="The report: one verify JSON object per line.",
                                 dir_okay=False),
        html: Optional[Path] = typer.Option(None, "--html", help="Also write a self-contained HTML report.",
                                            dir_okay=False),
        csv: Optional[Path] = typer.Option(None, "--csv", help="Also write a flat CSV.", dir_okay=False),
        parquet: Optional[Path] = typer.Option(None, "--parquet", help="Also write Parquet (needs pyarrow).",
                                               dir_okay=False),
        workers: Optional[int] = typer.Option(None, "--workers", "-w", min=1,
                                              help="Parallel workers. Default: the CPU cores (local), the "
                                                   "cluster's CPUs (ray)."),
        engine: str = typer.Option("local", "--engine", help="local (worker processes) or ray."),
        ray_address: Optional[str] = typer.Option(None, "--ray-address",
                                                  help="Ray cluster to join ('auto', 'ray://head:10001'); "
                                                       "default: start a local Ray for this run."),
        resume: bool = typer.Option(False, "--resume",
                                    help="Finish an interrupted audit of the same --out (inputs and options "
                                         "are taken from its state when no PATH is given)."),
        force: bool = typer.Option(False, "--force", help="Analyse every file again, ignoring stored results."),
        timeout_per_file: float = typer.Option(120.0, "--timeout-per-file", min=0,
                                               help="Seconds before a file is given up (0: no limit)."),
        memory_per_file: int = typer.Option(2048, "--memory-per-file", min=0,
                                            help="MiB of memory one file may use in a worker (0: no cap)."),
        no_detector: bool = typer.Option(False, "--no-detector", help="Skip the synthetic-image detector."),
        trust_anchors: List[Path] = typer.Option([], "--trust-anchors",
                                                 help="Extra trust-anchor PEM (repeatable)."),
        registry: Optional[str] = typer.Option(None, "--registry", help="Manifest repository URL or SQLite path."),
        allow_network: bool = typer.Option(False, "--allow-network", help="Fetch remote manifests."),
        storage_option: List[str] = typer.Option([], "--storage-option",
                                                 help="fsspec option KEY=VALUE for URLs (repeatable), e.g. "
                                                      "endpoint_url=http://127.0.0.1:9000"),
        analyser: List[str] = typer.Option([], "--analyser", hidden=True,
                                           help="Use these analysers (module:Class) instead of the defaults."),
        html_max_rows: Optional[int] = typer.Option(None, "--html-max-rows", min=1,
                                                    help="Rows in the HTML table (default 200,000; flagged "
                                                         "rows first; the charts always count every row)."),
        quick: bool = typer.Option(False, "--quick",
                                   help="Screening profile: credentials, metadata, the watermark at native "
                                        "geometry (no crop/scale/rotation search) and the repository lookups; "
                                        "no detector. Rows carry \"profile\": \"quick\"."),
        then_full: bool = typer.Option(False, "--then-full",
                                       help="With --quick: re-check with the full profile every file the "
                                            "screening labelled anything but authentic-credentials or "
                                            "no-evidence."),
        fail_on: Optional[str] = typer.Option(None, "--fail-on", metavar="LIST",
                                              help="Exit 1 if any verdict matches: synthetic (ai-generated, "
                                                   "likely-synthetic), invalid (tampered), or any verdict label; "
                                                   "comma-separated."),
        json_out: bool = typer.Option(False, "--json", help="Print the summary as JSON on stdout."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar and no summary table."),
    ):
        """Audit many files: one JSON line per input, a summary, optional HTML/CSV/Parquet reports.

        Exit codes: 0 every input processed, 1 a --fail-on verdict matched, 2 usage error or at least one
        input could not be processed (its row says why). Interrupted (even by kill -9)? Run the same
        command with --resume.
        """
        from rich.console import Console

        from ..analysers import VerifyOptions
        from ..audit import AuditError, run_audit
        from ..textsafe import printable
        from .verify import parse_fail_on

        err = Console(stderr=True)
        try:
            fail_labels = parse_fail_on(fail_on)
        except typer.BadParameter as exc:
            err.print(f"error: {exc}", markup=False, highlight=False)
            raise typer.Exit(2)
        if engine not in ("local", "ray"):
            err.print(f"error: --engine must be local or ray, not {engine!r}")
            raise typer.Exit(2)
        if not paths and not resume:
            err.print("error: give at least one PATH (or --resume)")
            raise typer.Exit(2)
        if then_full and not quick:
            err.print("error: --then-full needs --quick")
            raise typer.Exit(2)
        if ray_address and engine != "ray":
            err.print("error: --ray-address needs --engine ray")
            raise typer.Exit(2)
        from .extras import need

        if engine == "ray":
            need("ray", "audit --engine ray")
        if parquet is not None:
            need("parquet", "audit --parquet")
        if any(str(p).lower().startswith(("s3://", "s3a://")) for p in paths or []):
            need("s3", "audit of s3:// inputs")
        options = None
        option_flags = bool(no_detector or trust_anchors or registry or allow_network)
        if not resume or option_flags:
            options = VerifyOptions(trust_anchors=[str(p) for p in trust_anchors], registry_url=registry,
                                    detector=not no_detector, allow_network=allow_network)
        try:
            storage_options = _parse_storage_options(storage_option)
        except typer.BadParameter as exc:
            err.print(f"error: {exc}", markup=False, highlight=False)
            raise typer.Exit(2)

        progress_cb, live = None, None
        if not quiet and err.is_terminal:
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                       TimeRemainingColumn)

            live = Progress(TextColumn("{task.fields[what]}"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("ETA"),
                            TimeRemainingColumn(), console=err, transient=False)
            state = {"task": None, "first": None, "t0": None}

            def progress_cb(done: int, total: int | None) -> None:
                import time

                now = time.monotonic()
                if state["task"] is None:
                    state["task"] = live.add_task("audit", total=total, completed=done, rate="", what="listing")
                if total is None:  # still listing the inputs
                    live.update(state["task"], completed=done, rate=f"{done} found")
                    return
                if state["first"] is None:
                    state["first"], state["t0"] = done, now
                    live.update(state["task"], total=total, completed=done, what="auditing", rate="")
                    return
                dt = now - state["t0"]
                rate = (done - state["first"]) / dt if dt > 0 else 0.0
                live.update(state["task"], completed=done, total=total, rate=f"{rate:.1f} files/s")

            live.start()
        stdout_fd = _stdout_to_stderr() if json_out else None
        try:
            summary = run_audit(
                list(paths or []), out, html=html, csv=csv, parquet=parquet, workers=workers, engine=engine,
                ray_address=ray_address, resume=resume, options=options, analysers=list(analyser) or None,
                timeout_per_file=timeout_per_file or None, memory_per_file_mib=memory_per_file or None,
                storage_options=storage_options, force=force, html_max_rows=html_max_rows,
                progress=progress_cb, profile="quick" if quick else None if resume else "full",
                then_full=True if then_full else None if resume else False)
        except AuditError as exc:
            if live:
                live.stop()
            err.print(f"error: {printable(exc)}", markup=False, highlight=False)
            raise typer.Exit(2)
        except OSError as exc:  # the report or state cannot be written (permissions, disk full…)
            if live:
                live.stop()
            err.print(f"error: {printable(exc.strerror or exc)}: {printable(exc.filename or '')}", markup=False,
                      highlight=False)
            raise typer.Exit(2)
        except KeyboardInterrupt:
            if live:
                live.stop()
            err.print("interrupted: finished files are saved; run the same command with --resume to finish")
            raise typer.Exit(130)
        finally:
            if stdout_fd is not None:
                _restore_stdout(stdout_fd)
        if live:
            live.stop()

        if json_out:
            import json

            typer.echo(json.dumps(summary.to_json(), indent=2))
        if not quiet:
            _print_summary(err, summary)
        if summary.failed:
            raise typer.Exit(2)
        raise typer.Exit(1 if any(summary.verdicts.get(label) for label in fail_labels) else 0)


def _stdout_to_stderr() -> int | None:
    """With --json, stdout carries only the summary: what libraries print while the audit runs (Ray's
    driver prints cluster events such as a lost node to fd 1) goes to stderr instead."""
    import os
    import sys

    try:
        sys.stdout.flush()
        saved = os.dup(1)
        os.dup2(2, 1)
        return saved
    except (OSError, ValueError):  # no real file descriptors (e.g. captured by a test runner)
        return None


def _restore_stdout(saved: int) -> None:
    import os
    import sys

    sys.stdout.flush()
    os.dup2(saved, 1)
    os.close(saved)


def _print_summary(console, summary) -> None:
    from rich.table import Table
    from rich.text import Text

    from ..textsafe import printable

    t = Table(title="audit summary", show_header=True, header_style="bold")
    t.add_column("verdict")
    t.add_column("files", justify="right")
    for label, n in sorted(summary.verdicts.items(), key=lambda kv: -kv[1]):
        t.add_row(Text(printable(label or "?")), str(n))
    console.print(t)
    if summary.errors:
        console.print("errors: " + ", ".join(f"{printable(k)} {v}" for k, v in sorted(summary.errors.items())),
                      markup=False, highlight=False)
    rate = f" ({summary.files_per_s:.1f} files/s once workers were up)" if summary.processed else ""
    why = {"not_media": "not images or videos", "not_regular": "not regular files"}
    skipped = ", ".join(f"{n} {why.get(k, k)}" for k, n in sorted(summary.skipped_by.items()) if n)
    recheck = f" ({summary.rechecked_full} flagged by the screening re-checked in full)" \
        if summary.rechecked_full else ""
    console.print(f"{summary.reported} reported, {summary.processed} analysed now ({summary.profile} profile)"
                  f"{rate}{recheck}, {summary.reused} reused from the last run, {summary.skipped} skipped"
                  f"{' (' + skipped + ')' if skipped else ''}, {summary.elapsed_s:.1f} s in all",
                  markup=False, highlight=False)
    console.print("written: " + ", ".join(printable(v) for v in summary.outputs.values()), soft_wrap=True,
                  markup=False, highlight=False)
