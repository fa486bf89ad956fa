"""The verification pipeline: open the file once, run every analyser, apply the verdict policy.

Used by ``forensics verify``, the batch audit and the HTTP service alike, so all three give the same
answer for the same file.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

from .analysers import AnalysisContext, Analyser, VerifyOptions, load_analysers
from .config import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS
from .errors import ForensicsError, MediaError
from .media import Media
from .report import ErrorInfo, Report
from .verdict import decide

log = logging.getLogger(__name__)


def _rename_in_messages(report: Report, real: str, shown: str) -> None:
    """Messages name the file as the caller showed it, never a temporary copy's path."""
    if report.error is not None and real in report.error.message:
        report.error.message = report.error.message.replace(real, shown)
        report.verdict = decide(report)
    for entry in report.analyser_errors:
        if isinstance(entry.get("message"), str):
            entry["message"] = entry["message"].replace(real, shown)


class Verifier:
    """Holds the analysers (and any models they loaded) for many files. Not thread-safe; one per worker."""

    def __init__(self, options: VerifyOptions | None = None, analysers: list[Analyser] | None = None):
        self.options = options or VerifyOptions()
        self.analysers = analysers if analysers is not None else load_analysers()
        self.cache: dict = {}

    def verify(self, path: str | Path, display_path: str | None = None) -> Report:
        """Verify the file at ``path``; ``display_path``: what the report (and its messages) call it, e.g.
        the upload's name for a temporary copy."""
        report = self._verify(path, display_path)
        if display_path and display_path != str(path):
            _rename_in_messages(report, str(path), display_path)
        return report

    def _verify(self, path: str | Path, display_path: str | None) -> Report:
        report = Report(path=display_path or str(path))
        t0 = time.perf_counter()
        try:
            media = Media.open(path, max_bytes=self.options.max_bytes or DEFAULT_MAX_BYTES,
                               max_pixels=self.options.max_pixels or DEFAULT_MAX_PIXELS)
        except MediaError as exc:
            report.error = ErrorInfo(exc.code, exc.message)
            report.verdict = decide(report)
            return report
        report.media_type = media.media_type
        report.timings_ms["open"] = (time.perf_counter() - t0) * 1000
        ctx = AnalysisContext(options=self.options, findings=report.findings, cache=self.cache)
        media.full_decode_expected = media.is_image and any(
            getattr(a, "needs_native_pixels", False) and _applies(a, media, self.options) for a in self.analysers)
        for analyser in self.analysers:
            try:
                if not analyser.applies_to(media, self.options):
                    continue
                t = time.perf_counter()
                finding = analyser.analyse(media, ctx)
                report.timings_ms[analyser.name] = (time.perf_counter() - t) * 1000
            except MediaError as exc:  # the file itself is bad: that is the file's error
                report.error = ErrorInfo(exc.code, exc.message)
                break
            except ForensicsError as exc:
                report.analyser_errors.append({"analyser": analyser.name, "code": exc.code, "message": exc.message})
                continue
            except Exception as exc:  # an analyser bug must cost one signal, not the file or the batch
                log.debug("analyser %s failed on %s", analyser.name, path, exc_info=True)
                report.analyser_errors.append({"analyser": analyser.name, "code": "internal",
                                               "message": f"{type(exc).__name__}: {exc}"})
                continue
            # an analyser may return one finding, several (video: detector + frames), or None
            for f in finding if isinstance(finding, (list, tuple)) else (finding,):
                if f is not None:
                    report.findings[type(f).key] = f
        report.verdict = decide(report)
        return report


def _applies(analyser: Analyser, media: Media, options: VerifyOptions) -> bool:
    try:
        return bool(analyser.applies_to(media, options))
    except Exception:  # the loop below reports a broken analyser; this is only a decoding hint
        return False


def verify_path(path: str | Path, options: VerifyOptions | None = None) -> Report:
    """Verify one file with a fresh :class:`Verifier` (convenience; reuse a Verifier for many files)."""
    return Verifier(options).verify(path)
