"""Typed findings, the per-file report, and its JSON form (CONTRACT.md § `forensics verify --json`).

Each analyser returns one finding. A finding knows the top-level JSON key it fills (``key``) and how to
serialise itself; :class:`Report` assembles them, filling the contract's defaults for signals that did
not run, so the JSON shape is the same whatever is installed.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
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
    country: str | None = None  # subject C of the signing certificate
    not_before: str | None = None  # validity of the signing certificate (ISO-8601)
    not_after: str | None = None
    # the certificate chain as far as it is known, signing certificate first:
    # [{"subject", "issuer", "organization", "country", "not_before", "not_after", "source": "manifest|trust-list"}]
    chain: list[dict] = field(default_factory=list)


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
    # which trust list the signer chains to: "c2pa" | "interim" | "local" | None (not trusted / not checked)
    trust_list: str | None = None
    # C2PA Asset Signals (rubric 1.0) of the active manifest: [{"id": "inception:signal_capturedMedia", "text": …}]
    signals: list[dict] = field(default_factory=list)
    # the signals of every manifest in the ingredient history (each evaluated locally, as the rubric says):
    # [{"manifest_id", "title", "relationship", "depth", "signals": [{"id", "text"}]}]
    history_signals: list[dict] = field(default_factory=list)
    # CAWG identity assertions: [{"label", "sig_type", "named_actor": {…}|None, "verified_identities": […]}]
    identities: list[dict] = field(default_factory=list)
    crjson: dict | None = None  # c2pa's crJSON of the store; kept out of the verify JSON (see --crjson)

    @property
    def ai_generated(self) -> bool:
        return is_ai_source_type(self.digital_source_type)

    @property
    def failures(self) -> list[Status]:
        return [s for s in self.statuses if s.kind == "failure"]

    def to_json(self) -> dict:
        crjson, self.crjson = self.crjson, None  # not copied by asdict: it can be large
        try:
            d = asdict(self)
        finally:
            self.crjson = crjson
        d.pop("manifest_store", None)
        d.pop("crjson", None)
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
    # is this image a derived copy of the image the linked manifest was issued for? None: not checked
    # (no linked manifest, or no content descriptor stored with it)
    content_match: bool | None = None

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


class VerdictLabel(StrEnum):
    """The verdict labels of the contract; each member is the string the JSON carries."""

    AI_GENERATED = "ai-generated"
    LIKELY_SYNTHETIC = "likely-synthetic"
    AUTHENTIC_CREDENTIALS = "authentic-credentials"
    TAMPERED = "tampered"
    NO_EVIDENCE = "no-evidence"
    ERROR = "error"


@dataclass
class Verdict:
    label: VerdictLabel  # a plain string is accepted and converted (ValueError if it is not a label)
    reasons: list[str] = field(default_factory=list)

    def __post_init__(self):
        self.label = VerdictLabel(self.label)

    def to_json(self) -> dict:
        d = asdict(self)
        d["label"] = self.label.value  # the plain string, whatever the JSON encoder
        return d


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
    # the policy's decision (forensics.verdict.decide); a report nobody decided reads as an error
    verdict: Verdict = field(default_factory=lambda: Verdict(VerdictLabel.ERROR))
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
            "verdict": self.verdict.to_json() if self.verdict else Verdict(VerdictLabel.ERROR).to_json(),
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

    def to_dict(self) -> dict:
        """Exactly one object of ``forensics verify --json`` for this file: plain JSON types only."""
        import json

        return json.loads(json.dumps(self.to_json(), ensure_ascii=False, default=str))
