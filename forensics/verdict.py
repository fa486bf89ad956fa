"""One verdict policy: typed findings in, one label with reasons out.

The policy is an ordered list of rules (config as data). Each rule looks at the findings and either
returns reasons (it fires) or nothing. The first rule that fires decides the label; every other rule that
fires still adds its reasons, so the user sees all the evidence, including the evidence that disagrees.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .report import (CredentialsFinding, DetectorFinding, MetadataFinding, Report, Verdict,
                     WatermarkFinding, is_ai_source_type)


def _short_dst(uri: str | None) -> str:
    return (uri or "").rstrip("/").rsplit("/", 1)[-1]


def _signer_text(c: CredentialsFinding) -> str:
    if c.signer and (c.signer.common_name or c.signer.organization):
        who = c.signer.organization or c.signer.common_name
        return f"signed by {who}" + (" (trusted)" if c.state == "Trusted" else " (signer not on a trust list)")
    return "signed" + (" (trusted)" if c.state == "Trusted" else "")


def rule_tampered(r: Report) -> list[str]:
    c: CredentialsFinding | None = r.credentials
    if c and c.present and c.state == "Invalid" and not c.recovered_from:
        codes = ", ".join(sorted({s.code for s in c.failures})) or "validation failed"
        return [f"Content Credentials are present but do not validate: {codes}"]
    return []


def rule_credentials_ai(r: Report) -> list[str]:
    c = r.credentials
    if c and c.present and c.state in ("Trusted", "Valid") and c.ai_generated:
        src = {"watermark": " (recovered through the invisible watermark)",
               "fingerprint": " (recovered through the image fingerprint)"}.get(c.recovered_from or "", "")
        return [f"Content Credentials{src} declare {_short_dst(c.digital_source_type)}, {_signer_text(c)}"
                + (f"; generator {c.claim_generator}" if c.claim_generator else "")]
    return []


def rule_watermark_ai(r: Report) -> list[str]:
    w: WatermarkFinding | None = r.watermarks
    if not w:
        return []
    out = []
    for d in w.detected:
        if d.implies_ai:
            p = f"{d.false_positive_probability:.1e}" if d.false_positive_probability is not None else "n/a"
            out.append(f"invisible watermark '{d.scheme}' of {d.source or 'a known generator'} detected "
                       f"({d.bits_matched}/{d.bits_total} bits, false-positive probability {p})")
    return out


def rule_metadata_ai(r: Report) -> list[str]:
    m: MetadataFinding | None = r.metadata
    if not m:
        return []
    out = []
    if is_ai_source_type(m.xmp_digital_source_type):
        out.append(f"unsigned XMP metadata declares {_short_dst(m.xmp_digital_source_type)}")
    if m.generator_text:
        out.append(f"unsigned metadata written by a generator ({m.generator_hint or 'generation parameters'})")
    return out


def rule_detector_synthetic(r: Report) -> list[str]:
    d: DetectorFinding | None = r.detector
    if d and d.label == "synthetic":
        return [f"detector {d.model}: probability synthetic {d.probability_synthetic:.2f} "
                f"(threshold {d.threshold:.2f})"]
    return []


def rule_authentic(r: Report) -> list[str]:
    c = r.credentials
    if c and c.present and c.state in ("Trusted", "Valid") and not c.ai_generated:
        return [f"valid Content Credentials, {_signer_text(c)}"
                + (f"; source type {_short_dst(c.digital_source_type)}" if c.digital_source_type else "")]
    return []


def rule_other_watermarks(r: Report) -> list[str]:
    w = r.watermarks
    if not w:
        return []
    out = []
    for d in w.detected:
        if not d.implies_ai:
            link = f", links to manifest {d.manifest_id}" if d.manifest_id and d.content_match is not False else ""
            out.append(f"invisible watermark '{d.scheme}' detected, payload {d.payload}{link}")
    return out


def rule_watermark_not_this_image(r: Report) -> list[str]:
    """A watermark that leads to a manifest issued for another image (a transplanted or forged mark)."""
    w = r.watermarks
    if not w:
        return []
    return [f"the watermark points to manifest {d.manifest_id}, but this image is not a copy of the image "
            f"{d.manifest_id} was issued for" for d in w.detected if d.manifest_id and d.content_match is False]


def rule_credentials_unchecked(r: Report) -> list[str]:
    c = r.credentials
    if c and c.present and c.state is None and not c.recovered_from:
        detail = "; ".join(s.explanation for s in c.statuses) or "unreadable manifest"
        return [f"Content Credentials are present but could not be checked: {detail}"]
    return []


def _invalid_ingredients(nodes: list[dict], depth: int = 0) -> list[str]:
    out = []
    for n in nodes or []:
        if n.get("state") == "Invalid":
            out.append(str(n.get("title") or n.get("manifest_id") or "untitled"))
        if depth < 16:
            out += _invalid_ingredients(n.get("ingredients") or [], depth + 1)
    return out


def rule_invalid_ingredients(r: Report) -> list[str]:
    """A valid manifest can carry an ingredient whose own credentials failed (a re-signed altered file)."""
    c = r.credentials
    if c and c.present and c.state in ("Trusted", "Valid"):
        bad = _invalid_ingredients(c.ingredients)
        if bad:
            return [f"ingredient credentials do not validate: {', '.join(bad[:5])}"
                    + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
                    + " (the signer vouches for the new file, not for that history)"]
    return []


def rule_detector_context(r: Report) -> list[str]:
    d = r.detector
    if d and d.label != "synthetic":
        return [f"detector {d.model}: probability synthetic {d.probability_synthetic:.2f} ({d.label})"]
    return []


@dataclass(frozen=True)
class Rule:
    label: str | None  # None: adds context only, never decides
    check: Callable[[Report], list[str]]


# Order = precedence. Broken credentials first: a failed hard binding is the strongest statement we can make.
DEFAULT_RULES: tuple[Rule, ...] = (
    Rule("tampered", rule_tampered),
    Rule("ai-generated", rule_credentials_ai),
    Rule("ai-generated", rule_watermark_ai),
    Rule("authentic-credentials", rule_authentic),
    Rule("ai-generated", rule_metadata_ai),
    Rule("likely-synthetic", rule_detector_synthetic),
    Rule(None, rule_watermark_not_this_image),
    Rule(None, rule_other_watermarks),
    Rule(None, rule_credentials_unchecked),
    Rule(None, rule_invalid_ingredients),
    Rule(None, rule_detector_context),
)


def decide(report: Report, rules: tuple[Rule, ...] = DEFAULT_RULES) -> Verdict:
    if report.error is not None:
        return Verdict("error", [report.error.message])
    label: str | None = None
    reasons: list[str] = []
    for rule in rules:
        fired = rule.check(report)
        if fired:
            if label is None and rule.label is not None:
                label = rule.label
            reasons.extend(fired)
    if label is None:
        label = "no-evidence"
        c = report.credentials
        # a detected mark is listed among the reasons: then say it links to no credentials, not that there is none
        found = report.watermarks.detected if report.watermarks else []
        linked = any(d.manifest_id and d.content_match is not False for d in found)
        marks = "no watermark that links to credentials" if found and not linked else "no known watermark"
        if c is not None and c.present:  # present but unreadable/remote: do not claim there are none
            reasons.insert(0, f"no validated Content Credentials, {marks} and no detector evidence of synthesis")
        else:
            reasons.insert(0, f"no Content Credentials, {marks} and no detector evidence of synthesis")
    return Verdict(label, reasons)
