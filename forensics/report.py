"""Typed findings, the per-file report, and its JSON form (CONTRACT.md § `forensics verify --json`).

Each analyser returns one finding. A finding knows the top-level JSON key it fills (``key``) and how to
serialise itself; :class:`Report` assembles them, filling the contract's defaults for signals that did
not run, so the JSON shape is the same whatever is installed.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

# --- credentials (C2PA) ---------------------------------------------------------------------

AI_SOURCE_TYPES = {
    # IPTC digital source types that mean "made (wholly or partly) by a machine".
    "trainedAlgorithmicMedia",
    "compositeWithTrainedAlgorithmicMedia",
    "algorithmicMedia",
    "compositeSynthetic",
}
IPTC_PREFIX = "http://cv.iptc.org/newscodes/digitalsourcetype/"


def is_ai_source_type(uri: str | None) -> bool:
    """True for IPTC digital source types that declare generative or algorithmic content."""
    if not uri:
        return False
    term = uri.rstrip("/").rsplit("/", 1)[-1]
    return term in AI_SOURCE_TYPES


@dataclass
class Status:
    code: str
    explanation: str
    kind: str  # failure | success | informational
    url: str | None = None


@dataclass
class Signer:
    common_name: str | None = None
    organization: str | None = None
    issuer: str | None = None


@dataclass
class CredentialsFinding:
    key: ClassVar[str] = "c2pa"
    present: bool = False
    state: str | None = None  # Trusted | Valid | Invalid | None
    statuses: list[Status] = field(default_factory=list)
    signer: Signer | None = None
    claim_generator: str | None = None
    signed_at: str | None = None
    digital_source_type: str | None = None
    actions: list[str] = field(default_factory=list)
    ingredients: list[dict] = field(default_factory=list)
    manifest_id: str | None = None
    recovered_from: str | None = None  # None | "watermark" | "fingerprint"
    title: str | None = None
    remote: bool = False  # manifest referenced remotely (fetched only with --allow-network)
    manifest_store: dict | None = None  # full store JSON; kept out of the terminal report

    @property
    def ai_generated(self) -> bool:
        return is_ai_source_type(self.digital_source_type)

    @property
    def failures(self) -> list[Status]:
        return [s for s in self.statuses if s.kind == "failure"]

    def to_json(self) -> dict:
        d = asdict(self)
        d.pop("manifest_store", None)
        d["ai_generated"] = self.ai_generated
        return d


# --- watermarks ------------------------------------------------------------------------------

@dataclass
class WatermarkDetection:
    scheme: str
    detected: bool
    payload: str | None = None  # hex
    bits_matched: int | None = None
    bits_total: int | None = None
    false_positive_probability: float | None = None
    manifest_id: str | None = None
    source: str | None = None  # who uses this mark, e.g. "Stable Diffusion reference scripts"
    implies_ai: bool = False  # the mark is only ever applied by a generator

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class WatermarkFinding:
    key: ClassVar[str] = "watermarks"
    detections: list[WatermarkDetection] = field(default_factory=list)

    @property
    def detected(self) -> list[WatermarkDetection]:
        return [d for d in self.detections if d.detected]

    def to_json(self) -> list:
        return [d.to_json() for d in self.detections]


# --- detector --------------------------------------------------------------------------------

@dataclass
class DetectorFinding:
    key: ClassVar[str] = "detector"
    model: str
    probability_synthetic: float
    threshold: float
    label: str  # synthetic | real | uncertain
    patches: int | None = None
    model_sha256: str | None = None  # content hash of the ONNX graph + calibration card (model_identity)

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class FramesFinding:
    key: ClassVar[str] = "frames"
    sampled: int
    timeline: list[dict] = field(default_factory=list)  # [{"t": s, "probability_synthetic": p}]

    def to_json(self) -> dict:
        return asdict(self)


# --- metadata --------------------------------------------------------------------------------

@dataclass
class MetadataFinding:
    key: ClassVar[str] = "metadata"
    exif: dict = field(default_factory=dict)
    xmp_digital_source_type: str | None = None
    generator_text: str | None = None  # e.g. A1111 "parameters", ComfyUI "prompt"
    generator_hint: str | None = None  # which tool wrote generator_text
    width: int | None = None
    height: int | None = None

    @property
    def ai_hint(self) -> bool:
        return bool(self.generator_text) or is_ai_source_type(self.xmp_digital_source_type)

    def to_json(self) -> dict:
        return asdict(self)


# --- report ----------------------------------------------------------------------------------

@dataclass
class ErrorInfo:
    code: str
    message: str


@dataclass
class Verdict:
    label: str  # ai-generated | likely-synthetic | authentic-credentials | tampered | no-evidence | error
    reasons: list[str] = field(default_factory=list)


LABELS = ("ai-generated", "likely-synthetic", "authentic-credentials", "tampered", "no-evidence", "error")

# JSON defaults for signals that did not run (contract shape is stable).
_DEFAULTS: dict[str, Any] = {
    "c2pa": lambda: CredentialsFinding().to_json(),
    "watermarks": lambda: [],
    "detector": lambda: None,
    "metadata": lambda: {"exif": {}, "xmp_digital_source_type": None, "generator_text": None},
    "frames": lambda: None,
}


@dataclass
class Report:
    path: str
    media_type: str | None = None
    error: ErrorInfo | None = None
    verdict: Verdict | None = None
    findings: dict[str, Any] = field(default_factory=dict)  # key -> finding
    analyser_errors: list[dict] = field(default_factory=list)  # an analyser failed; the others still ran
    timings_ms: dict[str, float] = field(default_factory=dict)

    def get(self, key: str):
        return self.findings.get(key)

    @property
    def credentials(self) -> CredentialsFinding | None:
        return self.findings.get("c2pa")

    @property
    def watermarks(self) -> WatermarkFinding | None:
        return self.findings.get("watermarks")

    @property
    def detector(self) -> DetectorFinding | None:
        return self.findings.get("detector")

    @property
    def metadata(self) -> MetadataFinding | None:
        return self.findings.get("metadata")

    @property
    def frames(self) -> FramesFinding | None:
        return self.findings.get("frames")

    def to_json(self) -> dict:
        out: dict[str, Any] = {
            "path": self.path,
            "media_type": self.media_type,
            "error": asdict(self.error) if self.error else None,
            "verdict": asdict(self.verdict) if self.verdict else {"label": "error", "reasons": []},
        }
        for key, default in _DEFAULTS.items():
            f = self.findings.get(key)
            out[key] = f.to_json() if f is not None else default()
        for key, f in self.findings.items():  # extra signals registered by plugins
            if key not in out:
                out[key] = f.to_json() if hasattr(f, "to_json") else f
        if self.analyser_errors:
            out["analyser_errors"] = self.analyser_errors
        if self.timings_ms:
            out["timings_ms"] = {k: round(v, 1) for k, v in self.timings_ms.items()}
        return out
