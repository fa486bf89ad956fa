"""The signal interface: analysers with one job each, and the registry that lists them.

An analyser looks at one :class:`~forensics.media.Media` and returns one typed finding (see
:mod:`forensics.report`), or ``None`` when it has nothing to say. Analysers run in registry order and can
read earlier findings through ``ctx.findings`` (the repository lookup uses the watermark's payload, for
example). Adding a signal means adding a line to :data:`DEFAULT_ANALYSERS` or publishing an entry point
in the ``forensics.analysers`` group — never editing :mod:`forensics.verify`.
"""
from __future__ import annotations

import importlib
import logging
import os
import sys
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from .media import Media

log = logging.getLogger(__name__)

# Config as data: "module:Class". Order matters (later analysers may read earlier findings).
DEFAULT_ANALYSERS: list[str] = [
    "forensics.provenance.metadata:MetadataAnalyser",
    "forensics.provenance.credentials:CredentialsAnalyser",
    "forensics.provenance.watermark.analyser:WatermarkAnalyser",
    "forensics.provenance.recovery:RecoveryAnalyser",
    "forensics.detect.analyser:DetectorAnalyser",
]


@dataclass
class VerifyOptions:
    trust_anchors: list[str] = field(default_factory=list)  # extra PEM paths (--trust-anchors)
    registry_url: str | None = None  # None: $FORENSICS_REGISTRY or the default SQLite file
    detector: bool = True  # --no-detector turns it off
    allow_network: bool = False  # remote manifests are fetched only when allowed
    watermark_schemes: list[str] | None = None  # None: every scheme the watermark analyser knows
    watermark_geometry_search: bool = True  # False (screening): marks at native geometry only, no search
    watermark_full_search: bool = False  # True (verify --watermark-search): fsw-v2's exhaustive sweep too
    max_frames: int = 16  # video sampling
    max_pixels: int | None = None
    max_bytes: int | None = None


def screening_options(options: VerifyOptions) -> VerifyOptions:
    """The quick screening profile (``verify --quick``, ``audit --quick``): credentials, metadata, watermarks
    at native geometry (no crop/scale/rotation search) and the repository lookups; no detector."""
    from dataclasses import replace

    return replace(options, detector=False, watermark_geometry_search=False)


@dataclass
class AnalysisContext:
    options: VerifyOptions
    findings: dict[str, Any] = field(default_factory=dict)  # key -> finding from earlier analysers
    cache: dict[str, Any] = field(default_factory=dict)  # per-process shared state (loaded models…)


@runtime_checkable
class Analyser(Protocol):
    name: str

    def applies_to(self, media: Media, options: VerifyOptions) -> bool: ...

    def analyse(self, media: Media, ctx: AnalysisContext) -> Any | None:
        """Return a finding, a list of findings, or None. Raise MediaError if the file itself is bad."""
        ...


PLUGIN_GROUP = "forensics.analysers"


def may_declare_entry_points(group: str) -> bool:
    """False only when no distribution on ``sys.path`` can declare an entry point of ``group``.

    importlib.metadata (its import and a parse of every installed distribution) is a noticeable share of a
    cold ``verify``, and most environments have no plugin. This looks for the group's name in the
    ``entry_points.txt`` of every ``*.dist-info`` / ``*.egg-info`` folder on the path; whatever it cannot
    judge (a zip or egg on the path, a finder with its own distributions) counts as "may".
    """
    from importlib.machinery import PathFinder

    if any(getattr(f, "find_distributions", None) is not None and f is not PathFinder for f in sys.meta_path):
        return True
    needle = group.encode()
    for entry in sys.path:
        folder = entry or "."
        try:
            with os.scandir(folder) as it:
                names = [e.name for e in it]
        except NotADirectoryError:  # a zip file on the path
            return True
        except OSError:  # not there: importlib.metadata finds nothing there either
            continue
        for name in names:
            low = name.lower()
            if low.endswith(".egg"):
                return True
            if low.endswith((".dist-info", ".egg-info")):
                try:
                    with open(os.path.join(folder, name, "entry_points.txt"), "rb") as fh:
                        if needle in fh.read():
                            return True
                except OSError:  # no entry points (or an egg-info file, which has none)
                    continue
    return False


def _load(spec: str):
    module, _, attr = spec.partition(":")
    return getattr(importlib.import_module(module), attr)


def _module_missing(exc: ModuleNotFoundError, spec: str) -> bool:
    """True when the analyser's own module is absent (not when something it imports is missing)."""
    module = spec.partition(":")[0]
    return exc.name is not None and (module == exc.name or module.startswith(exc.name + "."))


def load_analysers(specs: list[str] | None = None) -> list[Analyser]:
    """Instantiate the default analysers plus any registered through entry points.

    Instances are long-lived: an analyser may keep a loaded model between files, so callers (audit workers,
    the service) create them once and reuse them.
    """
    out: list[Analyser] = []
    for spec in specs if specs is not None else DEFAULT_ANALYSERS:
        try:
            cls = _load(spec)
        except ModuleNotFoundError as exc:
            if specs is None and _module_missing(exc, spec):
                log.debug("analyser %s not installed; skipped", spec)
                continue
            raise
        out.append(cls())
    if specs is None and may_declare_entry_points(PLUGIN_GROUP):
        from importlib.metadata import entry_points

        for ep in entry_points(group=PLUGIN_GROUP):
            try:
                out.append(ep.load()())
            except Exception as exc:  # a broken plugin must not break verification
                log.warning("analyser plugin %s failed to load: %s", ep.name, exc)
    return out
