"""`forensics verify PATH...` — credentials, watermarks, detector, metadata and one verdict per file."""
from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, List, Optional  # List/Optional: the command's annotations, resolved by typer

if TYPE_CHECKING:  # pragma: no cover
    import typer

# typer is imported where a command is registered or a usage error raised: the fast path (cli/fast.py)
# runs this module without it.

# --fail-on groups; any verdict label is accepted as well
FAIL_ON_GROUPS = {
    "synthetic": {"ai-generated", "likely-synthetic"},
    "invalid": {"tampered"},
}
VERDICT_LABELS = ("ai-generated", "likely-synthetic", "authentic-credentials", "tampered", "no-evidence", "error")


def parse_fail_on(value: str | None) -> set[str]:
    """Verdict labels that make the command exit 1. ``synthetic`` = ai-generated|likely-synthetic,
    ``invalid`` = tampered, or any verdict label itself; comma-separated."""
    labels: set[str] = set()
    for part in (value or "").split(","):
        part = part.strip().lower()
        if not part:
            continue
        if part in FAIL_ON_GROUPS:
            labels |= FAIL_ON_GROUPS[part]
        elif part in VERDICT_LABELS:
            labels.add(part)
        else:
            import typer

            raise typer.BadParameter(
                f"unknown value {part!r}; use synthetic, invalid or a verdict label "
                f"({', '.join(VERDICT_LABELS)})", param_hint="--fail-on")
    return labels


def fail_on_is_valid(value: str | None) -> bool:
    """Whether :func:`parse_fail_on` accepts ``value`` (checked without raising, i.e. without typer)."""
    parts = (part.strip().lower() for part in (value or "").split(","))
    return all(not part or part in FAIL_ON_GROUPS or part in VERDICT_LABELS for part in parts)


def register(app: typer.Typer) -> None:
    import typer

    @app.command("verify")
    def verify(
        paths: List[str] = typer.Argument(..., metavar="PATH...", show_default=False,
                                          help="Images or videos to verify (JPEG, PNG, WebP, TIFF, AVIF, GIF, MP4, MOV)."),
        json_out: bool = typer.Option(False, "--json", help="Print a JSON array, one object per input."),
        trust_anchors: List[str] = typer.Option([], "--trust-anchors", metavar="PEM",
                                                help="Extra trust-anchor PEM bundle (repeatable), e.g. the C2PA trust list."),
        registry: Optional[str] = typer.Option(None, "--registry", metavar="URL",
                                               help="Manifest repository (SQLAlchemy URL or SQLite path)."),
        no_detector: bool = typer.Option(False, "--no-detector", help="Skip the synthetic-image detector (fast path)."),
        allow_network: bool = typer.Option(False, "--allow-network",
                                           help="Allow fetching remote manifests and OCSP (offline by default)."),
        fail_on: Optional[str] = typer.Option(None, "--fail-on", metavar="LIST",
                                              help="Exit 1 if a verdict matches: synthetic (ai-generated, likely-synthetic), "
                                                   "invalid (tampered), or any verdict label; comma-separated."),
        crjson: bool = typer.Option(False, "--crjson",
                                    help="Print c2pa's crJSON instead of the report: a JSON array, one entry per input "
                                         "({} when a file has no credentials, {\"path\", \"error\"} when it cannot be read)."),
        quick: bool = typer.Option(False, "--quick", help="Screening: credentials, metadata, watermarks at native "
                                                          "geometry only, repository lookups; no detector."),
        watermark_search: bool = typer.Option(False, "--watermark-search",
                                              help="Also search fsw-v2 marks for rotation, aspect change and "
                                                   "perspective (about 1 s more per image without a mark)."),
    ):
        """Where did this come from, and did a machine make it?

        Exit codes: 0 every input processed, 1 a --fail-on verdict matched, 2 usage error or an input failed.
        """
        raise typer.Exit(verify_command(paths, json_out=json_out, trust_anchors=trust_anchors, registry=registry,
                                        no_detector=no_detector, allow_network=allow_network, fail_on=fail_on,
                                        crjson=crjson, quick=quick, watermark_search=watermark_search))


def verify_command(paths: list[str], *, json_out: bool = False, trust_anchors: list[str] | None = None,
                   registry: str | None = None, no_detector: bool = False, allow_network: bool = False,
                   fail_on: str | None = None, crjson: bool = False, quick: bool = False,
                   watermark_search: bool = False) -> int:
    """The `verify` command once its arguments are parsed (by typer or cli/fast.py): the exit code."""
    fail_labels = parse_fail_on(fail_on)
    if crjson:
        return run_crjson(paths, trust_anchors=trust_anchors, allow_network=allow_network)
    return run_verify(paths, json_out=json_out, trust_anchors=trust_anchors, registry=registry,
                      detector=not no_detector, allow_network=allow_network, fail_labels=fail_labels, quick=quick,
                      watermark_search=watermark_search)


def _err(message: str) -> None:
    from ..textsafe import printable

    sys.stderr.write(f"forensics verify: {printable(message)}\n")
    sys.stderr.flush()


def run_crjson(paths: list[str], *, trust_anchors: list[str] | None = None, allow_network: bool = False) -> int:
    """`verify --crjson`: c2pa's crJSON per input, validated with the same trust lists as the report."""
    import json

    from ..config import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS, trust_anchor_paths
    from ..errors import ForensicsError, MediaError
    from ..media import Media
    from ..provenance.credentials import load_trust_anchors, read_crjson

    try:
        anchor_paths = trust_anchor_paths(trust_anchors or [])
        load_trust_anchors(anchor_paths)
    except ForensicsError as exc:
        _err(exc.message)
        return 2
    out: list[dict] = []
    failed = False
    for p in paths:
        try:
            media = Media.open(p, max_bytes=DEFAULT_MAX_BYTES, max_pixels=DEFAULT_MAX_PIXELS)
            out.append(read_crjson(media.path, media.media_type, trust_anchor_paths=anchor_paths,
                                   allow_network=allow_network))
        except MediaError as exc:
            out.append({"path": p, "error": {"code": exc.code, "message": exc.message}})
            failed = True
        except Exception as exc:  # c2pa cannot read this file's credentials: an error entry, the others go on
            if os.environ.get("FORENSICS_DEBUG"):
                raise
            out.append({"path": p, "error": {"code": "unreadable_credentials",
                                             "message": f"{type(exc).__name__}: {exc}"}})
            failed = True
    sys.stdout.write(json.dumps(out, indent=2, ensure_ascii=False) + "\n")
    return 2 if failed else 0


def run_verify(paths: list[str], *, json_out: bool = False, trust_anchors: list[str] | None = None,
               registry: str | None = None, detector: bool = True, allow_network: bool = False,
               fail_labels: set[str] | None = None, quick: bool = False, watermark_search: bool = False) -> int:
    import json

    from ..analysers import VerifyOptions
    from ..config import trust_anchor_paths
    from ..errors import ForensicsError
    from ..provenance.credentials import load_trust_anchors
    from ..report import ErrorInfo, Report, Verdict

    try:  # bad anchors are a usage error: say so once, before any file is read
        load_trust_anchors(trust_anchor_paths(trust_anchors or []))
    except ForensicsError as exc:
        _err(exc.message)
        return 2
    options = VerifyOptions(trust_anchors=list(trust_anchors or []), registry_url=registry, detector=detector,
                            allow_network=allow_network, watermark_full_search=watermark_search)
    if quick:
        from ..analysers import screening_options

        options = screening_options(options)
    try:
        from ..verify import Verifier

        verifier = Verifier(options)
    except ForensicsError as exc:
        _err(exc.message)
        return 2

    reports: list[Report] = []
    console = None
    if not json_out:
        from rich.console import Console

        from .render import render_report

        console = Console(highlight=False)
    for p in paths:
        try:
            report = verifier.verify(p)
        except Exception as exc:  # never a traceback: the file gets an error entry, the others go on
            if os.environ.get("FORENSICS_DEBUG"):
                raise
            report = Report(path=p, error=ErrorInfo("internal", f"{type(exc).__name__}: {exc}"))
            report.verdict = Verdict("error", [report.error.message])
        reports.append(report)
        if console is not None:  # stream the terminal report as files finish; errors stay on one line
            console.print(render_report(report), highlight=False, soft_wrap=report.error is not None)
    if console is not None and len(reports) > 1:
        from collections import Counter

        counts = Counter(r.verdict.label if r.verdict else "error" for r in reports)
        console.print(f"{len(reports)} files: " + ", ".join(f"{n} {label}" for label, n in counts.most_common()),
                      highlight=False, markup=False)
    if json_out:
        from ..textsafe import json_text

        sys.stdout.write(json_text(json.dumps([r.to_json() for r in reports], indent=2, ensure_ascii=False,
                                              default=str)))
        sys.stdout.write("\n")
    if any(r.error is not None for r in reports):
        return 2
    if fail_labels and any(r.verdict and r.verdict.label in fail_labels for r in reports):
        return 1
    return 0
